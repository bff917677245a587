"""The one Python OKS (hpefast._reference.oks) against pycocotools' computeOks, to the bit: every image
mixes ground truth with labelled joints, partly labelled ones and ones with none (the box distance)."""

from __future__ import annotations

import copy

import numpy as np
from pycocotools.coco import COCO as PyCOCO
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from hpefast._reference import oks as ref


def _dataset(rng, images=12, K=17):
    imgs, anns, dets = [], [], []
    for i in range(1, images + 1):
        imgs.append({"id": i, "width": 640, "height": 480})
        for _ in range(int(rng.integers(1, 5))):
            kp = np.concatenate([rng.uniform(0, 400, (K, 2)), rng.integers(0, 3, (K, 1))], 1)
            if rng.random() < 0.25:
                kp[:, 2] = 0  # no labelled joint: OKS to the doubled box
            box = [float(v) for v in rng.uniform(0, 200, 4)]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": 1,
                    "iscrowd": 0,
                    "bbox": box,
                    "area": float(rng.uniform(100, 20000)),
                    "keypoints": kp.ravel().tolist(),
                    "num_keypoints": int((kp[:, 2] > 0).sum()),
                }
            )
        for _ in range(int(rng.integers(1, 6))):
            d = np.concatenate([rng.uniform(-50, 450, (K, 2)), rng.uniform(0, 1, (K, 1))], 1)
            dets.append(
                {
                    "image_id": i,
                    "category_id": 1,
                    "keypoints": d.ravel().tolist(),
                    "score": float(rng.uniform()),
                }
            )
    gt = {"images": imgs, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}
    return gt, dets


def test_coco_oks_matrix_is_pycocotools_bit_for_bit():
    rng = np.random.default_rng(7)
    gt, dets = _dataset(rng)
    coco = PyCOCO()
    coco.dataset = copy.deepcopy(gt)
    coco.createIndex()
    ev = PyCOCOeval(coco, coco.loadRes(copy.deepcopy(dets)), "keypoints")
    ev.evaluate()
    sigmas = ev.params.kpt_oks_sigmas
    compared = 0
    for img in gt["images"]:
        want = ev.ious[(img["id"], 1)]
        g = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
        d = sorted((x for x in dets if x["image_id"] == img["id"]), key=lambda x: -x["score"])
        got = ref.coco_oks_matrix(
            np.array([x["keypoints"] for x in d]).reshape(len(d), -1, 3),
            np.array([a["keypoints"] for a in g]).reshape(len(g), -1, 3),
            np.array([a["area"] for a in g]),
            np.array([a["bbox"] for a in g]),
            sigmas,
        )
        np.testing.assert_array_equal(got, want)
        compared += got.size
    assert compared > 50


def test_mean_exp_selections():
    e = np.array([[0.0, 1.0, 2.0], [3.0, 0.5, 0.0]])
    np.testing.assert_array_equal(ref.mean_exp(e), np.exp(-e).sum(1) / 3)
    np.testing.assert_array_equal(
        ref.mean_exp(e, np.array([True, False, True])), np.exp(-e[:, [0, 2]]).mean(1)
    )
    rows = np.array([[False, False, False], [False, True, False]])
    np.testing.assert_array_equal(ref.mean_exp(e, rows), [0.0, np.exp(-0.5)])


def test_paired_oks_is_the_matrix_diagonal():
    rng = np.random.default_rng(3)
    pred, gt = rng.uniform(0, 300, (30, 17, 2)), rng.uniform(0, 300, (30, 17, 2))
    vis = rng.random((30, 17)) > 0.3
    vis[0] = False
    area, sig = rng.uniform(100, 5000, 30), rng.uniform(0.02, 0.1, 17)
    out = ref.oks(pred, gt, vis, area, sig)
    assert out[0] == 0.0
    for i in range(1, 30):
        g = np.concatenate([gt[i], vis[i, :, None] * 2.0], 1)[None]
        full = ref.coco_oks_matrix(pred[i : i + 1], g, area[i : i + 1], np.zeros((1, 4)), sig)
        assert out[i] == full[0, 0]
