"""OKS-NMS and soft-OKS-NMS against a plain re-statement of mmpose's algorithm."""

from __future__ import annotations

import numpy as np
import pytest

from hpefast.evaluation import oks_iou, oks_nms, soft_oks_nms
from hpefast.evaluation.sigmas import COCO_SIGMAS


def pair_oks(a, b, area_a, area_b, sigmas, vis_thr=None):
    """OKS of two flat poses with the mean of their areas as the scale (one pair at a time)."""
    var = (2 * sigmas) ** 2
    d2 = (a[0::3] - b[0::3]) ** 2 + (a[1::3] - b[1::3]) ** 2
    e = d2 / var / ((area_a + area_b) / 2 + np.spacing(1)) / 2
    if vis_thr is not None:
        e = e[(a[2::3] > vis_thr) & (b[2::3] > vis_thr)]
    return np.float32(np.exp(-e).sum() / len(e)) if len(e) else np.float32(0)


def naive_nms(kpts, scores, areas, thr, sigmas, vis_thr=None):
    order = list(scores.argsort()[::-1])
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if pair_oks(kpts[i], kpts[j], areas[i], areas[j], sigmas, vis_thr) <= thr]
    return keep


def candidates(seed=0, people=4, per_person=6, k=17):
    rng = np.random.default_rng(seed)
    poses, areas = [], []
    for _ in range(people):
        centre = rng.uniform(0, 500, (k, 2))
        area = rng.uniform(2000, 20000)
        for _ in range(per_person):
            xy = centre + rng.normal(0, np.sqrt(area) * rng.uniform(0.002, 0.03), (k, 2))
            poses.append(np.concatenate([xy, rng.uniform(0, 1, (k, 1))], 1))
            areas.append(area * rng.uniform(0.8, 1.2))
    poses = np.array(poses)
    return poses, rng.uniform(0, 1, len(poses)), np.array(areas)


@pytest.mark.parametrize("vis_thr", [None, 0.3])
def test_oks_nms_matches_naive(vis_thr):
    poses, scores, areas = candidates()
    keep = oks_nms(poses, 0.9, scores=scores, areas=areas, vis_thr=vis_thr)
    flat = poses.reshape(len(poses), -1)
    assert keep.tolist() == naive_nms(flat, scores, areas, 0.9, COCO_SIGMAS, vis_thr)
    assert 4 <= len(keep) < len(poses)  # one survivor per person at least, duplicates gone
    # mmpose's list-of-dicts input gives the same answer
    db = [{"keypoints": p, "score": s, "area": a} for p, s, a in zip(poses, scores, areas)]
    assert oks_nms(db, 0.9, vis_thr=vis_thr).tolist() == keep.tolist()


def test_oks_iou_pairs():
    poses, _, areas = candidates(seed=1, people=1, per_person=5)
    flat = poses.reshape(5, -1)
    got = oks_iou(flat[0], flat[1:], areas[0], areas[1:])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(
        got, [pair_oks(flat[0], flat[j], areas[0], areas[j], COCO_SIGMAS) for j in range(1, 5)]
    )
    with pytest.raises(ValueError, match="3 x 17"):
        oks_iou(flat[0, :30], flat[1:], areas[0], areas[1:])


def test_soft_oks_nms_rescoring():
    poses, scores, areas = candidates(seed=2)
    keep = soft_oks_nms(poses, 0.3, max_dets=10, scores=scores, areas=areas)
    assert len(keep) == 10 and len(set(keep.tolist())) == 10
    assert keep[0] == int(np.argmax(scores))
    # re-statement: repeatedly take the best, decay the others by exp(-oks^2 / thr)
    flat = poses.reshape(len(poses), -1)
    live = dict(enumerate(scores))
    expected = []
    while live and len(expected) < 10:
        i = max(live, key=lambda j: (live[j], -j))
        expected.append(i)
        del live[i]
        for j in live:
            live[j] *= np.exp(
                -(float(pair_oks(flat[i], flat[j], areas[i], areas[j], COCO_SIGMAS)) ** 2) / 0.3
            )
    assert keep.tolist() == expected


def test_empty_and_bad_input():
    assert oks_nms([], 0.9).shape == (0,)
    assert soft_oks_nms([], 0.9).shape == (0,)
    poses, scores, areas = candidates()
    with pytest.raises(ValueError, match="scores and areas"):
        oks_nms(poses, 0.9)
    with pytest.raises(ValueError, match="finite"):
        oks_nms(poses, 0.9, scores=np.full(len(poses), np.nan), areas=areas)
    with pytest.raises(ValueError, match=r"\[N, K, 3\]"):
        oks_nms(poses[..., :2], 0.9, scores=scores, areas=areas)
