"""Training and evaluation of lifting networks, and the lifter checkpoint format.

A trained lifter is a folder ``model/`` with ``model.safetensors`` and ``config.json``
(``{"format": "hpefast.lifter", "version", "config": LiftConfig, "metadata"}``), written atomically;
:func:`load_lifter` rebuilds it. Training state for resume is ``checkpoints/last.pt`` (weights, optimizer,
epoch, step, RNG states; ``torch.load(weights_only=True)``), written at every epoch end.

Training follows VideoPose3D: samples are (window of ``receptive_field`` 2D frames, 3D of its centre
frame), sequences padded at both ends by repeating the edge frames; the 3D target is root-relative with
the root joint at 0; loss = MPJPE; Adam (amsgrad) with the learning rate multiplied by ``lr_decay`` after
each epoch; flip augmentation mirrors x in both 2D and 3D and swaps left and right joints for a random half
of each batch. Evaluation sets the predicted root to 0, optionally averages with the flipped input's
prediction, and reports protocol #1 (MPJPE) and #2 (P-MPJPE) in millimetres per action and overall.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hpefast._io import atomic_path, atomic_write_text
from hpefast.errors import CheckpointError, InputError
from hpefast.lifting.config import LiftConfig, dump_yaml
from hpefast.lifting.dataset import Sequence, load_positions_2d, load_positions_3d, load_sequences
from hpefast.lifting.h36m import H36M_FLIP_INDEX, action_table
from hpefast.lifting.metrics import mpjpe, p_mpjpe
from hpefast.lifting.models import build_lifter

__all__ = [
    "LiftResult",
    "train_lifter",
    "evaluate_lifter",
    "predict_sequence",
    "mean_pose_baseline",
    "save_lifter",
    "load_lifter",
    "load_split",
]

FORMAT = "hpefast.lifter"
VERSION = 1
_STATE_FORMAT = "hpefast-lift-state"


# ------------------------------------------------------------------------------------------ checkpoints
def save_lifter(
    model: nn.Module, cfg: LiftConfig, path: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` and its config to the folder ``path`` (``model.safetensors`` + ``config.json``)."""
    from safetensors.torch import save_file

    folder = Path(path)
    doc = {"format": FORMAT, "version": VERSION, "config": cfg.model_dump(), "metadata": metadata or {}}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(tensors, tmp, metadata={"format": FORMAT})
    atomic_write_text(folder / "config.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return folder


def load_lifter(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, LiftConfig, dict[str, Any]]:
    """(model in eval mode, its LiftConfig, metadata) from a folder written by :func:`save_lifter` (or the
    ``output_dir`` of a run, whose ``model/`` it opens)."""
    from safetensors.torch import load_file

    folder = Path(path)
    if (folder / "model" / "config.json").is_file():
        folder = folder / "model"
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"no lifter checkpoint at {path} (looked for {cfg_path})")
    try:
        doc = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{cfg_path}: not valid json ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path}: not an hpefast lifter (expected format {FORMAT!r})")
    if int(doc.get("version", 0)) > VERSION:
        raise CheckpointError(
            f"{cfg_path}: format version {doc['version']} is newer than this hpefast ({VERSION})"
        )
    cfg = LiftConfig.model_validate(doc["config"])
    model = build_lifter(cfg.model)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"lifter weights {weights} not found")
    try:
        model.load_state_dict(load_file(str(weights), device=str(map_location)))
    except RuntimeError as exc:
        raise CheckpointError(f"{weights}: weights do not match the config: {exc}") from None
    return model.to(map_location).eval(), cfg, dict(doc.get("metadata") or {})


# ------------------------------------------------------------------------------------------ data
def load_split(cfg: LiftConfig) -> tuple[list[Sequence], list[Sequence]]:
    """(train, test) sequences of a config's data section."""
    p3 = load_positions_3d(cfg.data.path("data_3d"))
    p2, _ = load_positions_2d(cfg.data.path("data_2d"))
    kw = {"actions": cfg.data.actions, "cameras": cfg.data.cameras}
    return (
        load_sequences(p3, p2, cfg.data.train_subjects, **kw),
        load_sequences(p3, p2, cfg.data.test_subjects, **kw),
    )


class _Windows:
    """All (2D window, 3D centre frame) training pairs of some sequences, gathered by index."""

    def __init__(self, seqs: list[Sequence], rf: int, stride: int = 1) -> None:
        pad = rf // 2
        xs, ys, starts, targets = [], [], [], []
        offset_x = offset_y = 0
        for s in seqs:
            x = np.pad(s.poses_2d, ((pad, pad), (0, 0), (0, 0)), mode="edge")
            xs.append(x)
            ys.append(s.poses_3d)
            t = np.arange(0, s.num_frames, stride)
            starts.append(offset_x + t)
            targets.append(offset_y + t)
            offset_x += x.shape[0]
            offset_y += s.num_frames
        if not seqs:
            raise InputError("no training sequences")
        self.x = torch.from_numpy(np.concatenate(xs))
        self.y = torch.from_numpy(np.concatenate(ys))
        self.starts = torch.from_numpy(np.concatenate(starts))
        self.targets = torch.from_numpy(np.concatenate(targets))
        self.window = torch.arange(rf)

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, rf, J, 2], y [B, 1, J, 3]."""
        win = self.starts[idx, None] + self.window
        return self.x[win], self.y[self.targets[idx], None]


def _flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror x (first coordinate) and swap left/right joints: [..., 17, C]."""
    out = x[..., list(H36M_FLIP_INDEX), :].clone()
    out[..., 0] = -out[..., 0]
    return out


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r}: CUDA is not available here")
    return dev


# ------------------------------------------------------------------------------------------ inference
@torch.no_grad()
def predict_sequence(
    model: nn.Module, poses_2d, flip_test: bool = True, batch_frames: int = 20000
) -> np.ndarray:
    """3D poses [T, J, 3] (root-relative, root at 0, metres) of one sequence's 2D poses [T, J, 2]
    (normalised screen coordinates), edge-padded by half the receptive field at both ends."""
    was_training = model.training
    model.eval()
    try:
        dev = next(model.parameters()).device
        x = torch.as_tensor(
            np.asarray(poses_2d, np.float32) if not isinstance(poses_2d, torch.Tensor) else poses_2d
        )
        if x.ndim != 3 or x.shape[-1] != 2:
            raise InputError(f"predict_sequence: poses_2d must be [T, J, 2], got shape {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise InputError("predict_sequence: poses_2d contains NaN or inf")
        rf = int(model.receptive_field)
        pad = rf // 2
        x = x.to(dev, torch.float32)
        xp = torch.cat([x[:1].expand(pad, -1, -1), x, x[-1:].expand(pad, -1, -1)])
        outs = []
        for s in range(0, x.shape[0], batch_frames):
            e = min(s + batch_frames, x.shape[0])
            chunk = xp[s : e + rf - 1][None]
            y = model(chunk)
            if flip_test:
                y = (y + _flip(model(_flip(chunk)))) / 2
            outs.append(y[0])
        y = torch.cat(outs)
        y[:, 0] = 0
        return y.cpu().numpy()
    finally:
        model.train(was_training)


def evaluate_lifter(
    model: nn.Module, seqs: list[Sequence], flip_test: bool = True, batch_frames: int = 20000
) -> dict[str, Any]:
    """Protocol #1 / #2 of a lifter on some sequences (millimetres).

    Returns {"mpjpe": action table, "p_mpjpe": action table, "mpjpe_frames": mean over all frames,
    "p_mpjpe_frames", "per_joint_mpjpe": [J] mean over frames, "frames": N}."""
    if not seqs:
        raise InputError("evaluate_lifter: no sequences to evaluate")
    preds = [predict_sequence(model, s.poses_2d, flip_test, batch_frames) for s in seqs]
    return _score(preds, seqs)


def _score(preds: list[np.ndarray], seqs: list[Sequence]) -> dict[str, Any]:
    pred = torch.from_numpy(np.concatenate(preds)).double() * 1000
    gt = torch.from_numpy(np.concatenate([s.poses_3d for s in seqs])).double() * 1000
    actions = [s.action for s, p in zip(seqs, preds, strict=True) for _ in range(p.shape[0])]
    e1, e2 = mpjpe(pred, gt), p_mpjpe(pred, gt)
    return {
        "mpjpe": action_table(e1, actions),
        "p_mpjpe": action_table(e2, actions),
        "mpjpe_frames": float(e1.mean()),
        "p_mpjpe_frames": float(e2.mean()),
        "per_joint_mpjpe": torch.linalg.vector_norm(pred - gt, dim=-1).mean(0).tolist(),
        "frames": int(pred.shape[0]),
    }


def mean_pose_baseline(train: list[Sequence], test: list[Sequence]) -> dict[str, Any]:
    """The trivial lifter: predict the mean training pose (root-relative) for every test frame."""
    mean = np.concatenate([s.poses_3d for s in train]).mean(0)
    return _score([np.broadcast_to(mean, s.poses_3d.shape).copy() for s in test], test)


# ------------------------------------------------------------------------------------------ training
@dataclass
class LiftResult:
    """What :func:`train_lifter` returns: final metrics, counters and where the outputs are."""

    metrics: dict[str, Any]
    step: int
    epoch: int
    seconds: float
    halted: bool
    output_dir: Path


def _save_state(
    path: Path, model: nn.Module, opt: torch.optim.Optimizer, epoch: int, step: int, cfg: LiftConfig
) -> None:
    from hpefast.engine.state import atomic_save, capture_rng

    state = {
        "format": _STATE_FORMAT,
        "model": model.state_dict(),
        "optim": opt.state_dict(),
        "epoch": epoch,
        "step": step,
        "config": json.dumps(cfg.model_dump()),
        "rng": capture_rng(),
    }
    atomic_save(state, path)


def _load_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"resume: training checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable lifting training checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
        raise CheckpointError(f"{path}: not an hpefast lifting training checkpoint")
    return state


def train_lifter(cfg: LiftConfig, progress: bool = False) -> LiftResult:
    """Train ``cfg.model`` on ``cfg.data``'s training subjects, evaluate on its test subjects, and write
    the outputs into ``cfg.output_dir`` (see the module docstring)."""
    old_threads = torch.get_num_threads()
    if cfg.cpu_threads is not None and _device(cfg.device).type == "cpu":
        torch.set_num_threads(cfg.cpu_threads)
    try:
        return _train(cfg, progress)
    finally:
        torch.set_num_threads(old_threads)


def _train(cfg: LiftConfig, progress: bool) -> LiftResult:
    from hpefast.engine.runlog import RunLogger
    from hpefast.engine.state import restore_rng

    t0 = time.time()
    out = Path(cfg.output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output_dir {out} exists and is not a folder")
    train_seqs, test_seqs = load_split(cfg)
    dev = _device(cfg.device)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = build_lifter(cfg.model).to(dev)
    rf = int(model.receptive_field)
    windows = _Windows(train_seqs, rf, cfg.data.train_stride)
    opt = torch.optim.Adam(
        model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay, amsgrad=True
    )
    epoch = step = 0
    state_path = out / "checkpoints" / "last.pt"
    if cfg.resume is not None:
        path = state_path if cfg.resume == "auto" else Path(cfg.resume)
        if cfg.resume != "auto" or path.is_file():
            state = _load_state(path)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optim"])
            epoch, step = int(state["epoch"]), int(state["step"])
            restore_rng(state["rng"])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", dump_yaml(cfg))
    logger = RunLogger(out, tensorboard=False)
    n = len(windows)
    bs = min(cfg.optim.batch_size, n)
    halted = False
    try:
        while epoch < cfg.optim.epochs and not halted:
            lr = cfg.optim.lr * cfg.optim.lr_decay**epoch
            for g in opt.param_groups:
                g["lr"] = lr
            gen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
            order = torch.randperm(n, generator=gen)
            flips = torch.rand(n, generator=gen) < 0.5
            model.train()
            total, count = 0.0, 0
            for b in range(0, n - bs + 1, bs):  # full batches only (BatchNorm)
                idx = order[b : b + bs]
                x, y = windows.batch(idx)
                if cfg.flip_augment:
                    f = flips[b : b + bs]
                    x = torch.where(f[:, None, None, None], _flip(x), x)
                    y = torch.where(f[:, None, None, None], _flip(y), y)
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                pred = model(x)
                loss = mpjpe(pred, y).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                total += float(loss.detach()) * len(idx)
                count += len(idx)
                if step % cfg.log_interval == 0:
                    logger.log(
                        {"step": step, "epoch": epoch, "loss_mm": 1000 * float(loss.detach()), "lr": lr}, step
                    )
                    if progress:
                        logging.getLogger("hpefast.lifting").info(
                            "epoch %d step %d loss %.1f mm", epoch, step, 1000 * float(loss.detach())
                        )
                if (cfg.halt_after_steps is not None and step >= cfg.halt_after_steps) or (
                    cfg.max_seconds is not None and time.time() - t0 >= cfg.max_seconds
                ):
                    halted = True
                    break
            if not halted:
                epoch += 1
            logger.log({"epoch": epoch, "step": step, "train_loss_mm": 1000 * total / max(count, 1)}, step)
            _save_state(state_path, model, opt, epoch, step, cfg)
        metrics = evaluate_lifter(model, test_seqs, cfg.flip_test, cfg.eval_batch_frames)
        metrics.update({"step": step, "epoch": epoch, "train_frames": n, "receptive_field": rf})
        logger.log(
            {
                "step": step,
                "mpjpe": metrics["mpjpe"].get("Average"),
                "p_mpjpe": metrics["p_mpjpe"].get("Average"),
            },
            step,
        )
        save_lifter(model, cfg, out / "model", {"step": step, "epoch": epoch, "metrics": metrics})
        atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    finally:
        logger.close()
    secs = time.time() - t0
    if not math.isfinite(metrics["mpjpe_frames"]):
        raise InputError("training diverged: the test MPJPE is not finite (try a lower optim.lr)")
    return LiftResult(metrics, step, epoch, secs, halted, out)
