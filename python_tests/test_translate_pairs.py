"""Reading ground truth and predictions, matching predictions to people, building pairs, and scoring them in
the dataset's protocol (against pycocotools and a plain PCKh written here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hpefast.keypoints import get_schema
from hpefast.translate import build_pairs, guess_schema, match, read_ground_truth, read_predictions
from hpefast.translate._schema import map_array
from hpefast.translate.pairs import prediction_boxes
from hpefast.translate.synthetic import coco_to_mpii, mpii_headboxes, mpii_to_coco, random_poses


def coco_dataset(rng, images=20, schema="coco"):
    """A COCO keypoint json of random people (1-3 per image) and their keypoints [M, 17, 3]."""
    anns, imgs, all_kp = [], [], []
    for im in range(1, images + 1):
        imgs.append(dict(id=im, file_name=f"{im:012d}.jpg", width=640, height=480))
        n = int(rng.integers(1, 4))
        kp, boxes = random_poses(n, rng)
        for k, b in zip(kp, boxes):
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=im,
                    category_id=1,
                    iscrowd=0,
                    bbox=b.tolist(),
                    area=float(b[2] * b[3] * 0.6),
                    num_keypoints=17,
                    keypoints=k.reshape(-1).tolist(),
                )
            )
            all_kp.append(k)
    cats = [dict(id=1, name="person", keypoints=list(get_schema(schema).names), skeleton=[])]
    return dict(images=imgs, annotations=anns, categories=cats), np.stack(all_kp)


def results_from(kp, image_ids, rng, noise=2.0, score=0.9):
    out = []
    for k, im in zip(kp, image_ids):
        k = k.copy()
        k[:, :2] += rng.normal(0, noise, k[:, :2].shape)
        k[:, 2] = score
        out.append(
            dict(image_id=int(im), category_id=1, keypoints=k.reshape(-1).tolist(), score=float(score))
        )
    return out


def test_mpii_ground_truth_follows_the_data_conventions(shared_data):
    path = shared_data / "samples" / "mpii" / "test_mpii.json"
    entries = json.loads(path.read_text())
    gt = read_ground_truth(path, "mpii")
    assert gt.format == "mpii" and len(gt) == len(entries)
    e = entries[0]
    np.testing.assert_allclose(gt.keypoints[0, :, :2], np.asarray(e["joints"]) - 1.0)  # 1-based -> 0-based
    assert gt.image_id[0] == int(e["image"].split(".")[0])
    size = e["scale"] * 200.0
    np.testing.assert_allclose(gt.boxes[0, 2:], [size, size])
    np.testing.assert_allclose(
        gt.boxes[0, :2] + size / 2, [e["center"][0] - 1, e["center"][1] + 15 * e["scale"] - 1]
    )
    assert np.isnan(gt.headbox).all()  # the mmpose sample carries no head boxes
    assert guess_schema(path) == "mpii"


def test_mpii_ground_truth_from_the_synthetic_writer_has_head_boxes(tmp_path):
    from hpefast.data.synthetic import write_dataset

    ann = write_dataset(tmp_path, layout="mpii", num_images=3, seed=0)
    entries = json.loads(ann.read_text())
    gt = read_ground_truth(ann, "mpii")
    np.testing.assert_allclose(gt.headbox, [e["headbox"] for e in entries])
    assert np.all(gt.image_id == [int(e["image"].split(".")[0]) for e in entries])


def test_coco_ground_truth_skips_crowds_and_empty_people(rng):
    data, kp = coco_dataset(rng, images=3)
    data["annotations"].append(
        dict(
            id=99,
            image_id=1,
            category_id=1,
            iscrowd=1,
            bbox=[0, 0, 5, 5],
            area=25.0,
            num_keypoints=0,
            keypoints=[0] * 51,
        )
    )
    data["annotations"].append(
        dict(
            id=100,
            image_id=2,
            category_id=1,
            iscrowd=0,
            bbox=[0, 0, 5, 5],
            area=25.0,
            num_keypoints=0,
            keypoints=[0] * 51,
        )
    )
    gt = read_ground_truth(data, "coco")
    assert len(gt) == len(kp) and 99 not in gt.ann_id and 100 not in gt.ann_id
    np.testing.assert_array_equal(gt.keypoints, kp)
    assert guess_schema(data) == "coco"
    data["annotations"][0]["keypoints"] = [1, 2, 2]
    with pytest.raises(ValueError, match="annotation id 1 has 3 keypoint values"):
        read_ground_truth(data, "coco")


def test_predictions_are_validated(tmp_path):
    path = tmp_path / "res.json"
    path.write_text(json.dumps([dict(image_id=1, category_id=1, keypoints=[0.0] * 48, score=1.0)]))
    with pytest.raises(ValueError, match="48 keypoint values; a 'coco' model gives 51.*--src"):
        read_predictions(path, "coco")
    assert read_predictions(path, "mpii").keypoints.shape == (1, 16, 3)
    with pytest.raises(FileNotFoundError, match="predictions"):
        read_predictions(tmp_path / "missing.json", "coco")
    path.write_text("[1, 2")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_predictions(path, "coco")


@pytest.mark.parametrize("method", ["oks", "iou"])
def test_match_recovers_who_is_who(method, rng):
    data, kp = coco_dataset(rng, images=25)
    gt = read_ground_truth(data, "coco")
    order = rng.permutation(len(gt))[:-2]  # two people missed by the model
    results = results_from(kp[order], gt.image_id[order], rng)
    for r, i in zip(results, order):
        r["bbox"] = gt.boxes[i].tolist()
    far = kp[0].copy()
    far[:, :2] += 1000.0  # a false positive, far from everyone
    results += results_from(far[None], gt.image_id[:1], rng)
    results[-1]["bbox"] = [2000.0, 2000.0, 10.0, 10.0]
    preds = read_predictions(results, "coco")
    gi, pi = match(gt, preds, method)
    assert len(gi) == len(order)
    np.testing.assert_array_equal(gi, order[pi])


def test_match_over_shared_joints_between_schemas(rng):
    """MPII-schema predictions meet COCO people by OKS over the 12 joints the schemas share."""
    data, kp = coco_dataset(rng, images=15)
    gt = read_ground_truth(data, "coco")
    mpii = coco_to_mpii(kp)
    preds = read_predictions(results_from(mpii, gt.image_id, rng), "mpii")
    gi, pi = match(gt, preds)
    np.testing.assert_array_equal(gi, pi)
    pairs = build_pairs(gt, preds)
    assert pairs.stats["matched"] == len(gt) and pairs.stats["box_mode"] == "keypoints"
    np.testing.assert_array_equal(pairs.dst_keypoints, gt.keypoints[pairs.gt_index])
    np.testing.assert_array_equal(pairs.src_keypoints, preds.keypoints[pairs.pred_index])


def test_prediction_boxes_modes(rng):
    kp, boxes = random_poses(4, rng)
    res = results_from(kp, [1, 1, 2, 2], rng)
    for r, b in zip(res, boxes):
        r["bbox"] = b.tolist()
    preds = read_predictions(res, "coco")
    got, mode = prediction_boxes(preds)
    assert mode == "bbox"
    np.testing.assert_allclose(got, boxes)
    got, mode = prediction_boxes(preds, "keypoints")
    lo = preds.keypoints[..., :2].min(axis=1)
    np.testing.assert_allclose(got[:, :2], lo)
    del res[1]["bbox"]
    assert prediction_boxes(read_predictions(res, "coco"))[1] == "keypoints"
    with pytest.raises(ValueError, match="result 1 .* no usable bbox"):
        prediction_boxes(read_predictions(res, "coco"), "bbox")


def test_coco_scores_agree_with_pycocotools_on_all_and_on_a_subset_of_joints(rng):
    import contextlib
    import io

    from pycocotools.coco import COCO as PyCOCO
    from pycocotools.cocoeval import COCOeval as PyEval

    from hpefast.translate.pairs import Predictions
    from hpefast.translate.scoring import score_coco

    data, kp = coco_dataset(rng, images=20)
    gt = read_ground_truth(data, "coco")
    results = results_from(kp, gt.image_id, rng, noise=6.0)
    for r in results:
        r["score"] = float(rng.uniform(0.3, 1.0))
    preds = read_predictions(results, "coco")
    sigmas = get_schema("coco").sigmas

    def reference(joints):
        sel = np.flatnonzero(joints)
        d = json.loads(json.dumps(data))
        for a in d["annotations"]:
            k = np.asarray(a["keypoints"]).reshape(-1, 3)[sel]
            a["keypoints"], a["num_keypoints"] = k.reshape(-1).tolist(), int((k[:, 2] > 0).sum())
        res = [
            dict(r, keypoints=np.asarray(r["keypoints"]).reshape(-1, 3)[sel].reshape(-1).tolist())
            for r in results
        ]
        with contextlib.redirect_stdout(io.StringIO()):
            g = PyCOCO()
            g.dataset = d
            g.createIndex()
            ev = PyEval(g, g.loadRes(res), "keypoints")
            ev.params.kpt_oks_sigmas = sigmas[sel]
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        return ev.stats

    assert isinstance(preds, Predictions)
    for joints in (np.ones(17, bool), map_array(np.ones((1, 16, 3)), "mpii", "coco")[0, :, 2] > 0):
        ours = score_coco(gt, preds.keypoints, preds.score, preds.image_id, joints)
        np.testing.assert_allclose(list(ours.values()), reference(joints), rtol=0, atol=1e-12)


def mpii_dataset(rng, n=40):
    kp, _ = random_poses(n, rng)
    mpii = coco_to_mpii(kp)
    heads = mpii_headboxes(mpii)
    entries = []
    for i, (m, h) in enumerate(zip(mpii, heads)):
        lo, hi = m[:, :2].min(0), m[:, :2].max(0)
        s = float((hi - lo).max() / 200.0)
        c = 0.5 * (lo + hi)
        entries.append(
            dict(
                image=f"{i + 1:09d}.jpg",
                center=[c[0] + 1, c[1] - 15 * s + 1],
                scale=s,
                joints=(m[:, :2] + 1).tolist(),
                joints_vis=[1] * 16,
                headbox=h.tolist(),
            )
        )
    return entries, mpii, heads


def test_pckh_scores_against_a_plain_count(rng):
    from hpefast.translate.scoring import score_pckh

    entries, mpii, heads = mpii_dataset(rng)
    gt = read_ground_truth(entries, "mpii")
    pred = mpii.copy()
    pred[..., :2] += rng.normal(0, 4.0, pred[..., :2].shape)
    pred = pred[::-1].copy()  # predictions in another order, one person (the first) unmatched:
    gi = np.arange(1, len(gt))[::-1]
    pi = np.arange(len(gt) - 1)
    joints = np.ones(16, bool)
    joints[[6, 7]] = False  # pelvis and thorax are not in PCKh's mean anyway; leave them out
    joints[9] = False  # and leave out the head top: the score must ignore it
    got = score_pckh(gt, pred, gi, pi, joints)
    head = 0.6 * np.linalg.norm(heads[:, 1] - heads[:, 0], axis=-1)
    d = np.linalg.norm(pred[pi, :, :2] - mpii[gi, :, :2], axis=-1) / head[gi, None]
    hits = (d[:, joints] <= 0.5).sum()
    expected = 100.0 * hits / (len(gt) * joints.sum())  # the unmatched person misses all its joints
    assert got["Mean"] == pytest.approx(expected, abs=1e-9)
    gt.headbox[3] = np.nan
    with pytest.raises(ValueError, match="MPII entry 3 has no head box"):
        score_pckh(gt, pred, gi, pi, joints)


def test_evaluate_translation_rows_and_mismatched_translator(rng):
    from hpefast.translate import KeypointTranslator, evaluate_translation

    entries, mpii, _ = mpii_dataset(rng, n=30)
    gt = read_ground_truth(entries, "mpii")
    preds = read_predictions(results_from(mpii_to_coco(mpii), gt.image_id, rng, noise=0.5), "coco")
    plain = evaluate_translation(gt, preds)
    assert [(r["method"], r["joints"], r["num_joints"]) for r in plain["rows"]] == [("mapping", "shared", 12)]
    assert plain["missing_joints"] == ["pelvis", "thorax", "upper_neck", "head_top"]
    t = KeypointTranslator("coco", "mpii", hidden=8)  # untrained: the mapping on shared joints
    rows = evaluate_translation(gt, preds, t)["rows"]
    assert [(r["method"], r["joints"]) for r in rows] == [
        ("mapping", "shared"),
        ("translator", "shared"),
        ("translator", "all"),
    ]
    assert rows[1]["Mean"] == pytest.approx(rows[0]["Mean"], abs=1e-9)
    with pytest.raises(ValueError, match="the translator maps 'mpii' -> 'coco'"):
        evaluate_translation(gt, preds, KeypointTranslator("mpii", "coco", hidden=8))
