"""Training checkpoints: atomic writes, and the RNG states that make a resumed run repeat the original.

A training checkpoint (``checkpoints/last.pt``) is a ``torch.save`` dict holding only tensors and plain
Python values, so it loads with ``torch.load(weights_only=True)``: model and EMA weights, optimizer state,
step and epoch, the config, and the RNG states of every process (python ``random``, numpy's global
generator, torch CPU and CUDA). The trained model itself is also written in the hpefast model format
(safetensors + json, ``hpefast.models.checkpoint.save_model``) for evaluation, export and fine-tuning.

The checkpoint is self-contained (nothing in it refers to files that must still exist: resuming does not
read ``model.pretrained`` again) and carries ``"sha256"``, a digest of everything else in it
(:func:`state_digest`), so a flipped byte is reported with the path instead of resuming from it.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hpefast._io import atomic_path
from hpefast.errors import CheckpointError

__all__ = [
    "atomic_save",
    "load_state",
    "capture_rng",
    "restore_rng",
    "state_digest",
    "is_training_checkpoint",
    "load_training_checkpoint",
]

DIGEST_KEY = "sha256"


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(memoryview(t.view(-1).view(torch.uint8).numpy()))
    elif isinstance(obj, dict):
        h.update(b"{")
        for k in sorted(obj, key=str):
            h.update(repr(str(k)).encode() + b":")
            _feed(h, obj[k])
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):  # pickling may turn one into the other
        h.update(b"[")
        for v in obj:
            _feed(h, v)
            h.update(b",")
        h.update(b"]")
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def state_digest(state: dict[str, Any]) -> str:
    """Hex SHA-256 of a checkpoint dict (tensors by dtype, shape and bytes; other values by ``repr``),
    leaving out its own ``"sha256"`` entry."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in state.items() if k != DIGEST_KEY})
    return h.hexdigest()


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over ``path``.

    A crash mid-write leaves the previous checkpoint intact (the rename is atomic on POSIX). A dict gets
    a ``"sha256"`` entry (:func:`state_digest`) that :func:`load_state` checks.
    """
    if isinstance(obj, dict):
        obj = {**obj, DIGEST_KEY: state_digest(obj)}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def load_state(path: str | Path) -> dict[str, Any]:
    """Load a training checkpoint written by the trainer (``weights_only`` unpickling: no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, not a torch file, unsafe pickle
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable hpefast training checkpoint ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != "hpefast-train-state":
        raise CheckpointError(
            f"{path}: not an hpefast training checkpoint (no 'format': 'hpefast-train-state')"
        )
    stored = state.get(DIGEST_KEY)
    if stored is not None and stored != state_digest(state):
        raise CheckpointError(
            f"{path}: checksum mismatch, the checkpoint is corrupt (changed since it was written); "
            "resume from another copy"
        )
    return state


def capture_rng() -> dict[str, Any]:
    """This process's RNG states as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [
            kind,
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            int(pos),
            int(has_gauss),
            float(cached),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


TRAIN_STATE_FORMAT = "hpefast-train-state"


def is_training_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a training run's checkpoint (``checkpoints/last.pt``: a torch file holding
    ``{"format": "hpefast-train-state", ...}``). Read memory-mapped with ``weights_only=True``, so
    asking costs little even for a multi-GB official file."""
    import torch

    p = Path(path)
    if not p.is_file() or p.suffix not in (".pt", ".pth"):
        return False
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not a zip torch file, or an official file with pickled extras: not ours
        return False
    return isinstance(obj, dict) and obj.get("format") == TRAIN_STATE_FORMAT


def load_training_checkpoint(path: str | Path, map_location: str = "cpu") -> Any:
    """The model of a training checkpoint (``checkpoints/last.pt``, also of a stopped run): rebuilt from
    its config, with its EMA weights when it has them, in eval mode."""
    from hpefast.engine.builders import build_model
    from hpefast.engine.config import TrainConfig, from_dict

    state = load_state(Path(path))
    cfg = from_dict(TrainConfig, state["config"])
    try:
        model = build_model(cfg, num_datasets=len(cfg.data.datasets), pretrained=False)
    except TypeError:  # an engine without the ``pretrained`` switch
        model = build_model(cfg, num_datasets=len(cfg.data.datasets))
    weights = state["ema"]["weights"] if state.get("ema") else state["model"]
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: its weights do not match its own config ({exc})") from None
    return model.to(map_location).eval()
