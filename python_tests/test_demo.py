"""``hpefast demo``: the quick run writes every artefact in a valid form; the full run (minutes, opt-in with
HPEFAST_FULL_DEMO=1) reaches the README's quality bar."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from hpefast.cli import main


def _check_artefacts(out, metrics):
    import hpefast

    for key in (
        "coco_AP",
        "mpii_PCKh",
        "coco",
        "mpii",
        "seconds",
        "steps",
        "train_instances",
        "val_instances",
    ):
        assert key in metrics, key
    assert 0.0 <= metrics["coco_AP"] <= 1.0 and 0.0 <= metrics["mpii_PCKh"] <= 100.0
    assert metrics["coco"]["AP"] == metrics["coco_AP"] and metrics["mpii"]["PCKh"] == metrics["mpii_PCKh"]
    assert metrics["train_instances"]["coco"] > 0 and metrics["train_instances"]["mpii"] > 0
    for name in ("training_curve.png", "predictions_coco.png", "predictions_mpii.png"):
        image = cv2.imread(str(out / name))
        assert image is not None and image.shape[0] > 100 and image.shape[1] > 100, name
        assert image.std() > 5  # not a blank canvas
    model = hpefast.load_model(str(out / "model"))
    assert model.cfg.layout == "union21" and model.cfg.num_keypoints == 21
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["type"] == "train"][-1] == metrics["steps"]
    assert [r["type"] for r in log if r["type"] in ("start", "val", "end")] == ["start", "val", "end"]
    assert (out / "checkpoints" / "last.pt").is_file()
    if metrics.get("onnx"):
        import onnx

        onnx.checker.check_model(str(out / "model.onnx"))
        # ONNX Runtime was checked against torch on held-out crops (hpefast.export.verify_onnx)
        assert metrics["onnx_check_batch"] == 3
        assert 0.0 <= metrics["onnx_max_abs_diff"] <= 1e-4
        assert 0.0 <= metrics["onnx_max_kpt_diff_px"] < float("inf")
        if not metrics["quick"]:  # trained: peaked maps, so the decoded keypoints agree too
            assert metrics["onnx_max_kpt_diff_px"] <= 0.05


@pytest.mark.slow
def test_quick_demo_writes_all_artefacts(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "COCO AP" in printed and "ONNX Runtime vs torch" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["quick"] is True and metrics["onnx"]
    _check_artefacts(out, metrics)
    # the datasets were written in their real formats, train and held-out validation apart
    coco_train = json.loads((out / "data" / "coco_train" / "coco.json").read_text())
    coco_val = json.loads((out / "data" / "coco_val" / "coco.json").read_text())
    assert {"images", "annotations", "categories"} <= set(coco_train)
    train_pixels = cv2.imread(
        str(out / "data" / "coco_train" / "images" / coco_train["images"][0]["file_name"])
    )
    val_pixels = cv2.imread(str(out / "data" / "coco_val" / "images" / coco_val["images"][0]["file_name"]))
    assert not np.array_equal(train_pixels, val_pixels)
    assert isinstance(json.loads((out / "data" / "mpii_train" / "mpii.json").read_text()), list)
    # `hpefast train tiny-synthetic data.root=DIR/data` finds the demo's data
    from hpefast.engine.builders import build_datasets
    from hpefast.engine.config import load_config

    entries = build_datasets(load_config("tiny-synthetic", [f"data.root={out / 'data'}"]))
    assert [len(e.train) for e in entries] == [
        metrics["train_instances"]["coco"],
        metrics["train_instances"]["mpii"],
    ]


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("HPEFAST_FULL_DEMO") != "1", reason="the full demo takes minutes: HPEFAST_FULL_DEMO=1"
)
def test_full_demo_reaches_quality(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    _check_artefacts(out, metrics)
    assert metrics["coco_AP"] >= 0.6 and metrics["mpii_PCKh"] >= 80
