"""Typed training configuration: pydantic models refusing unknown keys, YAML files, ``key=value`` overrides.

A config is a tree of pydantic models (``TrainConfig`` at the root). Every key is checked against the
model fields and every value against the field type, so a typo such as ``decay_multi`` for ``decay_mult``
is an error with a suggestion (:class:`~hpefast.errors.ConfigError`), never a silently ignored setting.
Sources, merged in this order:

1. a preset (``hpefast.engine.presets``), named directly or through ``base:`` in a YAML file;
2. the YAML file itself (``base:`` may also be another YAML path, relative to the file);
3. command-line overrides ``section.key=value`` (values parsed as YAML, then checked against the field type;
   list items by index or, for ``data.datasets``, by dataset name: ``data.datasets.mpii.ratio=0.5``).

The ``model`` section is the model's own config (:class:`~hpefast.models.config.ViTPoseConfig`, plus
``pretrained``), heatmap codec included (``model.codec``). Values left unset take the published value of
``model.variant``: ``model: {variant: s}`` trains with ViTPose-S's drop path 0.1 and, through
``optim.layer_decay``, its layer decay 0.8. Presets store only what their recipe sets, so ``base:
vitpose-b-coco`` with ``model.variant=s`` is ViTPose-S with S's values too.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, StrictBool, ValidationError, model_validator

from hpefast._config import ConfigSource, Section, config_error
from hpefast.errors import ConfigError
from hpefast.models.config import VARIANTS, ViTPoseConfig

__all__ = [
    "ConfigError",
    "DatasetConfig",
    "DistillConfig",
    "LossConfig",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TestConfig",
    "TrainConfig",
    "apply_overrides",
    "from_dict",
    "load_config",
    "to_dict",
    "dump_yaml",
]


# ----------------------------------------------------------------------------------------------------------
# The schema
# ----------------------------------------------------------------------------------------------------------


class ModelConfig(ViTPoseConfig):
    """The network: every :class:`~hpefast.models.config.ViTPoseConfig` field (unset sizes take the
    variant's published values; ``codec`` is the heatmap codec) plus where to start from.

    Attributes:
        pretrained: backbone / full-model weights to start from (hpefast or official format). The weights
            are copied into the run's checkpoints, so the file is not needed after the run starts.
    """

    pretrained: str | None = None

    def model_cfg(self, **changes: Any) -> ViTPoseConfig:
        """The :class:`ViTPoseConfig` to build (``pretrained`` dropped), with ``changes`` applied."""
        d = self.to_dict()
        d.pop("pretrained", None)
        return ViTPoseConfig.from_dict(d).replace(**changes) if changes else ViTPoseConfig.from_dict(d)


class DatasetConfig(Section):
    """One source of training and/or validation instances, in its own keypoint schema.

    Paths are relative to ``data.root`` unless absolute. ``format`` picks the loader (COCO json or the
    mmpose/HRNet MPII json); ``schema`` the keypoint definition of the annotation (``coco``, ``aic``,
    ``mpii``, ``crowdpose``, ``ap10k`` or any registered one). ``metric``: ``coco_ap`` (OKS AP with the
    schema's sigmas; CrowdPose data is scored by the CrowdPose protocol) or ``pckh`` (MPII protocol).
    ``mpii_gt``: the official ``mpii_gt_val.mat`` (head boxes and visibility of the validation set), needed
    for PCKh when the validation json has no head boxes (the real ``mpii_val.json`` has none).
    ``strict``: stop at the first malformed annotation or unreadable image (True) or skip them with one
    summary warning (False). ``max_image_pixels``: decompression-bomb limit, checked from the image header
    before decoding (``hpefast.data.images.DEFAULT_MAX_IMAGE_PIXELS``).
    """

    name: str = "coco"
    format: Literal["coco", "mpii"] = "coco"
    schema_: str = Field("coco", alias="schema")
    train_ann: str | None = None
    train_images: str | None = None
    val_ann: str | None = None
    val_images: str | None = None
    val_boxes: str | None = None  # detector results json for COCO-style evaluation; None = ground-truth boxes
    mpii_gt: str | None = None
    ratio: float | None = None  # sampling weight in a multi-dataset epoch; None = proportional to size
    metric: Literal["coco_ap", "pckh"] = "coco_ap"
    use_area: StrictBool = True  # COCOeval area ranges (False for sets without ``area``, e.g. AIC, CrowdPose)
    box_score_threshold: float = 0.0
    strict: StrictBool = True
    max_image_pixels: int | None = (
        2**28
    )  # images with more pixels are refused before decoding; None: no limit

    model_config = {**Section.model_config, "populate_by_name": True}

    @property
    def schema(self) -> str:  # type: ignore[override]
        """The keypoint schema name of the annotations."""
        return self.schema_


class DataConfig(Section):
    """Training and validation data: the datasets (all mapped into the model's layout) and loaders.
    Targets are made by the model's codec (``model.codec``)."""

    root: str = "data"
    datasets: list[DatasetConfig] = Field(default_factory=lambda: [DatasetConfig()])
    batch_size: int = 64  # per process; the recipe's 512 is 8 processes x 64
    val_batch_size: int = 64
    workers: int = 4
    use_joint_weights: StrictBool = False  # multiply the target weights by the layout's joint_weights
    augment: StrictBool = True  # random flip / half body / scale / rotation in the training datasets
    max_train_samples: int | None = None  # cap per dataset (first N instances); for quick experiments
    max_val_samples: int | None = None


class OptimConfig(Section):
    """AdamW with layer-wise learning-rate decay over the ViT blocks and global gradient clipping.
    ``layer_decay`` unset takes the published value of ``model.variant`` (1.0 for ``custom``)."""

    lr: float = 5e-4
    weight_decay: float = 0.1
    layer_decay: float | None = None  # lr x decay^(depth + 1 - layer_id); 1.0 disables
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad: float | None = 1.0  # max global L2 norm; None disables


class ScheduleConfig(Section):
    """Step schedule in epochs with a linear warmup in iterations (mmcv ``policy='step'``)."""

    epochs: int = 210
    warmup_iters: int = 500
    warmup_ratio: float = 0.001  # lr at iteration 0 = lr x warmup_ratio
    milestones: tuple[int, ...] = (170, 200)  # increasing epochs <= epochs at which lr is multiplied by gamma
    gamma: float = 0.1


class TestConfig(Section):
    """Inference at validation: flip test and the COCO-style rescoring / OKS-NMS. Decoding is the model
    codec's (``model.codec.decoder``)."""

    __test__ = False  # not a pytest class

    flip_test: StrictBool = True
    score_threshold: float = 0.2  # keypoints above it enter the instance rescoring (mmpose vis_thr)
    oks_nms: float | None = 0.9  # OKS-NMS threshold for COCO-style results; None disables


class LossConfig(Section):
    """The heatmap loss (:func:`hpefast.ops.union_heatmap_loss`) and its target-imbalance options.

    Attributes:
        ohkm_topk: online hard keypoint mining: keep each sample's k largest joint losses (None: all).
        amplitude: compare the prediction with ``amplitude * target`` (heatmap amplitude scaling). The
            model then predicts maps of peak ``amplitude``; decoding (argmax / DARK) is scale-free.
        fg_threshold, fg_weight: foreground-weighted MSE: target pixels above ``fg_threshold`` weigh
            ``fg_weight`` (1 = plain MSE).
    """

    ohkm_topk: int | None = None
    amplitude: float = 1.0
    fg_threshold: float = 0.0
    fg_weight: float = 1.0

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`hpefast.ops.union_heatmap_loss`."""
        return dict(
            ohkm_topk=self.ohkm_topk,
            amplitude=self.amplitude,
            fg_threshold=self.fg_threshold,
            fg_weight=self.fg_weight,
        )


class DistillConfig(Section):
    """Heatmap (and feature) distillation from a frozen teacher (Fast Pose Distillation, DWPose);
    see :mod:`hpefast.engine.distill`.

    Attributes:
        teacher: an hpefast model checkpoint (``hpefast train``'s ``model/`` folder, or ``.safetensors``).
        alpha: weight of the teacher term in ``(1 - alpha) * L(student, GT) + alpha * L(student, teacher)``,
            in [0, 1].
        alpha_schedule: ``constant``, or ``linear_decay`` (alpha -> 0 linearly over the run).
        feature_weight: >= 0; DWPose-style feature distillation: MSE between a 1x1 projection of the
            student's backbone features and the teacher's, weight decaying linearly to 0 over the run.
        teacher_bf16: run the teacher under bf16 autocast on CUDA.
    """

    teacher: str
    alpha: float = 0.5
    alpha_schedule: Literal["constant", "linear_decay"] = "constant"
    feature_weight: float = 0.0
    teacher_bf16: StrictBool = True


class TrainConfig(Section):
    """Everything ``hpefast train`` needs. ``output_dir`` receives ``config.yaml``, ``log.jsonl``,
    ``checkpoints/last.pt`` (training state, for resume) and ``model/`` (hpefast model format)."""

    name: str = "experiment"
    output_dir: str = "work_dirs/experiment"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: StrictBool = True  # bf16 autocast on CUDA (ignored on CPU)
    ema: float | None = None  # EMA decay of the weights (e.g. 0.9999); validation then uses the EMA model
    deterministic: StrictBool = False
    resume: str | None = None  # "auto" (output_dir's last checkpoint if any) or a training checkpoint path
    halt_after_steps: int | None = None  # stop early without changing the schedule (time-limited jobs, tests)
    log_interval: int = 50
    checkpoint_interval: int = 1000  # steps; a checkpoint is also written at every epoch end
    val_interval: int = 10  # epochs; 0 = only after the last epoch
    tensorboard: StrictBool = True  # only if the ``tensorboard`` package is importable
    progress: StrictBool = True  # tqdm bar on rank 0
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    test: TestConfig = Field(default_factory=TestConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    distill: DistillConfig | None = None

    @model_validator(mode="after")
    def _resolve_variant(self) -> TrainConfig:
        if self.optim.layer_decay is None:
            spec = VARIANTS.get(self.model.variant)
            # bypass validate_assignment (which would re-run this validator)
            self.optim.__dict__["layer_decay"] = 1.0 if spec is None else spec.layer_decay
        return self


# ----------------------------------------------------------------------------------------------------------
# dict <-> config with checking
# ----------------------------------------------------------------------------------------------------------


def from_dict(cls: type[BaseModel], data: dict[str, Any], where: str = "") -> Any:
    """Build config ``cls`` from ``data``; unknown keys and wrong types raise :class:`ConfigError`.

    Missing keys take the defaults. ``where`` prefixes key paths in messages.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, cls, where) from None


def to_dict(cfg: BaseModel) -> dict[str, Any]:
    """Plain nested dict (tuples as lists, every value resolved) that :func:`from_dict` turns back into
    the same config."""
    return cfg.model_dump(mode="json", by_alias=True)


def dump_yaml(cfg: TrainConfig) -> str:
    """``cfg`` as YAML text, keys in field order (what ``output_dir/config.yaml`` holds)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


# ----------------------------------------------------------------------------------------------------------
# Overrides and loading
# ----------------------------------------------------------------------------------------------------------


def _presets() -> dict[str, Any]:
    from hpefast.engine import presets

    return {name: (lambda n=name: presets.preset_tree(n)) for name in presets.PRESETS}


# YAML files with ``base:`` chains, presets and ``key=value`` overrides (hpefast._config.ConfigSource)
SOURCE = ConfigSource(lambda: TrainConfig, _presets, kind="preset")


def apply_overrides(tree: dict[str, Any], overrides: typing.Iterable[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings to the dict form of a :class:`TrainConfig` (a new dict)."""
    return SOURCE.apply_overrides(tree, overrides)


def load_config(
    source: str | Path | dict[str, Any] | TrainConfig | None = None, overrides: typing.Iterable[str] = ()
) -> TrainConfig:
    """Build a :class:`TrainConfig` from a preset name, a YAML path or a dict, then apply overrides.

    >>> cfg = load_config("vitpose-b-coco", ["optim.lr=1e-3", "data.batch_size=32"])
    >>> cfg.optim.lr, cfg.optim.layer_decay
    (0.001, 0.75)
    """
    if source is None:
        tree = to_dict(TrainConfig())
    elif isinstance(source, TrainConfig):
        tree = to_dict(source)
    else:
        tree = SOURCE.tree(source)
    tree = apply_overrides(tree, overrides)
    cfg = from_dict(TrainConfig, tree)
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Cross-field checks that a field type cannot express."""
    if cfg.data.batch_size <= 0 or cfg.data.val_batch_size <= 0:
        raise ConfigError("data.batch_size and data.val_batch_size must be positive")
    if cfg.data.workers < 0:
        raise ConfigError("data.workers must be >= 0")
    if not cfg.data.datasets:
        raise ConfigError("data.datasets is empty: give at least one dataset")
    names = [d.name for d in cfg.data.datasets]
    if len(set(names)) != len(names):
        raise ConfigError(f"data.datasets names must be unique, got {names}")
    for i, d in enumerate(cfg.data.datasets):
        if (d.train_ann is None) != (d.train_images is None):
            raise ConfigError(
                f"data.datasets.{i} ({d.name}): give both train_ann and train_images, or neither"
            )
        if (d.val_ann is None) != (d.val_images is None):
            raise ConfigError(f"data.datasets.{i} ({d.name}): give both val_ann and val_images, or neither")
        if d.metric == "pckh" and d.format != "mpii":
            raise ConfigError(f"data.datasets.{i} ({d.name}): metric 'pckh' needs format 'mpii' (head boxes)")
        if d.ratio is not None and d.ratio <= 0:
            raise ConfigError(f"data.datasets.{i} ({d.name}): ratio must be positive, got {d.ratio}")
    if cfg.optim.lr <= 0:
        raise ConfigError(f"optim.lr must be positive, got {cfg.optim.lr}")
    if not 0 < cfg.optim.layer_decay <= 1:
        raise ConfigError(f"optim.layer_decay must be in (0, 1], got {cfg.optim.layer_decay}")
    if cfg.schedule.epochs <= 0:
        raise ConfigError(f"schedule.epochs must be positive, got {cfg.schedule.epochs}")
    if any(m <= 0 for m in cfg.schedule.milestones):
        raise ConfigError(f"schedule.milestones must be positive epochs, got {list(cfg.schedule.milestones)}")
    ms = list(cfg.schedule.milestones)
    if any(a >= b for a, b in zip(ms, ms[1:])):
        raise ConfigError(f"schedule.milestones must be increasing, got {ms} (ascending, each epoch once)")
    if ms and ms[-1] > cfg.schedule.epochs:
        raise ConfigError(
            f"schedule.milestones {ms} go beyond schedule.epochs={cfg.schedule.epochs}: the lr would never "
            "drop there (epochs are counted from 0; a milestone m applies from epoch m on)"
        )
    if cfg.ema is not None and not 0 < cfg.ema < 1:
        raise ConfigError(f"ema must be a decay in (0, 1), got {cfg.ema}")
    if cfg.model.image_size[0] <= 0 or cfg.model.image_size[1] <= 0:
        raise ConfigError(f"model.image_size must be positive (W, H), got {cfg.model.image_size}")
    _validate_loss_and_distill(cfg)
    if cfg.resume is not None and cfg.resume != "auto" and not Path(cfg.resume).exists():
        raise FileNotFoundError(f"resume: checkpoint {cfg.resume!r} does not exist")


def _validate_loss_and_distill(cfg: TrainConfig) -> None:
    import math

    lo = cfg.loss
    if lo.ohkm_topk is not None and lo.ohkm_topk < 1:
        raise ConfigError(f"loss.ohkm_topk must be None or >= 1, got {lo.ohkm_topk}")
    if not (math.isfinite(lo.amplitude) and lo.amplitude > 0):
        raise ConfigError(f"loss.amplitude must be finite and > 0, got {lo.amplitude}")
    if not (math.isfinite(lo.fg_weight) and lo.fg_weight >= 0):
        raise ConfigError(f"loss.fg_weight must be finite and >= 0, got {lo.fg_weight}")
    if not math.isfinite(lo.fg_threshold):
        raise ConfigError(f"loss.fg_threshold must be finite, got {lo.fg_threshold}")
    d = cfg.distill
    if d is None:
        return
    if not 0.0 <= d.alpha <= 1.0:
        raise ConfigError(f"distill.alpha must be in [0, 1], got {d.alpha}")
    if not (math.isfinite(d.feature_weight) and d.feature_weight >= 0):
        raise ConfigError(f"distill.feature_weight must be finite and >= 0, got {d.feature_weight}")
