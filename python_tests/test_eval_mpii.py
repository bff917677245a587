"""MPII PCKh against the published tables of ../shared/data/eval/mpii, and PCK / EPE / AUC."""

from __future__ import annotations

import numpy as np
import pytest

from hpefast._reference import oks as ref
from hpefast.evaluation import auc, epe, pck, pck_bbox, pckh

PARTS = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean"]


def load_mpii(shared_data):
    import scipy.io as sio

    mat = sio.loadmat(shared_data / "eval" / "mpii" / "detections_our_format.mat")
    gt = mat["pos_gt_src"].transpose(2, 0, 1)  # [N, 16, 2]
    visible = 1 - mat["jnt_missing"].T  # [N, 16]
    headboxes = mat["headboxes_src"].transpose(2, 0, 1)  # [N, 2 corners, 2]
    return mat, gt, visible, headboxes


def test_tompson_predictions_reproduce_table(shared_data):
    mat, gt, visible, headboxes = load_mpii(shared_data)
    table = pckh(mat["pos_pred_src"].transpose(2, 0, 1), gt, visible, headboxes)
    expected = [95.6003, 92.7140, 83.3646, 76.7357, 81.9283, 73.3628, 65.4462, 82.3367]
    got = [round(table[p], 4) for p in PARTS]
    assert got == expected


def test_hourglass_predictions_reproduce_table(shared_data):
    import scipy.io as sio

    _, gt, visible, headboxes = load_mpii(shared_data)
    preds = sio.loadmat(shared_data / "eval" / "mpii" / "hg_s2_b1_preds.mat")["preds"]
    table = pckh(preds, gt, visible, headboxes)
    expected = [95.80, 94.57, 88.12, 83.31, 86.24, 80.88, 77.44, 87.30]
    assert [round(table[p], 2) for p in PARTS] == expected
    assert round(table["Mean@0.1"], 2) == 23.91
    # the per-joint table agrees with the reference hits, joint by joint
    hits = ref.pckh_hits(preds, gt, visible, headboxes, 0.5)
    np.testing.assert_allclose(table["per_joint"], 100 * hits.sum(0) / visible.sum(0), rtol=0, atol=1e-12)
    # and Mean@0.1 is the mean at a true 0.10 threshold (HRNet's table index 11 would be 0.11)
    at_011 = pckh(preds, gt, visible, headboxes, threshold=0.11)["Mean"]
    assert round(table["Mean@0.1"], 2) != round(at_011, 2)
    assert table["Mean@0.1"] == pytest.approx(
        pckh(preds, gt, visible, headboxes, threshold=0.1)["Mean"], abs=1e-12
    )


def test_pckh_torch_inputs_and_bad_input():
    import torch

    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, (20, 16, 2))
    pred = gt + rng.normal(0, 3, gt.shape)
    vis = rng.random((20, 16)) > 0.2
    hb = np.stack([gt[:, 9] - 10, gt[:, 9] + 10], 1)
    a = pckh(pred, gt, vis, hb)
    b = pckh(torch.tensor(pred), torch.tensor(gt), torch.tensor(vis), torch.tensor(hb))
    assert a["Mean"] == b["Mean"]
    with pytest.raises(ValueError, match="gt has 19 rows"):
        pckh(pred, gt[:19], vis, hb)
    with pytest.raises(ValueError, match="headboxes must have shape"):
        pckh(pred, gt, vis, hb[:, 0])
    with pytest.raises(ValueError, match="16 MPII joints"):
        pckh(pred[:, :14], gt[:, :14], vis[:, :14], hb)
    hb_bad = hb.copy()
    hb_bad[3] = 5.0
    with pytest.raises(ValueError, match="person 3 has an empty head box"):
        pckh(pred, gt, vis, hb_bad)
    for thr in (-1.0, 0.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="threshold"):
            pckh(pred, gt, vis, hb, threshold=thr)
    with pytest.raises(ValueError, match="pred is empty"):
        pckh(pred[:0], gt[:0], vis[:0], hb[:0])
    gt_nan = gt.copy()
    gt_nan[2, 5] = np.nan
    vis_on = vis.copy()
    vis_on[2, 5] = True
    with pytest.raises(ValueError, match="person 2 joint 5"):
        pckh(pred, gt_nan, vis_on, hb)
    vis_off = vis.copy()
    vis_off[2, 5] = False  # a NaN on an unannotated joint is allowed (MPII stores missing joints so)
    assert pckh(pred, gt_nan, vis_off, hb)["Mean"] == pytest.approx(pckh(pred, gt, vis_off, hb)["Mean"])


def _pck_loop(pred, gt, vis, norm, thr):
    """Straight from mmpose's definition: per joint, the fraction of valid joints with |d / norm| < thr."""
    n, k = vis.shape
    acc = []
    for j in range(k):
        d = [np.linalg.norm((pred[i, j] - gt[i, j]) / norm[i]) for i in range(n) if vis[i, j]]
        acc.append(np.mean(np.array(d) < thr) if d else -1)
    return np.array(acc)


def test_pck_epe_auc_definitions():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0, 200, (50, 17, 2))
    pred = gt + rng.normal(0, 6, gt.shape)
    vis = rng.random((50, 17)) > 0.3
    vis[:, 4] = False  # a joint nobody labels
    boxes = np.concatenate([gt.min(1), gt.max(1) - gt.min(1)], 1)
    side = np.maximum(boxes[:, 2], boxes[:, 3])
    out = pck_bbox(pred, gt, vis, boxes, 0.05)
    expected = _pck_loop(pred, gt, vis, np.repeat(side[:, None], 2, 1), 0.05)
    np.testing.assert_allclose(out["per_joint"], expected)
    assert out["per_joint"][4] == -1 and out["count"] == 16
    assert out["mean"] == pytest.approx(expected[expected >= 0].mean())
    # EPE: the mean distance over visible joints
    assert epe(pred, gt, vis) == pytest.approx(np.linalg.norm(pred - gt, axis=-1)[vis].mean())
    # AUC of perfect predictions: every threshold but 0 (strict <) gives 1
    assert auc(gt, gt, vis, 30.0, num_thresholds=20) == pytest.approx(19 / 20)
    assert 0 < auc(pred, gt, vis, 30.0) < 19 / 20
    with pytest.raises(ValueError, match="norm must be"):
        pck(pred, gt, vis, np.ones((3, 3)))
