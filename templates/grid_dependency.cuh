// Programmatic dependent launch (sm_90 and newer). A kernel launched with LaunchConfig::early_start may
// begin before the previous kernel on its stream has finished; it calls wait_for_previous_grid() before
// it reads anything that kernel writes (and before it writes anything that kernel reads). A kernel that
// calls allow_next_grid_start() lets such a dependent launch begin once all of its CTAs have started,
// rather than when they have finished. Both are no-ops on older GPUs and without the launch attribute.
#pragma once

namespace mxjit {

__device__ __forceinline__ void wait_for_previous_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void allow_next_grid_start() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// The first statement of a kernel that every launch may start early: the next kernel may launch now, and
// nothing of the previous kernel's is touched before it has finished. A grid that waits like this keeps
// stream order transitive (the next kernel waits for this one, which waited for the previous).
__device__ __forceinline__ void start_in_stream_order() {
  allow_next_grid_start();
  wait_for_previous_grid();
}

}  // namespace mxjit
