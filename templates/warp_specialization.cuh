// The pieces of a warp-specialized kernel on sm_90a: shared-memory mbarriers (a producer fills a stage,
// consumers release it), named barriers for a subset of the CTA's warps, and setmaxnreg to move registers
// from the producer warpgroup, which only copies, to the consumer warpgroups, which hold accumulators.
#pragma once

#include "mxfp8_gemm_common.cuh"  // cp_async_commit, cp_async_wait

namespace mxjit {

__device__ __forceinline__ unsigned int shared_address(const void* p) {
  return static_cast<unsigned int>(__cvta_generic_to_shared(p));
}

// The first 1024-aligned byte at or after `raw` (dynamic shared memory), by pointer arithmetic on `raw`
// itself: the compiler then still knows the result is shared memory and emits LDS/STS, not generic
// loads (an integer round trip loses that).
__device__ __forceinline__ unsigned char* align_shared_1024(unsigned char* raw) {
  return raw + ((1024u - (shared_address(raw) & 1023u)) & 1023u);
}

// An mbarrier whose phase completes after `count` arrivals; one thread initializes it, and a CTA-wide
// barrier must follow before anyone else uses it.
__device__ __forceinline__ void mbarrier_init(unsigned long long* bar, unsigned int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(shared_address(bar)), "r"(count) : "memory");
}

// One arrival, with release semantics: this thread's earlier memory accesses are visible to a thread that
// observes the phase complete.
__device__ __forceinline__ void mbarrier_arrive(unsigned long long* bar) {
  asm volatile("mbarrier.arrive.release.cta.shared::cta.b64 _, [%0];" ::"r"(shared_address(bar)) : "memory");
}

// One arrival that also expects `bytes` more of asynchronous (TMA) transfers in the current phase.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(unsigned long long* bar, unsigned int bytes) {
  asm volatile("mbarrier.arrive.expect_tx.release.cta.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)),
               "r"(bytes)
               : "memory");
}

// TMA: the box of a 2-D tensor map at element coordinates (x innermost, y) into shared memory at `dst`
// (128-byte aligned; 1024 for the 128-byte swizzle), its bytes counted on `bar`. Out-of-bounds
// elements land as zeros and count too.
__device__ __forceinline__ void tma_load_2d(void* dst, const void* tensor_map, int x, int y, unsigned long long* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::
          "r"(shared_address(dst)),
      "l"(tensor_map), "r"(x), "r"(y), "r"(shared_address(bar))
      : "memory");
}

// The same for a 3-D tensor map, at element coordinates (x innermost, y, z).
__device__ __forceinline__ void tma_load_3d(void* dst, const void* tensor_map, int x, int y, int z,
                                            unsigned long long* bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
      "[%5];" ::"r"(shared_address(dst)),
      "l"(tensor_map), "r"(x), "r"(y), "r"(z), "r"(shared_address(bar))
      : "memory");
}

// Waits (acquire) until the phase with this parity has completed: phase n of a barrier has parity n % 2.
__device__ __forceinline__ void mbarrier_wait(unsigned long long* bar, unsigned int parity) {
  asm volatile(
      "{\n.reg .pred done;\n"
      "wait_%=:\n"
      "mbarrier.try_wait.parity.acquire.cta.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_%=;\n}\n" ::"r"(shared_address(bar)),
      "r"(parity)
      : "memory");
}

// A producer thread's cp.async copies into a ring of stages, announced on the stages' `full` barriers
// Lag stages late: once the thread has committed stage n's copies, it waits until those of stage n - Lag
// have landed (cp.async.wait_group, which makes them visible to the thread) and arrives on that stage's
// barrier with release semantics, so a consumer's acquire wait sees them; announce_all() announces every
// stage issued so far. Stage n uses slot n % Stages. Each thread's arrival counts once toward `full`'s
// expected count. Not the hardware's arrival (cp.async.mbarrier.arrive.noinc): with it, the first launch
// of the grouped decode walk on H100 read a stale scale word now and then (bench/METHOD.md, determinism);
// that was before the walk's proxy fence (decode_tma_walk) fixed a stale read of the same look, and the
// hardware arrival has not been tried again since.
// While a consumer waiting for stage n holds h earlier slots, the producer announces n once it has issued
// n + Lag, whose slot the consumers free by finishing n + Lag - Stages: Lag <= Stages - h - 1, or it
// deadlocks, and the slack Stages - h - 1 - Lag is how many stages ahead of that hand-off the producer
// runs (at 0 the two roles wait on each other every stage). A producer that waits on anything else the
// consumers do first calls announce_all().
template <int Stages, int Lag>
class CpAsyncAnnouncer {
  static_assert(Lag >= 1 && Lag < Stages, "the announcement lags by fewer stages than the ring holds");

 public:
  __device__ explicit CpAsyncAnnouncer(unsigned long long* full) : full_(full) {}

  // After the thread issued its copies of the next stage.
  __device__ __forceinline__ void stage_issued() {
    cp_async_commit();
    if (++issued_ - announced_ <= Lag) return;
    cp_async_wait<Lag>();
    mbarrier_arrive(&full_[announced_++ % Stages]);
  }

  // Every stage issued and not yet announced (at the end, or before the producer waits on the consumers).
  __device__ __forceinline__ void announce_all() {
    cp_async_wait<0>();
    while (announced_ < issued_) mbarrier_arrive(&full_[announced_++ % Stages]);
  }

 private:
  unsigned long long* full_;
  int issued_ = 0, announced_ = 0;  // stages of this thread
};

// bar.sync on named barrier `Id` (1..15; 0 is __syncthreads) for `Threads` threads, whole warps.
template <int Id, int Threads>
__device__ __forceinline__ void named_barrier_sync() {
  asm volatile("bar.sync %0, %1;" ::"n"(Id), "n"(Threads) : "memory");
}

// The same barrier, returning whether `value` was true in any of the participating threads.
template <int Id, int Threads>
__device__ __forceinline__ bool named_barrier_or(bool value) {
  unsigned int any;
  asm volatile(
      "{\n.reg .pred in, out;\n"
      "setp.ne.u32 in, %1, 0;\n"
      "bar.red.or.pred out, %2, %3, in;\n"
      "selp.u32 %0, 1, 0, out;\n}\n"
      : "=r"(any)
      : "r"(value ? 1u : 0u), "n"(Id), "n"(Threads)
      : "memory");
  return any != 0;
}

// The register budget of the executing warpgroup (all of its warps execute it): Dec releases registers
// to the CTA's pool, Inc waits for them. Counts are multiples of 8 in [24, 256].
template <int Registers>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(Registers));
}
template <int Registers>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(Registers));
}

}  // namespace mxjit
