"""The masked union-joint heatmap loss: per-joint MSE averaged over labelled joints only, with optional
online hard keypoint mining (OHKM). Formula and conventions: :mod:`hpefast._reference.loss`.

Compiled kernels (``csrc/loss``; CPU on all cores, CUDA on the current stream, float32 and float64)
registered as ``torch.library`` custom ops ``hpefast::union_heatmap_loss_fwd`` / ``_bwd`` with fake
implementations and autograd, so the loss works under ``torch.compile`` and ``torch.export``. The CUDA
path never synchronises with the host (the incoming gradient is read on the device).

Example::

    heatmaps, weights = encode_heatmaps(keypoints, labelled, (192, 256), (48, 64))
    loss = union_heatmap_loss(model(images), heatmaps, weights, ohkm_topk=None)
    loss.backward()
"""

from __future__ import annotations

import math

import torch

from hpefast.ops._common import check_device_supported, check_same_device, check_tensor, launch

__all__ = ["union_heatmap_loss"]

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _dtype_name(t: torch.Tensor) -> str:
    return "float64" if t.dtype == torch.float64 else "float32"


@torch.library.custom_op("hpefast::union_heatmap_loss_fwd", mutates_args=())
def _loss_fwd(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    topk: int,
    amplitude: float,
    fg_threshold: float,
    fg_weight: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns (loss [], joint_loss [B, K], coef [B, K]); inputs validated, contiguous, one dtype.

    The weight values are checked here, in the op's real implementation, so the check runs the same in
    eager mode and under ``torch.compile`` (which traces the fake implementation and calls this one)."""
    if weight.device.type == "cpu":
        _check_weight_values(weight)
    b, k = weight.shape
    pixels = pred.shape[2] * pred.shape[3]
    loss = pred.new_empty(())
    joint_loss = pred.new_empty((b, k))
    coef = pred.new_empty((b, k))
    args = (
        _dtype_name(pred),
        pred.data_ptr(),
        target.data_ptr(),
        weight.data_ptr(),
        loss.data_ptr(),
        joint_loss.data_ptr(),
        coef.data_ptr(),
        b,
        k,
        pixels,
        topk,
        amplitude,
        fg_threshold,
        fg_weight,
    )
    launch("union_heatmap_loss_forward", pred, *args)
    return loss, joint_loss, coef


@_loss_fwd.register_fake
def _loss_fwd_fake(pred, target, weight, topk, amplitude, fg_threshold, fg_weight):
    b, k = weight.shape
    return pred.new_empty(()), pred.new_empty((b, k)), pred.new_empty((b, k))


@torch.library.custom_op("hpefast::union_heatmap_loss_bwd", mutates_args=())
def _loss_bwd(
    grad: torch.Tensor,
    pred: torch.Tensor,
    target: torch.Tensor,
    coef: torch.Tensor,
    amplitude: float,
    fg_threshold: float,
    fg_weight: float,
) -> torch.Tensor:
    """grad_pred [B, K, h, w] for a scalar upstream gradient ``grad`` (a 0-dim tensor on pred's device)."""
    grad = grad.to(pred.dtype).contiguous()
    grad_pred = torch.empty_like(pred)
    b, k = coef.shape
    pixels = pred.shape[2] * pred.shape[3]
    args = (
        _dtype_name(pred),
        grad.data_ptr(),
        pred.data_ptr(),
        target.data_ptr(),
        coef.data_ptr(),
        grad_pred.data_ptr(),
        b,
        k,
        pixels,
        amplitude,
        fg_threshold,
        fg_weight,
    )
    launch("union_heatmap_loss_backward", pred, *args)
    return grad_pred


@_loss_bwd.register_fake
def _loss_bwd_fake(grad, pred, target, coef, amplitude, fg_threshold, fg_weight):
    return torch.empty_like(pred)


def _setup_context(ctx, inputs, output):
    pred, target, _weight, _topk, amplitude, fg_threshold, fg_weight = inputs
    _loss, _joint_loss, coef = output
    ctx.save_for_backward(pred, target, coef)
    ctx.options = (amplitude, fg_threshold, fg_weight)


def _backward(ctx, grad_loss, _grad_joint_loss, _grad_coef):
    pred, target, coef = ctx.saved_tensors
    need_pred, need_target = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    none = (None,) * 5
    if grad_loss is None or not (need_pred or need_target):
        return None, None, *none
    amplitude = ctx.options[0]
    grad_pred = _loss_bwd(grad_loss, pred, target, coef, *ctx.options)
    grad_target = -amplitude * grad_pred if need_target else None
    return (grad_pred if need_pred else None), grad_target, *none


torch.library.register_autograd("hpefast::union_heatmap_loss_fwd", _backward, setup_context=_setup_context)


def _check_weight_values(weight: torch.Tensor) -> None:
    """CPU only: the kernels read ``weight > 0`` as labelled, which would silently drop NaN / negatives."""
    bad = ~(weight >= 0)  # true for negatives and NaN
    if bool(bad.any()):
        b, k = (int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"weight must be >= 0 (0 = not labelled), got {float(weight[b, k])} at [b={b}, k={k}] "
            f"({int(bad.sum())} bad of {weight.numel()}); NaN or negative weights are not a mask"
        )


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
    """Masked heatmap MSE: the mean of the per-joint losses over labelled joints only.

    Args:
        pred: [B, K, h, w] predicted heatmaps (float16/bfloat16 are computed in float32).
        target: [B, K, h, w] target heatmaps (e.g. from ``encode_heatmaps``).
        weight: [B, K] (or mmpose's [B, K, 1]) joint weights >= 0; 0 = not labelled (no loss, not counted).
            On CPU a negative or NaN weight raises ValueError, in eager mode and under ``torch.compile``
            alike. On CUDA it is not checked (that would be a host sync every step): there any weight
            that is not > 0 (negative, NaN) counts as not labelled.
        ohkm_topk: None, or k in [1, K]: keep only each sample's k largest joint losses (OHKM).
        amplitude: > 0, target-imbalance option: the prediction is compared with ``amplitude * target``
            (heatmap amplitude scaling: a larger foreground signal against the zero background).
        fg_threshold, fg_weight: target-imbalance option (foreground-weighted MSE): pixels whose
            *unscaled* target exceeds ``fg_threshold`` weigh ``fg_weight`` (>= 0) in the per-joint mean,
            the others 1. ``fg_weight=1`` (default) is the plain MSE. Both combine with OHKM (the top-k
            ranks the weighted joint losses).
    Returns:
        scalar tensor: ``sum_selected w^2 * mean_pixels u (pred - a target)^2 / #selected`` with ``u`` the
        pixel weight (0 when nothing is selected, with zero gradients). Gradients flow to ``pred`` and
        ``target`` (the pixel weight is piecewise constant in the target: no gradient through it);
        ``weight`` is a constant.
    """
    check_tensor("pred", pred, dtype=_FLOATS, shape=("B", "K", "h", "w"), contiguous=False)
    b, k, h, w = pred.shape
    check_tensor("target", target, dtype=_FLOATS, shape=(b, k, h, w), contiguous=False)
    if isinstance(weight, torch.Tensor) and weight.dim() == 3 and weight.shape[-1] == 1:
        weight = weight[..., 0]
    check_tensor("weight", weight, dtype=_FLOATS + (torch.bool,), shape=(b, k), contiguous=False)
    check_same_device(pred=pred, target=target, weight=weight)
    check_device_supported("pred", pred)
    if ohkm_topk is not None:
        if isinstance(ohkm_topk, bool) or not isinstance(ohkm_topk, int):
            raise TypeError(f"ohkm_topk must be None or an int, got {ohkm_topk!r}")
        if not 1 <= ohkm_topk <= k:
            raise ValueError(f"ohkm_topk must be in [1, K={k}], got {ohkm_topk}")
    amplitude = _check_scalar("amplitude", amplitude, low=0.0, low_inclusive=False)
    fg_weight = _check_scalar("fg_weight", fg_weight, low=0.0, low_inclusive=True)
    fg_threshold = _check_scalar("fg_threshold", fg_threshold, low=None, low_inclusive=True)
    if h * w == 0:
        raise ValueError(f"pred must have non-empty heatmaps, got shape {list(pred.shape)}")
    dtype = torch.float64 if torch.float64 in (pred.dtype, target.dtype) else torch.float32
    loss, _, _ = _loss_fwd(
        pred.to(dtype).contiguous(),
        target.to(dtype).contiguous(),
        weight.to(dtype).contiguous(),
        ohkm_topk or 0,
        amplitude,
        fg_threshold,
        fg_weight,
    )
    return loss


def _check_scalar(name: str, value: float, *, low: float | None, low_inclusive: bool) -> float:
    """A finite real number (not bool), above ``low`` when given; returned as a Python float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise ValueError(f"{name} must be {'>=' if low_inclusive else '>'} {low}, got {value}")
    return value
