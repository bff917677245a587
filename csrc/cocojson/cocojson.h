// COCO keypoint results json -> columns, without a Python object per number.
//
// A results file is a json array of flat objects {"image_id": int, "category_id": int, "score": number,
// "keypoints": [numbers], "bbox": [4 numbers]} (bbox optional). parse_coco_results reads exactly that
// shape, in parallel over chunks of the array, into columns. Numbers are converted with correct
// rounding (the same double as Python's float() of the text). Anything else — another key, a string
// or float id, NaN, nested keypoints, an empty or odd bbox, a duplicate key, a syntax error — makes it
// return status kResultsFallback with the reason, and hpefast.evaluation reads the file with a general
// json parser instead, so every file gives the answer (or the error) of the general path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace hpefast {

constexpr int kResultsOk = 0;
constexpr int kResultsFallback = 1;

// Allocator of the columns: large buffers are 2 MiB aligned and advised as transparent huge pages, so
// filling 40 MB of keypoints takes ~20 page faults instead of ~10,000 (which cost more than parsing on a
// VM), and default construction leaves memory untouched (resize before a parallel copy is free).
template <typename T>
struct ColumnAllocator {
  using value_type = T;
  ColumnAllocator() = default;
  template <typename U>
  ColumnAllocator(const ColumnAllocator<U>&) noexcept {}
  T* allocate(size_t n);
  void deallocate(T* p, size_t n) noexcept;
  template <typename U>
  void construct(U* p) noexcept {}  // default-init: no zeroing
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const ColumnAllocator<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const ColumnAllocator<U>&) const noexcept { return false; }
};

void* column_allocate(size_t bytes);
void column_deallocate(void* p, size_t bytes) noexcept;

template <typename T>
T* ColumnAllocator<T>::allocate(size_t n) {
  return static_cast<T*>(column_allocate(n * sizeof(T)));
}
template <typename T>
void ColumnAllocator<T>::deallocate(T* p, size_t n) noexcept {
  column_deallocate(p, n * sizeof(T));
}

template <typename T>
using Column = std::vector<T, ColumnAllocator<T>>;

struct CocoResultsColumns {
  int status = kResultsOk;
  std::string reason;         // why the general path is needed (status kResultsFallback)
  int64_t num_results = 0;    // N
  int64_t keypoint_len = -1;  // L values per result (the same for all), -1 when N == 0
  Column<int64_t> image_id;     // [N]
  Column<int64_t> category_id;  // [N]
  Column<double> score;         // [N]
  Column<double> keypoints;     // [N * L]
  Column<double> bbox;          // [N * 4], NaN where absent
  Column<uint8_t> has_bbox;     // [N]
  Column<double> extent;        // [N * 4] x0, y0, x1, y1: min / max of keypoints[0::3] and [1::3]
};

// Parses `size` bytes of a results json (UTF-8) with up to num_threads() threads.
void parse_coco_results(const char* data, size_t size, CocoResultsColumns& out);

// A COCO ground-truth json ({"images": [...], "annotations": [...], "categories": [...], ...}): the
// annotations' evaluation fields as columns, the image ids, and where the categories list lies (Python
// reads that slice itself). Every other value (segmentation, info, licenses, other keys) is checked and
// skipped. Non-integer ids, missing or ragged keypoints, odd bboxes, duplicate keys: kResultsFallback.
struct CocoGroundTruthColumns {
  int status = kResultsOk;
  std::string reason;
  int64_t num_annotations = 0;  // N
  int64_t keypoint_len = -1;    // L (the same for all), -1 when N == 0
  Column<int64_t> id;           // [N]
  Column<int64_t> image_id;     // [N]
  Column<int64_t> category_id;  // [N]
  Column<double> keypoints;     // [N * L]
  Column<double> area;          // [N], NaN where absent or null
  Column<double> bbox;          // [N * 4], NaN where absent or null
  Column<double> num_keypoints; // [N], NaN where absent or null
  Column<uint8_t> iscrowd;      // [N], 1 where truthy
  Column<int64_t> image_ids;    // images[i]["id"], file order
  bool has_annotations = false;
  bool has_images = false;
  int64_t categories_begin = -1;  // byte range [begin, end) of the "categories" value, -1 if absent
  int64_t categories_end = -1;
};

void parse_coco_ground_truth(const char* data, size_t size, CocoGroundTruthColumns& out);

}  // namespace hpefast
