"""Metrics of predicted pose distributions: Gaussian negative log-likelihood and TAC.

TAC (Task Agnostic Correlations, Shukla et al., "TIC-TAC: a framework for improved covariance estimation
in deep heteroscedastic regression", ICML 2024) scores a covariance by how well it predicts each joint
once all the other joints are observed: for joint i, the conditional mean of a Gaussian
``N(mean, cov)`` given the ground truth of the others is

    mu_i|o = mean_i + cov_io cov_oo^-1 (gt_o - mean_o)

and TAC_i = || gt_i - mu_i|o ||_2. A covariance that captures the correlations between joints
lowers TAC; a diagonal covariance leaves TAC at the plain error ||gt_i - mean_i||. With the precision
P = cov^-1 the same quantity is ``P_ii^-1 (P r)_i`` with r = gt - mean (Schur complement identity),
which is what :func:`tac` computes for all joints at once; ``hpefast._reference.probabilistic.tac``
follows the original per-joint swap-and-invert code.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hpefast.probabilistic._checks import (
    as_float_tensor,
    check_finite,
    check_keypoints,
    check_shape,
    check_visible,
    cholesky_checked,
)
from hpefast.probabilistic.covariance import flatten_keypoints, masked_covariance

__all__ = ["gaussian_nll", "log_likelihood", "tac"]


def _prepare(mean: object, cov: object, gt: object) -> tuple[Tensor, Tensor, Tensor]:
    mean = check_keypoints("mean", mean)
    b, k, _ = mean.shape
    gt = check_keypoints("gt", gt, b, k)
    cov = as_float_tensor("cov", cov)
    check_shape("cov", cov, (b, 2 * k, 2 * k))
    dtype = torch.promote_types(torch.promote_types(mean.dtype, gt.dtype), cov.dtype)
    dtype = dtype if dtype == torch.float64 else torch.float32
    if not (mean.device == gt.device == cov.device):
        raise ValueError(
            f"mean, cov and gt must be on one device, got {mean.device}, {cov.device}, {gt.device}"
        )
    return mean.to(dtype), cov.to(dtype), gt.to(dtype)


def gaussian_nll(
    mean: Tensor, cov: Tensor, gt: Tensor, visible: Tensor | None = None, jitter: float = 0.0
) -> Tensor:
    """Negative log-likelihood of ``gt`` under N(mean, cov), per sample, in nats.

    ``0.5 * (d log(2 pi) + log det cov + r^T cov^-1 r)`` with r = gt - mean over the d = 2 x (labelled
    joints) coordinates (unlabelled joints are marginalised out; a sample with none scores 0).

    Args:
        mean, gt: [B, K, 2] keypoints (same units, e.g. heatmap or image pixels).
        cov: [B, 2K, 2K] covariance in those units squared, order x0, y0, x1, y1, ...
        visible: optional [B, K] (bool or > 0.5 = labelled); gt may be NaN where not labelled.
        jitter: added to the diagonal before factorising (0: a covariance that is not symmetric
            positive definite raises ValueError naming the sample).
    Returns:
        [B] float tensor.
    """
    mean, cov, gt = _prepare(mean, cov, gt)
    b, k, _ = mean.shape
    vis = check_visible(visible, b, k, mean.device)
    check_finite("mean", mean, always=True)
    check_finite("cov", cov, always=True)
    dim_vis = None if vis is None else vis.repeat_interleave(2, dim=1)
    r = flatten_keypoints(gt - mean)
    check_finite("gt", r if dim_vis is None else r[dim_vis], always=True)
    if dim_vis is not None:
        cov, r = masked_covariance(cov, r, dim_vis)
    chol = cholesky_checked("cov", cov, jitter)
    return nll_from_scale_tril(r, chol, None if dim_vis is None else dim_vis.sum(1))


def log_likelihood(
    mean: Tensor, cov: Tensor, gt: Tensor, visible: Tensor | None = None, jitter: float = 0.0
) -> Tensor:
    """Log-likelihood of ``gt`` under N(mean, cov) per sample (nats): ``-gaussian_nll``; see there."""
    return -gaussian_nll(mean, cov, gt, visible, jitter)


def nll_from_scale_tril(residual: Tensor, scale_tril: Tensor, num_dims: Tensor | None = None) -> Tensor:
    """Per-sample NLL ``0.5 (d log 2pi + 2 sum log diag L + |L^-1 r|^2)`` from a Cholesky factor.

    Stable: one triangular solve, no inverse, no determinant of Sigma. ``residual`` [B, D],
    ``scale_tril`` [B, D, D] lower triangular with positive diagonal, ``num_dims`` [B] (d per sample,
    default D). Differentiable in all tensors.
    """
    d = residual.shape[-1]
    z = torch.linalg.solve_triangular(scale_tril, residual.unsqueeze(-1), upper=False).squeeze(-1)
    logdet = 2.0 * torch.log(torch.diagonal(scale_tril, dim1=-2, dim2=-1)).sum(-1)
    n = residual.new_full((residual.shape[0],), float(d)) if num_dims is None else num_dims.to(residual.dtype)
    return 0.5 * (n * math.log(2.0 * math.pi) + logdet + z.square().sum(-1))


def tac(mean: Tensor, cov: Tensor, gt: Tensor, jitter: float = 0.0) -> Tensor:
    """TAC: per joint, the error of its conditional mean given the ground truth of all other joints.

    Args:
        mean, gt: [B, K, 2] keypoints.
        cov: [B, 2K, 2K] covariance, order x0, y0, x1, y1, ... (symmetric positive definite; ``jitter``
            is added to its diagonal first, else a bad matrix raises ValueError naming the sample).
    Returns:
        [B, K] Euclidean errors in keypoint units (see the module docstring). With K = 1 it is
        ``||gt - mean||``.
    """
    mean, cov, gt = _prepare(mean, cov, gt)
    b, k, _ = mean.shape
    for name, t in (("mean", mean), ("cov", cov), ("gt", gt)):
        check_finite(name, t, always=True)
    chol = cholesky_checked("cov", cov, jitter)
    r = flatten_keypoints(gt - mean)
    precision = torch.cholesky_inverse(chol)
    pr = (precision @ r.unsqueeze(-1)).reshape(b, k, 2, 1)
    idx = torch.arange(k, device=cov.device)
    blocks = precision.reshape(b, k, 2, k, 2)[:, idx, :, idx, :].transpose(0, 1)  # [B, K, 2, 2] = P_ii
    err = torch.linalg.solve(blocks, pr).squeeze(-1)  # gt_i - mu_i|o
    return torch.linalg.vector_norm(err, dim=-1)
