// Heatmap codecs: Gaussian target generation (encode) and keypoint decoding (decode).
// Plain params structs, raw pointers; no torch header. Semantics: hpefast/_reference/heatmap.py.
#pragma once
#include <cstdint>

#include "common/launch.h"

namespace hpefast {

// Encoding methods (hpefast.ops.encode_heatmaps `method`).
enum EncodeMethod : int {
  kEncodeMsra = 0,  // HRNet generate_target: integer centre int(x/stride + 0.5), stride = in/hm
  kEncodeUdp = 1,   // UDP-Pose: Gaussian at the float position, stride = (in-1)/(hm-1)
};

// Decoding methods (hpefast.ops.decode_heatmaps `method`).
enum DecodeMethod : int {
  kDecodeArgmax = 0,   // integer argmax
  kDecodeShift = 1,    // HRNet: quarter pixel toward the higher neighbour
  kDecodeDark = 2,     // DarkPose: blur (zero pad, max kept), log, Taylor/Newton step
  kDecodeDarkUdp = 3,  // ViTPose post_dark_udp: blur (reflect-101), clip [1e-3, 50], log, edge pad
};

struct EncodeParams {
  int64_t num_maps = 0;    // B * K
  int num_joints = 0;      // K (joint_weights is indexed by map % K)
  int input_w = 0, input_h = 0;
  int heatmap_w = 0, heatmap_h = 0;
  float sigma = 2.f;       // heatmap pixels
  int method = kEncodeUdp;
  const float* keypoints = nullptr;      // [num_maps, 2] input-crop pixels (x, y)
  const float* visible = nullptr;        // [num_maps], > 0.5 means labelled
  const float* joint_weights = nullptr;  // [num_joints] or nullptr
  float* heatmaps = nullptr;             // [num_maps, heatmap_h, heatmap_w] (fully written)
  float* weights = nullptr;              // [num_maps]
};

struct DecodeParams {
  int64_t num_maps = 0;  // B * K
  int heatmap_w = 0, heatmap_h = 0;
  int input_w = 0, input_h = 0;
  int method = kDecodeDarkUdp;
  int blur_kernel = 11;             // odd, >= 1 (dark, dark_udp)
  const float* heatmaps = nullptr;  // [num_maps, heatmap_h, heatmap_w]
  float* keypoints = nullptr;       // [num_maps, 2] input-crop pixels
  float* scores = nullptr;          // [num_maps] map maximum
};

// Throws std::invalid_argument on bad params (sizes, method, null pointers).
void check_encode_params(const EncodeParams& p);
void check_decode_params(const DecodeParams& p);

void encode_heatmaps_cpu(const EncodeParams& p);
void decode_heatmaps_cpu(const DecodeParams& p);

#ifdef HPEFAST_WITH_CUDA
void encode_heatmaps_cuda(const EncodeParams& p, void* stream);
void decode_heatmaps_cuda(const DecodeParams& p, void* stream);
#endif

// Dispatchers (the entry points bindings.cpp calls); each kernel checks its params first.
inline void encode_heatmaps(const EncodeParams& p, const Launch& on) {
  HPEFAST_DISPATCH(encode_heatmaps, p, on);
}
inline void decode_heatmaps(const DecodeParams& p, const Launch& on) {
  HPEFAST_DISPATCH(decode_heatmaps, p, on);
}

}  // namespace hpefast
