"""Training checkpoints: atomic writes, and the RNG states that make a resumed run repeat the original.

A training checkpoint (``checkpoints/last.pt``) is a ``torch.save`` dict holding only tensors and plain
Python values, so it loads with ``torch.load(weights_only=True)``: model and EMA weights, optimizer state,
step and epoch, the config, and the RNG states of every process (python ``random``, numpy's global
generator, torch CPU and CUDA). The trained model itself is also written in the hpefast model format
(safetensors + json, ``hpefast.models.checkpoint.save_model``) for evaluation, export and fine-tuning.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hpefast._io import atomic_path

__all__ = ["atomic_save", "load_state", "capture_rng", "restore_rng"]


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over ``path``.

    A crash mid-write leaves the previous checkpoint intact (the rename is atomic on POSIX).
    """
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
        raise ValueError(f"{path}: not a readable hpefast training checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != "hpefast-train-state":
        raise ValueError(f"{path}: not an hpefast training checkpoint (no 'format': 'hpefast-train-state')")
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
