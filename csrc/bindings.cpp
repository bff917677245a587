// The only pybind11 file. Kernels take plain params structs and raw pointers; Python passes tensor
// addresses as integers (tensor.data_ptr()) and, for CUDA, the stream handle as an integer.
// Every binding releases the GIL around kernel work. std::invalid_argument -> ValueError.
//
// Each op owns one section below, in the order of csrc/README.md. Keep sections self-contained.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>

#include "common/check.h"
#include "common/parallel.h"
#include "common/runtime.h"

namespace py = pybind11;

namespace {

template <typename T>
T* as_ptr(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

#ifdef HPEFAST_WITH_CUDA
constexpr bool kCudaCompiled = true;
#else
constexpr bool kCudaCompiled = false;
#endif

// Raises a clear error when a CUDA entry point is called in a CPU-only build.
inline void require_cuda(const char* op) {
  HPEFAST_CHECK(kCudaCompiled, op, ": hpefast was built without CUDA kernels (HPEFAST_CUDA=OFF or no nvcc)");
}

}  // namespace

// ==== section: heatmap (encode / decode) ====
#include "heatmap/heatmap.h"

namespace {

hpefast::EncodeParams make_encode_params(std::uintptr_t keypoints, std::uintptr_t visible,
                                         std::uintptr_t joint_weights, std::uintptr_t heatmaps,
                                         std::uintptr_t weights, int64_t num_maps, int num_joints, int input_w,
                                         int input_h, int heatmap_w, int heatmap_h, float sigma, int method) {
  hpefast::EncodeParams p;
  p.num_maps = num_maps;
  p.num_joints = num_joints;
  p.input_w = input_w;
  p.input_h = input_h;
  p.heatmap_w = heatmap_w;
  p.heatmap_h = heatmap_h;
  p.sigma = sigma;
  p.method = method;
  p.keypoints = as_ptr<const float>(keypoints);
  p.visible = as_ptr<const float>(visible);
  p.joint_weights = joint_weights ? as_ptr<const float>(joint_weights) : nullptr;
  p.heatmaps = as_ptr<float>(heatmaps);
  p.weights = as_ptr<float>(weights);
  hpefast::check_encode_params(p);
  return p;
}

hpefast::DecodeParams make_decode_params(std::uintptr_t heatmaps, std::uintptr_t keypoints, std::uintptr_t scores,
                                         int64_t num_maps, int heatmap_w, int heatmap_h, int input_w, int input_h,
                                         int method, int blur_kernel) {
  hpefast::DecodeParams p;
  p.num_maps = num_maps;
  p.heatmap_w = heatmap_w;
  p.heatmap_h = heatmap_h;
  p.input_w = input_w;
  p.input_h = input_h;
  p.method = method;
  p.blur_kernel = blur_kernel;
  p.heatmaps = as_ptr<const float>(heatmaps);
  p.keypoints = as_ptr<float>(keypoints);
  p.scores = as_ptr<float>(scores);
  hpefast::check_decode_params(p);
  return p;
}

void bind_heatmap(py::module_& m) {
  m.def(
      "encode_heatmaps_cpu",
      [](std::uintptr_t keypoints, std::uintptr_t visible, std::uintptr_t joint_weights, std::uintptr_t heatmaps,
         std::uintptr_t weights, int64_t num_maps, int num_joints, int input_w, int input_h, int heatmap_w,
         int heatmap_h, float sigma, int method) {
        auto p = make_encode_params(keypoints, visible, joint_weights, heatmaps, weights, num_maps, num_joints,
                                    input_w, input_h, heatmap_w, heatmap_h, sigma, method);
        py::gil_scoped_release release;
        hpefast::encode_heatmaps_cpu(p);
      },
      "Gaussian heatmap targets on the CPU (pointers to contiguous float32 buffers; joint_weights 0 = none).");
  m.def(
      "encode_heatmaps_cuda",
      [](std::uintptr_t keypoints, std::uintptr_t visible, std::uintptr_t joint_weights, std::uintptr_t heatmaps,
         std::uintptr_t weights, int64_t num_maps, int num_joints, int input_w, int input_h, int heatmap_w,
         int heatmap_h, float sigma, int method, std::uintptr_t stream) {
        require_cuda("encode_heatmaps");
        auto p = make_encode_params(keypoints, visible, joint_weights, heatmaps, weights, num_maps, num_joints,
                                    input_w, input_h, heatmap_w, heatmap_h, sigma, method);
#ifdef HPEFAST_WITH_CUDA
        py::gil_scoped_release release;
        hpefast::encode_heatmaps_cuda(p, reinterpret_cast<void*>(stream));
#else
        (void)p;
        (void)stream;
#endif
      },
      "Gaussian heatmap targets on the GPU, launched on `stream` (device pointers).");
  m.def(
      "decode_heatmaps_cpu",
      [](std::uintptr_t heatmaps, std::uintptr_t keypoints, std::uintptr_t scores, int64_t num_maps, int heatmap_w,
         int heatmap_h, int input_w, int input_h, int method, int blur_kernel) {
        auto p = make_decode_params(heatmaps, keypoints, scores, num_maps, heatmap_w, heatmap_h, input_w, input_h,
                                    method, blur_kernel);
        py::gil_scoped_release release;
        hpefast::decode_heatmaps_cpu(p);
      },
      "Decode keypoints (input-crop pixels) and scores from heatmaps on the CPU.");
  m.def(
      "decode_heatmaps_cuda",
      [](std::uintptr_t heatmaps, std::uintptr_t keypoints, std::uintptr_t scores, int64_t num_maps, int heatmap_w,
         int heatmap_h, int input_w, int input_h, int method, int blur_kernel, std::uintptr_t stream) {
        require_cuda("decode_heatmaps");
        auto p = make_decode_params(heatmaps, keypoints, scores, num_maps, heatmap_w, heatmap_h, input_w, input_h,
                                    method, blur_kernel);
#ifdef HPEFAST_WITH_CUDA
        py::gil_scoped_release release;
        hpefast::decode_heatmaps_cuda(p, reinterpret_cast<void*>(stream));
#else
        (void)p;
        (void)stream;
#endif
      },
      "Decode keypoints and scores from heatmaps on the GPU, launched on `stream`.");
}

}  // namespace
// ==== end section: heatmap ====

// ==== section: loss ====
#include "loss/loss.h"

namespace {

template <typename T>
hpefast::LossForwardParams<T> make_loss_forward(std::uintptr_t pred, std::uintptr_t target, std::uintptr_t weight,
                                                std::uintptr_t loss, std::uintptr_t joint_loss, std::uintptr_t coef,
                                                int64_t batch, int64_t joints, int64_t pixels, int64_t topk) {
  hpefast::LossForwardParams<T> p;
  p.batch = batch;
  p.joints = joints;
  p.pixels = pixels;
  p.topk = topk;
  p.pred = as_ptr<const T>(pred);
  p.target = as_ptr<const T>(target);
  p.weight = as_ptr<const T>(weight);
  p.loss = as_ptr<T>(loss);
  p.joint_loss = as_ptr<T>(joint_loss);
  p.coef = as_ptr<T>(coef);
  hpefast::check_loss_params(p);
  return p;
}

template <typename T>
hpefast::LossBackwardParams<T> make_loss_backward(std::uintptr_t grad_loss, std::uintptr_t pred,
                                                  std::uintptr_t target, std::uintptr_t coef,
                                                  std::uintptr_t grad_pred, int64_t batch, int64_t joints,
                                                  int64_t pixels) {
  hpefast::LossBackwardParams<T> p;
  p.batch = batch;
  p.joints = joints;
  p.pixels = pixels;
  p.grad_loss = as_ptr<const T>(grad_loss);
  p.pred = as_ptr<const T>(pred);
  p.target = as_ptr<const T>(target);
  p.coef = as_ptr<const T>(coef);
  p.grad_pred = as_ptr<T>(grad_pred);
  hpefast::check_loss_params(p);
  return p;
}

// `dtype`: "float32" or "float64" (all buffers of one call share it).
void bind_loss(py::module_& m) {
  m.def(
      "union_heatmap_loss_forward",
      [](const std::string& dtype, bool cuda, std::uintptr_t stream, std::uintptr_t pred, std::uintptr_t target,
         std::uintptr_t weight, std::uintptr_t loss, std::uintptr_t joint_loss, std::uintptr_t coef,
         int64_t batch, int64_t joints, int64_t pixels, int64_t topk) {
        HPEFAST_CHECK(dtype == "float32" || dtype == "float64", "union_heatmap_loss: unsupported dtype ", dtype);
        if (cuda) require_cuda("union_heatmap_loss");
        auto run = [&](auto tag) {
          using T = decltype(tag);
          auto p = make_loss_forward<T>(pred, target, weight, loss, joint_loss, coef, batch, joints, pixels, topk);
          py::gil_scoped_release release;
#ifdef HPEFAST_WITH_CUDA
          if (cuda) return hpefast::union_heatmap_loss_forward_cuda(p, reinterpret_cast<void*>(stream));
#endif
          hpefast::union_heatmap_loss_forward_cpu(p);
        };
        if (dtype == "float32") run(float{}); else run(double{});
      },
      "Masked union-joint heatmap loss forward (pointers to contiguous buffers of one dtype).");
  m.def(
      "union_heatmap_loss_backward",
      [](const std::string& dtype, bool cuda, std::uintptr_t stream, std::uintptr_t grad_loss, std::uintptr_t pred,
         std::uintptr_t target, std::uintptr_t coef, std::uintptr_t grad_pred, int64_t batch, int64_t joints,
         int64_t pixels) {
        HPEFAST_CHECK(dtype == "float32" || dtype == "float64", "union_heatmap_loss: unsupported dtype ", dtype);
        if (cuda) require_cuda("union_heatmap_loss_backward");
        auto run = [&](auto tag) {
          using T = decltype(tag);
          auto p = make_loss_backward<T>(grad_loss, pred, target, coef, grad_pred, batch, joints, pixels);
          py::gil_scoped_release release;
#ifdef HPEFAST_WITH_CUDA
          if (cuda) return hpefast::union_heatmap_loss_backward_cuda(p, reinterpret_cast<void*>(stream));
#endif
          hpefast::union_heatmap_loss_backward_cpu(p);
        };
        if (dtype == "float32") run(float{}); else run(double{});
      },
      "Masked union-joint heatmap loss backward: grad_pred from grad_loss (device scalar) and coef.");
}

}  // namespace
// ==== end section: loss ====

// ==== section: oks / pckh / coco evaluation ====
// COCO evaluation takes numpy arrays (hpefast.evaluation allocates every output); the OKS / PCKh
// tensor ops take data_ptr() integers like the other ops.
#include <pybind11/numpy.h>

#include "cocoeval/cocoeval.h"
#include "oks/oks.h"

namespace {

// Pointer to the data of a C-contiguous numpy array of dtype T holding exactly `size` elements.
template <typename T>
T* np_ptr(const py::array& a, const char* name, int64_t size) {
  HPEFAST_CHECK(py::dtype::of<T>().is(a.dtype()) || a.dtype().equal(py::dtype::of<T>()), "cocoeval: ", name,
                " has dtype ", std::string(py::str(a.dtype())));
  HPEFAST_CHECK(a.flags() & py::array::c_style, "cocoeval: ", name, " must be C-contiguous");
  HPEFAST_CHECK(a.size() == size, "cocoeval: ", name, " has ", a.size(), " elements, expected ", size);
  return static_cast<T*>(const_cast<void*>(a.data()));
}

void cocoeval_exponents(int64_t num_groups, int64_t num_keypoints, int64_t max_det, const py::array& gt_offsets,
                        const py::array& dt_offsets, const py::array& gt_keypoints, const py::array& gt_oks_area,
                        const py::array& gt_bbox, const py::array& dt_keypoints, const py::array& dt_score,
                        const py::array& variances, const py::array& kept_offsets, const py::array& e_offsets,
                        py::array dt_order, py::array e) {
  hpefast::CocoExponentParams p;
  p.num_groups = num_groups;
  p.num_keypoints = num_keypoints;
  p.max_det = max_det;
  p.gt_offsets = np_ptr<int64_t>(gt_offsets, "gt_offsets", num_groups + 1);
  p.dt_offsets = np_ptr<int64_t>(dt_offsets, "dt_offsets", num_groups + 1);
  p.kept_offsets = np_ptr<int64_t>(kept_offsets, "kept_offsets", num_groups + 1);
  p.e_offsets = np_ptr<int64_t>(e_offsets, "e_offsets", num_groups + 1);
  const int64_t G = p.gt_offsets[num_groups], D = p.dt_offsets[num_groups];
  p.gt_keypoints = np_ptr<double>(gt_keypoints, "gt_keypoints", G * num_keypoints * 3);
  p.gt_oks_area = np_ptr<double>(gt_oks_area, "gt_oks_area", G);
  p.gt_bbox = np_ptr<double>(gt_bbox, "gt_bbox", G * 4);
  p.dt_keypoints = np_ptr<double>(dt_keypoints, "dt_keypoints", D * num_keypoints * 3);
  p.dt_score = np_ptr<double>(dt_score, "dt_score", D);
  p.variances = np_ptr<double>(variances, "variances", num_keypoints);
  p.dt_order = np_ptr<int64_t>(dt_order, "dt_order", p.kept_offsets[num_groups]);
  p.e = np_ptr<double>(e, "e", p.e_offsets[num_groups]);
  py::gil_scoped_release release;
  hpefast::cocoeval_exponents_cpu(p);
}

void cocoeval_oks(int64_t num_groups, int64_t num_keypoints, const py::array& gt_offsets, const py::array& e_offsets,
                  const py::array& iou_offsets, const py::array& exp_e, const py::array& gt_keypoints,
                  py::array ious) {
  hpefast::CocoOksParams p;
  p.num_groups = num_groups;
  p.num_keypoints = num_keypoints;
  p.gt_offsets = np_ptr<int64_t>(gt_offsets, "gt_offsets", num_groups + 1);
  p.e_offsets = np_ptr<int64_t>(e_offsets, "e_offsets", num_groups + 1);
  p.iou_offsets = np_ptr<int64_t>(iou_offsets, "iou_offsets", num_groups + 1);
  p.exp_e = np_ptr<double>(exp_e, "exp_e", p.e_offsets[num_groups]);
  p.gt_keypoints = np_ptr<double>(gt_keypoints, "gt_keypoints", p.gt_offsets[num_groups] * num_keypoints * 3);
  p.ious = np_ptr<double>(ious, "ious", p.iou_offsets[num_groups]);
  py::gil_scoped_release release;
  hpefast::cocoeval_oks_cpu(p);
}

// dt_matches / gt_matches may be None: the ids are then not stored (accumulate needs only the flags).
void cocoeval_match(int64_t num_groups, int mode, const py::array& gt_offsets, const py::array& kept_offsets,
                    const py::array& iou_offsets, const py::array& ious, const py::array& gt_range_area,
                    const py::array& gt_ignore, const py::array& gt_iscrowd, const py::array& gt_ids,
                    const py::array& dt_order, const py::array& dt_area, const py::array& dt_ids,
                    const py::array& iou_thresholds, const py::array& area_ranges, py::array gt_order,
                    py::array gt_ignore_out, py::array group_npig, py::array dt_flags, py::object dt_matches,
                    py::object gt_matches) {
  hpefast::CocoMatchParams p;
  p.num_groups = num_groups;
  p.mode = mode;
  HPEFAST_CHECK(mode == hpefast::kMatchPycocotools || mode == hpefast::kMatchXtcocotools, "cocoeval: bad mode");
  p.num_thresholds = iou_thresholds.size();
  p.num_areas = area_ranges.size() / 2;
  p.gt_offsets = np_ptr<int64_t>(gt_offsets, "gt_offsets", num_groups + 1);
  p.kept_offsets = np_ptr<int64_t>(kept_offsets, "kept_offsets", num_groups + 1);
  p.iou_offsets = np_ptr<int64_t>(iou_offsets, "iou_offsets", num_groups + 1);
  const int64_t G = p.gt_offsets[num_groups], Dk = p.kept_offsets[num_groups];
  const int64_t T = p.num_thresholds, A = p.num_areas;
  p.total_gt = G;
  p.total_kept = Dk;
  p.ious = np_ptr<double>(ious, "ious", p.iou_offsets[num_groups]);
  p.gt_range_area = np_ptr<double>(gt_range_area, "gt_range_area", G);
  p.gt_ignore = np_ptr<uint8_t>(gt_ignore, "gt_ignore", G);
  p.gt_iscrowd = np_ptr<uint8_t>(gt_iscrowd, "gt_iscrowd", G);
  p.gt_ids = np_ptr<double>(gt_ids, "gt_ids", G);
  p.dt_order = np_ptr<int64_t>(dt_order, "dt_order", Dk);
  const int64_t D = dt_area.size();
  p.dt_area = np_ptr<double>(dt_area, "dt_area", D);
  p.dt_ids = np_ptr<double>(dt_ids, "dt_ids", D);
  p.iou_thresholds = np_ptr<double>(iou_thresholds, "iou_thresholds", T);
  p.area_ranges = np_ptr<double>(area_ranges, "area_ranges", 2 * A);
  p.gt_order = np_ptr<int64_t>(gt_order, "gt_order", A * G);
  p.gt_ignore_out = np_ptr<uint8_t>(gt_ignore_out, "gt_ignore_out", A * G);
  p.group_npig = np_ptr<int64_t>(group_npig, "group_npig", A * num_groups);
  p.dt_flags = np_ptr<uint8_t>(dt_flags, "dt_flags", A * Dk * T);
  if (!dt_matches.is_none() && !gt_matches.is_none()) {
    p.dt_matches = np_ptr<double>(dt_matches.cast<py::array>(), "dt_matches", A * T * Dk);
    p.gt_matches = np_ptr<double>(gt_matches.cast<py::array>(), "gt_matches", A * T * G);
  }
  for (int64_t i = 0; i < Dk; ++i) {
    HPEFAST_CHECK(p.dt_order[i] >= 0 && p.dt_order[i] < D, "cocoeval: dt_order out of range");
  }
  for (int64_t g = 0; g < num_groups; ++g) {
    HPEFAST_CHECK(p.gt_offsets[g] <= p.gt_offsets[g + 1] && p.kept_offsets[g] <= p.kept_offsets[g + 1],
                  "cocoeval: offsets must not decrease");
  }
  py::gil_scoped_release release;
  hpefast::cocoeval_match_cpu(p);
}

void cocoeval_accumulate(int64_t T, int64_t R, int64_t K, int64_t A, int64_t M, int64_t A0, int64_t num_selected,
                         const py::array& sel_group, const py::array& sel_area, const py::array& group_present,
                         const py::array& kept_offsets, const py::array& max_dets, const py::array& kept_scores,
                         const py::array& dt_flags, const py::array& group_npig, const py::array& rec_thresholds,
                         py::array precision, py::array recall, py::array scores) {
  hpefast::CocoAccumulateParams p;
  p.T = T;
  p.R = R;
  p.K = K;
  p.A = A;
  p.M = M;
  p.num_selected = num_selected;
  const int64_t num_groups = group_present.size();
  p.num_groups = num_groups;
  p.group_present = np_ptr<uint8_t>(group_present, "group_present", num_groups);
  p.kept_offsets = np_ptr<int64_t>(kept_offsets, "kept_offsets", num_groups + 1);
  p.total_kept = p.kept_offsets[num_groups];
  p.sel_group = np_ptr<int64_t>(sel_group, "sel_group", K * A * num_selected);
  p.sel_area = np_ptr<int64_t>(sel_area, "sel_area", K * A * num_selected);
  p.max_dets = np_ptr<int64_t>(max_dets, "max_dets", M);
  p.kept_scores = np_ptr<double>(kept_scores, "kept_scores", p.total_kept);
  p.dt_flags = np_ptr<uint8_t>(dt_flags, "dt_flags", A0 * p.total_kept * T);
  p.group_npig = np_ptr<int64_t>(group_npig, "group_npig", A0 * num_groups);
  p.rec_thresholds = np_ptr<double>(rec_thresholds, "rec_thresholds", R);
  p.precision = np_ptr<double>(precision, "precision", T * R * K * A * M);
  p.recall = np_ptr<double>(recall, "recall", T * K * A * M);
  p.scores = np_ptr<double>(scores, "scores", T * R * K * A * M);
  HPEFAST_CHECK(num_selected < (int64_t(1) << 31), "cocoeval: too many images");
  for (int64_t i = 0; i < K * A * num_selected; ++i) {
    const int64_t g = p.sel_group[i];
    HPEFAST_CHECK(g < num_groups, "cocoeval: selected group out of range");
    HPEFAST_CHECK(g < 0 || (p.sel_area[i] >= 0 && p.sel_area[i] < A0), "cocoeval: selected area out of range");
  }
  for (int64_t m = 0; m < M; ++m) HPEFAST_CHECK(p.max_dets[m] >= 0, "cocoeval: maxDets must be >= 0");
  py::gil_scoped_release release;
  hpefast::cocoeval_accumulate_cpu(p);
}

// hpefast.ops.oks / hpefast.ops.pckh: float32 buffers by address (tensor.data_ptr()), CUDA stream by handle.
void oks_op(bool cuda, int64_t n, int64_t k, std::uintptr_t pred, std::uintptr_t gt, std::uintptr_t visible,
            std::uintptr_t area, std::uintptr_t sigmas, std::uintptr_t out, std::uintptr_t stream) {
  hpefast::OksParams p;
  p.n = n;
  p.k = k;
  p.pred = as_ptr<const float>(pred);
  p.gt = as_ptr<const float>(gt);
  p.visible = as_ptr<const float>(visible);
  p.area = as_ptr<const float>(area);
  p.sigmas = as_ptr<const float>(sigmas);
  p.out = as_ptr<float>(out);
  HPEFAST_CHECK(n == 0 || (pred && gt && visible && area && sigmas && out), "oks: null buffer");
  if (cuda) require_cuda("oks");
  py::gil_scoped_release release;
#ifdef HPEFAST_WITH_CUDA
  if (cuda) {
    hpefast::oks_cuda(p, reinterpret_cast<void*>(stream));
    return;
  }
#endif
  hpefast::oks_cpu(p);
}

void pckh_op(bool cuda, int64_t n, int64_t k, std::uintptr_t pred, std::uintptr_t gt, std::uintptr_t visible,
             std::uintptr_t headboxes, double threshold, std::uintptr_t out, std::uintptr_t stream) {
  hpefast::PckhParams p;
  p.n = n;
  p.k = k;
  p.pred = as_ptr<const float>(pred);
  p.gt = as_ptr<const float>(gt);
  p.visible = as_ptr<const float>(visible);
  p.headboxes = as_ptr<const float>(headboxes);
  p.threshold = static_cast<float>(threshold);
  p.out = as_ptr<float>(out);
  HPEFAST_CHECK(n == 0 || (pred && gt && visible && headboxes && out), "pckh: null buffer");
  if (cuda) require_cuda("pckh");
  py::gil_scoped_release release;
#ifdef HPEFAST_WITH_CUDA
  if (cuda) {
    hpefast::pckh_cuda(p, reinterpret_cast<void*>(stream));
    return;
  }
#endif
  hpefast::pckh_cpu(p);
}

}  // namespace
// ==== end section: oks ====

// ==== section: cocojson (results json -> columns) ====
#include "cocojson/cocojson.h"

namespace {

// A numpy array that owns the vector's buffer (no copy).
template <typename T>
py::array owned_array(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, heap->data(), owner);
}

// {"status", "reason", "image_id" [N] int64, "category_id" [N] int64, "score" [N] float64,
//  "keypoints" [N, L] float64, "bbox" [N, 4] float64 (NaN where absent), "has_bbox" [N] uint8}.
py::dict cocojson_results(const py::buffer& data) {
  py::buffer_info info = data.request();
  HPEFAST_CHECK(info.itemsize == 1 && info.ndim == 1, "cocojson_results: data must be bytes");
  hpefast::CocoResultsColumns cols;
  {
    py::gil_scoped_release release;
    hpefast::parse_coco_results(static_cast<const char*>(info.ptr), static_cast<size_t>(info.size), cols);
  }
  py::dict out;
  out["status"] = cols.status;
  out["reason"] = cols.reason;
  if (cols.status != hpefast::kResultsOk) return out;
  const py::ssize_t n = cols.num_results;
  const py::ssize_t len = std::max<int64_t>(cols.keypoint_len, 0);
  out["image_id"] = owned_array(std::move(cols.image_id), {n});
  out["category_id"] = owned_array(std::move(cols.category_id), {n});
  out["score"] = owned_array(std::move(cols.score), {n});
  out["keypoints"] = owned_array(std::move(cols.keypoints), {n, len});
  out["bbox"] = owned_array(std::move(cols.bbox), {n, py::ssize_t(4)});
  out["has_bbox"] = owned_array(std::move(cols.has_bbox), {n});
  return out;
}

}  // namespace
// ==== end section: cocojson ====

PYBIND11_MODULE(_C, m) {
  m.doc() = "hpefast compiled core (CPU kernels, and CUDA kernels when compiled)";
  m.def("cuda_compiled", [] { return kCudaCompiled; }, "True when CUDA kernels were compiled in.");
  m.def("cuda_device_count", [] { return hpefast::cuda_device_count(); },
        "Number of CUDA devices visible to the CUDA runtime (0 without a driver).");
  m.def("num_threads", [] { return hpefast::num_threads(); }, "Threads CPU kernels use.");
  (void)&require_cuda;

  // ==== module defs: heatmap ====
  bind_heatmap(m);
  // ==== end module defs: heatmap ====

  // ==== module defs: loss ====
  bind_loss(m);
  // ==== end module defs: loss ====

  // ==== module defs: oks ====
  m.def("cocoeval_exponents", &cocoeval_exponents, "COCO keypoint eval step 1: score sort + OKS exponents");
  m.def("cocoeval_oks", &cocoeval_oks, "COCO keypoint eval step 3a: OKS from exp(-e) (numpy's summation)");
  m.def("cocoeval_match", &cocoeval_match, "COCO keypoint eval step 3b: greedy matching per area and threshold");
  m.def("cocoeval_accumulate", &cocoeval_accumulate, "COCO accumulate: precision / recall / scores");
  m.def("oks", &oks_op, "Batched OKS of predictions against their ground truth (float32 buffers)");
  m.def("pckh", &pckh_op, "MPII PCKh hits per joint (float32 buffers)");
  // ==== end module defs: oks ====

  // ==== module defs: cocojson ====
  m.def("cocojson_results", &cocojson_results, "COCO keypoint results json (bytes) -> numpy columns");
  // ==== end module defs: cocojson ====
}
