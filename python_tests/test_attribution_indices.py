"""PoseIG indices (DI, FI, LI, RI, EPE, joint inversions) on hand-made maps with known answers and against
the template's per-map loops; person masks from COCO segmentations."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from hpefast._reference import attribution as ref
from hpefast.attribution import (
    crop_mask,
    dispersion_index,
    epe,
    foreground_index,
    instance_mask,
    joint_inversions,
    localization_index,
    relation_index,
    segmentation_mask,
)


def _one_hot(h, w, y, x):
    m = torch.zeros(h, w)
    m[y, x] = 1.0
    return m


# --- DI -------------------------------------------------------------------------------------------------
def test_dispersion_index_known_values():
    n = 16 * 12
    uniform = torch.full((16, 12), 0.3)
    peak = _one_hot(16, 12, 5, 7)
    half = torch.zeros(16, 12)
    half[:8] = 1.0  # half the pixels at 1: Gini 1/2
    di = dispersion_index(torch.stack([uniform, peak, half])[None])
    eps = 1e-7
    expected_peak = 100 * (1 - (n - 1) / (n * (1 + n * eps)))  # Gini of one non-zero value: (n-1)/n
    expected_half = 100 * (1 - (n * n / 4) / (n * (n / 2 + n * eps)))
    np.testing.assert_allclose(di[0].numpy(), [100.0, expected_peak, expected_half], rtol=1e-9)
    assert abs(float(di[0, 1]) - 100 / n) < 5e-3 and abs(float(di[0, 2]) - 50) < 5e-3
    # negative maps are shifted to start at 0 (the template's rule): -peak has the Gini of (1 - peak)
    np.testing.assert_allclose(
        dispersion_index(-peak[None, None]).numpy(), dispersion_index((1 - peak)[None, None]).numpy()
    )


def test_dispersion_index_equals_template_loop():
    g = torch.Generator().manual_seed(0)
    ig = torch.randn(3, 4, 20, 15, generator=g).abs() ** 3
    ig[1, 2] = 0.0  # an empty map: the template's NaN -> 0 (here: uniform 1e-7, Gini 0, DI 100)
    np.testing.assert_allclose(dispersion_index(ig).numpy(), ref.compute_DI(ig), rtol=0, atol=2e-4)


# --- FI -------------------------------------------------------------------------------------------------
def test_foreground_index_known_values_and_dilation():
    h = w = 16
    mask = torch.zeros(1, 1, h, w)
    mask[0, 0, 6:10, 6:10] = 1.0  # 4x4 square; dilated 5x5 -> 8x8 = 64 pixels (rows/cols 4..11)
    maps = torch.stack(
        [
            torch.ones(h, w),  # uniform -> 1
            _one_hot(h, w, 7, 7),  # inside -> 256 / 64 = 4
            _one_hot(h, w, 4, 11),  # 2 pixels outside the square: inside the dilation -> 4
            _one_hot(h, w, 3, 7),  # 3 pixels outside: 0
        ]
    )[None]
    fi = foreground_index(maps, mask)
    np.testing.assert_allclose(fi[0].numpy(), [1.0, 4.0, 4.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(foreground_index(maps, mask[:, 0]).numpy(), fi.numpy())  # [B, H, W] mask
    empty = foreground_index(maps, torch.zeros_like(mask))  # no mask: 0/0 -> 0 (template nan_to_num)
    assert float(empty.abs().max()) == 0.0


def test_foreground_and_localization_equal_template():
    g = torch.Generator().manual_seed(1)
    ig = torch.rand(2, 3, 24, 18, generator=g) ** 4
    mask = (torch.rand(2, 1, 24, 18, generator=g) > 0.7).float()
    hm = torch.rand(2, 3, 24, 18, generator=g)
    np.testing.assert_allclose(foreground_index(ig, mask).numpy(), ref.compute_FI(ig, mask), rtol=1e-5)
    np.testing.assert_allclose(localization_index(ig, hm).numpy(), ref.compute_LI(ig, hm), rtol=1e-5)
    ri = relation_index(ig, hm)
    want = np.array(
        [[[ref.compute_RI(ig[b], hm[b], a, c) for c in range(3)] for a in range(3)] for b in range(2)]
    )
    np.testing.assert_allclose(ri.numpy(), want, rtol=1e-5)


def test_foreground_index_bad_mask():
    with pytest.raises(ValueError, match="mask must have shape"):
        foreground_index(torch.rand(2, 3, 8, 8), torch.ones(2, 1, 4, 4))
    with pytest.raises(ValueError, match=r"ig must have shape \[B, J, H, W\]"):
        foreground_index(torch.rand(3, 8, 8), torch.ones(3, 1, 8, 8))


# --- LI / RI --------------------------------------------------------------------------------------------
def test_localization_and_relation_known_values():
    h, w = 12, 10
    hm = torch.stack([_one_hot(h, w, 2, 3), _one_hot(h, w, 8, 6)])[None]  # joint 0 at (3, 2), 1 at (6, 8)
    maps = torch.stack([_one_hot(h, w, 2, 3), _one_hot(h, w, 2, 3)])[None]  # both look at joint 0
    li = localization_index(maps, hm)
    np.testing.assert_allclose(li.numpy(), [[h * w, 0.0]])  # all attribution on the joint: H * W
    ri = relation_index(maps, hm)
    np.testing.assert_allclose(ri[0].numpy(), [[h * w, 0.0], [h * w, 0.0]])  # joint 1 looks at joint 0
    np.testing.assert_allclose(torch.diagonal(ri, dim1=1, dim2=2).numpy(), li.numpy())


def test_localization_resizes_small_heatmaps_bilinearly():
    maps = torch.rand(1, 2, 32, 24)
    flat = torch.full((1, 2, 8, 6), 0.5)  # a constant heatmap at any size: LI = 1 for any map
    np.testing.assert_allclose(localization_index(maps, flat).numpy(), [[1.0, 1.0]], rtol=1e-5)
    hm = torch.rand(1, 2, 8, 6)
    up = torch.nn.functional.interpolate(hm, size=(32, 24), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(
        localization_index(maps, hm).numpy(), ref.compute_LI(maps, up), rtol=1e-5
    )  # the template resizes its 64x48 targets to the input size (torchvision Resize, bilinear)


# --- EPE / inversions -----------------------------------------------------------------------------------
def test_epe_and_joint_inversions():
    gt = torch.tensor([[[0.0, 0.0], [50.0, 0.0], [100.0, 100.0], [0.0, 60.0]]])
    pred = torch.tensor([[[49.0, 0.0], [1.0, 2.0], [103.0, 104.0], [48.0, 3.0]]])
    np.testing.assert_allclose(epe(pred, gt).numpy(), [[49.0, np.hypot(49, 2), 5.0, np.hypot(48, 57)]])
    inv, count, swaps = joint_inversions(pred, gt, epsilon=10)
    # 0 sits on 1's place and 1 on 0's (a swap); 3 sits on 1's place; 2 is right
    assert inv[0].nonzero().tolist() == [[0, 1], [1, 0], [3, 1]]
    assert count.tolist() == [3] and swaps.tolist() == [1]
    vis = torch.tensor([[1, 0, 1, 1]])
    _, count, swaps = joint_inversions(pred, gt, vis, epsilon=10)  # pairs need both joints labelled
    assert count.tolist() == [0] and swaps.tolist() == [0]


def test_joint_inversions_equal_template():
    g = torch.Generator().manual_seed(2)
    gt = torch.rand(6, 17, 2, generator=g) * 60
    pred = gt[:, torch.randperm(17, generator=g)] + torch.randn(6, 17, 2, generator=g) * 3
    vis = (torch.rand(6, 17, generator=g) > 0.2).float()
    inv, count, swaps = joint_inversions(pred, gt, vis, epsilon=10)
    for b in range(6):
        pairs, c, s = ref.check_J2J(pred[b], gt[b], vis[b][:, None], epsilon=10)
        assert sorted(pairs) == inv[b].nonzero().tolist()
        assert (c, s) == (int(count[b]), int(swaps[b]))
    assert int(count.sum()) > 10  # a non-trivial case


# --- masks ----------------------------------------------------------------------------------------------
def test_masks_from_polygons_and_rle():
    from pycocotools import mask as mask_utils

    h, w = 30, 40
    square = {"id": 1, "segmentation": [[10, 5, 20, 5, 20, 15, 10, 15]], "bbox": [10, 5, 10, 10]}
    m = segmentation_mask(square, h, w)
    want = np.asarray(
        mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(square["segmentation"], h, w)))
    )
    np.testing.assert_array_equal(m, want)
    assert 90 <= int(m.sum()) <= 121  # a 10 x 10 polygon
    truth = np.zeros((h, w), np.uint8)
    truth[3:9, 25:31] = 1
    compressed = mask_utils.encode(np.asfortranarray(truth))
    compressed["counts"] = compressed["counts"].decode()  # as in a json file
    np.testing.assert_array_equal(segmentation_mask({"segmentation": compressed}, h, w), truth)
    flat = truth.flatten(order="F")  # uncompressed RLE: run lengths of 0s and 1s, column-major
    runs, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    np.testing.assert_array_equal(
        segmentation_mask({"segmentation": {"size": [h, w], "counts": runs}}, h, w), truth
    )
    with pytest.warns(UserWarning, match="no segmentation: its box is used"):
        box, from_seg = instance_mask({"id": 7, "bbox": [2.0, 3.0, 4.0, 5.0], "segmentation": []}, h, w)
    assert not from_seg and int(box.sum()) == 20 and box[3:8, 2:6].all()
    with pytest.raises(ValueError, match="RLE size"):
        segmentation_mask({"segmentation": {"size": [5, 5], "counts": "abc"}}, h, w)


def test_crop_mask_follows_the_affine():
    m = np.zeros((20, 30), np.uint8)
    m[4:8, 10:16] = 1
    shift = np.array([[1.0, 0.0, -10.0], [0.0, 1.0, -4.0]])  # crop origin at (10, 4)
    c = crop_mask(m, shift, (12, 8))
    assert c.shape == (8, 12) and c.dtype == np.float32
    assert c[0:4, 0:6].all() and int(c.sum()) == 24
    scale2 = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    assert 70 <= int(crop_mask(m, scale2, (60, 40)).sum()) <= 96  # 8 x 12, less the bilinear edge


def test_masks_of_real_coco_annotations(shared_data):
    ann_file = shared_data / "samples" / "coco" / "test_coco.json"
    data = json.loads(ann_file.read_text())
    images = {im["id"]: im for im in data["images"]}
    checked = 0
    for ann in data["annotations"]:
        im = images[ann["image_id"]]
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # every sample annotation has a segmentation
            m, from_seg = instance_mask(ann, im["height"], im["width"])
        assert from_seg and m.shape == (im["height"], im["width"])
        # the decoded polygon covers COCO's own area (polygon area) to within a few percent
        assert abs(int(m.sum()) - ann["area"]) < 0.06 * ann["area"] + 50
        x, y, bw, bh = ann["bbox"]
        ys, xs = np.nonzero(m)
        assert xs.min() >= np.floor(x) - 1 and xs.max() <= np.ceil(x + bw) + 1
        assert ys.min() >= np.floor(y) - 1 and ys.max() <= np.ceil(y + bh) + 1
        checked += 1
    assert checked == len(data["annotations"]) == 14
