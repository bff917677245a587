"""COCO-format datasets scored by their own protocol, on the real sample files of ../shared/data/samples:

- AP-10K: each result keeps its instance's ``category_id`` (the species). COCOeval scores per category, so
  writing every result as category 1 scores the ground truth itself at AP 0.50 on the two-species sample.
- CrowdPose: ``hpefast train/eval`` report the CrowdPose protocol (xtcocotools ``keypoints_crowd``, no area:
  AP easy / medium / hard), checked against xtcocotools itself.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import json
import sys
import types

import numpy as np
import pytest

from hpefast.data import CocoKeypointDataset
from hpefast.engine.validation import dataset_results, score_records
from hpefast.keypoints import get_schema


def _records(ds, noise: float = 0.0, seed: int = 0) -> list[dict]:
    """:func:`hpefast.engine.validation.predict`-style records whose predictions are the ground truth
    (image pixels), optionally moved by Gaussian noise of ``noise`` x the box size, with random scores."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(len(ds)):
        meta = ds[i]["meta"]
        kp = np.asarray(meta["keypoints_image"], np.float64)[:, :2].copy()
        scores = np.ones(len(kp))
        if noise:
            size = float(np.sqrt(np.prod(np.asarray(meta["bbox"], np.float64)[2:])))
            kp += rng.normal(0.0, noise * size, kp.shape)
            scores = rng.uniform(0.3, 1.0, len(kp))
        out.append({"keypoints": kp, "scores": scores, "meta": meta})
    return out


def _pycoco_ap(gt_file, results: list, sigmas) -> float:
    from pycocotools.coco import COCO as PyCOCO
    from pycocotools.cocoeval import COCOeval as PyEval

    with contextlib.redirect_stdout(io.StringIO()):
        g = PyCOCO(str(gt_file))
        E = PyEval(g, g.loadRes(copy.deepcopy(results)), "keypoints")
        E.params.kpt_oks_sigmas = np.asarray(sigmas)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return float(E.stats[0])


def test_ap10k_results_keep_each_species(shared_data):
    d = shared_data / "samples" / "ap10k"
    ann = d / "test_ap10k.json"
    ds = CocoKeypointDataset(ann, d, schema="ap10k", input_size=(192, 256))
    gt = json.loads(ann.read_text())
    want = sorted(a["category_id"] for a in gt["annotations"])
    assert want == [1, 26]  # a two-species sample

    records = _records(ds)
    results = dataset_results(records, ds, "coco_ap", "ap10k")
    assert sorted(r["category_id"] for r in results) == want
    metrics = score_records(records, ds, "coco_ap", "ap10k")
    assert metrics["AP"] == pytest.approx(1.0, abs=1e-12)
    sigmas = get_schema("ap10k").sigmas
    assert _pycoco_ap(ann, results, sigmas) == pytest.approx(1.0, abs=1e-12)  # the written file too
    # the old behaviour (every result category 1) halves it: the test can tell the two apart
    as_one = [{**r, "category_id": 1} for r in results]
    assert _pycoco_ap(ann, as_one, sigmas) == pytest.approx(0.5, abs=1e-12)


def _xtcocotools():
    """xtcocotools' COCO / COCOeval; its compiled mask module may not import under numpy 2.4 and keypoint
    evaluation never uses it, so a stub stands in then."""
    try:
        importlib.import_module("xtcocotools._mask")
    except (ImportError, ValueError):
        stub = types.ModuleType("xtcocotools._mask")
        stub.__getattr__ = lambda name: None  # type: ignore[attr-defined]
        sys.modules["xtcocotools._mask"] = stub
    from xtcocotools.coco import COCO as XtCOCO
    from xtcocotools.cocoeval import COCOeval as XtEval

    return XtCOCO, XtEval


def test_crowdpose_is_scored_by_the_crowdpose_protocol(shared_data):
    d = shared_data / "samples" / "crowdpose"
    ann = d / "test_crowdpose.json"
    ds = CocoKeypointDataset(ann, d, schema="crowdpose", input_size=(192, 256))
    records = _records(ds, noise=0.04, seed=3)
    # use_area=True as a config left at its default: CrowdPose's protocol has no area and wins
    metrics = score_records(records, ds, "coco_ap", "crowdpose", use_area=True)
    assert list(metrics) == ["AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard"]

    results = dataset_results(records, ds, "coco_ap", "crowdpose")
    XtCOCO, XtEval = _xtcocotools()
    with contextlib.redirect_stdout(io.StringIO()):
        g = XtCOCO(str(ann))
        dt = g.loadRes([{k: v for k, v in r.items() if k != "bbox"} for r in results])
        E = XtEval(g, dt, "keypoints_crowd", np.asarray(get_schema("crowdpose").sigmas), use_area=False)
        E.evaluate()
        E.accumulate()
        E.summarize()
    np.testing.assert_allclose(list(metrics.values()), E.stats, rtol=0, atol=1e-12)
    assert 0.0 < metrics["AP"] < 1.0  # the noise makes it a real check, not a ceiling


def test_eval_cli_prints_the_crowdpose_table(shared_data, tmp_path, capsys):
    from hpefast.cli import main
    from hpefast.models import build_model
    from hpefast.models.checkpoint import save_model

    save_model(build_model("tiny", layout="crowdpose", image_size=(48, 64)), tmp_path / "model")
    d = shared_data / "samples" / "crowdpose"
    out = tmp_path / "m.json"
    data = f"crowdpose:{d / 'test_crowdpose.json'}:{d}"
    assert main(["eval", str(tmp_path / "model"), "--data", data, "--no-flip", "--out", str(out)]) == 0
    assert "CrowdPose protocol" in capsys.readouterr().out
    assert set(json.loads(out.read_text())["crowdpose"]) >= {"AP_easy", "AP_medium", "AP_hard"}
