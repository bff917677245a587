// COCO keypoint evaluation core (pycocotools COCOeval semantics, iouType "keypoints").
//
// Python groups annotations by (category, image) — group g = k * I + i, in pycocotools' order —
// and passes flat arrays plus per-group offsets. The work is split in three steps so that the
// exponential is numpy's own (bit-identical OKS to pycocotools on the same numpy build):
//   1. cocoeval_exponents_cpu: per group, the stable score sort of the detections (cut at max_det)
//      and the OKS exponents e = d^2 / vars / (area + eps) / 2 of every (detection, gt, joint);
//   2. (Python) e <- exp(-e) with numpy;
//   3. cocoeval_oks_cpu: per group the OKS (numpy's pairwise sum); cocoeval_match_cpu: per area range
//      and threshold pycocotools' greedy matching with crowd and ignore handling.
// cocoeval_accumulate_cpu then builds the precision / recall / score arrays.
// All work is parallel over groups (or over (category, area, maxDet) cells) with parallel_for.
#pragma once
#include <cstdint>

namespace hpefast {

// Matching conventions of the two reference tools.
enum CocoMatchMode : int {
  kMatchPycocotools = 0,  // match arrays start at 0; "matched" means id > 0 (gt id 0 quirk)
  kMatchXtcocotools = 1,  // match arrays start at -1; "matched" means id >= 0
};

struct CocoExponentParams {
  int64_t num_groups = 0;
  int64_t num_keypoints = 0;  // K
  int64_t max_det = 0;        // params.maxDets[-1]
  const int64_t* gt_offsets = nullptr;  // [num_groups + 1] ranges into the gt arrays
  const int64_t* dt_offsets = nullptr;  // [num_groups + 1] ranges into the dt arrays
  const double* gt_keypoints = nullptr;  // [G, K, 3] (x, y, v)
  const double* gt_oks_area = nullptr;   // [G] area in the OKS denominator
  const double* gt_bbox = nullptr;       // [G, 4] (x, y, w, h)
  const double* dt_keypoints = nullptr;  // [D, K, 3]
  const double* dt_score = nullptr;      // [D]
  const double* variances = nullptr;     // [K] (2 sigma)^2
  const int64_t* kept_offsets = nullptr;  // [num_groups + 1] offsets of the kept detections
  const int64_t* e_offsets = nullptr;     // [num_groups + 1] offsets into e (kept * ng * K, or 0)
  int64_t* dt_order = nullptr;  // out [kept total] global detection index, score order per group
  double* e = nullptr;          // out [e total] exponents, layout per group [kept, ng, K]
};

// Step 3a: OKS of every (kept detection, gt) pair from exp(-e), with numpy's pairwise summation over the
// labelled joints (all K joints for a gt with none labelled, whose exponents use the box distance).
struct CocoOksParams {
  int64_t num_groups = 0;
  int64_t num_keypoints = 0;
  const int64_t* gt_offsets = nullptr;
  const int64_t* e_offsets = nullptr;
  const int64_t* iou_offsets = nullptr;  // [num_groups + 1] offsets into ious (kept * ng, or 0)
  const double* exp_e = nullptr;         // exp(-e), layout of CocoExponentParams::e
  const double* gt_keypoints = nullptr;  // [G, K, 3] (only v is read)
  double* ious = nullptr;                // out, per group [kept, ng] (gt in group order)
};

// Step 3b: pycocotools' evaluateImg for every group and area range, at every threshold.
struct CocoMatchParams {
  int64_t num_groups = 0;
  int64_t num_thresholds = 0;  // T
  int64_t num_areas = 0;       // A
  int mode = kMatchPycocotools;
  const int64_t* gt_offsets = nullptr;
  const int64_t* kept_offsets = nullptr;
  const int64_t* iou_offsets = nullptr;
  const double* ious = nullptr;           // from step 3a
  const double* gt_range_area = nullptr;  // [G] area tested against the area ranges
  const uint8_t* gt_ignore = nullptr;     // [G] iscrowd or no labelled joint
  const uint8_t* gt_iscrowd = nullptr;    // [G]
  const double* gt_ids = nullptr;         // [G]
  const int64_t* dt_order = nullptr;      // [Dk] from step 1
  const double* dt_area = nullptr;        // [D] (global index)
  const double* dt_ids = nullptr;         // [D]
  const double* iou_thresholds = nullptr;  // [T]
  const double* area_ranges = nullptr;     // [A, 2]
  int64_t total_kept = 0;  // Dk
  int64_t total_gt = 0;    // G
  int64_t* gt_order = nullptr;       // out [A, G] global gt index, ignored last (stable)
  uint8_t* gt_ignore_out = nullptr;  // out [A, G] in gt_order
  int64_t* group_npig = nullptr;     // out [A, num_groups] number of gt not ignored
  uint8_t* dt_flags = nullptr;       // out [A, Dk, T] bit 0: counted as matched, bit 1: ignored
  double* dt_matches = nullptr;      // optional out [A, T, Dk] matched gt id (or the mode's "none")
  double* gt_matches = nullptr;      // optional out [A, T, G] matched dt id, in gt_order
};

constexpr uint8_t kDtMatched = 1;
constexpr uint8_t kDtIgnored = 2;

struct CocoAccumulateParams {
  int64_t T = 0, R = 0, K = 0, A = 0, M = 0;
  int64_t num_selected = 0;  // entries per (k, a) cell in sel_group / sel_area
  int64_t num_groups = 0;
  int64_t total_kept = 0;
  const int64_t* sel_group = nullptr;      // [K, A, num_selected] evaluated group of each selected image
  const int64_t* sel_area = nullptr;       // [K, A, num_selected] evaluated area index a0
  const uint8_t* group_present = nullptr;  // [num_groups] false where pycocotools' evalImg is None
  const int64_t* kept_offsets = nullptr;   // [num_groups + 1]
  const int64_t* max_dets = nullptr;       // [M]
  const double* kept_scores = nullptr;     // [Dk] scores in per-group score order
  const uint8_t* dt_flags = nullptr;       // [A0, Dk, T]
  const int64_t* group_npig = nullptr;     // [A0, num_groups]
  const double* rec_thresholds = nullptr;  // [R]
  double* precision = nullptr;  // out [T, R, K, A, M], -1 where absent
  double* recall = nullptr;     // out [T, K, A, M]
  double* scores = nullptr;     // out [T, R, K, A, M]
};

void cocoeval_exponents_cpu(const CocoExponentParams& p);
void cocoeval_oks_cpu(const CocoOksParams& p);
void cocoeval_match_cpu(const CocoMatchParams& p);
void cocoeval_accumulate_cpu(const CocoAccumulateParams& p);

}  // namespace hpefast
