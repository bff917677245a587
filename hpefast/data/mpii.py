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
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpefast.data.base import AnnotationError, Instance, TopDownDataset, _Issues, load_json

__all__ = ["MpiiDataset", "load_headboxes"]

PIXEL_STD = 200.0


def load_headboxes(path: str | os.PathLike) -> np.ndarray:
    """[N, 2, 2] head boxes ((x1, y1), (x2, y2)) from a json list or the official MPII ``.mat``."""
    path = Path(path)
    if path.suffix == ".mat":
        from scipy.io import loadmat

        mat = loadmat(str(path))
        if "headboxes_src" not in mat:
            raise AnnotationError(f"{path}: no 'headboxes_src' in the .mat file")
        return np.transpose(np.asarray(mat["headboxes_src"], dtype=np.float64), (2, 0, 1))
    boxes = np.asarray(load_json(path), dtype=np.float64)
    if boxes.ndim != 3 or boxes.shape[1:] != (2, 2):
        raise AnnotationError(f"{path}: head boxes must be [N, 2, 2], got shape {boxes.shape}")
    return boxes


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
        headbox_file: head boxes (json [N, 2, 2] or official .mat), one per entry in file order.
        augment: a configured TopDownAugment.

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
    ):
        super().__init__("mpii", input_size, train, layout, dataset_id, strict, 1.0, augment)
        self.ann_file = Path(ann_file)
        self.image_root = Path(image_root)
        entries = load_json(self.ann_file)
        if not isinstance(entries, list):
            raise AnnotationError(f"{self.ann_file}: an MPII json must be a list of entries")
        headboxes = None
        if headbox_file is not None:
            headboxes = load_headboxes(headbox_file)
            if len(headboxes) != len(entries):
                raise AnnotationError(
                    f"{headbox_file}: {len(headboxes)} head boxes, {len(entries)} entries in {self.ann_file}"
                )
        issues = _Issues(str(self.ann_file), self.strict)
        for i, entry in enumerate(entries):
            inst = self._parse(i, entry, None if headboxes is None else headboxes[i], issues)
            if inst is not None:
                self.instances.append(inst)
        self._finish_init(issues)

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
