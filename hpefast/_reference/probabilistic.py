"""Reference (plain torch, float64-friendly, one sample and one joint at a time) of
:mod:`hpefast.probabilistic`: the executable spec its tests compare against.

Written from the papers and from the structure of the TIC-TAC research code (Shukla et al., ICML 2024):
explicit covariance matrices, ``torch.logdet`` and ``torch.linalg.inv`` (no Cholesky), unlabelled joints
removed by indexing the labelled sub-block of the covariance (the Gaussian marginal), and TAC by
swapping joint i to the front and conditioning on the rest.
"""

from __future__ import annotations

import math

import torch


def soft_argmax(heatmaps: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """[B, K, H, W] -> [B, K, 2]: sum over pixels of softmax(beta * h) * (column, row)."""
    b, k, h, w = heatmaps.shape
    out = torch.zeros(b, k, 2, dtype=heatmaps.dtype)
    for i in range(b):
        for j in range(k):
            e = torch.exp(beta * heatmaps[i, j] - (beta * heatmaps[i, j]).max())
            p = e / e.sum()
            cols = torch.arange(w, dtype=heatmaps.dtype)[None, :].expand(h, w)
            rows = torch.arange(h, dtype=heatmaps.dtype)[:, None].expand(h, w)
            out[i, j, 0] = (p * cols).sum()
            out[i, j, 1] = (p * rows).sum()
    return out


def _labelled_dims(visible_row: torch.Tensor | None, k: int) -> torch.Tensor:
    if visible_row is None:
        return torch.arange(2 * k)
    v = visible_row.nonzero().flatten()
    return torch.cat([2 * v, 2 * v + 1]).sort().values


def gaussian_nll(mean, cov, gt, visible=None) -> torch.Tensor:
    """[B] 0.5 (d log 2pi + logdet S_vv + r_v^T S_vv^-1 r_v) over the labelled coordinates v."""
    b, k, _ = mean.shape
    out = torch.zeros(b, dtype=cov.dtype)
    for i in range(b):
        idx = _labelled_dims(None if visible is None else visible[i] > 0.5, k)
        if idx.numel() == 0:
            continue
        r = (gt[i] - mean[i]).reshape(-1)[idx]
        s = cov[i][idx][:, idx]
        out[i] = 0.5 * (idx.numel() * math.log(2 * math.pi) + torch.logdet(s) + r @ torch.linalg.inv(s) @ r)
    return out


def diagonal_nll(mean, var, gt, visible=None) -> torch.Tensor:
    """[B] the Gaussian NLL with covariance diag(var) (var [B, K, 2])."""
    b = mean.shape[0]
    covs = torch.stack([torch.diag(var[i].reshape(-1)) for i in range(b)])
    return gaussian_nll(mean, covs, gt, visible)


def beta_nll(mean, var, gt, beta: float, visible=None) -> torch.Tensor:
    """[B] Seitzer et al.: sum_d var_d**beta * 0.5 (log var_d + r_d^2 / var_d) (value; beta's weight is a
    stop-gradient in training, which changes gradients, not values)."""
    b, k, _ = mean.shape
    out = torch.zeros(b, dtype=var.dtype)
    for i in range(b):
        for d in _labelled_dims(None if visible is None else visible[i] > 0.5, k).tolist():
            r = (gt[i] - mean[i]).reshape(-1)[d]
            v = var[i].reshape(-1)[d]
            out[i] += v**beta * 0.5 * (torch.log(v) + r * r / v)
    return out


def faithful(mean, cov, gt, visible=None) -> torch.Tensor:
    """[B] sum of squared labelled residuals + Gaussian NLL (value)."""
    b, k, _ = mean.shape
    sq = torch.zeros(b, dtype=cov.dtype)
    for i in range(b):
        idx = _labelled_dims(None if visible is None else visible[i] > 0.5, k)
        sq[i] = ((gt[i] - mean[i]).reshape(-1)[idx] ** 2).sum()
    return sq + gaussian_nll(mean, cov, gt, visible)


def tic_covariance(jacobian, eps, scale_tril) -> torch.Tensor:
    """[B, D, D] eps_b J_b J_b^T + L_b L_b^T, one sample at a time."""
    return torch.stack(
        [eps[i] * jacobian[i] @ jacobian[i].T + scale_tril[i] @ scale_tril[i].T for i in range(len(eps))]
    )


def tac(mean, cov, gt) -> torch.Tensor:
    """[B, K] TIC-TAC's per-sample TAC: swap joint i's (x, y) to the front, condition on the rest with
    S_12 S_22^-1, return ||gt_i - conditional mean||."""
    b, k, _ = mean.shape
    out = torch.zeros(b, k, dtype=cov.dtype)
    for s in range(b):
        for i in range(k):
            order = [2 * i, 2 * i + 1] + [d for d in range(2 * k) if d // 2 != i]
            c = cov[s][order][:, order]
            mu = mean[s].reshape(-1)[order]
            y = gt[s].reshape(-1)[order]
            if k == 1:
                cond = mu[:2]
            else:
                cond = mu[:2] + c[:2, 2:] @ torch.linalg.inv(c[2:, 2:]) @ (y[2:] - mu[2:])
            out[s, i] = torch.linalg.vector_norm(y[:2] - cond)
    return out
