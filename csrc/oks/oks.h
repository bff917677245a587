// Batched OKS and PCKh on device buffers (the torch ops hpefast.ops.oks / hpefast.ops.pckh), so that
// validation during training needs no host copy. The COCO evaluation proper is in csrc/cocoeval.
// One body per metric (oks_instance, pckh_hit below) serves the CPU and the CUDA kernel.
#pragma once
#include <math.h>

#include <cstdint>

#include "common/check.h"
#include "common/hd.h"
#include "common/launch.h"

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

constexpr float kOksEps = 2.220446049250313e-16f;  // np.spacing(1) as pycocotools adds it
constexpr float kHeadSizeFactor = 0.6f;             // MPII: head size = 0.6 x head-box diagonal

// OKS of instance i (the spec: hpefast/_reference/oks.py). expf / hypotf are the C library's on the
// host (what std::exp(float) calls) and CUDA's on the device.
HPEFAST_HD float oks_instance(const OksParams& p, int64_t i) {
  const float denom = p.area[i] + kOksEps;
  float sum = 0.f;
  int64_t count = 0;
  for (int64_t j = 0; j < p.k; ++j) {
    const int64_t q = i * p.k + j;
    if (!(p.visible[q] > 0.f)) continue;
    const float dx = p.pred[2 * q] - p.gt[2 * q];
    const float dy = p.pred[2 * q + 1] - p.gt[2 * q + 1];
    const float var = (2.f * p.sigmas[j]) * (2.f * p.sigmas[j]);
    sum += expf(-((dx * dx + dy * dy) / var / denom / 2.f));
    ++count;
  }
  return count ? sum / static_cast<float>(count) : 0.f;
}

// PCKh hit (0 / 1) of joint q = i * k + j.
HPEFAST_HD float pckh_hit(const PckhParams& p, int64_t q) {
  const float* hb = p.headboxes + (q / p.k) * 4;
  const float head = kHeadSizeFactor * hypotf(hb[2] - hb[0], hb[3] - hb[1]);
  const float d = hypotf(p.pred[2 * q] - p.gt[2 * q], p.pred[2 * q + 1] - p.gt[2 * q + 1]);
  return (p.visible[q] > 0.f && d / head <= p.threshold) ? 1.f : 0.f;
}

inline void check_oks_params(const OksParams& p) {
  HPEFAST_CHECK(p.n >= 0 && p.k > 0, "oks: bad sizes n=", p.n, " k=", p.k);
  HPEFAST_CHECK(p.n == 0 || (p.pred && p.gt && p.visible && p.area && p.sigmas && p.out), "oks: null buffer");
}

inline void check_pckh_params(const PckhParams& p) {
  HPEFAST_CHECK(p.n >= 0 && p.k > 0, "pckh: bad sizes n=", p.n, " k=", p.k);
  HPEFAST_CHECK(p.n == 0 || (p.pred && p.gt && p.visible && p.headboxes && p.out), "pckh: null buffer");
}

void oks_cpu(const OksParams& p);
void pckh_cpu(const PckhParams& p);
#ifdef HPEFAST_WITH_CUDA
void oks_cuda(const OksParams& p, void* stream);
void pckh_cuda(const PckhParams& p, void* stream);
#endif

// Dispatchers (the entry points bindings.cpp calls); each kernel checks its params first.
inline void oks(const OksParams& p, const Launch& on) { HPEFAST_DISPATCH(oks, p, on); }
inline void pckh(const PckhParams& p, const Launch& on) { HPEFAST_DISPATCH(pckh, p, on); }

}  // namespace hpefast
