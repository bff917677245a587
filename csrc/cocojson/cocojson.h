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
#include <string>
#include <vector>

namespace hpefast {

constexpr int kResultsOk = 0;
constexpr int kResultsFallback = 1;

struct CocoResultsColumns {
  int status = kResultsOk;
  std::string reason;         // why the general path is needed (status kResultsFallback)
  int64_t num_results = 0;    // N
  int64_t keypoint_len = -1;  // L values per result (the same for all), -1 when N == 0
  std::vector<int64_t> image_id;     // [N]
  std::vector<int64_t> category_id;  // [N]
  std::vector<double> score;         // [N]
  std::vector<double> keypoints;     // [N * L]
  std::vector<double> bbox;          // [N * 4], NaN where absent
  std::vector<uint8_t> has_bbox;     // [N]
};

// Parses `size` bytes of a results json (UTF-8) with up to num_threads() threads.
void parse_coco_results(const char* data, size_t size, CocoResultsColumns& out);

}  // namespace hpefast
