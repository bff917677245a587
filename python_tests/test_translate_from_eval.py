"""A real model's predictions into the translation pipeline: ``hpefast eval --results-dir`` ->
``hpefast translate eval``, on synthetic MPII data.

The models are tiny ViTPose models (48x64 input) fitted for a few seconds to the synthetic people, so that
their PCKh is well above 0 and the equalities below cannot hold by accident (an untrained model scores 0
everywhere).

Why the two PCKh numbers of a union21 model agree: ``hpefast eval`` scores each ground-truth person with the
prediction made from that person's own crop; ``hpefast translate eval`` reads the same predictions, maps
union21 -> mpii with the same index table (all 16 MPII joints are union21 joints), matches them to the people
by OKS and scores them with the same ``hpefast.evaluation.pckh``. The numbers are equal when the matching
gives every person the prediction of its own crop. They legitimately differ when the matching drops people
(OKS below the threshold: those count as misses on every joint in ``translate eval``), so then
``translate eval``'s PCKh is at most ``hpefast eval``'s: both relations are asserted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from hpefast.cli import main as cli

SIZE = (48, 64)  # model input (W, H)


@pytest.fixture(scope="module")
def mpii(tmp_path_factory) -> Path:
    from hpefast.data.synthetic import write_dataset

    return write_dataset(tmp_path_factory.mktemp("mpii"), "mpii", 8, seed=3, image_size=(128, 96))


def _fit_tiny(layout: str, ann: Path, folder: Path, steps: int = 100) -> Path:
    """A tiny ``layout`` model fitted to the (few) MPII people: well above chance on them."""
    from hpefast.data import MpiiDataset, collate
    from hpefast.models import build_model, save_model
    from hpefast.ops import encode_heatmaps, union_heatmap_loss

    torch.manual_seed(0)
    model = build_model("tiny", layout=layout, image_size=SIZE)
    ds = MpiiDataset(ann, ann.parent / "images", input_size=SIZE, layout=layout)
    batch = collate([ds[i] for i in range(len(ds))])
    target, weight = encode_heatmaps(batch["keypoints"], batch["labelled"], SIZE, model.cfg.heatmap_size)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = union_heatmap_loss(model(batch["image"]), target, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    save_model(model.eval(), folder)
    return folder


@pytest.fixture(scope="module")
def union21(mpii, tmp_path_factory) -> Path:
    return _fit_tiny("union21", mpii, tmp_path_factory.mktemp("u21") / "model")


@pytest.fixture(scope="module")
def coco(mpii, tmp_path_factory) -> Path:
    return _fit_tiny("coco", mpii, tmp_path_factory.mktemp("coco") / "model")


def _eval(model: Path, ann: Path, out: Path, schema: str, capsys) -> tuple[Path, dict, str]:
    """``hpefast eval`` on MPII writing ``out/mpii_results.json``; (results path, metrics json, stdout)."""
    capsys.readouterr()
    rc = cli(
        [
            "eval",
            str(model),
            "--data",
            f"mpii:{ann}:{ann.parent / 'images'}",
            "--results-dir",
            str(out),
            "--results-schema",
            schema,
            "--out",
            str(out / "metrics.json"),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return out / "mpii_results.json", json.loads((out / "metrics.json").read_text()), captured.out


def _translate_eval(pred: Path, gt: Path, out: Path, capsys, *extra: str) -> tuple[int, dict, str]:
    capsys.readouterr()
    rc = cli(["translate", "eval", "--pred", str(pred), "--gt", str(gt), "--out", str(out), *extra])
    captured = capsys.readouterr()
    result = json.loads(out.read_text()) if rc == 0 else {}
    return rc, result, captured.out + captured.err


def _mpii_people(ann: Path) -> int:
    return sum(1 for e in json.loads(ann.read_text()) if any(v > 0 for v in e["joints_vis"]))


def test_union21_eval_pckh_equals_translate_eval_mapping(union21, mpii, tmp_path, capsys):
    pred, metrics, out = _eval(union21, mpii, tmp_path / "res", "model", capsys)
    results = json.loads(pred.read_text())
    assert len(results) == _mpii_people(mpii) and all(len(r["keypoints"]) == 3 * 21 for r in results)
    printed = float(re.search(r"mpii: PCKh = ([0-9.]+)", out).group(1))
    pckh_eval = metrics["mpii"]["PCKh"]
    assert printed == pytest.approx(pckh_eval, abs=5e-5)
    assert pckh_eval > 30  # a fitted model: the equality below is not 0 == 0

    rc, res, text = _translate_eval(pred, mpii, tmp_path / "t.json", capsys, "--src", "union21")
    assert rc == 0, text
    assert (res["src"], res["dst"], res["protocol"]) == ("union21", "mpii", "PCKh@0.5")
    (row,) = res["rows"]  # no translator: the plain mapping only
    assert (row["method"], row["joints"], row["num_joints"]) == ("mapping", "all", 16)
    assert re.search(r"mapping\s+all \(16\)\s+PCKh\s+" + f"{row['Mean']:.2f}", text)
    # every person matched to the prediction of its own crop -> the same protocol on the same numbers
    assert res["matched"] == res["gt_people"] == len(results)
    assert row["Mean"] == pytest.approx(pckh_eval, abs=1e-9)
    for part in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean@0.1"):
        assert row[part] == pytest.approx(metrics["mpii"][part], abs=1e-9), part

    # a strict matching threshold drops people: they become misses, so the PCKh can only go down
    rc, strict, text = _translate_eval(
        pred, mpii, tmp_path / "s.json", capsys, "--src", "union21", "--match-threshold", "0.95"
    )
    assert rc == 0, text
    assert strict["matched"] < strict["gt_people"]
    assert strict["rows"][0]["Mean"] <= pckh_eval


def test_dataset_schema_results_need_no_src(union21, mpii, tmp_path, capsys):
    """``hpefast eval``'s default results (the dataset's schema) go into ``translate eval`` without --src."""
    pred, metrics, _ = _eval(union21, mpii, tmp_path / "res", "dataset", capsys)
    assert all(len(r["keypoints"]) == 3 * 16 for r in json.loads(pred.read_text()))
    rc, res, text = _translate_eval(pred, mpii, tmp_path / "t.json", capsys)
    assert rc == 0, text
    assert "--src not given: mpii" in text and (res["src"], res["dst"]) == ("mpii", "mpii")
    assert res["rows"][0]["Mean"] == pytest.approx(metrics["mpii"]["PCKh"], abs=1e-9)
    # union21 results: 21 joints are only union21's
    pred21, _, _ = _eval(union21, mpii, tmp_path / "res21", "model", capsys)
    rc, res21, text = _translate_eval(pred21, mpii, tmp_path / "t21.json", capsys)
    assert rc == 0, text
    assert res21["src"] == "union21" and res21["rows"] == res["rows"]


def test_coco_model_on_mpii(coco, mpii, tmp_path, capsys):
    """A COCO model cannot be scored on MPII by ``hpefast eval``; its results go to ``translate eval``."""
    pred, metrics, out = _eval(coco, mpii, tmp_path / "res", "model", capsys)
    assert metrics == {} and "mpii: not scored" in out
    results = json.loads(pred.read_text())
    assert len(results) == _mpii_people(mpii) and all(len(r["keypoints"]) == 3 * 17 for r in results)
    rc, res, text = _translate_eval(pred, mpii, tmp_path / "t.json", capsys, "--src", "coco")
    assert rc == 0, text
    (row,) = res["rows"]
    assert (row["method"], row["joints"], row["num_joints"]) == ("mapping", "shared", 12)
    assert set(res["missing_joints"]) == {"pelvis", "thorax", "upper_neck", "head_top"}
    assert 30 < row["Mean"] <= 100
    # 17 joints: coco or ap10k -> ambiguous on MPII ground truth: a clear error asking for --src
    rc, _, text = _translate_eval(pred, mpii, tmp_path / "u.json", capsys)
    assert rc == 2
    assert "--src" in text and "'ap10k', 'coco'" in text


def test_guess_results_schema():
    from hpefast.translate import guess_results_schema

    def res(k, n=2):
        return [{"image_id": i, "keypoints": [0.0] * (3 * k)} for i in range(n)]

    assert guess_results_schema(res(17), "coco") == "coco"
    assert guess_results_schema(res(17), "ap10k") == "ap10k"
    assert guess_results_schema(res(21), "mpii") == "union21"
    assert guess_results_schema(res(23)) == "union23"
    assert guess_results_schema(res(14), "aic") == "aic"
    with pytest.raises(ValueError, match=r"fit the schemas \['aic', 'crowdpose'\]"):
        guess_results_schema(res(14), "coco")
    with pytest.raises(ValueError, match="no registered schema has 5 keypoints"):
        guess_results_schema(res(5), "coco")
    with pytest.raises(ValueError, match="no result with keypoints"):
        guess_results_schema([], "coco")
    with pytest.raises(ValueError, match=r"\[42, 51\] keypoint values"):
        guess_results_schema(res(14, 1) + res(17, 1), "coco")
