"""Fixtures of the reliability suite (issue 11): a tiny synthetic COCO dataset and a training config
factory small enough for a run of a few steps in a second or two on 2 CPU cores."""

from __future__ import annotations

from pathlib import Path

import pytest

REL_IMAGE = (48, 64)  # model input (W, H) of the tiny ViT


@pytest.fixture(scope="session")
def rel_coco(tmp_path_factory) -> Path:
    """A 6-image synthetic COCO-format training set (annotation json; images beside it in images/)."""
    from hpefast.data.synthetic import write_dataset

    return write_dataset(
        tmp_path_factory.mktemp("rel_coco") / "coco", "coco", 6, seed=3, image_size=(160, 120)
    )


@pytest.fixture
def rel_config(rel_coco):
    """``rel_config(out, *overrides)`` -> a TrainConfig of the tiny model on ``rel_coco`` (coco layout)."""
    from hpefast.engine.config import load_config

    def make(out: Path, *overrides: str):
        ds = {
            "name": "coco",
            "format": "coco",
            "schema": "coco",
            "train_ann": str(rel_coco),
            "train_images": str(rel_coco.parent / "images"),
            "metric": "coco_ap",
        }
        return load_config(
            {
                "base": "tiny-synthetic",
                "output_dir": str(out),
                "progress": False,
                "log_interval": 1,
                "tensorboard": False,
                "model": {"image_size": list(REL_IMAGE), "layout": "coco"},
                "data": {"datasets": [ds], "batch_size": 2, "val_batch_size": 4, "workers": 0},
                "schedule": {"epochs": 2, "warmup_iters": 2, "milestones": [1]},
            },
            list(overrides),
        )

    return make
