"""3D pose metrics against the numpy references (VideoPose3D's loss.py, the MPI-INF-3DHP protocol)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hpefast._reference import lifting as ref
from hpefast.lifting import metrics as M


def _poses(rng, n=300, j=17, noise=40.0):
    gt = rng.normal(size=(n, j, 3)) * 300.0
    pred = gt + rng.normal(size=(n, j, 3)) * noise
    return pred, gt


def _transformed(rng, pred, reflect_every=3):
    """Random similarity transforms of pred, with reflections in every ``reflect_every``-th frame."""
    n = pred.shape[0]
    rot = Rotation.random(n, random_state=int(rng.integers(1 << 30))).as_matrix()
    rot[::reflect_every, :, 2] *= -1
    scale = rng.uniform(0.3, 3.0, size=(n, 1, 1))
    shift = rng.normal(size=(n, 1, 3)) * 2000.0
    return np.einsum("njc,ndc->njd", pred, rot) * scale + shift


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_metrics_match_reference(rng, device, dtype):
    pred, gt = _poses(rng)
    pred = _transformed(rng, pred)
    tol = dict(rtol=1e-9, atol=1e-9) if dtype == torch.float64 else dict(rtol=2e-4, atol=2e-3)
    p = torch.as_tensor(pred, dtype=dtype, device=device)
    g = torch.as_tensor(gt, dtype=dtype, device=device)
    for name in ("mpjpe", "p_mpjpe", "n_mpjpe", "pck3d", "auc3d"):
        ours = getattr(M, name)(p, g)
        assert ours.dtype == dtype and ours.device.type == device and ours.shape == (pred.shape[0],)
        expected = getattr(ref, name)(pred, gt)
        if name in ("pck3d", "auc3d"):  # thresholds: compare on float64 errors far from a threshold
            expected = getattr(ref, name)(p.double().cpu().numpy(), g.double().cpu().numpy())
            np.testing.assert_allclose(ours.cpu().double().numpy(), expected, atol=1.5 / 17, err_msg=name)
        else:
            np.testing.assert_allclose(ours.cpu().double().numpy(), expected, **tol, err_msg=name)
    v = M.mpjve(p, g)
    assert v.shape == (pred.shape[0] - 1,)
    np.testing.assert_allclose(v.cpu().double().numpy(), ref.mpjve(pred, gt), **tol)


def test_pck_auc_exact_float64(rng):
    pred, gt = _poses(rng, noise=80.0)
    np.testing.assert_array_equal(M.pck3d(pred, gt), ref.pck3d(pred, gt))
    np.testing.assert_array_equal(M.pck3d(pred, gt, threshold=60.0), ref.pck3d(pred, gt, 60.0))
    np.testing.assert_allclose(M.auc3d(pred, gt), ref.auc3d(pred, gt), rtol=0, atol=1e-15)
    np.testing.assert_allclose(M.auc3d(pred, gt, 100.0, 11), ref.auc3d(pred, gt, 100.0, 11), atol=1e-15)
    # strict "<": an error exactly at the threshold is wrong (mpii_compute_3d_pck.m)
    g = np.zeros((1, 2, 3))
    p = np.array([[[150.0, 0, 0], [149.5, 0, 0]]])
    assert M.pck3d(p, g)[0] == 0.5
    # AUC by hand: an error of 12 mm is below 28 of the 31 thresholds (15, 20, ..., 150)
    assert M.auc3d(np.array([[[12.0, 0, 0]]]), np.zeros((1, 1, 3)))[0] == pytest.approx(28 / 31)


def test_p_mpjpe_invariances_and_hand_values(rng):
    pred, gt = _poses(rng, n=50)
    base = M.p_mpjpe(pred, gt)
    # invariant to any similarity transform (proper rotations) of the prediction
    rot = Rotation.random(50, random_state=3).as_matrix()
    moved = np.einsum("njc,ndc->njd", pred, rot) * 2.5 + 100.0
    np.testing.assert_allclose(M.p_mpjpe(moved, gt), base, rtol=1e-9)
    # a mirrored ground truth is NOT aligned away (reflections excluded): error stays large
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert np.all(M.p_mpjpe(mirrored, gt) > 50.0)
    np.testing.assert_allclose(M.p_mpjpe(mirrored, gt), ref.p_mpjpe(mirrored, gt), rtol=1e-9)
    # an exact similarity copy has zero error; P-MPJPE never exceeds MPJPE after centring
    assert np.all(M.p_mpjpe(gt * 0.5 + 3.0, gt) < 1e-9)
    centred = pred - pred.mean(1, keepdims=True) + gt.mean(1, keepdims=True)
    assert np.all(M.p_mpjpe(pred, gt) <= M.mpjpe(centred, gt) + 1e-9)


def test_p_mpjpe_special_configurations(rng):
    gt = rng.normal(size=(40, 17, 3)) * 200
    planar = gt.copy()
    planar[..., 2] = 0.0  # rank-2 cross-covariance
    pred = planar + rng.normal(size=planar.shape) * 10
    pred[:, :, 1] = 7.0  # prediction in a plane too
    np.testing.assert_allclose(M.p_mpjpe(pred, planar), ref.p_mpjpe(pred, planar), rtol=1e-9, atol=1e-9)
    # two equal singular values (isotropic point sets: the octahedron)
    octa = np.concatenate([np.eye(3), -np.eye(3)])[None].repeat(5, 0) * 100.0
    noisy = octa + rng.normal(size=octa.shape) * 1e-3
    np.testing.assert_allclose(M.p_mpjpe(noisy, octa), ref.p_mpjpe(noisy, octa), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(M.p_mpjpe(octa, noisy), ref.p_mpjpe(octa, noisy), rtol=1e-6, atol=1e-9)
    # collinear prediction: every rotation about the line is optimal, the error is unique
    line = rng.normal(size=(6, 17, 1)) * np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(M.p_mpjpe(line, gt[:6]), ref.p_mpjpe(line, gt[:6]), rtol=1e-9)


def test_degenerate_poses_are_finite_and_documented(rng):
    gt = rng.normal(size=(4, 17, 3)) * 100
    point = np.ones((4, 17, 3)) * 5.0
    spread = np.linalg.norm(gt - gt.mean(1, keepdims=True), axis=-1).mean(-1)
    np.testing.assert_allclose(M.p_mpjpe(point, gt), spread, rtol=1e-12)  # scale 0: onto the centroid
    np.testing.assert_allclose(M.p_mpjpe(gt, point), 0.0, atol=1e-12)
    np.testing.assert_allclose(M.p_mpjpe(point, point), 0.0, atol=1e-12)
    np.testing.assert_allclose(M.p_mpjpe(point, gt), ref.p_mpjpe(point, gt), rtol=1e-12)
    zeros = np.zeros((4, 17, 3))
    np.testing.assert_allclose(M.n_mpjpe(zeros, gt), np.linalg.norm(gt, axis=-1).mean(-1))
    np.testing.assert_allclose(M.n_mpjpe(zeros, gt), ref.n_mpjpe(zeros, gt))
    assert np.all(np.isfinite(M.auc3d(point, gt)))


def test_n_mpjpe_scale_only(rng):
    pred, gt = _poses(rng, n=30)
    np.testing.assert_allclose(M.n_mpjpe(pred * 3.0, gt), M.n_mpjpe(pred, gt), rtol=1e-10)
    np.testing.assert_allclose(M.n_mpjpe(gt * 0.2, gt), 0.0, atol=1e-9)


def test_numpy_in_numpy_out_and_leading_dims(rng):
    pred, gt = _poses(rng, n=12)
    out = M.p_mpjpe(pred.reshape(3, 4, 17, 3), gt.reshape(3, 4, 17, 3))
    assert isinstance(out, np.ndarray) and out.shape == (3, 4)
    np.testing.assert_allclose(out.reshape(-1), ref.p_mpjpe(pred, gt), rtol=1e-10)
    assert isinstance(M.mpjpe(torch.from_numpy(pred), torch.from_numpy(gt)), torch.Tensor)


def test_mpjpe_is_differentiable():
    p = torch.randn(4, 17, 3, dtype=torch.float64, requires_grad=True)
    g = torch.randn(4, 17, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: M.mpjpe(x, g), (p,))


def test_root_relative():
    x = np.arange(2 * 17 * 3, dtype=np.float64).reshape(2, 17, 3)
    r = M.root_relative(x)
    np.testing.assert_array_equal(r[:, 0], 0.0)
    np.testing.assert_array_equal(r[:, 5], x[:, 5] - x[:, 0])


def test_bad_input_is_named():
    g = np.zeros((3, 17, 3))
    with pytest.raises(ValueError, match=r"16 vs 17 joints"):
        M.mpjpe(np.zeros((3, 16, 3)), np.zeros((3, 17, 3)))
    with pytest.raises(ValueError, match=r"pred must be \[\.\.\., J, 3\]"):
        M.p_mpjpe(np.zeros((3, 17, 2)), np.zeros((3, 17, 2)))
    with pytest.raises(TypeError, match="pred must be a floating-point"):
        M.mpjpe(np.zeros((3, 17, 3), dtype=np.int64), g)
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        M.mpjpe([[0.0, 0.0, 0.0]], g)
    bad = g.copy()
    bad[2, 4, 1] = np.nan
    for fn in (M.mpjpe, M.p_mpjpe, M.n_mpjpe, M.pck3d, M.auc3d):
        with pytest.raises(ValueError, match="gt contains NaN or inf .*frame 2"):
            fn(g, bad)
    with pytest.raises(ValueError, match="pred contains NaN"):
        M.p_mpjpe(np.where(np.isnan(bad), np.inf, bad), g)
    with pytest.raises(ValueError, match="at least 2 frames"):
        M.mpjve(np.zeros((1, 17, 3)), np.zeros((1, 17, 3)))
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        M.pck3d(g, g, threshold=-1.0)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        M.auc3d(g, g, steps=0)


def test_closed_form_rotation_equals_svd_and_flags_degenerate_frames(rng):
    h = torch.from_numpy(rng.normal(size=(3000, 3, 3)))
    h[1000:2000, 2] = 0.0  # rank 2 (planar)
    h[2000:2500] *= torch.tensor([1.0, 1e-3, 1e-4])[:, None]  # nearly rank 1, det of both signs
    hc = h.reshape(-1, 9).t().contiguous().unbind(0)
    rc, bad = M._rotation_qcp(hc)
    rot = torch.stack(rc, 1).reshape(-1, 3, 3)
    r_svd, tr_svd = M._rotation_svd(h)
    assert not bool(bad[:2000].any())  # general and planar frames take the closed form
    ok = ~bad
    torch.testing.assert_close(rot[ok], r_svd[ok], rtol=0, atol=1e-8)
    torch.testing.assert_close(torch.linalg.det(rot[ok]), torch.ones(int(ok.sum()), dtype=torch.float64))
    # rank-1 and zero cross-covariances (collinear or single-point poses) go to the SVD path
    h1 = torch.from_numpy(rng.normal(size=(50, 3, 1)) * rng.normal(size=(50, 1, 3)))
    _, bad1 = M._rotation_qcp(
        torch.cat([h1, torch.zeros(2, 3, 3, dtype=torch.float64)]).reshape(-1, 9).t().unbind(0)
    )
    assert bool(bad1.all())


def test_procrustes_align_is_what_p_mpjpe_scores(rng):
    pred, gt = _poses(rng, n=20)
    pred = _transformed(rng, pred)
    aligned = M.procrustes_align(pred, gt)
    np.testing.assert_allclose(M.mpjpe(aligned, gt), M.p_mpjpe(pred, gt), rtol=1e-10)
