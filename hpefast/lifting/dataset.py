"""Human3.6M data in VideoPose3D's npz layout, and the (2D, 3D) sequences a lifting model trains on.

Files (``np.savez_compressed`` of pickled dicts, as VideoPose3D's ``prepare_data_h36m.py`` writes them):

* ``data_3d_h36m.npz``: ``positions_3d[subject][action]`` -> [T, J, 3] float32 WORLD coordinates in metres
  (J = 32 in the real release, reduced to the 17 protocol joints by :data:`H36M_32_TO_17`; 17 accepted).
* ``data_2d_h36m_gt.npz`` / ``data_2d_h36m_cpn_ft_h36m_dbb.npz``: ``positions_2d[subject][action]`` -> a
  list of 4 arrays [T, 17, 2] (one per camera, VideoPose3D's camera order) in PIXELS, and ``metadata``
  (``layout_name``, ``num_joints``, ``keypoints_symmetry`` = [left joints, right joints]).

Loading these needs ``allow_pickle=True``: load only files you trust. Every missing subject, action or
camera and every wrong shape raises a ValueError naming the key.

:func:`load_sequences` turns them into :class:`Sequence` clips per (subject, action, camera): 2D in
normalised screen coordinates (:func:`hpefast.lifting.cameras.normalize_screen_coordinates`), 3D in the
camera frame relative to the pelvis (root joint set to 0), the root trajectory kept aside, as VideoPose3D.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpefast._io import atomic_path
from hpefast.errors import AnnotationError, InputError
from hpefast.lifting.cameras import H36M_CAMERAS, H36MCamera, normalize_screen_coordinates, world_to_camera
from hpefast.lifting.h36m import H36M_32_TO_17, H36M_LEFT, H36M_RIGHT, canonical_action

__all__ = [
    "Sequence",
    "load_positions_3d",
    "load_positions_2d",
    "save_positions_3d",
    "save_positions_2d",
    "load_sequences",
    "H36M_2D_METADATA",
]

H36M_2D_METADATA: dict[str, Any] = {
    "layout_name": "h36m",
    "num_joints": 17,
    "keypoints_symmetry": [list(H36M_LEFT), list(H36M_RIGHT)],
}


@dataclass
class Sequence:
    """One clip seen by one camera.

    Attributes:
        subject, action, camera: identity ("S9", "Walking 1", camera index 0..3).
        poses_2d: [T, 17, 2] float32 normalised screen coordinates ([0, w] -> [-1, 1]).
        poses_3d: [T, 17, 3] float32 camera-frame joints relative to the pelvis, metres (joint 0 is 0).
        root: [T, 3] float32 camera-frame pelvis trajectory, metres.
        scores: [T, 17] 2D confidences when the 2D file has a third column, else None.
        camera_params: the :class:`H36MCamera`.
    """

    subject: str
    action: str
    camera: int
    poses_2d: np.ndarray
    poses_3d: np.ndarray
    root: np.ndarray
    camera_params: H36MCamera
    scores: np.ndarray | None = field(default=None)

    @property
    def num_frames(self) -> int:
        return int(self.poses_2d.shape[0])


def _load_npz(path: str | os.PathLike, key: str) -> tuple[Any, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        data = np.load(path, allow_pickle=True)
    except Exception as exc:
        raise AnnotationError(f"{path}: not a readable npz file ({exc})") from None
    with data:
        if key not in data.files:
            raise AnnotationError(f"{path}: no {key!r} array (has {data.files}); not a VideoPose3D file")
        value = data[key]
        meta = data["metadata"] if "metadata" in data.files else None
        value = value.item() if value.dtype == object and value.shape == () else value
        meta = meta.item() if meta is not None and meta.dtype == object and meta.shape == () else meta
    if not isinstance(value, dict):
        raise AnnotationError(f"{path}: {key!r} must be a dict of subjects, got {type(value).__name__}")
    return value, meta


def load_positions_3d(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """``positions_3d`` of a ``data_3d_h36m.npz``: {subject: {action: [T, 17, 3] float32 world, metres}}.
    32-joint arrays are reduced to the 17 protocol joints."""
    raw, _ = _load_npz(path, "positions_3d")
    out: dict[str, dict[str, np.ndarray]] = {}
    for subject, actions in raw.items():
        if not isinstance(actions, Mapping):
            raise AnnotationError(f"{path}: positions_3d[{subject!r}] must be a dict of actions")
        out[str(subject)] = {}
        for action, pos in actions.items():
            pos = np.asarray(pos)
            where = f"{path}: positions_3d[{subject!r}][{action!r}]"
            if pos.ndim != 3 or pos.shape[-1] != 3 or pos.shape[1] not in (17, 32):
                raise AnnotationError(f"{where} must be [T, 17 or 32, 3], got shape {pos.shape}")
            if pos.shape[1] == 32:
                pos = pos[:, list(H36M_32_TO_17)]
            if not np.all(np.isfinite(pos)):
                raise AnnotationError(f"{where} contains NaN or inf")
            out[str(subject)][str(action)] = pos.astype(np.float32)
    return out


def load_positions_2d(
    path: str | os.PathLike,
) -> tuple[dict[str, dict[str, list[np.ndarray]]], dict[str, Any]]:
    """(``positions_2d``, ``metadata``) of a VideoPose3D 2D file: {subject: {action: [4 x [T, 17, C]]}}
    in pixels (C = 2, or 3 with a score). Missing metadata defaults to :data:`H36M_2D_METADATA`."""
    raw, meta = _load_npz(path, "positions_2d")
    meta = dict(meta) if isinstance(meta, Mapping) else dict(H36M_2D_METADATA)
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject, actions in raw.items():
        if not isinstance(actions, Mapping):
            raise AnnotationError(f"{path}: positions_2d[{subject!r}] must be a dict of actions")
        out[str(subject)] = {}
        for action, cams in actions.items():
            where = f"{path}: positions_2d[{subject!r}][{action!r}]"
            if isinstance(cams, np.ndarray) and cams.dtype != object:
                cams = list(cams)
            cams = list(cams)
            arrays = []
            for i, kp in enumerate(cams):
                kp = np.asarray(kp)
                if kp.ndim != 3 or kp.shape[1] != 17 or kp.shape[2] not in (2, 3):
                    raise AnnotationError(
                        f"{where}[camera {i}] must be [T, 17, 2 or 3], got shape {kp.shape}"
                    )
                if not np.all(np.isfinite(kp)):
                    raise AnnotationError(f"{where}[camera {i}] contains NaN or inf")
                arrays.append(kp.astype(np.float32))
            out[str(subject)][str(action)] = arrays
    return out, meta


def _save(path: str | os.PathLike, **arrays: Any) -> Path:
    path = Path(path)
    if path.suffix != ".npz":
        raise AnnotationError(f"{path}: the file name must end in .npz")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **{k: np.array(v, dtype=object) for k, v in arrays.items()})
    return path


def save_positions_3d(path: str | os.PathLike, positions: Mapping[str, Mapping[str, np.ndarray]]) -> Path:
    """Write ``positions_3d`` ({subject: {action: [T, J, 3]}}, world metres) as VideoPose3D does."""
    data = {s: {a: np.asarray(p, np.float32) for a, p in acts.items()} for s, acts in positions.items()}
    return _save(path, positions_3d=data)


def save_positions_2d(
    path: str | os.PathLike,
    positions: Mapping[str, Mapping[str, list[np.ndarray]]],
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``positions_2d`` ({subject: {action: [per camera [T, 17, C] pixels]}}) and ``metadata``."""
    data = {
        s: {a: [np.asarray(k, np.float32) for k in cams] for a, cams in acts.items()}
        for s, acts in positions.items()
    }
    return _save(path, positions_2d=data, metadata=dict(metadata or H36M_2D_METADATA))


def load_sequences(
    positions_3d: Mapping[str, Mapping[str, np.ndarray]] | str | os.PathLike,
    positions_2d: Mapping[str, Mapping[str, list[np.ndarray]]] | str | os.PathLike,
    subjects: Iterable[str],
    actions: Iterable[str] | None = None,
    cameras: Iterable[int] | None = None,
    camera_table: Mapping[str, tuple[H36MCamera, ...]] = H36M_CAMERAS,
) -> list[Sequence]:
    """Pair 3D and 2D data into per-camera :class:`Sequence` clips.

    Args:
        positions_3d, positions_2d: loaded dicts or paths of the npz files.
        subjects: e.g. :data:`~hpefast.lifting.h36m.TRAIN_SUBJECTS`.
        actions: protocol actions to keep ("Walking" keeps "Walking" and "Walking 1"); None = all.
        cameras: camera indices to keep (0..3); None = all four.
    The 2D arrays may be longer than the 3D ones (VideoPose3D trims them); shorter is an error.
    """
    p3 = load_positions_3d(positions_3d) if isinstance(positions_3d, (str, os.PathLike)) else positions_3d
    p2 = positions_2d
    if isinstance(positions_2d, (str, os.PathLike)):
        p2, _ = load_positions_2d(positions_2d)
    subjects = list(subjects)
    if not subjects:
        raise InputError("load_sequences: subjects is empty")
    keep_actions = None if actions is None else {canonical_action(a) for a in actions}
    cams = None if cameras is None else [int(c) for c in cameras]
    out: list[Sequence] = []
    for subject in subjects:
        if subject not in p3:
            raise AnnotationError(f"subject {subject!r} is not in the 3D data (has {sorted(p3)})")
        if subject not in p2:
            raise AnnotationError(f"subject {subject!r} is not in the 2D data (has {sorted(p2)})")
        if subject not in camera_table:
            raise AnnotationError(f"subject {subject!r} has no cameras (known: {sorted(camera_table)})")
        cam_params = camera_table[subject]
        chosen = [a for a in p3[subject] if keep_actions is None or canonical_action(a) in keep_actions]
        if keep_actions is not None:
            found = {canonical_action(a) for a in chosen}
            missing = sorted(keep_actions - found)
            if missing:
                raise AnnotationError(
                    f"subject {subject!r}: no sequence of action(s) {missing} in the 3D data"
                )
        for action in chosen:
            if action not in p2[subject]:
                raise AnnotationError(
                    f"action {action!r} of subject {subject!r} is in the 3D data but not in the 2D data"
                )
            world = np.asarray(p3[subject][action], np.float64)
            kps = p2[subject][action]
            for c in range(len(cam_params)) if cams is None else cams:
                if not 0 <= c < len(cam_params):
                    raise AnnotationError(f"camera index {c} out of range 0..{len(cam_params) - 1}")
                if c >= len(kps):
                    raise AnnotationError(
                        f"positions_2d[{subject!r}][{action!r}] has {len(kps)} cameras, no camera {c}"
                    )
                kp = np.asarray(kps[c])
                if kp.shape[0] < world.shape[0]:
                    raise AnnotationError(
                        f"positions_2d[{subject!r}][{action!r}][camera {c}] has {kp.shape[0]} frames, fewer "
                        f"than the {world.shape[0]} frames of the 3D data"
                    )
                kp = kp[: world.shape[0]]
                cam = cam_params[c]
                pos = world_to_camera(world, cam.orientation, cam.translation)
                root = pos[:, :1].copy()
                rel = pos - root
                out.append(
                    Sequence(
                        subject=subject,
                        action=action,
                        camera=c,
                        poses_2d=normalize_screen_coordinates(
                            kp[..., :2].astype(np.float64), cam.res_w, cam.res_h
                        ).astype(np.float32),
                        poses_3d=rel.astype(np.float32),
                        root=root[:, 0].astype(np.float32),
                        camera_params=cam,
                        scores=kp[..., 2].astype(np.float32) if kp.shape[-1] == 3 else None,
                    )
                )
    return out
