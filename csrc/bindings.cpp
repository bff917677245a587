// The only pybind11 file: a list of m.def at the bottom, one entry per op.
//
// Calling convention (csrc/README.md):
//  * tensor ops: `_C.<op>(cuda: bool, stream: int, [dtype: str,] buffers..., sizes..., scalars...)`.
//    Buffers are tensor addresses (tensor.data_ptr()) of contiguous memory on the device `cuda` names;
//    `stream` is torch.cuda.current_stream().cuda_stream (0 on the CPU). The function fills the op's
//    params struct, releases the GIL and calls the op's dispatcher `hpefast::<op>(params, Launch)`
//    (the inline function at the end of csrc/<op>/<op>.h that picks the CPU or CUDA kernel).
//  * host-only evaluation functions (cocoeval_*, cocojson_results): numpy arrays / bytes; checked for
//    dtype, contiguity and size here.
// Bad arguments throw std::invalid_argument -> ValueError; CUDA asked of a CPU-only build -> ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "cocoeval/cocoeval.h"
#include "cocojson/cocojson.h"
#include "common/build_info.h"
#include "common/check.h"
#include "common/launch.h"
#include "common/parallel.h"
#include "common/runtime.h"
#include "heatmap/heatmap.h"
#include "loss/loss.h"
#include "oks/oks.h"

namespace py = pybind11;

namespace {

using hpefast::Launch;

template <typename T>
T* as_ptr(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

// Runs an op's dispatcher on the filled params without the GIL.
template <typename Params, typename Dispatcher>
void launch(Dispatcher&& dispatch, const Params& p, bool cuda, std::uintptr_t stream) {
  const Launch on{cuda, reinterpret_cast<void*>(stream)};
  py::gil_scoped_release release;
  dispatch(p, on);
}

// Calls body(T{}) with T = float or double for a dtype name.
template <typename Body>
void with_float_dtype(const std::string& dtype, const char* op, Body&& body) {
  HPEFAST_CHECK(dtype == "float32" || dtype == "float64", op, ": unsupported dtype ", dtype);
  if (dtype == "float32") {
    body(float{});
  } else {
    body(double{});
  }
}

// ---- heatmap ----

void encode_heatmaps(bool cuda, std::uintptr_t stream, std::uintptr_t keypoints, std::uintptr_t visible,
                     std::uintptr_t joint_weights, std::uintptr_t heatmaps, std::uintptr_t weights, int64_t num_maps,
                     int num_joints, int input_w, int input_h, int heatmap_w, int heatmap_h, float sigma,
                     int method) {
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
  p.joint_weights = as_ptr<const float>(joint_weights);  // 0: no joint weights
  p.heatmaps = as_ptr<float>(heatmaps);
  p.weights = as_ptr<float>(weights);
  launch(hpefast::encode_heatmaps, p, cuda, stream);
}

void decode_heatmaps(bool cuda, std::uintptr_t stream, std::uintptr_t heatmaps, std::uintptr_t keypoints,
                     std::uintptr_t scores, int64_t num_maps, int heatmap_w, int heatmap_h, int input_w,
                     int input_h, int method, int blur_kernel) {
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
  launch(hpefast::decode_heatmaps, p, cuda, stream);
}

// ---- loss ----

void union_heatmap_loss_forward(bool cuda, std::uintptr_t stream, const std::string& dtype, std::uintptr_t pred,
                                std::uintptr_t target, std::uintptr_t weight, std::uintptr_t loss,
                                std::uintptr_t joint_loss, std::uintptr_t coef, int64_t batch, int64_t joints,
                                int64_t pixels, int64_t topk, double amplitude, double fg_threshold,
                                double fg_weight) {
  with_float_dtype(dtype, "union_heatmap_loss", [&](auto tag) {
    using T = decltype(tag);
    hpefast::LossForwardParams<T> p;
    p.batch = batch;
    p.joints = joints;
    p.pixels = pixels;
    p.topk = topk;
    p.amplitude = static_cast<T>(amplitude);
    p.fg_threshold = static_cast<T>(fg_threshold);
    p.fg_weight = static_cast<T>(fg_weight);
    p.pred = as_ptr<const T>(pred);
    p.target = as_ptr<const T>(target);
    p.weight = as_ptr<const T>(weight);
    p.loss = as_ptr<T>(loss);
    p.joint_loss = as_ptr<T>(joint_loss);
    p.coef = as_ptr<T>(coef);
    launch(hpefast::union_heatmap_loss_forward<T>, p, cuda, stream);
  });
}

void union_heatmap_loss_backward(bool cuda, std::uintptr_t stream, const std::string& dtype,
                                 std::uintptr_t grad_loss, std::uintptr_t pred, std::uintptr_t target,
                                 std::uintptr_t coef, std::uintptr_t grad_pred, int64_t batch, int64_t joints,
                                 int64_t pixels, double amplitude, double fg_threshold, double fg_weight) {
  with_float_dtype(dtype, "union_heatmap_loss_backward", [&](auto tag) {
    using T = decltype(tag);
    hpefast::LossBackwardParams<T> p;
    p.batch = batch;
    p.joints = joints;
    p.pixels = pixels;
    p.amplitude = static_cast<T>(amplitude);
    p.fg_threshold = static_cast<T>(fg_threshold);
    p.fg_weight = static_cast<T>(fg_weight);
    p.grad_loss = as_ptr<const T>(grad_loss);
    p.pred = as_ptr<const T>(pred);
    p.target = as_ptr<const T>(target);
    p.coef = as_ptr<const T>(coef);
    p.grad_pred = as_ptr<T>(grad_pred);
    launch(hpefast::union_heatmap_loss_backward<T>, p, cuda, stream);
  });
}

// ---- oks / pckh ----

void oks(bool cuda, std::uintptr_t stream, std::uintptr_t pred, std::uintptr_t gt, std::uintptr_t visible,
         std::uintptr_t area, std::uintptr_t sigmas, std::uintptr_t out, int64_t n, int64_t k) {
  hpefast::OksParams p;
  p.n = n;
  p.k = k;
  p.pred = as_ptr<const float>(pred);
  p.gt = as_ptr<const float>(gt);
  p.visible = as_ptr<const float>(visible);
  p.area = as_ptr<const float>(area);
  p.sigmas = as_ptr<const float>(sigmas);
  p.out = as_ptr<float>(out);
  launch(hpefast::oks, p, cuda, stream);
}

void pckh(bool cuda, std::uintptr_t stream, std::uintptr_t pred, std::uintptr_t gt, std::uintptr_t visible,
          std::uintptr_t headboxes, std::uintptr_t out, int64_t n, int64_t k, double threshold) {
  hpefast::PckhParams p;
  p.n = n;
  p.k = k;
  p.pred = as_ptr<const float>(pred);
  p.gt = as_ptr<const float>(gt);
  p.visible = as_ptr<const float>(visible);
  p.headboxes = as_ptr<const float>(headboxes);
  p.threshold = static_cast<float>(threshold);
  p.out = as_ptr<float>(out);
  launch(hpefast::pckh, p, cuda, stream);
}

// ---- cocoeval (host-only, numpy arrays) ----
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
// ---- cocojson (host-only: results json bytes -> numpy columns) ----

// A numpy array that owns the vector's buffer (no copy).
template <typename V>
py::array owned_array(V&& v, std::vector<py::ssize_t> shape) {
  using Vec = std::decay_t<V>;
  auto* heap = new Vec(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<Vec*>(p); });
  return py::array_t<typename Vec::value_type>(shape, heap->data(), owner);
}

// {"status", "reason", "image_id" [N] int64, "category_id" [N] int64, "score" [N] float64,
//  "keypoints" [N, L] float64, "bbox" [N, 4] float64 (NaN where absent), "has_bbox" [N] uint8,
//  "extent" [N, 4] float64: x0, y0, x1, y1 of the keypoints}.
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
  out["extent"] = owned_array(std::move(cols.extent), {n, py::ssize_t(4)});
  return out;
}

// {"status", "reason", "id" / "image_id" / "category_id" [N] int64, "keypoints" [N, L] float64,
//  "area" [N], "bbox" [N, 4], "num_keypoints" [N] float64 (NaN where absent or null), "iscrowd" [N] uint8,
//  "image_ids" [I] int64, "has_annotations", "has_images", "categories" (begin, end) byte range or None}.
py::dict cocojson_ground_truth(const py::buffer& data) {
  py::buffer_info info = data.request();
  HPEFAST_CHECK(info.itemsize == 1 && info.ndim == 1, "cocojson_ground_truth: data must be bytes");
  hpefast::CocoGroundTruthColumns cols;
  {
    py::gil_scoped_release release;
    hpefast::parse_coco_ground_truth(static_cast<const char*>(info.ptr), static_cast<size_t>(info.size), cols);
  }
  py::dict out;
  out["status"] = cols.status;
  out["reason"] = cols.reason;
  if (cols.status != hpefast::kResultsOk) return out;
  const py::ssize_t n = cols.num_annotations;
  const py::ssize_t len = std::max<int64_t>(cols.keypoint_len, 0);
  out["id"] = owned_array(std::move(cols.id), {n});
  out["image_id"] = owned_array(std::move(cols.image_id), {n});
  out["category_id"] = owned_array(std::move(cols.category_id), {n});
  out["keypoints"] = owned_array(std::move(cols.keypoints), {n, len});
  out["area"] = owned_array(std::move(cols.area), {n});
  out["bbox"] = owned_array(std::move(cols.bbox), {n, py::ssize_t(4)});
  out["num_keypoints"] = owned_array(std::move(cols.num_keypoints), {n});
  out["iscrowd"] = owned_array(std::move(cols.iscrowd), {n});
  out["image_ids"] = owned_array(std::move(cols.image_ids), {py::ssize_t(cols.image_ids.size())});
  out["has_annotations"] = cols.has_annotations;
  out["has_images"] = cols.has_images;
  if (cols.categories_begin >= 0) {
    out["categories"] = py::make_tuple(cols.categories_begin, cols.categories_end);
  } else {
    out["categories"] = py::none();
  }
  return out;
}

// ---- runtime ----

py::dict build_info() {
  const hpefast::BuildInfo b = hpefast::build_info();
  py::dict d;
  d["version"] = b.version;
  d["git_hash"] = b.git_hash;
  d["git_dirty"] = b.git_dirty;
  d["source_hash"] = b.source_hash;
  d["api"] = hpefast::kExtensionApi;
  d["cuda"] = b.cuda;
  d["cuda_version"] = b.cuda_version;
  d["cuda_architectures"] = b.cuda_architectures;
  d["compiler"] = b.compiler;
  d["build_type"] = b.build_type;
  return d;
}

void set_num_threads(int n) {
  py::gil_scoped_release release;  // may wait for a running job before stopping workers
  hpefast::set_num_threads(n);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "hpefast compiled core (CPU kernels, and CUDA kernels when compiled)";
  // runtime
  m.def("build_info", &build_info, "What this build is: version, git hash, source hash, api, CUDA, compiler.");
  m.def("cuda_compiled", [] { return hpefast::kCudaCompiled; }, "True when CUDA kernels were compiled in.");
  m.def("cuda_device_count", &hpefast::cuda_device_count,
        "Number of CUDA devices visible to the CUDA runtime (0 without a driver).");
  m.def("get_num_threads", &hpefast::num_threads,
        "Threads the CPU kernels use (HPEFAST_NUM_THREADS, else the last set_num_threads, else all cores).");
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "Threads for the CPU kernels (hpefast.ops passes torch.get_num_threads()); HPEFAST_NUM_THREADS wins.");
  m.def("pool_workers", &hpefast::pool_workers, "Worker threads alive in the CPU pool now (tests).");
  // tensor ops: (cuda, stream, [dtype,] buffers..., sizes..., scalars...)
  m.def("encode_heatmaps", &encode_heatmaps, "Gaussian heatmap targets (joint_weights 0 = none).");
  m.def("decode_heatmaps", &decode_heatmaps, "Keypoints (input-crop pixels) and scores from heatmaps.");
  m.def("union_heatmap_loss_forward", &union_heatmap_loss_forward, "Masked union-joint heatmap loss forward.");
  m.def("union_heatmap_loss_backward", &union_heatmap_loss_backward,
        "Masked union-joint heatmap loss backward: grad_pred from grad_loss (device scalar) and coef.");
  m.def("oks", &oks, "Batched OKS of predictions against their own ground truth (float32).");
  m.def("pckh", &pckh, "MPII PCKh hits per joint (float32).");
  // host-only COCO evaluation steps (numpy arrays)
  m.def("cocoeval_exponents", &cocoeval_exponents, "COCO keypoint eval step 1: score sort + OKS exponents");
  m.def("cocoeval_oks", &cocoeval_oks, "COCO keypoint eval step 3a: OKS from exp(-e) (numpy's summation)");
  m.def("cocoeval_match", &cocoeval_match, "COCO keypoint eval step 3b: greedy matching per area and threshold");
  m.def("cocoeval_accumulate", &cocoeval_accumulate, "COCO accumulate: precision / recall / scores");
  m.def("cocojson_results", &cocojson_results, "COCO keypoint results json (bytes) -> numpy columns");
  m.def("cocojson_ground_truth", &cocojson_ground_truth, "COCO ground-truth json (bytes) -> numpy columns");
}
