"""MPII PCKh (the official protocol), PCK normalised by a box or any length, EPE and AUC.

PCKh follows the MPII evaluation code (``evalMPII`` / bearpaw's ``eval_PCKh``, used by HRNet and
mmpose): head size = 0.6 x the head-box diagonal, a joint is correct when its error divided by the
head size is ``<=`` the threshold, only visible joints count, per-part values average the left and
right joints, and ``Mean`` weights the 14 joints other than pelvis and thorax by their visible counts.
``Mean@0.1`` is the same mean at a true 0.10 threshold (HRNet's code reads its threshold table at
index 11, i.e. 0.11; the published tables, and this function, use 0.10).

PCK, EPE and AUC follow mmpose's ``keypoint_pck_accuracy`` / ``keypoint_epe`` / ``keypoint_auc``
(strict ``<`` and per-axis normalisation there).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# MPII joint order: r_ankle, r_knee, r_hip, l_hip, l_knee, l_ankle, pelvis, thorax, upper_neck, head_top,
# r_wrist, r_elbow, r_shoulder, l_shoulder, l_elbow, l_wrist.
MPII_PARTS: dict[str, tuple[int, ...]] = {
    "Head": (9,),
    "Shoulder": (13, 12),
    "Elbow": (14, 11),
    "Wrist": (15, 10),
    "Hip": (3, 2),
    "Knee": (4, 1),
    "Ankle": (5, 0),
}
MPII_EXCLUDED = (6, 7)  # pelvis and thorax: not in the mean
HEAD_SIZE_FACTOR = 0.6


def _np(name: str, value: Any, shape_tail: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}") from None
    if arr.ndim != 1 + len(shape_tail) or any(
        t is not None and arr.shape[1 + i] != t for i, t in enumerate(shape_tail)
    ):
        spec = ", ".join(["N"] + ["?" if t is None else str(t) for t in shape_tail])
        raise ValueError(f"{name} must have shape [{spec}], got {list(arr.shape)}")
    return arr


def _pckh_scaled(pred: Any, gt: Any, visible: Any, headboxes: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated inputs -> errors / head size [N, K] and the visible mask [N, K] (float 0 / 1)."""
    pred = _np("pred", pred, (None, 2))
    n, k = pred.shape[:2]
    gt = _np("gt", gt, (k, 2))
    vis = _np("visible", visible, (k,))
    hb = _np("headboxes", headboxes, (2, 2))
    for name, arr in (("gt", gt), ("visible", vis), ("headboxes", hb)):
        if arr.shape[0] != n:
            raise ValueError(f"{name} has {arr.shape[0]} rows but pred has {n}")
    if n == 0:
        raise ValueError("pred is empty: PCKh needs at least one person")
    vis = (vis > 0).astype(np.float64)
    bad_gt = (vis > 0) & ~np.isfinite(gt).all(-1)
    if bad_gt.any():
        i, j = (int(v[0]) for v in np.nonzero(bad_gt))
        raise ValueError(f"gt: person {i} joint {j} is marked visible but its coordinates are not finite")
    head = np.linalg.norm(hb[:, 1] - hb[:, 0], axis=-1) * HEAD_SIZE_FACTOR
    bad = vis.any(1) & ~(head > 0)
    if bad.any():
        raise ValueError(f"headboxes: person {int(np.nonzero(bad)[0][0])} has an empty head box")
    err = np.linalg.norm(pred - gt, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = err / head[:, None]
    return scaled, vis


def _check_threshold(threshold: float) -> None:
    if not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a finite positive fraction of the head size, got {threshold!r}")


def _pckh_at(scaled: np.ndarray, vis: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    counts = vis.sum(0)
    hits = ((scaled <= threshold) * vis).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pck = 100.0 * hits / counts
    return pck, counts


def pckh_per_joint(
    pred: Any, gt: Any, visible: Any, headboxes: Any, threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint PCKh (percent, NaN where no joint is visible) and the visible counts, both [K]."""
    scaled, vis = _pckh_scaled(pred, gt, visible, headboxes)
    _check_threshold(threshold)
    return _pckh_at(scaled, vis, threshold)


def pckh(
    pred: Any,
    gt: Any,
    visible: Any,
    headboxes: Any,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """MPII PCKh table.

    Args:
        pred: [N, 16, 2] predicted joints (x, y), pixels (numpy or torch).
        gt: [N, 16, 2] ground truth, same frame (1-based MATLAB coordinates are fine: only differences
            matter).
        visible: [N, 16] 1 where the joint is annotated (``1 - jnt_missing``).
        headboxes: [N, 2, 2] head boxes ((x1, y1), (x2, y2)).
        threshold: fraction of the head size (0.5 for PCKh@0.5).

    Returns:
        {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean", "Mean@0.1"} in percent,
        plus "per_joint" [16] (percent) and "count" [16] (visible joints).
    """
    scaled, vis = _pckh_scaled(pred, gt, visible, headboxes)
    _check_threshold(threshold)
    per_joint, counts = _pckh_at(scaled, vis, threshold)
    if per_joint.shape[0] != 16:
        raise ValueError(f"pckh needs the 16 MPII joints, got {per_joint.shape[0]}")
    at_01, _ = _pckh_at(scaled, vis, 0.1)
    out: dict[str, Any] = {}
    for part, joints in MPII_PARTS.items():
        out[part] = float(np.mean([per_joint[j] for j in joints]))
    weights = counts.copy()
    weights[list(MPII_EXCLUDED)] = 0
    total = weights.sum()
    ratio = weights / total if total > 0 else weights
    out["Mean"] = float(np.sum(np.where(ratio > 0, per_joint, 0.0) * ratio))
    out["Mean@0.1"] = float(np.sum(np.where(ratio > 0, at_01, 0.0) * ratio))
    out["per_joint"] = per_joint
    out["count"] = counts
    return out


# The official MPII ground truth (.mat: gt_valid.mat of HRNet / mmpose, detections_our_format.mat of the
# hourglass code) names its joints in this order; pckh() expects it.
MPII_MAT_JOINTS = (
    "rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor",
    "neck", "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri",
)  # fmt: skip
_MAT_GT_FIELDS = ("jnt_missing", "pos_gt_src", "headboxes_src")


def _loadmat(path: Any, names: list[str], what: str) -> dict[str, Any]:
    from pathlib import Path

    try:
        from scipy.io import loadmat
    except ImportError:
        raise ImportError("reading MPII .mat files needs scipy (pip install scipy)") from None

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what}: no such file {str(p)!r}")
    try:
        return loadmat(str(p), variable_names=names)
    except Exception as exc:  # scipy raises ValueError / TypeError / OSError on a bad file
        raise ValueError(f"{what}: {str(p)!r} is not a readable MATLAB .mat file ({exc})") from None


def pckh_from_mat(predictions: Any, ground_truth: Any, threshold: float = 0.5) -> dict[str, Any]:
    """MPII PCKh straight from the official MATLAB files (what HRNet's and mmpose's ``evaluate`` read).

    Args:
        predictions: a .mat path holding ``preds`` [N, 16, 2] (HRNet / hourglass ``pred.mat``, 1-based
            pixels) or ``pos_pred_src`` [16, 2, N]; an array [N, 16, 2] in the same 1-based frame; or None
            for the ``pos_pred_src`` stored in the ground-truth file itself.
        ground_truth: the MPII validation ground truth .mat (``gt_valid.mat``, ``detections_our_format.mat``):
            ``pos_gt_src`` [16, 2, N], ``jnt_missing`` [16, N], ``headboxes_src`` [2, 2, N] and
            ``dataset_joints`` (joint names, checked against :data:`MPII_MAT_JOINTS`).
        threshold: fraction of the head size.

    Returns:
        The :func:`pckh` table (percent).
    """
    names = [*_MAT_GT_FIELDS, "dataset_joints"] + (["pos_pred_src"] if predictions is None else [])
    gt = _loadmat(ground_truth, names, "ground_truth")
    missing = [k for k in _MAT_GT_FIELDS if k not in gt]
    if missing:
        raise ValueError(f"ground_truth: {str(ground_truth)!r} has no {missing} (not MPII ground truth)")
    if "dataset_joints" in gt:
        joints = tuple(
            str(np.asarray(j).reshape(-1)[0]) for j in np.asarray(gt["dataset_joints"]).reshape(-1)
        )
        if joints != MPII_MAT_JOINTS:
            raise ValueError(
                f"ground_truth: joints {list(joints)} are not the MPII order {list(MPII_MAT_JOINTS)}"
            )
    n = gt["pos_gt_src"].shape[-1]
    if predictions is None:
        if "pos_pred_src" not in gt:
            raise ValueError(f"ground_truth: {str(ground_truth)!r} holds no 'pos_pred_src': give predictions")
        pred = gt["pos_pred_src"].transpose(2, 0, 1)
    elif isinstance(predictions, (str, bytes)) or hasattr(predictions, "__fspath__"):
        pm = _loadmat(predictions, ["preds", "pos_pred_src"], "predictions")
        if "preds" in pm:
            pred = pm["preds"]
        elif "pos_pred_src" in pm:
            pred = pm["pos_pred_src"].transpose(2, 0, 1)
        else:
            raise ValueError(f"predictions: {str(predictions)!r} holds neither 'preds' nor 'pos_pred_src'")
    else:
        pred = predictions
    pred = _np("predictions", pred, (16, None))[..., :2]
    if pred.shape[0] != n:
        raise ValueError(f"predictions: {pred.shape[0]} people, the ground truth has {n}")
    return pckh(
        pred,
        gt["pos_gt_src"].transpose(2, 0, 1),
        1 - gt["jnt_missing"].T.astype(np.int64),
        gt["headboxes_src"].transpose(2, 0, 1),
        threshold,
    )


def _normalised_distances(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """[N, K] |(pred - gt) / norm| over valid joints, -1 elsewhere (mmpose ``_calc_distances``)."""
    n, k = pred.shape[:2]
    dist = np.full((n, k), -1.0)
    valid = mask.astype(bool) & (norm > 0).all(-1)[:, None]
    diff = (pred - gt) / np.where(norm > 0, norm, 1.0)[:, None, :]
    dist[valid] = np.linalg.norm(diff, axis=-1)[valid]
    return dist


def _norm_array(name: str, norm: Any, n: int) -> np.ndarray:
    norm = np.asarray(norm.detach().cpu().numpy() if hasattr(norm, "detach") else norm, dtype=np.float64)
    if norm.ndim == 0:
        norm = np.full((n, 2), float(norm))
    elif norm.shape == (n,):
        norm = np.repeat(norm[:, None], 2, 1)
    elif norm.shape != (n, 2):
        raise ValueError(f"{name} must be a scalar, [N] or [N, 2], got {list(norm.shape)}")
    return norm


def pck(pred: Any, gt: Any, visible: Any, norm: Any, threshold: float = 0.05) -> dict[str, Any]:
    """PCK: a joint is correct when |(pred - gt) / norm| < threshold (mmpose ``keypoint_pck_accuracy``).

    Args:
        pred, gt: [N, K, 2] joints, pixels.
        visible: [N, K] 1 where the joint counts.
        norm: normalisation length(s): a scalar, [N] (e.g. ``max(w, h)`` of each box: PCK@bbox) or
            [N, 2] per axis.
        threshold: e.g. 0.05 for PCK@0.05.

    Returns:
        {"per_joint": [K] accuracy in [0, 1] (-1 where no joint counts), "mean": mean over the joints that
        count, "count": number of joints that count}.
    """
    pred = _np("pred", pred, (None, 2))
    n, k = pred.shape[:2]
    gt = _np("gt", gt, (k, 2))
    vis = _np("visible", visible, (k,))
    dist = _normalised_distances(pred, gt, vis > 0, _norm_array("norm", norm, n))
    acc = np.full(k, -1.0)
    for j in range(k):
        d = dist[:, j]
        valid = d != -1
        if valid.any():
            acc[j] = float((d[valid] < threshold).sum() / valid.sum())
    good = acc >= 0
    return {
        "per_joint": acc,
        "mean": float(acc[good].mean()) if good.any() else 0.0,
        "count": int(good.sum()),
    }


def pck_bbox(pred: Any, gt: Any, visible: Any, bboxes: Any, threshold: float = 0.05) -> dict[str, Any]:
    """PCK@bbox: :func:`pck` normalised by each box's longer side (boxes [N, 4] as (x, y, w, h))."""
    b = _np("bboxes", bboxes, (4,))
    return pck(pred, gt, visible, np.maximum(b[:, 2], b[:, 3]), threshold)


def epe(pred: Any, gt: Any, visible: Any) -> float:
    """End-point error: mean Euclidean distance over the visible joints, pixels (mmpose ``keypoint_epe``)."""
    pred = _np("pred", pred, (None, 2))
    n, k = pred.shape[:2]
    gt = _np("gt", gt, (k, 2))
    vis = _np("visible", visible, (k,))
    dist = _normalised_distances(pred, gt, vis > 0, np.ones((n, 2)))
    valid = dist[dist != -1]
    return float(valid.sum() / max(1, len(valid)))


def auc(pred: Any, gt: Any, visible: Any, norm: Any, num_thresholds: int = 20) -> float:
    """Area under the PCK curve for thresholds 0, 1/n, ..., (n-1)/n (mmpose ``keypoint_auc``)."""
    if int(num_thresholds) != num_thresholds or num_thresholds <= 0:
        raise ValueError(f"num_thresholds must be a positive integer, got {num_thresholds}")
    xs = [i / num_thresholds for i in range(int(num_thresholds))]
    ys = [pck(pred, gt, visible, norm, x)["mean"] for x in xs]
    return float(sum(ys) / num_thresholds)
