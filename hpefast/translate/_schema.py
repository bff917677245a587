"""Joint correspondences between two keypoint schemas (``hpefast.keypoints``), as index tables and arrays."""

from __future__ import annotations

from typing import Any

import numpy as np


def get_schema(name: str) -> Any:
    """The ``KeypointSchema`` called ``name`` (see ``hpefast.keypoints.get_schema``)."""
    if not isinstance(name, str):
        raise TypeError(f"schema name must be a str, got {type(name).__name__}")
    from hpefast.keypoints import get_schema as _get

    return _get(name)


def index_map(src: str, dst: str) -> np.ndarray:
    """``[Kd]`` int64: for each joint of ``dst`` the index of the same joint in ``src``, or -1 when ``src``
    has no counterpart. Example: ``index_map("coco", "mpii")[0] == 16`` (MPII right_ankle is COCO's
    right_ankle)."""
    from hpefast.keypoints import mapping_index

    return np.asarray(mapping_index(src, dst), dtype=np.int64)


def map_array(keypoints: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Map ``[..., Ks, 3]`` (x, y, score-or-visibility) from ``src`` to ``dst`` -> ``[..., Kd, 3]``.

    Joints without a counterpart get (0, 0, 0). This is the plain mapping baseline.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    idx = index_map(src, dst)
    out = np.zeros(keypoints.shape[:-2] + (len(idx), 3), dtype=np.float64)
    has = idx >= 0
    out[..., has, :] = keypoints[..., idx[has], :]
    return out
