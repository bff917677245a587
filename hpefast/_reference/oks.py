"""Reference (numpy, float64) of the OKS / PCKh kernels: the executable spec of csrc/oks and of the
OKS step of csrc/cocoeval.

The COCO evaluation as a whole (matching, accumulation) has its canonical reference in pycocotools
itself, against which the tests compare :class:`hpefast.evaluation.COCOeval` directly.
"""

from __future__ import annotations

import numpy as np

EPS = np.spacing(1)
HEAD_SIZE_FACTOR = 0.6  # MPII: head size = 0.6 x the head-box diagonal


def coco_oks_matrix(
    dt_keypoints: np.ndarray,
    gt_keypoints: np.ndarray,
    gt_area: np.ndarray,
    gt_bbox: np.ndarray,
    sigmas: np.ndarray,
) -> np.ndarray:
    """pycocotools' ``computeOks`` for one image: [D, G] OKS of every detection with every gt.

    Args:
        dt_keypoints: [D, K, 3] detections (x, y, score), already sorted and cut at maxDets.
        gt_keypoints: [G, K, 3] ground truth (x, y, v).
        gt_area: [G] areas (the OKS scale s^2).
        gt_bbox: [G, 4] boxes (x, y, w, h), used for gt with no labelled joint: the distance is then
            measured to the box doubled on each side, over all K joints.
        sigmas: [K].
    """
    dt = np.asarray(dt_keypoints, np.float64)
    gt = np.asarray(gt_keypoints, np.float64)
    variances = (np.asarray(sigmas, np.float64) * 2) ** 2
    out = np.zeros((len(dt), len(gt)))
    for j in range(len(gt)):
        xg, yg, vg = gt[j, :, 0], gt[j, :, 1], gt[j, :, 2]
        k1 = np.count_nonzero(vg > 0)
        x, y, w, h = gt_bbox[j]
        x0, x1, y0, y1 = x - w, x + w * 2, y - h, y + h * 2
        xd, yd = dt[:, :, 0], dt[:, :, 1]
        if k1 > 0:
            dx, dy = xd - xg, yd - yg
        else:
            dx = np.maximum(0, x0 - xd) + np.maximum(0, xd - x1)
            dy = np.maximum(0, y0 - yd) + np.maximum(0, yd - y1)
        e = (dx**2 + dy**2) / variances / (gt_area[j] + EPS) / 2
        if k1 > 0:
            e = e[:, vg > 0]
        out[:, j] = np.exp(-e).sum(1) / e.shape[1]
    return out


def oks(
    pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, area: np.ndarray, sigmas: np.ndarray
) -> np.ndarray:
    """[N] OKS of each prediction [N, K, 2] with its gt [N, K, 2] over visible [N, K] joints, 0 if none."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    vis = np.asarray(visible) > 0
    variances = (np.asarray(sigmas, np.float64) * 2) ** 2
    d2 = ((pred - gt) ** 2).sum(-1)
    e = d2 / variances[None] / (np.asarray(area, np.float64)[:, None] + EPS) / 2
    count = vis.sum(1)
    total = np.where(vis, np.exp(-e), 0.0).sum(1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def pckh_hits(
    pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, headboxes: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    """[N, K] 1.0 where visible and |pred - gt| / (0.6 |head-box diagonal|) <= threshold, else 0.0."""
    pred, gt, hb = np.asarray(pred, np.float64), np.asarray(gt, np.float64), np.asarray(headboxes, np.float64)
    head = HEAD_SIZE_FACTOR * np.linalg.norm(hb[:, 1] - hb[:, 0], axis=-1)
    dist = np.linalg.norm(pred - gt, axis=-1)
    return ((np.asarray(visible) > 0) & (dist / head[:, None] <= threshold)).astype(np.float64)
