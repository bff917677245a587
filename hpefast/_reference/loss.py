"""Reference (eager torch) of the masked union-joint heatmap loss: the executable spec of
``hpefast.ops.union_heatmap_loss`` and ``csrc/loss``.

For pred, target [B, K, h, w] and weight [B, K] (>= 0; 0 = joint not labelled):

    joint_loss[b, k] = weight[b, k]**2 * mean_{pixels} u * (pred - amplitude * target)**2
    u = fg_weight where target > fg_threshold (the unscaled target), else 1

Defaults (amplitude 1, fg_weight 1) give the plain MSE. The two target-imbalance options answer the
few-foreground-pixels problem of heatmap regression: amplitude scaling raises the foreground signal
(the Gaussian peak becomes ``amplitude``), the foreground weight up-weights the pixels of the Gaussian
against the background (a focal-style foreground-weighted MSE).

This is mmpose's ``JointsMSELoss(use_target_weight=True)`` per joint (the weight multiplies both maps
before the squared error, so it enters squared; mmpose has no 0.5 factor, HRNet's original had one).
The loss is the mean of ``joint_loss`` over the *selected* joints of the whole batch:

- without OHKM every labelled joint (weight > 0) is selected, so a joint that a dataset does not label
  neither adds to the sum nor to the count (mmpose divides by K regardless);
- with ``ohkm_topk = k`` each sample keeps its k largest joint losses among its labelled joints (all of
  them when it has fewer); ties go to the lower joint index.

With every joint labelled this equals mmpose's JointsMSELoss, and with OHKM mmpose's JointsOHKMMSELoss
(mean over samples of the mean of the top-k). No joint selected (all masked): loss 0, zero gradients.
"""

from __future__ import annotations

import torch


def joint_losses(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    amplitude: float = 1.0,
    fg_threshold: float = 0.0,
    fg_weight: float = 1.0,
) -> torch.Tensor:
    """[B, K] weighted per-joint MSE (0 where weight == 0)."""
    u = torch.where(target > fg_threshold, torch.full_like(target, fg_weight), torch.ones_like(target))
    mse = (u.detach() * (pred - amplitude * target).square()).flatten(2).mean(-1)
    return torch.where(weight > 0, weight.square() * mse, torch.zeros_like(mse))


def selected_joints(jl: torch.Tensor, weight: torch.Tensor, ohkm_topk: int | None) -> torch.Tensor:
    """[B, K] bool: labelled joints, restricted to each sample's top-k losses with OHKM."""
    labelled = weight > 0
    if not ohkm_topk:
        return labelled
    k_idx = torch.arange(jl.shape[1], device=jl.device)
    # beats[b, k, j]: joint j ranks before joint k (larger loss, or equal loss and lower index)
    vk, vj = jl[:, :, None], jl[:, None, :]
    beats = (vj > vk) | ((vj == vk) & (k_idx[None, None, :] < k_idx[None, :, None]))
    beats &= labelled[:, None, :]
    beats &= k_idx[None, None, :] != k_idx[None, :, None]
    rank = beats.sum(-1)
    return labelled & (rank < ohkm_topk)


def union_heatmap_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    ohkm_topk: int | None = None,
    *,
    amplitude: float = 1.0,
    fg_threshold: float = 0.0,
    fg_weight: float = 1.0,
) -> torch.Tensor:
    """Scalar loss (differentiable through eager torch ops); see the module docstring."""
    jl = joint_losses(pred, target, weight, amplitude, fg_threshold, fg_weight)
    sel = selected_joints(jl.detach(), weight, ohkm_topk)
    count = sel.sum()
    total = torch.where(sel, jl, torch.zeros_like(jl)).sum()
    return total / count.clamp(min=1).to(jl.dtype)
