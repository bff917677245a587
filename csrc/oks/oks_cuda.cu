// Batched OKS / PCKh on the GPU: one thread per instance (OKS) or per joint (PCKh), on the given stream.
#include <cuda_runtime.h>

#include "common/check.h"
#include "common/cuda_check.h"
#include "oks/oks.h"

namespace hpefast {
namespace {

__global__ void oks_kernel(OksParams p) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= p.n) return;
  const float denom = p.area[i] + kOksEps;
  float sum = 0.f;
  int count = 0;
  for (int64_t j = 0; j < p.k; ++j) {
    if (!(p.visible[i * p.k + j] > 0.f)) continue;
    const float dx = p.pred[(i * p.k + j) * 2] - p.gt[(i * p.k + j) * 2];
    const float dy = p.pred[(i * p.k + j) * 2 + 1] - p.gt[(i * p.k + j) * 2 + 1];
    const float var = (2.f * p.sigmas[j]) * (2.f * p.sigmas[j]);
    sum += expf(-((dx * dx + dy * dy) / var / denom / 2.f));
    ++count;
  }
  p.out[i] = count ? sum / static_cast<float>(count) : 0.f;
}

__global__ void pckh_kernel(PckhParams p) {
  const int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= p.n * p.k) return;
  const int64_t i = q / p.k;
  const float* hb = p.headboxes + i * 4;
  const float head = kHeadSizeFactor * hypotf(hb[2] - hb[0], hb[3] - hb[1]);
  const float d = hypotf(p.pred[2 * q] - p.gt[2 * q], p.pred[2 * q + 1] - p.gt[2 * q + 1]);
  p.out[q] = (p.visible[q] > 0.f && d / head <= p.threshold) ? 1.f : 0.f;
}

}  // namespace

void oks_cuda(const OksParams& p, void* stream) {
  HPEFAST_CHECK(p.n >= 0 && p.k > 0, "oks: bad sizes n=", p.n, " k=", p.k);
  if (p.n == 0) return;
  const int threads = 256;
  oks_kernel<<<div_up(p.n, threads), threads, 0, static_cast<cudaStream_t>(stream)>>>(p);
  HPEFAST_CUDA_CHECK_LAUNCH();
}

void pckh_cuda(const PckhParams& p, void* stream) {
  HPEFAST_CHECK(p.n >= 0 && p.k > 0, "pckh: bad sizes n=", p.n, " k=", p.k);
  if (p.n == 0) return;
  const int threads = 256;
  pckh_kernel<<<div_up(p.n * p.k, threads), threads, 0, static_cast<cudaStream_t>(stream)>>>(p);
  HPEFAST_CUDA_CHECK_LAUNCH();
}

}  // namespace hpefast
