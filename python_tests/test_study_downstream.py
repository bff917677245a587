"""``hpefast study downstream``: the helpers (crops, covariance mapping to image pixels, hypothesis sampling,
lifter input normalisation) against independent computations, and the quick study end to end from the
CLI, its tables recomputed from its saved predictions with the reference metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hpefast._reference import lifting as ref_lifting
from hpefast._reference import probabilistic as ref_prob
from hpefast.cli import main as cli_main
from hpefast.data.transforms import crop_to_image
from hpefast.probabilistic.downstream import KINDS, DownstreamConfig, _Split, _to_lifter_input
from hpefast.probabilistic.pose2d import (
    boxes_from_keypoints,
    build_2d_model,
    joint_uncertainty,
    make_crops,
    predict_2d,
    sample_hypotheses,
)


def test_crops_follow_the_udp_geometry():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    kp = rng.uniform(30, 90, (2, 5, 2))
    boxes = boxes_from_keypoints(kp)
    assert np.all(boxes[:, :2] <= kp.min(1)) and np.all(boxes[:, :2] + boxes[:, 2:] >= kp.max(1))
    crops = make_crops([img, img], boxes, 32, kp)
    assert crops.images.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(
        crop_to_image(crops.keypoints, crops.center, crops.scale, (32, 32)), kp, atol=1e-9
    )
    # square crops (aspect 1) with the 1.25 padding of the top-down pipeline
    np.testing.assert_allclose(crops.scale[:, 0], crops.scale[:, 1])
    np.testing.assert_allclose(crops.scale[:, 0], 1.25 * boxes[:, 2:].max(1))


def test_probabilistic_predictions_map_means_and_covariances_to_image_pixels():
    torch.manual_seed(0)
    model = build_2d_model("probabilistic", 3, 32, seed=0, layout="three-joints")
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)
    kp = rng.uniform(20, 80, (2, 3, 2))
    crops = make_crops([img, img], boxes_from_keypoints(kp), 32, None)
    mean, cov = predict_2d(model, crops)
    from hpefast.probabilistic.pose2d import _to_input

    with torch.no_grad():
        out = model(_to_input(crops.images))
    stride = 31 / 7  # UDP: (S - 1) / (s - 1) crop px per heatmap px
    want_mean = crop_to_image(out.keypoints.double().numpy() * stride, crops.center, crops.scale, (32, 32))
    np.testing.assert_allclose(mean, want_mean, rtol=1e-6, atol=1e-6)
    # a linear map x_img = a * x_hm + b per axis: cov_img[i, j] = a_i a_j cov_hm[i, j]
    a = np.tile(crops.scale / 31 * stride, (1, 3))  # [B, 6] x0, y0, x1, y1, ...
    c_hm = out.covariance().double().numpy()
    np.testing.assert_allclose(cov, c_hm * a[:, :, None] * a[:, None, :], rtol=1e-6)
    np.testing.assert_allclose(
        joint_uncertainty(cov),
        np.sqrt(np.diagonal(cov, 0, 1, 2)[:, 0::2] + np.diagonal(cov, 0, 1, 2)[:, 1::2]),
    )


def test_sampled_hypotheses_have_the_predicted_distribution():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2, 4, 4))
    cov = a @ a.transpose(0, 2, 1) + 0.1 * np.eye(4)
    mean = rng.normal(size=(2, 2, 2))
    h = sample_hypotheses(mean, cov, 20000, seed=3)
    assert h.shape == (20000, 2, 2, 2)
    flat = h.reshape(20000, 2, 4)
    np.testing.assert_allclose(flat.mean(0), mean.reshape(2, 4), atol=0.05)
    for b in range(2):
        np.testing.assert_allclose(np.cov(flat[:, b].T), cov[b], atol=0.08 * np.abs(cov[b]).max())
    # a singular covariance gets the documented tiny jitter, not an error
    v = rng.normal(size=(1, 4, 1))
    assert np.isfinite(sample_hypotheses(mean[:1], v @ v.transpose(0, 2, 1), 4)).all()


def test_lifter_input_is_videopose3d_normalisation_of_full_resolution_pixels():
    from hpefast.lifting import normalize_screen_coordinates

    rng = np.random.default_rng(4)
    kp_img = rng.uniform(0, 250, (3, 17, 2))
    split = _Split(
        [], kp_img, np.zeros((3, 17, 3)), np.array([[1000, 1002]] * 3, float), np.full(3, 0.25), []
    )
    full = (kp_img + 0.5) / 0.25 - 0.5  # rendered pixel centres -> full-resolution pixel centres
    np.testing.assert_allclose(
        _to_lifter_input(kp_img, split), normalize_screen_coordinates(full, 1000, 1002)
    )
    # leading hypothesis dimensions broadcast
    np.testing.assert_allclose(
        _to_lifter_input(kp_img[None].repeat(2, 0), split)[1], _to_lifter_input(kp_img, split)
    )


def test_config_errors():
    with pytest.raises(ValueError, match="prob_loss"):
        DownstreamConfig(out="x", prob_loss="mse").check()
    with pytest.raises(ValueError, match="both train and test"):
        DownstreamConfig(out="x", train_subjects=["S1"], test_subjects=["S1"]).check()
    with pytest.raises(ValueError, match="samples must be >= 1"):
        DownstreamConfig(out="x", samples=0).check()
    with pytest.raises(ValueError, match="prob_weight and beta must be > 0"):
        DownstreamConfig(out="x", beta=0.0).check()


@pytest.mark.slow
def test_quick_study_end_to_end_from_the_cli(tmp_path, capsys):
    out = tmp_path / "study"
    assert cli_main(["study", "downstream", "--quick", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    md = (out / "results.md").read_text()
    assert (out / "uncertainty_vs_error.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    p = np.load(out / "predictions.npz")
    gt3 = p["gt_3d"]
    n = res["frames"]["test"]
    assert gt3.shape == (n, 17, 3) and np.allclose(gt3[:, 0], 0)  # root-relative
    for k in KINDS:
        pred = p[f"lifted_{k}"]
        e1 = ref_lifting.mpjpe(pred, gt3)
        e2 = ref_lifting.p_mpjpe(pred, gt3)
        assert res["kinds"][k]["mpjpe"] == pytest.approx(float(e1.mean()), rel=1e-9)
        assert res["kinds"][k]["p_mpjpe"] == pytest.approx(float(e2.mean()), rel=1e-6)
        np.testing.assert_allclose(
            res["kinds"][k]["per_joint_mpjpe"], np.linalg.norm(pred - gt3, axis=-1).mean(0)
        )
        assert f"{res['kinds'][k]['mpjpe']:.1f}" in md
    # covariance-aware lifting is the mean of the hypotheses' lifts; the oracle the best of them per frame
    for name, key in (("probabilistic", "hypotheses_3d"), ("isotropic", "isotropic_hypotheses_3d")):
        h3 = p[key]
        np.testing.assert_allclose(p[f"lifted_{name}_sampled"], h3.mean(0))
        per_h = np.stack([ref_lifting.mpjpe(h, gt3) for h in h3])
        np.testing.assert_allclose(ref_lifting.mpjpe(p[f"lifted_{name}_best_of_n"], gt3), per_h.min(0))
        assert res["kinds"][f"{name}_best_of_n"]["mpjpe"] <= per_h.mean() + 1e-9
    # 2D numbers of the probabilistic model, with the reference implementations
    m, c, g = (torch.from_numpy(p[k]) for k in ("probabilistic_2d", "probabilistic_cov", "gt_2d"))
    cj = c + 1e-9 * torch.eye(34, dtype=c.dtype)
    assert res["probabilistic_2d"]["tac"] == pytest.approx(float(ref_prob.tac(m, cj, g).mean()), rel=1e-6)
    nll = ref_prob.gaussian_nll(m, cj, g)
    assert res["probabilistic_2d"]["nll"] == pytest.approx(float(nll.mean()), rel=1e-6)
    e2d = np.linalg.norm(p["deterministic_2d"] - p["gt_2d"], axis=-1).mean()
    assert res["kinds"]["deterministic"]["error_2d_px"] == pytest.approx(float(e2d))
    # the lifter's input for the gt kind is exactly the projected ground truth
    assert res["kinds"]["gt"]["error_2d_px"] is None


def test_cli_bad_input_is_a_one_line_error(tmp_path, capsys):
    assert (
        cli_main(["study", "downstream", "--out", str(tmp_path / "o"), "--data", str(tmp_path / "none")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert (
        cli_main(["study", "downstream", "--out", str(tmp_path / "o"), "--data", str(tmp_path / "empty")])
        == 2
    )
    assert "h36m_train.json not found" in capsys.readouterr().err
    assert cli_main(["study", "downstream", "--quick", "--out", str(tmp_path / "o"), "--samples", "0"]) == 2
    assert "samples must be >= 1" in capsys.readouterr().err
    # a data folder without actions the quick study asks for: one line naming them
    from hpefast.lifting import write_h36m

    data = tmp_path / "d"
    write_h36m(data, subjects=["S1", "S9"], actions=["Walking"], num_frames=5, render_frames=1)
    assert (
        cli_main(["study", "downstream", "--quick", "--out", str(tmp_path / "o"), "--data", str(data)]) == 2
    )
    err = capsys.readouterr().err
    assert "Greeting" in err and "Sitting" in err and "\n" not in err.strip()
    assert cli_main(["study"]) == 2
    assert "choose a study" in capsys.readouterr().err
