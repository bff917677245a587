"""MPII in the mmpose / HRNet json format.

Each entry: ``image`` (file name), ``center`` [2] and ``scale`` (person height / 200), 1-based like the
MATLAB originals, ``joints`` [16, 2] (1-based) and ``joints_vis`` [16]. As HRNet and mmpose do, the
centre moves down by 15 * scale pixels, the box is ``scale * 200 * 1.25`` pixels square, and centre and
joints are shifted to 0-based pixels. The square box is then widened or heightened to the input aspect.

Head boxes (for PCKh: head size = 0.6 x the head-box diagonal) come from, in order of precedence:
``headbox_file`` (a json list of [[x1, y1], [x2, y2]] per entry, or the official ``.mat`` with
``headboxes_src`` [2, 2, N], read with scipy), else a ``headbox`` key [[x1, y1], [x2, y2]] in each entry
(written by :mod:`hpefast.data.synthetic`). Only their size matters for PCKh; they are kept as given.
Missing head boxes are NaN.

The real ``mpii_train.json`` / ``mpii_val.json`` (mmpose, HRNet) carry no head boxes: for validation they
come from the official ``mpii_gt_val.mat`` (HRNet: ``gt_valid.mat``), one column per json entry in file
order, which also holds the ground truth (``pos_gt_src`` [16, 2, N] 1-based, ``jnt_missing`` [16, N]).
When it does, every entry's labelled joints are checked against it (to 0.5 px), so a head-box file of
another split or order is refused instead of silently scoring against the wrong heads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpefast.data.base import AnnotationError, Instance, TopDownDataset, _Issues, load_json
from hpefast.data.images import DEFAULT_MAX_IMAGE_PIXELS

__all__ = ["MpiiDataset", "load_headboxes", "read_headbox_file"]

PIXEL_STD = 200.0


def load_headboxes(path: str | os.PathLike) -> np.ndarray:
    """[N, 2, 2] head boxes ((x1, y1), (x2, y2)) from a json list or the official MPII ``.mat``."""
    return read_headbox_file(path)[0]


def read_headbox_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(head boxes [N, 2, 2], ground-truth joints [N, 16, 2] 1-based or None, labelled [N, 16] bool or
    None) of a head-box file: a json list [N, 2, 2] (boxes only) or the official MPII ``.mat``
    (``headboxes_src`` [2, 2, N]; ``pos_gt_src`` [16, 2, N] and ``jnt_missing`` [16, N] when present).
    AnnotationError names the file when it is neither."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MPII head-box file {str(path)!r} does not exist")
    if path.suffix != ".mat":
        boxes = np.asarray(load_json(path), dtype=np.float64)
        if boxes.ndim != 3 or boxes.shape[1:] != (2, 2):
            raise AnnotationError(f"{path}: head boxes must be [N, 2, 2], got shape {boxes.shape}")
        return boxes, None, None
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except (ValueError, TypeError, OSError) as exc:
        raise AnnotationError(f"{path}: not a MATLAB .mat file scipy can read ({exc})") from None
    if "headboxes_src" not in mat:
        raise AnnotationError(
            f"{path}: no 'headboxes_src' in the .mat file (expected the official mpii_gt_val.mat)"
        )
    hb = np.asarray(mat["headboxes_src"], dtype=np.float64)
    if hb.ndim != 3 or hb.shape[:2] != (2, 2):
        raise AnnotationError(f"{path}: 'headboxes_src' must be [2, 2, N], got {list(hb.shape)}")
    boxes = np.transpose(hb, (2, 0, 1))
    joints = labelled = None
    if "pos_gt_src" in mat and "jnt_missing" in mat:
        pos = np.asarray(mat["pos_gt_src"], dtype=np.float64)
        missing = np.asarray(mat["jnt_missing"])
        if pos.shape == (16, 2, len(boxes)) and missing.shape == (16, len(boxes)):
            joints = np.transpose(pos, (2, 0, 1))
            labelled = missing.T == 0
    return boxes, joints, labelled


def _check_gt_order(
    path: Any, ann_file: Path, entries: list, joints: np.ndarray, labelled: np.ndarray, tol: float = 0.5
) -> None:
    """AnnotationError when an entry's labelled joints differ from the head-box file's ground truth (the
    file belongs to another split, or another order)."""
    for i, entry in enumerate(entries):
        try:
            j = np.asarray(entry["joints"], dtype=np.float64)
            vis = np.asarray(entry.get("joints_vis", np.ones(16)), dtype=np.float64).reshape(-1) > 0
        except (TypeError, ValueError, KeyError):
            continue  # malformed entries are reported by the parser
        if j.shape != (16, 2) or vis.shape != (16,):
            continue
        both = vis & labelled[i]
        if both.any() and np.abs(j[both] - joints[i][both]).max() > tol:
            k = int(np.flatnonzero(both & (np.abs(j - joints[i]).max(-1) > tol))[0])
            raise AnnotationError(
                f"{path}: its ground truth does not match {ann_file} at entry {i} (joint {k}: json "
                f"{j[k].tolist()} vs .mat {joints[i][k].round(2).tolist()}); the head-box file must be "
                "the one of this split, one column per json entry in file order (mpii_gt_val.mat goes "
                "with mpii_val.json)"
            )


class MpiiDataset(TopDownDataset):
    """Top-down instances of an MPII json (mmpose / HRNet format).

    Args:
        ann_file: the json list of entries.
        image_root: folder holding the images.
        input_size: crop (W, H).
        train: random augmentation.
        layout: map keypoints into this schema (e.g. "union21"); None = "mpii".
        dataset_id: id given to every item.
        strict: raise on malformed entries / missing images (False: skip with a warning).
        headbox_file: head boxes (json [N, 2, 2] or the official ``mpii_gt_val.mat``), one per entry in
            file order; the .mat's ground truth is checked against the entries.
        augment: a configured TopDownAugment.
        max_image_pixels: images larger by their header are refused before decoding (None: no limit).

    ``ann_id`` is the entry's index in the file; ``image_id`` is the file name's number when it has one.
    """

    def __init__(
        self,
        ann_file: str | os.PathLike,
        image_root: str | os.PathLike,
        input_size: Sequence[int] = (192, 256),
        train: bool = False,
        layout=None,
        dataset_id: int = 0,
        strict: bool = True,
        headbox_file: str | os.PathLike | None = None,
        augment=None,
        *,
        max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    ):
        super().__init__(
            "mpii",
            input_size,
            train,
            layout,
            dataset_id,
            strict,
            1.0,
            augment,
            max_image_pixels=max_image_pixels,
        )
        self.ann_file = Path(ann_file)
        self.image_root = Path(image_root)
        entries = load_json(self.ann_file)
        if not isinstance(entries, list):
            raise AnnotationError(f"{self.ann_file}: an MPII json must be a list of entries")
        self.headbox_file = None if headbox_file is None else Path(headbox_file)
        self.num_entries = len(entries)
        headboxes = None
        if headbox_file is not None:
            headboxes, gt_joints, gt_labelled = read_headbox_file(headbox_file)
            if len(headboxes) != len(entries):
                raise AnnotationError(
                    f"{headbox_file}: {len(headboxes)} head boxes, {len(entries)} entries in {self.ann_file}"
                    " (the head-box file must be the one of this split: mpii_gt_val.mat goes with "
                    "mpii_val.json)"
                )
            if gt_joints is not None:
                _check_gt_order(headbox_file, self.ann_file, entries, gt_joints, gt_labelled)
        issues = _Issues(str(self.ann_file), self.strict)
        for i, entry in enumerate(entries):
            inst = self._parse(i, entry, None if headboxes is None else headboxes[i], issues)
            if inst is not None:
                self.instances.append(inst)
        self._finish_init(issues)

    @property
    def missing_headboxes(self) -> int:
        """Instances without a (finite) head box: PCKh cannot score them."""
        return sum(not np.all(np.isfinite(inst.extra["headbox"])) for inst in self.instances)

    def _parse(self, i: int, entry: Any, headbox: np.ndarray | None, issues: _Issues) -> Instance | None:
        if not isinstance(entry, dict):
            issues.report(i, "entry is not an object")
            return None
        missing = [key for key in ("image", "center", "scale", "joints") if key not in entry]
        if missing:
            issues.report(i, f"missing key(s) {missing}")
            return None
        k = self.schema.num_keypoints
        try:
            center = np.asarray(entry["center"], dtype=np.float64).reshape(-1)
            s = float(np.asarray(entry["scale"], dtype=np.float64).reshape(-1)[0])
            joints = np.asarray(entry["joints"], dtype=np.float64)
            vis = np.asarray(entry.get("joints_vis", np.ones(k)), dtype=np.float64).reshape(-1)
        except (TypeError, ValueError, IndexError):
            issues.report(i, "center / scale / joints / joints_vis are not numbers")
            return None
        if center.shape != (2,) or not np.all(np.isfinite(center)):
            issues.report(i, f"'center' must be 2 finite numbers, got {entry['center']!r:.60}")
            return None
        if not np.isfinite(s) or s <= 0:
            issues.report(i, f"non-positive or non-finite 'scale' {entry['scale']!r}")
            return None
        if joints.shape != (k, 2) or vis.shape != (k,) or not np.all(np.isfinite(joints)):
            issues.report(
                i, f"'joints' must be [{k}, 2] finite numbers, 'joints_vis' [{k}]; got {joints.shape}"
            )
            return None
        if headbox is None and "headbox" in entry:
            headbox = np.asarray(entry["headbox"], dtype=np.float64)
            if headbox.shape != (2, 2) or not np.all(np.isfinite(headbox)):
                issues.report(i, f"'headbox' must be [[x1, y1], [x2, y2]], got {entry['headbox']!r:.60}")
                return None
        if headbox is None:
            headbox = np.full((2, 2), np.nan)
        size = s * PIXEL_STD
        center = center.copy()
        if center[0] != -1:
            center[1] += 15.0 * s  # HRNet / mmpose: move the box down to avoid cropping the feet
        center -= 1.0  # MATLAB 1-based -> 0-based pixels
        scale = np.array([size, size]) * 1.25
        # fix the aspect to the input, enlarging the shorter side (mmpose 1.x TopdownAffine)
        if scale[0] > self.aspect_ratio * scale[1]:
            scale[1] = scale[0] / self.aspect_ratio
        else:
            scale[0] = scale[1] * self.aspect_ratio
        kps = np.zeros((k, 3))
        lab = vis > 0
        kps[lab, :2] = joints[lab] - 1.0
        kps[:, 2] = np.where(lab, vis, 0.0)
        name = str(entry["image"])
        stem = Path(name).stem
        image_id = int(stem) if stem.isdigit() else i
        bbox = np.array([center[0] - size / 2, center[1] - size / 2, size, size])
        return Instance(
            image_file=str(self.image_root / name),
            image_id=image_id,
            ann_id=i,
            bbox=bbox,
            center=center,
            scale=scale,
            keypoints=kps,
            score=1.0,
            area=size * size,
            extra={"headbox": headbox},
        )
