// MoE grouping: the (token, slot) pairs sorted by local expert, on the device, in one launch.
//
// One CTA of 1024 threads: a shared-memory histogram of the pairs, an exclusive scan into the
// expert offsets, then a scatter through shared cursors. Everything it reads back is written by the
// launch itself, so graph replays see no stale state. Pairs whose expert is not local (or whose id
// is out of range) are dropped, never written anywhere else. Within a warp, pairs of the same expert
// are aggregated with match.any so one atomic serves them all: skewed routing (every pair on one
// expert) costs one shared atomic per warp step, not 32 serialized ones. The order of rows inside an
// expert depends on atomic timing; nothing downstream depends on it.
#pragma once

#include "grid_dependency.cuh"
#include "moe_aux_params.cuh"

namespace mxjit {

constexpr int kGroupThreads = 1024;
constexpr int kGroupMaxExperts = 1024;  // one scan element per thread

// The local expert of pair i, or -1 when the pair is dropped.
__device__ __forceinline__ int local_expert(const GroupByExpertParams& p, unsigned int i) {
  int e = __ldg(p.topk_ids + i);
  if (p.expert_map != nullptr) {
    if (static_cast<unsigned int>(e) >= p.global_experts) return -1;
    e = __ldg(p.expert_map + e);
  }
  return static_cast<unsigned int>(e) < p.local_experts ? e : -1;
}

// Exclusive scan of one value per thread across the CTA; `total` receives the sum.
__device__ __forceinline__ int cta_exclusive_scan(int value, int* warp_totals, int& total) {
  const unsigned int lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  int inclusive = value;
#pragma unroll
  for (int offset = 1; offset < 32; offset <<= 1) {
    const int other = __shfl_up_sync(0xFFFFFFFFu, inclusive, offset);
    if (lane >= offset) inclusive += other;
  }
  if (lane == 31) warp_totals[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    int t = warp_totals[lane];
#pragma unroll
    for (int offset = 1; offset < 32; offset <<= 1) {
      const int other = __shfl_up_sync(0xFFFFFFFFu, t, offset);
      if (lane >= offset) t += other;
    }
    warp_totals[lane] = t;  // inclusive over warps
  }
  __syncthreads();
  total = warp_totals[31];
  return inclusive - value + (warp > 0 ? warp_totals[warp - 1] : 0);
}

__global__ void __launch_bounds__(kGroupThreads) moe_group_by_expert_kernel(const GroupByExpertParams p) {
  start_in_stream_order();
  __shared__ int cursor[kGroupMaxExperts];  // counts, then the next free row of each expert
  __shared__ int warp_totals[32];
  const unsigned int tid = threadIdx.x, lane = tid & 31u;
  const unsigned int lanes_below = (1u << lane) - 1u;
  if (tid < p.local_experts) cursor[tid] = 0;
  __syncthreads();

  // Every thread runs the same number of steps (full-warp match.any); absent pairs count as dropped.
  for (unsigned int base = 0; base < p.pairs; base += kGroupThreads) {
    const unsigned int i = base + tid;
    const int e = i < p.pairs ? local_expert(p, i) : -1;
    const unsigned int peers = __match_any_sync(0xFFFFFFFFu, e);
    if (e >= 0 && (peers & lanes_below) == 0) atomicAdd(&cursor[e], __popc(peers));
  }
  __syncthreads();

  int rows_in_use;
  const int count = tid < p.local_experts ? cursor[tid] : 0;
  const int start = cta_exclusive_scan(count, warp_totals, rows_in_use);
  if (tid < p.local_experts) {
    p.expert_offsets[tid] = start;
    cursor[tid] = start;
  }
  if (tid == 0) p.expert_offsets[p.local_experts] = rows_in_use;
  __syncthreads();

  for (unsigned int base = 0; base < p.pairs; base += kGroupThreads) {
    const unsigned int i = base + tid;
    const int e = i < p.pairs ? local_expert(p, i) : -1;
    const unsigned int peers = __match_any_sync(0xFFFFFFFFu, e);
    const int leader = __ffs(peers) - 1;
    int first = 0;
    if (e >= 0 && lane == static_cast<unsigned int>(leader)) first = atomicAdd(&cursor[e], __popc(peers));
    first = __shfl_sync(0xFFFFFFFFu, first, leader);
    if (i >= p.pairs) continue;
    if (e < 0) {
      p.pair_row[i] = -1;
      continue;
    }
    const int row = first + __popc(peers & lanes_below);
    p.pair_row[i] = row;
    p.row_token[row] = static_cast<int>(i / p.top_k);
  }
}

}  // namespace mxjit
