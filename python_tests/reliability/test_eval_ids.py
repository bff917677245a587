"""Issue 11.1: COCO ids behave exactly as in pycocotools, never a silently wrong AP.

Each case runs pycocotools and hpefast on the same ground truth and results (as dicts, and as json files
through ``COCO(path)`` / ``loadRes(path)``, which takes the compiled reader or the general json path)
and requires the same stats to 1e-12. Where pycocotools raises, hpefast raises a ValueError naming the
field. The training dataset refuses duplicate and non-integer image ids, naming the file.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest

from hpefast.evaluation import COCO, COCOeval
from hpefast.evaluation.synthetic import make_coco_keypoints


def _data(seed: int = 5, num_images: int = 24, ties: bool = True):
    return make_coco_keypoints(num_images=num_images, seed=seed, score_decimals=2 if ties else None)


def _pycoco_stats(gt: dict, res: list) -> np.ndarray:
    from pycocotools.coco import COCO as PyCOCO
    from pycocotools.cocoeval import COCOeval as PyCOCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        g = PyCOCO()
        g.dataset = copy.deepcopy(gt)
        g.createIndex()
        E = PyCOCOeval(g, g.loadRes(copy.deepcopy(res)), "keypoints")
        E.evaluate()
        E.accumulate()
        E.summarize()
    return np.asarray(E.stats)


def _hpefast(gt, res) -> COCOeval:
    g = COCO(gt)
    E = COCOeval(g, g.loadRes(res), "keypoints")
    E.evaluate()
    E.accumulate()
    with contextlib.redirect_stdout(io.StringIO()):
        E.summarize()
    return E


def _both_paths(gt: dict, res: list, tmp_path) -> list[np.ndarray]:
    """hpefast's stats from dicts and from json files."""
    from_dicts = _hpefast(copy.deepcopy(gt), copy.deepcopy(res)).stats
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(res))
    from_files = _hpefast(str(tmp_path / "gt.json"), str(tmp_path / "res.json")).stats
    return [np.asarray(from_dicts), np.asarray(from_files)]


def _assert_same(gt: dict, res: list, tmp_path) -> np.ndarray:
    expected = _pycoco_stats(gt, res)
    for got in _both_paths(gt, res, tmp_path):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    return expected


def test_string_category_id_among_integers_in_results(tmp_path):
    gt, res = _data()
    res[3]["category_id"] = "1"  # pycocotools' `in catIds` drops this one result, scores the others
    stats = _assert_same(gt, res, tmp_path)
    assert stats[0] > 0.3  # a real score, not the 0 / -1 of a whole column turned into strings


def test_string_image_id_in_ground_truth_annotation(tmp_path):
    gt, res = _data()
    gt["annotations"][2]["image_id"] = str(gt["annotations"][2]["image_id"])  # dropped by pycocotools
    stats = _assert_same(gt, res, tmp_path)
    assert stats[0] > 0.3


def test_all_string_ids(tmp_path):
    gt, res = _data(ties=False)
    for img in gt["images"]:
        img["id"] = f"img{img['id']}"
    for a in gt["annotations"] + res:
        a["image_id"] = f"img{a['image_id']}"
        a["category_id"] = str(a["category_id"])
    for c in gt["categories"]:
        c["id"] = str(c["id"])
    ref_gt, ref_res = _data(ties=False)
    stats = _assert_same(gt, res, tmp_path)
    # without tied scores, renaming the ids (which reorders the images) changes no stat
    np.testing.assert_allclose(stats, _pycoco_stats(ref_gt, ref_res), rtol=0, atol=1e-12)


def test_annotation_ids_above_2_53(tmp_path):
    gt, res = _data()
    for i, a in enumerate(gt["annotations"]):
        a["id"] = 2**53 + i  # consecutive ids share doubles: not duplicates
    _assert_same(gt, res, tmp_path)
    E = _hpefast(copy.deepcopy(gt), copy.deepcopy(res))
    gt_ids = {i for e in E.evalImgs if e is not None for i in e["gtIds"]}
    assert gt_ids == {a["id"] for a in gt["annotations"]}  # exact ids, as pycocotools lists them
    gt["annotations"][5]["id"] = gt["annotations"][4]["id"]  # a real duplicate is still refused
    with pytest.raises(ValueError, match=f"annotation id {2**53 + 4} is used more than once"):
        _hpefast(gt, res)


def test_float_image_ids(tmp_path):
    gt, res = _data(ties=False)
    remap = {img["id"]: img["id"] + 0.5 for img in gt["images"]}  # 1.5, 2.5, ...: no truncation to 1, 2
    remap[gt["images"][0]["id"]] = float(gt["images"][0]["id"] * 10)  # and one integral float
    for img in gt["images"]:
        img["id"] = remap[img["id"]]
    for a in gt["annotations"] + res:
        a["image_id"] = remap[a["image_id"]]
    ref_gt, ref_res = _data(ties=False)
    stats = _assert_same(gt, res, tmp_path)
    np.testing.assert_allclose(stats, _pycoco_stats(ref_gt, ref_res), rtol=0, atol=1e-12)


@pytest.mark.parametrize("small", [False, True], ids=["all_large", "mixed_with_small"])
def test_image_ids_at_least_2_63(tmp_path, small):
    gt, res = _data()
    base = 2**63
    remap = {img["id"]: base + img["id"] for img in gt["images"]}
    if small:  # numpy turns [2**63 + k, 7] into floats: pycocotools then loses the large ids; so do we
        remap[gt["images"][0]["id"]] = 7
    for img in gt["images"]:
        img["id"] = remap[img["id"]]
    for a in gt["annotations"] + res:
        a["image_id"] = remap[a["image_id"]]
    _assert_same(gt, res, tmp_path)


def test_errors_where_pycocotools_raises():
    from pycocotools.coco import COCO as PyCOCO
    from pycocotools.cocoeval import COCOeval as PyCOCOeval

    # a string image id among integers in 'images': pycocotools' sorted() raises TypeError
    gt, res = _data()
    gt["images"][1]["id"] = str(gt["images"][1]["id"])
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(TypeError):
        g = PyCOCO()
        g.dataset = copy.deepcopy(gt)
        g.createIndex()
        PyCOCOeval(g, g, "keypoints")
    g = COCO(copy.deepcopy(gt))
    with pytest.raises(ValueError, match=r"image ids \('images' id\) mix int and str"):
        COCOeval(g, g, "keypoints")

    # a result for an image id of another type: pycocotools asserts, hpefast names the result
    gt, res = _data()
    res[4]["image_id"] = str(res[4]["image_id"])
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(AssertionError):
        g = PyCOCO()
        g.dataset = copy.deepcopy(gt)
        g.createIndex()
        g.loadRes(copy.deepcopy(res))
    with pytest.raises(ValueError, match=f"result 4 is for image id '{res[4]['image_id']}'"):
        COCO(copy.deepcopy(gt)).loadRes(copy.deepcopy(res))

    # an unhashable id: pycocotools' dicts raise TypeError, hpefast names the field
    gt, res = _data()
    gt["annotations"][0]["image_id"] = [1]
    with pytest.raises(ValueError, match="annotation image_id must be a number or a string"):
        COCO(gt).createIndex()

    # a non-numeric annotation id: pycocotools fails storing it in its float match arrays
    gt, res = _data()
    for a in gt["annotations"]:
        a["id"] = f"a{a['id']}"
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(ValueError):
        g = PyCOCO()
        g.dataset = copy.deepcopy(gt)
        g.createIndex()
        PyCOCOeval(g, g.loadRes(copy.deepcopy(res)), "keypoints").evaluate()
    g = COCO(copy.deepcopy(gt))
    with pytest.raises(ValueError, match="non-numeric 'id'"):
        COCOeval(g, g.loadRes(copy.deepcopy(res)), "keypoints").evaluate()


def test_cli_scores_a_string_category_id_like_pycocotools(tmp_path, capsys):
    from hpefast.cli import main

    gt, res = _data()
    res[0]["category_id"] = "1"
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(res))
    assert main(["eval-coco", str(tmp_path / "gt.json"), str(tmp_path / "res.json"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stats"]["AP"] == pytest.approx(_pycoco_stats(gt, res)[0], abs=1e-12)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["images"].append(dict(d["images"][0], file_name="other.jpg")), "used by more than one"),
        (lambda d: d["images"][0].update(id=1.5), "image id 1.5 is not an integer"),
        (lambda d: d["images"][0].update(id="7"), "image id '7' is not an integer"),
        (lambda d: d["annotations"][0].update(image_id=1.5), "image_id 1.5 is not an integer"),
        (lambda d: d["annotations"][0].update(id=2.5), "annotation id 2.5 is not an integer"),
        (lambda d: d["annotations"][0].update(id="7"), "annotation id '7' is not an integer"),
    ],
    ids=[
        "duplicate_image_id",
        "float_image_id",
        "string_image_id",
        "float_annotation_image_id",
        "float_annotation_id",
        "string_annotation_id",
    ],
)
def test_training_dataset_refuses_bad_image_ids(tmp_path, rel_coco, change, message):
    from hpefast.data.coco import CocoKeypointDataset

    data = json.loads(rel_coco.read_text())
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as info:
        CocoKeypointDataset(path, rel_coco.parent / "images", "coco")
    assert str(path) in str(info.value)
