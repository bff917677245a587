"""Error analysis: the normality test against scipy, residual frames and units, recovery of known dataset
biases, and ``hpefast analyze errors`` writing its statistics and pictures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hpefast.cli import main as cli
from hpefast.keypoints import get_schema
from hpefast.translate.analysis import analyse, normal_quantiles, normality_test, person_units, residuals
from hpefast.translate.synthetic import HIP_DOWN, HIP_OUT, coco_to_mpii, mpii_to_coco, random_poses


@pytest.mark.parametrize("n", [8, 20, 137, 3000])
@pytest.mark.parametrize("dist", ["normal", "exponential", "t3", "uniform"])
def test_normality_test_matches_scipy(n, dist, rng):
    import scipy.stats as stats

    x = {
        "normal": rng.normal,
        "exponential": rng.exponential,
        "uniform": rng.uniform,
        "t3": lambda size: rng.standard_t(3, size=size),
    }[dist](size=n)
    ours = normality_test(x)
    ref = stats.normaltest(x)
    assert ours["n"] == n
    assert ours["K2"] == pytest.approx(ref.statistic, rel=1e-10, abs=1e-12)
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-300)
    assert ours["skew"] == pytest.approx(stats.skew(x), rel=1e-10, abs=1e-14)
    assert ours["kurtosis"] == pytest.approx(stats.kurtosis(x), rel=1e-10, abs=1e-14)


def test_normality_test_power_and_edge_cases(rng):
    # rejects clearly non-normal data, keeps normal data (at these sizes, for this seed)
    assert normality_test(rng.exponential(size=500))["p"] < 1e-6
    assert normality_test(rng.normal(size=500))["p"] > 0.01
    for x in (np.arange(7.0), np.full(50, 3.0), np.array([np.nan] * 20)):
        assert math.isnan(normality_test(x)["p"])
    x = rng.normal(size=40)
    assert normality_test(np.r_[x, np.nan, np.inf])["n"] == 40


def test_normal_quantiles_are_symmetric_and_ordered():
    q = normal_quantiles(101)
    assert q[50] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(q, -q[::-1], atol=1e-12)
    assert np.all(np.diff(q) > 0)


def test_body_frame_residuals_do_not_depend_on_rotation_position_or_size(rng):
    coco, _ = random_poses(50, rng)
    pred = coco.copy()
    pred[..., :2] += rng.normal(0, 3.0, pred[..., :2].shape)
    units = person_units(coco, "coco", "torso")
    base = residuals(pred, coco, "coco", units, "body")

    ang, s, shift = 0.7, 2.5, np.array([40.0, -25.0])
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])

    def move(kp):
        out = kp.copy()
        out[..., :2] = kp[..., :2] @ rot.T * s + shift
        return out

    g2, p2 = move(coco), move(pred)
    moved = residuals(p2, g2, "coco", person_units(g2, "coco", "torso"), "body")
    np.testing.assert_allclose(moved, base, atol=1e-9)
    # in the image frame the same residuals rotate with the person
    img = residuals(p2, g2, "coco", person_units(g2, "coco", "torso"), "image")
    assert not np.allclose(img, base, atol=1e-3)


def test_unlabelled_joints_and_people_without_a_unit_give_nan(rng):
    coco, boxes = random_poses(5, rng)
    gt = coco.copy()
    gt[0, 3, 2] = 0  # one unlabelled joint
    gt[1, 11, 2] = 0  # a hip: no torso for person 1
    units = person_units(gt, "coco", "torso")
    assert np.isnan(units[1]) and np.isfinite(units[[0, 2, 3, 4]]).all()
    r = residuals(coco, gt, "coco", units, "body")
    assert np.isnan(r[0, 3]).all() and np.isnan(r[1]).all()
    assert np.isfinite(np.delete(r[0], 3, axis=0)).all()
    np.testing.assert_allclose(
        person_units(gt, "coco", "box", boxes=boxes), np.maximum(boxes[:, 2], boxes[:, 3])
    )
    with pytest.raises(ValueError, match="head boxes"):
        person_units(gt, "coco", "head")
    from hpefast.keypoints import KeypointSchema, register_schema

    register_schema(
        KeypointSchema(
            "test_analyze_face3",
            ("nose", "left_eye", "right_eye"),
            [0.03] * 3,
            (0, 2, 1),
            ((0, 1), (0, 2)),
            [1.0] * 3,
        )
    )
    with pytest.raises(ValueError, match="no shoulders and hips"):
        person_units(np.zeros((2, 3, 3)), "test_analyze_face3", "torso")
    with pytest.raises(ValueError, match="frame 'image'"):
        residuals(np.zeros((2, 3, 3)), np.ones((2, 3, 3)), "test_analyze_face3", np.ones(2), "body")


def test_analysis_recovers_a_known_labelling_bias(rng):
    """COCO-convention predictions of MPII-labelled people: the hips sit HIP_DOWN torso lengths higher and
    HIP_OUT closer to the body's middle; the limbs are unbiased."""
    n = 4000
    mpii = coco_to_mpii(random_poses(n, rng)[0])
    gt = mpii
    units = person_units(gt, "mpii", "torso")
    pred = mpii_to_coco(mpii)
    # noise proportional to each person's size: Gaussian once divided by the unit
    pred[..., :2] += rng.normal(0, 0.05, pred[..., :2].shape) * units[:, None, None]
    from hpefast.translate._schema import index_map, map_array

    mapped = map_array(pred, "coco", "mpii")
    mapped[:, index_map("coco", "mpii") < 0, :2] = np.nan  # joints the model lacks: no prediction
    res = analyse(mapped, gt, "mpii", units, "body", name="coco on mpii")
    by = {j["joint"]: j for j in res["joints"]}
    for side, out in (("right_hip", +1), ("left_hip", -1)):
        j = by[side]
        se = np.sqrt(np.diag(j["cov"]) / j["n"])
        expected = np.array([out * HIP_OUT, -HIP_DOWN])  # +x = the person's left: a right hip moving inwards
        assert np.all(np.abs(np.array(j["mean"]) - expected) < 4 * se + 2e-3), (side, j["mean"], expected)
    for limb in ("left_knee", "right_wrist", "left_ankle"):
        j = by[limb]
        se = np.sqrt(np.diag(j["cov"]) / j["n"])
        assert np.all(np.abs(j["mean"]) < 4 * se), (limb, j["mean"])
        assert j["normality"]["x"]["p"] > 1e-4  # Gaussian noise: no strong rejection
    assert by["head_top"]["n"] == 0  # the model has no head top
    # the same noise in pixels, whatever the person's size, is a scale mixture once normalised: heavy tails
    pixel = mpii_to_coco(mpii)
    pixel[..., :2] += rng.normal(0, 4.0, pixel[..., :2].shape)
    heavy = analyse(map_array(pixel, "coco", "mpii")[..., :2], gt, "mpii", units, "body")
    knee = {j["joint"]: j for j in heavy["joints"]}["left_knee"]["normality"]["x"]
    assert knee["p"] < 1e-6 and knee["kurtosis"] > 0.5
    assert res["mean_pose"].shape == (16, 2)
    names = get_schema("mpii").names
    assert (
        res["mean_pose"][names.index("head_top"), 1] < res["mean_pose"][names.index("pelvis"), 1]
    )  # head up


@pytest.mark.slow  # renders five figures: ~4 s of CPU, more on a busy machine
def test_analyze_errors_command(tmp_path, capsys, rng):
    from hpefast.data.synthetic import write_dataset

    gts = {}
    for layout in ("coco", "mpii"):
        gts[layout] = write_dataset(
            tmp_path / layout, layout=layout, num_images=30, seed=2, image_size=(96, 96)
        )
        assert (
            cli(
                [
                    "translate",
                    "simulate",
                    "--gt",
                    str(gts[layout]),
                    "--src",
                    "union21",
                    "--out",
                    str(tmp_path / f"u_{layout}.json"),
                ]
            )
            == 0
        )
    out = tmp_path / "errors"
    rc = cli(
        [
            "analyze",
            "errors",
            "--src",
            "union21",
            "--pred",
            str(tmp_path / "u_coco.json"),
            "--gt",
            str(gts["coco"]),
            "--name",
            "COCO val",
            "--pred",
            str(tmp_path / "u_mpii.json"),
            "--gt",
            str(gts["mpii"]),
            "--name",
            "MPII val",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "left_hip" in printed and "bias x" in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "bias.png",
        "errors.json",
        "hist_COCO_val.png",
        "hist_MPII_val.png",
        "qq_COCO_val.png",
        "qq_MPII_val.png",
    ]
    for p in out.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    data = json.loads((out / "errors.json").read_text())
    assert [d["name"] for d in data] == ["COCO val", "MPII val"]
    mpii = {j["joint"]: j for j in data[1]["joints"]}
    # the union model gives MPII people COCO's hips: a large upward bias against MPII's labels
    assert mpii["left_hip"]["mean"][1] < -0.5 * HIP_DOWN
    assert mpii["head_top"]["n"] > 0  # union21 has MPII's head top
    # argument errors
    rc = cli(
        [
            "analyze",
            "errors",
            "--pred",
            "a.json",
            "--pred",
            "b.json",
            "--gt",
            "g.json",
            "--src",
            "coco",
            "--out",
            str(out),
        ]
    )
    assert rc == 2 and "one ground truth per prediction file" in capsys.readouterr().err


@pytest.mark.parametrize("panels", [1, 2])
def test_bias_plot_titles_fit_in_the_figure(panels, tmp_path, monkeypatch):
    """The suptitle used to run off both edges of a one-panel figure (constrained layout does not wrap)."""
    from hpefast.translate import plots

    schema = get_schema("coco")
    rng = np.random.default_rng(0)
    result = dict(
        name="COCO val",
        schema="coco",
        people=59,
        frame="body",
        unit="sqrt(area) of the person box",
        mean_pose=rng.normal(size=(schema.num_keypoints, 2)).tolist(),
        joints=[
            dict(joint=n, n=50, mean=rng.normal(0, 0.05, 2).tolist(), cov=(0.01 * np.eye(2)).tolist())
            for n in schema.names
        ],
    )
    seen = {}
    save = plots._save

    def check(fig, path):
        fig.canvas.draw()
        box, title = fig.bbox, fig._suptitle.get_window_extent()
        seen["inside"] = box.x0 <= title.x0 and title.x1 <= box.x1 and title.y1 <= box.y1
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", check)
    plots.plot_bias([result] * panels, tmp_path / "bias.png")
    assert seen["inside"] and (tmp_path / "bias.png").is_file()
