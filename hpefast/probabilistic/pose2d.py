"""Small 2D pose models for studies: crops from boxes, a deterministic ViTPose and a probabilistic one
(:class:`~hpefast.probabilistic.ProbabilisticPoseModel`) trained on the same crops with the same budget,
and their predictions mapped back to image pixels (with covariances for the probabilistic model).

Crops follow the top-down convention of :mod:`hpefast.data.transforms` (box -> centre/scale with
padding 1.25, UDP warp, ImageNet normalisation). Heatmaps use the UDP codec, so a heatmap pixel maps to
crop pixels by ``(S - 1) / (s - 1)``; a crop pixel maps to image pixels by ``scale / (S - 1)`` (no rotation),
hence covariances map by the squares of these factors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hpefast.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    box_to_center_scale,
    crop_to_image,
    get_udp_warp_matrix,
    image_to_crop,
    warp_image,
)

__all__ = [
    "Crops",
    "boxes_from_keypoints",
    "build_2d_model",
    "joint_uncertainty",
    "make_crops",
    "predict_2d",
    "sample_hypotheses",
    "train_2d",
]


@dataclass
class Crops:
    """Person crops and their geometry.

    images: [N, S, S, 3] uint8 BGR crops; center, scale: [N, 2] image pixels (``box_to_center_scale``);
    keypoints: [N, J, 2] crop pixels (None when unknown); size: S.
    """

    images: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    keypoints: np.ndarray | None
    size: int

    def __len__(self) -> int:
        return len(self.images)


def boxes_from_keypoints(kp2d: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """[N, J, 2] image pixels -> [N, 4] COCO boxes (x, y, w, h) around the joints, ``margin`` of the size
    added on each side (a ground-truth box, as Human3.6M protocols use)."""
    lo, hi = kp2d.min(axis=1), kp2d.max(axis=1)
    wh = np.maximum(hi - lo, 1.0)
    lo = lo - margin * wh
    return np.concatenate([lo, wh * (1 + 2 * margin)], axis=1)


def make_crops(
    frames: Sequence[np.ndarray] | Callable[[int], np.ndarray],
    boxes: np.ndarray,
    size: int = 64,
    keypoints: np.ndarray | None = None,
    num: int | None = None,
) -> Crops:
    """Warp ``frames`` (BGR uint8 images, or a callable ``i -> image``) to square crops around ``boxes``.

    Args:
        frames: N images [H, W, 3] uint8, or a loader ``frames(i)``.
        boxes: [N, 4] COCO boxes, image pixels.
        size: crop side S (pixels).
        keypoints: optional [N, J, 2] image pixels, returned in crop pixels.
        num: N when ``frames`` is a callable (default len(boxes)).
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape [N, 4], got {list(boxes.shape)}")
    n = len(boxes) if num is None else num
    center, scale = box_to_center_scale(boxes[:n], aspect_ratio=1.0, padding=1.25)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = frames(i) if callable(frames) else frames[i]
        m = get_udp_warp_matrix(center[i], scale[i], 0.0, (size, size))
        out[i] = warp_image(img, m, (size, size))
    kp = None
    if keypoints is not None:
        kp = np.asarray(image_to_crop(np.asarray(keypoints[:n], np.float64), center, scale, (size, size)))
    return Crops(out, center, scale, kp, size)


_MEAN = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
_STD = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)


def _to_input(images_u8: np.ndarray) -> Tensor:
    """[B, S, S, 3] uint8 BGR -> [B, 3, S, S] float32 RGB, ImageNet-normalised."""
    x = torch.from_numpy(np.ascontiguousarray(images_u8[..., ::-1])).permute(0, 3, 1, 2).float() / 255.0
    return (x - _MEAN) / _STD


# A ViTPose smaller than "tiny" (patch 8, 64-d, 2 blocks, 150k parameters): trains in minutes on 2 CPU cores.
MICRO_VIT = {"embed_dim": 64, "depth": 2, "num_heads": 2, "deconv_channels": 32}


def build_2d_model(
    kind: str, num_joints: int, size: int, seed: int, beta: float = 20.0, layout: str = "h36m"
) -> torch.nn.Module:
    """A micro ViTPose (:data:`MICRO_VIT`, ``kind="deterministic"``) or the same wrapped as a
    ProbabilisticPoseModel (``kind="probabilistic"``), seeded."""
    from hpefast.models import build_model
    from hpefast.probabilistic.model import ProbabilisticPoseModel

    torch.manual_seed(seed)
    pose = build_model("tiny", num_keypoints=num_joints, layout=layout, image_size=(size, size), **MICRO_VIT)
    if kind == "deterministic":
        return pose
    if kind != "probabilistic":
        raise ValueError(f"kind must be 'deterministic' or 'probabilistic', got {kind!r}")
    return ProbabilisticPoseModel(pose, latent_dim=64, beta=beta, hidden=(256,))


def train_2d(
    crops: Crops,
    kind: str,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    prob_loss: str = "nll",
    prob_weight: float = 1e-3,
    beta: float = 20.0,
    log: Callable[[str], None] | None = None,
) -> torch.nn.Module:
    """Train a 2D model on ``crops`` (with keypoints) for ``steps`` AdamW steps (cosine lr).

    The deterministic model learns the heatmap MSE (``union_heatmap_loss``); the probabilistic one the
    same heatmap loss plus ``prob_weight *`` ``prob_loss`` on its soft-argmax means (heatmap pixels). Both
    see the same batches (same seed) and budget.
    """
    from hpefast.ops import encode_heatmaps, union_heatmap_loss

    if crops.keypoints is None:
        raise ValueError("crops.keypoints is needed for training")
    model = build_2d_model(kind, crops.keypoints.shape[1], crops.size, seed, beta)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)
    rng = np.random.default_rng(seed)
    s, hs = crops.size, crops.size // 4
    stride = (s - 1) / (hs - 1)
    t0 = time.perf_counter()
    for step in range(steps):
        idx = rng.integers(0, len(crops), batch_size)
        images = _to_input(crops.images[idx])
        kp = torch.from_numpy(crops.keypoints[idx]).float()
        inside = ((kp >= 0) & (kp <= s - 1)).all(-1).float()
        targets, weights = encode_heatmaps(kp, inside, (s, s), (hs, hs), sigma=2.0, method="udp")
        if kind == "deterministic":
            loss = union_heatmap_loss(model(images), targets, weights)
            parts = {"heatmap": float(loss.detach())}
        else:
            out = model(images)
            loss, parts = model.loss(
                out, targets, weights, kp / stride, inside, kind=prob_loss, prob_weight=prob_weight
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        if log is not None and (step % max(steps // 5, 1) == 0 or step == steps - 1):
            msg = " ".join(f"{k}={v:.4g}" for k, v in parts.items())
            log(f"  2d {kind} step {step + 1}/{steps} {msg} ({time.perf_counter() - t0:.0f}s)")
    model.eval()
    return model


@torch.no_grad()
def _forward_batches(model: torch.nn.Module, crops: Crops, batch_size: int):
    for i in range(0, len(crops), batch_size):
        yield i, model(_to_input(crops.images[i : i + batch_size]))


def predict_2d(
    model: torch.nn.Module,
    crops: Crops,
    batch_size: int = 64,
    tic: bool = False,
    decoder: str = "soft_argmax",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions in image pixels: (mean [N, J, 2], covariance [N, 2J, 2J] or None).

    Deterministic ViTPose: DARK-UDP decoding of the heatmaps. Probabilistic model: soft-argmax means
    (``decoder="dark_udp"``: its heatmaps decoded as the deterministic model's are) and ``L L^T`` (or TIC's
    ``eps J J^T + L L^T`` with ``tic``), mapped to image pixels (x scaled by ``stride * scale_x / (S - 1)``,
    y likewise; covariances by the products of the factors).
    """
    if decoder not in ("soft_argmax", "dark_udp"):
        raise ValueError(f"decoder must be 'soft_argmax' or 'dark_udp', got {decoder!r}")
    from hpefast.ops import decode_heatmaps
    from hpefast.probabilistic.model import ProbabilisticPoseModel

    s = crops.size
    stride = (s - 1) / (s // 4 - 1)
    means, covs = [], []
    prob = isinstance(model, ProbabilisticPoseModel)
    model.eval()
    for i, out in _forward_batches(model, crops, batch_size):
        sl = slice(i, i + len(out.heatmaps if prob else out))
        if not prob:
            kp, _ = decode_heatmaps(out.contiguous(), (s, s), method="dark_udp")
            means.append(crop_to_image(kp.double().numpy(), crops.center[sl], crops.scale[sl], (s, s)))
            continue
        if decoder == "dark_udp":
            kp = decode_heatmaps(out.heatmaps.contiguous(), (s, s), method="dark_udp")[0].double()
        else:
            kp = out.keypoints.double() * stride
        means.append(crop_to_image(kp.numpy(), crops.center[sl], crops.scale[sl], (s, s)))
        with torch.enable_grad():
            cov = out.covariance(model.keypoint_jacobian(out) if tic else None).double()
        f = torch.from_numpy(crops.scale[sl] / (s - 1) * stride)  # [b, 2] heatmap px -> image px
        fv = f.repeat(1, cov.shape[-1] // 2)  # x0, y0, x1, y1, ...
        covs.append((cov * fv[:, :, None] * fv[:, None, :]).numpy())
    mean = np.concatenate(means)
    return mean, (np.concatenate(covs) if prob else None)


def sample_hypotheses(mean: np.ndarray, cov: np.ndarray, num: int, seed: int = 0) -> np.ndarray:
    """``num`` draws of N(mean, cov) per frame: [num, N, J, 2] (jitter 1e-6 * mean variance if needed)."""
    n, j, _ = mean.shape
    c = torch.from_numpy(cov)
    chol, info = torch.linalg.cholesky_ex(c)
    if bool((info > 0).any()):
        jit = 1e-6 * torch.diagonal(c, dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)
        chol = torch.linalg.cholesky(c + jit[:, None, None] * torch.eye(2 * j, dtype=c.dtype))
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(num, n, 2 * j, 1, generator=g, dtype=chol.dtype)
    draws = (chol[None] @ z).squeeze(-1).reshape(num, n, j, 2)
    return mean[None] + draws.numpy()


def joint_uncertainty(cov: np.ndarray) -> np.ndarray:
    """[N, 2J, 2J] -> [N, J] sqrt(trace of each joint's 2x2 block): the joint's RMS 2D spread (pixels)."""
    d = np.diagonal(cov, axis1=-2, axis2=-1)
    return np.sqrt(d[:, 0::2] + d[:, 1::2])
