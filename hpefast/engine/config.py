"""Typed training configuration: dataclasses that refuse unknown keys, YAML loading, ``key=value`` overrides.

A config is a tree of dataclasses (``TrainConfig`` at the root). It is built from plain dicts by
:func:`from_dict`, which checks every key against the dataclass fields and every value against the field
type, so a typo such as ``decay_multi`` for ``decay_mult`` is an error with a suggestion, never a silently
ignored setting. Sources, merged in this order:

1. a preset (``hpefast.engine.presets``), named directly or through ``base:`` in a YAML file;
2. the YAML file itself (``base:`` may also be another YAML path, relative to the file);
3. command-line overrides ``section.key=value`` (values parsed as YAML, then checked against the field type;
   list items by index or, for ``data.datasets``, by dataset name: ``data.datasets.mpii.ratio=0.5``).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

__all__ = [
    "ConfigError",
    "DatasetConfig",
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


class ConfigError(ValueError):
    """A config key or value is wrong; the message names the key path (``optim.lr``) and the source."""


# ----------------------------------------------------------------------------------------------------------
# The schema
# ----------------------------------------------------------------------------------------------------------


@dataclass
class ModelConfig:
    """The network. ``options`` go to ``hpefast.models.build_model`` as keyword arguments (e.g. a smaller
    ``embed_dim`` for CPU experiments); ``build_model`` refuses names it does not know."""

    variant: Literal["tiny", "s", "b", "l", "h"] = "b"
    layout: str = "coco"  # keypoint schema the model predicts (coco, mpii, aic, union21, union23, ...)
    head: str = "classic"
    image_size: tuple[int, int] = (192, 256)  # (W, H) of the input crop
    drop_path: float = 0.3
    pretrained: str | None = None  # backbone / full-model weights to start from (hpefast or official format)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetConfig:
    """One source of training and/or validation instances, in its own keypoint schema.

    Paths are relative to ``data.root`` unless absolute. ``format`` picks the loader (COCO json or the
    mmpose/HRNet MPII json); ``schema`` the keypoint definition of the annotation (``coco``, ``aic``,
    ``mpii``, ``crowdpose``, ``ap10k`` or any registered one). ``metric``: ``coco_ap`` (OKS AP with the
    schema's sigmas) or ``pckh`` (MPII protocol).
    """

    name: str = "coco"
    format: Literal["coco", "mpii"] = "coco"
    schema: str = "coco"
    train_ann: str | None = None
    train_images: str | None = None
    val_ann: str | None = None
    val_images: str | None = None
    val_boxes: str | None = None  # detector results json for COCO-style evaluation; None = ground-truth boxes
    ratio: float | None = None  # sampling weight in a multi-dataset epoch; None = proportional to size
    metric: Literal["coco_ap", "pckh"] = "coco_ap"
    use_area: bool = True  # COCOeval area ranges (False for sets without ``area``, e.g. AIC, CrowdPose)
    box_score_threshold: float = 0.0


@dataclass
class DataConfig:
    """Training and validation data: the datasets (all mapped into the model's layout), loaders and codec."""

    root: str = "data"
    datasets: list[DatasetConfig] = field(default_factory=lambda: [DatasetConfig()])
    batch_size: int = 64  # per process; the recipe's 512 is 8 processes x 64
    val_batch_size: int = 64
    workers: int = 4
    sigma: float = 2.0
    codec: Literal["udp", "msra"] = "udp"
    use_joint_weights: bool = False  # multiply the target weights by the layout's joint_weights
    augment: bool = True  # random flip / half body / scale / rotation in the training datasets
    max_train_samples: int | None = None  # cap per dataset (first N instances); for quick experiments
    max_val_samples: int | None = None


@dataclass
class OptimConfig:
    """AdamW with layer-wise learning-rate decay over the ViT blocks and global gradient clipping."""

    lr: float = 5e-4
    weight_decay: float = 0.1
    layer_decay: float = 0.75  # lr x decay^(depth + 1 - layer_id); 1.0 disables
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad: float | None = 1.0  # max global L2 norm; None disables


@dataclass
class ScheduleConfig:
    """Step schedule in epochs with a linear warmup in iterations (mmcv ``policy='step'``)."""

    epochs: int = 210
    warmup_iters: int = 500
    warmup_ratio: float = 0.001  # lr at iteration 0 = lr x warmup_ratio
    milestones: tuple[int, ...] = (170, 200)  # increasing epochs <= epochs at which lr is multiplied by gamma
    gamma: float = 0.1


@dataclass
class TestConfig:
    """Inference at validation: flip test, heatmap decoding and the COCO-style rescoring / OKS-NMS."""

    flip_test: bool = True
    decode: Literal["dark_udp", "dark", "shift", "argmax"] = "dark_udp"
    blur_kernel: int = 11
    score_threshold: float = 0.2  # keypoints above it enter the instance rescoring (mmpose vis_thr)
    oks_nms: float | None = 0.9  # OKS-NMS threshold for COCO-style results; None disables


@dataclass
class TrainConfig:
    """Everything ``hpefast train`` needs. ``output_dir`` receives ``config.yaml``, ``log.jsonl``,
    ``checkpoints/last.pt`` (training state, for resume) and ``model/`` (hpefast model format)."""

    name: str = "experiment"
    output_dir: str = "work_dirs/experiment"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    ema: float | None = None  # EMA decay of the weights (e.g. 0.9999); validation then uses the EMA model
    deterministic: bool = False
    resume: str | None = None  # "auto" (output_dir's last checkpoint if any) or a training checkpoint path
    halt_after_steps: int | None = None  # stop early without changing the schedule (time-limited jobs, tests)
    log_interval: int = 50
    checkpoint_interval: int = 1000  # steps; a checkpoint is also written at every epoch end
    val_interval: int = 10  # epochs; 0 = only after the last epoch
    tensorboard: bool = True  # only if the ``tensorboard`` package is importable
    progress: bool = True  # tqdm bar on rank 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    test: TestConfig = field(default_factory=TestConfig)


# ----------------------------------------------------------------------------------------------------------
# dict <-> dataclass with checking
# ----------------------------------------------------------------------------------------------------------


def _did_you_mean(word: str, options: typing.Iterable[str]) -> str:
    options = list(options)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; valid keys: {', '.join(sorted(options))}"


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp``; convert YAML-ish values (list -> tuple, "1e-3" -> float)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value in args:
            return value
        hint = _did_you_mean(str(value), [str(a) for a in args]) if isinstance(value, str) else ""
        raise ConfigError(f"{where}: {value!r} is not one of {list(args)}{hint}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{where}.{i}") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}.{i}") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)} ({value!r})")
        return tuple(_coerce(v, a, f"{where}.{i}") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "5e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    raise ConfigError(f"{where}: unsupported field type {tp!r}")  # a bug in the schema, not the input


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise :class:`ConfigError`.

    Missing keys take the dataclass defaults. ``where`` prefixes key paths in messages.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise ConfigError(f"unknown config key {path!r}{_did_you_mean(str(key), names)}")
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) that :func:`from_dict` turns back into the same config."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(cfg)


def dump_yaml(cfg: TrainConfig) -> str:
    """``cfg`` as YAML text, keys in field order (what ``output_dir/config.yaml`` holds)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


# ----------------------------------------------------------------------------------------------------------
# Overrides and loading
# ----------------------------------------------------------------------------------------------------------


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "options":
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text


def _set_path(tree: dict[str, Any], cls: type, parts: list[str], value: Any, full: str) -> None:
    """Set ``value`` at ``parts`` inside ``tree`` (the dict form of dataclass ``cls``), checking key names."""
    key = parts[0]
    names = [f.name for f in dataclasses.fields(cls)]
    if key not in names:
        dotted = full.split("=", 1)[0].strip()
        prefix = dotted[: len(dotted) - len(".".join(parts))]
        raise ConfigError(
            f"unknown config key {prefix + key!r} in override {full!r}{_did_you_mean(key, names)}"
        )
    if len(parts) == 1:
        tree[key] = value
        return
    tp = _hints(cls)[key]
    if dataclasses.is_dataclass(tp):
        _set_path(tree.setdefault(key, {}), tp, parts[1:], value, full)
    elif typing.get_origin(tp) is list and dataclasses.is_dataclass(typing.get_args(tp)[0]):
        items = tree.setdefault(key, [])
        sel = parts[1]
        if sel.isdigit():
            i = int(sel)
            if i >= len(items):
                raise ConfigError(f"override {full!r}: {key} has {len(items)} entries, no index {i}")
        else:
            found = [j for j, it in enumerate(items) if it.get("name") == sel]
            if not found:
                names_ = [it.get("name", "") for it in items]
                raise ConfigError(
                    f"override {full!r}: no entry named {sel!r} in {key}{_did_you_mean(sel, names_)}"
                )
            i = found[0]
        if len(parts) == 2:
            items[i] = value
        else:
            _set_path(items[i], typing.get_args(tp)[0], parts[2:], value, full)
    elif typing.get_origin(tp) is dict:
        tree.setdefault(key, {})
        node = tree[key]
        for p in parts[1:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    else:
        raise ConfigError(f"override {full!r}: {key!r} is a value, not a section")


def apply_overrides(tree: dict[str, Any], overrides: typing.Iterable[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings to the dict form of a :class:`TrainConfig`."""
    tree = copy.deepcopy(tree)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. optim.lr=1e-3)")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        _set_path(tree, TrainConfig, key.split("."), _parse_value(text), item)
    return tree


def _load_tree(source: str | Path, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    from hpefast.engine import presets

    text = str(source)
    if text in presets.PRESETS:
        return to_dict(presets.get_preset(text))
    path = Path(text)
    if not path.is_file():
        if path.suffix in (".yaml", ".yml") or "/" in text:
            raise FileNotFoundError(f"config file {text!r} does not exist")
        raise ConfigError(
            f"{text!r} is neither a preset nor a YAML file{_did_you_mean(text, presets.PRESETS)}"
        )
    resolved = str(path.resolve())
    if resolved in seen:
        raise ConfigError(f"{text}: 'base' chain loops back to itself")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{text}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{text}: the top level must be a mapping, got {type(data).__name__}")
    base = data.pop("base", None)
    tree: dict[str, Any] = {}
    if base is not None:
        base_path = Path(str(base))
        if str(base) not in presets.PRESETS and not base_path.is_absolute():
            base_path = path.parent / base_path
        tree = _load_tree(str(base) if str(base) in presets.PRESETS else base_path, seen + (resolved,))
    try:
        from_dict(TrainConfig, data)  # check the file's own keys, naming the file
    except ConfigError as exc:
        raise ConfigError(f"{text}: {exc}") from None
    return _deep_merge(tree, data)


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
    elif isinstance(source, dict):
        tree = dict(source)
        base = tree.pop("base", None)
        if base is not None:
            tree = _deep_merge(_load_tree(base), tree)
    else:
        tree = _load_tree(source)
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
    if cfg.data.sigma <= 0:
        raise ConfigError(f"data.sigma must be positive, got {cfg.data.sigma}")
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
    if cfg.resume is not None and cfg.resume != "auto" and not Path(cfg.resume).exists():
        raise FileNotFoundError(f"resume: checkpoint {cfg.resume!r} does not exist")
