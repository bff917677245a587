"""Validation of what a user hands the predictor: one image and its person boxes.

Errors are TypeError (wrong type / dtype) or ValueError (wrong shape / value) and name the argument and,
for boxes, the offending row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hpefast.errors import InputError

CHANNEL_ORDERS = ("bgr", "rgb")


def check_image(image: Any) -> np.ndarray | torch.Tensor:
    """A [H, W, 3] uint8 image as numpy or torch (returned unchanged, numpy made contiguous).

    Raises TypeError for another type or dtype, ValueError for another shape or an empty image.
    """
    if isinstance(image, np.ndarray):
        dtype = image.dtype
    elif isinstance(image, torch.Tensor):
        dtype = image.dtype
    else:
        raise TypeError(
            f"image must be a numpy array or torch tensor [H, W, 3] uint8, got {type(image).__name__}"
        )
    if dtype not in (np.uint8, torch.uint8):
        hint = " (scale it to 0..255 and convert with .astype(np.uint8))" if "float" in str(dtype) else ""
        raise TypeError(f"image must be uint8 [H, W, 3], got dtype {dtype}{hint}")
    if image.ndim != 3 or image.shape[2] != 3:
        hint = ""
        if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
            hint = " (a grayscale image: convert with cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))"
        elif image.ndim == 3 and image.shape[2] == 4:
            hint = " (an image with alpha: convert with cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))"
        elif image.ndim == 3 and image.shape[0] == 3:
            hint = " (channels first: pass it as [H, W, 3])"
        raise InputError(f"image must have shape [H, W, 3], got {list(image.shape)}{hint}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"image is empty: shape {list(image.shape)}")
    if isinstance(image, np.ndarray) and not image.flags.c_contiguous:
        image = np.ascontiguousarray(image)
    return image


def check_boxes(boxes: Any, image_size: tuple[int, int]) -> np.ndarray:
    """Person boxes as float64 [N, 4] (x, y, w, h) image pixels; N may be 0.

    Accepts a numpy array, torch tensor or nested sequence of shape [N, 4] (or an empty sequence).
    ``image_size`` is (W, H). Raises ValueError naming the row for a non-finite box, a box with
    w <= 0 or h <= 0, or a box that does not overlap the image.
    """
    if isinstance(boxes, torch.Tensor):
        arr = boxes.detach().cpu().numpy()
    elif isinstance(boxes, (np.ndarray, list, tuple)):
        if isinstance(boxes, (list, tuple)) and len(boxes) == 0:
            return np.zeros((0, 4), dtype=np.float64)
        try:
            arr = np.asarray(boxes)
        except ValueError:
            raise InputError("boxes must be [N, 4] (x, y, w, h): rows of unequal length") from None
    else:
        raise TypeError(f"boxes must be an array, tensor or list of [x, y, w, h], got {type(boxes).__name__}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"boxes must be numeric [N, 4] (x, y, w, h), got dtype {arr.dtype}")
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InputError(f"boxes must have shape [N, 4] (x, y, w, h), got {list(arr.shape)}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"boxes[{i}] = {arr[i].tolist()} is not finite")
    small = (arr[:, 2] <= 0) | (arr[:, 3] <= 0)
    if small.any():
        i = int(np.flatnonzero(small)[0])
        raise InputError(f"boxes[{i}] = {arr[i].tolist()} has zero or negative size (boxes are x, y, w, h)")
    width, height = image_size
    outside = (
        (arr[:, 0] + arr[:, 2] <= 0)
        | (arr[:, 1] + arr[:, 3] <= 0)
        | (arr[:, 0] >= width)
        | (arr[:, 1] >= height)
    )
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise InputError(
            f"boxes[{i}] = {arr[i].tolist()} lies entirely outside the {width}x{height} image "
            "(boxes are x, y, w, h)"
        )
    return arr


def check_channel_order(order: Any) -> str:
    """``order`` in lower case, ``"bgr"`` (as ``cv2.imread`` gives) or ``"rgb"``; ValueError otherwise."""
    if not isinstance(order, str) or order.lower() not in CHANNEL_ORDERS:
        raise InputError(f"channel_order must be 'bgr' (as cv2.imread gives) or 'rgb', got {order!r}")
    return order.lower()
