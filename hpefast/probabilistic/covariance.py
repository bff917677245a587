"""Covariance conventions and parametrisations.

A pose of K joints is the vector ``(x0, y0, x1, y1, ...)`` of length D = 2K (``keypoints.reshape(B, 2K)``),
and its covariance is [B, 2K, 2K] in squared keypoint units (heatmap pixels^2 for the heads here).
Networks predict the lower Cholesky factor L (Sigma = L L^T) as D(D+1)/2 numbers in
``torch.tril_indices(D, D)`` order, the diagonal through ``softplus + min_diag`` so that L is always a
valid factor and Sigma positive definite.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from hpefast.probabilistic._checks import as_float_tensor, check_shape

__all__ = ["flatten_keypoints", "masked_covariance", "num_tril_params", "scale_tril_from_params"]


def num_tril_params(dim: int) -> int:
    """Number of entries of a D x D lower-triangular matrix: D (D + 1) / 2."""
    return dim * (dim + 1) // 2


def flatten_keypoints(keypoints: Tensor) -> Tensor:
    """[B, K, 2] -> [B, 2K] in the order x0, y0, x1, y1, ... (the order of every covariance here)."""
    return keypoints.reshape(keypoints.shape[0], -1)


def scale_tril_from_params(
    params: Tensor, dim: int, min_diag: float = 1e-3, diagonal: bool = False
) -> Tensor:
    """Lower Cholesky factor [B, D, D] from unconstrained network outputs.

    Args:
        params: [B, D (D + 1) / 2] in ``torch.tril_indices(D, D)`` order, or [B, D] when ``diagonal``.
        dim: D.
        min_diag: lower bound of the diagonal (keypoint units); keeps Sigma well conditioned.
        diagonal: only the diagonal is predicted (off-diagonal entries are 0).
    Returns:
        L [B, D, D] with diagonal ``softplus(raw) + min_diag``.
    """
    params = as_float_tensor("params", params)
    n = dim if diagonal else num_tril_params(dim)
    check_shape("params", params, ("B", n))
    b = params.shape[0]
    if diagonal:
        return torch.diag_embed(F.softplus(params) + min_diag)
    rows, cols = torch.tril_indices(dim, dim, device=params.device)
    on_diag = rows == cols
    values = torch.where(on_diag, F.softplus(params) + min_diag, params)
    out = params.new_zeros(b, dim, dim)
    return out.index_put((torch.arange(b, device=params.device)[:, None], rows[None], cols[None]), values)


def masked_covariance(cov: Tensor, residual: Tensor, dim_visible: Tensor) -> tuple[Tensor, Tensor]:
    """Marginalise unlabelled coordinates out of a Gaussian, keeping fixed shapes.

    The rows and columns of unlabelled coordinates become those of the identity and their residual 0:
    the log-determinant and Mahalanobis term of the result equal those of the labelled sub-block
    (the exact marginal of a Gaussian), with no per-sample indexing.

    Args:
        cov: [B, D, D]; residual: [B, D]; dim_visible: [B, D] bool.
    Returns:
        (cov', residual') of the same shapes.
    """
    keep = dim_visible[:, :, None] & dim_visible[:, None, :]
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device).expand_as(cov)
    cov = torch.where(keep, cov, eye)
    residual = torch.where(dim_visible, residual, torch.zeros_like(residual))
    return cov, residual
