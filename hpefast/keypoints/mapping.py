"""Mapping keypoints between schemas by joint identity (``KeypointSchema.keys``).

COCO <-> MPII, COCO <-> AIC, the union layouts and their inverses all follow from the keys; e.g. the
MPII -> COCO index table this produces is DESIGN.md's {0:16, 1:14, 2:12, 3:11, 4:13, 5:15, 10:10, 11:8,
12:6, 13:5, 14:7, 15:9}.
"""

from __future__ import annotations

import functools
from typing import TypeVar

import numpy as np
import torch

from hpefast.errors import InputError
from hpefast.keypoints.schema import KeypointSchema, get_schema

__all__ = ["map_keypoints", "mapping_index"]

Array = TypeVar("Array", np.ndarray, torch.Tensor)


@functools.lru_cache(maxsize=256)
def _index(src: str, dst: str) -> tuple[int, ...]:
    s, d = get_schema(src), get_schema(dst)
    where = {k: i for i, k in enumerate(s.keys)}
    return tuple(where.get(k, -1) for k in d.keys)


def _clear_cache() -> None:
    _index.cache_clear()


def mapping_index(src: str | KeypointSchema, dst: str | KeypointSchema) -> np.ndarray:
    """[K_dst] int64: for each joint of ``dst``, its index in ``src``, or -1 when ``src`` lacks it.

    >>> mapping_index("mpii", "coco")[16]   # COCO right_ankle <- MPII joint 0
    0
    """
    s, d = get_schema(src), get_schema(dst)
    if s.name in _registered() and d.name in _registered():
        return np.array(_index(s.name, d.name), dtype=np.int64)
    where = {k: i for i, k in enumerate(s.keys)}
    return np.array([where.get(k, -1) for k in d.keys], dtype=np.int64)


def _registered() -> set[str]:
    from hpefast.keypoints.schema import _REGISTRY

    return set(_REGISTRY)


def map_keypoints(
    keypoints: Array, visible: Array, src: str | KeypointSchema, dst: str | KeypointSchema
) -> tuple[Array, Array]:
    """Re-index keypoints from schema ``src`` to schema ``dst``.

    Args:
        keypoints: [..., K_src, C] (C >= 1, usually 2: x, y pixels), numpy array or torch tensor.
        visible: [..., K_src] visibility / labelled flags or scores (any dtype), same library as keypoints.
    Returns:
        (keypoints [..., K_dst, C], visible [..., K_dst]) of the same library, dtype and device. Joints of
        ``dst`` absent from ``src`` get coordinates 0 and visible 0 (unlabelled: no loss, never a target).
    """
    s, d = get_schema(src), get_schema(dst)
    is_torch = isinstance(keypoints, torch.Tensor)
    if is_torch != isinstance(visible, torch.Tensor) or not (is_torch or isinstance(keypoints, np.ndarray)):
        raise TypeError(
            "map_keypoints: keypoints and visible must both be numpy arrays or both torch tensors, got "
            f"{type(keypoints).__name__} and {type(visible).__name__}"
        )
    if keypoints.ndim < 2 or keypoints.shape[-2] != s.num_keypoints:
        raise InputError(
            f"map_keypoints: keypoints must be [..., {s.num_keypoints}, C] for schema {s.name!r}, "
            f"got shape {tuple(keypoints.shape)}"
        )
    if tuple(visible.shape) != tuple(keypoints.shape[:-1]):
        raise InputError(
            f"map_keypoints: visible must be {tuple(keypoints.shape[:-1])}, got {tuple(visible.shape)}"
        )
    idx = mapping_index(s, d)
    present = idx >= 0
    safe = np.where(present, idx, 0)
    if is_torch:
        t_idx = torch.as_tensor(safe, device=keypoints.device)
        t_mask = torch.as_tensor(present, device=keypoints.device)
        kp = keypoints.index_select(-2, t_idx) * t_mask.unsqueeze(-1).to(keypoints.dtype)
        if visible.dtype == torch.bool:
            vis = visible.index_select(-1, t_idx) & t_mask
        else:
            vis = visible.index_select(-1, t_idx) * t_mask.to(visible.dtype)
        return kp, vis
    kp = np.take(keypoints, safe, axis=-2)
    vis = np.take(visible, safe, axis=-1)
    kp = np.where(present[:, None], kp, np.zeros((), dtype=kp.dtype))
    vis = np.where(present, vis, np.zeros((), dtype=vis.dtype))
    return kp, vis
