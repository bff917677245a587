"""Human3.6M protocol constants: subjects, the 15 actions, action-wise tables, and COCO-17 / union21 ->
H36M-17 keypoint construction.

Protocol (Martinez et al. 2017, VideoPose3D): train on S1, S5, S6, S7, S8, test on S9, S11; report the
error of each of the 15 actions (the frames of all its sequences, e.g. "Directions" and "Directions 1",
and all four cameras pooled) and their unweighted mean ("Average"): protocol #1 = MPJPE, #2 = P-MPJPE.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np
import torch

from hpefast.errors import InputError
from hpefast.keypoints.h36m import H36M_LEFT, H36M_NAMES, H36M_PARENTS, H36M_RIGHT, H36M_SCHEMA

__all__ = [
    "H36M_ACTIONS",
    "H36M_ACTION_ABBREV",
    "H36M_NAMES",
    "H36M_PARENTS",
    "H36M_LEFT",
    "H36M_RIGHT",
    "H36M_FLIP_INDEX",
    "TRAIN_SUBJECTS",
    "TEST_SUBJECTS",
    "H36M_32_TO_17",
    "canonical_action",
    "action_table",
    "format_action_tables",
    "to_h36m",
]

Array = TypeVar("Array", np.ndarray, torch.Tensor)

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")

# the order of the tables in the papers (Martinez 2017, VideoPose3D 2019)
H36M_ACTIONS = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether",
)  # fmt: skip
H36M_ACTION_ABBREV = dict(
    zip(
        H36M_ACTIONS,
        (
            "Dir.",
            "Disc.",
            "Eat",
            "Greet",
            "Phone",
            "Photo",
            "Pose",
            "Purch.",
            "Sit",
            "SitD.",
            "Smoke",
            "Wait",
            "WalkD.",
            "Walk",
            "WalkT.",
        ),  # fmt: skip
        strict=True,
    )
)
# names used by the raw release / other tools for the same actions
_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog", "WalkingTogether": "WalkTogether"}

H36M_FLIP_INDEX = H36M_SCHEMA.flip_index  # left <-> right partner of each joint

# The 17 joints VideoPose3D keeps of the 32 in the raw 3D data (remove_static_joints).
H36M_32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)


def canonical_action(name: str) -> str:
    """The protocol action of a sequence name: "Directions 1" / "Directions_1" -> "Directions",
    "TakingPhoto" -> "Photo", "WalkingDog 1" -> "WalkDog". ValueError for an unknown action."""
    if not isinstance(name, str):
        raise TypeError(f"action name must be a string, got {type(name).__name__}")
    base = re.sub(r"[ _]*\d+$", "", name.strip())
    base = _ALIASES.get(base, base)
    if base not in H36M_ACTIONS:
        raise InputError(f"unknown Human3.6M action {name!r}; actions: {list(H36M_ACTIONS)}")
    return base


def action_table(errors, actions: Sequence[str]) -> dict[str, float]:
    """Per-action mean of per-frame ``errors`` [N] (numpy or torch) for sequence names ``actions`` [N]
    (canonicalised by :func:`canonical_action`), in the papers' order, plus ``"Average"``: the unweighted
    mean over the actions present (the protocol's number when all 15 are). Actions with no frame are left
    out; frames are pooled over sequences, cameras and subjects within an action."""
    err = (
        errors.detach().double().cpu().numpy()
        if isinstance(errors, torch.Tensor)
        else np.asarray(errors, np.float64)
    )
    if err.ndim != 1:
        raise InputError(f"action_table: errors must be [N] (one value per frame), got shape {err.shape}")
    if len(actions) != err.shape[0]:
        raise InputError(f"action_table: {err.shape[0]} errors but {len(actions)} action names")
    if not np.all(np.isfinite(err)):
        raise InputError("action_table: errors contain NaN or inf")
    canon = np.array([canonical_action(a) for a in actions]) if len(actions) else np.array([], dtype=str)
    table: dict[str, float] = {}
    for act in H36M_ACTIONS:
        mask = canon == act
        if mask.any():
            table[act] = float(err[mask].mean())
    if table:
        table["Average"] = float(np.mean(list(table.values())))
    return table


def format_action_tables(tables: Mapping[str, Mapping[str, float]], digits: int = 1) -> str:
    """A markdown table, one row per entry of ``tables`` (e.g. {"Protocol #1 (MPJPE)": table, ...}) and one
    column per action (abbreviated as in the papers) plus "Avg"."""
    cols = [a for a in H36M_ACTIONS if any(a in t for t in tables.values())]
    head = "| | " + " | ".join(H36M_ACTION_ABBREV[a] for a in cols) + " | Avg |"
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    for name, t in tables.items():
        cells = [f"{t[a]:.{digits}f}" if a in t else "-" for a in cols]
        avg = f"{t['Average']:.{digits}f}" if "Average" in t else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {avg} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ mappings
# COCO-17 joints copied to H36M-17 (mmpose's convert_keypoint_definition): h36m index <- coco index
_COCO_COPY = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 9: 0, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}


def to_h36m(keypoints: Array, src: str = "coco", scores: Array | None = None):
    """Build H36M-17 keypoints from a 2D detector's COCO-17 or union21 keypoints.

    ``src="coco"`` (mmpose's ``convert_keypoint_definition`` for COCO detectors): pelvis = mean of the
    hips, thorax = mean of the shoulders, spine = mean of pelvis and thorax, head = mean of the eyes,
    neck_base = nose, limbs copied. ``src="union21"``: the same, except that the pelvis, thorax and head are
    the MPII pelvis, thorax and head_top the union model predicts (joints 20, 19, 17).

    Args:
        keypoints: [..., K, C] (K = 17 for coco, 21 for union21; C >= 2, e.g. x, y or x, y, z).
        scores: optional [..., K] confidences; a constructed joint gets the mean of its sources' scores.
    Returns:
        [..., 17, C] keypoints, or (keypoints, scores [..., 17]) when ``scores`` is given.
    """
    k_src = {"coco": 17, "union21": 21}
    if src not in k_src:
        raise InputError(f"to_h36m: src must be one of {sorted(k_src)}, got {src!r}")
    is_t = isinstance(keypoints, torch.Tensor)
    if not (is_t or isinstance(keypoints, np.ndarray)):
        raise TypeError(
            f"to_h36m: keypoints must be a numpy array or torch tensor, got {type(keypoints).__name__}"
        )
    if keypoints.ndim < 2 or keypoints.shape[-2] != k_src[src]:
        raise InputError(
            f"to_h36m: keypoints must be [..., {k_src[src]}, C] for src={src!r}, "
            f"got shape {tuple(keypoints.shape)}"
        )
    if scores is not None and tuple(scores.shape) != tuple(keypoints.shape[:-1]):
        raise InputError(f"to_h36m: scores must be {tuple(keypoints.shape[:-1])}, got {tuple(scores.shape)}")

    def build(x, feature_axis: bool):
        j = (lambda i: x[..., i, :]) if feature_axis else (lambda i: x[..., i])
        pelvis = (j(11) + j(12)) / 2 if src == "coco" else j(20)
        thorax = (j(5) + j(6)) / 2 if src == "coco" else j(19)
        head = (j(1) + j(2)) / 2 if src == "coco" else j(17)
        spine = (pelvis + thorax) / 2
        cols = []
        for h in range(17):
            if h in _COCO_COPY:
                cols.append(j(_COCO_COPY[h]))
            else:
                cols.append({0: pelvis, 7: spine, 8: thorax, 10: head}[h])
        axis = -2 if feature_axis else -1
        return torch.stack(cols, axis) if is_t else np.stack(cols, axis)

    out = build(keypoints, True)
    if scores is None:
        return out
    return out, build(scores, False)
