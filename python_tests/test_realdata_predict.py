"""``hpefast predict --layout``: a union model's outputs mapped back to a dataset's layout, on a real COCO
image. The reference is DESIGN.md's table, written out here independently of ``hpefast.keypoints``:
union21 = COCO-17 (0..16) + MPII head_top, upper_neck, thorax, pelvis (17..20), and the MPII -> COCO
joints {0:16, 1:14, 2:12, 3:11, 4:13, 5:15, 10:10, 11:8, 12:6, 13:5, 14:7, 15:9}."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hpefast.cli import main

MPII_TO_COCO = {0: 16, 1: 14, 2: 12, 3: 11, 4: 13, 5: 15, 10: 10, 11: 8, 12: 6, 13: 5, 14: 7, 15: 9}
MPII_FROM_UNION21 = {**MPII_TO_COCO, 9: 17, 8: 18, 7: 19, 6: 20}  # head_top, upper_neck, thorax, pelvis


@pytest.fixture
def union_run(tmp_path, shared_data):
    from hpefast.models import build_model
    from hpefast.models.checkpoint import save_model

    ckpt = save_model(
        build_model("tiny", layout="union21", image_size=(48, 64)), tmp_path / "u21.safetensors"
    )
    coco = shared_data / "samples" / "coco"
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[38.08, 110.95, 174.71, 174.71], [200.0, 60.0, 120.0, 250.0]]))
    image = coco / "000000040083.jpg"

    def run(*extra: str) -> dict:
        name = "_".join(extra).replace("-", "") or "own"
        out = tmp_path / f"kp_{name}.json"
        argv = ["predict", str(image), "--boxes", str(boxes), "--model", str(ckpt)]
        assert main([*argv, "--out", str(tmp_path / f"o_{name}.png"), "--json", str(out), *extra]) == 0
        return json.loads(out.read_text())

    return run


def _kp(doc: dict) -> np.ndarray:
    return np.array([p["keypoints"] for p in doc["people"]]).reshape(len(doc["people"]), -1, 3)


def test_predict_layout_maps_union_outputs_back(union_run, capsys):
    union = union_run()
    assert union["layout"] == "union21"
    u = _kp(union)
    assert u.shape == (2, 21, 3)

    coco = union_run("--layout", "coco")
    assert coco["layout"] == "coco" and coco["model_layout"] == "union21"
    np.testing.assert_array_equal(_kp(coco), u[:, :17])
    assert "mapped from union21" in capsys.readouterr().out

    mpii = _kp(union_run("--layout", "mpii"))
    assert mpii.shape == (2, 16, 3)
    for j_mpii, j_union in MPII_FROM_UNION21.items():
        np.testing.assert_array_equal(mpii[:, j_mpii], u[:, j_union])


def test_predict_layout_the_model_cannot_give_is_named(union_run, tmp_path, shared_data, capsys):
    argv = ["predict", str(shared_data / "samples" / "coco" / "000000040083.jpg")]
    (tmp_path / "b.json").write_text("[[38.0, 110.0, 170.0, 170.0]]")
    argv += ["--boxes", str(tmp_path / "b.json"), "--model", str(tmp_path / "u21.safetensors")]
    argv += ["--out", str(tmp_path / "x.png")]
    union_run()  # writes the checkpoint
    assert main([*argv, "--layout", "aic"]) == 2  # union21 has no AIC head_top / neck
    err = capsys.readouterr().err
    assert "--layout aic" in err and "head_top" in err
    assert main([*argv, "--layout", "nope"]) == 2
    assert "--layout nope" in capsys.readouterr().err
