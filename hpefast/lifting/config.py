"""Typed configuration of ``hpefast lift train``: pydantic v2 models that refuse unknown keys.

A config is built from a preset (:data:`PRESETS`), a YAML file (``base:`` may name a preset or another
YAML file) and ``section.key=value`` overrides (values parsed as YAML), in that order. Unknown keys are
errors with a did-you-mean; wrong types are errors naming the key path (``optim.lr``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hpefast._config import ConfigSource, config_error
from hpefast.errors import ConfigError
from hpefast.lifting.h36m import TEST_SUBJECTS, TRAIN_SUBJECTS, canonical_action

__all__ = [
    "LiftModelConfig",
    "LiftDataConfig",
    "LiftOptimConfig",
    "LiftConfig",
    "LiftConfigError",
    "PRESETS",
    "load_lift_config",
    "dump_yaml",
]


class LiftConfigError(ConfigError):
    """A lifting config key or value is wrong; the message names the key path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LiftModelConfig(_Strict):
    """The lifting network: ``mlp`` (Martinez 2017) or ``temporal`` (VideoPose3D)."""

    arch: Literal["mlp", "temporal"] = "temporal"
    num_joints: int = Field(17, ge=1)
    channels: int = Field(1024, ge=1)
    dropout: float = Field(0.25, ge=0.0, lt=1.0)
    num_blocks: int = Field(2, ge=0, description="mlp: residual blocks")
    filter_widths: list[int] = Field(default_factory=lambda: [3, 3, 3], description="temporal: RF = prod")
    causal: bool = False

    @field_validator("filter_widths")
    @classmethod
    def _odd(cls, v: list[int]) -> list[int]:
        if not v or any(w < 1 or w % 2 == 0 for w in v):
            raise ValueError(f"filter_widths must be odd positive widths, got {v}")
        return v

    @property
    def receptive_field(self) -> int:
        if self.arch == "mlp":
            return 1
        rf, dilation = self.filter_widths[0], self.filter_widths[0]
        for w in self.filter_widths[1:]:
            rf += (w - 1) * dilation
            dilation *= w
        return rf


class LiftDataConfig(_Strict):
    """VideoPose3D npz files under ``root``; subjects, actions and cameras to use."""

    root: str = "data/h36m"
    data_3d: str = "data_3d_h36m.npz"
    data_2d: str = "data_2d_h36m_gt.npz"
    train_subjects: list[str] = Field(default_factory=lambda: list(TRAIN_SUBJECTS))
    test_subjects: list[str] = Field(default_factory=lambda: list(TEST_SUBJECTS))
    actions: list[str] | None = None  # protocol actions; None = all
    cameras: list[int] | None = None  # camera indices 0..3; None = all
    train_stride: int = Field(1, ge=1, description="use every k-th training frame")

    @field_validator("actions")
    @classmethod
    def _actions(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            for a in v:
                canonical_action(a)  # ValueError naming the action
        return v

    @field_validator("cameras")
    @classmethod
    def _cameras(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(not 0 <= c <= 3 for c in v)):
            raise ValueError(f"cameras must be indices in 0..3, got {v}")
        return v

    def path(self, name: str) -> Path:
        p = Path(getattr(self, name))
        return p if p.is_absolute() else Path(self.root) / p


class LiftOptimConfig(_Strict):
    """Adam (amsgrad, as VideoPose3D) with an exponential learning-rate decay per epoch."""

    lr: float = Field(1e-3, gt=0)
    lr_decay: float = Field(0.95, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(1024, ge=1)
    epochs: int = Field(80, ge=1)


class LiftConfig(_Strict):
    """Everything ``hpefast lift train`` needs. ``output_dir`` receives ``config.yaml``, ``log.jsonl``,
    ``checkpoints/last.pt`` (resume), ``model/`` (the trained lifter) and ``metrics.json``."""

    name: str = "lift"
    output_dir: str = "work_dirs/lift"
    seed: int = 0
    device: str = "auto"
    cpu_threads: int | None = Field(None, ge=1, description="torch CPU threads while training; None = as set")
    flip_augment: bool = True  # VideoPose3D's horizontal flip of 2D and 3D (left/right swapped)
    flip_test: bool = True  # average with the flipped input's prediction at evaluation
    resume: str | None = None  # "auto" or a training checkpoint path
    halt_after_steps: int | None = Field(None, ge=1)
    max_seconds: float | None = Field(None, gt=0, description="stop training after this wall time")
    log_interval: int = Field(50, ge=1)
    eval_batch_frames: int = Field(20000, ge=1)
    model: LiftModelConfig = Field(default_factory=LiftModelConfig)
    data: LiftDataConfig = Field(default_factory=LiftDataConfig)
    optim: LiftOptimConfig = Field(default_factory=LiftOptimConfig)

    @model_validator(mode="after")
    def _check(self) -> LiftConfig:
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        return self


def _preset(**kw: Any) -> dict[str, Any]:
    return kw


PRESETS: dict[str, dict[str, Any]] = {
    "videopose3d-27": _preset(name="videopose3d-27", model={"filter_widths": [3, 3, 3]}),
    "videopose3d-81": _preset(name="videopose3d-81", model={"filter_widths": [3, 3, 3, 3]}),
    "videopose3d-243": _preset(name="videopose3d-243", model={"filter_widths": [3, 3, 3, 3, 3]}),
    "martinez-mlp": _preset(
        name="martinez-mlp",
        model={"arch": "mlp", "dropout": 0.5, "num_blocks": 2},
        optim={"batch_size": 64, "epochs": 200, "lr_decay": 0.96},
    ),
    # CPU-sized runs on the synthetic data of hpefast.lifting.synthetic.write_h36m (seconds to a minute)
    "tiny-synthetic": _preset(
        name="tiny-synthetic",
        output_dir="work_dirs/lift-tiny",
        model={"arch": "temporal", "filter_widths": [3, 3], "channels": 128, "dropout": 0.1},
        data={"root": "synthetic_h36m"},
        optim={"batch_size": 256, "epochs": 6, "lr": 2e-3, "lr_decay": 0.9},
        eval_batch_frames=4096,
        cpu_threads=1,  # tiny matrices: one thread is fastest, and immune to a busy machine
    ),
    "tiny-synthetic-mlp": _preset(
        name="tiny-synthetic-mlp",
        output_dir="work_dirs/lift-tiny-mlp",
        model={"arch": "mlp", "channels": 256, "num_blocks": 2, "dropout": 0.1},
        data={"root": "synthetic_h36m"},
        optim={"batch_size": 256, "epochs": 6, "lr": 2e-3, "lr_decay": 0.9},
        eval_batch_frames=4096,
        cpu_threads=1,  # tiny matrices: one thread is fastest, and immune to a busy machine
    ),
}


# YAML files with ``base:`` chains, presets and ``key=value`` overrides: the same machinery as the 2D
# training config (hpefast._config.ConfigSource), errors from the same formatter.
SOURCE = ConfigSource(
    lambda: LiftConfig,
    lambda: {name: (lambda n=name: copy.deepcopy(PRESETS[n])) for name in PRESETS},
    kind="lifting preset",
)


def load_lift_config(
    source: str | dict[str, Any] | LiftConfig | None = None, overrides: Iterable[str] = ()
) -> LiftConfig:
    """A :class:`LiftConfig` from a preset name, a YAML path or a dict, then ``key=value`` overrides.

    >>> load_lift_config("tiny-synthetic", ["optim.lr=1e-3"]).optim.lr
    0.001
    """
    try:
        if source is None:
            tree: dict[str, Any] = {}
        elif isinstance(source, LiftConfig):
            tree = source.model_dump()
        else:
            tree = SOURCE.tree(source if isinstance(source, dict) else str(source))
        tree = SOURCE.apply_overrides(tree, overrides)
    except LiftConfigError:
        raise
    except ConfigError as exc:
        raise LiftConfigError(str(exc)) from None
    try:
        return LiftConfig.model_validate(tree)
    except ValidationError as exc:
        raise LiftConfigError(str(config_error(exc, LiftConfig))) from None


def dump_yaml(cfg: LiftConfig) -> str:
    """``cfg`` as YAML (what ``output_dir/config.yaml`` holds); loads back to the same config."""
    return yaml.safe_dump(cfg.model_dump(), sort_keys=False)
