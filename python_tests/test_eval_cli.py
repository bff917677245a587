"""``hpefast eval-coco``: the printed table and --json stats are those of COCOeval / pycocotools."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from hpefast.cli import main
from hpefast.evaluation import COCO, COCOeval
from hpefast.evaluation.synthetic import make_coco_keypoints


@pytest.fixture
def files(tmp_path):
    gt, res = make_coco_keypoints(num_images=40, seed=5)
    g, r = tmp_path / "gt.json", tmp_path / "res.json"
    g.write_text(json.dumps(gt))
    r.write_text(json.dumps(res))
    return g, r


def test_table_and_json(files, capsys):
    g, r = files
    assert main(["eval-coco", str(g), str(r)]) == 0
    table = capsys.readouterr().out
    import pycocotools.cocoeval as pycoco
    from pycocotools.coco import COCO as PyCOCO

    with contextlib.redirect_stdout(io.StringIO()) as buf:
        pg = PyCOCO(str(g))
        E = pycoco.COCOeval(pg, pg.loadRes(str(r)), "keypoints")
        E.evaluate()
        E.accumulate()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        E.summarize()
    assert table == buf.getvalue()
    assert main(["eval-coco", str(g), str(r), "--json", "--per-joint"]) == 0
    out = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(list(out["stats"].values()), E.stats, rtol=0, atol=1e-12)
    assert list(out["stats"]) == ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]
    assert len(out["per_joint_ap"]) == 18


def test_sigmas_option(files, capsys):
    g, r = files
    sig = ",".join(["0.05"] * 17)
    assert main(["eval-coco", str(g), str(r), "--json", "--sigmas", sig]) == 0
    out = json.loads(capsys.readouterr().out)
    gt = COCO(g)
    E = COCOeval(gt, gt.loadRes(r), sigmas=[0.05] * 17)
    E.evaluate()
    E.accumulate()
    with contextlib.redirect_stdout(io.StringIO()):
        E.summarize()
    np.testing.assert_allclose(list(out["stats"].values()), E.stats, rtol=0, atol=1e-12)


def test_crowdpose_fixture(shared_data, capsys):
    root = shared_data / "eval" / "crowdpose"
    args = ["eval-coco", str(root / "example_crowdpose_val.json"), str(root / "example_crowdpose_preds.json")]
    assert main(args + ["--sigmas", "crowdpose", "--no-area", "--crowd", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    assert stats["AP"] == pytest.approx(0.7877215935879303, abs=1e-12)
    assert stats["AP_hard"] == 0.4116


def test_errors(files, tmp_path, capsys):
    g, r = files
    assert main(["eval-coco", str(tmp_path / "none.json"), str(r)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["eval-coco", str(g), str(r), "--sigmas", "nope"]) == 2
    assert "unknown keypoint schema" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    res = json.loads(r.read_text())
    res[0]["image_id"] = -5
    bad.write_text(json.dumps(res))
    assert main(["eval-coco", str(g), str(bad)]) == 2
    assert "image id -5" in capsys.readouterr().err
