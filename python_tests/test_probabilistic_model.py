"""ProbabilisticPoseModel and CovarianceHead: the TIC Jacobian (torch.func) against autograd, the joint
loss against its parts, parametrisation of the Cholesky factor, bad input."""

from __future__ import annotations

import pytest
import torch

from hpefast.models import build_model
from hpefast.ops import encode_heatmaps, union_heatmap_loss
from hpefast.probabilistic import (
    LOSS_KINDS,
    CovarianceHead,
    ProbabilisticPoseModel,
    nll_loss,
    num_tril_params,
    scale_tril_from_params,
    soft_argmax,
    tic_loss,
)
from hpefast.probabilistic.softargmax import soft_argmax_unchecked


@pytest.fixture
def model() -> ProbabilisticPoseModel:
    torch.manual_seed(0)
    pose = build_model("tiny", num_keypoints=3, layout="h36m-test", image_size=(32, 32), depth=1)
    pm = ProbabilisticPoseModel(pose, latent_dim=8, hidden=(16,))
    # a head with non-trivial weights so that the Jacobian is not ~0
    with torch.no_grad():
        for p in pm.pose.head.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.2)
    return pm


def _batch(b=3):
    g = torch.Generator().manual_seed(1)
    images = torch.randn(b, 3, 32, 32, generator=g)
    gt = torch.rand(b, 3, 2, generator=g) * 7
    hm, w = encode_heatmaps(gt * 4 + 1.5, torch.ones(b, 3), (32, 32), (8, 8), method="msra")
    return images, gt, hm, w


def test_scale_tril_from_params():
    p = torch.randn(2, num_tril_params(4), dtype=torch.float64)
    L = scale_tril_from_params(p, 4, min_diag=0.1)
    rows, cols = torch.tril_indices(4, 4)
    for b in range(2):
        for n, (i, j) in enumerate(zip(rows.tolist(), cols.tolist())):
            want = torch.nn.functional.softplus(p[b, n]) + 0.1 if i == j else p[b, n]
            assert torch.isclose(L[b, i, j], want)
    assert torch.equal(L, torch.tril(L))
    d = scale_tril_from_params(p[:, :4], 4, min_diag=0.1, diagonal=True)
    torch.testing.assert_close(d, torch.diag_embed(torch.nn.functional.softplus(p[:, :4]) + 0.1))
    with pytest.raises(ValueError, match="params must have shape"):
        scale_tril_from_params(p[:, :5], 4)


def test_covariance_head_starts_at_init_std():
    head = CovarianceHead(8, 3, hidden=(16,), init_std=2.0, min_diag=1e-2)
    tril, eps = head(torch.randn(5, 8))
    torch.testing.assert_close(tril, 2.0 * torch.eye(6).expand(5, 6, 6))
    torch.testing.assert_close(eps, torch.full((5,), 0.01))
    diag_head = CovarianceHead(8, 3, diagonal=True)
    tril, _ = diag_head(torch.randn(2, 8))
    assert torch.equal(tril, torch.diag_embed(torch.diagonal(tril, dim1=-2, dim2=-1)))


def test_forward_means_are_soft_argmax_of_heatmaps(model):
    images, *_ = _batch()
    out = model(images)
    torch.testing.assert_close(out.keypoints, soft_argmax(out.heatmaps))
    torch.testing.assert_close(out.covariance(), out.scale_tril @ out.scale_tril.mT)


def test_tic_jacobian_matches_autograd(model):
    images, *_ = _batch()
    model.train()
    out = model(images)
    jac = model.keypoint_jacobian(out)
    assert model.training  # mode restored
    assert not jac.requires_grad
    model.eval()
    for b in range(images.shape[0]):
        feat = out.features[b : b + 1].detach()

        def f(z, feat=feat):
            return soft_argmax_unchecked(model._heatmaps(feat, z[None]), model.beta).reshape(-1)

        want = torch.autograd.functional.jacobian(f, out.latent[b].detach())
        torch.testing.assert_close(jac[b], want, rtol=1e-4, atol=1e-6)
    assert float(jac.abs().max()) > 1e-3


@pytest.mark.parametrize("kind", LOSS_KINDS)
def test_joint_loss_is_heatmap_plus_weighted_prob_loss(model, kind):
    images, gt, hm, w = _batch()
    model.train()
    out = model(images)
    total, parts = model.loss(out, hm, w, gt, kind=kind, prob_weight=0.01)
    torch.testing.assert_close(float(union_heatmap_loss(out.heatmaps, hm, w).detach()), parts["heatmap"])
    if kind == "nll":
        torch.testing.assert_close(float(nll_loss(out.keypoints, out.scale_tril, gt).detach()), parts["nll"])
    if kind == "tic":
        jac = model.keypoint_jacobian(out)
        want = tic_loss(out.keypoints, jac, out.eps, out.scale_tril, gt)
        torch.testing.assert_close(float(want.detach()), parts["tic"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(float(total), parts["heatmap"] + 0.01 * parts[kind], rtol=1e-5, atol=1e-6)
    model.zero_grad()
    total.backward()
    assert model.pose.backbone.patch_embed.proj.weight.grad.abs().sum() > 0
    cov_grad = model.cov_head.out.weight.grad
    if kind == "mse":
        assert cov_grad is None or float(cov_grad.abs().sum()) == 0
    else:
        assert float(cov_grad.abs().sum()) > 0


def test_bad_input(model):
    with pytest.raises(ValueError, match="images must have shape"):
        model(torch.zeros(1, 3, 16, 32))
    images, gt, hm, w = _batch()
    out = model(images)
    with pytest.raises(ValueError, match="kind must be one of"):
        model.loss(out, hm, w, gt, kind="kl")
    with pytest.raises(ValueError, match="gt must have shape"):
        model.loss(out, hm, w, gt[:, :2], kind="nll")
    with pytest.raises(TypeError, match="pose must be"):
        ProbabilisticPoseModel(torch.nn.Linear(2, 2))
