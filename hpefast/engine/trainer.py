"""The training loop.

One step: the batch (crops, keypoints in crop pixels, labelled mask, dataset id) moves to the device; the
heatmap targets are made there by the model's codec (``model.cfg.codec.encode``, not in the DataLoader
workers); the model
runs under bf16 autocast on CUDA; ``hpefast.ops.union_heatmap_loss`` averages the masked MSE over labelled
joints; gradients are clipped; AdamW steps with the layer-decayed, scheduled lr; the EMA follows.

Resume is exact: the checkpoint holds the RNG states of every process and the step, and the sampler's
order and per-sample augmentation seeds depend only on ``(seed, epoch, position)``, so a run restarted from
a checkpoint logs the same losses as the run that was never stopped (on the same hardware and threads).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader

from hpefast._io import atomic_write_text
from hpefast.data.sampler import ResumableSampler, SeededDataset
from hpefast.engine import distributed as dist_utils
from hpefast.engine.builders import (
    DatasetEntry,
    build_datasets,
    build_model,
    check_model_layout,
    resolve_device,
)
from hpefast.engine.config import TrainConfig, dump_yaml, to_dict
from hpefast.engine.ema import ModelEMA
from hpefast.engine.optim import build_optimizer, lr_factor, set_lr
from hpefast.engine.runlog import RunLogger
from hpefast.engine.state import atomic_save, capture_rng, load_state, restore_rng
from hpefast.errors import HpefastError

__all__ = ["Trainer", "TrainResult", "TrainingDiverged", "train"]


class TrainingDiverged(HpefastError, FloatingPointError):
    """The loss or the weights went non-finite; no checkpoint was written from that state."""


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns: where training stopped, its losses and validation metrics."""

    step: int
    epoch: int
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss) of this process's run
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # dataset name -> metrics
    halted: bool = False
    seconds: float = 0.0
    model_dir: str | None = None


class Trainer:
    """Builds everything from a config (datasets first, so bad data fails before any model is built),
    then :meth:`fit` trains, validates and checkpoints."""

    def __init__(self, cfg: TrainConfig, *, overwrite: bool = False) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.dist = dist_utils.init(self.device)
        self.out = Path(cfg.output_dir)
        resume_path = self._resume_path()
        # One run at a time per folder: a second process on the same output_dir is refused instead of
        # interleaving its log and checkpoints with this one's. Released by close() (or when the Trainer
        # is collected, e.g. after a failed __init__).
        lock_name = ".hpefast-train.lock"
        self._lock = None
        if self.dist.is_main:
            import weakref

            from hpefast._io import acquire_lock, release_lock

            lock = acquire_lock(self.out / lock_name, what=f"output_dir {str(self.out)!r}")
            self._lock = weakref.finalize(self, release_lock, lock)
        if resume_path is None:
            # A fresh run never mixes into an earlier run's log.jsonl or checkpoints.
            from hpefast.commands._outputs import check_run_dir

            check_run_dir(
                self.out, overwrite=overwrite, option="output_dir", resume_hint=True, ignore=[lock_name]
            )
        # The same seed on every rank while the model is built (identical initial weights, EMA included);
        # each rank then gets its own stream for drop path.
        self._seed(cfg.seed)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)

        from hpefast.data import collate
        from hpefast.keypoints import get_schema

        self.layout = get_schema(cfg.model.layout)
        self.entries: list[DatasetEntry] = build_datasets(cfg, train=True, val=True)
        train_sets = [e.train for e in self.entries if e.train is not None]
        self._train_ids = [e.dataset_id for e in self.entries if e.train is not None]
        ratios = None
        if any(e.cfg.ratio is not None for e in self.entries if e.train is not None):
            ratios = [
                e.cfg.ratio if e.cfg.ratio is not None else 1.0 for e in self.entries if e.train is not None
            ]
        self.sampler = ResumableSampler(
            [len(d) for d in train_sets],
            cfg.data.batch_size,
            ratios=ratios,
            seed=cfg.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        self.loader = DataLoader(
            SeededDataset(ConcatDataset(train_sets)),
            batch_size=cfg.data.batch_size,
            sampler=self.sampler,
            num_workers=cfg.data.workers,
            collate_fn=collate,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
            persistent_workers=cfg.data.workers > 0,
            # A private generator: creating loader iterators must not consume the global torch RNG.
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        self.steps_per_epoch = self.sampler.steps_per_epoch
        self.total_steps = cfg.schedule.epochs * self.steps_per_epoch

        # Resuming takes every weight from the checkpoint: model.pretrained is not read (it may be gone).
        self.model = build_model(cfg, num_datasets=len(self.entries), pretrained=resume_path is None).to(
            self.device
        )
        check_model_layout(self.model, cfg.model.layout, "the configured model")
        mcfg = self.model.cfg
        self.input_size = tuple(mcfg.image_size)
        self.heatmap_size = tuple(mcfg.heatmap_size)
        self.codec = mcfg.codec  # targets, validation decoding and the saved model all use this one
        self.uses_dataset_id = bool(getattr(self.model, "uses_dataset_id", False))
        self.joint_weights = (
            torch.as_tensor(self.layout.joint_weights, dtype=torch.float32, device=self.device)
            if cfg.data.use_joint_weights
            else None
        )
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.distiller = None  # distillation from a frozen teacher (hpefast.engine.distill)
        if cfg.distill is not None:
            from hpefast.engine.distill import Distiller

            self.distiller = Distiller.from_config(cfg.distill, self.model, self.device)
            if (group := self.distiller.param_group(cfg.optim.lr)) is not None:
                self.optimizer.add_param_group(group)  # the feature projector
        self.ema = ModelEMA(self.model, cfg.ema) if cfg.ema is not None else None
        self.step = 0
        self.resumed_from: str | None = None
        # (step, loss) of the steps since the last finiteness check, and the last checkpoint written.
        self._unchecked: list[tuple[int, torch.Tensor]] = []
        self._good_step: int | None = None
        self._seed(cfg.seed + self.dist.rank)
        self._maybe_resume()
        self.net = self.model
        if self.dist.enabled:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.dist.local_rank] if self.device.type == "cuda" else None
            )
        self.amp = cfg.amp and self.device.type == "cuda"
        self.logger = RunLogger(
            self.out,
            tensorboard=cfg.tensorboard,
            enabled=self.dist.is_main,
            resume_step=None if resume_path is None else self.step,
        )

    # ------------------------------------------------------------------------------------------------
    @staticmethod
    def _seed(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoints" / "last.pt"

    def _resume_path(self) -> Path | None:
        """The checkpoint this run resumes from (``resume=auto`` with none yet: None, a fresh start)."""
        resume = self.cfg.resume
        if resume is None:
            return None
        path = self.checkpoint_path if resume == "auto" else Path(resume)
        if resume == "auto" and not path.is_file():
            return None
        return path

    def _maybe_resume(self) -> None:
        path = self._resume_path()
        if path is None:
            return
        state = load_state(path)
        saved_layout = state["config"]["model"]["layout"]
        if saved_layout != self.cfg.model.layout:
            raise ValueError(
                f"resume: checkpoint {str(path)!r} was trained for layout {saved_layout!r}, "
                f"the config trains {self.cfg.model.layout!r}"
            )
        if state["steps_per_epoch"] != self.steps_per_epoch:
            raise ValueError(
                f"resume: checkpoint {str(path)!r} has {state['steps_per_epoch']} steps per epoch, this run "
                f"{self.steps_per_epoch}: data, batch size or process count changed"
            )
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise ValueError(
                f"resume: checkpoint {str(path)!r} does not fit the configured model: {exc}"
            ) from None
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.step = int(state["step"])
        self._good_step = self.step
        rngs = state["rng"]
        if len(rngs) == self.dist.world_size:
            restore_rng(rngs[self.dist.rank])
        self.resumed_from = str(path)

    def check_finite(self) -> None:
        """Raise :class:`TrainingDiverged` when a loss since the last check or a weight is not finite.

        Called before every checkpoint write and validation, so a diverging run never replaces the last
        good checkpoint; the message names the first bad step and the checkpoint to resume from."""
        pending, self._unchecked = self._unchecked, []
        flags = [torch.isfinite(p).all() for p in self.model.parameters()]
        if pending:
            flags.append(torch.isfinite(torch.stack([v for _, v in pending]).float()).all())
        ok = torch.stack(flags).all().float()
        if dist_utils.mean_across(ok.reshape(1)).item() == 1.0:
            return
        bad = next((s for s, v in pending if not bool(torch.isfinite(v).all())), None)
        self._raise_diverged(bad)

    def _raise_diverged(self, bad_step: int | None) -> None:
        where = (
            f"the loss went non-finite at step {bad_step}"
            if bad_step is not None
            else f"the weights are non-finite at step {self.step}"
        )
        if self._good_step is not None:
            keep = (
                f"the last good checkpoint {self.checkpoint_path} (step {self._good_step}) was kept; resume "
                f"from it with resume={self.checkpoint_path} (e.g. with a lower optim.lr or clip_grad)"
            )
        else:
            keep = "no checkpoint was written yet (restart with a lower optim.lr or clip_grad)"
        raise TrainingDiverged(f"training diverged: {where}; {keep}")

    def save_checkpoint(self) -> None:
        """Write ``checkpoints/last.pt`` atomically (rank 0; every rank contributes its RNG state), after
        checking that the losses since the last check and the weights are finite."""
        self.check_finite()
        rngs = dist_utils.all_gather_objects(capture_rng())
        if not self.dist.is_main:
            self._good_step = self.step
            return
        config = to_dict(self.cfg)
        pretrained = None
        if isinstance(config.get("model"), dict) and config["model"].get("pretrained"):
            # Self-contained: the weights are in the checkpoint; rebuilding it must not need that file.
            pretrained = config["model"]["pretrained"]
            config["model"]["pretrained"] = None
        state = {
            "format": "hpefast-train-state",
            "step": self.step,
            "epoch": self.step // self.steps_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "world_size": self.dist.world_size,
            "config": config,
            "pretrained_from": pretrained,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": rngs,
        }
        atomic_save(state, self.checkpoint_path)
        self._good_step = self.step

    # ------------------------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One optimisation step; returns (loss, grad norm) as device tensors (no host sync)."""
        from hpefast.ops import union_heatmap_loss

        dev = self.device
        images = batch["image"].to(dev, non_blocking=True)
        keypoints = batch["keypoints"].to(dev, non_blocking=True)
        labelled = batch["labelled"].to(dev, non_blocking=True)
        ids = batch["dataset_id"].to(dev, non_blocking=True) if self.uses_dataset_id else None
        with torch.no_grad():
            # The model's own codec makes the targets: the one its validation and export decode with.
            target, weight = self.codec.encode(keypoints, labelled, joint_weights=self.joint_weights)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            heat = self.net(images, ids)
        heat = heat.float().contiguous()
        if self.distiller is None:
            loss = union_heatmap_loss(heat, target, weight, **self.cfg.loss.kwargs())
        else:
            loss = self.distiller.loss(
                heat, target, weight, images, ids, self.step, self.total_steps, **self.cfg.loss.kwargs()
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = None
        if self.cfg.optim.clip_grad is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.clip_grad)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return loss.detach(), norm

    def validate(self) -> dict[str, dict[str, float]]:
        """Metrics per dataset with a validation split (rank 0 returns them; other ranks ``{}``)."""
        from hpefast.engine.validation import predict, score_records

        model = self.ema.module if self.ema is not None else self.model
        out: dict[str, dict[str, float]] = {}
        t = self.cfg.test
        for e in self.entries:
            if e.val is None:
                continue
            n = len(e.val)
            mine = list(range(self.dist.rank, n, self.dist.world_size))
            recs = predict(
                model,
                e.val,
                self.device,
                batch_size=self.cfg.data.val_batch_size,
                workers=self.cfg.data.workers,
                flip_test=t.flip_test,
                indices=mine,
                amp=self.amp,
            )
            gathered = dist_utils.all_gather_objects(recs)
            if not self.dist.is_main:
                continue
            records = [r for part in gathered for r in part]
            out[e.cfg.name] = score_records(
                records,
                e.val,
                e.cfg.metric,
                self.cfg.model.layout,
                ann_file=e.val_ann,
                score_threshold=t.score_threshold,
                oks_nms_threshold=t.oks_nms,
                use_area=e.cfg.use_area,
            )
        return out

    def save_model(self, path: Path | None = None) -> Path:
        """The trained (EMA when enabled) model in the hpefast format (safetensors + json)."""
        from hpefast.models.checkpoint import save_model

        path = path or self.out / "model"
        save_model(self.ema.module if self.ema is not None else self.model, str(path))
        return path

    # ------------------------------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        cfg = self.cfg
        t0 = time.perf_counter()
        result = TrainResult(step=self.step, epoch=self.step // self.steps_per_epoch)
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out / "config.yaml", dump_yaml(cfg))
            self.logger.log(
                {
                    "type": "start",
                    "step": self.step,
                    "resumed_from": self.resumed_from,
                    "steps_per_epoch": self.steps_per_epoch,
                    "total_steps": self.total_steps,
                    "world_size": self.dist.world_size,
                    "device": str(self.device),
                    "tensorboard": self.logger.tensorboard_note or ("on" if cfg.tensorboard else "off"),
                }
            )
        bar = None
        if cfg.progress and self.dist.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=self.total_steps, initial=self.step, desc=cfg.name, unit="it", dynamic_ncols=True
            )
        self.model.train()
        halt_at = (
            self.total_steps if cfg.halt_after_steps is None else min(cfg.halt_after_steps, self.total_steps)
        )
        window: list[torch.Tensor] = []
        t_window = time.perf_counter()
        factor = lr_factor(self.step, self.steps_per_epoch, cfg.schedule)
        try:
            while self.step < halt_at:
                epoch, start_batch = divmod(self.step, self.steps_per_epoch)
                self.sampler.set_epoch(epoch, start_batch)
                for batch in self.loader:
                    factor = lr_factor(self.step, self.steps_per_epoch, cfg.schedule)
                    set_lr(self.optimizer, cfg.optim.lr, factor)
                    loss, norm = self.train_step(batch)
                    self.step += 1
                    window.append(loss)
                    self._unchecked.append((self.step, loss))
                    if self.step % cfg.log_interval == 0 or self.step in (halt_at, self.total_steps):
                        self._log_window(window, norm, factor, t_window, result)
                        window, t_window = [], time.perf_counter()
                    if bar is not None:
                        bar.update(1)
                        if result.losses:
                            bar.set_postfix(loss=f"{result.losses[-1][1]:.3e}", refresh=False)
                    if self.step % cfg.checkpoint_interval == 0 and self.step % self.steps_per_epoch:
                        self.save_checkpoint()
                    if self.step >= halt_at:
                        break
                if self.step % self.steps_per_epoch == 0:
                    # End of an epoch: validate when due, then checkpoint (in this order, so that a resumed
                    # run and an uninterrupted one leave the epoch with the same RNG states).
                    epoch_done = self.step // self.steps_per_epoch
                    last = self.step >= self.total_steps
                    if (cfg.val_interval and epoch_done % cfg.val_interval == 0) or last:
                        self.check_finite()
                        metrics = self.validate()
                        if metrics:
                            result.metrics = metrics
                            flat = {f"{d}/{k}": v for d, m in metrics.items() for k, v in m.items()}
                            self.logger.log(
                                {"type": "val", "step": self.step, "epoch": epoch_done, **flat}, self.step
                            )
                self.save_checkpoint()
            result.halted = self.step < self.total_steps
            if not result.halted and self.dist.is_main:
                result.model_dir = str(self.save_model())
        finally:
            if bar is not None:
                bar.close()
        result.step = self.step
        result.epoch = self.step // self.steps_per_epoch
        result.seconds = time.perf_counter() - t0
        if self.dist.is_main:
            self.logger.log(
                {"type": "end", "step": self.step, "seconds": result.seconds, "halted": result.halted}
            )
        return result

    def _log_window(self, window, norm, factor, t_window, result: TrainResult) -> None:
        losses = torch.stack(window).float()
        mean = dist_utils.mean_across(losses).cpu().tolist()
        first = self.step - len(mean) + 1
        for i, v in enumerate(mean):
            result.losses.append((first + i, float(v)))
        dt = time.perf_counter() - t_window
        record = {
            "type": "train",
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            "loss": float(mean[-1]),
            "loss_mean": float(sum(mean) / len(mean)),
            "lr": self.cfg.optim.lr * factor,
            "images_per_s": len(mean) * self.cfg.data.batch_size * self.dist.world_size / max(dt, 1e-9),
        }
        if norm is not None:
            record["grad_norm"] = float(norm)
        if self.distiller is not None:
            record.update(self.distiller.log_record())  # teacher_ms: the teacher's forward per step
        if not all(math.isfinite(v) for v in mean):
            self._raise_diverged(first + next(i for i, v in enumerate(mean) if not math.isfinite(v)))
        self.logger.log(record, self.step, prefix="train/")

    def close(self) -> None:
        self.logger.close()
        if self._lock is not None:
            self._lock()  # release the output_dir lock
        dist_utils.shutdown()


def train(cfg: TrainConfig, *, overwrite: bool = False) -> TrainResult:
    """Build a :class:`Trainer` from ``cfg`` and run it to the end (or ``halt_after_steps``).

    ``overwrite``: allow a fresh run (no ``resume``) into an ``output_dir`` holding an earlier run."""
    trainer = Trainer(cfg, overwrite=overwrite)
    try:
        return trainer.fit()
    finally:
        trainer.close()
