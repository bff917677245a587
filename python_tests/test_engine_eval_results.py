"""``hpefast eval --results-dir``: COCO-format results files, their schemas, and the way into ``translate``.

The AP checks use a *noisy oracle*: a module returning ground-truth heatmaps with each person's joints
moved by a random amount and scaled by a random confidence, so that AP lies strictly between 0 and 1 and
a results file that differs from the scored one (other instances, scores, joints or ids) changes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from hpefast.cli import main

SMALL = (48, 64)  # real tiny model input (W, H)
ORACLE = (96, 128)  # oracle crops (no network runs, so bigger crops cost only the decode)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    from hpefast.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("evres")
    return {
        "root": root,
        "coco": write_dataset(root / "coco", "coco", 4, seed=21, image_size=(160, 120)),
        "mpii": write_dataset(root / "mpii", "mpii", 3, seed=22, image_size=(160, 120)),
    }


def _spec(ann: Path, schema: str, suffix: str = "") -> str:
    return f"{schema}:{ann}:{ann.parent / 'images'}{suffix}"


class _NoisyOracle(torch.nn.Module):
    """Ground-truth heatmaps of the crops in loader order, joints jittered by N(0, s_i) crop pixels with
    s_i ~ U(0, 6) per person and heatmaps scaled by c_i ~ U(0.3, 1) (the flipped call gets them mirrored)."""

    def __init__(self, dataset, layout: str, image_size, seed: int = 0, batch_size: int = 32) -> None:
        super().__init__()
        from hpefast.data import collate
        from hpefast.keypoints import get_schema
        from hpefast.models import build_model
        from hpefast.ops import encode_heatmaps, flip_heatmaps

        self.cfg = build_model("tiny", layout=layout, image_size=image_size).cfg
        self.uses_dataset_id = False
        g = torch.Generator().manual_seed(seed)
        self.maps = []
        for start in range(0, len(dataset), batch_size):
            b = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            n, k = b["labelled"].shape
            spread = torch.rand(n, 1, 1, generator=g) * 6.0
            kp = b["keypoints"] + torch.randn(n, k, 2, generator=g) * spread
            hm, _ = encode_heatmaps(kp, b["labelled"], self.cfg.image_size, self.cfg.heatmap_size)
            hm = hm * (0.3 + 0.7 * torch.rand(n, 1, 1, 1, generator=g))
            self.maps += [hm, flip_heatmaps(hm, get_schema(layout).flip_index)]
        self.calls = 0

    def forward(self, images, dataset_id=None):
        out = self.maps[self.calls % len(self.maps)]
        assert out.shape[0] == images.shape[0]
        self.calls += 1
        return out


def _oracle_for(monkeypatch, ds_kind: str, ann: Path, layout: str, seed: int = 0) -> _NoisyOracle:
    """Build the oracle on the dataset exactly as ``hpefast eval`` builds it (default batch size 32) and
    make the command load it."""
    from hpefast.data import CocoKeypointDataset, MpiiDataset

    if ds_kind == "mpii":
        ds = MpiiDataset(ann, ann.parent / "images", input_size=ORACLE, layout=layout)
    else:
        ds = CocoKeypointDataset(ann, ann.parent / "images", schema=ds_kind, input_size=ORACLE, layout=layout)
    oracle = _NoisyOracle(ds, layout, ORACLE, seed=seed)
    monkeypatch.setattr("hpefast.commands.evaluate.load_any_model", lambda path, expert=None: oracle)
    return oracle


def _coco_stats(ann: Path, results, sigmas) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(ann))
    dt = gt.loadRes(results)
    ev = COCOeval(gt, dt, "keypoints")
    ev.params.kpt_oks_sigmas = np.asarray(sigmas)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return np.asarray(ev.stats)


# ---------------------------------------------------------------------------------------------------------
# COCO: the file is the one scored


def test_coco_results_reproduce_printed_ap(data, monkeypatch, tmp_path, capsys):
    from hpefast.keypoints import get_schema

    ann = data["coco"]
    _oracle_for(monkeypatch, "coco", ann, "coco")
    out, res = tmp_path / "metrics.json", tmp_path / "res"
    rc = main(["eval", "oracle", "--data", _spec(ann, "coco"), "--results-dir", str(res), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    metrics = json.loads(out.read_text())["coco"]
    assert 0.05 < metrics["AP"] < 0.95, metrics  # the test can tell files apart
    assert f"coco: AP = {metrics['AP']:.4f}" in printed
    assert "written to" in printed and "coco_results.json" in printed

    file = res / "coco_results.json"
    results = json.loads(file.read_text())
    assert not [p for p in res.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    gt = json.loads(ann.read_text())
    size = {im["id"]: (im["width"], im["height"]) for im in gt["images"]}
    boxes = set()
    for a in gt["annotations"]:  # the instance box: the annotation's, clipped to the image as mmpose does
        (x, y, w, h), (iw, ih) = a["bbox"], size[a["image_id"]]
        x1, y1 = max(x, 0.0), max(y, 0.0)
        x2, y2 = min(x1 + max(w, 0.0), iw - 1.0), min(y1 + max(h, 0.0), ih - 1.0)
        boxes.add((a["image_id"], (x1, y1, x2 - x1, y2 - y1)))
    for r in results:
        assert set(r) == {"image_id", "category_id", "keypoints", "score", "bbox"}
        assert r["category_id"] == 1 and len(r["keypoints"]) == 17 * 3 and len(r["bbox"]) == 4
        assert (r["image_id"], tuple(r["bbox"])) in boxes  # the instance's (ground-truth) box

    sigmas = get_schema("coco").sigmas
    ours = np.array([metrics[k] for k in ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75")])
    theirs = _coco_stats(ann, str(file), sigmas)  # pycocotools loadRes of the file itself
    # a result's bbox sets its area in pycocotools: only the area-range stats (APm, APl, ARm, ARl) may move
    np.testing.assert_allclose(theirs[[0, 1, 2, 5, 6, 7]], ours[[0, 1, 2, 5, 6, 7]], rtol=0, atol=1e-12)
    # without the boxes (as mmpose writes results), every stat is the printed one
    no_box = [{k: v for k, v in r.items() if k != "bbox"} for r in results]
    theirs = _coco_stats(ann, no_box, sigmas)
    keys = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
    np.testing.assert_allclose(theirs, [metrics[k] for k in keys], rtol=0, atol=1e-12)


def test_union_model_results_in_either_schema(data, monkeypatch, tmp_path, capsys):
    """A union21 model on COCO data: 'dataset' files have the 17 COCO joints, 'model' files all 21, the
    same instances and scores, and the COCO joints are the union's first 17 (union21 = COCO-17 + 4)."""
    ann = data["coco"]
    _oracle_for(monkeypatch, "coco", ann, "union21")
    for schema in ("dataset", "model"):
        args = ["eval", "m", "--data", _spec(ann, "coco"), "--results-dir", str(tmp_path / schema)]
        assert main(args + ["--results-schema", schema]) == 0, capsys.readouterr().err
    ds = json.loads((tmp_path / "dataset" / "coco_results.json").read_text())
    md = json.loads((tmp_path / "model" / "coco_results.json").read_text())
    assert len(ds) == len(md) > 0
    for a, b in zip(ds, md):
        assert len(a["keypoints"]) == 17 * 3 and len(b["keypoints"]) == 21 * 3
        assert (a["image_id"], a["score"], a["bbox"]) == (b["image_id"], b["score"], b["bbox"])
        assert a["keypoints"] == b["keypoints"][: 17 * 3]
    assert "(union21 joints)" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------
# MPII: image ids agree with the data loader and the translate readers; files feed `translate fit`


def test_mpii_results_pair_with_ground_truth_and_reproduce_pckh(data, monkeypatch, tmp_path, capsys):
    from hpefast.data import MpiiDataset
    from hpefast.evaluation import pckh
    from hpefast.translate.pairs import build_pairs, read_ground_truth, read_predictions

    ann = data["mpii"]
    _oracle_for(monkeypatch, "mpii", ann, "union21", seed=1)
    out, res = tmp_path / "m.json", tmp_path / "res"
    spec = _spec(ann, "mpii")
    assert main(["eval", "o", "--data", spec, "--results-dir", str(res), "--out", str(out)]) == 0
    capsys.readouterr()
    printed = json.loads(out.read_text())["mpii"]["PCKh"]

    file = res / "mpii_results.json"
    ds = MpiiDataset(ann, ann.parent / "images", input_size=ORACLE)
    ids = sorted(int(ds[i]["meta"]["image_id"]) for i in range(len(ds)))
    gt = read_ground_truth(ann, "mpii")
    preds = read_predictions(file, "mpii")
    assert sorted(preds.image_id.tolist()) == ids == sorted(gt.image_id.tolist())
    pairs = build_pairs(gt, preds)  # OKS over the 16 joints, boxes from the results' bbox
    assert len(pairs) == len(gt) == len(ds) and pairs.stats["box_mode"] == "bbox"
    np.testing.assert_allclose(pairs.boxes, gt.boxes[pairs.gt_index])  # bbox = the person box
    # PCKh of the file's joints against the translate reader's ground truth = the printed PCKh
    dst = pairs.dst_keypoints
    ref = pckh(pairs.src_keypoints[..., :2], dst[..., :2], dst[..., 2] > 0, gt.headbox[pairs.gt_index])
    assert printed == pytest.approx(float(ref["Mean"]), abs=1e-9)


def test_coco_model_on_mpii_feeds_translate_fit(data, tmp_path, capsys):
    """A real (random-weight) COCO-17 model on MPII images: not scorable, so by default a clean error that
    says how to write its predictions; with --results-schema model its COCO-17 results are the --pred of
    `hpefast translate fit --src coco` and every person is paired."""
    from hpefast.models import build_model
    from hpefast.models.checkpoint import save_model
    from hpefast.translate.pairs import read_ground_truth

    torch.manual_seed(0)
    save_model(build_model("tiny", layout="coco", image_size=SMALL), str(tmp_path / "coco_model"))
    ann, res = data["mpii"], tmp_path / "res"
    base = ["eval", str(tmp_path / "coco_model"), "--data", _spec(ann, "mpii", "@0")]
    assert main(base + ["--results-dir", str(res)]) == 2
    err = capsys.readouterr().err
    assert "does not predict joints" in err and "--results-schema model" in err
    assert not (res / "mpii_results.json").exists()

    assert main(base + ["--results-dir", str(res), "--results-schema", "model"]) == 0
    assert "mpii: not scored" in capsys.readouterr().out
    results = json.loads((res / "mpii_results.json").read_text())
    gt = read_ground_truth(ann, "mpii")
    assert len(results) == len(gt) and all(len(r["keypoints"]) == 17 * 3 for r in results)

    fit = ["translate", "fit", "--pred", str(res / "mpii_results.json"), "--gt", str(ann), "--src", "coco"]
    fit += ["--out", str(tmp_path / "coco2mpii"), "--match", "iou", "--steps", "3", "--val-fraction", "0"]
    assert main(fit) == 0, capsys.readouterr().err
    assert f"pairs: {len(gt)} matched (0 people and 0 predictions unmatched), boxes from bbox" in (
        capsys.readouterr().out
    )
    assert (tmp_path / "coco2mpii" / "translator.json").is_file()


# ---------------------------------------------------------------------------------------------------------
# dataset ids and bad input


def test_dataset_id_selects_the_head(data, tmp_path, capsys):
    from hpefast.data import CocoKeypointDataset
    from hpefast.engine.validation import dataset_results, predict
    from hpefast.models import build_model
    from hpefast.models.checkpoint import save_model

    torch.manual_seed(0)
    model = build_model("tiny", layout="coco", image_size=SMALL, num_datasets=2, per_dataset_heads=True)
    save_model(model, str(tmp_path / "two_heads"))
    ann, res = data["coco"], tmp_path / "res"
    args = ["eval", str(tmp_path / "two_heads"), "--data", _spec(ann, "coco", "@0")]
    args += ["--data", _spec(ann, "coco", "@1"), "--results-dir", str(res), "--no-flip"]
    assert main(args) == 0, capsys.readouterr().err
    head0 = json.loads((res / "coco_results.json").read_text())
    head1 = json.loads((res / "coco_1_results.json").read_text())
    assert [r["keypoints"] for r in head0] != [r["keypoints"] for r in head1]

    ds = CocoKeypointDataset(ann, ann.parent / "images", input_size=SMALL, layout="coco", dataset_id=1)
    records = predict(model.eval(), ds, torch.device("cpu"), flip_test=False)
    expected = dataset_results(records, ds, "coco_ap", "coco")
    assert [r["image_id"] for r in head1] == [r["image_id"] for r in expected]
    np.testing.assert_allclose(
        [r["keypoints"] for r in head1], [r["keypoints"] for r in expected], rtol=0, atol=1e-4
    )

    assert main(["eval", str(tmp_path / "two_heads"), "--data", _spec(ann, "coco", "@2")]) == 2
    assert "serves dataset ids 0..1" in capsys.readouterr().err


def test_parse_data_spec_dataset_id():
    from hpefast.commands.evaluate import parse_data_spec

    assert parse_data_spec("mpii:a.json:imgs@3") == {
        "schema": "mpii",
        "ann": "a.json",
        "images": "imgs",
        "boxes": None,
        "dataset_id": 3,
    }
    s = parse_data_spec("coco:dir@home/a.json:imgs:dets.json")  # an '@' inside a path is no id
    assert s["ann"] == "dir@home/a.json" and s["boxes"] == "dets.json" and s["dataset_id"] == 0
    with pytest.raises(ValueError, match="DATASET_ID"):
        parse_data_spec("coco:a.json@1")


def test_results_dir_that_is_a_file(data, tmp_path, capsys):
    not_dir = tmp_path / "file.txt"
    not_dir.write_text("x")
    rc = main(
        ["eval", str(tmp_path / "missing"), "--data", _spec(data["coco"], "coco")]
        + [
            "--results-dir",
            str(not_dir),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "--results-dir" in err and "not a directory" in err and str(not_dir) in err
    assert not_dir.read_text() == "x"


def test_write_results_refuses_nan(tmp_path):
    from hpefast.engine.validation import write_results

    with pytest.raises(ValueError, match="NaN or inf"):
        write_results(tmp_path / "r.json", [{"image_id": 1, "keypoints": [float("nan"), 0.0, 1.0]}])
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------------------
# OMP_WAIT_POLICY


@pytest.mark.parametrize("preset", [None, "ACTIVE"])
def test_train_prefers_passive_omp_wait(monkeypatch, capsys, preset):
    if preset is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", preset)
    assert main(["train", "--list-presets"]) == 0
    assert os.environ["OMP_WAIT_POLICY"] == (preset or "PASSIVE")
    capsys.readouterr()
