"""Annotations as columns: the arrays the compiled evaluation reads.

A COCO annotation list is turned once into flat numpy arrays (ids, image and category ids, keypoints,
areas, boxes, crowd flags, scores). Missing optional fields become NaN (or 0 for ``iscrowd``) so the
evaluator can raise a clear error naming the annotation only when a field it needs is absent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_NAN = float("nan")


@dataclass
class AnnColumns:
    """Columns of N annotations (ground truth or results), in list order.

    Attributes:
        ids: [N] annotation ids (float64, as pycocotools stores matches).
        image_ids: [N] image ids (int64, or object for non-integer ids).
        category_ids: [N] category ids (int64, or object).
        keypoints: [N, L] float64 flat (x, y, v) triplets, or None when lengths differ or are missing
            (``bad_keypoints`` then names the first offending annotation).
        area: [N] float64, NaN where absent.
        bbox: [N, 4] float64, NaN where absent.
        iscrowd: [N] uint8 (0 where absent).
        num_keypoints: [N] float64, NaN where absent.
        score: [N] float64, NaN where absent.
        id_keys: [N] the annotation ids exactly (int64, or object for other ids), for duplicate checks;
            None for results (ids 1..N).
    """

    ids: np.ndarray
    image_ids: np.ndarray
    category_ids: np.ndarray
    keypoints: np.ndarray | None
    bad_keypoints: str | None
    area: np.ndarray
    bbox: np.ndarray
    iscrowd: np.ndarray
    num_keypoints: np.ndarray
    score: np.ndarray
    id_keys: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def keypoints_for(self, num_keypoints: int, what: str) -> np.ndarray:
        """The keypoints as [N, K, 3], or ValueError naming the first annotation with a wrong count."""
        n = len(self)
        if n == 0:
            return np.zeros((0, num_keypoints, 3))
        if self.keypoints is None:
            raise ValueError(f"{what}: {self.bad_keypoints}")
        if self.keypoints.shape[1] != 3 * num_keypoints:
            raise ValueError(
                f"{what}: annotation id {_fmt(self.ids[0])} (image {self.image_ids[0]}) has "
                f"{self.keypoints.shape[1]} keypoint values, expected {3 * num_keypoints} "
                f"(3 x {num_keypoints} sigmas)"
            )
        return self.keypoints.reshape(n, num_keypoints, 3)


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _ids_array(values: list[Any], what: str) -> np.ndarray:
    """Ids as int64 when every one is a Python / numpy integer in range, else an object array of the
    values themselves: lookups then use Python's equality and hashing, exactly as pycocotools' dicts
    (``"785"`` is not ``785``, ``1.5`` stays ``1.5``, ``2**63`` is not wrapped)."""
    if set(map(type, values)) <= {int}:
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            pass
    elif all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        try:
            return np.array([int(v) for v in values], dtype=np.int64)
        except OverflowError:
            pass
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def int_positions(values: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each int64 value in the sorted unique int64 ``keys`` and whether it is there (the index is
    0 where it is not). Ids in a compact range (COCO's) take a lookup table, others a binary search."""
    n = len(values)
    if n == 0 or len(keys) == 0:
        return np.zeros(n, np.int64), np.zeros(n, bool)
    lo, hi = int(keys[0]), int(keys[-1])
    span = hi - lo + 1
    if span <= max(4 * (len(keys) + n), 1 << 16) and span <= 1 << 24:
        table = np.full(span, -1, np.int64)
        table[keys - lo] = np.arange(len(keys))
        inside = (values >= lo) & (values <= hi)
        pos = table[np.where(inside, values - lo, 0)]
        found = inside & (pos >= 0)
        return np.where(found, pos, 0), found
    pos = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    found = keys[pos] == values
    return np.where(found, pos, 0).astype(np.int64), np.asarray(found, bool)


def _float_column(values: list[Any], name: str, label, what: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        for i, v in enumerate(values):
            try:
                float(v)
            except (TypeError, ValueError):
                raise ValueError(f"{what}: {label(i)} has a non-numeric {name!r}: {v!r}") from None
        raise


def columns_from_annotations(
    anns: Sequence[dict], what: str = "annotations", ids: Sequence[Any] | None = None
) -> AnnColumns:
    """Build :class:`AnnColumns` from COCO annotation dicts (one pass per field, vectorised).

    ``ids`` replaces the annotations' own ``id`` fields (results get 1..N before they have ids); errors
    then name the result by its list position.
    """
    results = ids is not None
    n = len(anns)
    for i, a in enumerate(anns):
        if not isinstance(a, dict):
            raise TypeError(f"{what}: entry {i} is a {type(a).__name__}, expected a dict")
    try:
        ids = [a["id"] for a in anns] if ids is None else list(ids)
        image_ids = [a["image_id"] for a in anns]
        category_ids = [a["category_id"] for a in anns]
    except KeyError as exc:
        i = next(i for i, a in enumerate(anns) if exc.args[0] not in a)
        name = f"annotation id {ids[i]}" if ids is not None and i < len(ids) else f"entry {i}"
        raise ValueError(f"{what}: {name} has no {exc.args[0]!r}") from None

    def label(i: int) -> str:
        return (
            f"result {i} (image {image_ids[i]})"
            if results
            else f"annotation id {_fmt(ids[i])} (image {image_ids[i]})"
        )

    ids_f = _float_column(ids, "id", label, what)
    kp_list = [a.get("keypoints") for a in anns]
    keypoints, bad = None, None
    if n:
        try:
            keypoints = np.asarray(kp_list, dtype=np.float64)
            if keypoints.ndim == 3 and keypoints.shape[2] == 3:  # [K, 3] arrays instead of flat lists
                keypoints = keypoints.reshape(n, -1)
            if keypoints.ndim != 2:
                raise ValueError
        except (TypeError, ValueError):
            keypoints = None
            lengths = [len(k) if isinstance(k, (list, tuple, np.ndarray)) else -1 for k in kp_list]
            ref = max(set(lengths), key=lengths.count)
            i = next((i for i, ln in enumerate(lengths) if ln != ref or ln < 0), 0)
            kp = kp_list[i]
            if kp is None:
                bad = f"{label(i)} has no 'keypoints'"
            elif lengths[i] != ref:
                bad = f"{label(i)} has {lengths[i]} keypoint values, others have {ref}"
            else:
                bad = f"{label(i)} has non-numeric keypoints"
        if keypoints is not None and keypoints.shape[1] % 3 != 0:
            bad = f"{label(0)} has {keypoints.shape[1]} keypoint values, not a multiple of 3"
            keypoints = None
    area = _float_column([a.get("area", _NAN) for a in anns], "area", label, what)
    boxes = [a.get("bbox") for a in anns]
    bbox = np.full((n, 4), _NAN)
    if n and boxes.count(None) != n:
        try:
            bbox = np.asarray(
                [b if b is not None and len(b) == 4 else (_NAN,) * 4 for b in boxes], dtype=np.float64
            )
        except (TypeError, ValueError):
            i = next(i for i, b in enumerate(boxes) if b is not None and not _is_box(b))
            raise ValueError(f"{what}: {label(i)} has a malformed 'bbox': {boxes[i]!r}") from None
        bbox = bbox.reshape(n, 4)
    iscrowd = np.asarray([1 if a.get("iscrowd", 0) else 0 for a in anns], dtype=np.uint8)
    num_kp = _float_column([a.get("num_keypoints", _NAN) for a in anns], "num_keypoints", label, what)
    score = _float_column([a.get("score", _NAN) for a in anns], "score", label, what)
    return AnnColumns(
        ids=ids_f,
        image_ids=_ids_array(image_ids, what),
        category_ids=_ids_array(category_ids, what),
        keypoints=keypoints,
        bad_keypoints=bad,
        area=area,
        bbox=bbox,
        iscrowd=iscrowd,
        num_keypoints=num_kp,
        score=score,
        id_keys=None if results else _ids_array(ids, what),
    )


def _is_box(b: Any) -> bool:
    try:
        return len(b) == 4 and all(math.isfinite(float(v)) or math.isnan(float(v)) for v in b)
    except (TypeError, ValueError):
        return False
