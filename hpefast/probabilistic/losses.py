"""Heteroscedastic regression losses for keypoint means and covariances.

All losses take keypoint means [B, K, 2] (e.g. the soft-argmax of heatmaps, in heatmap pixels), the
ground truth [B, K, 2] in the same units and an optional ``visible`` [B, K] mask (unlabelled joints are
marginalised out of the Gaussian and carry no loss). Per-sample values are summed over the labelled
coordinates; ``reduction="mean"`` averages over the samples with at least one labelled joint,
``"sum"`` sums, ``"none"`` returns [B].

- :func:`nll_loss`: full-covariance Gaussian NLL ``0.5 (d log 2pi + log det S + r^T S^-1 r)`` from the
  predicted Cholesky factor (one triangular solve; stable).
- :func:`diagonal_nll_loss`: the same with a diagonal covariance (equals :func:`nll_loss` with a diagonal L).
- :func:`beta_nll_loss`: beta-NLL (Seitzer et al., ICLR 2022): each coordinate's
  ``0.5 (log var + r^2 / var)`` weighted by ``stopgrad(var) ** beta`` (beta = 0.5 as TIC-TAC uses it).
- :func:`faithful_nll_loss`: "faithful" heteroscedastic regression (Stirn et al., AISTATS 2023):
  ``sum r^2 + NLL(stopgrad(mean), S)``: the mean is trained by MSE alone, the covariance by the NLL.
- :func:`tic_loss`: TIC (Shukla et al., ICML 2024): the NLL of ``S = eps1 J J^T + L L^T`` with J the
  Jacobian of the keypoint means with respect to the latent (see :func:`tic_covariance`).

TIC-TAC's code writes these without the 0.5 and the constant (``log det S + r^T S^-1 r``) and its
covariance NLL parametrises the precision; here every NLL is the exact negative log-likelihood of a
covariance Cholesky factor, so :func:`hpefast.probabilistic.gaussian_nll` scores what the losses train.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hpefast.probabilistic._checks import (
    as_float_tensor,
    can_read_values,
    check_finite,
    check_keypoints,
    check_shape,
    check_visible,
)
from hpefast.probabilistic.covariance import flatten_keypoints, masked_covariance
from hpefast.probabilistic.metrics import nll_from_scale_tril

__all__ = [
    "beta_nll_loss",
    "diagonal_nll_loss",
    "faithful_nll_loss",
    "nll_loss",
    "tic_covariance",
    "tic_loss",
]

_REDUCTIONS = ("mean", "sum", "none")


def _residual(mean: object, gt: object, visible: object) -> tuple[Tensor, Tensor | None]:
    """[B, 2K] residual gt - mean (0 where unlabelled) and the [B, 2K] labelled mask (None = all)."""
    mean = check_keypoints("mean", mean)
    b, k, _ = mean.shape
    gt = check_keypoints("gt", gt, b, k)
    if gt.device != mean.device:
        raise ValueError(f"gt is on {gt.device} but mean is on {mean.device}")
    vis = check_visible(visible, b, k, mean.device)
    check_finite("mean", mean)
    r = flatten_keypoints(gt.to(mean.dtype) - mean)
    if vis is None:
        check_finite("gt", gt)
        return r, None
    dim_vis = vis.repeat_interleave(2, dim=1)
    if can_read_values(r):
        check_finite("gt", r[dim_vis].detach())
    return torch.where(dim_vis, r, torch.zeros_like(r)), dim_vis


def _reduce(per_sample: Tensor, dim_vis: Tensor | None, reduction: str) -> Tensor:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    if dim_vis is None:
        return per_sample.mean()
    count = dim_vis.any(dim=1).sum().clamp(min=1)
    return per_sample.sum() / count.to(per_sample.dtype)


def _check_tril(scale_tril: object, b: int, d: int) -> Tensor:
    scale_tril = as_float_tensor("scale_tril", scale_tril)
    check_shape("scale_tril", scale_tril, (b, d, d))
    check_finite("scale_tril", scale_tril)
    if can_read_values(scale_tril) and scale_tril.numel():
        diag = torch.diagonal(scale_tril.detach(), dim1=-2, dim2=-1)
        if not bool((diag > 0).all()):
            i = int((diag <= 0).any(-1).nonzero()[0, 0])
            raise ValueError(
                f"scale_tril must be lower triangular with a positive diagonal; sample {i} has "
                f"diagonal {diag[i].tolist()}"
            )
    return scale_tril


def _full_nll(r: Tensor, scale_tril: Tensor, dim_vis: Tensor | None) -> Tensor:
    """Per-sample NLL of residual r under N(0, L L^T), marginalised to the labelled coordinates."""
    scale_tril = torch.tril(scale_tril.to(r.dtype))  # only the lower triangle is the factor
    if dim_vis is None:
        return nll_from_scale_tril(r, scale_tril)
    cov, r = masked_covariance(scale_tril @ scale_tril.mT, r, dim_vis)
    return nll_from_scale_tril(r, torch.linalg.cholesky(cov), dim_vis.sum(1))


def nll_loss(
    mean: Tensor,
    scale_tril: Tensor,
    gt: Tensor,
    visible: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Full-covariance Gaussian NLL (nats) of ``gt`` under N(mean, L L^T).

    Args:
        mean, gt: [B, K, 2] keypoints.
        scale_tril: [B, 2K, 2K] lower Cholesky factor L of the covariance (positive diagonal;
            e.g. :func:`~hpefast.probabilistic.covariance.scale_tril_from_params`).
        visible: optional [B, K] labelled mask.
        reduction: "mean" | "sum" | "none" (see the module docstring).
    """
    r, dim_vis = _residual(mean, gt, visible)
    tril = _check_tril(scale_tril, r.shape[0], r.shape[1])
    return _reduce(_full_nll(r, tril, dim_vis), dim_vis, reduction)


def _check_var(var: object, b: int, k: int) -> Tensor:
    var = as_float_tensor("var", var)
    check_shape("var", var, (b, k, 2))
    check_finite("var", var)
    if can_read_values(var) and var.numel() and not bool((var.detach() > 0).all()):
        raise ValueError(f"var must be > 0 everywhere, got min {float(var.min()):.3g}")
    return flatten_keypoints(var)


def diagonal_nll_loss(
    mean: Tensor, var: Tensor, gt: Tensor, visible: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Gaussian NLL with a diagonal covariance.

    Per sample ``sum_d 0.5 (log 2pi + log var_d + r_d^2 / var_d)``.

    ``var`` [B, K, 2]: variance of x and y of each joint (> 0), keypoint units squared.
    """
    r, dim_vis = _residual(mean, gt, visible)
    v = _check_var(var, r.shape[0], r.shape[1] // 2).to(r.dtype)
    per = 0.5 * (math.log(2.0 * math.pi) + torch.log(v) + r.square() / v)
    if dim_vis is not None:
        per = torch.where(dim_vis, per, torch.zeros_like(per))
    return _reduce(per.sum(-1), dim_vis, reduction)


def beta_nll_loss(
    mean: Tensor,
    var: Tensor,
    gt: Tensor,
    beta: float = 0.5,
    visible: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """beta-NLL (Seitzer et al., 2022).

    Per sample ``sum_d stopgrad(var_d)**beta * 0.5 (log var_d + r_d^2 / var_d)``.

    As Seitzer's code, without the constant; beta = 0 is the diagonal NLL minus ``d/2 log 2pi``, beta = 1
    gives the mean the MSE gradient. ``var`` [B, K, 2] > 0.
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be a number in [0, 1], got {beta!r}")
    r, dim_vis = _residual(mean, gt, visible)
    v = _check_var(var, r.shape[0], r.shape[1] // 2).to(r.dtype)
    per = 0.5 * (torch.log(v) + r.square() / v) * v.detach() ** beta
    if dim_vis is not None:
        per = torch.where(dim_vis, per, torch.zeros_like(per))
    return _reduce(per.sum(-1), dim_vis, reduction)


def faithful_nll_loss(
    mean: Tensor,
    scale_tril: Tensor,
    gt: Tensor,
    visible: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Faithful heteroscedastic regression: ``sum r^2 + NLL(stopgrad(mean), L L^T)`` per sample.

    The mean gets only the squared-error gradient (so the covariance cannot "explain away" errors);
    ``scale_tril`` gets the NLL gradient. Shapes as :func:`nll_loss`.
    """
    r, dim_vis = _residual(mean, gt, visible)
    tril = _check_tril(scale_tril, r.shape[0], r.shape[1])
    return _reduce(r.square().sum(-1) + _full_nll(r.detach(), tril, dim_vis), dim_vis, reduction)


def tic_covariance(jacobian: Tensor, eps: Tensor, scale_tril: Tensor) -> Tensor:
    """Taylor Induced Covariance ``S = eps J J^T + L L^T`` (TIC-TAC, first-order term).

    Args:
        jacobian: [B, 2K, Z] Jacobian of the flattened keypoint means (x0, y0, ...) w.r.t. the latent;
            TIC-TAC treats it as a constant (detach it; :meth:`ProbabilisticPoseModel.keypoint_jacobian`
            returns it detached).
        eps: [B] >= 0 scale of the gradient term (predicted, e.g. squared network output).
        scale_tril: [B, 2K, 2K] lower Cholesky factor L of the positive definite part.
    Returns:
        [B, 2K, 2K] covariance, keypoint units squared.
    """
    jacobian = as_float_tensor("jacobian", jacobian)
    check_shape("jacobian", jacobian, ("B", "2K", "Z"))
    b, d, _ = jacobian.shape
    tril = _check_tril(scale_tril, b, d)
    eps = as_float_tensor("eps", eps)
    check_shape("eps", eps, (b,))
    check_finite("jacobian", jacobian)
    check_finite("eps", eps)
    if can_read_values(eps) and eps.numel() and not bool((eps.detach() >= 0).all()):
        raise ValueError(f"eps must be >= 0, got {eps.tolist()}")
    tril = torch.tril(tril)
    return eps[:, None, None] * (jacobian @ jacobian.mT) + tril @ tril.mT


def tic_loss(
    mean: Tensor,
    jacobian: Tensor,
    eps: Tensor,
    scale_tril: Tensor,
    gt: Tensor,
    visible: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Gaussian NLL of ``gt`` under N(mean, eps J J^T + L L^T) (see :func:`tic_covariance`).

    The sum is positive definite because L has a positive diagonal; it is factorised with Cholesky.
    """
    r, dim_vis = _residual(mean, gt, visible)
    if jacobian.shape[:2] != (r.shape[0], r.shape[1]) if isinstance(jacobian, Tensor) else False:
        raise ValueError(
            f"jacobian must have shape [B={r.shape[0]}, 2K={r.shape[1]}, Z], got {list(jacobian.shape)}"
        )
    cov = tic_covariance(jacobian, eps, scale_tril).to(r.dtype)
    if dim_vis is not None:
        cov, r = masked_covariance(cov, r, dim_vis)
    per = nll_from_scale_tril(r, torch.linalg.cholesky(cov), None if dim_vis is None else dim_vis.sum(1))
    return _reduce(per, dim_vis, reduction)
