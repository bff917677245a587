// CPU heatmap codecs: one task per joint map, maps spread over all cores with parallel_for.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "common/check.h"
#include "common/parallel.h"
#include "heatmap/heatmap.h"
#include "heatmap/heatmap_math.h"

namespace hpefast {

using namespace heatmap;

void check_encode_params(const EncodeParams& p) {
  HPEFAST_CHECK(p.num_maps >= 0, "encode_heatmaps: num_maps must be >= 0, got ", p.num_maps);
  HPEFAST_CHECK(p.num_joints > 0 || p.num_maps == 0, "encode_heatmaps: num_joints must be > 0");
  HPEFAST_CHECK(p.input_w > 0 && p.input_h > 0, "encode_heatmaps: input_size must be positive, got (",
                p.input_w, ", ", p.input_h, ")");
  HPEFAST_CHECK(p.heatmap_w > 0 && p.heatmap_h > 0, "encode_heatmaps: heatmap_size must be positive, got (",
                p.heatmap_w, ", ", p.heatmap_h, ")");
  HPEFAST_CHECK(p.method == kEncodeMsra || p.method == kEncodeUdp, "encode_heatmaps: unknown method ",
                p.method);
  HPEFAST_CHECK(p.method != kEncodeUdp || (p.heatmap_w >= 2 && p.heatmap_h >= 2 && p.input_w >= 2 && p.input_h >= 2),
                "encode_heatmaps: method 'udp' needs input_size and heatmap_size >= 2 (stride (in-1)/(hm-1))");
  HPEFAST_CHECK(std::isfinite(p.sigma) && p.sigma > 0.f, "encode_heatmaps: sigma must be a positive number, got ",
                p.sigma);
  if (p.num_maps > 0) {
    HPEFAST_CHECK(p.keypoints && p.visible && p.heatmaps && p.weights, "encode_heatmaps: null pointer");
  }
}

void check_decode_params(const DecodeParams& p) {
  HPEFAST_CHECK(p.num_maps >= 0, "decode_heatmaps: num_maps must be >= 0, got ", p.num_maps);
  HPEFAST_CHECK(p.input_w > 0 && p.input_h > 0, "decode_heatmaps: input_size must be positive, got (",
                p.input_w, ", ", p.input_h, ")");
  HPEFAST_CHECK(p.heatmap_w > 0 && p.heatmap_h > 0, "decode_heatmaps: heatmaps must have positive height and width");
  HPEFAST_CHECK(p.method >= kDecodeArgmax && p.method <= kDecodeDarkUdp, "decode_heatmaps: unknown method ",
                p.method);
  HPEFAST_CHECK(p.method != kDecodeDarkUdp || (p.heatmap_w >= 2 && p.heatmap_h >= 2),
                "decode_heatmaps: method 'dark_udp' needs heatmaps of at least 2 x 2 (stride (in-1)/(hm-1))");
  HPEFAST_CHECK(p.blur_kernel >= 1 && p.blur_kernel % 2 == 1 && p.blur_kernel <= kMaxBlurKernel,
                "decode_heatmaps: blur_kernel must be odd in [1, ", kMaxBlurKernel, "], got ", p.blur_kernel);
  if (p.num_maps > 0) {
    HPEFAST_CHECK(p.heatmaps && p.keypoints && p.scores, "decode_heatmaps: null pointer");
  }
}

namespace {

// A large fresh output buffer (glibc mmaps anything over 32 MB, so 256x17x64x48 floats is new memory
// at every call) costs one page fault per 4 KiB written, which dominates target generation. Asking for
// transparent huge pages on the buffer's aligned interior (advice only, as PyTorch's
// THP_MEM_ALLOC_ENABLE does for its own allocations) cuts that to one fault per 2 MiB.
void advise_huge_pages(void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHuge = std::uintptr_t(1) << 21;
  if (bytes < 4 * kHuge) return;
  const std::uintptr_t begin = (reinterpret_cast<std::uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // failure is harmless
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace

void encode_heatmaps_cpu(const EncodeParams& p) {
  check_encode_params(p);
  const int64_t plane = static_cast<int64_t>(p.heatmap_w) * p.heatmap_h;
  advise_huge_pages(p.heatmaps, sizeof(float) * static_cast<size_t>(plane) * static_cast<size_t>(p.num_maps));
  const double sigma = p.sigma;
  // Grain: enough maps per thread that starting a thread is worth it.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(plane, 1));
  parallel_for(p.num_maps, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> gx(p.heatmap_w), gy(p.heatmap_h);
    for (int64_t n = begin; n < end; ++n) {
      float* out = p.heatmaps + n * plane;
      const EncodeJoint j = encode_joint(p.keypoints[2 * n], p.keypoints[2 * n + 1], p.visible[n], p.method,
                                         sigma, p.input_w, p.input_h, p.heatmap_w, p.heatmap_h);
      const float jw = p.joint_weights ? p.joint_weights[n % p.num_joints] : 1.f;
      p.weights[n] = j.valid ? jw : 0.f;
      if (!j.valid) {
        std::memset(out, 0, sizeof(float) * plane);
        continue;
      }
      for (int x = j.x0; x < j.x1; ++x) gx[x] = static_cast<float>(gauss1d(x, j.cx, sigma));
      for (int y = j.y0; y < j.y1; ++y) gy[y] = static_cast<float>(gauss1d(y, j.cy, sigma));
      // Rows outside the window are zero; inside, zero | gx * gy | zero.
      std::memset(out, 0, sizeof(float) * p.heatmap_w * j.y0);
      for (int y = j.y0; y < j.y1; ++y) {
        float* row = out + static_cast<int64_t>(y) * p.heatmap_w;
        const float vy = gy[y];
        std::fill(row, row + j.x0, 0.f);
        for (int x = j.x0; x < j.x1; ++x) row[x] = gx[x] * vy;
        std::fill(row + j.x1, row + p.heatmap_w, 0.f);
      }
      std::memset(out + static_cast<int64_t>(j.y1) * p.heatmap_w, 0,
                  sizeof(float) * p.heatmap_w * (p.heatmap_h - j.y1));
    }
  });
}

namespace {

// First index of the maximum (np.argmax semantics: a NaN counts as the maximum and wins at its first
// position). A SIMD pass finds the maximum and whether there is a NaN; a second pass finds its first
// index. The scan is most of the decoders' work, so it is worth the intrinsics (SSE2 is x86-64 baseline).
inline int64_t first_index_of(const float* m, int64_t n, float v) {
  int64_t i = 0;
#ifdef __SSE2__
  const __m128 target = _mm_set1_ps(v);
  for (; i + 4 <= n; i += 4) {
    const int mask = _mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(m + i), target));
    if (mask) return i + __builtin_ctz(static_cast<unsigned>(mask));
  }
#endif
  for (; i < n; ++i) {
    if (m[i] == v) return i;
  }
  return -1;
}

inline int64_t argmax_map(const float* m, int64_t n, float* maxval) {
  float best = -std::numeric_limits<float>::infinity();
  bool nan = false;
  int64_t i = 0;
#ifdef __SSE2__
  __m128 a0 = _mm_set1_ps(best), a1 = a0, a2 = a0, a3 = a0;
  __m128 u = _mm_setzero_ps();  // NaN lanes seen
  for (; i + 16 <= n; i += 16) {
    const __m128 v0 = _mm_loadu_ps(m + i), v1 = _mm_loadu_ps(m + i + 4);
    const __m128 v2 = _mm_loadu_ps(m + i + 8), v3 = _mm_loadu_ps(m + i + 12);
    a0 = _mm_max_ps(a0, v0);
    a1 = _mm_max_ps(a1, v1);
    a2 = _mm_max_ps(a2, v2);
    a3 = _mm_max_ps(a3, v3);
    u = _mm_or_ps(u, _mm_or_ps(_mm_cmpunord_ps(v0, v1), _mm_cmpunord_ps(v2, v3)));
  }
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, _mm_max_ps(_mm_max_ps(a0, a1), _mm_max_ps(a2, a3)));
  for (float l : lanes) best = l > best ? l : best;
  nan = _mm_movemask_ps(u) != 0;
#endif
  for (; i < n; ++i) {
    nan |= m[i] != m[i];
    best = m[i] > best ? m[i] : best;
  }
  if (nan) {
    for (int64_t k = 0; k < n; ++k) {
      if (m[k] != m[k]) {
        *maxval = m[k];
        return k;
      }
    }
  }
  *maxval = best;
  const int64_t k = first_index_of(m, n, best);
  return k < 0 ? 0 : k;  // every value -inf: argmax is the first element
}

// Largest value of the zero-padded blurred map (DarkPose rescales the blurred map to keep the
// original maximum; only needed when the clamp at 1e-10 can matter, see kDarkFastThreshold).
double blurred_max_zero(const float* m, int w, int h, const double* kw, int k, std::vector<double>& tmp) {
  const int r = k / 2;
  tmp.assign(static_cast<size_t>(w) * h, 0.0);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double s = 0.0;
      for (int j = 0; j < k; ++j) {
        const int xx = x + j - r;
        if (xx >= 0 && xx < w) s += kw[j] * m[static_cast<int64_t>(y) * w + xx];
      }
      tmp[static_cast<size_t>(y) * w + x] = s;
    }
  }
  double best = -std::numeric_limits<double>::infinity();
  bool nan = false;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double s = 0.0;
      for (int i = 0; i < k; ++i) {
        const int yy = y + i - r;
        if (yy >= 0 && yy < h) s += kw[i] * tmp[static_cast<size_t>(yy) * w + x];
      }
      nan |= s != s;
      best = s > best ? s : best;
    }
  }
  return nan ? std::numeric_limits<double>::quiet_NaN() : best;
}

// Blurred values at sample points within `reach` of (px, py), through a patch of the map around them:
// the patch (zero- or reflect-101-padded) is gathered once, then rows are blurred for the columns the
// samples need and columns for each sample. Same order of summation as the reference (rows, then
// columns, taps in order), so results are bit-identical to it.
struct PatchBlur {
  std::vector<double> patch, rows;
  std::vector<int> ridx, cidx;

  template <bool kReflect>
  void run(const float* m, int w, int h, const double* kw, int k, int px, int py, int reach, const int* sx,
           const int* sy, int count, double* out) {
    const int r = k / 2, side = 2 * (reach + r) + 1, cols = 2 * reach + 1;
    patch.resize(static_cast<size_t>(side) * side);
    rows.resize(static_cast<size_t>(side) * cols);
    ridx.resize(side);
    cidx.resize(side);
    for (int t = 0; t < side; ++t) {
      const int yy = py - reach - r + t, xx = px - reach - r + t;
      ridx[t] = kReflect ? reflect101(yy, h) : (yy >= 0 && yy < h ? yy : -1);
      cidx[t] = kReflect ? reflect101(xx, w) : (xx >= 0 && xx < w ? xx : -1);
    }
    for (int a = 0; a < side; ++a) {
      double* dst = patch.data() + static_cast<size_t>(a) * side;
      if (ridx[a] < 0) {
        std::fill(dst, dst + side, 0.0);
        continue;
      }
      const float* src = m + static_cast<int64_t>(ridx[a]) * w;
      for (int b = 0; b < side; ++b) dst[b] = cidx[b] < 0 ? 0.0 : static_cast<double>(src[cidx[b]]);
    }
    for (int a = 0; a < side; ++a) {
      const double* src = patch.data() + static_cast<size_t>(a) * side;
      for (int c = 0; c < cols; ++c) {
        double acc = 0.0;
        for (int j = 0; j < k; ++j) acc += kw[j] * src[c + j];
        rows[static_cast<size_t>(a) * cols + c] = acc;
      }
    }
    for (int s = 0; s < count; ++s) {
      const int c = sx[s] - px + reach, a0 = sy[s] - py + reach;
      double acc = 0.0;
      for (int i = 0; i < k; ++i) acc += kw[i] * rows[static_cast<size_t>(a0 + i) * cols + c];
      out[s] = acc;
    }
  }
};

}  // namespace

void decode_heatmaps_cpu(const DecodeParams& p) {
  check_decode_params(p);
  const int w = p.heatmap_w, h = p.heatmap_h, k = p.blur_kernel;
  const int64_t plane = static_cast<int64_t>(w) * h;
  double kw[kMaxBlurKernel];
  gaussian_kernel(k, kw);
  const double sx = decode_stride(p.method, p.input_w, w), sy = decode_stride(p.method, p.input_h, h);
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(plane, 1));
  parallel_for(p.num_maps, grain, [&](int64_t begin, int64_t end) {
    std::vector<double> tmp;
    PatchBlur blur;
    for (int64_t n = begin; n < end; ++n) {
      const float* m = p.heatmaps + n * plane;
      float maxval = 0.f;
      const int64_t idx = argmax_map(m, plane, &maxval);
      p.scores[n] = maxval;
      double x = -1.0, y = -1.0;  // mmpose: a map whose maximum is not > 0 decodes to (-1, -1)
      if (maxval > 0.f) {
        const int px = static_cast<int>(idx % w), py = static_cast<int>(idx / w);
        x = px;
        y = py;
        if (p.method == kDecodeShift) {
          shift_step(m, w, h, px, py, &x, &y);
        } else if (p.method == kDecodeDark && dark_inside(px, py, w, h)) {
          double b[kDarkSamples], L[kDarkSamples];
          int sxs[kDarkSamples], sys[kDarkSamples];
          for (int s = 0; s < kDarkSamples; ++s) {
            dark_sample_offset(s, &sxs[s], &sys[s]);
            sxs[s] += px;
            sys[s] += py;
          }
          blur.run<false>(m, w, h, kw, k, px, py, 2, sxs, sys, kDarkSamples, b);
          bool fast = true;
          for (int s = 0; s < kDarkSamples; ++s) fast = fast && b[s] >= kDarkFastThreshold;
          const double c = fast ? 1.0 : static_cast<double>(maxval) / blurred_max_zero(m, w, h, kw, k, tmp);
          for (int s = 0; s < kDarkSamples; ++s) L[s] = fast ? std::log(b[s]) : dark_log(b[s], c);
          dark_step(L, &x, &y);
        } else if (p.method == kDecodeDarkUdp) {
          double b[kDarkUdpSamples], L[kDarkUdpSamples];
          int sxs[kDarkUdpSamples], sys[kDarkUdpSamples];
          for (int s = 0; s < kDarkUdpSamples; ++s) {  // edge padding: samples clamped into the map
            dark_udp_sample_offset(s, &sxs[s], &sys[s]);
            sxs[s] = clampi(px + sxs[s], 0, w - 1);
            sys[s] = clampi(py + sys[s], 0, h - 1);
          }
          blur.run<true>(m, w, h, kw, k, px, py, 1, sxs, sys, kDarkUdpSamples, b);
          for (int s = 0; s < kDarkUdpSamples; ++s) {
            L[s] = std::log(b[s] != b[s] ? b[s] : (b[s] < 1e-3 ? 1e-3 : (b[s] > 50.0 ? 50.0 : b[s])));
          }
          dark_udp_step(L, &x, &y);
        }
      }
      p.keypoints[2 * n] = static_cast<float>(x * sx);
      p.keypoints[2 * n + 1] = static_cast<float>(y * sy);
    }
  });
}

}  // namespace hpefast
