"""``hpefast attribute`` end to end on the real COCO sample images (a tiny model), checked against the
library computed independently, and its errors."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from hpefast.cli import main as cli_main


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from hpefast.models import build_model, save_model

    torch.manual_seed(0)
    model = build_model("tiny", layout="coco", image_size=(48, 64))
    for p in model.head.parameters():  # peaky heatmaps instead of the head's near-zero init
        nn.init.normal_(p, std=0.2)
    out = tmp_path_factory.mktemp("attr_model") / "model"
    save_model(model.eval(), out)
    return out


def test_attribute_real_coco_samples(tiny_model_dir, shared_data, tmp_path, capsys):
    from pycocotools.coco import COCO

    from hpefast.attribution import foreground_index, integrated_gradients
    from hpefast.data import CocoKeypointDataset
    from hpefast.data.transforms import get_udp_warp_matrix
    from hpefast.models import load_model

    coco = shared_data / "samples" / "coco"
    ann_file = coco / "test_coco.json"
    out = tmp_path / "attr"
    rc = cli_main(
        [
            "attribute", str(tiny_model_dir), "--data", f"coco:{ann_file}:{coco}", "--out", str(out),
            "--steps", "3", "--limit", "3", "--batch-size", "2", "--overlays", "2", "--no-progress",
            "--device", "cpu", "--save-maps",
        ]
    )  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out
    assert "3 persons, 17 joints, 3 blur-path steps" in printed
    idx = json.loads((out / "idx.json").read_text())
    epe = json.loads((out / "epe.json").read_text())
    assert list(idx) == ["0", "1", "2"] and list(epe) == ["0", "1", "2"]
    assert set(idx["0"]) == {"DI", "FI", "LI", "weight"} and set(epe["0"]) == {"EPE", "weight"}
    assert all(len(v) == 17 for v in idx["1"].values())
    assert "J2J" in json.loads((out / "j2j.json").read_text())
    with open(out / "per_joint.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows][:2] == ["nose", "left_eye"] and len(rows) == 17
    for name in ("indices.png", "ri.png", "overlays/00000.png", "overlays/00001.png"):
        assert cv2.imread(str(out / name)) is not None, name
    assert not (out / "overlays" / "00002.png").exists()
    maps = np.load(out / "maps.npy")
    assert maps.shape == (3, 17, 64, 48)

    # sample 0 recomputed independently: the crop, the maps, DI's weights and FI with pycocotools' own mask
    model = load_model(tiny_model_dir).eval()
    ds = CocoKeypointDataset(ann_file, coco, input_size=(48, 64))
    item = ds[0]
    vis = item["labelled"][None] > 0
    ig = integrated_gradients(model, item["image"][None], item["keypoints"][None], steps=3, visible=vis)
    np.testing.assert_allclose(maps[0], ig[0].numpy(), atol=1e-3)  # float16 file
    np.testing.assert_array_equal(np.array(idx["0"]["weight"]), vis[0].float().numpy())
    gt = COCO(str(ann_file))
    ann = gt.loadAnns([item["meta"]["ann_id"]])[0]
    matrix = get_udp_warp_matrix(item["meta"]["center"], item["meta"]["scale"], 0.0, (48, 64))
    warped = cv2.warpAffine(gt.annToMask(ann), matrix, (48, 64), flags=cv2.INTER_LINEAR)
    fi = foreground_index(ig, torch.from_numpy((warped == 1).astype(np.float32))[None, None])
    np.testing.assert_allclose(idx["0"]["FI"], np.round(fi[0].numpy() * vis[0].numpy(), 3), atol=2e-3)


def test_attribute_errors(tiny_model_dir, shared_data, tmp_path):
    coco = shared_data / "samples" / "coco"
    data = f"coco:{coco / 'test_coco.json'}:{coco}"
    base = ["attribute", str(tiny_model_dir), "--data", data, "--out", str(tmp_path / "o"), "--no-progress"]
    assert cli_main(base + ["--joints", "left_wirst"]) == 2
    assert cli_main(base + ["--joints", "40"]) == 2
    assert cli_main(base + ["--steps", "0"]) == 2
    assert cli_main(["attribute", str(tiny_model_dir), "--data", "coco:nope.json:x", "--out", "o"]) == 2
    assert cli_main(["attribute", str(tmp_path / "missing"), "--data", data, "--out", "o"]) == 2
