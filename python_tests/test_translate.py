"""KeypointTranslator: learns known conventions between schemas, beats the plain mapping, ignores unlabelled
targets, saves and loads exactly, and refuses bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hpefast.keypoints import get_schema
from hpefast.translate import KeypointTranslator
from hpefast.translate._schema import index_map, map_array
from hpefast.translate.synthetic import (
    HIP_DOWN,
    boxes_from_keypoints,
    coco_to_mpii,
    mpii_headboxes,
    mpii_to_coco,
    random_poses,
)

FAST = dict(steps=400, batch_size=256)


def pckh_percent(pred, gt, headbox, joints=None, threshold=0.5):
    """Plain PCKh: share of labelled joints within threshold x (0.6 x head-box diagonal)."""
    head = 0.6 * np.linalg.norm(headbox[:, 1] - headbox[:, 0], axis=-1)
    d = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1) / head[:, None]
    lab = gt[..., 2] > 0
    if joints is not None:
        lab &= joints[None]
    return 100.0 * float((d[lab] <= threshold).mean())


def make_pairs(direction: str, n: int, rng: np.random.Generator, noise: float = 0.012):
    """(src [n,Ks,3] with scores, dst [n,Kd,3] = convention(src) + noise, boxes [n,4], head boxes [n,2,2])."""
    coco, _ = random_poses(n, rng)
    if direction == "coco->mpii":
        src = coco
        dst = coco_to_mpii(src)
        head = mpii_headboxes(dst)
    else:
        src = coco_to_mpii(coco)
        dst = mpii_to_coco(src)
        head = mpii_headboxes(src)
    src = src.copy()
    src[..., 2] = rng.uniform(0.5, 1.0, src.shape[:2])
    boxes = boxes_from_keypoints(src, pad=0.1)
    size = np.sqrt(boxes[:, 2] * boxes[:, 3])
    dst = dst.copy()
    dst[..., :2] += rng.normal(0.0, noise, dst[..., :2].shape) * size[:, None, None]
    dst[..., 2] = 2.0
    return src, dst, boxes, head


@pytest.mark.parametrize("direction", ["coco->mpii", "mpii->coco"])
def test_translator_learns_the_convention_and_beats_the_mapping(direction, rng):
    s, d = direction.split("->")
    src, dst, boxes, head = make_pairs(direction, 2500, rng)
    tr, te = slice(0, 2000), slice(2000, None)
    t = KeypointTranslator(s, d, hidden=128, seed=0).fit(src[tr], dst[tr], boxes[tr], **FAST)
    pred = t.predict(src[te], boxes[te])
    assert pred.shape == (500, get_schema(d).num_keypoints, 3)
    shared = index_map(s, d) >= 0
    base = map_array(src[te], s, d)
    p_all = pckh_percent(pred, dst[te], head[te])
    p_shared = pckh_percent(pred, dst[te], head[te], shared)
    p_base = pckh_percent(base, dst[te], head[te], shared)
    assert p_all >= 95.0, (p_all, p_shared, p_base)
    assert p_shared > p_base + 1.0, (p_shared, p_base)
    # the hips carry the largest convention offset: the mapping is off by ~HIP_DOWN torso lengths there,
    # the translator by a fraction of it
    names = get_schema(d).names
    hips = [names.index("left_hip"), names.index("right_hip")]
    err_t = np.linalg.norm(pred[:, hips, :2] - dst[te][:, hips, :2], axis=-1).mean()
    err_b = np.linalg.norm(base[:, hips, :2] - dst[te][:, hips, :2], axis=-1).mean()
    assert err_t < 0.5 * err_b, (err_t, err_b)
    # joints the source lacks (MPII head top / COCO face) are predicted too, and well
    missing = ~shared
    assert pckh_percent(pred, dst[te], head[te], missing) >= 95.0


def test_untrained_translator_is_the_plain_mapping(rng):
    src, _, boxes, _ = make_pairs("coco->mpii", 20, rng)
    t = KeypointTranslator("coco", "mpii", hidden=32)
    pred = t.predict(src, boxes)
    shared = index_map("coco", "mpii") >= 0
    np.testing.assert_allclose(pred[:, shared], map_array(src, "coco", "mpii")[:, shared], rtol=0, atol=1e-3)


def test_anchor_least_squares_recovers_linear_joints_without_training(rng):
    """A destination joint that is an exact combination of source joints (MPII pelvis = mid COCO hips, here)
    is found by the least-squares anchor alone (steps=0)."""
    coco, boxes = random_poses(300, rng)
    names = get_schema("mpii").names
    dst = map_array(coco, "coco", "mpii")
    c = get_schema("coco").names
    pelvis = 0.5 * (coco[:, c.index("left_hip"), :2] + coco[:, c.index("right_hip"), :2])
    dst[:, names.index("pelvis")] = np.concatenate([pelvis, np.full((300, 1), 2.0)], axis=1)
    t = KeypointTranslator("coco", "mpii", hidden=16).fit(coco, dst, boxes, steps=0)
    pred = t.predict(coco, boxes)
    np.testing.assert_allclose(pred[:, names.index("pelvis"), :2], pelvis, atol=0.05)  # pixels, float32 net


def test_unlabelled_targets_do_not_leak_into_the_loss(rng):
    src, dst, boxes, head = make_pairs("coco->mpii", 600, rng)
    unlabelled = rng.uniform(size=dst.shape[:2]) < 0.3
    a, b = dst.copy(), dst.copy()
    a[unlabelled, 2] = 0.0
    b[unlabelled, 2] = 0.0
    a[unlabelled, :2] = np.nan  # garbage of two kinds under v == 0
    b[unlabelled, :2] = rng.uniform(-1e6, 1e6, size=(int(unlabelled.sum()), 2))
    ta = KeypointTranslator("coco", "mpii", hidden=32, seed=3).fit(src, a, boxes, steps=60)
    tb = KeypointTranslator("coco", "mpii", hidden=32, seed=3).fit(src, b, boxes, steps=60)
    sa, sb = ta.net.state_dict(), tb.net.state_dict()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    assert all(np.isfinite(loss) for _, loss in ta.history)
    # ... and labelled targets do matter: moving them changes the fit
    c = b.copy()
    c[~unlabelled, :2] += 5.0
    tc = KeypointTranslator("coco", "mpii", hidden=32, seed=3).fit(src, c, boxes, steps=60)
    assert not torch.equal(tc.net.state_dict()["anchor_bias"], sb["anchor_bias"])


def test_fit_is_reproducible_for_a_seed(rng):
    src, dst, boxes, _ = make_pairs("mpii->coco", 300, rng)
    p = [
        KeypointTranslator("mpii", "coco", hidden=32, seed=7)
        .fit(src, dst, boxes, steps=40)
        .predict(src, boxes)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(p[0], p[1])


def test_save_load_round_trip(tmp_path, rng):
    src, dst, boxes, _ = make_pairs("coco->mpii", 300, rng)
    t = KeypointTranslator("coco", "mpii", hidden=48, layers=3, seed=1).fit(src, dst, boxes, steps=30)
    t.meta = {"box_mode": "bbox"}
    folder = t.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["translator.json", "translator.safetensors"]
    u = KeypointTranslator.load(folder)
    assert (u.src, u.dst, u.hidden, u.layers, u.meta) == ("coco", "mpii", 48, 3, {"box_mode": "bbox"})
    np.testing.assert_array_equal(u.predict(src, boxes), t.predict(src, boxes))
    # overwrite in place (atomic replace), then broken folders fail clearly
    t.save(folder)
    with pytest.raises(FileNotFoundError, match="translator.json"):
        KeypointTranslator.load(tmp_path / "nowhere")
    cfg = json.loads((folder / "translator.json").read_text())
    cfg["dst_names"] = cfg["dst_names"][::-1]
    (folder / "translator.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="changed since"):
        KeypointTranslator.load(folder)
    (folder / "translator.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        KeypointTranslator.load(folder)


@pytest.mark.parametrize("src,dst", [("aic", "coco"), ("union21", "mpii"), ("mpii", "aic"), ("coco", "coco")])
def test_any_pair_of_schemas(src, dst, rng):
    ks, kd = get_schema(src).num_keypoints, get_schema(dst).num_keypoints
    x = np.concatenate([rng.uniform(0, 100, (50, ks, 2)), np.ones((50, ks, 1))], axis=-1)
    y = np.concatenate([rng.uniform(0, 100, (50, kd, 2)), np.ones((50, kd, 1))], axis=-1)
    boxes = np.tile([0.0, 0.0, 100.0, 100.0], (50, 1))
    t = KeypointTranslator(src, dst, hidden=16).fit(x, y, boxes, steps=5)
    out = t.predict(x, boxes)
    assert out.shape == (50, kd, 3) and np.isfinite(out).all()
    # scores: shared joints keep the source score
    idx = index_map(src, dst)
    np.testing.assert_array_equal(out[:, idx >= 0, 2], x[:, idx[idx >= 0], 2])


def test_bad_input_is_refused_with_the_argument_named(rng):
    src, dst, boxes, _ = make_pairs("coco->mpii", 10, rng)
    t = KeypointTranslator("coco", "mpii", hidden=8)
    with pytest.raises(ValueError, match=r"src_keypoints must have shape \[N, 17, 3\]"):
        t.predict(src[:, :16], boxes)
    with pytest.raises(ValueError, match="boxes must have shape"):
        t.predict(src, boxes[:5])
    bad = src.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="src_keypoints contains NaN"):
        t.predict(bad, boxes)
    zero = boxes.copy()
    zero[3, 2:] = 0.0
    with pytest.raises(ValueError, match="box 3"):
        t.predict(src, zero)
    with pytest.raises(ValueError, match=r"dst_keypoints must have shape \[N, 16, 3\]"):
        t.fit(src, dst[:, :15], boxes, steps=1)
    nothing = dst.copy()
    nothing[..., 2] = 0
    with pytest.raises(ValueError, match="no labelled joint"):
        t.fit(src, nothing, boxes, steps=1)
    nan_lab = dst.copy()
    nan_lab[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="labelled joints"):
        t.fit(src, nan_lab, boxes, steps=1)
    with pytest.raises(TypeError, match="src_keypoints"):
        t.predict("abc", boxes)
    with pytest.raises(ValueError, match="unknown keypoint schema"):
        KeypointTranslator("coco", "nope")
    with pytest.raises(ValueError, match="hidden"):
        KeypointTranslator("coco", "mpii", hidden=0)


def test_conventions_are_what_the_docs_say(rng):
    """The synthetic conventions move MPII hips down the torso by HIP_DOWN torso lengths, and the two
    conventions are near inverses on the shared joints."""
    coco, _ = random_poses(100, rng)
    mpii = coco_to_mpii(coco)
    c, m = get_schema("coco").names, get_schema("mpii").names
    mid = lambda kp, n, a, b: 0.5 * (kp[:, n.index(a), :2] + kp[:, n.index(b), :2])  # noqa: E731
    axis = mid(coco, c, "left_shoulder", "right_shoulder") - mid(coco, c, "left_hip", "right_hip")
    length = np.linalg.norm(axis, axis=-1)
    drop = mid(mpii, m, "left_hip", "right_hip") - mid(coco, c, "left_hip", "right_hip")
    along = -(drop * axis).sum(-1) / length**2
    np.testing.assert_allclose(along, HIP_DOWN, rtol=1e-9)
    back = mpii_to_coco(mpii)
    shared = index_map("mpii", "coco") >= 0
    # not exact inverses (the torso frame moves with the hips), but close on the limbs
    assert np.abs(back[:, shared, :2] - coco[:, shared, :2]).max() < 0.05 * length.max()
