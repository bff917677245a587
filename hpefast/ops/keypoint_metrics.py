"""Batched OKS and PCKh on device tensors, for validation during training without a host copy.

``oks`` is the object keypoint similarity of each prediction against its own ground truth instance
(pycocotools' formula); ``pckh`` marks the joints within the MPII head-normalised threshold. Both run
compiled kernels (``csrc/oks``: CPU on all cores, CUDA on the current stream) registered as
``torch.library`` custom ops ``hpefast::oks`` / ``hpefast::pckh`` with fake implementations; ``oks``
is differentiable in ``pred``, ``gt``, ``area`` and ``sigmas`` (an OKS loss), its backward written with
torch ops. The numpy reference is :mod:`hpefast._reference.oks`; dataset-level COCO AP is
:class:`hpefast.evaluation.COCOeval`.

Example::

    s = oks(pred, gt, visible, area, sigmas)          # [N] in [0, 1]
    hits = pckh(pred, gt, visible, headboxes)         # [N, K] 0/1; PCKh = hits.sum() / visible.sum()
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from hpefast.ops._common import check_device_supported, check_same_device, check_tensor, launch

__all__ = ["oks", "pckh"]

OKS_EPS = float(np.spacing(1))  # pycocotools adds np.spacing(1) to the area


@torch.library.custom_op("hpefast::oks", mutates_args=())
def _oks_op(
    pred: torch.Tensor, gt: torch.Tensor, visible: torch.Tensor, area: torch.Tensor, sigmas: torch.Tensor
) -> torch.Tensor:
    n, k = pred.shape[0], pred.shape[1]
    # Value checks run here, in the op's real implementation: the same in eager mode and under
    # torch.compile (fullgraph too: the wrapper has no data-dependent branch). CPU tensors only, so that
    # validation on the GPU stays free of device-to-host synchronisation.
    if sigmas.device.type == "cpu" and not bool((sigmas > 0).all() & torch.isfinite(sigmas).all()):
        raise ValueError("sigmas must be finite and > 0")
    if area.device.type == "cpu" and bool((area < 0).any() | torch.isnan(area).any()):
        raise ValueError("area must be >= 0 (COCO object areas in pixels^2)")
    out = pred.new_empty((n,))
    if n == 0:
        return out
    args = (pred.data_ptr(), gt.data_ptr(), visible.data_ptr(), area.data_ptr(), sigmas.data_ptr())
    launch("oks", pred, *args, out.data_ptr(), n, k)
    return out


@_oks_op.register_fake
def _oks_fake(pred, gt, visible, area, sigmas):
    return pred.new_empty((pred.shape[0],))


def _oks_setup(ctx, inputs, output):
    pred, gt, visible, area, sigmas = inputs
    ctx.save_for_backward(pred, gt, visible, area, sigmas)


def _oks_backward(ctx, grad_out):
    # oks = sum_k vis_k exp(-e_k) / count, e_k = |pred_k - gt_k|^2 / (2 var_k (area + eps)), var_k = (2 s_k)^2
    #   d oks / d pred_k = -exp(-e_k) (pred_k - gt_k) / (var_k (area + eps)) / count   (visible k)
    #   d oks / d gt_k   = -d oks / d pred_k
    #   d oks / d area   =  sum_k exp(-e_k) e_k / (area + eps) / count
    #   d oks / d s_k    =  exp(-e_k) 2 e_k / s_k / count                              (summed over N)
    # ``visible`` is a mask: no gradient.
    pred, gt, visible, area, sigmas = ctx.saved_tensors
    need_pred, need_gt, _, need_area, need_sigmas = ctx.needs_input_grad
    vis = (visible > 0).to(pred.dtype)
    count = vis.sum(1).clamp_min(1.0)
    var = (2 * sigmas) ** 2
    diff = pred - gt
    denom = var[None, :] * (area[:, None] + OKS_EPS)
    e = (diff * diff).sum(-1) / denom / 2
    g = torch.exp(-e) * vis / count[:, None] * grad_out[:, None]  # [N, K]
    grad_pred = -(g / denom)[..., None] * diff
    grad_area = (g * e).sum(1) / (area + OKS_EPS) if need_area else None
    grad_sigmas = (g * e * 2 / sigmas[None, :]).sum(0) if need_sigmas else None
    return (
        grad_pred if need_pred else None,
        -grad_pred if need_gt else None,
        None,
        grad_area,
        grad_sigmas,
    )


torch.library.register_autograd("hpefast::oks", _oks_backward, setup_context=_oks_setup)


@torch.library.custom_op("hpefast::pckh", mutates_args=())
def _pckh_op(
    pred: torch.Tensor, gt: torch.Tensor, visible: torch.Tensor, headboxes: torch.Tensor, threshold: float
) -> torch.Tensor:
    n, k = pred.shape[0], pred.shape[1]
    if not (math.isfinite(threshold) and threshold >= 0):  # here too: the wrapper's check is eager-only
        raise ValueError(f"threshold must be finite and >= 0, got {threshold}")
    out = pred.new_empty((n, k))
    if n == 0:
        return out
    args = (pred.data_ptr(), gt.data_ptr(), visible.data_ptr(), headboxes.data_ptr())
    launch("pckh", pred, *args, out.data_ptr(), n, k, float(threshold))
    return out


@_pckh_op.register_fake
def _pckh_fake(pred, gt, visible, headboxes, threshold):
    return pred.new_empty((pred.shape[0], pred.shape[1]))


def _as_float_tensor(name: str, value: object, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (np.ndarray, Sequence)) and not isinstance(value, str):
        return torch.as_tensor(np.asarray(value, dtype=np.float32), device=like.device)
    raise TypeError(f"{name} must be a torch.Tensor, numpy array or sequence, got {type(value).__name__}")


def _visible(visible: torch.Tensor) -> torch.Tensor:
    check_tensor("visible", visible, dtype=(torch.float32, torch.bool), shape=("N", "K"), contiguous=False)
    return visible.to(torch.float32).contiguous()


def oks(
    pred: torch.Tensor,
    gt: torch.Tensor,
    visible: torch.Tensor,
    area: torch.Tensor,
    sigmas: torch.Tensor | np.ndarray | Sequence[float],
) -> torch.Tensor:
    """Object keypoint similarity of each prediction with its ground truth, on the inputs' device.

    ``oks_i = mean over visible k of exp(-|pred_ik - gt_ik|^2 / (2 * (area_i + eps) * (2 sigma_k)^2))``
    (pycocotools' ``computeOks`` for a gt with labelled joints; an instance with none gets 0).
    Differentiable in ``pred``, ``gt``, ``area`` and ``sigmas`` (``visible`` is a mask), in eager mode
    and under ``torch.compile`` (``fullgraph=True`` included).

    Args:
        pred: float32 [N, K, 2] predicted (x, y), pixels.
        gt: float32 [N, K, 2] ground-truth (x, y), pixels.
        visible: float32 or bool [N, K]; > 0 means labelled.
        area: float32 [N] object areas, pixels^2 (COCO ``area``).
        sigmas: [K] per-joint OKS sigmas (e.g. ``get_schema("coco").sigmas``).

    Returns:
        float32 [N] OKS in [0, 1].
    """
    check_tensor("pred", pred, dtype=torch.float32, shape=("N", "K", 2))
    n, k = pred.shape[0], pred.shape[1]
    check_tensor("gt", gt, dtype=torch.float32, shape=(n, k, 2))
    vis = _visible(visible)
    if vis.shape != (n, k):
        raise ValueError(f"visible must have shape [N, K] = {[n, k]}, got {list(visible.shape)}")
    check_tensor("area", area, dtype=torch.float32, shape=(n,))
    sig = _as_float_tensor("sigmas", sigmas, pred)
    check_tensor("sigmas", sig, dtype=torch.float32, shape=(k,), contiguous=False)
    sig = sig.contiguous()
    check_same_device(pred=pred, gt=gt, visible=vis, area=area, sigmas=sig)
    check_device_supported("pred", pred)
    # sigma and area values are checked inside the op (CPU): the same in eager mode and torch.compile
    if k == 0:
        raise ValueError("pred must have at least one joint (K > 0)")
    return _oks_op(pred, gt, vis, area, sig)


def pckh(
    pred: torch.Tensor,
    gt: torch.Tensor,
    visible: torch.Tensor,
    headboxes: torch.Tensor,
    threshold: float = 0.5,
) -> torch.Tensor:
    """PCKh hits per joint: 1 where visible and ``|pred - gt| / (0.6 * |head-box diagonal|) <= threshold``.

    The MPII protocol (as the official evaluation and ``hpefast.evaluation.pckh``); the PCKh of a set is
    ``hits.sum(0) / visible.sum(0)``.

    Args:
        pred: float32 [N, K, 2] predicted (x, y), pixels.
        gt: float32 [N, K, 2] ground-truth (x, y), pixels.
        visible: float32 or bool [N, K]; > 0 means the joint counts.
        headboxes: float32 [N, 2, 2] head boxes ((x1, y1), (x2, y2)), pixels.
        threshold: fraction of the head size (0.5 for PCKh@0.5).

    Returns:
        float32 [N, K] of 0 / 1.
    """
    check_tensor("pred", pred, dtype=torch.float32, shape=("N", "K", 2))
    n, k = pred.shape[0], pred.shape[1]
    check_tensor("gt", gt, dtype=torch.float32, shape=(n, k, 2))
    vis = _visible(visible)
    if vis.shape != (n, k):
        raise ValueError(f"visible must have shape [N, K] = {[n, k]}, got {list(visible.shape)}")
    check_tensor("headboxes", headboxes, dtype=torch.float32, shape=(n, 2, 2))
    if not torch.compiler.is_compiling():  # traced, a float is symbolic; the op re-checks its value
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError(f"threshold must be a number, got {type(threshold).__name__}")
        if not np.isfinite(threshold) or threshold < 0:
            raise ValueError(f"threshold must be finite and >= 0, got {threshold}")
    check_same_device(pred=pred, gt=gt, visible=vis, headboxes=headboxes)
    check_device_supported("pred", pred)
    if k == 0:
        raise ValueError("pred must have at least one joint (K > 0)")
    return _pckh_op(pred, gt, vis, headboxes, float(threshold))
