"""Object keypoint similarity (OKS) in numpy, float64: the one Python definition, and the reference of
PCKh. It is the executable spec of the compiled OKS (csrc/oks, ``hpefast.ops.oks``) and of the OKS step of
csrc/cocoeval, and the implementation OKS-NMS (:mod:`hpefast.evaluation.nms`) and the translation
matcher (:mod:`hpefast.translate.pairs`) call.

pycocotools' ``computeOks``: for joints k of a pair, ``e_k = |a_k - b_k|^2 / (2 sigma_k)^2 / (s^2 + eps) / 2``
with eps = ``np.spacing(1)``, and OKS = ``np.sum(np.exp(-e)) / n`` over the n joints that count (0 when none).
:func:`oks_exponents` and :func:`mean_exp` keep that order of operations, row by row, so results are
identical to pycocotools' to the bit (python_tests/test_oks_reference.py).

The COCO evaluation as a whole (matching, accumulation) has its canonical reference in pycocotools
itself, against which the tests compare :class:`hpefast.evaluation.COCOeval` directly.
"""

from __future__ import annotations

import numpy as np

EPS = np.spacing(1)
HEAD_SIZE_FACTOR = 0.6  # MPII: head size = 0.6 x the head-box diagonal


def oks_exponents(
    a_xy: np.ndarray, b_xy: np.ndarray, area: np.ndarray | float, sigmas: np.ndarray
) -> np.ndarray:
    """OKS exponents ``e = |a - b|^2 / (2 sigma)^2 / (area + eps) / 2`` per joint, float64.

    Args:
        a_xy, b_xy: [..., K, 2] keypoints (x, y), pixels, broadcast against each other.
        area: the OKS scale s^2 (pixels^2), broadcast against ``[...]`` (one value per pair).
        sigmas: [K] per-joint sigmas.

    Returns:
        [..., K] exponents (OKS of joint k = exp(-e_k)).
    """
    variances = (np.asarray(sigmas, np.float64) * 2) ** 2
    d = np.asarray(a_xy, np.float64) - np.asarray(b_xy, np.float64)
    area = np.asarray(area, np.float64)[..., None]
    return (d[..., 0] ** 2 + d[..., 1] ** 2) / variances / (area + EPS) / 2


def mean_exp(e: np.ndarray, joints: np.ndarray | None = None) -> np.ndarray:
    """OKS from exponents: mean of ``exp(-e)`` over the joints that count, 0 where none does.

    Args:
        e: [N, K] exponents (:func:`oks_exponents`).
        joints: None (all K count), bool [K] (the same joints for every row) or bool [N, K].

    Returns:
        [N] float64. Each row is pycocotools' ``np.sum(np.exp(-e[sel])) / n`` on its own 1-D array: numpy's
        SIMD exp and pairwise sum group a 2-D array's elements differently and can differ in the last bit.
    """
    e = np.asarray(e, np.float64)
    sel = np.ones(e.shape, bool) if joints is None else np.broadcast_to(np.asarray(joints, bool), e.shape)
    out = np.zeros(len(e))
    for i in range(len(e)):
        row = e[i][sel[i]]
        if row.shape[0]:
            out[i] = np.sum(np.exp(-row)) / row.shape[0]
    return out


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
    out = np.zeros((len(dt), len(gt)))
    for j in range(len(gt)):
        vg = gt[j, :, 2]
        if np.count_nonzero(vg > 0) > 0:
            e = oks_exponents(dt[:, :, :2], gt[j, :, :2], gt_area[j], sigmas)
            out[:, j] = mean_exp(e, vg > 0)
        else:
            # no labelled joint: the distance to the gt box doubled on each side, over all K joints
            x, y, w, h = gt_bbox[j]
            x0, x1, y0, y1 = x - w, x + w * 2, y - h, y + h * 2
            xd, yd = dt[:, :, 0], dt[:, :, 1]
            dx = np.maximum(0, x0 - xd) + np.maximum(0, xd - x1)
            dy = np.maximum(0, y0 - yd) + np.maximum(0, yd - y1)
            out[:, j] = mean_exp(oks_exponents(np.stack([dx, dy], -1), 0.0, gt_area[j], sigmas))
    return out


def oks(
    pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, area: np.ndarray, sigmas: np.ndarray
) -> np.ndarray:
    """[N] OKS of each prediction [N, K, 2] with its gt [N, K, 2] over visible [N, K] joints, 0 if none."""
    return mean_exp(oks_exponents(pred, gt, area, sigmas), np.asarray(visible) > 0)


def pckh_hits(
    pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, headboxes: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    """[N, K] 1.0 where visible and |pred - gt| / (0.6 |head-box diagonal|) <= threshold, else 0.0."""
    pred, gt, hb = np.asarray(pred, np.float64), np.asarray(gt, np.float64), np.asarray(headboxes, np.float64)
    head = HEAD_SIZE_FACTOR * np.linalg.norm(hb[:, 1] - hb[:, 0], axis=-1)
    dist = np.linalg.norm(pred - gt, axis=-1)
    return ((np.asarray(visible) > 0) & (dist / head[:, None] <= threshold)).astype(np.float64)
