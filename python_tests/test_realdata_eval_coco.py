"""``hpefast eval-coco`` on data as users have it: every schema name works as ``--sigmas`` (including the
names with digits: ap10k, union21, union23), and ``--no-area`` is xtcocotools' ``use_area=False`` exactly,
including its dropping of results whose keypoint scores are all 0 (checked against xtcocotools itself)."""

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

from hpefast.cli import main
from hpefast.evaluation.synthetic import make_coco_keypoints
from hpefast.keypoints import get_schema, list_schemas


def _xtcocotools():
    """xtcocotools' COCO / COCOeval. Its compiled mask module may be built against another numpy ABI (it is
    under numpy 2.4); keypoint evaluation never uses masks, so a stub stands in when it fails to import."""
    try:
        importlib.import_module("xtcocotools._mask")
    except (ImportError, ValueError):
        stub = types.ModuleType("xtcocotools._mask")
        stub.__getattr__ = lambda name: None  # type: ignore[attr-defined]
        sys.modules["xtcocotools._mask"] = stub
    from xtcocotools.coco import COCO as XtCOCO
    from xtcocotools.cocoeval import COCOeval as XtEval

    return XtCOCO, XtEval


def _pycoco_stats(gt: dict, res: list, sigmas: np.ndarray) -> np.ndarray:
    from pycocotools.coco import COCO as PyCOCO
    from pycocotools.cocoeval import COCOeval as PyEval

    with contextlib.redirect_stdout(io.StringIO()):
        g = PyCOCO()
        g.dataset = copy.deepcopy(gt)
        g.createIndex()
        E = PyEval(g, g.loadRes(copy.deepcopy(res)), "keypoints")
        E.params.kpt_oks_sigmas = np.asarray(sigmas)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return np.asarray(E.stats)


def _cli_stats(capsys, *argv: str) -> list[float]:
    assert main(["eval-coco", *argv, "--json"]) == 0
    return list(json.loads(capsys.readouterr().out)["stats"].values())


@pytest.mark.parametrize("name", list_schemas())
def test_every_schema_name_is_a_sigmas_option(name, tmp_path, capsys):
    schema = get_schema(name)
    gt, res = make_coco_keypoints(num_images=25, seed=7, num_keypoints=schema.num_keypoints)
    g, r = tmp_path / "gt.json", tmp_path / "res.json"
    g.write_text(json.dumps(gt))
    r.write_text(json.dumps(res))
    ours = _cli_stats(capsys, str(g), str(r), "--sigmas", name)
    sigmas = np.asarray(schema.sigmas, np.float64)
    np.testing.assert_allclose(ours, _pycoco_stats(gt, res, sigmas), rtol=0, atol=1e-12)
    if name != "coco":  # the name really selects that schema's sigmas, not COCO's default
        assert not np.allclose(ours, _pycoco_stats(gt, res, np.full(len(sigmas), 0.2)), atol=1e-6)


def test_bad_sigmas_are_named(tmp_path, capsys):
    gt, res = make_coco_keypoints(num_images=3, seed=1)
    g, r = tmp_path / "gt.json", tmp_path / "res.json"
    g.write_text(json.dumps(gt))
    r.write_text(json.dumps(res))
    for bad in ("ap10kk", "0.1,-0.2", "0.1,nan"):
        assert main(["eval-coco", str(g), str(r), "--sigmas", bad]) == 2
        assert "--sigmas" in capsys.readouterr().err


def _zero_score_case() -> tuple[dict, list]:
    gt, res = make_coco_keypoints(num_images=60, seed=31, num_keypoints=14, with_bbox=False)
    for a in gt["annotations"]:
        a.pop("area", None)  # AIC / CrowdPose files have no area
    rng = np.random.default_rng(3)
    zeroed = 0
    for r in res:
        if rng.random() < 0.3:  # confident box, all keypoint scores 0 (a detector box with nothing found)
            kp = np.asarray(r["keypoints"], np.float64).reshape(-1, 3)
            kp[:, 2] = 0.0
            r["keypoints"] = kp.reshape(-1).tolist()
            r["score"] = float(r["score"]) + 1.0  # ranked first: dropping them changes AP
            zeroed += 1
    assert zeroed > 10
    return gt, res


def test_no_area_matches_xtcocotools_including_dropped_zero_score_results(tmp_path, capsys):
    gt, res = _zero_score_case()
    g, r = tmp_path / "gt.json", tmp_path / "res.json"
    g.write_text(json.dumps(gt))
    r.write_text(json.dumps(res))
    sig = get_schema("crowdpose").sigmas
    ours = _cli_stats(capsys, str(g), str(r), "--sigmas", "crowdpose", "--no-area")

    XtCOCO, XtEval = _xtcocotools()
    with contextlib.redirect_stdout(io.StringIO()):
        xg = XtCOCO(str(g))
        E = XtEval(xg, xg.loadRes(copy.deepcopy(res)), "keypoints", np.asarray(sig), use_area=False)
        E.evaluate()
        E.accumulate()
        E.summarize()
    np.testing.assert_allclose(ours, E.stats, rtol=0, atol=1e-12)
    # The zero-score results matter: kept (pycocotools' convention), the AP differs.
    from hpefast.evaluation import COCO, COCOeval

    h = COCO(copy.deepcopy(gt))
    kept = COCOeval(
        h, h.loadRes(copy.deepcopy(res)), "keypoints", sigmas=sig, use_area=False, compat="pycocotools"
    )
    kept.evaluate()
    kept.accumulate()
    with contextlib.redirect_stdout(io.StringIO()):
        kept.summarize()
    assert abs(kept.stats[0] - ours[0]) > 1e-3


def test_crowdpose_fixture_with_the_cli(shared_data, capsys):
    """The real CrowdPose example: ``--crowd --no-area --sigmas crowdpose`` gives xtcocotools' stats
    (shared/data/README.md)."""
    d = shared_data / "eval" / "crowdpose"
    ours = _cli_stats(
        capsys,
        str(d / "example_crowdpose_val.json"),
        str(d / "example_crowdpose_preds.json"),
        "--crowd",
        "--no-area",
        "--sigmas",
        "crowdpose",
    )
    expected = [
        0.7877215935879303, 0.9881188118811886, 0.7314356435643564, 0.8222222222222223, 1.0,
        0.7777777777777778, 1.0, 0.9802, 0.4116,
    ]  # fmt: skip
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
