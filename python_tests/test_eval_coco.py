"""hpefast.evaluation.COCO / COCOeval side by side with pycocotools 2.0.11 and xtcocotools 1.14.3.

The generated data (hpefast.evaluation.synthetic) carry crowd regions, people with no labelled joint,
duplicates, false positives, tied scores, floods of > 20 detections per image, results with and
without bbox. Stats and precision / recall / scores must equal the reference tools to 1e-12; the OKS
matrices and per-image match arrays must be identical.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pycocotools.cocoeval as pycoco  # noqa: E402
import pytest
from pycocotools.coco import COCO as PyCOCO  # noqa: E402

from hpefast.evaluation import COCO, COCOeval
from hpefast.evaluation.synthetic import make_coco_keypoints

TOL = 1e-12


def quiet():
    return contextlib.redirect_stdout(io.StringIO())


def py_coco(dataset: dict) -> PyCOCO:
    c = PyCOCO()
    c.dataset = copy.deepcopy(dataset)
    with quiet():
        c.createIndex()
    return c


def run_pycoco(gt: dict, res: list | None, configure=None, dt_dataset: dict | None = None):
    g = py_coco(gt)
    with quiet():
        d = g.loadRes(copy.deepcopy(res)) if dt_dataset is None else py_coco(dt_dataset)
        E = pycoco.COCOeval(g, d, "keypoints")
        if configure:
            configure(E)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


def run_hpefast(gt: dict, res: list | None, configure=None, dt_dataset: dict | None = None, **kwargs):
    g = COCO(copy.deepcopy(gt))
    d = g.loadRes(copy.deepcopy(res)) if dt_dataset is None else COCO(copy.deepcopy(dt_dataset))
    E = COCOeval(g, d, "keypoints", **kwargs)
    if configure:
        configure(E)
    E.evaluate()
    E.accumulate()
    with quiet():
        E.summarize()
    return E


def assert_same_eval(ref, ours, check_images: bool = False):
    np.testing.assert_allclose(ours.stats, ref.stats, rtol=0, atol=TOL)
    for key in ("precision", "recall", "scores"):
        assert ours.eval[key].shape == ref.eval[key].shape, key
        np.testing.assert_allclose(ours.eval[key], ref.eval[key], rtol=0, atol=TOL, err_msg=key)
    assert ours.eval["counts"] == ref.eval["counts"]
    if check_images:
        assert set(ours.ious) == set(ref.ious)
        for key, value in ref.ious.items():
            np.testing.assert_array_equal(np.asarray(ours.ious[key]), np.asarray(value), err_msg=str(key))
        assert len(ours.evalImgs) == len(ref.evalImgs)
        for a, b in zip(ref.evalImgs, ours.evalImgs):
            assert (a is None) == (b is None)
            if a is None:
                continue
            assert a["image_id"] == b["image_id"] and a["category_id"] == b["category_id"]
            assert list(a["aRng"]) == list(b["aRng"]) and a["maxDet"] == b["maxDet"]
            assert a["dtIds"] == b["dtIds"] and a["gtIds"] == b["gtIds"]
            assert a["dtScores"] == b["dtScores"]
            for key in ("dtMatches", "gtMatches", "gtIgnore", "dtIgnore"):
                np.testing.assert_array_equal(np.asarray(b[key]), np.asarray(a[key]), err_msg=key)


# ----------------------------------------------------------------------------------------------------
# Generated data, side by side


@pytest.mark.parametrize(
    "options",
    [
        dict(seed=0),
        dict(seed=1, with_bbox=True),
        dict(seed=2, score_decimals=1),  # many tied scores
        dict(seed=3, categories=2),
        dict(seed=4, first_ann_id=0),  # the gt-id-0 quirk
        dict(seed=5, num_keypoints=5, people_per_image=6.0),  # crowded images, > 20 detections often
        dict(seed=6, crowd_rate=0.3, empty_rate=0.4, score_decimals=None),
    ],
)
def test_generated_matches_pycocotools(options):
    gt, res = make_coco_keypoints(num_images=400, **options)
    k = options.get("num_keypoints", 17)
    sig = None if k == 17 else np.linspace(0.03, 0.1, k)

    def configure(E):
        if sig is not None:
            E.params.kpt_oks_sigmas = sig

    ref = run_pycoco(gt, res, configure)
    ours = run_hpefast(gt, res, configure)
    assert_same_eval(ref, ours, check_images=True)
    assert 0.05 < ours.stats[0] < 0.95  # a meaningful, non-degenerate AP


def test_inconsistent_ground_truth_fields_match_pycocotools():
    """num_keypoints disagreeing with v, crowd regions with labelled joints, zero-size boxes."""
    gt, res = make_coco_keypoints(num_images=200, seed=12, crowd_rate=0.0, empty_rate=0.2)
    rng = np.random.default_rng(0)
    for a in gt["annotations"]:
        u = rng.random()
        if u < 0.1:
            a["num_keypoints"] = 0  # ignored although joints are labelled
        elif u < 0.2:
            a["num_keypoints"] = 3  # counted although (maybe) nothing is labelled
        elif u < 0.25:
            a["iscrowd"] = 1  # a crowd region with labelled joints
        elif u < 0.28:
            a["bbox"][2] = a["bbox"][3] = 0.0
    ref = run_pycoco(gt, res)
    ours = run_hpefast(gt, res)
    assert_same_eval(ref, ours, check_images=True)


def test_accepts_pycocotools_objects():
    gt, res = make_coco_keypoints(num_images=150, seed=11)
    ref = run_pycoco(gt, res)
    g = py_coco(gt)
    with quiet():
        d = g.loadRes(copy.deepcopy(res))
    E = COCOeval(g, d, "keypoints")
    E.evaluate()
    E.accumulate()
    with quiet():
        E.summarize()
    assert_same_eval(ref, E)


@pytest.mark.parametrize(
    "name,configure",
    [
        ("maxDets=[1]", lambda E: setattr(E.params, "maxDets", [1])),
        ("maxDets=[1,10,20]", lambda E: setattr(E.params, "maxDets", [20, 1, 10])),
        ("iouThrs", lambda E: setattr(E.params, "iouThrs", np.array([0.3, 0.5, 0.9]))),
        ("recThrs", lambda E: setattr(E.params, "recThrs", np.linspace(0, 1, 11))),
        (
            "areaRng",
            lambda E: (
                setattr(E.params, "areaRng", [[0, 1e10], [0, 50**2], [50**2, 1e10]]),
                setattr(E.params, "areaRngLbl", ["all", "medium", "large"]),
            ),
        ),
        ("imgIds subset", lambda E: setattr(E.params, "imgIds", sorted(E.params.imgIds)[::3])),
        ("useCats=0", lambda E: setattr(E.params, "useCats", 0)),
        ("catIds subset", lambda E: setattr(E.params, "catIds", [2])),
    ],
)
def test_params_variations_match_pycocotools(name, configure):
    gt, res = make_coco_keypoints(num_images=200, seed=21, categories=2)
    ref = run_pycoco(gt, res, configure)
    ours = run_hpefast(gt, res, configure)
    assert_same_eval(ref, ours, check_images=True)


def test_accumulate_with_other_params_matches_pycocotools():
    """accumulate(p) with fewer images / maxDets than evaluate() used (pycocotools' index lists)."""
    gt, res = make_coco_keypoints(num_images=120, seed=22)

    def both(E):
        E.params.maxDets = [1, 5, 20]

    ref_g = py_coco(gt)
    with quiet():
        ref = pycoco.COCOeval(ref_g, ref_g.loadRes(copy.deepcopy(res)), "keypoints")
        both(ref)
        ref.evaluate()
    ours = COCOeval(COCO(copy.deepcopy(gt)), None, "keypoints")
    ours.cocoDt = ours.cocoGt.loadRes(copy.deepcopy(res))
    both(ours)
    ours.evaluate()
    for make in (
        lambda E: setattr(E.params, "maxDets", [1, 20]),
        lambda E: setattr(E.params, "imgIds", E.params.imgIds[: len(E.params.imgIds) // 2]),
    ):
        p_ref, p_ours = copy.deepcopy(ref.params), copy.deepcopy(ours.params)
        make(ref), make(ours)
        with quiet():
            ref.accumulate()
        ours.accumulate()
        for key in ("precision", "recall", "scores"):
            np.testing.assert_allclose(ours.eval[key], ref.eval[key], rtol=0, atol=TOL)
        ref.params, ours.params = p_ref, p_ours


def test_summary_table_is_pycocotools_table():
    gt, res = make_coco_keypoints(num_images=60, seed=31)
    g = py_coco(gt)
    with quiet():
        ref = pycoco.COCOeval(g, g.loadRes(copy.deepcopy(res)), "keypoints")
        ref.evaluate()
        ref.accumulate()
    ours = run_hpefast(gt, res)
    a, b = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(a):
        ref.summarize()
    with contextlib.redirect_stdout(b):
        ours.summarize()
    assert b.getvalue() == a.getvalue()
    assert len(b.getvalue().splitlines()) == 10


def test_fix_zero_id_equals_pycocotools_with_shifted_ids():
    gt, res = make_coco_keypoints(num_images=200, seed=41, first_ann_id=0)
    assert any(a["id"] == 0 for a in gt["annotations"])
    quirk = run_hpefast(gt, res)
    fixed = run_hpefast(gt, res, fix_zero_id=True)
    shifted = copy.deepcopy(gt)
    for a in shifted["annotations"]:
        a["id"] += 1
    ref_shifted = run_pycoco(shifted, res)
    np.testing.assert_allclose(fixed.stats, ref_shifted.stats, rtol=0, atol=TOL)
    np.testing.assert_allclose(quirk.stats, run_pycoco(gt, res).stats, rtol=0, atol=TOL)
    # evalImgs report the real ids with the fix too
    ids = {a["id"] for a in gt["annotations"]}
    for e in fixed.evalImgs:
        if e is not None:
            assert set(np.unique(e["dtMatches"])) - {0.0} <= ids


# ----------------------------------------------------------------------------------------------------
# xtcocotools options


def _xtcocotools():
    """xtcocotools' pure-Python COCO / COCOeval. Its compiled mask module may be built against another numpy
    ABI; keypoint evaluation never uses masks, so a stub stands in when the real one fails to import."""
    import importlib
    import sys
    import types

    try:
        importlib.import_module("xtcocotools._mask")
    except (ImportError, ValueError):
        stub = types.ModuleType("xtcocotools._mask")
        stub.__getattr__ = lambda name: None  # type: ignore[attr-defined]
        sys.modules["xtcocotools._mask"] = stub
    from xtcocotools.coco import COCO as XtCOCO
    from xtcocotools.cocoeval import COCOeval as XtEval

    return XtCOCO, XtEval


def run_xtcoco(gt: dict, res: list, iou_type: str, sigmas, use_area: bool, gt_path=None):
    XtCOCO, XtEval = _xtcocotools()

    with quiet():
        g = XtCOCO(gt_path) if gt_path else XtCOCO(annotation_file="in_memory", ann_data=copy.deepcopy(gt))
        d = g.loadRes(copy.deepcopy(res))
        E = XtEval(g, d, iou_type, np.asarray(sigmas), use_area=use_area)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


def test_use_area_false_matches_xtcocotools():
    gt, res = make_coco_keypoints(num_images=250, seed=51, num_keypoints=14)
    for a in gt["annotations"]:
        del a["area"]  # AIC / CrowdPose style
    sig = np.linspace(0.025, 0.1, 14)
    ref = run_xtcoco(gt, res, "keypoints", sig, use_area=False)
    g = COCO(copy.deepcopy(gt))
    E = COCOeval(
        g, g.loadRes(copy.deepcopy(res)), "keypoints", sigmas=sig, use_area=False, compat="xtcocotools"
    )
    E.evaluate()
    E.accumulate()
    with quiet():
        E.summarize()
    assert_same_eval(ref, E)


def test_keypoints_crowd_matches_xtcocotools(tmp_path):
    gt, res = make_coco_keypoints(num_images=150, seed=52, num_keypoints=14)
    rng = np.random.default_rng(0)
    for img in gt["images"]:
        img["crowdIndex"] = round(float(rng.random()), 2)
    for a in gt["annotations"]:
        del a["area"]
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    sig = np.array(
        [0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079]
    )
    ref = run_xtcoco(gt, res, "keypoints_crowd", sig, use_area=False, gt_path=str(path))
    g = COCO(path)
    E = COCOeval(g, g.loadRes(copy.deepcopy(res)), "keypoints_crowd", sigmas="crowdpose", use_area=False)
    E.evaluate()
    E.accumulate()
    with quiet():
        E.summarize()
    assert len(E.stats) == 9
    np.testing.assert_allclose(E.stats, ref.stats, rtol=0, atol=TOL)
    # the easy / medium / hard pass leaves the full evaluation in place
    full = E.eval["precision"].copy()
    E.accumulate()
    np.testing.assert_array_equal(E.eval["precision"], full)


# ----------------------------------------------------------------------------------------------------
# The real fixtures of ../shared/data/eval

# stats listed in ../shared/data/README.md (pycocotools 2.0.11 / xtcocotools 1.14.3)
COCO_EXAMPLE = [
    0.8608896054440609, 0.993145468392993, 0.9108910891089109, 0.7755775577557756, 0.9372524752475248,
    0.875, 1.0, 0.9166666666666666, 0.78, 0.9428571428571428,
]  # fmt: skip
CROWD_CASE = [
    0.5048844884488449, 0.7227722772277227, 0.6336633663366337, 0.46633663366336636, 0.7504950495049505,
    0.5181818181818182, 0.7272727272727273, 0.6363636363636364, 0.4666666666666666, 0.75,
]  # fmt: skip
CROWDPOSE = [
    0.7877215935879303, 0.9881188118811886, 0.7314356435643564, 0.8222222222222223, 1.0,
    0.7777777777777778, 1.0, 0.9802, 0.4116,
]  # fmt: skip


@pytest.mark.parametrize(
    "gt_name,dt_name,expected",
    [
        ("example_coco_val.json", "example_coco_preds.json", COCO_EXAMPLE),
        ("crowd_case_gt.json", "crowd_case_dt.json", CROWD_CASE),
    ],
)
def test_coco_fixtures_reproduce_readme(shared_data, gt_name, dt_name, expected):
    root = shared_data / "eval" / "coco"
    gt = COCO(root / gt_name)
    E = COCOeval(gt, gt.loadRes(root / dt_name), "keypoints")
    E.evaluate()
    E.accumulate()
    with quiet():
        E.summarize()
    np.testing.assert_allclose(E.stats, expected, rtol=0, atol=TOL)


def test_crowdpose_fixture_reproduces_readme(shared_data):
    root = shared_data / "eval" / "crowdpose"
    gt = COCO(root / "example_crowdpose_val.json")
    E = COCOeval(
        gt, gt.loadRes(root / "example_crowdpose_preds.json"), "keypoints_crowd", "crowdpose", use_area=False
    )
    E.evaluate()
    E.accumulate()
    with quiet():
        E.summarize()
    np.testing.assert_allclose(E.stats, CROWDPOSE, rtol=0, atol=TOL)


def test_cocomini_perturbed_matches_pycocotools(shared_data):
    gt = json.loads((shared_data / "eval" / "coco" / "cocomini_person_keypoints_val2017.json").read_text())
    rng = np.random.default_rng(7)
    res = []
    for a in gt["annotations"]:
        kp = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
        if a.get("num_keypoints", 0) == 0:
            continue
        for _ in range(int(rng.integers(1, 3))):
            scale = np.sqrt(a["area"]) * rng.uniform(0.01, 0.15)
            xy = kp[:, :2] + rng.normal(0, scale, (len(kp), 2))
            out = np.concatenate([xy, rng.uniform(0.1, 1, (len(kp), 1))], 1)
            score = round(float(rng.uniform(0.3, 1.0)), 2)
            res.append(
                {
                    "image_id": a["image_id"],
                    "category_id": 1,
                    "keypoints": out.ravel().round(2).tolist(),
                    "score": score,
                }
            )
    ref = run_pycoco(gt, res)
    ours = run_hpefast(gt, res)
    assert_same_eval(ref, ours, check_images=True)
    assert 0.1 < ours.stats[0] < 1.0


# ----------------------------------------------------------------------------------------------------
# Edge cases that break evaluators


def _small(seed=61, **kw):
    return make_coco_keypoints(num_images=30, seed=seed, **kw)


def test_no_detections():
    gt, _ = _small()
    dt_dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
    ref = run_pycoco(gt, None, dt_dataset=dt_dataset)
    ours = run_hpefast(gt, None, dt_dataset=dt_dataset)
    assert_same_eval(ref, ours, check_images=True)
    g = COCO(copy.deepcopy(gt))
    E = COCOeval(g, g.loadRes([], allow_empty=True))
    E.evaluate()
    E.accumulate()
    with quiet():
        E.summarize()
    np.testing.assert_allclose(E.stats, ref.stats, rtol=0, atol=TOL)
    assert E.stats[0] == 0.0


def test_no_ground_truth():
    gt, res = _small()
    empty = dict(gt, annotations=[])
    ref = run_pycoco(empty, res)
    ours = run_hpefast(empty, res)
    assert_same_eval(ref, ours, check_images=True)
    assert np.all(ours.stats == -1)


def test_all_ground_truth_ignored():
    gt, res = _small()
    for i, a in enumerate(gt["annotations"]):
        if i % 2:
            a["iscrowd"] = 1
        else:
            a["num_keypoints"] = 0
    ref = run_pycoco(gt, res)
    ours = run_hpefast(gt, res)
    assert_same_eval(ref, ours, check_images=True)
    assert np.all(ours.stats == -1)


def test_one_image():
    gt, res = _small(seed=62, people_per_image=5.0)
    img = gt["images"][0]["id"]
    gt1 = dict(
        gt, images=gt["images"][:1], annotations=[a for a in gt["annotations"] if a["image_id"] == img]
    )
    res1 = [r for r in res if r["image_id"] == img]
    ref = run_pycoco(gt1, res1)
    ours = run_hpefast(gt1, res1)
    assert_same_eval(ref, ours, check_images=True)


def test_missing_optional_fields_are_defaulted():
    """No iscrowd (0) and no num_keypoints (counted from v): the same as pycocotools given them."""
    gt, res = _small(seed=63)
    bare = copy.deepcopy(gt)
    for a in bare["annotations"]:
        del a["iscrowd"], a["num_keypoints"]
    full = copy.deepcopy(bare)
    for a in full["annotations"]:
        a["iscrowd"] = 0
        a["num_keypoints"] = int(np.count_nonzero(np.asarray(a["keypoints"][2::3]) > 0))
    ref = run_pycoco(full, res)
    ours = run_hpefast(bare, res)
    assert_same_eval(ref, ours)


def test_loadres_matches_pycocotools_fields():
    gt, res = _small(seed=64, with_bbox=False)
    g_ref = py_coco(gt)
    with quiet():
        d_ref = g_ref.loadRes(copy.deepcopy(res))
    d = COCO(copy.deepcopy(gt)).loadRes(res)
    assert sorted(d.anns) == sorted(d_ref.anns)
    for i, a in d_ref.anns.items():
        b = d.anns[i]
        assert b["area"] == pytest.approx(a["area"], rel=0, abs=0)
        np.testing.assert_array_equal(b["bbox"], a["bbox"])
    assert "id" not in res[0]  # the caller's dicts are left alone


# ----------------------------------------------------------------------------------------------------
# Bad input: clear ValueError naming the annotation / image / result


def test_missing_area_names_annotation():
    gt, res = _small()
    victim = gt["annotations"][3]
    del victim["area"]
    g = COCO(gt)
    E = COCOeval(g, g.loadRes(res))
    with pytest.raises(ValueError, match=rf"annotation id {victim['id']}\b.*'area'"):
        E.evaluate()
    E = COCOeval(g, g.loadRes(res), use_area=False)
    E.evaluate()  # fine without area


def test_wrong_keypoint_count_names_annotation():
    gt, res = _small()
    victim = gt["annotations"][2]
    victim["keypoints"] = victim["keypoints"][:-3]
    g = COCO(gt)
    with pytest.raises(ValueError, match=rf"annotation id {victim['id']}\b"):
        COCOeval(g, g.loadRes(res)).evaluate()
    gt2, res2 = _small()
    g2 = COCO(gt2)
    with pytest.raises(ValueError, match="51 keypoint values, expected 42"):
        COCOeval(g2, g2.loadRes(res2), sigmas=np.full(14, 0.05)).evaluate()
    res2[5]["keypoints"] = res2[5]["keypoints"] + [1.0, 2.0, 0.5]
    with pytest.raises(ValueError, match="54 keypoint values"):
        g2.loadRes(res2)


def test_unknown_image_names_image():
    gt, res = _small()
    res[4]["image_id"] = 987654
    with pytest.raises(ValueError, match="result 4 is for image id 987654"):
        COCO(gt).loadRes(res)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None, "high"])
def test_bad_score_names_result(bad):
    gt, res = _small()
    res[7]["score"] = bad
    with pytest.raises(ValueError, match=r"result 7\b"):
        COCO(gt).loadRes(res)


def test_missing_score_and_empty_results():
    gt, res = _small()
    del res[1]["score"]
    with pytest.raises(ValueError, match="result 1 .*'score'"):
        COCO(gt).loadRes(res)
    with pytest.raises(ValueError, match="empty"):
        COCO(gt).loadRes([])
    with pytest.raises(ValueError, match="list"):
        COCO(gt).loadRes({"image_id": 1})


def test_nan_keypoints_in_results_rejected():
    gt, res = _small()
    res[3]["keypoints"][4] = float("nan")
    with pytest.raises(ValueError, match="result 3 .*non-finite keypoints"):
        COCO(gt).loadRes(res)


def test_bad_files_and_types(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        COCO(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        COCO(bad)
    lst = tmp_path / "list.json"
    lst.write_text("[]")
    with pytest.raises(ValueError, match="not supported"):
        COCO(lst)
    with pytest.raises(TypeError, match="annotation_file"):
        COCO(42)
    with pytest.raises(ValueError, match="iouType"):
        COCOeval(None, None, "segm")
    with pytest.raises(ValueError, match="sigmas"):
        COCOeval(None, None, sigmas="no-such-schema")


def test_duplicate_gt_ids_rejected():
    gt, res = _small()
    gt["annotations"][1]["id"] = gt["annotations"][0]["id"]
    g = COCO(gt)
    with pytest.raises(ValueError, match="used more than once"):
        COCOeval(g, g.loadRes(res)).evaluate()


def test_accumulate_before_evaluate():
    gt, res = _small()
    g = COCO(gt)
    E = COCOeval(g, g.loadRes(res))
    with pytest.raises(RuntimeError, match="evaluate"):
        E.accumulate()
    with pytest.raises(Exception, match="accumulate"):
        E.summarize()


# ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_large_generated_set_matches_pycocotools():
    gt, res = make_coco_keypoints(num_images=3000, seed=99, with_bbox=True)
    ref = run_pycoco(gt, res)
    ours = run_hpefast(gt, res)
    assert_same_eval(ref, ours)


# ----------------------------------------------------------------------------------------------------
# Per-joint AP


def test_per_joint_ap_is_pycocotools_on_one_joint():
    from hpefast.evaluation import per_joint_ap

    gt, res = make_coco_keypoints(num_images=120, seed=71)
    g = COCO(copy.deepcopy(gt))
    d = g.loadRes(copy.deepcopy(res))
    table = per_joint_ap(g, d)
    assert len(table) == 18 and table["mean"] == pytest.approx(np.mean([table[f"kp{j}"] for j in range(17)]))
    sig = COCOeval(None, None).params.kpt_oks_sigmas
    for j in (0, 9, 16):
        gj = copy.deepcopy(gt)
        for a in gj["annotations"]:
            a["keypoints"] = a["keypoints"][3 * j : 3 * j + 3]
            a["num_keypoints"] = int(a["keypoints"][2] > 0)
        dj = copy.deepcopy(d.dataset["annotations"])  # areas of the full poses
        for a in dj:
            a["keypoints"] = a["keypoints"][3 * j : 3 * j + 3]
        dt_dataset = {"images": gj["images"], "categories": gj["categories"], "annotations": dj}

        def configure(E, j=j):
            E.params.kpt_oks_sigmas = sig[j : j + 1]

        ref = run_pycoco(gj, None, configure, dt_dataset=dt_dataset)
        assert table[f"kp{j}"] == pytest.approx(ref.stats[0], abs=TOL)
