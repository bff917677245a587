"""Differentiable keypoint means from heatmaps (soft-argmax, integral regression).

TIC-TAC (Shukla et al., ICML 2024) reads the mean of each joint as the expectation of the pixel
coordinate under a spatial softmax of the heatmap; the Jacobian of these means with respect to the
latent gives the TIC covariance. Pixel centres are at integers (column j has x = j, row i has y = i),
the convention of every hpefast codec, so a heatmap of stride s maps to crop pixels by ``x * s``
(msra) or ``x * (W - 1) / (w - 1)`` (udp).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hpefast.probabilistic._checks import as_float_tensor, check_finite, check_shape

__all__ = ["soft_argmax"]


def soft_argmax(heatmaps: Tensor, beta: float = 1.0) -> Tensor:
    """Expected (x, y) of each joint under ``softmax(beta * heatmap)`` over all pixels.

    Args:
        heatmaps: [B, K, H, W] float logits (any float dtype; computed in float32 or float64).
        beta: inverse temperature (> 0); a large beta approaches the hard argmax.
    Returns:
        [B, K, 2] (x, y) in heatmap pixels, pixel centres at integers; differentiable in ``heatmaps``.

    Example:
        >>> hm = torch.full((1, 1, 5, 7), -1e4); hm[0, 0, 3, 2] = 0.0
        >>> soft_argmax(hm)  # tensor([[[2., 3.]]])
    """
    heatmaps = as_float_tensor("heatmaps", heatmaps)
    check_shape("heatmaps", heatmaps, ("B", "K", "H", "W"))
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
        raise ValueError(f"beta must be a positive number, got {beta!r}")
    b, k, h, w = heatmaps.shape
    if h * w == 0:
        raise ValueError(f"heatmaps must have non-empty maps, got shape {list(heatmaps.shape)}")
    check_finite("heatmaps", heatmaps)
    return soft_argmax_unchecked(heatmaps, float(beta))


def soft_argmax_unchecked(heatmaps: Tensor, beta: float) -> Tensor:
    """:func:`soft_argmax` without input checks (for use under ``torch.func`` transforms, which cannot
    read values)."""
    b, k, h, w = heatmaps.shape
    x = heatmaps if heatmaps.dtype == torch.float64 else heatmaps.float()
    prob = torch.softmax(x.reshape(b, k, h * w) * beta, dim=-1).reshape(b, k, h, w)
    xs = torch.arange(w, dtype=x.dtype, device=x.device)
    ys = torch.arange(h, dtype=x.dtype, device=x.device)
    mx = (prob.sum(dim=2) * xs).sum(dim=-1)  # marginal over rows, then E[x]
    my = (prob.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([mx, my], dim=-1)
