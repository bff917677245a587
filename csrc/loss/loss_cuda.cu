// CUDA kernels of the masked union-joint heatmap loss. See loss.h for the formula.
// Three launches on the caller's stream, no host synchronisation:
//   joint_mse_kernel      one block per (b, k): weighted mean squared error over the pixels
//   select_reduce_kernel  one block: per-sample selection (labelled, OHKM top-k), total, count, coef
//   backward_kernel       grid-stride over B*K*P
#include <cuda_runtime.h>

#include <algorithm>

#include "common/cuda_check.h"
#include "loss/loss.h"

namespace hpefast {
namespace {

constexpr int kThreads = 256;

template <typename T>
__device__ T block_sum(T v, T* shared) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? shared[threadIdx.x] : T(0);
  if (warp == 0) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  }
  return v;  // valid in thread 0
}

template <typename T>
__global__ void joint_mse_kernel(LossForwardParams<T> p) {
  __shared__ T shared[32];
  const int64_t r = blockIdx.x;
  const T w = p.weight[r];
  if (!(w > T(0))) {
    if (threadIdx.x == 0) p.joint_loss[r] = T(0);
    return;  // whole block returns together
  }
  const T* a = p.pred + r * p.pixels;
  const T* b = p.target + r * p.pixels;
  T s = T(0);
  for (int64_t i = threadIdx.x; i < p.pixels; i += blockDim.x) {
    const T d = a[i] - p.amplitude * b[i];
    s += (b[i] > p.fg_threshold ? p.fg_weight : T(1)) * d * d;
  }
  s = block_sum(s, shared);
  if (threadIdx.x == 0) p.joint_loss[r] = w * w * s / static_cast<T>(p.pixels);
}

template <typename T>
__global__ void select_reduce_kernel(LossForwardParams<T> p) {
  __shared__ double s_total[kThreads];
  __shared__ long long s_count[kThreads];
  const int64_t K = p.joints;
  double total = 0.0;
  long long count = 0;
  for (int64_t b = threadIdx.x; b < p.batch; b += blockDim.x) {
    const T* jl = p.joint_loss + b * K;
    const T* w = p.weight + b * K;
    T* c = p.coef + b * K;
    for (int64_t k = 0; k < K; ++k) {
      bool sel = w[k] > T(0);
      if (sel && p.topk > 0) {
        // rank among labelled joints: larger loss first, ties to the lower index (as the CPU kernel)
        int64_t rank = 0;
        const T v = jl[k];
        for (int64_t j = 0; j < K; ++j) {
          if (j == k || !(w[j] > T(0))) continue;
          if (jl[j] > v || (jl[j] == v && j < k)) ++rank;
        }
        sel = rank < p.topk;
      }
      if (sel) {
        total += static_cast<double>(jl[k]);
        ++count;
        c[k] = w[k] * w[k];
      } else {
        c[k] = T(0);
      }
    }
  }
  s_total[threadIdx.x] = total;
  s_count[threadIdx.x] = count;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      s_total[threadIdx.x] += s_total[threadIdx.x + stride];
      s_count[threadIdx.x] += s_count[threadIdx.x + stride];
    }
    __syncthreads();
  }
  const long long n = s_count[0];
  if (threadIdx.x == 0) p.loss[0] = n > 0 ? static_cast<T>(s_total[0] / static_cast<double>(n)) : T(0);
  if (n == 0) return;
  const T inv = static_cast<T>(1.0 / static_cast<double>(n));
  for (int64_t b = threadIdx.x; b < p.batch; b += blockDim.x) {
    T* c = p.coef + b * K;
    for (int64_t k = 0; k < K; ++k) c[k] *= inv;
  }
}

template <typename T>
__global__ void backward_kernel(LossBackwardParams<T> p) {
  const int64_t n = p.batch * p.joints * p.pixels;
  const T g2 = p.grad_loss[0] * T(2) / static_cast<T>(p.pixels);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const T c = p.coef[i / p.pixels];
    const T t = p.target[i];
    const T u = t > p.fg_threshold ? p.fg_weight : T(1);
    p.grad_pred[i] = c == T(0) ? T(0) : g2 * c * u * (p.pred[i] - p.amplitude * t);
  }
}

}  // namespace

template <typename T>
void union_heatmap_loss_forward_cuda(const LossForwardParams<T>& p, void* stream) {
  check_loss_params(p);
  auto s = static_cast<cudaStream_t>(stream);
  const int64_t rows = p.batch * p.joints;
  if (rows > 0) {
    joint_mse_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, s>>>(p);
    HPEFAST_CUDA_CHECK_LAUNCH();
  }
  select_reduce_kernel<T><<<1, kThreads, 0, s>>>(p);
  HPEFAST_CUDA_CHECK_LAUNCH();
}

template <typename T>
void union_heatmap_loss_backward_cuda(const LossBackwardParams<T>& p, void* stream) {
  check_loss_params(p);
  const int64_t n = p.batch * p.joints * p.pixels;
  if (n == 0) return;
  const int blocks = static_cast<int>(std::min<int64_t>(div_up(n, kThreads), 65535LL * 8));
  backward_kernel<T><<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(p);
  HPEFAST_CUDA_CHECK_LAUNCH();
}

template void union_heatmap_loss_forward_cuda<float>(const LossForwardParams<float>&, void*);
template void union_heatmap_loss_forward_cuda<double>(const LossForwardParams<double>&, void*);
template void union_heatmap_loss_backward_cuda<float>(const LossBackwardParams<float>&, void*);
template void union_heatmap_loss_backward_cuda<double>(const LossBackwardParams<double>&, void*);

}  // namespace hpefast
