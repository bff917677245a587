// Batched OKS and PCKh on device buffers (the torch ops hpefast.ops.oks / hpefast.ops.pckh), so that
// validation during training needs no host copy. The COCO evaluation proper is in csrc/cocoeval.
#pragma once
#include <cstdint>

namespace hpefast {

// OKS of each prediction against its own ground truth (pycocotools' formula, float32):
//   e_k = |pred_k - gt_k|^2 / (2 sigma_k)^2 / (area + eps) / 2,  oks = mean over visible k of exp(-e_k);
// an instance with no visible joint gets 0.
struct OksParams {
  int64_t n = 0;                    // instances
  int64_t k = 0;                    // joints
  const float* pred = nullptr;      // [n, k, 2]
  const float* gt = nullptr;        // [n, k, 2]
  const float* visible = nullptr;   // [n, k] (> 0: labelled)
  const float* area = nullptr;      // [n]
  const float* sigmas = nullptr;    // [k]
  float* out = nullptr;             // [n]
};

// MPII PCKh hits: 1 where the joint is visible and |pred - gt| / (0.6 * |headbox diagonal|) <= threshold.
struct PckhParams {
  int64_t n = 0;
  int64_t k = 0;
  const float* pred = nullptr;       // [n, k, 2]
  const float* gt = nullptr;         // [n, k, 2]
  const float* visible = nullptr;    // [n, k]
  const float* headboxes = nullptr;  // [n, 2, 2] (x1, y1), (x2, y2)
  float threshold = 0.5f;
  float* out = nullptr;              // [n, k]
};

// Shared by the CPU and CUDA kernels.
#if defined(__CUDACC__)
#define HPEFAST_HD __host__ __device__ inline
#else
#define HPEFAST_HD inline
#endif

constexpr float kOksEps = 2.220446049250313e-16f;  // np.spacing(1) as pycocotools adds it
constexpr float kHeadSizeFactor = 0.6f;             // MPII: head size = 0.6 x head-box diagonal

void oks_cpu(const OksParams& p);
void pckh_cpu(const PckhParams& p);
#ifdef HPEFAST_WITH_CUDA
void oks_cuda(const OksParams& p, void* stream);
void pckh_cuda(const PckhParams& p, void* stream);
#endif

}  // namespace hpefast
