"""Heatmap codecs: Gaussian target generation, keypoint decoding and flip-test merging.

``encode_heatmaps`` and ``decode_heatmaps`` run compiled kernels (``csrc/heatmap``; CPU on all cores,
CUDA on the current stream) registered as ``torch.library`` custom ops ``hpefast::encode_heatmaps`` and
``hpefast::decode_heatmaps`` with fake implementations, so they work under ``torch.compile`` (also
``fullgraph=True``) and ``torch.export``. Neither is differentiable (targets and argmax). The numpy
reference, which is also the detailed spec, is :mod:`hpefast._reference.heatmap`.

Conventions: keypoints are (x, y) in input-crop pixels with pixel centres at integers; sizes are
(W, H). Example::

    heatmaps, weights = encode_heatmaps(kp, labelled, (192, 256), (48, 64), sigma=2.0, method="udp")
    keypoints, scores = decode_heatmaps(model(images), (192, 256), method="dark_udp")
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from hpefast.ops._common import as_size, check_device_supported, check_same_device, check_tensor, launch

__all__ = ["decode_heatmaps", "encode_heatmaps", "flip_heatmaps"]

ENCODE_METHODS = {"msra": 0, "udp": 1}
DECODE_METHODS = {"argmax": 0, "shift": 1, "dark": 2, "dark_udp": 3}
MAX_BLUR_KERNEL = 99  # csrc/heatmap/heatmap_math.h kMaxBlurKernel


# --------------------------------------------------------------------------------------------------
# Custom ops (validated inputs only; the public functions below check and convert).


@torch.library.custom_op("hpefast::encode_heatmaps", mutates_args=())
def _encode_op(
    keypoints: torch.Tensor,
    visible: torch.Tensor,
    joint_weights: torch.Tensor | None,
    input_w: int,
    input_h: int,
    heatmap_w: int,
    heatmap_h: int,
    sigma: float,
    method: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    B, K = keypoints.shape[0], keypoints.shape[1]
    heatmaps = keypoints.new_empty((B, K, heatmap_h, heatmap_w))
    weights = keypoints.new_empty((B, K))
    if B * K == 0:
        return heatmaps, weights
    args = (
        keypoints.data_ptr(),
        visible.data_ptr(),
        0 if joint_weights is None else joint_weights.data_ptr(),
        heatmaps.data_ptr(),
        weights.data_ptr(),
        B * K,
        K,
        input_w,
        input_h,
        heatmap_w,
        heatmap_h,
        float(sigma),
        ENCODE_METHODS[method],
    )
    launch("encode_heatmaps", keypoints, *args)
    return heatmaps, weights


@_encode_op.register_fake
def _encode_fake(keypoints, visible, joint_weights, input_w, input_h, heatmap_w, heatmap_h, sigma, method):
    B, K = keypoints.shape[0], keypoints.shape[1]
    return keypoints.new_empty((B, K, heatmap_h, heatmap_w)), keypoints.new_empty((B, K))


@torch.library.custom_op("hpefast::decode_heatmaps", mutates_args=())
def _decode_op(
    heatmaps: torch.Tensor, input_w: int, input_h: int, method: str, blur_kernel: int
) -> tuple[torch.Tensor, torch.Tensor]:
    B, K, h, w = heatmaps.shape
    keypoints = heatmaps.new_empty((B, K, 2))
    scores = heatmaps.new_empty((B, K))
    if B * K == 0:
        return keypoints, scores
    args = (
        heatmaps.data_ptr(),
        keypoints.data_ptr(),
        scores.data_ptr(),
        B * K,
        w,
        h,
        input_w,
        input_h,
        DECODE_METHODS[method],
        blur_kernel,
    )
    launch("decode_heatmaps", heatmaps, *args)
    return keypoints, scores


@_decode_op.register_fake
def _decode_fake(heatmaps, input_w, input_h, method, blur_kernel):
    B, K = heatmaps.shape[0], heatmaps.shape[1]
    return heatmaps.new_empty((B, K, 2)), heatmaps.new_empty((B, K))


# --------------------------------------------------------------------------------------------------
# Public API


def _check_method(method: object, allowed: dict[str, int]) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, one of {sorted(allowed)}, got {type(method).__name__}")
    if method not in allowed:
        raise ValueError(f"method must be one of {sorted(allowed)}, got {method!r}")
    return method


def encode_heatmaps(
    keypoints: torch.Tensor,
    visible: torch.Tensor,
    input_size: tuple[int, int],
    heatmap_size: tuple[int, int],
    sigma: float = 2.0,
    method: str = "udp",
    joint_weights: torch.Tensor | np.ndarray | Sequence[float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian heatmap targets and per-joint loss weights, on the keypoints' device.

    Args:
        keypoints: float32 [B, K, 2], (x, y) in input-crop pixels.
        visible: float32 or bool [B, K]; > 0.5 means labelled.
        input_size: (W, H) of the network input crop, pixels.
        heatmap_size: (w, h) of the heatmaps.
        sigma: Gaussian standard deviation in heatmap pixels (> 0); the window is 3 sigma wide each way.
        method: ``"udp"`` (UDP-Pose: stride (W-1)/(w-1), Gaussian at the float position) or ``"msra"``
            (HRNet ``generate_target``: stride W/w, Gaussian at the integer ``int(x/stride + 0.5)``).
        joint_weights: optional [K] multipliers of the weights (e.g. ``schema.joint_weights``).

    Returns:
        heatmaps float32 [B, K, h, w] (peak 1, zero outside the 3-sigma window) and weights float32
        [B, K]: ``joint_weights[k]`` (or 1) for a drawn joint, 0 for a joint that is not labelled, has a
        NaN/inf coordinate, or whose window lies wholly outside the heatmap (its map is all zero).

    Example: ``hm, w = encode_heatmaps(kp, vis, (192, 256), (48, 64))`` -> hm [B, K, 64, 48].
    """
    check_tensor("keypoints", keypoints, dtype=torch.float32, shape=("B", "K", 2))
    check_tensor("visible", visible, dtype=(torch.float32, torch.bool), shape=("B", "K"))
    if tuple(visible.shape) != tuple(keypoints.shape[:2]):
        raise ValueError(
            f"visible must have shape {list(keypoints.shape[:2])} (B, K of keypoints), "
            f"got {list(visible.shape)}"
        )
    check_same_device(keypoints=keypoints, visible=visible)
    check_device_supported("keypoints", keypoints)
    in_w, in_h = as_size("input_size", input_size)
    hm_w, hm_h = as_size("heatmap_size", heatmap_size)
    method = _check_method(method, ENCODE_METHODS)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
        raise TypeError(f"sigma must be a number, got {type(sigma).__name__}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    if method == "udp" and min(in_w, in_h, hm_w, hm_h) < 2:
        raise ValueError(
            f"method 'udp' needs input_size and heatmap_size of at least 2 (stride (in-1)/(hm-1)), "
            f"got input_size={input_size!r}, heatmap_size={heatmap_size!r}"
        )
    K = keypoints.shape[1]
    jw = None
    if joint_weights is not None:
        if isinstance(joint_weights, torch.Tensor):
            if not joint_weights.dtype.is_floating_point:
                raise TypeError(f"joint_weights must be a floating-point tensor, got {joint_weights.dtype}")
            jw = joint_weights.to(device=keypoints.device, dtype=torch.float32)
        else:
            try:
                jw = torch.as_tensor(np.asarray(joint_weights, dtype=np.float32), device=keypoints.device)
            except (TypeError, ValueError):
                raise TypeError(
                    f"joint_weights must be a [K] tensor or sequence of numbers, got {joint_weights!r}"
                ) from None
        if tuple(jw.shape) != (K,):
            raise ValueError(f"joint_weights must have shape [K] = [{K}], got {list(jw.shape)}")
        # Checked where the values are on the host (the usual case: schema.joint_weights); a CUDA tensor
        # is not synchronised for it.
        on_host = jw.device.type == "cpu" or not isinstance(joint_weights, torch.Tensor)
        host = jw.cpu() if on_host else None
        if host is not None and not bool((torch.isfinite(host) & (host >= 0)).all()):
            raise ValueError(f"joint_weights must be finite and >= 0, got {host.tolist()}")
        jw = jw.contiguous()
    vis = visible.to(torch.float32) if visible.dtype == torch.bool else visible
    return _encode_op(keypoints.detach(), vis.detach(), jw, in_w, in_h, hm_w, hm_h, float(sigma), method)


def decode_heatmaps(
    heatmaps: torch.Tensor,
    input_size: tuple[int, int],
    method: str = "dark_udp",
    blur_kernel: int = 11,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints and scores from heatmaps, on the heatmaps' device (one fused kernel per joint map).

    Args:
        heatmaps: [B, K, h, w] float32 (float16 / bfloat16 are converted to float32).
        input_size: (W, H) of the network input crop, pixels.
        method: ``"dark_udp"`` (ViTPose post_dark_udp: blur with reflect-101 border, clip to [1e-3, 50],
            log, edge pad, one Newton step), ``"dark"`` (DarkPose: zero-padded blur keeping the maximum,
            log, Taylor step, only where 1 < x < w-2 and 1 < y < h-2), ``"shift"`` (HRNet: quarter pixel
            toward the higher neighbour) or ``"argmax"``.
        blur_kernel: odd size of the Gaussian blur (cv2 ``getGaussianKernel(k, 0)`` weights) for
            ``dark`` and ``dark_udp``; 11 suits sigma 2 (DarkPose: 17 for sigma 3).

    Returns:
        keypoints float32 [B, K, 2], (x, y) in input-crop pixels: the heatmap position times
        (W-1)/(w-1) for ``dark_udp`` (UDP, consistent with ``encode_heatmaps(method="udp")``), W/w for the
        others (mmpose's convention). A map whose maximum is not > 0 gives (-1, -1) heatmap pixels
        (mmpose), i.e. minus one stride. scores float32 [B, K]: the map's maximum (before blurring).

    Example: ``kp, s = decode_heatmaps(hm, (192, 256))``; ``hm`` [B, 17, 64, 48] -> ``kp`` [B, 17, 2].
    """
    check_tensor(
        "heatmaps", heatmaps, dtype=(torch.float32, torch.float16, torch.bfloat16), shape=("B", "K", "h", "w")
    )
    check_device_supported("heatmaps", heatmaps)
    in_w, in_h = as_size("input_size", input_size)
    method = _check_method(method, DECODE_METHODS)
    if isinstance(blur_kernel, bool) or not isinstance(blur_kernel, int):
        raise TypeError(f"blur_kernel must be an int, got {type(blur_kernel).__name__}")
    if blur_kernel < 1 or blur_kernel % 2 == 0 or blur_kernel > MAX_BLUR_KERNEL:
        raise ValueError(f"blur_kernel must be odd and in [1, {MAX_BLUR_KERNEL}], got {blur_kernel}")
    h, w = heatmaps.shape[2], heatmaps.shape[3]
    if h == 0 or w == 0:
        raise ValueError(f"heatmaps must have positive height and width, got shape {list(heatmaps.shape)}")
    if method == "dark_udp" and (h < 2 or w < 2):
        raise ValueError(
            f"method 'dark_udp' needs heatmaps of at least 2 x 2, got shape {list(heatmaps.shape)}"
        )
    hm = heatmaps.detach()
    if hm.dtype != torch.float32:
        hm = hm.to(torch.float32)
    return _decode_op(hm, in_w, in_h, method, blur_kernel)


def flip_heatmaps(heatmaps: torch.Tensor, flip_index: Sequence[int], shift: bool = False) -> torch.Tensor:
    """Map heatmaps predicted on the horizontally flipped image back to the original frame (flip test).

    ``out[:, k] = heatmaps[:, flip_index[k]]`` mirrored along x (left/right joints swap). ``shift=True``
    (mmpose ``shift_heatmap``, for non-UDP codecs) then moves the maps one pixel right, keeping column 0.
    Plain torch ops: differentiable, any device, traceable by torch.compile / torch.export.

    Args:
        heatmaps: [B, K, h, w] floating point.
        flip_index: permutation of range(K) (a schema's ``flip_index``).
    Returns:
        [B, K, h, w], same dtype and device. Average with the unflipped prediction for the flip test.
    """
    check_tensor("heatmaps", heatmaps, shape=("B", "K", "h", "w"), contiguous=False)
    if not heatmaps.dtype.is_floating_point:
        raise TypeError(f"heatmaps must be a floating-point tensor, got {heatmaps.dtype}")
    K = heatmaps.shape[1]
    if isinstance(flip_index, torch.Tensor | np.ndarray):
        flip_index = flip_index.tolist()
    try:
        items = list(flip_index)
    except TypeError:
        raise TypeError(f"flip_index must be a sequence of ints, got {flip_index!r}") from None
    if not all(isinstance(i, int | np.integer) and not isinstance(i, bool) for i in items):
        raise TypeError(f"flip_index must be a sequence of ints, got {flip_index!r}")
    index = [int(i) for i in items]
    if sorted(index) != list(range(K)):
        raise ValueError(f"flip_index must be a permutation of range(K) with K = {K}, got {index}")
    if not isinstance(shift, bool):
        raise TypeError(f"shift must be a bool, got {type(shift).__name__}")
    out = heatmaps[:, index].flip(-1)
    if shift and out.shape[-1] > 1:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out
