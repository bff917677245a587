"""DDP through torchrun on CPU (gloo, 2 processes): the sharded sampler and gradient averaging make a 2 x 2
run follow the same loss curve as one process with batch 4; rank 0 alone writes logs and checkpoints, which
hold both ranks' RNG states; validation gathers every rank's predictions."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from hpefast.engine.config import load_config, to_dict
from hpefast.engine.state import load_state
from hpefast.engine.trainer import train

ROOT = Path(__file__).resolve().parents[1]


def _write_full_visibility_coco(root: Path, n: int = 8) -> Path:
    """COCO-17 data where every joint is labelled and inside its box: with no augmentation each sample then
    has exactly 17 labelled joints, so a batch's masked mean equals the mean of its halves' means."""
    from hpefast.keypoints import get_schema

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i in range(n):
        cv2.imwrite(str(root / "images" / f"{i}.png"), (rng.random((96, 128, 3)) * 255).astype(np.uint8))
        images.append({"id": i + 1, "file_name": f"{i}.png", "width": 128, "height": 96})
        kp = np.stack([rng.uniform(40, 88, 17), rng.uniform(20, 76, 17), np.full(17, 2.0)], 1)
        anns.append(
            {
                "id": i + 1,
                "image_id": i + 1,
                "category_id": 1,
                "bbox": [36.0, 16.0, 56.0, 64.0],
                "area": 3584.0,
                "iscrowd": 0,
                "num_keypoints": 17,
                "keypoints": kp.ravel().tolist(),
            }
        )
    cat = {"id": 1, "name": "person", "keypoints": list(get_schema("coco").names), "skeleton": []}
    path = root / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [cat]}))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_matches_one_process(tmp_path):
    ann = _write_full_visibility_coco(tmp_path / "data")
    ds = {
        "name": "coco",
        "train_ann": str(ann),
        "train_images": str(ann.parent / "images"),
        "val_ann": str(ann),
        "val_images": str(ann.parent / "images"),
    }

    def cfg(out: Path, batch: int):
        return load_config(
            {
                "base": "tiny-synthetic",
                "output_dir": str(out),
                "progress": False,
                "log_interval": 1,
                "model": {"image_size": [48, 64], "layout": "coco", "decoder": "simple"},  # no BatchNorm
                "data": {"datasets": [ds], "batch_size": batch, "augment": False, "val_batch_size": 3},
                "schedule": {"epochs": 2, "warmup_iters": 2, "milestones": [1]},
                "val_interval": 1,
            }
        )

    single = train(cfg(tmp_path / "single", 4))
    ddp_cfg = tmp_path / "ddp.yaml"
    ddp_cfg.write_text(yaml.safe_dump(to_dict(cfg(tmp_path / "ddp", 2))))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), "-m", "hpefast", "train", str(ddp_cfg),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]

    log = [json.loads(line) for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()]
    assert log[0]["world_size"] == 2
    ddp_losses = [r["loss"] for r in log if r["type"] == "train"]
    assert len(ddp_losses) == single.step == 4
    np.testing.assert_allclose(ddp_losses, [v for _, v in single.losses], rtol=2e-4)
    vals = [r for r in log if r["type"] == "val"]
    assert [r["epoch"] for r in vals] == [1, 2] and all("coco/AP" in r for r in vals)
    state = load_state(tmp_path / "ddp" / "checkpoints" / "last.pt")
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # ranks seeded apart
    assert (tmp_path / "ddp" / "model").exists()
