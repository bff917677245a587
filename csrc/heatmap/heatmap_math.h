// Per-joint math shared by the CPU and CUDA heatmap kernels (host + device inline functions), so
// both devices compute the same numbers. Everything that decides a position runs in double and is
// rounded to float once, at the end; hpefast/_reference/heatmap.py is the spec it follows.
#pragma once
#include <cmath>

#include "common/hd.h"

namespace hpefast {
namespace heatmap {

// Largest blur kernel the decoders accept (weights live in fixed-size arrays).
constexpr int kMaxBlurKernel = 99;
// Sample points of the DARK Taylor step: (dx, dy) around the argmax.
constexpr int kDarkSamples = 13;
constexpr int kDarkUdpSamples = 7;

HPEFAST_HD bool is_finite(double v) { return v == v && v - v == 0.0; }

// Weights of OpenCV's getGaussianKernel(k, sigma=0) in double: OpenCV's fixed tables for k <= 9,
// otherwise a sampled Gaussian with sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8, normalised to sum 1.
// This is the kernel cv2.GaussianBlur(x, (k, k), 0) uses, i.e. what DarkPose and ViTPose call.
HPEFAST_HD void gaussian_kernel(int k, double* w) {
  // clang-format off
  const double t1[1] = {1.0};
  const double t3[3] = {0.25, 0.5, 0.25};
  const double t5[5] = {0.0625, 0.25, 0.375, 0.25, 0.0625};
  const double t7[7] = {0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125};
  const double t9[9] = {0.015625, 0.05078125, 0.1171875, 0.19921875, 0.234375, 0.19921875, 0.1171875,
                        0.05078125, 0.015625};
  // clang-format on
  const double* table = k == 1 ? t1 : k == 3 ? t3 : k == 5 ? t5 : k == 7 ? t7 : k == 9 ? t9 : nullptr;
  if (table != nullptr) {
    for (int i = 0; i < k; ++i) w[i] = table[i];
    return;
  }
  const double sigma = 0.3 * ((k - 1) * 0.5 - 1.0) + 0.8;
  const double scale = -0.5 / (sigma * sigma);
  double sum = 0.0;
  for (int i = 0; i < k; ++i) {
    const double x = i - (k - 1) * 0.5;
    w[i] = exp(scale * x * x);
    sum += w[i];
  }
  const double inv = 1.0 / sum;
  for (int i = 0; i < k; ++i) w[i] *= inv;
}

// OpenCV BORDER_REFLECT_101 (cv2.GaussianBlur's default border): ... 2 1 | 0 1 2 ... n-1 | n-2 ...
HPEFAST_HD int reflect101(int p, int len) {
  if (len == 1) return 0;
  while (p < 0 || p >= len) p = p < 0 ? -p : 2 * len - 2 - p;
  return p;
}

HPEFAST_HD int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// ---------------------------------------------------------------------------------------------
// Encode

// The drawn window of one joint: pixels [x0, x1) x [y0, y1) (clipped to the map) and the Gaussian
// centre (cx, cy) in heatmap pixels. valid == false: unlabelled, NaN/inf, or window wholly outside.
struct EncodeJoint {
  bool valid;
  int x0, x1, y0, y1;
  double cx, cy;
};

// stride = input / heatmap (msra) or (input - 1) / (heatmap - 1) (udp).
HPEFAST_HD double encode_stride(int method, int input, int heatmap) {
  return method == 1 ? (input - 1.0) / (heatmap - 1.0) : static_cast<double>(input) / heatmap;
}

// One axis of the window. HRNet: mu = int(f + 0.5) (truncation toward zero, as Python's int()),
// window [mu - 3 sigma, mu + 3 sigma + 1) with floor on both ends (identical to HRNet's int() when
// mu - 3 sigma >= 0, and keeps the window centred on mu when it is not). Returns false when the window
// has no pixel in [0, size).
HPEFAST_HD bool encode_axis(double f, double radius, int size, int* lo, int* hi, double* mu_out) {
  const double mu = trunc(f + 0.5);
  const double left = floor(mu - radius);
  const double right = floor(mu + radius + 1.0);
  if (left >= size || right <= 0) return false;
  *lo = left < 0 ? 0 : static_cast<int>(left);
  *hi = right > size ? size : static_cast<int>(right);
  *mu_out = mu;
  return true;
}

HPEFAST_HD EncodeJoint encode_joint(float kx, float ky, float vis, int method, double sigma, int input_w,
                                    int input_h, int heatmap_w, int heatmap_h) {
  EncodeJoint j{false, 0, 0, 0, 0, 0.0, 0.0};
  if (!(vis > 0.5f)) return j;  // not labelled (NaN counts as not labelled)
  if (!is_finite(kx) || !is_finite(ky)) return j;
  const double fx = static_cast<double>(kx) / encode_stride(method, input_w, heatmap_w);
  const double fy = static_cast<double>(ky) / encode_stride(method, input_h, heatmap_h);
  const double radius = 3.0 * sigma;
  double mux = 0.0, muy = 0.0;
  if (!encode_axis(fx, radius, heatmap_w, &j.x0, &j.x1, &mux)) return j;
  if (!encode_axis(fy, radius, heatmap_h, &j.y0, &j.y1, &muy)) return j;
  j.valid = true;
  j.cx = method == 1 ? fx : mux;  // udp: Gaussian at the float position; msra: at the integer centre
  j.cy = method == 1 ? fy : muy;
  return j;
}

// exp(-(i - c)^2 / (2 sigma^2)): the Gaussian is separable, the map value is gx * gy.
HPEFAST_HD double gauss1d(int i, double c, double sigma) {
  const double d = i - c;
  return exp(-(d * d) / (2.0 * sigma * sigma));
}

// ---------------------------------------------------------------------------------------------
// Decode

// Offsets of the points whose blurred value the refinement needs, relative to the argmax.
HPEFAST_HD void dark_sample_offset(int s, int* dx, int* dy) {
  // 0: centre; 1..4: x+1, x-1, x+2, x-2; 5..8: y+1, y-1, y+2, y-2; 9..12: diagonals.
  const int ox[kDarkSamples] = {0, 1, -1, 2, -2, 0, 0, 0, 0, 1, 1, -1, -1};
  const int oy[kDarkSamples] = {0, 0, 0, 0, 0, 1, -1, 2, -2, 1, -1, 1, -1};
  *dx = ox[s];
  *dy = oy[s];
}

HPEFAST_HD void dark_udp_sample_offset(int s, int* dx, int* dy) {
  // 0: centre; 1: x+1; 2: x-1; 3: y+1; 4: y-1; 5: (x+1, y+1); 6: (x-1, y-1).
  const int ox[kDarkUdpSamples] = {0, 1, -1, 0, 0, 1, -1};
  const int oy[kDarkUdpSamples] = {0, 0, 0, 1, -1, 1, -1};
  *dx = ox[s];
  *dy = oy[s];
}

// DarkPose's border guard: the Taylor step needs x +- 2 and y +- 2 inside the map.
HPEFAST_HD bool dark_inside(int px, int py, int w, int h) { return 1 < px && px < w - 2 && 1 < py && py < h - 2; }

// Blurred value at (x, y) of a w x h map, zero padding (DarkPose pads by (k-1)/2 zeros before
// cv2.GaussianBlur, so taps outside the map read 0). Row pass first, then column, as cv2.
HPEFAST_HD double blur_zero_at(const float* m, int w, int h, const double* kw, int k, int x, int y) {
  const int r = k / 2;
  double acc = 0.0;
  for (int i = 0; i < k; ++i) {
    const int yy = y + i - r;
    if (yy < 0 || yy >= h) continue;
    const float* row = m + static_cast<long long>(yy) * w;
    double s = 0.0;
    for (int j = 0; j < k; ++j) {
      const int xx = x + j - r;
      if (xx >= 0 && xx < w) s += kw[j] * row[xx];
    }
    acc += kw[i] * s;
  }
  return acc;
}

// DarkPose needs c * b >= 1e-10 for every sample b (c = original max / blurred max >= 1) to skip the
// clamp; when every b is at least this, log(c * b) = log c + log b and log c cancels in every derivative.
constexpr double kDarkFastThreshold = 1.001e-10;

// DarkPose modulated log value: log(max(c * b, 1e-10)), NaN propagating as numpy does.
HPEFAST_HD double dark_log(double b, double c) {
  const double v = c * b;
  return log(v != v ? v : (v < 1e-10 ? 1e-10 : v));
}

// DarkPose Taylor step (one Newton step on the log map) from the 13 log samples; x, y in/out.
HPEFAST_HD void dark_step(const double* L, double* x, double* y) {
  const double dx = 0.5 * (L[1] - L[2]);
  const double dy = 0.5 * (L[5] - L[6]);
  const double dxx = 0.25 * (L[3] - 2.0 * L[0] + L[4]);
  const double dxy = 0.25 * (L[9] - L[10] - L[11] + L[12]);
  const double dyy = 0.25 * (L[7] - 2.0 * L[0] + L[8]);
  const double det = dxx * dyy - dxy * dxy;
  if (det != 0.0) {  // DarkPose skips a singular Hessian
    *x -= (dyy * dx - dxy * dy) / det;
    *y -= (dxx * dy - dxy * dx) / det;
  }
}

// ViTPose post_dark_udp step from the 7 log samples (edge-padded), Hessian + eps(float32) * I.
HPEFAST_HD void dark_udp_step(const double* L, double* x, double* y) {
  const double dx = 0.5 * (L[1] - L[2]);
  const double dy = 0.5 * (L[3] - L[4]);
  const double dxx = L[1] - 2.0 * L[0] + L[2];
  const double dyy = L[3] - 2.0 * L[0] + L[4];
  const double dxy = 0.5 * (L[5] - L[1] - L[3] + L[0] + L[0] - L[2] - L[4] + L[6]);
  const double eps = 1.1920928955078125e-07;  // np.finfo(np.float32).eps
  const double a = dxx + eps, d = dyy + eps;
  const double det = a * d - dxy * dxy;
  if (det != 0.0) {  // numpy would raise on an exactly singular matrix; we keep the argmax
    *x -= (d * dx - dxy * dy) / det;
    *y -= (a * dy - dxy * dx) / det;
  }
}

HPEFAST_HD double sign(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

// HRNet/mmpose "default" post-processing: +-0.25 toward the higher neighbour, guard 1 < p < size - 1.
HPEFAST_HD void shift_step(const float* m, int w, int h, int px, int py, double* x, double* y) {
  if (1 < px && px < w - 1 && 1 < py && py < h - 1) {
    const float* row = m + static_cast<long long>(py) * w;
    *x += 0.25 * sign(static_cast<double>(row[px + 1]) - row[px - 1]);
    *y += 0.25 * sign(static_cast<double>(m[static_cast<long long>(py + 1) * w + px]) -
                      m[static_cast<long long>(py - 1) * w + px]);
  }
}

// Stride from heatmap pixels to input-crop pixels: (in - 1) / (hm - 1) for dark_udp (UDP), in / hm
// otherwise (mmpose's convention for the MSRA-style decoders).
HPEFAST_HD double decode_stride(int method, int input, int heatmap) {
  return method == 3 ? (input - 1.0) / (heatmap - 1.0) : static_cast<double>(input) / heatmap;
}

}  // namespace heatmap
}  // namespace hpefast
