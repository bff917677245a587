"""OKS-based non-maximum suppression of pose candidates (mmpose ``oks_nms`` / ``soft_oks_nms``).

Used after top-down inference on detector boxes: several boxes on one person give near-identical
poses; OKS-NMS keeps the best-scored one. The OKS between two candidates uses the mean of their
areas as the scale, ``e = d^2 / (2 sigma)^2 / ((a_i + a_j) / 2 + eps) / 2``, over the joints both see
above ``vis_thr`` (all joints when ``vis_thr`` is None). Same numpy operations as mmpose, so ties and
float32 overlaps behave identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hpefast._reference.oks import mean_exp, oks_exponents
from hpefast.evaluation.sigmas import resolve_sigmas


def oks_iou(
    g: np.ndarray,
    d: np.ndarray,
    a_g: float,
    a_d: np.ndarray,
    sigmas: Any = None,
    vis_thr: float | None = None,
) -> np.ndarray:
    """float32 [M] OKS of one pose ``g`` [3K] (x, y, score flat) with poses ``d`` [M, 3K].

    Args:
        g, d: flat keypoints (x0, y0, s0, x1, ...).
        a_g, a_d: areas of g and of each d; the scale is their mean.
        sigmas: [K], a schema name or None (COCO).
        vis_thr: when given, only joints whose scores exceed it in both poses count (0 if none).
    """
    sig = resolve_sigmas(sigmas)
    g = np.asarray(g, np.float64).reshape(-1)
    d = np.asarray(d, np.float64)
    if g.shape[0] != 3 * len(sig) or d.size != len(a_d) * 3 * len(sig):
        raise ValueError(f"oks_iou: poses must have 3 x {len(sig)} values (one triplet per sigma)")
    g, d = g.reshape(len(sig), 3), d.reshape(len(a_d), len(sig), 3)
    e = oks_exponents(d[..., :2], g[:, :2], (a_g + np.asarray(a_d, np.float64)) / 2, sig)
    joints = None if vis_thr is None else (g[:, 2] > vis_thr) & (d[..., 2] > vis_thr)
    return mean_exp(e, joints).astype(np.float32)


def _unpack(
    poses: Any, scores: Any, areas: Any, score_per_joint: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(poses, Sequence) and poses and isinstance(poses[0], dict):
        # mmpose's list of instance dicts: keypoints [K, 3] (or flat), score, area
        kpts = np.array([np.asarray(p["keypoints"], np.float64).reshape(-1) for p in poses])
        if score_per_joint:
            sc = np.array([np.asarray(p["score"]).mean() for p in poses])
        else:
            sc = np.array([p["score"] for p in poses], np.float64)
        ar = np.array([p["area"] for p in poses], np.float64)
        return kpts, sc, ar
    kpts = np.asarray(poses, np.float64)
    if kpts.ndim == 3:
        kpts = kpts.reshape(len(kpts), -1)
    if kpts.ndim != 2 or kpts.shape[1] % 3 != 0:
        raise ValueError(f"poses must be [N, K, 3] or [N, 3K] (x, y, score), got {list(np.shape(poses))}")
    if scores is None or areas is None:
        raise ValueError("scores and areas are required with array poses")
    sc = np.asarray(scores, np.float64)
    if score_per_joint or sc.ndim == 2:
        sc = sc.reshape(len(kpts), -1).mean(1)
    ar = np.asarray(areas, np.float64).reshape(-1)
    if sc.shape != (len(kpts),) or ar.shape != (len(kpts),):
        raise ValueError(f"scores and areas must have {len(kpts)} entries")
    if not np.all(np.isfinite(sc)) or not np.all(np.isfinite(ar)):
        raise ValueError("scores and areas must be finite")
    return kpts, sc, ar


def oks_nms(
    poses: Any,
    thr: float,
    sigmas: Any = None,
    vis_thr: float | None = None,
    score_per_joint: bool = False,
    scores: Any = None,
    areas: Any = None,
) -> np.ndarray:
    """Greedy OKS-NMS: indices of the kept poses, best score first.

    Args:
        poses: [N, K, 3] / [N, 3K] (x, y, joint score) with ``scores`` [N] and ``areas`` [N], or mmpose's
            list of dicts with ``keypoints``, ``score``, ``area``.
        thr: a pose is dropped when its OKS with a kept pose exceeds ``thr`` (kept when ``<= thr``).
        sigmas: [K], schema name or None (COCO).
        vis_thr: see :func:`oks_iou`.
        score_per_joint: scores are per joint; their mean ranks the poses.

    Returns:
        int64 [M] indices into ``poses``.
    """
    if len(poses) == 0:
        return np.zeros(0, np.int64)
    kpts, sc, ar = _unpack(poses, scores, areas, score_per_joint)
    order = sc.argsort()[::-1]
    keep = []
    while len(order) > 0:
        i = order[0]
        keep.append(i)
        ovr = oks_iou(kpts[i], kpts[order[1:]], ar[i], ar[order[1:]], sigmas, vis_thr)
        inds = np.where(ovr <= thr)[0]
        order = order[inds + 1]
    return np.array(keep, np.int64)


def _rescore(overlap: np.ndarray, scores: np.ndarray, thr: float, kind: str = "gaussian") -> np.ndarray:
    if kind == "linear":
        inds = np.where(overlap >= thr)[0]
        scores[inds] = scores[inds] * (1 - overlap[inds])
    else:
        scores = scores * np.exp(-(overlap**2) / thr)
    return scores


def soft_oks_nms(
    poses: Any,
    thr: float,
    max_dets: int = 20,
    sigmas: Any = None,
    vis_thr: float | None = None,
    score_per_joint: bool = False,
    scores: Any = None,
    areas: Any = None,
) -> np.ndarray:
    """Soft OKS-NMS (Gaussian rescoring ``s * exp(-oks^2 / thr)``): indices of up to ``max_dets`` poses.

    Arguments as :func:`oks_nms`. Returns int64 [M] indices in the order they were kept.
    """
    if len(poses) == 0:
        return np.zeros(0, np.int64)
    if thr <= 0:
        raise ValueError(f"thr must be > 0 for soft OKS-NMS, got {thr}")
    kpts, sc, ar = _unpack(poses, scores, areas, score_per_joint)
    order = sc.argsort()[::-1]
    sc = sc[order]
    keep = np.zeros(max_dets, dtype=np.intp)
    count = 0
    while len(order) > 0 and count < max_dets:
        i = order[0]
        ovr = oks_iou(kpts[i], kpts[order[1:]], ar[i], ar[order[1:]], sigmas, vis_thr)
        order = order[1:]
        sc = _rescore(ovr, sc[1:], thr)
        tmp = sc.argsort()[::-1]
        order = order[tmp]
        sc = sc[tmp]
        keep[count] = i
        count += 1
    return keep[:count].astype(np.int64)
