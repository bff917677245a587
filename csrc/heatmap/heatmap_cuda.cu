// CUDA heatmap codecs: one thread block per joint map, launched on the caller's stream.
// The per-joint math is heatmap_math.h, shared with the CPU kernels.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <algorithm>
#include <cstdint>

#include "common/check.h"
#include "common/cuda_check.h"
#include "heatmap/heatmap.h"
#include "heatmap/heatmap_math.h"

namespace hpefast {

using namespace heatmap;

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxGrid = 1 << 20;  // blocks loop over maps beyond this

// ---------------------------------------------------------------------------------------------
// Encode: block n computes its joint's window and the separable factors gx, gy (double, as the CPU
// kernel) in shared memory, then writes the whole map (zeros outside the window) with float4 stores.

__global__ void __launch_bounds__(kThreads) encode_kernel(EncodeParams p) {
  extern __shared__ float g[];  // gx[heatmap_w], gy[heatmap_h]
  __shared__ EncodeJoint joint;
  const int w = p.heatmap_w, h = p.heatmap_h;
  const int64_t plane = static_cast<int64_t>(w) * h;
  float* gx = g;
  float* gy = g + w;
  for (int64_t n = blockIdx.x; n < p.num_maps; n += gridDim.x) {
    if (threadIdx.x == 0) {
      joint = encode_joint(p.keypoints[2 * n], p.keypoints[2 * n + 1], p.visible[n], p.method, p.sigma, p.input_w,
                           p.input_h, w, h);
      const float jw = p.joint_weights ? p.joint_weights[n % p.num_joints] : 1.f;
      p.weights[n] = joint.valid ? jw : 0.f;
    }
    __syncthreads();
    const EncodeJoint j = joint;
    if (j.valid) {
      for (int i = threadIdx.x; i < w + h; i += blockDim.x) {
        if (i < w) {
          gx[i] = (i >= j.x0 && i < j.x1) ? static_cast<float>(gauss1d(i, j.cx, p.sigma)) : 0.f;
        } else {
          const int y = i - w;
          gy[y] = (y >= j.y0 && y < j.y1) ? static_cast<float>(gauss1d(y, j.cy, p.sigma)) : 0.f;
        }
      }
    }
    __syncthreads();
    float* out = p.heatmaps + n * plane;
    const bool vec = (plane % 4 == 0) && (reinterpret_cast<std::uintptr_t>(out) % 16 == 0);
    if (vec) {
      float4* out4 = reinterpret_cast<float4*>(out);
      for (int64_t c = threadIdx.x; c < plane / 4; c += blockDim.x) {
        float v[4];
        for (int q = 0; q < 4; ++q) {
          const int64_t e = 4 * c + q;
          const int y = static_cast<int>(e / w), x = static_cast<int>(e % w);
          v[q] = j.valid ? gx[x] * gy[y] : 0.f;
        }
        out4[c] = make_float4(v[0], v[1], v[2], v[3]);
      }
    } else {
      for (int64_t e = threadIdx.x; e < plane; e += blockDim.x) {
        const int y = static_cast<int>(e / w), x = static_cast<int>(e % w);
        out[e] = j.valid ? gx[x] * gy[y] : 0.f;
      }
    }
    __syncthreads();  // joint / gx / gy are rewritten by the next map
  }
}

// ---------------------------------------------------------------------------------------------
// Decode: block-wide argmax (np.argmax order: NaN first, then the first maximum), then the blurred
// samples the refinement needs, one warp per sample, and thread 0 takes the Newton step.

struct ArgMax {
  float v;
  int64_t i;
};

// True when a should win over b: a NaN beats a number, a larger value wins, ties go to the lower index.
__device__ __forceinline__ bool wins(float av, int64_t ai, float bv, int64_t bi) {
  const bool an = av != av, bn = bv != bv;
  if (an != bn) return an;
  if (!an && av != bv) return av > bv;
  return ai < bi;
}

__device__ __forceinline__ ArgMax block_argmax(const float* m, int64_t plane, ArgMax* warp_best) {
  ArgMax best{-CUDART_INF_F, INT64_MAX};
  const bool vec = (plane % 4 == 0) && (reinterpret_cast<std::uintptr_t>(m) % 16 == 0);
  if (vec) {
    const float4* m4 = reinterpret_cast<const float4*>(m);
    for (int64_t c = threadIdx.x; c < plane / 4; c += blockDim.x) {
      const float4 q = __ldg(m4 + c);
      const float v[4] = {q.x, q.y, q.z, q.w};
      for (int t = 0; t < 4; ++t) {
        if (wins(v[t], 4 * c + t, best.v, best.i)) best = ArgMax{v[t], 4 * c + t};
      }
    }
  } else {
    for (int64_t e = threadIdx.x; e < plane; e += blockDim.x) {
      const float v = __ldg(m + e);
      if (wins(v, e, best.v, best.i)) best = ArgMax{v, e};
    }
  }
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_down_sync(0xffffffffu, best.v, off);
    const int64_t oi = __shfl_down_sync(0xffffffffu, best.i, off);
    if (wins(ov, oi, best.v, best.i)) best = ArgMax{ov, oi};
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_best[warp] = best;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int k = 1; k < kWarps; ++k) {
      if (wins(warp_best[k].v, warp_best[k].i, warp_best[0].v, warp_best[0].i)) warp_best[0] = warp_best[k];
    }
  }
  __syncthreads();
  ArgMax r = warp_best[0];
  if (r.i == INT64_MAX) r.i = 0;  // every value -inf: np.argmax gives 0
  return r;
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

struct BlurWeights {
  double w[kMaxBlurKernel];
};

// Blurred value at (x, y), the k*k taps spread over one warp's lanes (result valid in lane 0).
template <bool kReflect>
__device__ __forceinline__ double warp_blur_at(const float* m, int w, int h, const BlurWeights& kw, int k, int x,
                                               int y) {
  const int r = k / 2, lane = threadIdx.x & 31;
  double s = 0.0;
  for (int t = lane; t < k * k; t += 32) {
    const int i = t / k, j = t % k;
    int yy = y + i - r, xx = x + j - r;
    if (kReflect) {
      yy = reflect101(yy, h);
      xx = reflect101(xx, w);
    } else if (yy < 0 || yy >= h || xx < 0 || xx >= w) {
      continue;
    }
    s += kw.w[i] * (kw.w[j] * static_cast<double>(__ldg(m + static_cast<int64_t>(yy) * w + xx)));
  }
  return warp_sum(s);
}

__global__ void __launch_bounds__(kThreads) decode_kernel(DecodeParams p, BlurWeights kw, double sx, double sy) {
  __shared__ ArgMax warp_best[kWarps];
  __shared__ double samples[kDarkSamples];
  __shared__ double warp_max[kWarps];
  __shared__ int need_slow;
  const int w = p.heatmap_w, h = p.heatmap_h, k = p.blur_kernel;
  const int64_t plane = static_cast<int64_t>(w) * h;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t n = blockIdx.x; n < p.num_maps; n += gridDim.x) {
    const float* m = p.heatmaps + n * plane;
    const ArgMax best = block_argmax(m, plane, warp_best);
    const int px = static_cast<int>(best.i % w), py = static_cast<int>(best.i / w);
    const bool positive = best.v > 0.f;  // block-uniform
    const bool dark = positive && p.method == kDecodeDark && dark_inside(px, py, w, h);
    const bool dark_udp = positive && p.method == kDecodeDarkUdp;
    if (dark || dark_udp) {
      const int count = dark ? kDarkSamples : kDarkUdpSamples;
      for (int s = warp; s < count; s += kWarps) {
        int dx, dy;
        double b;
        if (dark) {
          dark_sample_offset(s, &dx, &dy);
          b = warp_blur_at<false>(m, w, h, kw, k, px + dx, py + dy);
        } else {
          dark_udp_sample_offset(s, &dx, &dy);
          b = warp_blur_at<true>(m, w, h, kw, k, clampi(px + dx, 0, w - 1), clampi(py + dy, 0, h - 1));
        }
        if (lane == 0) samples[s] = b;
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        int slow = 0;
        if (dark) {
          for (int s = 0; s < kDarkSamples; ++s) slow |= !(samples[s] >= kDarkFastThreshold);
        }
        need_slow = slow;
      }
      __syncthreads();
      double bmax = 1.0;
      if (need_slow) {  // DarkPose's rescale matters: the maximum of the whole blurred map (rare)
        double local = -CUDART_INF;
        bool nan = false;
        for (int64_t e = threadIdx.x; e < plane; e += blockDim.x) {
          const int ex = static_cast<int>(e % w), ey = static_cast<int>(e / w);
          const double v = blur_zero_at(m, w, h, kw.w, k, ex, ey);
          nan |= v != v;
          local = v > local ? v : local;
        }
        if (nan) local = CUDART_NAN;
        for (int off = 16; off > 0; off >>= 1) {
          const double o = __shfl_down_sync(0xffffffffu, local, off);
          local = (o != o || o > local) ? o : local;
        }
        if (lane == 0) warp_max[warp] = local;
        __syncthreads();
        if (threadIdx.x == 0) {
          double v = warp_max[0];
          for (int q = 1; q < kWarps; ++q) v = (warp_max[q] != warp_max[q] || warp_max[q] > v) ? warp_max[q] : v;
          warp_max[0] = v;
        }
        __syncthreads();
        bmax = warp_max[0];
      }
      if (threadIdx.x == 0) {
        double x = px, y = py;
        if (dark) {
          double L[kDarkSamples];
          const double c = need_slow ? static_cast<double>(best.v) / bmax : 1.0;
          for (int s = 0; s < kDarkSamples; ++s) L[s] = need_slow ? dark_log(samples[s], c) : log(samples[s]);
          dark_step(L, &x, &y);
        } else {
          double L[kDarkUdpSamples];
          for (int s = 0; s < kDarkUdpSamples; ++s) {
            const double b = samples[s];
            L[s] = log(b != b ? b : (b < 1e-3 ? 1e-3 : (b > 50.0 ? 50.0 : b)));
          }
          dark_udp_step(L, &x, &y);
        }
        p.keypoints[2 * n] = static_cast<float>(x * sx);
        p.keypoints[2 * n + 1] = static_cast<float>(y * sy);
        p.scores[n] = best.v;
      }
    } else if (threadIdx.x == 0) {
      double x = -1.0, y = -1.0;
      if (positive) {
        x = px;
        y = py;
        if (p.method == kDecodeShift) shift_step(m, w, h, px, py, &x, &y);
      }
      p.keypoints[2 * n] = static_cast<float>(x * sx);
      p.keypoints[2 * n + 1] = static_cast<float>(y * sy);
      p.scores[n] = best.v;
    }
    __syncthreads();  // shared state is reused by the next map
  }
}

}  // namespace

void encode_heatmaps_cuda(const EncodeParams& p, void* stream) {
  check_encode_params(p);
  HPEFAST_CHECK(p.heatmap_w + p.heatmap_h <= 8192, "encode_heatmaps: heatmap_size too large for the CUDA kernel");
  if (p.num_maps == 0) return;
  const int grid = static_cast<int>(std::min<int64_t>(p.num_maps, kMaxGrid));
  const size_t shmem = sizeof(float) * (p.heatmap_w + p.heatmap_h);
  encode_kernel<<<grid, kThreads, shmem, static_cast<cudaStream_t>(stream)>>>(p);
  HPEFAST_CUDA_CHECK_LAUNCH();
}

void decode_heatmaps_cuda(const DecodeParams& p, void* stream) {
  check_decode_params(p);
  if (p.num_maps == 0) return;
  BlurWeights kw{};
  gaussian_kernel(p.blur_kernel, kw.w);
  const double sx = decode_stride(p.method, p.input_w, p.heatmap_w);
  const double sy = decode_stride(p.method, p.input_h, p.heatmap_h);
  const int grid = static_cast<int>(std::min<int64_t>(p.num_maps, kMaxGrid));
  decode_kernel<<<grid, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(p, kw, sx, sy);
  HPEFAST_CUDA_CHECK_LAUNCH();
}

}  // namespace hpefast
