"""Keypoint schemas and mappings: invariants, the published constants, and the DESIGN.md tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpefast.keypoints import (
    KeypointSchema,
    get_schema,
    list_schemas,
    map_keypoints,
    mapping_index,
    register_schema,
)

BUILTIN = ["coco", "mpii", "aic", "crowdpose", "ap10k", "union21", "union23"]
# Published OKS sigmas that are not flip-symmetric, kept exactly because they define the protocol:
# AIC's per-joint deltas (AI Challenger evaluation script).
ASYMMETRIC_SIGMAS = {"aic"}

# mmpose configs/_base_/datasets/ap10k.py, in AP-10K's joint order.
AP10K_PUBLISHED_SIGMAS = [
    0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062, 0.107, 0.087,
    0.089, 0.107, 0.087, 0.089,
]  # fmt: skip

# DESIGN.md, "Union layouts"
MPII_TO_COCO = {0: 16, 1: 14, 2: 12, 3: 11, 4: 13, 5: 15, 10: 10, 11: 8, 12: 6, 13: 5, 14: 7, 15: 9}
AIC_TO_COCO = {0: 6, 1: 8, 2: 10, 3: 5, 4: 7, 5: 9, 6: 12, 7: 14, 8: 16, 9: 11, 10: 13, 11: 15}


def test_builtins_registered():
    assert set(BUILTIN) <= set(list_schemas())
    counts = {"coco": 17, "mpii": 16, "aic": 14, "crowdpose": 14, "ap10k": 17, "union21": 21, "union23": 23}
    for name, k in counts.items():
        s = get_schema(name)
        assert (
            s.num_keypoints == k == len(s.names) == len(s.sigmas) == len(s.joint_weights) == len(s.flip_index)
        )


@pytest.mark.parametrize("name", BUILTIN)
def test_schema_invariants(name):
    s = get_schema(name)
    assert len(set(s.names)) == s.num_keypoints
    flip = np.array(s.flip_index)
    assert np.array_equal(flip[flip], np.arange(s.num_keypoints))  # involution
    for i, j in enumerate(flip):  # partners are left/right twins, centre joints map to themselves
        a, b = s.names[i], s.names[j]
        if i == j:
            assert "left" not in a and "right" not in a
        else:
            assert a.replace("left", "#").replace("right", "#") == b.replace("left", "#").replace(
                "right", "#"
            )
            assert a != b
    assert np.array_equal(s.joint_weights, s.joint_weights[flip]), "joint weights must be flip-symmetric"
    if name not in ASYMMETRIC_SIGMAS:
        assert np.array_equal(s.sigmas, s.sigmas[flip]), "sigmas must be flip-symmetric"
    assert np.all(s.sigmas > 0) and np.all(s.joint_weights > 0)
    links = {tuple(sorted(link)) for link in s.skeleton}
    assert len(links) == len(s.skeleton)
    for a, b in s.skeleton:
        assert 0 <= a < s.num_keypoints and 0 <= b < s.num_keypoints and a != b
    # the skeleton is mirror-symmetric too: flipping a link gives a link
    assert {tuple(sorted((int(flip[a]), int(flip[b])))) for a, b in s.skeleton} == links
    if s.upper_body is not None:
        assert sorted(flip[list(s.upper_body)]) == sorted(s.upper_body)


def test_coco_sigmas_match_pycocotools():
    from pycocotools.cocoeval import Params

    # pycocotools computes them as np.array([.26, .25, ...]) / 10.0: equal up to one ulp
    np.testing.assert_allclose(
        get_schema("coco").sigmas, Params(iouType="keypoints").kpt_oks_sigmas, rtol=1e-15
    )
    assert get_schema("coco").names[0] == "nose" and get_schema("coco").names[16] == "right_ankle"


def test_crowdpose_sigmas_match_reference():
    # The sigmas xtcocotools' CrowdPose evaluation uses (shared/data/README.md).
    ref = [0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079]
    np.testing.assert_array_equal(get_schema("crowdpose").sigmas, ref)


def test_sample_files_name_their_joints_like_the_schemas(shared_data):
    import json

    for folder, name in (("coco", "coco"), ("ap10k", "ap10k"), ("crowdpose", "crowdpose"), ("aic", "aic")):
        data = json.loads((shared_data / "samples" / folder / f"test_{folder}.json").read_text())
        cat = data["categories"][0]
        file_names = [n.lower().replace(" ", "_") for n in cat["keypoints"]]
        s = get_schema(name)
        if name in ("coco", "ap10k", "aic"):
            assert file_names == list(s.names)
        else:  # CrowdPose's file says "head" for mmpose's "top_head"
            assert file_names[:12] == list(s.names[:12])
        assert len(file_names) == s.num_keypoints
        if name == "coco":
            assert {tuple(sorted((a - 1, b - 1))) for a, b in cat["skeleton"]} == {
                tuple(sorted(link)) for link in s.skeleton
            }


def test_mpii_joint_order_matches_readme():
    order = "r_ankle, r_knee, r_hip, l_hip, l_knee, l_ankle, pelvis, thorax, upper_neck, head_top, r_wrist, "
    order += "r_elbow, r_shoulder, l_shoulder, l_elbow, l_wrist"
    prefixes = {"r": "right", "l": "left"}
    expected = [prefixes[n[0]] + n[1:] if n[1] == "_" else n for n in order.split(", ")]
    assert list(get_schema("mpii").names) == expected


def test_union_layouts():
    coco, u21, u23 = get_schema("coco"), get_schema("union21"), get_schema("union23")
    assert u21.names[:17] == coco.names and u23.names[:21] == u21.names
    np.testing.assert_array_equal(u21.sigmas[:17], coco.sigmas)
    mpii_in_u21 = mapping_index("mpii", "union21")
    mpii = get_schema("mpii")
    assert [mpii.names[i] for i in mpii_in_u21[17:21]] == ["head_top", "upper_neck", "thorax", "pelvis"]
    aic_in_u23 = mapping_index("aic", "union23")
    assert [get_schema("aic").names[i] for i in aic_in_u23[21:23]] == ["head_top", "neck"]
    assert np.all(mapping_index("aic", "union21")[17:] == -1)  # AIC's head/neck are not MPII's
    assert np.all(mapping_index("coco", "union23")[17:] == -1)


def test_design_tables():
    idx = mapping_index("mpii", "coco")
    assert {int(src): dst for dst, src in enumerate(idx) if src >= 0} == MPII_TO_COCO
    idx = mapping_index("aic", "coco")
    assert {int(src): dst for dst, src in enumerate(idx) if src >= 0} == AIC_TO_COCO
    # crowdpose limbs map onto COCO's, its head and neck do not
    idx = mapping_index("crowdpose", "coco")
    assert sorted(idx[idx >= 0].tolist()) == list(range(12))
    assert np.all(mapping_index("ap10k", "coco") == -1)


@pytest.mark.parametrize(
    ("src", "dst"), [("mpii", "coco"), ("aic", "coco"), ("coco", "union21"), ("mpii", "union23")]
)
def test_map_keypoints_numpy_torch(src, dst, rng):
    ks = get_schema(src).num_keypoints
    kp = rng.uniform(0, 100, (3, 2, ks, 2)).astype(np.float32)
    vis = rng.integers(0, 3, (3, 2, ks)).astype(np.float32)
    out_kp, out_vis = map_keypoints(kp, vis, src, dst)
    idx = mapping_index(src, dst)
    assert out_kp.shape == (3, 2, len(idx), 2) and out_vis.shape == (3, 2, len(idx))
    assert out_kp.dtype == np.float32 and out_vis.dtype == np.float32
    for d, s in enumerate(idx):
        if s < 0:
            assert np.all(out_kp[..., d, :] == 0) and np.all(out_vis[..., d] == 0)
        else:
            np.testing.assert_array_equal(out_kp[..., d, :], kp[..., s, :])
            np.testing.assert_array_equal(out_vis[..., d], vis[..., s])
    t_kp, t_vis = map_keypoints(torch.from_numpy(kp), torch.from_numpy(vis), src, dst)
    assert isinstance(t_kp, torch.Tensor) and t_kp.dtype == torch.float32
    np.testing.assert_array_equal(t_kp.numpy(), out_kp)
    np.testing.assert_array_equal(t_vis.numpy(), out_vis)
    b_kp, b_vis = map_keypoints(torch.from_numpy(kp), torch.from_numpy(vis > 0), src, dst)
    assert b_vis.dtype == torch.bool
    np.testing.assert_array_equal(b_vis.numpy(), out_vis > 0)


def test_map_keypoints_device(device):
    kp = torch.rand(4, 16, 2, device=device)
    vis = torch.ones(4, 16, device=device)
    out, v = map_keypoints(kp, vis, "mpii", "union21")
    assert out.device.type == device and v.device.type == device


@pytest.mark.parametrize(
    ("src", "union", "back"),
    [
        ("coco", "union21", "coco"),
        ("mpii", "union21", "mpii"),
        ("aic", "union23", "aic"),
        ("mpii", "union23", "mpii"),
    ],
)
def test_map_round_trip_through_union(src, union, back, rng):
    """Training maps a dataset into the union; evaluation maps predictions back: nothing may be lost."""
    k = get_schema(src).num_keypoints
    kp = rng.uniform(0, 100, (5, k, 2))
    vis = np.ones((5, k))
    u_kp, u_vis = map_keypoints(kp, vis, src, union)
    r_kp, r_vis = map_keypoints(u_kp, u_vis, union, back)
    np.testing.assert_array_equal(r_kp, kp)
    np.testing.assert_array_equal(r_vis, vis)
    assert u_vis.sum() == 5 * k  # every source joint has a place in the union


def test_map_keypoints_errors():
    with pytest.raises(ValueError, match=r"\[\.\.\., 16, C\]"):
        map_keypoints(np.zeros((17, 2)), np.zeros(17), "mpii", "coco")
    with pytest.raises(ValueError, match="visible"):
        map_keypoints(np.zeros((16, 2)), np.zeros(15), "mpii", "coco")
    with pytest.raises(TypeError, match="numpy"):
        map_keypoints(torch.zeros(16, 2), np.zeros(16), "mpii", "coco")
    with pytest.raises(ValueError, match="unknown keypoint schema"):
        map_keypoints(np.zeros((16, 2)), np.zeros(16), "mpii", "nope")


def _custom(name="test_hand3", names=("wrist", "left_tip", "right_tip"), **kw):
    args = dict(
        name=name,
        names=names,
        sigmas=[0.05, 0.03, 0.03],
        flip_index=(0, 2, 1),
        skeleton=((0, 1), (0, 2)),
        joint_weights=[1.0, 1.0, 1.0],
    )
    args.update(kw)
    return KeypointSchema(**args)


def test_register_custom_schema():
    s = _custom()
    register_schema(s)
    assert get_schema("test_hand3") is s
    register_schema(_custom())  # an equal schema again is fine
    with pytest.raises(ValueError, match="already registered"):
        register_schema(_custom(sigmas=[0.1, 0.1, 0.1]))
    register_schema(_custom(sigmas=[0.1, 0.1, 0.1]), overwrite=True)
    assert get_schema("test_hand3").sigmas[0] == 0.1
    # a user schema naming its joints like COCO maps onto COCO by name
    register_schema(_custom("test_arms", names=("nose", "left_wrist", "right_wrist")))
    assert mapping_index("test_arms", "coco")[[0, 9, 10]].tolist() == [0, 1, 2]
    with pytest.raises(TypeError):
        register_schema("coco")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"flip_index": (1, 2, 0)}, "involution"),
        ({"sigmas": [0.1, 0.1]}, "sigmas has 2 values"),
        ({"names": ("a", "a", "b")}, "duplicate"),
        ({"skeleton": ((0, 3),)}, "skeleton"),
        ({"sigmas": [0.1, 0.0, 0.1]}, "sigmas must be > 0"),
        ({"joint_weights": [1.0, float("nan"), 1.0]}, "finite"),
    ],
)
def test_schema_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        _custom(**kw)


def test_schema_is_immutable():
    s = get_schema("coco")
    with pytest.raises(ValueError):
        s.sigmas[0] = 1.0
    with pytest.raises(AttributeError):
        s.name = "x"


def test_ap10k_sigmas_match_published_list():
    schema = get_schema("ap10k")
    np.testing.assert_array_equal(schema.sigmas, np.array(AP10K_PUBLISHED_SIGMAS))
    # the same value for a joint and its mirror twin
    np.testing.assert_array_equal(schema.sigmas, schema.sigmas[list(schema.flip_index)])
