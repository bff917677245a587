"""Named training presets: ViTPose-{S,B,L,H} on COCO, MPII, AIC and their unions, and ``tiny-synthetic``.

The ViTPose recipe (Xu et al. 2022, configs ``ViTPose_{small,base,large,huge}_coco_256x192``): 256x192 input,
AdamW lr 5e-4, betas (0.9, 0.999), weight decay 0.1, layer-wise lr decay 0.8 / 0.75 / 0.8 / 0.85, drop path
0.1 / 0.3 / 0.5 / 0.55, gradient clipping at L2 norm 1.0, 500-iteration linear warmup from 0.001 x lr,
lr x 0.1 at epochs 170 and 200 of 210, total batch 512 (8 GPUs x 64), UDP targets with sigma 2,
flip test and the DARK-UDP decoder (blur kernel 11). Paths follow the mmpose data layout under ``data/``.

Union presets train one model on several datasets mapped into ``union21`` (COCO + MPII) or ``union23``
(COCO + MPII + AIC); each dataset is validated in its own schema and protocol.
"""

from __future__ import annotations

import copy
from typing import Any

from hpefast.engine.config import TrainConfig, from_dict

__all__ = ["PRESETS", "get_preset", "preset_names", "preset_tree"]

# Presets are stored as the keys their recipe sets, nothing more: sizes, drop path and layer decay are left
# unset so that they resolve from the variant (hpefast.models.config.VARIANTS, the one table of published
# values), also after a ``model.variant=...`` override.

_COCO = dict(
    name="coco",
    format="coco",
    schema="coco",
    train_ann="coco/annotations/person_keypoints_train2017.json",
    train_images="coco/train2017",
    val_ann="coco/annotations/person_keypoints_val2017.json",
    val_images="coco/val2017",
    val_boxes="coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json",
    metric="coco_ap",
)
_MPII = dict(
    name="mpii",
    format="mpii",
    schema="mpii",
    train_ann="mpii/annotations/mpii_train.json",
    train_images="mpii/images",
    val_ann="mpii/annotations/mpii_val.json",
    val_images="mpii/images",
    mpii_gt="mpii/annotations/mpii_gt_val.mat",  # the real mpii_val.json has no head boxes
    metric="pckh",
)
_AIC = dict(
    name="aic",
    format="coco",
    schema="aic",
    train_ann="aic/annotations/aic_train.json",
    train_images="aic/ai_challenger_keypoint_train_20170902/keypoint_train_images_20170902",
    val_ann="aic/annotations/aic_val.json",
    val_images="aic/ai_challenger_keypoint_validation_20170911/keypoint_validation_images_20170911",
    metric="coco_ap",
    use_area=False,  # AIC annotations have no area
)

# suffix -> (layout, datasets)
_TASKS = {
    "coco": ("coco", [_COCO]),
    "mpii": ("mpii", [_MPII]),
    "aic": ("aic", [_AIC]),
    "union21": ("union21", [_COCO, _MPII]),
    "union23": ("union23", [_COCO, _MPII, _AIC]),
}
_ALIASES = {"coco+mpii": "union21", "coco+mpii+aic": "union23"}


def _vitpose(variant: str, task: str) -> dict[str, Any]:
    layout, datasets = _TASKS[task]
    name = f"vitpose-{variant}-{task}"
    return dict(
        name=name,
        output_dir=f"work_dirs/{name}",
        model=dict(
            variant=variant,
            layout=layout,
            decoder="classic",
            image_size=[192, 256],
            codec=dict(method="udp", sigma=2.0, blur_kernel=11),  # decoder: the method's (dark_udp)
        ),
        data=dict(datasets=copy.deepcopy(datasets), batch_size=64, val_batch_size=64, workers=4),
        optim=dict(lr=5e-4, weight_decay=0.1, betas=[0.9, 0.999], clip_grad=1.0),
        schedule=dict(epochs=210, warmup_iters=500, warmup_ratio=0.001, milestones=[170, 200], gamma=0.1),
        test=dict(flip_test=True),
    )


def _tiny_synthetic() -> dict[str, Any]:
    """The ``hpefast demo`` run: a tiny union21 ViTPose on the synthetic COCO + MPII data the demo writes
    (``data.root`` = ``DIR/data``, one folder per dataset and split). Train it again on that data with
    ``hpefast train tiny-synthetic data.root=hpefast-demo/data``."""

    def synthetic(name: str, fmt: str, metric: str) -> dict[str, Any]:
        return dict(
            name=name,
            format=fmt,
            schema=name,
            train_ann=f"{name}_train/{name}.json",
            train_images=f"{name}_train/images",
            val_ann=f"{name}_val/{name}.json",
            val_images=f"{name}_val/images",
            metric=metric,
        )

    return dict(
        name="tiny-synthetic",
        output_dir="work_dirs/tiny-synthetic",
        amp=False,
        model=dict(
            variant="tiny",
            layout="union21",
            decoder="classic",
            image_size=[96, 128],
            codec=dict(method="udp", sigma=2.0, blur_kernel=11),  # decoder: the method's (dark_udp)
        ),
        data=dict(
            root="hpefast-demo/data",
            datasets=[synthetic("coco", "coco", "coco_ap"), synthetic("mpii", "mpii", "pckh")],
            batch_size=32,
            val_batch_size=64,
            workers=0,
        ),
        optim=dict(lr=2e-3, weight_decay=0.01, layer_decay=1.0, clip_grad=1.0),
        schedule=dict(epochs=9, warmup_iters=40, warmup_ratio=0.01, milestones=[8], gamma=0.1),
        test=dict(flip_test=True),
        log_interval=10,
        checkpoint_interval=10**9,
        val_interval=0,
    )


def _build() -> dict[str, dict[str, Any]]:
    presets = {}
    for variant in ("s", "b", "l", "h"):
        for task in _TASKS:
            presets[f"vitpose-{variant}-{task}"] = _vitpose(variant, task)
        for alias, task in _ALIASES.items():
            presets[f"vitpose-{variant}-{alias}"] = _vitpose(variant, task)
    presets["tiny-synthetic"] = _tiny_synthetic()
    return presets


# name -> the preset's own keys (a partial config tree, see the note at the top)
PRESETS: dict[str, dict[str, Any]] = _build()


def preset_names() -> list[str]:
    """Names of the built-in presets, sorted: ``tiny-synthetic`` and ``vitpose-{s,b,l,h}-DATA`` with DATA
    one of coco, mpii, aic, union21 / coco+mpii, union23 / coco+mpii+aic. What ``hpefast train PRESET``
    and a config's ``base: PRESET`` accept."""
    return sorted(PRESETS)


def _check_name(name: str) -> None:
    if name not in PRESETS:
        from hpefast._config import did_you_mean
        from hpefast.errors import ConfigError

        raise ConfigError(f"unknown preset {name!r}{did_you_mean(name, PRESETS)}")


def preset_tree(name: str) -> dict[str, Any]:
    """A fresh copy of the keys preset ``name`` sets (what a config's ``base:`` merges over)."""
    _check_name(name)
    return copy.deepcopy(PRESETS[name])


def get_preset(name: str) -> TrainConfig:
    """Preset ``name`` as a validated :class:`TrainConfig` (unset values resolved from the variant);
    unknown names get a did-you-mean."""
    return from_dict(TrainConfig, preset_tree(name))
