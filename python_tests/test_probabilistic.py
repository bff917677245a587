"""hpefast.probabilistic: soft-argmax, losses and metrics against the reference (hpefast._reference.
probabilistic, scipy), float64 gradchecks, covariance recovery and TAC on synthetic data whose true
covariance is known, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from hpefast._reference import probabilistic as ref
from hpefast.probabilistic import (
    CovarianceHead,
    beta_nll_loss,
    diagonal_nll_loss,
    faithful_nll_loss,
    gaussian_nll,
    log_likelihood,
    nll_loss,
    scale_tril_from_params,
    soft_argmax,
    tac,
    tic_covariance,
    tic_loss,
)

F64 = torch.float64


def _spd(b: int, d: int, seed: int = 0, dtype=F64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(b, d, d, generator=g, dtype=dtype)
    return a @ a.mT / d + 0.3 * torch.eye(d, dtype=dtype)


def _problem(b=5, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(b, k, 2, generator=g, dtype=F64)
    gt = mean + torch.randn(b, k, 2, generator=g, dtype=F64)
    cov = _spd(b, 2 * k, seed)
    vis = torch.rand(b, k, generator=g) > 0.3
    vis[0] = True
    vis[1] = False  # a sample with no labelled joint
    return mean, gt, cov, vis


# --- soft-argmax -----------------------------------------------------------------------------------


def test_soft_argmax_matches_reference():
    hm = torch.randn(3, 4, 6, 9, dtype=F64) * 3
    for beta in (0.5, 1.0, 4.0):
        torch.testing.assert_close(soft_argmax(hm, beta), ref.soft_argmax(hm, beta), rtol=0, atol=1e-12)
    torch.testing.assert_close(soft_argmax(hm, 3.0), soft_argmax(hm * 3.0, 1.0), rtol=0, atol=1e-12)


def test_soft_argmax_pixel_centres_at_integers():
    hm = torch.full((1, 2, 7, 11), -1e4)
    hm[0, 0, 3, 2] = 0.0
    hm[0, 1, 0, 10] = 0.0
    torch.testing.assert_close(soft_argmax(hm), torch.tensor([[[2.0, 3.0], [10.0, 0.0]]]))
    # A Gaussian in logit space far from the borders: the discrete mean is the float centre to ~1e-10
    # (Poisson summation), so this checks the coordinate convention to high precision.
    h, w = 40, 48
    ys, xs = torch.meshgrid(torch.arange(h, dtype=F64), torch.arange(w, dtype=F64), indexing="ij")
    cx, cy, s = 21.37, 17.81, 2.0
    logits = -((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * s * s)
    out = soft_argmax(logits[None, None])
    torch.testing.assert_close(out, torch.tensor([[[cx, cy]]], dtype=F64), rtol=0, atol=1e-8)


def test_soft_argmax_gradcheck():
    hm = torch.randn(2, 2, 4, 5, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: soft_argmax(h, 1.5), (hm,))


# --- losses against the reference ------------------------------------------------------------------


def test_nll_loss_matches_reference_and_scipy():
    mean, gt, cov, vis = _problem()
    tril = torch.linalg.cholesky(cov)
    per = nll_loss(mean, tril, gt, reduction="none")
    torch.testing.assert_close(per, ref.gaussian_nll(mean, cov, gt), rtol=1e-12, atol=1e-10)
    want = [
        -multivariate_normal(mean[i].reshape(-1).numpy(), cov[i].numpy()).logpdf(gt[i].reshape(-1).numpy())
        for i in range(len(mean))
    ]
    np.testing.assert_allclose(per.numpy(), want, rtol=1e-10)
    masked = nll_loss(mean, tril, gt, vis, reduction="none")
    torch.testing.assert_close(masked, ref.gaussian_nll(mean, cov, gt, vis), rtol=1e-12, atol=1e-10)
    assert masked[1] == 0
    # mean over the samples with a labelled joint, sum over all
    n = int(vis.any(1).sum())
    torch.testing.assert_close(nll_loss(mean, tril, gt, vis), masked.sum() / n)
    torch.testing.assert_close(nll_loss(mean, tril, gt, vis, reduction="sum"), masked.sum())


def test_metrics_match_reference():
    mean, gt, cov, vis = _problem(seed=1)
    torch.testing.assert_close(
        gaussian_nll(mean, cov, gt), ref.gaussian_nll(mean, cov, gt), rtol=1e-12, atol=0
    )
    torch.testing.assert_close(
        gaussian_nll(mean, cov, gt, vis), ref.gaussian_nll(mean, cov, gt, vis), rtol=1e-12, atol=1e-12
    )
    torch.testing.assert_close(log_likelihood(mean, cov, gt), -gaussian_nll(mean, cov, gt))
    torch.testing.assert_close(tac(mean, cov, gt), ref.tac(mean, cov, gt), rtol=1e-10, atol=1e-12)
    # float32 agrees with float64
    t32 = tac(mean.float(), cov.float(), gt.float())
    torch.testing.assert_close(t32.double(), ref.tac(mean, cov, gt), rtol=1e-3, atol=1e-4)


def test_tac_without_correlations_is_the_plain_error():
    mean, gt, cov, _ = _problem(seed=2)
    plain = torch.linalg.vector_norm(gt - mean, dim=-1)
    diag = torch.diag_embed(torch.diagonal(cov, dim1=-2, dim2=-1))
    torch.testing.assert_close(tac(mean, diag, gt), plain)
    torch.testing.assert_close(tac(mean[:, :1], cov[:, :2, :2], gt[:, :1]), plain[:, :1])


def test_diagonal_and_beta_nll_match_reference():
    mean, gt, _, vis = _problem(seed=3)
    var = torch.rand(*mean.shape, dtype=F64) + 0.2
    for v in (None, vis):
        torch.testing.assert_close(
            diagonal_nll_loss(mean, var, gt, v, reduction="none"), ref.diagonal_nll(mean, var, gt, v)
        )
        # the diagonal NLL is the full NLL with a diagonal factor
        tril = torch.diag_embed(var.reshape(len(var), -1).sqrt())
        torch.testing.assert_close(
            diagonal_nll_loss(mean, var, gt, v, reduction="none"),
            nll_loss(mean, tril, gt, v, reduction="none"),
        )
        for beta in (0.0, 0.5, 1.0):
            torch.testing.assert_close(
                beta_nll_loss(mean, var, gt, beta, v, reduction="none"), ref.beta_nll(mean, var, gt, beta, v)
            )


def test_beta_nll_gradients_use_a_stopped_weight():
    mean, gt, _, _ = _problem(seed=4)
    var = (torch.rand(*mean.shape, dtype=F64) + 0.2).requires_grad_()
    m = mean.clone().requires_grad_()
    beta = 0.5
    beta_nll_loss(m, var, gt, beta, reduction="sum").backward()
    r = gt - mean
    # d/dmean: -r var^(beta-1); d/dvar: var^beta * 0.5 (1/var - r^2/var^2) (the weight is a constant)
    torch.testing.assert_close(m.grad, -r * var.detach() ** (beta - 1))
    v = var.detach()
    torch.testing.assert_close(var.grad, v**beta * 0.5 * (1 / v - r * r / v**2))


def test_faithful_loss_value_and_gradients():
    mean, gt, cov, vis = _problem(seed=5)
    tril = torch.linalg.cholesky(cov)
    torch.testing.assert_close(
        faithful_nll_loss(mean, tril, gt, vis, reduction="none"), ref.faithful(mean, cov, gt, vis)
    )
    m = mean.clone().requires_grad_()
    t = tril.clone().requires_grad_()
    faithful_nll_loss(m, t, gt, reduction="sum").backward()
    torch.testing.assert_close(m.grad, -2 * (gt - mean))  # the mean sees the squared error only
    t2 = tril.clone().requires_grad_()
    nll_loss(mean, t2, gt, reduction="sum").backward()
    torch.testing.assert_close(t.grad, t2.grad)  # the factor sees the NLL only


def test_tic_covariance_and_loss_match_reference():
    mean, gt, cov, vis = _problem(seed=6)
    b, k, _ = mean.shape
    jac = torch.randn(b, 2 * k, 3, dtype=F64)
    eps = torch.rand(b, dtype=F64)
    tril = torch.linalg.cholesky(cov)
    sigma = tic_covariance(jac, eps, tril)
    torch.testing.assert_close(sigma, ref.tic_covariance(jac, eps, tril))
    for v in (None, vis):
        torch.testing.assert_close(
            tic_loss(mean, jac, eps, tril, gt, v, reduction="none"), ref.gaussian_nll(mean, sigma, gt, v)
        )


def test_gradcheck_float64():
    mean, gt, cov, vis = _problem(b=2, k=2, seed=7)
    tril = torch.linalg.cholesky(cov)
    jac = torch.randn(2, 4, 3, dtype=F64)
    eps = torch.rand(2, dtype=F64) + 0.1
    args = [t.clone().requires_grad_() for t in (mean, tril)]
    assert torch.autograd.gradcheck(lambda m, t: nll_loss(m, t, gt, vis, reduction="none"), args)
    assert torch.autograd.gradcheck(
        lambda m, t, e: tic_loss(m, jac, e, t, gt, reduction="none"), args + [eps.clone().requires_grad_()]
    )
    c = cov.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda m, c: tac(m, (c + c.mT) / 2, gt), (args[0], c))
    params = torch.randn(2, 10, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: nll_loss(mean, scale_tril_from_params(p, 4), gt), (params,))


# --- synthetic data with a known covariance --------------------------------------------------------


def test_tac_of_true_covariance_beats_diagonal():
    k = 5
    true = _spd(1, 2 * k, seed=8)[0] * 4
    g = torch.Generator().manual_seed(8)
    n = 2000
    mean = torch.randn(n, k, 2, generator=g, dtype=F64)
    noise = (torch.linalg.cholesky(true) @ torch.randn(n, 2 * k, 1, generator=g, dtype=F64)).reshape(n, k, 2)
    gt = mean + noise
    full = tac(mean, true.expand(n, -1, -1), gt).mean()
    diag = tac(mean, torch.diag(torch.diag(true)).expand(n, -1, -1), gt).mean()
    # theory: E|gt_i - mu_i|o| uses the conditional covariance, which is smaller than the marginal one
    assert float(full) < 0.85 * float(diag)
    # and the true covariance also has the best likelihood
    assert (
        gaussian_nll(mean, true.expand(n, -1, -1), gt).mean()
        < gaussian_nll(mean, torch.diag(torch.diag(true)).expand(n, -1, -1), gt).mean()
    )


@pytest.fixture
def one_thread():
    """Many tiny ops: one intra-op thread avoids oversubscription on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_nll_trained_head_recovers_heteroscedastic_covariance(one_thread):
    """x in R^3; y = A x + noise, noise ~ N(0, S(x)) with S(x) = (0.3 + x0^2) S0 (correlated, K = 3).
    A linear mean and a CovarianceHead on x trained with nll_loss recover S(x)."""
    torch.manual_seed(0)
    k, d = 3, 6
    s0 = _spd(1, d, seed=9, dtype=torch.float32)[0]
    chol0 = torch.linalg.cholesky(s0)
    a_true = torch.randn(d, 3)

    def sample(n):
        x = torch.randn(n, 3)
        scale = (0.3 + x[:, :1] ** 2).sqrt()
        y = x @ a_true.T + scale * (torch.randn(n, d) @ chol0.T)
        return x, y.reshape(n, k, 2), (0.3 + x[:, 0] ** 2)[:, None, None] * s0

    head = CovarianceHead(3, k, hidden=(32,), min_diag=1e-3, init_std=1.0)
    lin = torch.nn.Linear(3, d)
    steps = 1500
    opt = torch.optim.Adam([*head.parameters(), *lin.parameters()], lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        x, y, _ = sample(256)
        tril, _ = head(x)
        loss = nll_loss(lin(x).reshape(-1, k, 2), tril, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    x, _, true = sample(500)
    with torch.no_grad():
        tril, _ = head(x)
    pred = tril @ tril.mT
    rel = torch.linalg.matrix_norm(pred - true) / torch.linalg.matrix_norm(true)
    assert float(rel.median()) < 0.08, float(rel.median())
    # correlations are learned, not only variances
    corr = lambda c: c[:, 0, 2] / (c[:, 0, 0] * c[:, 2, 2]).sqrt()  # noqa: E731
    assert float((corr(pred) - corr(true)).abs().median()) < 0.03


# --- bad input -------------------------------------------------------------------------------------


def test_bad_input_errors_name_the_argument():
    mean, gt, cov, _ = _problem(b=2, k=3)
    tril = torch.linalg.cholesky(cov)
    with pytest.raises(ValueError, match="gt must have shape"):
        tac(mean, cov, gt[:, :2])
    with pytest.raises(ValueError, match="cov must have shape"):
        gaussian_nll(mean, cov[:, :4, :4], gt)
    with pytest.raises(ValueError, match="visible must have shape"):
        nll_loss(mean, tril, gt, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="scale_tril must have shape"):
        nll_loss(mean, tril[:, :4, :4], gt)
    with pytest.raises(ValueError, match="mean must have shape"):
        tac(mean.reshape(2, 6), cov, gt)
    with pytest.raises(TypeError, match="mean must be"):
        tac(mean.tolist(), cov, gt)
    with pytest.raises(TypeError, match="heatmaps must be a floating"):
        soft_argmax(torch.zeros(1, 1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="beta must be"):
        soft_argmax(torch.zeros(1, 1, 2, 2), beta=0.0)
    with pytest.raises(ValueError, match="reduction"):
        nll_loss(mean, tril, gt, reduction="avg")
    with pytest.raises(ValueError, match="var must be > 0"):
        diagonal_nll_loss(mean, torch.zeros_like(mean), gt)


def test_nan_inputs_raise():
    mean, gt, cov, vis = _problem(b=3, k=3)
    tril = torch.linalg.cholesky(cov)
    bad = mean.clone()
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="mean must be finite"):
        tac(bad, cov, gt)
    with pytest.raises(ValueError, match="mean must be finite"):
        nll_loss(bad, tril, gt)
    with pytest.raises(ValueError, match="heatmaps must be finite"):
        soft_argmax(torch.full((1, 1, 3, 3), float("nan")))
    badc = cov.clone()
    badc[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="cov must be finite"):
        gaussian_nll(mean, badc, gt)
    # NaN ground truth is allowed where the joint is not labelled, refused where it is
    g = gt.clone()
    g[~vis] = float("nan")
    assert torch.isfinite(nll_loss(mean, tril, g, vis, reduction="none")).all()
    assert torch.isfinite(gaussian_nll(mean, cov, g, vis)).all()
    with pytest.raises(ValueError, match="gt must be finite"):
        nll_loss(mean, tril, g)


def test_non_spd_covariance_raises_or_takes_documented_jitter():
    mean, gt, cov, _ = _problem(b=3, k=2)
    v = torch.randn(3, 4, 1, dtype=F64)
    psd = v @ v.mT  # rank 1: positive semi-definite only
    with pytest.raises(ValueError, match="sample 0 is not"):
        tac(mean, psd, gt)
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_nll(mean, psd, gt)
    jit = 1e-3
    torch.testing.assert_close(
        gaussian_nll(mean, psd, gt, jitter=jit),
        ref.gaussian_nll(mean, psd + jit * torch.eye(4, dtype=F64), gt),
        rtol=1e-9,
        atol=1e-9,
    )
    asym = cov.clone()
    asym[2, 0, 1] += 1.0
    with pytest.raises(ValueError, match="symmetric; sample 2"):
        tac(mean, asym, gt)
    neg = torch.linalg.cholesky(cov).clone()
    neg[1, 0, 0] = -1.0
    with pytest.raises(ValueError, match="positive diagonal; sample 1"):
        nll_loss(mean, neg, gt)
    with pytest.raises(ValueError, match="jitter"):
        tac(mean, cov, gt, jitter=-1.0)
    assert math.isfinite(float(tac(mean, cov, gt).sum()))
