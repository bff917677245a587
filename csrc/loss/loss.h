// Masked union-joint heatmap loss (MSE per joint, mean over labelled joints, optional OHKM).
// Plain params structs, raw pointers; no torch header. Semantics: hpefast/_reference/loss.py.
//
// Forward, for pred/target [B, K, P] (P = h * w pixels) and weight [B, K]:
//   d[b,k,p]        = pred - amplitude * target                     (heatmap amplitude scaling)
//   u[b,k,p]        = target > fg_threshold ? fg_weight : 1         (foreground-weighted MSE)
//   joint_loss[b,k] = w[b,k]^2 * mean_p u * d^2     (mmpose JointsMSELoss per joint when a = u = 1)
//   selected[b,k]   = w[b,k] > 0, and with OHKM (topk > 0) only the topk largest joint losses of
//                     sample b among its labelled joints (ties: the lower joint index wins)
//   S               = number of selected joints in the batch
//   loss            = sum_selected joint_loss / S      (0 when S == 0)
//   coef[b,k]       = selected ? w[b,k]^2 / S : 0      (saved for backward)
// Backward: grad_pred[b,k,p] = grad_loss * coef[b,k] * 2 u d / P  (exact 0 where coef == 0);
// grad_target = -amplitude * grad_pred (u is piecewise constant in target: no gradient through it).
#pragma once
#include <cstdint>

#include "common/launch.h"

namespace hpefast {

template <typename T>
struct LossForwardParams {
  int64_t batch = 0;   // B
  int64_t joints = 0;  // K
  int64_t pixels = 0;  // P = h * w
  int64_t topk = 0;    // 0: every labelled joint; else OHKM keeps this many per sample
  T amplitude = T(1);     // target multiplier
  T fg_threshold = T(0);  // pixels with (unscaled) target > this are foreground ...
  T fg_weight = T(1);     // ... and weigh this much in the MSE (1: plain MSE)
  const T* pred = nullptr;    // [B, K, P]
  const T* target = nullptr;  // [B, K, P]
  const T* weight = nullptr;  // [B, K], >= 0
  T* loss = nullptr;          // [1]
  T* joint_loss = nullptr;    // [B, K]
  T* coef = nullptr;          // [B, K]
};

template <typename T>
struct LossBackwardParams {
  int64_t batch = 0, joints = 0, pixels = 0;
  T amplitude = T(1), fg_threshold = T(0), fg_weight = T(1);  // as in the forward
  const T* grad_loss = nullptr;  // [1] (device memory for CUDA: read on the device, no host sync)
  const T* pred = nullptr;       // [B, K, P]
  const T* target = nullptr;     // [B, K, P]
  const T* coef = nullptr;       // [B, K] from the forward
  T* grad_pred = nullptr;        // [B, K, P]
};

// Throw std::invalid_argument on bad sizes or null pointers.
template <typename T>
void check_loss_params(const LossForwardParams<T>& p);
template <typename T>
void check_loss_params(const LossBackwardParams<T>& p);

template <typename T>
void union_heatmap_loss_forward_cpu(const LossForwardParams<T>& p);
template <typename T>
void union_heatmap_loss_backward_cpu(const LossBackwardParams<T>& p);

#ifdef HPEFAST_WITH_CUDA
template <typename T>
void union_heatmap_loss_forward_cuda(const LossForwardParams<T>& p, void* stream);
template <typename T>
void union_heatmap_loss_backward_cuda(const LossBackwardParams<T>& p, void* stream);
#endif

// Dispatchers (the entry points bindings.cpp calls); each kernel checks its params first.
template <typename T>
void union_heatmap_loss_forward(const LossForwardParams<T>& p, const Launch& on) {
  HPEFAST_DISPATCH(union_heatmap_loss_forward, p, on);
}
template <typename T>
void union_heatmap_loss_backward(const LossBackwardParams<T>& p, const Launch& on) {
  HPEFAST_DISPATCH(union_heatmap_loss_backward, p, on);
}

}  // namespace hpefast
