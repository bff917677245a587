"""Human3.6M cameras (real frames), npz layout, keypoint construction and the synthetic writer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hpefast._reference import lifting as ref
from hpefast.keypoints import get_schema
from hpefast.lifting import cameras as C
from hpefast.lifting import dataset as D
from hpefast.lifting import h36m as H
from hpefast.lifting.synthetic import BONE_LENGTHS, LIMITS, sample_motion, write_h36m


@pytest.fixture
def h36m_real(shared_data):
    from shared_fixtures import require_shared

    folder = require_shared(shared_data / "h36m", "../shared/data/h36m")
    fixture = dict(np.load(folder / "h36m_fixture.npz"))
    cams = json.loads((folder / "h36m_cameras.json").read_text())["cameras"]
    return fixture, cams


def test_real_frames_project_to_their_2d_joints(h36m_real):
    fx, _ = h36m_real
    for i in range(len(fx["subject"])):
        cam = C.get_camera(str(fx["subject"][i]), str(fx["camera_id"][i]))
        world = fx["joints_3d_world"][i]
        pc = C.world_to_camera(world, cam.orientation, cam.translation)
        np.testing.assert_allclose(pc, fx["joints_3d_camera"][i], atol=1e-6)  # metres
        # (the published quaternions are float32, unit to ~1e-7)
        np.testing.assert_allclose(C.camera_to_world(pc, cam.orientation, cam.translation), world, atol=1e-6)
        px = C.project_to_2d(pc, cam.intrinsic())
        np.testing.assert_allclose(px, fx["joints_2d"][i], atol=2e-4)  # pixels
        # torch, normalised intrinsics, back to pixels: the same
        pn = C.project_to_2d(torch.from_numpy(pc), cam.intrinsic(normalized=True))
        back = C.image_coordinates(pn, cam.res_w, cam.res_h).numpy()
        np.testing.assert_allclose(back, fx["joints_2d"][i], atol=2e-4)
        # the numpy reference (VideoPose3D's formulas) agrees to rounding
        np.testing.assert_allclose(px, ref.project_to_2d(pc, cam.intrinsic()), atol=1e-9)
        # distortion matters: a pinhole projection is off by about a pixel
        pin = cam.intrinsic().copy()
        pin[4:] = 0
        assert np.abs(C.project_to_2d(pc, pin) - fx["joints_2d"][i]).max() > 0.3


def test_camera_table_matches_the_real_calibration(h36m_real):
    _, cams = h36m_real
    for subject, table in C.H36M_CAMERAS.items():
        for cam in table:
            real = cams[subject][cam.id]
            np.testing.assert_allclose(cam.rotation_matrix(), np.array(real["R"]), atol=3e-7)
            np.testing.assert_allclose(cam.translation, np.array(real["T"]), atol=1e-6)
            np.testing.assert_allclose(cam.focal_length, real["f"], rtol=1e-7)
            np.testing.assert_allclose(cam.center, real["c"], rtol=1e-7)
            np.testing.assert_allclose(cam.radial, real["k"], rtol=1e-6)
            np.testing.assert_allclose(cam.tangential, np.array(real["p"])[::-1], rtol=1e-6)
            assert (cam.res_w, cam.res_h) == (real["w"], real["h"])


def test_screen_normalisation_round_trip(rng):
    x = rng.uniform(0, 1000, size=(5, 17, 2))
    n = C.normalize_screen_coordinates(x, 1000, 1002)
    np.testing.assert_allclose(n, ref.normalize_screen_coordinates(x, 1000, 1002))
    assert n[..., 0].min() >= -1 and n[..., 0].max() <= 1
    np.testing.assert_allclose(C.image_coordinates(n, 1000, 1002), x, atol=1e-9)


def test_camera_bad_input():
    with pytest.raises(ValueError, match="subject 'S2'"):
        C.get_camera("S2", 0)
    with pytest.raises(ValueError, match="no camera 7"):
        C.get_camera("S1", 7)
    with pytest.raises(ValueError, match="points must have 3 values"):
        C.world_to_camera(np.zeros((4, 2)), np.array([1.0, 0, 0, 0]), np.zeros(3))
    with pytest.raises(ValueError, match="intrinsic must have 9 values"):
        C.project_to_2d(np.ones((4, 3)), np.zeros(8))


def test_h36m_schema_invariants():
    s = get_schema("h36m")
    assert s.num_keypoints == 17
    flip = np.array(s.flip_index)
    assert np.array_equal(flip[flip], np.arange(17))
    for left, right in zip(H.H36M_LEFT, H.H36M_RIGHT, strict=True):
        assert flip[left] == right and s.names[left].replace("left_", "right_") == s.names[right]
    np.testing.assert_array_equal(s.sigmas, s.sigmas[flip])  # flip-symmetric
    # parents: a tree rooted at the pelvis with every parent before its child
    assert H.H36M_PARENTS[0] == -1 and all(0 <= p < c for c, p in enumerate(H.H36M_PARENTS) if c)


def test_coco_and_union21_to_h36m(rng):
    coco = rng.normal(size=(3, 17, 2))
    out = H.to_h36m(coco)
    names = get_schema("coco").names
    c = {n: coco[:, i] for i, n in enumerate(names)}
    np.testing.assert_allclose(out[:, 0], (c["left_hip"] + c["right_hip"]) / 2)
    np.testing.assert_allclose(out[:, 8], (c["left_shoulder"] + c["right_shoulder"]) / 2)
    np.testing.assert_allclose(out[:, 7], (out[:, 0] + out[:, 8]) / 2)
    np.testing.assert_allclose(out[:, 10], (c["left_eye"] + c["right_eye"]) / 2)
    np.testing.assert_allclose(out[:, 9], c["nose"])
    h36 = get_schema("h36m").names
    for j, n in enumerate(h36):  # limbs: same side and joint, foot = ankle
        cn = n.replace("_foot", "_ankle")
        if cn in c:
            np.testing.assert_allclose(out[:, j], c[cn], err_msg=n)
    u = rng.normal(size=(3, 21, 3))
    scores = rng.uniform(size=(3, 21))
    out, sc = H.to_h36m(torch.from_numpy(u), "union21", torch.from_numpy(scores))
    np.testing.assert_allclose(out[:, 0].numpy(), u[:, 20])  # MPII pelvis
    np.testing.assert_allclose(out[:, 10].numpy(), u[:, 17])  # head_top
    np.testing.assert_allclose(sc[:, 7].numpy(), (scores[:, 20] + scores[:, 19]) / 2)
    np.testing.assert_allclose(sc[:, 1].numpy(), scores[:, 12])
    with pytest.raises(ValueError, match=r"\[\.\.\., 17, C\] for src='coco'"):
        H.to_h36m(np.zeros((2, 21, 2)))
    with pytest.raises(ValueError, match="src must be one of"):
        H.to_h36m(np.zeros((2, 17, 2)), "mpii")


def test_action_table():
    errors = np.array([10.0, 20.0, 30.0, 40.0, 100.0])
    names = ["Directions", "Directions 1", "TakingPhoto_1", "Photo", "WalkingDog"]
    t = H.action_table(errors, names)
    assert t == {"Directions": 15.0, "Photo": 35.0, "WalkDog": 100.0, "Average": 50.0}
    assert list(t)[:3] == ["Directions", "Photo", "WalkDog"]
    md = H.format_action_tables({"P1": t})
    assert "| P1 | 15.0 | 35.0 | 100.0 | 50.0 |" in md
    with pytest.raises(ValueError, match="unknown Human3.6M action 'Dancing'"):
        H.action_table([1.0], ["Dancing"])
    with pytest.raises(ValueError, match="2 errors but 1 action names"):
        H.action_table([1.0, 2.0], ["Walking"])


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("h36m")
    return write_h36m(
        root, subjects=("S1", "S9"), actions=("Walking", "Sitting", "Phoning"), num_frames=40, render_frames=1
    )


def test_synthetic_npz_layout_and_projection(synthetic):
    p3 = D.load_positions_3d(synthetic["3d"])
    p2, meta = D.load_positions_2d(synthetic["2d"])
    assert sorted(p3) == ["S1", "S9"] and sorted(p3["S1"]) == ["Phoning", "Sitting", "Walking"]
    assert meta["num_joints"] == 17 and meta["keypoints_symmetry"] == [list(H.H36M_LEFT), list(H.H36M_RIGHT)]
    raw = np.load(synthetic["2d"], allow_pickle=True)["positions_2d"].item()
    assert isinstance(raw["S9"]["Walking"], list) and len(raw["S9"]["Walking"]) == 4
    for subject in p3:
        for action, world in p3[subject].items():
            assert world.shape == (40, 17, 3) and world.dtype == np.float32
            for c, cam in enumerate(C.H36M_CAMERAS[subject]):
                pc = ref.world_to_camera(world.astype(np.float64), cam.orientation, cam.translation)
                assert pc[..., 2].min() > 1.0  # in front of every camera
                np.testing.assert_allclose(
                    p2[subject][action][c], ref.project_to_2d(pc, cam.intrinsic()), atol=1e-3
                )
                assert np.all((p2[subject][action][c] > 0) & (p2[subject][action][c] < 1000))  # in the frame


def test_synthetic_motion_is_articulated_and_smooth(rng):
    for action in ("Walking", "SittingDown", "Photo"):
        w = sample_motion(action, 200, np.random.default_rng(1), scale=1.0)
        for c, p in enumerate(H.H36M_PARENTS):
            if p < 0:
                continue
            length = np.linalg.norm(w[:, c] - w[:, p], axis=-1)
            expected = BONE_LENGTHS[c] if c not in (11, 14) else np.hypot(BONE_LENGTHS[c], 0.02)
            np.testing.assert_allclose(length, expected, rtol=1e-9, err_msg=f"{action} bone {p}-{c}")
        # knee angle within its limit, the lower foot on the floor, smooth (small frame-to-frame steps)
        for h, k, f in ((1, 2, 3), (4, 5, 6)):
            a, b = w[:, h] - w[:, k], w[:, f] - w[:, k]
            inner = np.degrees(
                np.arccos(
                    np.clip(
                        np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1), -1, 1
                    )
                )
            )
            assert np.all(180 - inner <= LIMITS["knee"][1] + 1e-6)
        np.testing.assert_allclose(np.minimum(w[:, 3, 2], w[:, 6, 2]), 0.08, atol=1e-9)
        assert np.abs(np.diff(w, axis=0)).max() < 0.1  # < 10 cm per frame at 50 fps


def test_synthetic_images_and_coco_files(synthetic):
    import cv2

    train = json.loads(synthetic["train"].read_text())
    test = json.loads(synthetic["test"].read_text())
    assert {im["subject"] for im in train["images"]} == {"S1"} and {
        im["subject"] for im in test["images"]
    } == {"S9"}
    assert train["categories"][0]["keypoints"] == list(get_schema("h36m").names)
    p2, _ = D.load_positions_2d(synthetic["2d"])
    for im, ann in zip(train["images"], train["annotations"], strict=True):
        img = cv2.imread(str(synthetic["images"] / im["file_name"]))
        assert img.shape[:2] == (im["height"], im["width"])
        kp = np.array(ann["keypoints"], dtype=np.float64).reshape(17, 3)
        full = p2[im["subject"]][im["action"]][im["camera"]][im["frame"]]
        scale = im["width"] / C.H36M_CAMERAS[im["subject"]][im["camera"]].res_w
        np.testing.assert_allclose(kp[:, :2], (full + 0.5) * scale - 0.5, atol=0.01)
        # the joint markers are drawn where the keypoints say: saturated colour at the pelvis marker
        x, y = np.round(kp[0, :2]).astype(int)
        b, g, r = img[y, x].astype(int)
        assert max(b, g, r) - min(b, g, r) > 60


def test_load_sequences(synthetic):
    seqs = D.load_sequences(synthetic["3d"], synthetic["2d"], ["S1"], actions=["Walking"], cameras=[0, 2])
    assert [(s.subject, s.action, s.camera) for s in seqs] == [("S1", "Walking", 0), ("S1", "Walking", 2)]
    s = seqs[1]
    assert np.all(s.poses_3d[:, 0] == 0)
    cam = C.H36M_CAMERAS["S1"][2]
    world = D.load_positions_3d(synthetic["3d"])["S1"]["Walking"]
    pc = ref.world_to_camera(world.astype(np.float64), cam.orientation, cam.translation)
    np.testing.assert_allclose(s.poses_3d + s.root[:, None], pc, atol=1e-5)
    np.testing.assert_allclose(
        s.poses_2d,
        ref.normalize_screen_coordinates(ref.project_to_2d(pc, cam.intrinsic()), 1000, 1000),
        atol=1e-5,
    )


def test_npz_bad_input_names_the_key(synthetic, tmp_path):
    p3 = D.load_positions_3d(synthetic["3d"])
    p2, _ = D.load_positions_2d(synthetic["2d"])
    with pytest.raises(ValueError, match="subject 'S11' is not in the 3D data"):
        D.load_sequences(p3, p2, ["S11"])
    with pytest.raises(ValueError, match=r"no sequence of action\(s\) \['Eating'\]"):
        D.load_sequences(p3, p2, ["S1"], actions=["Eating"])
    bad2 = {"S1": dict(p2["S1"]), "S9": p2["S9"]}
    del bad2["S1"]["Sitting"]
    with pytest.raises(
        ValueError, match="action 'Sitting' of subject 'S1' is in the 3D data but not in the 2D"
    ):
        D.load_sequences(p3, bad2, ["S1"])
    bad2["S1"]["Sitting"] = p2["S1"]["Sitting"][:2]
    with pytest.raises(ValueError, match=r"positions_2d\['S1'\]\['Sitting'\] has 2 cameras, no camera 2"):
        D.load_sequences(p3, bad2, ["S1"])
    short = {"S1": {a: [k[:10] for k in cams] for a, cams in p2["S1"].items()}}
    with pytest.raises(ValueError, match="has 10 frames, fewer than the 40"):
        D.load_sequences(p3, short, ["S1"])
    # files: wrong joint count, NaN, not a VideoPose3D file
    wrong = {"S1": {"Walking": np.zeros((5, 16, 3))}}
    D.save_positions_3d(tmp_path / "w.npz", wrong)
    with pytest.raises(ValueError, match=r"positions_3d\['S1'\]\['Walking'\] must be \[T, 17 or 32, 3\]"):
        D.load_positions_3d(tmp_path / "w.npz")
    nan2 = {"S1": {"Walking": [np.full((5, 17, 2), np.nan)]}}
    D.save_positions_2d(tmp_path / "n.npz", nan2)
    with pytest.raises(ValueError, match=r"positions_2d\['S1'\]\['Walking'\]\[camera 0\] contains NaN"):
        D.load_positions_2d(tmp_path / "n.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="no 'positions_3d' array"):
        D.load_positions_3d(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        D.load_positions_3d(tmp_path / "missing.npz")


def test_32_joint_files_are_reduced(tmp_path, rng):
    pos = rng.normal(size=(6, 32, 3)).astype(np.float32)
    D.save_positions_3d(tmp_path / "d.npz", {"S1": {"Walking": pos}})
    out = D.load_positions_3d(tmp_path / "d.npz")["S1"]["Walking"]
    np.testing.assert_array_equal(out, pos[:, [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]])


def test_detections_with_scores_are_kept(synthetic, tmp_path, rng):
    p2, meta = D.load_positions_2d(synthetic["2d"])
    det = {
        s: {a: [np.concatenate([k + 3.0, rng.uniform(0.5, 1.0, size=k.shape[:2] + (1,))], -1) for k in cams]
            for a, cams in acts.items()}
        for s, acts in p2.items()
    }  # fmt: skip
    path = D.save_positions_2d(tmp_path / "data_2d_h36m_det.npz", det, meta)
    seqs = D.load_sequences(synthetic["3d"], path, ["S9"], actions=["Phoning"], cameras=[1])
    (s,) = seqs
    np.testing.assert_allclose(s.scores, det["S9"]["Phoning"][1][..., 2], rtol=1e-6)
    cam = C.H36M_CAMERAS["S9"][1]
    expected = C.normalize_screen_coordinates(det["S9"]["Phoning"][1][..., :2].astype(np.float64), 1000, 1000)
    np.testing.assert_allclose(s.poses_2d, expected, atol=1e-6)
    assert (cam.res_w, cam.res_h) == (1000, 1000)
