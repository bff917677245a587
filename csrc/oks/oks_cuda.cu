// Batched OKS / PCKh on the GPU: one thread per instance (OKS) or per joint (PCKh), on the given stream.
// The per-element bodies are in oks.h, shared with the CPU kernels.
#include <cuda_runtime.h>

#include "common/cuda_check.h"
#include "oks/oks.h"

namespace hpefast {
namespace {

__global__ void oks_kernel(OksParams p) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < p.n) p.out[i] = oks_instance(p, i);
}

__global__ void pckh_kernel(PckhParams p) {
  const int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q < p.n * p.k) p.out[q] = pckh_hit(p, q);
}

}  // namespace

void oks_cuda(const OksParams& p, void* stream) {
  check_oks_params(p);
  if (p.n == 0) return;
  const int threads = 256;
  oks_kernel<<<div_up(p.n, threads), threads, 0, static_cast<cudaStream_t>(stream)>>>(p);
  HPEFAST_CUDA_CHECK_LAUNCH();
}

void pckh_cuda(const PckhParams& p, void* stream) {
  check_pckh_params(p);
  if (p.n == 0) return;
  const int threads = 256;
  pckh_kernel<<<div_up(p.n * p.k, threads), threads, 0, static_cast<cudaStream_t>(stream)>>>(p);
  HPEFAST_CUDA_CHECK_LAUNCH();
}

}  // namespace hpefast
