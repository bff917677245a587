// COCO keypoint evaluation on the CPU: the three steps of cocoeval.h, each parallel over groups.
// Every floating-point expression follows pycocotools' order of operations (and numpy's pairwise
// summation), so the OKS values and the precision arrays are bit-identical.
#include "cocoeval/cocoeval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace hpefast {
namespace {

// np.spacing(1.0): the gap between 1.0 and the next double (2^-52).
constexpr double kEps = std::numeric_limits<double>::epsilon();

// numpy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src) started from 0.0, which is
// what np.sum does for a 1-D float64 array: 8 accumulators up to 128 elements, halving above.
double pairwise_sum(const double* a, int64_t n) {
  if (n < 8) {
    double res = 0.;
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

inline double np_sum(const double* a, int64_t n) { return 0.0 + pairwise_sum(a, n); }

inline int64_t grain_for(int64_t n) { return std::max<int64_t>(16, n / (8 * num_threads()) + 1); }

}  // namespace

void cocoeval_exponents_cpu(const CocoExponentParams& p) {
  HPEFAST_CHECK(p.num_groups >= 0 && p.num_keypoints > 0, "cocoeval: bad sizes");
  HPEFAST_CHECK(p.max_det >= 0, "cocoeval: max_det must be >= 0");
  const int64_t K = p.num_keypoints;
  parallel_for(p.num_groups, grain_for(p.num_groups), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> order;
    for (int64_t g = begin; g < end; ++g) {
      const int64_t d0 = p.dt_offsets[g], nd = p.dt_offsets[g + 1] - d0;
      const int64_t g0 = p.gt_offsets[g], ng = p.gt_offsets[g + 1] - g0;
      const int64_t k0 = p.kept_offsets[g], kept = p.kept_offsets[g + 1] - k0;
      HPEFAST_CHECK(kept == std::min(nd, p.max_det), "cocoeval: kept offsets disagree with max_det");
      // np.argsort(-score, kind="mergesort"): stable, highest score first.
      order.resize(static_cast<size_t>(nd));
      std::iota(order.begin(), order.end(), d0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return p.dt_score[a] > p.dt_score[b]; });
      std::copy(order.begin(), order.begin() + kept, p.dt_order + k0);
      const int64_t e_size = p.e_offsets[g + 1] - p.e_offsets[g];
      if (e_size == 0) continue;
      HPEFAST_CHECK(e_size == kept * ng * K, "cocoeval: exponent offsets disagree with the group sizes");
      double* e = p.e + p.e_offsets[g];
      for (int64_t j = 0; j < ng; ++j) {
        const double* gk = p.gt_keypoints + (g0 + j) * K * 3;
        int64_t k1 = 0;
        for (int64_t k = 0; k < K; ++k) k1 += gk[3 * k + 2] > 0;
        const double* bb = p.gt_bbox + (g0 + j) * 4;
        // bounds of the ignore region: the gt box doubled
        const double x0 = bb[0] - bb[2], x1 = bb[0] + bb[2] * 2;
        const double y0 = bb[1] - bb[3], y1 = bb[1] + bb[3] * 2;
        const double denom = p.gt_oks_area[g0 + j] + kEps;
        for (int64_t i = 0; i < kept; ++i) {
          const double* dk = p.dt_keypoints + order[i] * K * 3;
          double* out = e + (i * ng + j) * K;
          for (int64_t k = 0; k < K; ++k) {
            const double xd = dk[3 * k], yd = dk[3 * k + 1];
            double dx, dy;
            if (k1 > 0) {
              dx = xd - gk[3 * k];
              dy = yd - gk[3 * k + 1];
            } else {
              dx = std::max(0.0, x0 - xd) + std::max(0.0, xd - x1);
              dy = std::max(0.0, y0 - yd) + std::max(0.0, yd - y1);
            }
            out[k] = (dx * dx + dy * dy) / p.variances[k] / denom / 2;
          }
        }
      }
    }
  });
}

void cocoeval_oks_cpu(const CocoOksParams& p) {
  const int64_t K = p.num_keypoints;
  parallel_for(p.num_groups, grain_for(p.num_groups), [&](int64_t begin, int64_t end) {
    std::vector<double> visible_e(static_cast<size_t>(K));
    for (int64_t g = begin; g < end; ++g) {
      const int64_t size = p.iou_offsets[g + 1] - p.iou_offsets[g];
      if (size == 0) continue;
      const int64_t g0 = p.gt_offsets[g], ng = p.gt_offsets[g + 1] - g0;
      const int64_t kept = size / ng;
      HPEFAST_CHECK(size == kept * ng && p.e_offsets[g + 1] - p.e_offsets[g] == size * K,
                    "cocoeval: OKS offsets disagree with the group sizes");
      const double* ex = p.exp_e + p.e_offsets[g];
      double* ious = p.ious + p.iou_offsets[g];
      for (int64_t j = 0; j < ng; ++j) {
        const double* gk = p.gt_keypoints + (g0 + j) * K * 3;
        int64_t k1 = 0;
        for (int64_t k = 0; k < K; ++k) k1 += gk[3 * k + 2] > 0;
        for (int64_t i = 0; i < kept; ++i) {
          const double* row = ex + (i * ng + j) * K;
          double s;
          if (k1 > 0) {
            int64_t n = 0;
            for (int64_t k = 0; k < K; ++k) {
              if (gk[3 * k + 2] > 0) visible_e[n++] = row[k];
            }
            s = np_sum(visible_e.data(), n) / static_cast<double>(n);
          } else {
            s = np_sum(row, K) / static_cast<double>(K);
          }
          ious[i * ng + j] = s;
        }
      }
    }
  });
}

void cocoeval_match_cpu(const CocoMatchParams& p) {
  const int64_t T = p.num_thresholds, A = p.num_areas;
  const int64_t Dk = p.total_kept, G = p.total_gt, NG = p.num_groups;
  const bool xt = p.mode == kMatchXtcocotools;
  const bool store_ids = p.dt_matches != nullptr && p.gt_matches != nullptr;
  const double none = xt ? -1.0 : 0.0;
  parallel_for(NG, grain_for(NG), [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> ig;
    std::vector<int64_t> gind;
    std::vector<double> dtm, gtm, sorted_ious;
    std::vector<uint8_t> dig, out_of_range;
    for (int64_t g = begin; g < end; ++g) {
      const int64_t g0 = p.gt_offsets[g], ng = p.gt_offsets[g + 1] - g0;
      const int64_t k0 = p.kept_offsets[g], kept = p.kept_offsets[g + 1] - k0;
      const bool has_ious = p.iou_offsets[g + 1] > p.iou_offsets[g];
      const double* ious = p.ious + p.iou_offsets[g];
      ig.resize(static_cast<size_t>(ng));
      gind.resize(static_cast<size_t>(ng));
      dtm.resize(static_cast<size_t>(kept));
      dig.resize(static_cast<size_t>(kept));
      out_of_range.resize(static_cast<size_t>(kept));
      gtm.resize(static_cast<size_t>(ng));
      if (has_ious) sorted_ious.resize(static_cast<size_t>(kept * ng));
      for (int64_t a = 0; a < A; ++a) {
        const double lo = p.area_ranges[2 * a], hi = p.area_ranges[2 * a + 1];
        int64_t npig = 0;
        for (int64_t j = 0; j < ng; ++j) {
          const double ar = p.gt_range_area[g0 + j];
          ig[j] = (p.gt_ignore[g0 + j] || ar < lo || ar > hi) ? 1 : 0;
          npig += ig[j] == 0;
        }
        p.group_npig[a * NG + g] = npig;
        // np.argsort(_ignore, kind="mergesort"): stable, not-ignored first
        int64_t n_regular = 0;
        for (int64_t j = 0; j < ng; ++j) {
          if (!ig[j]) gind[n_regular++] = j;
        }
        for (int64_t j = 0, n = n_regular; j < ng; ++j) {
          if (ig[j]) gind[n++] = j;
        }
        int64_t* gorder = p.gt_order + a * G + g0;
        uint8_t* gig = p.gt_ignore_out + a * G + g0;
        for (int64_t j = 0; j < ng; ++j) {
          gorder[j] = g0 + gind[j];
          gig[j] = ig[gind[j]];
        }
        if (has_ious) {
          for (int64_t d = 0; d < kept; ++d) {
            for (int64_t j = 0; j < ng; ++j) sorted_ious[d * ng + j] = ious[d * ng + gind[j]];
          }
        }
        for (int64_t d = 0; d < kept; ++d) {
          const double da = p.dt_area[p.dt_order[k0 + d]];
          out_of_range[d] = (da < lo || da > hi) ? 1 : 0;
        }
        for (int64_t t = 0; t < T; ++t) {
          std::fill(dtm.begin(), dtm.end(), none);
          std::fill(gtm.begin(), gtm.end(), none);
          std::fill(dig.begin(), dig.end(), uint8_t(0));
          if (has_ious) {
            const double thr = std::min(p.iou_thresholds[t], 1 - 1e-10);
            for (int64_t d = 0; d < kept; ++d) {
              const double* row = sorted_ious.data() + d * ng;
              double iou = thr;
              int64_t m = -1;
              for (int64_t j = 0; j < ng; ++j) {
                const bool gt_taken = xt ? gtm[j] >= 0 : gtm[j] > 0;
                // a gt already matched is skipped unless it is a crowd region
                if (gt_taken && !p.gt_iscrowd[gorder[j]]) continue;
                // matched to a regular gt, and only ignored gts remain (they sort last)
                if (m > -1 && gig[m] == 0 && gig[j] == 1) break;
                if (row[j] < iou) continue;
                iou = row[j];
                m = j;
              }
              if (m == -1) continue;
              dig[d] = gig[m];
              dtm[d] = p.gt_ids[gorder[m]];
              gtm[m] = p.dt_ids[p.dt_order[k0 + d]];
            }
          }
          for (int64_t d = 0; d < kept; ++d) {
            // unmatched detections outside the area range are ignored
            const bool unmatched = xt ? dtm[d] < 0 : dtm[d] == 0;
            const bool ignored = dig[d] || (unmatched && out_of_range[d]);
            const bool matched = xt ? dtm[d] >= 0 : dtm[d] != 0;
            p.dt_flags[((a * Dk) + k0 + d) * T + t] =
                static_cast<uint8_t>((matched ? kDtMatched : 0) | (ignored ? kDtIgnored : 0));
          }
          if (store_ids) {
            std::copy(dtm.begin(), dtm.end(), p.dt_matches + (a * T + t) * Dk + k0);
            std::copy(gtm.begin(), gtm.end(), p.gt_matches + (a * T + t) * G + g0);
          }
        }
      }
    }
  });
}

void cocoeval_accumulate_cpu(const CocoAccumulateParams& p) {
  const int64_t T = p.T, R = p.R, K = p.K, A = p.A, M = p.M, NS = p.num_selected;
  const int64_t Dk = p.total_kept, NG = p.num_groups;
  std::fill(p.precision, p.precision + T * R * K * A * M, -1.0);
  std::fill(p.scores, p.scores + T * R * K * A * M, -1.0);
  std::fill(p.recall, p.recall + T * K * A * M, -1.0);
  if (M == 0 || A == 0 || K == 0) return;
  struct Entry {
    double score;
    int64_t j;     // kept index (global)
    int32_t slot;  // position in the selection
    int32_t rank;  // rank of the detection within its image
  };
  const int64_t max_m = *std::max_element(p.max_dets, p.max_dets + M);
  for (int64_t k = 0; k < K; ++k) {
    // One sorted list per distinct selection of images (the area rows normally share one).
    std::vector<std::vector<Entry>> lists;
    std::vector<int64_t> list_of(static_cast<size_t>(A)), first_row;
    for (int64_t a = 0; a < A; ++a) {
      const int64_t* groups = p.sel_group + (k * A + a) * NS;
      int64_t found = -1;
      for (size_t l = 0; l < first_row.size() && found < 0; ++l) {
        if (std::equal(groups, groups + NS, p.sel_group + (k * A + first_row[l]) * NS)) found = int64_t(l);
      }
      if (found < 0) {
        // concatenation over the selected images of their (score-ordered) kept detections, then
        // np.argsort(-dtScores, kind="mergesort"): a stable sort, highest score first
        std::vector<Entry> entries;
        for (int64_t s = 0; s < NS; ++s) {
          const int64_t g = groups[s];
          if (g < 0) continue;
          const int64_t k0 = p.kept_offsets[g];
          const int64_t nd = std::min(p.kept_offsets[g + 1] - k0, max_m);
          for (int64_t r = 0; r < nd; ++r) {
            entries.push_back({p.kept_scores[k0 + r], k0 + r, static_cast<int32_t>(s), static_cast<int32_t>(r)});
          }
        }
        std::stable_sort(entries.begin(), entries.end(),
                         [](const Entry& x, const Entry& y) { return x.score > y.score; });
        found = int64_t(lists.size());
        lists.push_back(std::move(entries));
        first_row.push_back(a);
      }
      list_of[a] = found;
    }
    parallel_for(A * M, 1, [&](int64_t cb, int64_t ce) {
      std::vector<double> rc, pr, sc, tp(T), fp(T);
      for (int64_t cell = cb; cell < ce; ++cell) {
        const int64_t a = cell / M, m = cell % M;
        const int64_t* groups = p.sel_group + (k * A + a) * NS;
        const int64_t* areas = p.sel_area + (k * A + a) * NS;
        const std::vector<Entry>& entries = lists[list_of[a]];
        {
          const int64_t max_det = p.max_dets[m];
          int64_t npig = 0;
          bool any = false;
          for (int64_t s = 0; s < NS; ++s) {
            const int64_t g = groups[s];
            if (g < 0 || !p.group_present[g]) continue;
            any = true;
            npig += p.group_npig[areas[s] * NG + g];
          }
          if (!any || npig == 0) continue;
          int64_t nd = 0;
          for (const Entry& en : entries) nd += en.rank < max_det;
          rc.resize(static_cast<size_t>(T * nd));
          pr.resize(static_cast<size_t>(T * nd));
          sc.resize(static_cast<size_t>(nd));
          std::fill(tp.begin(), tp.end(), 0.0);
          std::fill(fp.begin(), fp.end(), 0.0);
          int64_t i = 0;
          for (const Entry& en : entries) {
            if (en.rank >= max_det) continue;
            const uint8_t* flags = p.dt_flags + (areas[en.slot] * Dk + en.j) * T;
            for (int64_t t = 0; t < T; ++t) {
              if (!(flags[t] & kDtIgnored)) {
                if (flags[t] & kDtMatched) {
                  tp[t] += 1;
                } else {
                  fp[t] += 1;
                }
              }
              rc[t * nd + i] = tp[t] / static_cast<double>(npig);
              pr[t * nd + i] = tp[t] / (fp[t] + tp[t] + kEps);
            }
            sc[i] = en.score;
            ++i;
          }
          for (int64_t t = 0; t < T; ++t) {
            const double* rct = rc.data() + t * nd;
            double* prt = pr.data() + t * nd;
            p.recall[((t * K + k) * A + a) * M + m] = nd ? rct[nd - 1] : 0.0;
            for (int64_t q = nd - 1; q > 0; --q) {
              if (prt[q] > prt[q - 1]) prt[q - 1] = prt[q];
            }
            int64_t pi = 0;
            for (int64_t r = 0; r < R; ++r) {
              const int64_t out = (((t * R + r) * K + k) * A + a) * M + m;
              // np.searchsorted(rc, recThrs, side="left"); the thresholds ascend, so search onwards
              pi = (r > 0 && p.rec_thresholds[r] >= p.rec_thresholds[r - 1])
                       ? std::lower_bound(rct + pi, rct + nd, p.rec_thresholds[r]) - rct
                       : std::lower_bound(rct, rct + nd, p.rec_thresholds[r]) - rct;
              if (pi >= nd) {
                // pycocotools stops at the first recall level out of reach: zeros from here on
                for (int64_t r2 = r; r2 < R; ++r2) {
                  const int64_t o2 = (((t * R + r2) * K + k) * A + a) * M + m;
                  p.precision[o2] = 0.0;
                  p.scores[o2] = 0.0;
                }
                break;
              }
              p.precision[out] = prt[pi];
              p.scores[out] = sc[pi];
            }
          }
        }
      }
    });
  }
}

}  // namespace hpefast
