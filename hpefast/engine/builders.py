"""Build datasets and the model from a :class:`~hpefast.engine.config.TrainConfig`, checking that they fit.

All checks here run before the first training step: a dataset whose keypoint count disagrees with its
schema (raised by the loaders, naming the file and annotation), a validation schema the model's layout
cannot predict, a model or checkpoint made for another layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hpefast.engine.config import DatasetConfig, TrainConfig
from hpefast.errors import InputError

__all__ = [
    "DatasetEntry",
    "resolve_path",
    "build_datasets",
    "build_model",
    "check_model_layout",
    "resolve_device",
]


@dataclass
class DatasetEntry:
    """One configured dataset with its built train / val splits (None when not configured)."""

    cfg: DatasetConfig
    dataset_id: int
    train: Any = None
    val: Any = None
    val_ann: str | None = None


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; any other torch device string as it is
    (``"cpu"``, ``"cuda:1"``). ValueError when a CUDA device is asked for and CUDA is not available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {name!r}: use cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but CUDA is not available")
    return dev


def resolve_path(root: str, path: str | None) -> str | None:
    """``path`` with ``~`` expanded, a relative one taken relative to ``root`` (``None`` stays ``None``)."""
    if path is None:
        return None
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else Path(root).expanduser() / p)


def _check_exists(path: str, what: str) -> None:
    if not Path(path).exists():
        raise FileNotFoundError(f"{what} {path!r} does not exist")


def _make(
    d: DatasetConfig,
    ann: str,
    images: str,
    boxes: str | None,
    train: bool,
    cfg: TrainConfig,
    did: int,
    val: bool = False,
):
    from hpefast.data import CocoKeypointDataset, MpiiDataset

    common = dict(
        input_size=tuple(cfg.model.image_size), train=train, layout=cfg.model.layout, dataset_id=did
    )
    # The dataset config's `strict` (skip bad annotations / images with one warning when false) and
    # `max_image_pixels` (decompression-bomb limit), read with defaults until every config carries them.
    common["strict"] = bool(getattr(d, "strict", True))
    if hasattr(d, "max_image_pixels"):
        common["max_image_pixels"] = d.max_image_pixels
    if d.format == "mpii":
        if d.schema != "mpii":
            raise InputError(
                f"dataset {d.name!r}: format 'mpii' reads the MPII schema, got schema {d.schema!r}"
            )
        # head boxes for PCKh: the official mpii_gt_val.mat (the real mpii_val.json has none); only the
        # validation split needs them
        headboxes = resolve_path(cfg.data.root, d.mpii_gt) if val and d.mpii_gt else None
        if headboxes is not None:
            _check_exists(headboxes, f"dataset {d.name!r}: mpii_gt")
        return MpiiDataset(ann, images, headbox_file=headboxes, **common)
    kwargs: dict[str, Any] = dict(schema=d.schema, **common)
    if boxes is not None:
        kwargs.update(boxes=boxes, score_threshold=d.box_score_threshold)
    return CocoKeypointDataset(ann, images, **kwargs)


def build_datasets(cfg: TrainConfig, train: bool = True, val: bool = True) -> list[DatasetEntry]:
    """Build the configured train and/or val datasets, all mapped into ``cfg.model.layout``.

    Raises FileNotFoundError for a missing file, ValueError for annotations that do not match their schema
    (the loaders check every annotation), or a validation schema the layout cannot predict.
    """
    from hpefast.engine.validation import layout_index
    from hpefast.keypoints import get_schema

    layout = get_schema(cfg.model.layout)
    entries = []
    for did, d in enumerate(cfg.data.datasets):
        get_schema(d.schema)  # unknown schema names fail here, with the registry's message
        e = DatasetEntry(cfg=d, dataset_id=did)
        if train and d.train_ann is not None:
            ann = resolve_path(cfg.data.root, d.train_ann)
            img = resolve_path(cfg.data.root, d.train_images)
            _check_exists(ann, f"dataset {d.name!r}: train_ann")
            _check_exists(img, f"dataset {d.name!r}: train_images")
            e.train = _make(d, ann, img, None, cfg.data.augment, cfg, did)
            if cfg.data.max_train_samples is not None and len(e.train) > cfg.data.max_train_samples:
                e.train = _Head(e.train, cfg.data.max_train_samples)
        if val and d.val_ann is not None:
            ann = resolve_path(cfg.data.root, d.val_ann)
            img = resolve_path(cfg.data.root, d.val_images)
            boxes = resolve_path(cfg.data.root, d.val_boxes)
            _check_exists(ann, f"dataset {d.name!r}: val_ann")
            _check_exists(img, f"dataset {d.name!r}: val_images")
            if boxes is not None:
                _check_exists(boxes, f"dataset {d.name!r}: val_boxes")
            layout_index(layout.name, d.schema)
            e.val = _make(d, ann, img, boxes, False, cfg, did, val=True)
            e.val_ann = ann
            if d.metric == "pckh":  # fail before step 1, not at the first validation
                from hpefast.engine.validation import require_headboxes

                require_headboxes(e.val, f"dataset {d.name!r}")
            if cfg.data.max_val_samples is not None and len(e.val) > cfg.data.max_val_samples:
                e.val = _Head(e.val, cfg.data.max_val_samples)
        for split in (e.train, e.val):
            if split is not None and split.layout.num_keypoints != layout.num_keypoints:
                raise InputError(
                    f"dataset {d.name!r} yields {split.layout.num_keypoints} keypoints but the layout "
                    f"{layout.name!r} has {layout.num_keypoints}"
                )
        entries.append(e)
    if train and not any(e.train is not None for e in entries):
        raise InputError("no training data: set data.datasets[*].train_ann and train_images")
    return entries


class _Head(torch.utils.data.Dataset):
    """The first ``n`` instances of a dataset, keeping its ``schema``/``layout``/``ann_file`` attributes."""

    def __init__(self, dataset: Any, n: int) -> None:
        self.dataset = dataset
        self.n = int(n)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.dataset[i]

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


def check_model_layout(model: torch.nn.Module, layout: str, source: str) -> None:
    """ValueError when ``model`` (from ``source``: a file or 'the config') predicts another layout."""
    from hpefast.keypoints import get_schema

    mcfg = getattr(model, "module", model).cfg
    want = get_schema(layout)
    if mcfg.layout != want.name or mcfg.num_keypoints != want.num_keypoints:
        raise InputError(
            f"{source} is a model for layout {mcfg.layout!r} ({mcfg.num_keypoints} keypoints) but the config "
            f"trains layout {want.name!r} ({want.num_keypoints} keypoints); set model.layout={mcfg.layout} "
            f"or start from a checkpoint of layout {want.name!r}"
        )


def build_model(cfg: TrainConfig, num_datasets: int, *, pretrained: bool = True) -> torch.nn.Module:
    """The configured ViTPose, initialised from ``model.pretrained`` when given (checked for the layout).

    ``pretrained=False`` skips those weights (the model is about to get a checkpoint's: resuming must not
    depend on the pretrained file still existing)."""
    from hpefast.models import ViTPose

    m = cfg.model
    changes = {}
    if m.per_dataset_heads or m.num_experts:
        changes["num_datasets"] = num_datasets
    model = ViTPose(m.model_cfg(**changes))
    if m.pretrained and pretrained:
        _load_pretrained(model, m.pretrained, m.layout)
    return model


def _load_pretrained(model: torch.nn.Module, path: str, layout: str) -> None:
    """Load an hpefast model (same layout required) or, through the converters, an official checkpoint."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"model.pretrained {path!r} does not exist")
    if p.is_dir() or p.suffix in (".safetensors", ".json"):
        from hpefast.models.checkpoint import load_model

        src = load_model(str(p))
        check_model_layout(src, layout, f"model.pretrained {path!r}")
        missing, unexpected = model.load_state_dict(src.state_dict(), strict=False)
        if unexpected or [k for k in missing if not k.startswith("head.")]:
            raise InputError(
                f"model.pretrained {path!r} does not fit the configured architecture: "
                f"missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        return
    from hpefast.models import convert

    loader = getattr(convert, "load_pretrained", None)
    if loader is None:
        raise InputError(f"model.pretrained {path!r}: no converter for this file format")
    loader(model, str(p))
