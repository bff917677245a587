"""PoseIG integrated gradients, all joints at once.

PoseIG (Qi Yang et al., "Analyzing and Diagnosing Pose Estimation with Attributions", CVPR 2023) explains a
pose model by integrating, along a path from a blurred image to the image, the gradient of each joint's
*likelihood proxy* ``exp(-0.3 * ||pred_j - gt_j||)``, where ``pred_j`` is the soft-argmax of heatmap ``j``
(``lib/poseig_tools/ig.py`` ``compute_poseig`` / ``detection_back_func`` and ``data_util.regress25d`` in
QY-H00/PoseIG-Template). The template backpropagates once per joint per step (J + 1 full backward passes,
parameter gradients included). Here every step's J gradients come from one batched backward
(``torch.autograd.grad(..., is_grads_batched=True)``, gradients to the input only; on the CPU, where vmap
costs more than it saves, from J input-only backward passes), several steps share one forward, and the
path is made on the fly in chunks. The template-style loop it equals is
:func:`hpefast._reference.attribution.poseig_loop`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from hpefast.attribution.paths import PathPoints

__all__ = ["POSEIG_BETA", "POSEIG_DECAY", "soft_argmax", "heatmap_stride", "integrated_gradients"]

POSEIG_BETA = 10.0  # regress25d beta_weight: softmax temperature of the soft-argmax
POSEIG_DECAY = 0.3  # detection_back_func: target = exp(-0.3 * distance in heatmap pixels)


def soft_argmax(heatmaps: Tensor, beta: float = POSEIG_BETA) -> Tensor:
    """PoseIG's differentiable read-out (``regress25d``: kornia ``spatial_softmax_2d`` with temperature
    ``beta`` then ``spatial_softargmax_2d(normalized_coordinates=False)``).

    Args:
        heatmaps: [N, J, h, w].
        beta: the softmax is taken over ``beta * heatmap`` (PoseIG: 10).
    Returns:
        [N, J, 2] expected (x, y) in heatmap pixels (pixel centres at integers, 0 .. w-1 / 0 .. h-1).
    """
    n, j, h, w = heatmaps.shape
    p = torch.softmax(heatmaps.reshape(n, j, h * w) * beta, dim=-1).reshape(n, j, h, w)
    xs = torch.arange(w, dtype=heatmaps.dtype, device=heatmaps.device)
    ys = torch.arange(h, dtype=heatmaps.dtype, device=heatmaps.device)
    return torch.stack([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], dim=-1)


def heatmap_stride(codec: str, image_size: tuple[int, int], heatmap_size: tuple[int, int]) -> Tensor:
    """Input pixels per heatmap pixel, (sx, sy): ``(W-1)/(w-1)`` for ``udp``, ``W/w`` for ``msra``
    (the conventions of :func:`hpefast.ops.encode_heatmaps`)."""
    (W, H), (w, h) = image_size, heatmap_size
    if codec == "udp":
        return torch.tensor([(W - 1) / max(w - 1, 1), (H - 1) / max(h - 1, 1)], dtype=torch.float64)
    if codec == "msra":
        return torch.tensor([W / w, H / h], dtype=torch.float64)
    raise ValueError(f"codec must be 'udp' or 'msra', got {codec!r}")


def _codec_name(codec: Any, model_fn: Any) -> str:
    if codec is None:
        codec = getattr(model_fn, "codec", None) or "udp"
    name = getattr(codec, "method", codec)
    if name not in ("udp", "msra"):
        raise ValueError(f"codec must be 'udp', 'msra' or a codec object with .method, got {codec!r}")
    return str(name)


def _check_inputs(
    images: Any, gt_keypoints: Any, visible: Any, steps: Any, path: Any, baseline: Any
) -> tuple[Tensor, Tensor, Tensor]:
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor [B, 3, H, W], got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape [B, 3, H, W], got {list(images.shape)}")
    if not images.dtype.is_floating_point:
        raise TypeError(f"images must be a floating-point tensor, got {images.dtype}")
    if images.shape[0] == 0:
        raise ValueError("images is an empty batch")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images contains NaN or inf values")
    if not isinstance(gt_keypoints, Tensor):
        raise TypeError(f"gt_keypoints must be a torch.Tensor [B, J, 2], got {type(gt_keypoints).__name__}")
    if gt_keypoints.dim() != 3 or gt_keypoints.shape[2] != 2:
        raise ValueError(f"gt_keypoints must have shape [B, J, 2], got {list(gt_keypoints.shape)}")
    b, _, h, w = images.shape
    if gt_keypoints.shape[0] != b:
        raise ValueError(
            f"gt_keypoints has batch {gt_keypoints.shape[0]} but images has batch {b} (they must match)"
        )
    j = gt_keypoints.shape[1]
    gt = gt_keypoints.to(device=images.device, dtype=images.dtype)
    if visible is None:
        vis = torch.ones(b, j, dtype=torch.bool, device=images.device)
    else:
        if not isinstance(visible, Tensor) or tuple(visible.shape) != (b, j):
            raise ValueError(
                f"visible must be a tensor [B={b}, J={j}], got "
                f"{list(visible.shape) if isinstance(visible, Tensor) else type(visible).__name__}"
            )
        vis = visible.to(images.device) > 0
    bad = vis & ~torch.isfinite(gt).all(-1)
    if bool(bad.any()):
        raise ValueError(
            f"gt_keypoints has NaN/inf at (sample, joint) {bad.nonzero().tolist()[:8]} "
            "(mark unlabelled joints with visible=0)"
        )
    x, y = gt[..., 0], gt[..., 1]
    outside = vis & ((x < -0.5) | (x > w - 0.5) | (y < -0.5) | (y > h - 0.5))
    if bool(outside.any()):
        where = outside.nonzero().tolist()[:8]
        raise ValueError(
            f"gt_keypoints outside the {w}x{h} image at (sample, joint) {where}: keypoints are input-image "
            "pixels (x, y); mark joints outside the crop with visible=0"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if path not in ("blur", "linear"):
        raise ValueError(f"path must be 'blur' or 'linear', got {path!r}")
    if baseline is not None:
        if path != "linear":
            raise ValueError(
                "baseline is only used by path='linear' (the blur path starts at the blurred image)"
            )
        if not isinstance(baseline, Tensor):
            raise TypeError(f"baseline must be a torch.Tensor, got {type(baseline).__name__}")
        try:
            torch.broadcast_shapes(baseline.shape, images.shape)
        except RuntimeError:
            raise ValueError(
                f"baseline of shape {list(baseline.shape)} does not broadcast to images {list(images.shape)}"
            ) from None
        if not bool(torch.isfinite(baseline).all()):
            raise ValueError("baseline contains NaN or inf values")
    gt = torch.where(vis[..., None], gt, torch.zeros_like(gt))  # unlabelled joints: any finite place
    return gt, vis, images


class _Target:
    """Model output -> per-joint PoseIG target ``exp(-0.3 * distance)`` [N, J]."""

    def __init__(self, readout: Any, gt: Tensor, image_size: tuple[int, int], codec: str) -> None:
        self.readout = readout
        self.gt = gt  # [B, J, 2] input pixels
        self.image_size = image_size
        self.codec = codec
        self.gt_units: Tensor | None = None

    def keypoints(self, out: Any, n: int) -> Tensor:
        """Read-out in distance units: heatmap pixels (PoseIG) or, with a readout, input pixels."""
        if not isinstance(out, Tensor):
            raise TypeError(f"model_fn must return a torch.Tensor, got {type(out).__name__}")
        j = self.gt.shape[1]
        if self.readout is None:
            if out.dim() != 4 or out.shape[0] != n:
                raise ValueError(
                    f"model_fn must return heatmaps [N={n}, J, h, w] (or pass readout=), got "
                    f"{list(out.shape)}"
                )
            kp = soft_argmax(out)
            if self.gt_units is None:
                stride = heatmap_stride(self.codec, self.image_size, (out.shape[3], out.shape[2]))
                self.gt_units = self.gt / stride.to(self.gt)
        else:
            kp = out if self.readout == "keypoints" else self.readout(out)
            if not isinstance(kp, Tensor) or kp.dim() != 3 or kp.shape[0] != n or kp.shape[2] != 2:
                raise ValueError(
                    f"the readout must give keypoints [N={n}, J, 2], got "
                    f"{list(kp.shape) if isinstance(kp, Tensor) else type(kp).__name__}"
                )
            self.gt_units = self.gt
        if kp.shape[1] != j:
            raise ValueError(f"the model gives {kp.shape[1]} joints but gt_keypoints has J={j}")
        return kp

    def __call__(self, out: Any, n: int) -> Tensor:
        kp = self.keypoints(out, n)
        assert self.gt_units is not None
        gt = self.gt_units.repeat(n // self.gt_units.shape[0], 1, 1).to(kp.dtype)
        return torch.exp(-POSEIG_DECAY * torch.linalg.vector_norm(kp - gt, dim=-1))


def _default_chunk(images: Tensor) -> int:
    budget = 64 if images.device.type == "cuda" else 8  # samples per forward pass
    return max(1, budget // images.shape[0])


def integrated_gradients(
    model_fn: Callable[[Tensor], Tensor],
    images: Tensor,
    gt_keypoints: Tensor,
    *,
    steps: int = 50,
    path: str = "blur",
    baseline: Tensor | None = None,
    readout: Callable[[Tensor], Tensor] | str | None = None,
    raw: bool = False,
    visible: Tensor | None = None,
    codec: Any = None,
    chunk_size: int | None = None,
    batched: bool | None = None,
) -> Tensor:
    """PoseIG attribution maps of every joint.

    Args:
        model_fn: ``model_fn(images [N, 3, H, W]) -> heatmaps [N, J, h, w]`` (any differentiable torch
            callable; an ``nn.Module`` must be in eval mode, since path points are batched together).
        images: [B, 3, H, W] float, the model's input (e.g. ImageNet-normalised crops).
        gt_keypoints: [B, J, 2] ground-truth (x, y) in input-image pixels.
        steps: path steps (PoseIG: 50).
        path: ``"blur"`` (PoseIG: from the image blurred by a 31x31 Gaussian of sigma 19 to the image,
            sigma linear in the step) or ``"linear"`` (straight line from ``baseline``).
        baseline: start of the linear path, broadcastable to ``images``; default zeros.
        readout: None: the model gives heatmaps, read out by PoseIG's soft-argmax (temperature 10) and
            compared with the ground truth in heatmap pixels (the input pixels divided by the codec's
            stride) as PoseIG does; ``"keypoints"``: the model itself gives keypoints [N, J, 2] in input
            pixels; a callable: ``readout(model_output) -> keypoints [N, J, 2]`` in input pixels. With a
            keypoint read-out the distance is in input pixels (PoseIG's ``regression_back_func``).
        raw: return the signed per-channel attributions ``[B, J, 3, H, W]``, the left Riemann sum
            ``sum_i grad target_j(x_i) * (x_{i+1} - x_i)``: their total approaches
            ``target_j(image) - target_j(path start)`` as ``steps`` grows. (PoseIG's sum carries an extra
            factor ``steps`` that its normalisation removes.)
        visible: optional [B, J]; joints with 0 get all-zero maps and their ground truth is not checked.
        codec: ``"udp"`` / ``"msra"`` (or an object with ``.method``): the heatmap stride convention;
            default ``model_fn.codec`` when it has one, else ``"udp"`` (hpefast's).
        chunk_size: path steps per forward / batched backward (default: 8 // B on CPU, 64 // B on CUDA);
            halved automatically on a CUDA out-of-memory error.
        batched: True: each step's J gradients from one batched backward (vmap over one-hot cotangents);
            False: one backward per joint (input gradients only); the same numbers either way. None
            (default): batched on CUDA, per joint on the CPU, where the batched backward measured 1.3x
            slower (ViTPose-S, batch 8: benchmarks/RESULTS.md). An op without a vmap rule switches to
            per joint by itself, with a warning.

    Returns:
        [B, J, H, W] attribution maps: summed over RGB, absolute, divided by each map's maximum (values in
        [0, 1]; an all-zero map stays zero). With ``raw=True``: [B, J, 3, H, W] signed.

    Raises:
        TypeError / ValueError naming the argument: shapes, batch mismatch, NaN, ground truth outside
        the image, a model in training mode, a model output that does not depend differentiably on the
        images.

    Example:
        >>> maps = integrated_gradients(model.eval(), crops, gt_crop_px)  # [B, 17, 256, 192]
    """
    gt, vis, images = _check_inputs(images, gt_keypoints, visible, steps, path, baseline)
    if isinstance(model_fn, nn.Module) and model_fn.training:
        raise ValueError("model_fn is in training mode: call model.eval() (path steps are batched together)")
    if readout is not None and readout != "keypoints" and not callable(readout):
        raise TypeError(f"readout must be None, 'keypoints' or a callable, got {readout!r}")
    PathPoints.check_size(images, path)
    codec_name = _codec_name(codec, model_fn)
    b, c, h, w = images.shape
    j = gt.shape[1]
    target_fn = _Target(readout, gt, (w, h), codec_name)
    points = PathPoints(images.detach(), steps, path, baseline)
    chunk = _default_chunk(images) if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    total = torch.zeros(j, b, c, h, w, dtype=images.dtype, device=images.device)
    batched = images.device.type == "cuda" if batched is None else bool(batched)
    i0 = 0
    while i0 < steps:
        i1 = min(i0 + chunk, steps)
        try:
            grads, batched = _chunk_gradients(model_fn, target_fn, points, i0, i1, j, batched)
        except torch.OutOfMemoryError:
            if chunk == 1:
                raise
            chunk = max(1, chunk // 2)
            continue
        total += grads
        i0 = i1
    out = total.permute(1, 0, 2, 3, 4)  # [B, J, C, H, W]
    out = out * vis[:, :, None, None, None].to(out.dtype)
    if raw:
        return out.contiguous()
    mag = out.sum(2).abs()
    peak = mag.amax(dim=(-1, -2), keepdim=True)
    safe = torch.where(peak > 0, peak, torch.ones_like(peak))
    return torch.where(peak > 0, mag / safe, torch.zeros_like(mag))


def _chunk_gradients(
    model_fn: Callable[[Tensor], Tensor],
    target_fn: _Target,
    points: PathPoints,
    i0: int,
    i1: int,
    j: int,
    batched: bool,
) -> tuple[Tensor, bool]:
    """Sum over path steps i0..i1-1 of grad target(x_i) * dx_i, [J, B, C, H, W]."""
    x, dx = points.points(i0, i1)  # [S, B, C, H, W]
    s, b = x.shape[:2]
    n = s * b
    xin = x.reshape(n, *x.shape[2:]).requires_grad_(True)
    with torch.enable_grad():
        out = model_fn(xin)
        target = target_fn(out, n)  # [N, J]
        if not target.requires_grad:
            raise ValueError(
                "model_fn's output does not depend differentiably on the images (no autograd graph: is it "
                "run under torch.no_grad / inference_mode, detached, or not a torch computation?)"
            )
        if not bool(torch.isfinite(target).all()):
            raise ValueError(f"model_fn gives NaN/inf outputs on path steps {i0}..{i1 - 1}")
        grads = None
        if batched:
            eye = torch.eye(j, dtype=target.dtype, device=target.device)
            cot = eye[:, None, :].expand(j, n, j)  # one one-hot cotangent per joint
            try:
                (grads,) = torch.autograd.grad(target, xin, cot, is_grads_batched=True, allow_unused=True)
            except RuntimeError as exc:  # an op without a vmap rule: loop over joints instead
                warnings.warn(
                    f"batched backward failed ({str(exc).splitlines()[0][:160]}); falling back to one "
                    "backward per joint",
                    RuntimeWarning,
                    stacklevel=3,
                )
                batched = False
                target = target_fn(model_fn(xin), n)  # that backward freed the graph: forward again
        if not batched:
            per_joint = []
            for k in range(j):
                (g,) = torch.autograd.grad(target[:, k].sum(), xin, retain_graph=k < j - 1, allow_unused=True)
                if g is None:
                    break
                per_joint.append(g)
            grads = torch.stack(per_joint) if len(per_joint) == j else None
    if grads is None:
        raise ValueError("model_fn's output does not depend on the images (the gradient is None)")
    grads = torch.where(torch.isnan(grads), torch.zeros_like(grads), grads)  # as PoseIG: NaN -> 0
    grads = grads.reshape(j, s, b, *grads.shape[2:])
    return (grads * dx.unsqueeze(0)).sum(1), batched
