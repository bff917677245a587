"""Top-down geometry: box -> centre/scale, the UDP warp against independent constructions, the exact
inverse, and that image and keypoints always see the same warp (flip and rotation included)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from hpefast.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TopDownAugment,
    apply_affine,
    box_to_center_scale,
    crop_to_image,
    get_udp_warp_matrix,
    half_body_center_scale,
    image_to_crop,
    to_tensor,
)
from hpefast.keypoints import get_schema


def test_box_to_center_scale():
    c, s = box_to_center_scale([10, 20, 30, 40], aspect_ratio=0.75)
    np.testing.assert_allclose(c, [25, 40])
    np.testing.assert_allclose(s, [37.5, 50])  # already 3:4 -> only padded
    c, s = box_to_center_scale([0, 0, 100, 40], aspect_ratio=0.75)  # wide box: height grows
    np.testing.assert_allclose(s, [125, 100 / 0.75 * 1.25])
    c, s = box_to_center_scale([0, 0, 10, 100], aspect_ratio=0.75, padding=1.0)  # tall box: width grows
    np.testing.assert_allclose(s, [75, 100])
    boxes = np.array([[10, 20, 30, 40], [0, 0, 100, 40]])
    cs, ss = box_to_center_scale(boxes, 0.75)
    assert cs.shape == ss.shape == (2, 2)
    np.testing.assert_allclose(ss[:, 0] / ss[:, 1], 0.75)
    with pytest.raises(ValueError, match="box"):
        box_to_center_scale([1, 2, 3], 0.75)


def _udp_reference(center, scale, rot, size):
    """The same warp built independently: rotate about the centre with OpenCV's getRotationMatrix2D (its
    positive angle turns the content the other way, hence -rot), then map [c - s/2, c + s/2] onto
    [0, size - 1] per axis (UDP: pixel centres at 0 and size - 1)."""
    rot3 = np.vstack([cv2.getRotationMatrix2D((float(center[0]), float(center[1])), -rot, 1.0), [0, 0, 1]])
    sx, sy = (size[0] - 1) / scale[0], (size[1] - 1) / scale[1]
    to_crop = np.array([[sx, 0, -sx * (center[0] - scale[0] / 2)], [0, sy, -sy * (center[1] - scale[1] / 2)]])
    return to_crop @ rot3


@pytest.mark.parametrize("rot", [0.0, 17.0, -63.5, 180.0])
def test_udp_matrix_matches_independent_construction(rot):
    center, scale, size = np.array([321.5, 240.25]), np.array([150.0, 200.0]), (192, 256)
    m = get_udp_warp_matrix(center, scale, rot, size)
    np.testing.assert_allclose(m, _udp_reference(center, scale, rot, size), atol=1e-9)
    # the centre lands on the crop centre whatever the rotation
    np.testing.assert_allclose(apply_affine(center, m), [(size[0] - 1) / 2, (size[1] - 1) / 2], atol=1e-9)


def test_udp_matrix_box_edges():
    m = get_udp_warp_matrix([100, 50], [60, 80], 0.0, (48, 64))
    pts = np.array([[70, 50], [130, 50], [100, 10], [100, 90]], dtype=np.float64)
    np.testing.assert_allclose(
        apply_affine(pts, m), [[0, 31.5], [47, 31.5], [23.5, 0], [23.5, 63]], atol=1e-12
    )
    with pytest.raises(ValueError, match="scale"):
        get_udp_warp_matrix([0, 0], [0, 10], 0, (48, 64))


@pytest.mark.parametrize("rot", [0.0, 33.0])
def test_crop_to_image_exact_inverse(rot, rng):
    size = (192, 256)
    center = rng.uniform(50, 500, (4, 2))
    scale = rng.uniform(40, 400, (4, 2))
    pts = rng.uniform(-100, 700, (4, 17, 2))
    crop = image_to_crop(pts, center, scale, size, rotation=rot)
    for i in range(4):  # image_to_crop is the matrix applied to points
        np.testing.assert_allclose(
            crop[i], apply_affine(pts[i], get_udp_warp_matrix(center[i], scale[i], rot, size))
        )
    back = crop_to_image(crop, center, scale, size, rotation=rot)
    assert np.abs(back - pts).max() < 1e-3  # the contract: 1e-3 px (it is ~1e-12 in float64)
    t_back = crop_to_image(
        torch.from_numpy(crop), torch.from_numpy(center), torch.from_numpy(scale), size, rot
    )
    assert isinstance(t_back, torch.Tensor) and t_back.dtype == torch.float64
    assert (t_back - torch.from_numpy(pts)).abs().max() < 1e-3
    t32 = crop_to_image(
        torch.from_numpy(crop).float(),
        torch.from_numpy(center).float(),
        torch.from_numpy(scale).float(),
        size,
        rot,
    )
    assert t32.dtype == torch.float32 and (t32.double() - torch.from_numpy(pts)).abs().max() < 1e-3


def test_crop_to_image_per_instance_rotation(rng):
    rots = np.array([0.0, 10.0, -45.0])
    center, scale = rng.uniform(100, 200, (3, 2)), rng.uniform(50, 150, (3, 2))
    pts = rng.uniform(0, 300, (3, 5, 2))
    crop = image_to_crop(pts, center, scale, (64, 64), rotation=rots)
    np.testing.assert_allclose(crop_to_image(crop, center, scale, (64, 64), rotation=rots), pts, atol=1e-9)


def _blob_image(points, size=(640, 480)):
    """A black image with a small bright Gaussian at each float point (one per channel-coded id)."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3), np.float64)
    for k, (x, y) in enumerate(points):
        img[..., k % 3] += 250 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 3.0**2))
    return np.clip(img, 0, 255).astype(np.uint8)


def _centroid(channel, near, radius=9):
    h, w = channel.shape
    x0, y0 = int(round(near[0])), int(round(near[1]))
    ys, xs = np.mgrid[
        max(0, y0 - radius) : min(h, y0 + radius + 1), max(0, x0 - radius) : min(w, x0 + radius + 1)
    ]
    wts = channel[ys, xs].astype(np.float64)
    return np.array([(wts * xs).sum() / wts.sum(), (wts * ys).sum() / wts.sum()])


@pytest.mark.parametrize("seed", range(6))
def test_image_and_keypoints_see_the_same_warp(seed):
    """Random flip / half-body / scale / rotation: each blob's centroid in the crop sits where the
    warped keypoint says (to sub-pixel), and the flip swaps joint identities through the flip index."""
    schema = get_schema("coco")
    rng = np.random.default_rng(seed)
    # three joints far apart: left_shoulder (5), right_shoulder (6), nose (0), coded by channel
    ids = [5, 6, 0]
    pts = np.array([[300.3, 200.7], [350.8, 205.2], [325.5, 150.1]])
    img = _blob_image(pts)
    kp = np.zeros((17, 2))
    kp[ids] = pts
    lab = np.zeros(17)
    lab[ids] = 1
    aug = TopDownAugment(input_size=(192, 256), train=True, scale_factor=0.25, rot_factor=30, flip_prob=0.5)
    sample = aug(
        img,
        np.array([325.0, 180.0]),
        np.array([150.0, 200.0]),
        kp,
        lab,
        schema.flip_index,
        schema.upper_body,
        rng,
    )
    for channel, joint in enumerate(ids):
        out_joint = schema.flip_index[joint] if sample.flipped else joint
        assert sample.labelled[out_joint] == 1
        found = _centroid(sample.crop[..., channel], sample.keypoints[out_joint])
        assert np.linalg.norm(found - sample.keypoints[out_joint]) < 0.15, (sample.flipped, sample.rotation)
    # meta and matrix agree: the un-flipped keypoints come back through crop_to_image
    if not sample.flipped:
        back = crop_to_image(sample.keypoints[ids], sample.center, sample.scale, (192, 256), sample.rotation)
        np.testing.assert_allclose(back, pts, atol=1e-6)


def test_flip_is_a_crop_space_mirror():
    schema = get_schema("coco")
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    kp = rng.uniform(20, 100, (17, 2))
    lab = np.ones(17)
    lab[3] = 0
    common = dict(input_size=(48, 64), train=True, scale_factor=0.0, rot_factor=0.0, half_body_prob=0.0)
    plain = TopDownAugment(flip_prob=0.0, **common)(
        img, [80, 60], [90, 120], kp, lab, schema.flip_index, None, rng
    )
    flip = TopDownAugment(flip_prob=1.0, **common)(
        img, [80, 60], [90, 120], kp, lab, schema.flip_index, None, rng
    )
    assert flip.flipped and not plain.flipped
    idx = list(schema.flip_index)
    np.testing.assert_allclose(flip.keypoints[:, 0], 47 - plain.keypoints[idx, 0], atol=1e-9)  # x' = W-1-x
    np.testing.assert_allclose(flip.keypoints[:, 1], plain.keypoints[idx, 1], atol=1e-9)
    np.testing.assert_array_equal(flip.labelled, lab[idx])
    diff = np.abs(flip.crop.astype(int) - plain.crop[:, ::-1].astype(int))
    assert diff.max() <= 1  # same sampling positions, mirrored (OpenCV fixed-point rounding aside)


def test_half_body_box():
    schema = get_schema("coco")
    kp = np.zeros((17, 2))
    kp[:, 0] = np.arange(17) * 2.0
    kp[:, 1] = np.arange(17) * 10.0
    lab = np.ones(17)
    seen = set()
    for seed in range(20):
        c, s = half_body_center_scale(kp, lab, schema.upper_body, 0.75, np.random.default_rng(seed))
        part = list(schema.upper_body) if c[1] < kp[11, 1] else list(range(11, 17))
        seen.add(len(part))
        sel = kp[part]
        np.testing.assert_allclose(c, sel.mean(0))
        h = sel[:, 1].max() - sel[:, 1].min()
        np.testing.assert_allclose(s, np.array([h * 0.75, h]) * 1.5)
    assert seen == {11, 6}  # both halves get picked
    assert (
        half_body_center_scale(kp, np.eye(17)[0], schema.upper_body, 0.75, np.random.default_rng(0)) is None
    )


def test_augmentation_ranges():
    aug = TopDownAugment(input_size=(48, 64), train=True, half_body_prob=0.0)
    img = np.zeros((64, 64, 3), np.uint8)
    kp, lab = np.zeros((17, 2)), np.zeros(17)
    rng = np.random.default_rng(0)
    rots, scales, flips = [], [], []
    for _ in range(400):
        s = aug(img, [32, 32], [40, 40], kp, lab, get_schema("coco").flip_index, None, rng)
        rots.append(s.rotation)
        scales.append(s.scale[0] / 40)
        flips.append(s.flipped)
    rots, scales = np.array(rots), np.array(scales)
    assert np.all(np.abs(rots) <= 80) and np.all((scales >= 0.5) & (scales <= 1.5))
    assert 0.5 < np.mean(rots != 0) < 0.7  # rot_prob 0.6
    assert 0.4 < np.mean(flips) < 0.6
    assert np.std(rots[rots != 0]) > 25


def test_eval_mode_is_deterministic_plain_warp():
    aug = TopDownAugment(input_size=(48, 64), train=False)
    img = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    s = aug(img, [50, 50], [30, 40], np.zeros((17, 2)), np.ones(17), get_schema("coco").flip_index)
    assert s.rotation == 0 and not s.flipped
    np.testing.assert_array_equal(
        s.crop,
        cv2.warpAffine(
            img, get_udp_warp_matrix([50, 50], [30, 40], 0, (48, 64)), (48, 64), flags=cv2.INTER_LINEAR
        ),
    )


def test_to_tensor_normalisation():
    bgr = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    t = to_tensor(bgr)
    assert t.shape == (3, 5, 4) and t.dtype == torch.float32
    rgb = bgr[..., ::-1].astype(np.float64) / 255.0
    ref = (rgb - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(t.numpy(), ref.transpose(2, 0, 1), atol=1e-5)


def test_rotation_turns_content_like_mmpose():
    """mmpose's positive rotation turns a point right of the centre downwards in the crop (y grows)."""
    m = get_udp_warp_matrix([0, 0], [100, 100], 90.0, (101, 101))
    np.testing.assert_allclose(apply_affine(np.array([10.0, 0.0]), m), [50, 60], atol=1e-9)
    assert math.isclose(m[0, 0], 0.0, abs_tol=1e-12)
