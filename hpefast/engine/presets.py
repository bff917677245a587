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

from hpefast.engine.config import (
    DataConfig,
    DatasetConfig,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TestConfig,
    TrainConfig,
)

__all__ = ["PRESETS", "get_preset", "preset_names"]

# variant -> (layer decay, drop path)
_VARIANTS = {"s": (0.8, 0.1), "b": (0.75, 0.3), "l": (0.8, 0.5), "h": (0.85, 0.55)}

_COCO = DatasetConfig(
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
_MPII = DatasetConfig(
    name="mpii",
    format="mpii",
    schema="mpii",
    train_ann="mpii/annotations/mpii_train.json",
    train_images="mpii/images",
    val_ann="mpii/annotations/mpii_val.json",
    val_images="mpii/images",
    metric="pckh",
)
_AIC = DatasetConfig(
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


def _vitpose(variant: str, task: str) -> TrainConfig:
    layer_decay, drop_path = _VARIANTS[variant]
    layout, datasets = _TASKS[task]
    name = f"vitpose-{variant}-{task}"
    return TrainConfig(
        name=name,
        output_dir=f"work_dirs/{name}",
        model=ModelConfig(
            variant=variant, layout=layout, head="classic", image_size=(192, 256), drop_path=drop_path
        ),
        data=DataConfig(
            datasets=copy.deepcopy(datasets), batch_size=64, val_batch_size=64, workers=4, sigma=2.0
        ),
        optim=OptimConfig(
            lr=5e-4, weight_decay=0.1, layer_decay=layer_decay, betas=(0.9, 0.999), clip_grad=1.0
        ),
        schedule=ScheduleConfig(
            epochs=210, warmup_iters=500, warmup_ratio=0.001, milestones=(170, 200), gamma=0.1
        ),
        test=TestConfig(flip_test=True, decode="dark_udp", blur_kernel=11),
    )


def _tiny_synthetic() -> TrainConfig:
    """The ``hpefast demo`` run: a tiny union21 ViTPose on the synthetic COCO + MPII data the demo writes
    (``data.root`` = ``DIR/data``, one folder per dataset and split). Train it again on that data with
    ``hpefast train tiny-synthetic data.root=hpefast-demo/data``."""

    def synthetic(name: str, fmt: str, metric: str) -> DatasetConfig:
        return DatasetConfig(
            name=name,
            format=fmt,
            schema=name,
            train_ann=f"{name}_train/{name}.json",
            train_images=f"{name}_train/images",
            val_ann=f"{name}_val/{name}.json",
            val_images=f"{name}_val/images",
            metric=metric,
        )

    return TrainConfig(
        name="tiny-synthetic",
        output_dir="work_dirs/tiny-synthetic",
        amp=False,
        model=ModelConfig(
            variant="tiny", layout="union21", head="classic", image_size=(96, 128), drop_path=0.0
        ),
        data=DataConfig(
            root="hpefast-demo/data",
            datasets=[synthetic("coco", "coco", "coco_ap"), synthetic("mpii", "mpii", "pckh")],
            batch_size=32,
            val_batch_size=64,
            workers=0,
            sigma=2.0,
        ),
        optim=OptimConfig(lr=2e-3, weight_decay=0.01, layer_decay=1.0, clip_grad=1.0),
        schedule=ScheduleConfig(epochs=9, warmup_iters=40, warmup_ratio=0.01, milestones=(8,), gamma=0.1),
        test=TestConfig(flip_test=True, decode="dark_udp", blur_kernel=11),
        log_interval=10,
        checkpoint_interval=10**9,
        val_interval=0,
    )


def _build() -> dict[str, TrainConfig]:
    presets = {}
    for variant in _VARIANTS:
        for task in _TASKS:
            presets[f"vitpose-{variant}-{task}"] = _vitpose(variant, task)
        for alias, task in _ALIASES.items():
            presets[f"vitpose-{variant}-{alias}"] = _vitpose(variant, task)
    presets["tiny-synthetic"] = _tiny_synthetic()
    return presets


PRESETS: dict[str, TrainConfig] = _build()


def preset_names() -> list[str]:
    """Names of the built-in presets, sorted: ``tiny-synthetic`` and ``vitpose-{s,b,l,h}-DATA`` with DATA
    one of coco, mpii, aic, union21 / coco+mpii, union23 / coco+mpii+aic. What ``hpefast train PRESET``
    and a config's ``base: PRESET`` accept."""
    return sorted(PRESETS)


def get_preset(name: str) -> TrainConfig:
    """A fresh copy of preset ``name`` (see :data:`PRESETS`); unknown names get a did-you-mean."""
    if name not in PRESETS:
        from hpefast.engine.config import ConfigError, _did_you_mean

        raise ConfigError(f"unknown preset {name!r}{_did_you_mean(name, PRESETS)}")
    return copy.deepcopy(PRESETS[name])
