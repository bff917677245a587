"""Teacher-to-student distillation for heatmap pose models, computed on the fly in the training step.

Heatmap distillation as Fast Pose Distillation (Zhang et al., CVPR 2019) defines it::

    L = (1 - alpha) * L_mse(student, GT) + alpha * L_mse(student, teacher)

both terms the masked union-joint loss (:func:`hpefast.ops.union_heatmap_loss`, the configured
target-imbalance options included), masked to the joints labelled in the sample (and, for the teacher
term, to the joints the teacher's layout has). ``alpha`` is constant or decays linearly to 0 over the run.

Feature distillation (DWPose, Yang et al., ICCV-W 2023): a 1x1 convolution projects the student's backbone
features ``[B, Cs, gh, gw]`` to the teacher's channel count (resampled bilinearly to the teacher's token
grid when it differs); the loss adds ``feature_weight * (1 - step / total) * mean (proj(f_s) - f_t)^2``.
The projector trains with the student (its own optimizer group) and is not part of the saved model.

The teacher is any hpefast model checkpoint, frozen (eval mode, ``no_grad``; bf16 autocast on CUDA when
asked). A teacher of another layout is mapped into the student's with :func:`hpefast.keypoints.mapping_index`
(a union23 teacher can teach a COCO student). A teacher with another input size gets the crops resized to
its size; a teacher with another heatmap size has its maps resampled to the student's. Both are exact
only for the UDP codec (pixel centres at ``i * (size - 1) / (n - 1)``, i.e. ``align_corners=True``), so
other codecs with different sizes are refused with :class:`DistillError`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpefast.errors import CheckpointError

__all__ = ["DistillError", "Distiller", "load_teacher", "alpha_at"]


class DistillError(CheckpointError):
    """A teacher that cannot teach this student (no shared joints, incompatible codec sizes, not a model)."""


def load_teacher(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """The frozen teacher: an hpefast heatmap model from ``path``, in eval mode, no parameter requiring grad.

    A training-state file (``checkpoints/last.pt``) or a checkpoint of another task raises
    :class:`DistillError` naming the path and what to give instead."""
    p = Path(path)
    if not p.exists():
        raise DistillError(f"distill.teacher: {str(p)!r} does not exist")
    if p.is_file() and p.suffix == ".pt":
        raise DistillError(
            f"distill.teacher: {str(p)!r} is a training state (or a plain torch file), not a model; give "
            "the run's model/ folder (hpefast train writes OUTPUT_DIR/model)"
        )
    from hpefast.models.checkpoint import load_model

    try:
        teacher = load_model(p, map_location=device)
    except CheckpointError as exc:
        raise DistillError(f"distill.teacher: not an hpefast heatmap model: {exc}") from None
    if not hasattr(teacher, "cfg") or not hasattr(teacher.cfg, "codec"):
        raise DistillError(f"distill.teacher: {str(p)!r} is not a heatmap model (no codec in its config)")
    teacher.eval()
    for q in teacher.parameters():
        q.requires_grad_(False)
    return teacher


def alpha_at(alpha: float, schedule: str, step: int, total_steps: int) -> float:
    """The teacher weight at 0-based ``step`` of ``total_steps``: ``alpha``, or ``alpha (1 - step/total)``."""
    if schedule == "constant":
        return float(alpha)
    if schedule == "linear_decay":
        return float(alpha) * max(0.0, 1.0 - step / max(1, total_steps))
    raise ValueError(f"alpha_schedule must be 'constant' or 'linear_decay', got {schedule!r}")


class _Capture:
    """Forward hook keeping the last output of a module (the backbone's features)."""

    def __init__(self, module: nn.Module) -> None:
        self.value: Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, _module, _inputs, output) -> None:
        self.value = output


class Distiller:
    """The teacher side of a distillation run. :meth:`loss` replaces the plain heatmap loss of a step.

    Args:
        teacher: frozen heatmap model (see :func:`load_teacher`).
        student: the student model (unwrapped; its backbone is hooked when ``feature_weight > 0``).
        alpha, alpha_schedule, feature_weight, teacher_bf16: as in
            :class:`~hpefast.engine.config.DistillConfig`.
    """

    def __init__(
        self,
        teacher: nn.Module,
        student: nn.Module,
        *,
        alpha: float = 0.5,
        alpha_schedule: str = "constant",
        feature_weight: float = 0.0,
        teacher_bf16: bool = True,
    ) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise DistillError(f"distill.alpha must be a number in [0, 1], got {alpha!r}")
        if (
            isinstance(feature_weight, bool)
            or not isinstance(feature_weight, (int, float))
            or feature_weight < 0
        ):
            raise DistillError(f"distill.feature_weight must be a number >= 0, got {feature_weight!r}")
        alpha_at(alpha, alpha_schedule, 0, 1)  # checks the schedule name
        self.teacher, self.alpha, self.schedule = teacher, float(alpha), alpha_schedule
        self.feature_weight = float(feature_weight)
        self.teacher_bf16 = bool(teacher_bf16)
        tc, sc = teacher.cfg, student.cfg
        from hpefast.keypoints import mapping_index

        idx = torch.as_tensor(mapping_index(tc.layout, sc.layout))
        if int((idx >= 0).sum()) == 0:
            raise DistillError(
                f"distill.teacher: the teacher's layout {tc.layout!r} shares no joint with the student's "
                f"{sc.layout!r}"
            )
        self.index = idx.clamp(min=0)  # [K_student] teacher channel of each student joint
        self.has_joint = idx >= 0  # [K_student]
        self.same_layout = tc.layout == sc.layout
        self.input_size = tuple(tc.image_size)
        self.resize_input = tuple(tc.image_size) != tuple(sc.image_size)
        self.heatmap_size = tuple(sc.heatmap_size)
        self.resample = tuple(tc.heatmap_size) != tuple(sc.heatmap_size)
        if self.resize_input or self.resample:
            methods = {tc.codec.method, sc.codec.method}
            if methods != {"udp"}:
                raise DistillError(
                    f"distill.teacher: teacher input {tuple(tc.image_size)} / heatmaps "
                    f"{tuple(tc.heatmap_size)} differ from the student's {tuple(sc.image_size)} / "
                    f"{tuple(sc.heatmap_size)}; resampling "
                    f"is exact only when both codecs are 'udp', got teacher {tc.codec.method!r} and student "
                    f"{sc.codec.method!r}"
                )
        self.projector: nn.Conv2d | None = None
        self._student_feat = self._teacher_feat = None
        if self.feature_weight > 0:
            self.projector = nn.Conv2d(sc.embed_dim, tc.embed_dim, kernel_size=1)
            self._student_feat = _Capture(student.backbone)
            self._teacher_feat = _Capture(teacher.backbone)
        self._timings: list[Any] = []

    # ------------------------------------------------------------------------------------------------
    def to(self, device: torch.device | str) -> Distiller:
        self.teacher.to(device)
        self.index, self.has_joint = self.index.to(device), self.has_joint.to(device)
        if self.projector is not None:
            self.projector.to(device)
        return self

    def param_group(self, lr: float) -> dict[str, Any] | None:
        """The projector's optimizer group (``lr_scale`` 1, no weight decay), or None without one."""
        if self.projector is None:
            return None
        return {"params": list(self.projector.parameters()), "lr": lr, "weight_decay": 0.0, "lr_scale": 1.0}

    def alpha_at(self, step: int, total_steps: int) -> float:
        return alpha_at(self.alpha, self.schedule, step, total_steps)

    @torch.no_grad()
    def teacher_heatmaps(self, images: Tensor, dataset_id: Tensor | None = None) -> Tensor:
        """Teacher maps in the student's layout and heatmap size: ``[B, K_student, h, w]`` float32 (channels
        of joints the teacher lacks are zero; :attr:`has_joint` masks them out of the loss)."""
        x = images
        if self.resize_input:
            w, h = self.input_size
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=True)
        cuda = x.device.type == "cuda"
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and self.teacher_bf16):
            ids = dataset_id if getattr(self.teacher.cfg, "num_datasets", 1) > 1 else None
            heat = self.teacher(x, ids).float()
        if not self.same_layout:
            heat = heat.index_select(1, self.index) * self.has_joint.view(1, -1, 1, 1).to(heat.dtype)
        if self.resample:
            w, h = self.heatmap_size
            heat = F.interpolate(heat, size=(h, w), mode="bilinear", align_corners=True)
        return heat.contiguous()

    def loss(
        self,
        student_heatmaps: Tensor,
        target: Tensor,
        weight: Tensor,
        images: Tensor,
        dataset_id: Tensor | None,
        step: int,
        total_steps: int,
        **loss_kwargs: Any,
    ) -> Tensor:
        """``(1 - a) L(student, GT) + a L(student, teacher) [+ feature term]`` for one step; the teacher runs
        here (its time is recorded for :meth:`log_record`). Shapes: heatmaps ``[B, K, h, w]``, weight
        ``[B, K]``; ``loss_kwargs`` go to :func:`hpefast.ops.union_heatmap_loss` (OHKM, imbalance options)."""
        from hpefast.ops import union_heatmap_loss

        a = self.alpha_at(step, total_steps)
        fw = self.feature_weight * max(0.0, 1.0 - step / max(1, total_steps))
        loss = union_heatmap_loss(student_heatmaps, target, weight, **loss_kwargs)
        if a == 0.0 and fw == 0.0:
            return loss
        t0 = self._clock(images)
        teacher = self.teacher_heatmaps(images, dataset_id)
        self._timings.append((t0, self._clock(images)))
        if a > 0.0:
            tw = weight * self.has_joint.view(1, -1).to(weight.dtype)
            kd = union_heatmap_loss(student_heatmaps, teacher, tw, **loss_kwargs)
            loss = (1.0 - a) * loss + a * kd
        if fw > 0.0 and self.projector is not None:
            fs, ft = self._student_feat.value, self._teacher_feat.value
            proj = self.projector(fs.float())
            if proj.shape[-2:] != ft.shape[-2:]:
                proj = F.interpolate(proj, size=ft.shape[-2:], mode="bilinear", align_corners=False)
            loss = loss + fw * (proj - ft.float()).square().mean()
        return loss

    @staticmethod
    def _clock(like: Tensor) -> Any:
        if like.device.type == "cuda":  # events: no host synchronisation in the step
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def log_record(self) -> dict[str, float]:
        """``{"teacher_ms": mean teacher forward time per step since the last call}`` (empty when none)."""
        timings, self._timings = self._timings, []
        if not timings:
            return {}
        if isinstance(timings[0][0], float):
            ms = [1000.0 * (b - a) for a, b in timings]
        else:
            timings[-1][1].synchronize()
            ms = [a.elapsed_time(b) for a, b in timings]
        return {"teacher_ms": sum(ms) / len(ms)}

    @classmethod
    def from_config(cls, cfg: Any, student: nn.Module, device: torch.device | str) -> Distiller:
        """From a :class:`~hpefast.engine.config.DistillConfig`."""
        teacher = load_teacher(cfg.teacher, device)
        return cls(
            teacher,
            student,
            alpha=cfg.alpha,
            alpha_schedule=cfg.alpha_schedule,
            feature_weight=cfg.feature_weight,
            teacher_bf16=cfg.teacher_bf16,
        ).to(device)
