// Batched OKS / PCKh on the CPU (parallel over instances).
#include "oks/oks.h"

#include <cmath>

#include "common/check.h"
#include "common/parallel.h"

namespace hpefast {

void oks_cpu(const OksParams& p) {
  HPEFAST_CHECK(p.n >= 0 && p.k > 0, "oks: bad sizes n=", p.n, " k=", p.k);
  parallel_for(p.n, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float denom = p.area[i] + kOksEps;
      float sum = 0.f;
      int64_t count = 0;
      for (int64_t j = 0; j < p.k; ++j) {
        if (!(p.visible[i * p.k + j] > 0.f)) continue;
        const float dx = p.pred[(i * p.k + j) * 2] - p.gt[(i * p.k + j) * 2];
        const float dy = p.pred[(i * p.k + j) * 2 + 1] - p.gt[(i * p.k + j) * 2 + 1];
        const float var = (2.f * p.sigmas[j]) * (2.f * p.sigmas[j]);
        sum += std::exp(-((dx * dx + dy * dy) / var / denom / 2.f));
        ++count;
      }
      p.out[i] = count ? sum / static_cast<float>(count) : 0.f;
    }
  });
}

void pckh_cpu(const PckhParams& p) {
  HPEFAST_CHECK(p.n >= 0 && p.k > 0, "pckh: bad sizes n=", p.n, " k=", p.k);
  parallel_for(p.n, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* hb = p.headboxes + i * 4;
      const float head = kHeadSizeFactor * std::hypot(hb[2] - hb[0], hb[3] - hb[1]);
      for (int64_t j = 0; j < p.k; ++j) {
        const int64_t q = i * p.k + j;
        const float d = std::hypot(p.pred[2 * q] - p.gt[2 * q], p.pred[2 * q + 1] - p.gt[2 * q + 1]);
        p.out[q] = (p.visible[q] > 0.f && d / head <= p.threshold) ? 1.f : 0.f;
      }
    }
  });
}

}  // namespace hpefast
