/* mxjit C API: for engines written in any language. Every function returns an mxjit_status; on
 * failure mxjit_last_error() gives the message (per thread, valid until the thread's next call).
 * Device pointers and streams belong to the caller; mxjit never synchronizes or allocates in an op. */
#ifndef MXJIT_H
#define MXJIT_H

#include <cuda.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  MXJIT_OK = 0,
  MXJIT_ERROR_INVALID_ARGUMENT = 1,
  MXJIT_ERROR_UNSUPPORTED = 2,
  MXJIT_ERROR_NO_DEVICE = 3,
  MXJIT_ERROR_CUDA = 4,
  MXJIT_ERROR_COMPILE = 5,
  MXJIT_ERROR_IO = 6,
  MXJIT_ERROR_INTERNAL = 7
} mxjit_status;

typedef enum {
  MXJIT_DTYPE_BF16 = 0,
  MXJIT_DTYPE_FP16 = 1,
  MXJIT_DTYPE_F32 = 2,
  MXJIT_DTYPE_E4M3 = 3,
  MXJIT_DTYPE_E8M0 = 4,
  MXJIT_DTYPE_U8 = 5,
  MXJIT_DTYPE_I32 = 6
} mxjit_dtype;

typedef enum { MXJIT_SCALE_LINEAR = 0, MXJIT_SCALE_SWIZZLED_128X4 = 1 } mxjit_scale_layout;
typedef enum { MXJIT_RULE_RCEIL = 0, MXJIT_RULE_FLOOR = 1 } mxjit_scale_rule;
typedef enum { MXJIT_LOG_ERROR = 0, MXJIT_LOG_WARN = 1, MXJIT_LOG_INFO = 2, MXJIT_LOG_DEBUG = 3 } mxjit_log_level;

typedef struct {
  const char* cache_dir; /* NULL: MXJIT_CACHE_DIR or ~/.cache/mxjit */
  int disk_cache;        /* -1: from the environment, 0: memory only, 1: on */
  int log_level;         /* -1: from the environment, else an mxjit_log_level */
} mxjit_init_options;

/* A view of device memory, up to 3 dimensions, strides in elements. */
typedef struct {
  CUdeviceptr data;
  mxjit_dtype dtype;
  int ndim;
  int64_t shape[3];
  int64_t strides[3];
} mxjit_tensor;

typedef struct {
  char name[256];
  char arch[16]; /* NVRTC target, e.g. "sm_90a" */
  int sm_count;
  int l2_bytes;
  int max_smem_per_block;
} mxjit_gpu_info;

const char* mxjit_version(void);
const char* mxjit_last_error(void);
const char* mxjit_status_name(mxjit_status status);

/* Optional; must precede every other call that compiles or launches. options may be NULL. */
mxjit_status mxjit_init(const mxjit_init_options* options);

int mxjit_gpu_count(void); /* 0 without a driver or GPU */
mxjit_status mxjit_gpu_get_info(int ordinal, mxjit_gpu_info* info);
/* Retains the device's primary context and makes it current on the calling thread. */
mxjit_status mxjit_device_activate(int ordinal);

/* Bytes of the e8m0 scale buffer for a [batches, rows, cols] input. */
mxjit_status mxjit_mxfp8_scale_bytes(int64_t batches, int64_t rows, int64_t cols, mxjit_scale_layout layout,
                                     uint64_t* bytes);
/* See mxjit::quantize_mxfp8 (include/mxjit/quantize.hpp) for the contract. */
mxjit_status mxjit_quantize_mxfp8(const mxjit_tensor* input, const mxjit_tensor* q, const mxjit_tensor* scales,
                                  mxjit_scale_layout layout, mxjit_scale_rule rule, CUstream stream);

/* Block-scaled MXFP8 GEMM, see include/mxjit/gemm.hpp. bias may be NULL. The workspace (of at least
 * mxjit_gemm_mxfp8_workspace_bytes on the current device) is zeroed once by the caller. */
mxjit_status mxjit_gemm_mxfp8_workspace_bytes(int64_t m, int64_t n, int64_t k, uint64_t* bytes);
mxjit_status mxjit_gemm_mxfp8(const mxjit_tensor* a, const mxjit_tensor* a_scales, const mxjit_tensor* b,
                              const mxjit_tensor* b_scales, const mxjit_tensor* bias, const mxjit_tensor* out,
                              CUdeviceptr workspace, uint64_t workspace_bytes, CUstream stream);

/* The MXFP8 linear method (vLLM's Mxfp8OnlineLinearMethod contract, include/mxjit/linear.hpp). */
typedef struct mxjit_linear mxjit_linear;
/* create_weights: allocates the [N, K] weight (N = sum of the partitions) and apply()'s workspace for
 * up to max_tokens rows in the current context. */
mxjit_status mxjit_linear_create(int64_t input_size_per_partition, const int64_t* output_partition_sizes,
                                 int num_partitions, int64_t input_size, int64_t output_size,
                                 mxjit_dtype params_dtype, int64_t max_tokens, mxjit_linear** layer);
/* The weight: [N, K] params_dtype before processing (fill it, or use mxjit_linear_load_weight), e4m3 after. */
mxjit_status mxjit_linear_weight(const mxjit_linear* layer, mxjit_tensor* weight);
mxjit_status mxjit_linear_load_weight(mxjit_linear* layer, CUdeviceptr src, CUstream stream);
/* Quantizes the weight once (idempotent) and frees the high-precision copy. */
mxjit_status mxjit_linear_process_weights(mxjit_linear* layer, CUstream stream);
/* out[M, N] = x[M, K] . W^T (+ bias): no allocation, no synchronization. bias may be NULL. */
mxjit_status mxjit_linear_apply(const mxjit_linear* layer, const mxjit_tensor* x, const mxjit_tensor* bias,
                                const mxjit_tensor* out, CUstream stream);
void mxjit_linear_destroy(mxjit_linear* layer);

/* Grouped MXFP8 GEMM over experts, see include/mxjit/grouped_gemm.hpp. a_rows and bias may be NULL.
 * expert_rows: offsets [E + 1] i32 when capacity == 0 (contiguous layout), else counts [E] i32 (masked
 * layout, expert e owns rows [e * capacity, e * capacity + counts[e])). typical_rows: 0 or a hint. */
mxjit_status mxjit_grouped_gemm_mxfp8(const mxjit_tensor* a, const mxjit_tensor* a_scales, const mxjit_tensor* a_rows,
                                      const mxjit_tensor* w, const mxjit_tensor* w_scales, const mxjit_tensor* bias,
                                      const mxjit_tensor* expert_rows, int64_t capacity, int64_t typical_rows,
                                      const mxjit_tensor* out, CUstream stream);
/* The same with a workspace (device memory of at least mxjit_grouped_gemm_mxfp8_workspace_bytes(R, K)
 * bytes on the current device, R = rows of out): on sm_90a, prefill-sized groups then run the exact bf16
 * tensor-core kernel. Where a GPU is present, the query needs a current context (mxjit_device_activate). */
mxjit_status mxjit_grouped_gemm_mxfp8_workspace_bytes(int64_t rows, int64_t k, uint64_t* bytes);
mxjit_status mxjit_grouped_gemm_mxfp8_with_workspace(const mxjit_tensor* a, const mxjit_tensor* a_scales,
                                                     const mxjit_tensor* a_rows, const mxjit_tensor* w,
                                                     const mxjit_tensor* w_scales, const mxjit_tensor* bias,
                                                     const mxjit_tensor* expert_rows, int64_t capacity,
                                                     int64_t typical_rows, const mxjit_tensor* out,
                                                     CUdeviceptr workspace, uint64_t workspace_bytes, CUstream stream);

/* The MXFP8 MoE method (vLLM's Mxfp8OnlineMoEMethod contract, include/mxjit/moe.hpp). */
typedef struct mxjit_moe mxjit_moe;
/* create_weights: allocates w13 [E, 2I, H] and w2 [E, H, I] and apply()'s workspace for up to max_tokens
 * tokens in the current context. global_num_experts: 0, or the model's expert count under expert parallelism. */
mxjit_status mxjit_moe_create(int64_t num_experts, int64_t top_k, int64_t hidden_size,
                              int64_t intermediate_size_per_partition, mxjit_dtype params_dtype, int64_t max_tokens,
                              int64_t global_num_experts, mxjit_moe** layer);
/* The weights: params_dtype before processing (fill them, or use mxjit_moe_load_weights), e4m3 after. */
mxjit_status mxjit_moe_weights(const mxjit_moe* layer, mxjit_tensor* w13, mxjit_tensor* w2);
mxjit_status mxjit_moe_load_weights(mxjit_moe* layer, CUdeviceptr w13_src, CUdeviceptr w2_src, CUstream stream);
/* Quantizes all experts (one launch per tensor, idempotent) and frees the high-precision copies. */
mxjit_status mxjit_moe_process_weights(mxjit_moe* layer, CUstream stream);
/* out[T, H]: pass router_logits [T, E_global] (then renormalize applies), or topk_ids [T, k] i32 and
 * topk_weights [T, k] f32. expert_map ([E_global] i32), w13_bias ([E, 2I]) and w2_bias ([E, H]) may be NULL.
 * No allocation, no synchronization. */
mxjit_status mxjit_moe_apply(const mxjit_moe* layer, const mxjit_tensor* x, const mxjit_tensor* router_logits,
                             int renormalize, const mxjit_tensor* topk_ids, const mxjit_tensor* topk_weights,
                             const mxjit_tensor* expert_map, const mxjit_tensor* w13_bias, const mxjit_tensor* w2_bias,
                             const mxjit_tensor* out, CUstream stream);
void mxjit_moe_destroy(mxjit_moe* layer);

#ifdef __cplusplus
}
#endif

#endif /* MXJIT_H */
