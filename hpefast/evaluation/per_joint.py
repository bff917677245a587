"""Per-joint AP: COCO keypoint AP with the OKS of one joint at a time.

For joint j, every instance keeps its area and box, the OKS is that of joint j alone
(``exp(-d_j^2 / (2 s^2 k_j^2))``), and ground truth that does not label joint j is ignored (as an
instance with no labelled joint is in the full evaluation). This is exactly pycocotools run on the
dataset reduced to joint j with ``num_keypoints = [v_j > 0]``, which is how the tests check it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hpefast.evaluation.cocoeval import COCOeval, _columns
from hpefast.evaluation.columns import AnnColumns


class _JointView:
    """A COCO-like object whose columns hold one joint (the rest of the API is delegated)."""

    def __init__(self, coco: Any, cols: AnnColumns) -> None:
        self._coco = coco
        self._cols = cols
        self.dataset = coco.dataset

    def columns(self) -> AnnColumns:
        return self._cols

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coco, name)


def _one_joint(cols: AnnColumns, j: int, k: int, gt: bool, what: str) -> AnnColumns:
    kp = cols.keypoints_for(k, what)[:, j : j + 1, :].reshape(len(cols), 3)
    out = dataclasses.replace(cols, keypoints=np.ascontiguousarray(kp), bad_keypoints=None)
    if gt:
        out.num_keypoints = (kp[:, 2] > 0).astype(np.float64)
    return out


def per_joint_ap(
    cocoGt: Any,
    cocoDt: Any,
    sigmas: Any = None,
    names: list[str] | None = None,
    use_area: bool = True,
    **kwargs: Any,
) -> dict[str, float]:
    """AP@[.5:.95] (all areas, maxDets 20) of each joint alone, plus ``"mean"`` over the joints.

    Args:
        cocoGt, cocoDt: ground truth and results (hpefast or pycocotools COCO objects).
        sigmas: as :class:`COCOeval` (schema name, [K] values or None for COCO).
        names: K joint names for the keys (default: the category's ``keypoints`` list, else "0".."K-1").
        use_area, **kwargs: passed to :class:`COCOeval` (e.g. ``compat``, ``fix_zero_id``).

    Returns:
        {joint name: AP in [0, 1] (or -1 when no ground truth labels that joint)} and "mean" (over the
        joints with an AP).
    """
    probe = COCOeval(cocoGt, cocoDt, "keypoints", sigmas=sigmas, use_area=use_area, **kwargs)
    sig = probe.params.kpt_oks_sigmas
    k = len(sig)
    if names is None:
        cats = list(getattr(cocoGt, "cats", {}).values())
        names = list(cats[0].get("keypoints", [])) if cats else []
        if len(names) != k:
            names = [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries, expected {k} (one per sigma)")
    gt_cols, dt_cols = _columns(cocoGt, "cocoGt"), _columns(cocoDt, "cocoDt")
    out: dict[str, float] = {}
    for j in range(k):
        gt_j = _JointView(cocoGt, _one_joint(gt_cols, j, k, True, "ground truth"))
        dt_j = _JointView(cocoDt, _one_joint(dt_cols, j, k, False, "results"))
        E = COCOeval(gt_j, dt_j, "keypoints", sigmas=sig[j : j + 1], use_area=use_area, **kwargs)
        E.params.imgIds = list(probe.params.imgIds)
        E.params.catIds = list(probe.params.catIds)
        E.evaluate()
        E.accumulate()
        s = E.eval["precision"][:, :, :, 0, -1]
        out[names[j]] = float(np.mean(s[s > -1])) if np.any(s > -1) else -1.0
    valid = [v for v in out.values() if v > -1]
    out["mean"] = float(np.mean(valid)) if valid else -1.0
    return out
