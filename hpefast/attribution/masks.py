"""Person masks for the foreground index, from COCO segmentations.

A COCO annotation's ``segmentation`` is a list of polygons, an uncompressed RLE (``counts`` a list) or a
compressed RLE (``counts`` a string); pycocotools' mask API turns each into a binary mask (the same
conversion as ``COCO.annToRLE`` / ``annToMask``). An annotation without one gets its box as the mask,
with a warning. The mask is then warped into the crop with the crop's own affine transform; as in PoseIG's
``JointsDataset`` the 0/1 mask is warped bilinearly and the pixels that stay at 1 form the crop mask.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

__all__ = ["segmentation_mask", "instance_mask", "crop_mask"]


def segmentation_mask(ann: dict[str, Any], height: int, width: int) -> np.ndarray | None:
    """Binary mask [height, width] uint8 of a COCO annotation's ``segmentation``; None when it has none
    (missing, empty list, or polygons with fewer than 3 points)."""
    from pycocotools import mask as mask_utils

    seg = ann.get("segmentation")
    if seg is None or (isinstance(seg, list) and not seg):
        return None
    if isinstance(seg, list):  # polygons: one or more parts, merged
        polys = [p for p in seg if isinstance(p, (list, tuple)) and len(p) >= 6]
        if not polys:
            return None
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    elif isinstance(seg, dict) and "counts" in seg and "size" in seg:
        if list(seg["size"]) != [height, width]:
            raise ValueError(
                f"annotation {ann.get('id')}: RLE size {seg['size']} does not match the image "
                f"{height}x{width}"
            )
        if isinstance(seg["counts"], list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(seg, height, width)
        else:
            counts = seg["counts"]
            rle = {"size": seg["size"], "counts": counts.encode() if isinstance(counts, str) else counts}
    else:
        raise ValueError(f"annotation {ann.get('id')}: unreadable 'segmentation' {str(seg)[:80]}")
    with warnings.catch_warnings():  # pycocotools' __array__ under numpy 2 (harmless)
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.ascontiguousarray(mask_utils.decode(rle), dtype=np.uint8)


def _box_mask(bbox: Sequence[float], height: int, width: int) -> np.ndarray:
    x, y, w, h = (float(v) for v in bbox)
    m = np.zeros((height, width), np.uint8)
    x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
    x1, y1 = min(int(np.ceil(x + w)), width), min(int(np.ceil(y + h)), height)
    m[y0:y1, x0:x1] = 1
    return m


def instance_mask(ann: dict[str, Any], height: int, width: int) -> tuple[np.ndarray, bool]:
    """(mask [height, width] uint8, from_segmentation): the segmentation's mask, or the box's with a
    warning when the annotation has no segmentation."""
    m = segmentation_mask(ann, height, width)
    if m is not None and m.any():
        return m, True
    if "bbox" not in ann:
        raise ValueError(f"annotation {ann.get('id')} has neither a segmentation nor a bbox for its mask")
    warnings.warn(
        f"annotation {ann.get('id')} has no segmentation: its box is used as the person mask (FI)",
        stacklevel=2,
    )
    return _box_mask(ann["bbox"], height, width), False


def crop_mask(mask: np.ndarray, matrix: np.ndarray, input_size: Sequence[int]) -> np.ndarray:
    """Warp an image mask into a crop: [h_img, w_img] 0/1 -> [H, W] float32 0/1.

    Args:
        mask: binary image mask.
        matrix: [2, 3] image -> crop affine (e.g. ``hpefast.data.transforms.get_udp_warp_matrix``).
        input_size: crop (W, H).
    """
    w, h = (int(v) for v in input_size)
    warped = cv2.warpAffine(mask.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    return (warped == 1).astype(np.float32)
