// CPU kernels of the masked union-joint heatmap loss. See loss.h for the formula.
#include "loss/loss.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "common/parallel.h"

namespace hpefast {

template <typename T>
void check_loss_params(const LossForwardParams<T>& p) {
  HPEFAST_CHECK(p.batch >= 0 && p.joints > 0 && p.pixels > 0, "union_heatmap_loss: bad sizes B=", p.batch,
                " K=", p.joints, " P=", p.pixels);
  HPEFAST_CHECK(p.topk >= 0 && p.topk <= p.joints, "union_heatmap_loss: ohkm_topk must be in [1, K=", p.joints,
                "], got ", p.topk);
  HPEFAST_CHECK(std::isfinite(double(p.amplitude)) && p.amplitude > T(0),
                "union_heatmap_loss: amplitude must be finite and > 0, got ", p.amplitude);
  HPEFAST_CHECK(std::isfinite(double(p.fg_weight)) && p.fg_weight >= T(0),
                "union_heatmap_loss: fg_weight must be finite and >= 0, got ", p.fg_weight);
  HPEFAST_CHECK(!std::isnan(double(p.fg_threshold)), "union_heatmap_loss: fg_threshold is NaN");
  HPEFAST_CHECK(p.loss, "union_heatmap_loss: null loss pointer");
  HPEFAST_CHECK(p.batch == 0 || (p.pred && p.target && p.weight && p.coef && p.joint_loss),
                "union_heatmap_loss: null pointer");
}

template <typename T>
void check_loss_params(const LossBackwardParams<T>& p) {
  HPEFAST_CHECK(p.batch >= 0 && p.joints > 0 && p.pixels > 0, "union_heatmap_loss_backward: bad sizes");
  HPEFAST_CHECK(p.grad_loss && (p.batch == 0 || (p.pred && p.target && p.coef && p.grad_pred)),
                "union_heatmap_loss_backward: null pointer");
}

namespace {

// Rank of joint k among the labelled joints of one sample: how many beat it (larger loss, or equal
// loss and lower index). Shared by the CPU and (mirrored) CUDA kernels and the reference.
template <typename T>
int64_t ohkm_rank(const T* jl, const T* w, int64_t K, int64_t k) {
  int64_t r = 0;
  const T v = jl[k];
  for (int64_t j = 0; j < K; ++j) {
    if (j == k || !(w[j] > T(0))) continue;
    if (jl[j] > v || (jl[j] == v && j < k)) ++r;
  }
  return r;
}

}  // namespace

template <typename T>
void union_heatmap_loss_forward_cpu(const LossForwardParams<T>& p) {
  check_loss_params(p);
  const int64_t B = p.batch, K = p.joints, P = p.pixels, rows = B * K;
  // 1. per-joint weighted MSE, accumulated in double
  parallel_for(rows, std::max<int64_t>(1, 16384 / P), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T w = p.weight[r];
      if (!(w > T(0))) {
        p.joint_loss[r] = T(0);
        continue;
      }
      const T* a = p.pred + r * P;
      const T* b = p.target + r * P;
      const double amp = double(p.amplitude), fw = double(p.fg_weight);
      double s = 0.0;
      for (int64_t i = 0; i < P; ++i) {
        const double d = double(a[i]) - amp * double(b[i]);
        s += (b[i] > p.fg_threshold ? fw : 1.0) * d * d;
      }
      p.joint_loss[r] = static_cast<T>(double(w) * double(w) * s / double(P));
    }
  });
  // 2. selection (labelled, OHKM top-k per sample), total and count
  double total = 0.0;
  int64_t count = 0;
  for (int64_t b = 0; b < B; ++b) {
    const T* jl = p.joint_loss + b * K;
    const T* w = p.weight + b * K;
    T* c = p.coef + b * K;
    for (int64_t k = 0; k < K; ++k) {
      bool sel = w[k] > T(0);
      if (sel && p.topk > 0) sel = ohkm_rank(jl, w, K, k) < p.topk;
      if (sel) {
        total += double(jl[k]);
        ++count;
        c[k] = w[k] * w[k];
      } else {
        c[k] = T(0);
      }
    }
  }
  // 3. normalise
  if (count > 0) {
    const T inv = static_cast<T>(1.0 / double(count));
    for (int64_t r = 0; r < rows; ++r) p.coef[r] *= inv;
    p.loss[0] = static_cast<T>(total / double(count));
  } else {
    p.loss[0] = T(0);
  }
}

template <typename T>
void union_heatmap_loss_backward_cpu(const LossBackwardParams<T>& p) {
  check_loss_params(p);
  const int64_t K = p.joints, P = p.pixels, rows = p.batch * K;
  const T g = p.grad_loss[0];
  parallel_for(rows, std::max<int64_t>(1, 16384 / P), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      T* out = p.grad_pred + r * P;
      const T c = p.coef[r];
      if (c == T(0)) {
        for (int64_t i = 0; i < P; ++i) out[i] = T(0);
        continue;
      }
      const T s = g * c * T(2) / static_cast<T>(P);
      const T* a = p.pred + r * P;
      const T* b = p.target + r * P;
      for (int64_t i = 0; i < P; ++i) {
        const T u = b[i] > p.fg_threshold ? p.fg_weight : T(1);
        out[i] = s * u * (a[i] - p.amplitude * b[i]);
      }
    }
  });
}

#define HPEFAST_INSTANTIATE(T)                                                  \
  template void check_loss_params<T>(const LossForwardParams<T>&);              \
  template void check_loss_params<T>(const LossBackwardParams<T>&);             \
  template void union_heatmap_loss_forward_cpu<T>(const LossForwardParams<T>&); \
  template void union_heatmap_loss_backward_cpu<T>(const LossBackwardParams<T>&);
HPEFAST_INSTANTIATE(float)
HPEFAST_INSTANTIATE(double)
#undef HPEFAST_INSTANTIATE

}  // namespace hpefast
