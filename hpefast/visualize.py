"""Drawing skeletons on images (OpenCV, BGR uint8)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from hpefast.keypoints import KeypointSchema, get_schema

__all__ = ["draw_pose", "make_grid"]

# mmpose's palette: left joints green, right orange, centre blue (BGR)
_LEFT, _RIGHT, _CENTRE = (0, 255, 0), (0, 128, 255), (255, 153, 51)


def _side_colour(name: str) -> tuple[int, int, int]:
    n = name.lower()
    if n.startswith(("left", "l_")):
        return _LEFT
    if n.startswith(("right", "r_")):
        return _RIGHT
    return _CENTRE


def draw_pose(
    image: np.ndarray,
    keypoints: np.ndarray,
    schema: str | KeypointSchema,
    visible: np.ndarray | None = None,
    threshold: float = 0.0,
    radius: int | None = None,
    thickness: int | None = None,
    box: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Draw one or several poses on a copy of ``image``.

    Args:
        image: [H, W, 3] uint8 BGR (or [H, W] grey).
        keypoints: [K, 2|3] or [N, K, 2|3] image pixels; a third column is the visibility / score.
        schema: the keypoints' schema (for the skeleton and left/right colours).
        visible: [K] or [N, K] overriding the third column; joints with value <= ``threshold`` are not drawn.
        radius, thickness: marker radius and line width (default from the image size).
        box: optional [4] or [N, 4] (x, y, w, h) boxes drawn in white.
    Returns: [H, W, 3] uint8 BGR.
    """
    schema = get_schema(schema)
    img = np.asarray(image)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"draw_pose: image must be [H, W, 3] or [H, W], got shape {img.shape}")
    img = np.ascontiguousarray(img.astype(np.uint8, copy=True))
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[1] != schema.num_keypoints or kp.shape[2] not in (2, 3):
        raise ValueError(
            f"draw_pose: keypoints must be [K, 2|3] or [N, K, 2|3] with K={schema.num_keypoints} "
            f"({schema.name}), got shape {np.shape(keypoints)}"
        )
    if visible is not None:
        vis = np.asarray(visible, dtype=np.float64).reshape(kp.shape[:2])
    elif kp.shape[2] == 3:
        vis = kp[..., 2]
    else:
        vis = np.ones(kp.shape[:2])
    size = max(img.shape[:2])
    r = radius if radius is not None else max(2, int(round(size / 160)))
    t = thickness if thickness is not None else max(1, int(round(size / 320)))
    colours = [_side_colour(n) for n in schema.names]
    if box is not None:
        for b in np.asarray(box, dtype=np.float64).reshape(-1, 4):
            x, y, w, h = b
            p1, p2 = (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h)))
            cv2.rectangle(img, p1, p2, (255, 255, 255), t)
    for person, pv in zip(kp, vis, strict=True):
        on = (pv > threshold) & np.all(np.isfinite(person[:, :2]), axis=1)
        for a, b in schema.skeleton:
            if on[a] and on[b]:
                ca, cb = colours[a], colours[b]
                colour = ca if ca == cb else _CENTRE
                pa = tuple(int(round(v)) for v in person[a, :2])
                pb = tuple(int(round(v)) for v in person[b, :2])
                cv2.line(img, pa, pb, colour, t, cv2.LINE_AA)
        for k in np.flatnonzero(on):
            p = tuple(int(round(v)) for v in person[k, :2])
            cv2.circle(img, p, r, colours[k], -1, cv2.LINE_AA)
            cv2.circle(img, p, r, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def make_grid(images: Sequence[np.ndarray], columns: int = 4, cell: Sequence[int] = (320, 240)) -> np.ndarray:
    """Tile BGR images into one [rows * h, columns * w, 3] image, each fitted into a (w, h) cell."""
    if len(images) == 0:
        raise ValueError("make_grid: no images")
    if columns < 1:
        raise ValueError(f"make_grid: columns must be >= 1, got {columns}")
    cw, ch = int(cell[0]), int(cell[1])
    rows = -(-len(images) // columns)
    grid = np.full((rows * ch, columns * cw, 3), 32, np.uint8)
    for i, im in enumerate(images):
        s = min(cw / im.shape[1], ch / im.shape[0])
        w, h = max(1, int(im.shape[1] * s)), max(1, int(im.shape[0] * s))
        small = cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        y, x = (i // columns) * ch + (ch - h) // 2, (i % columns) * cw + (cw - w) // 2
        grid[y : y + h, x : x + w] = small
    return grid
