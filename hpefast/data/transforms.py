"""Top-down geometry: box -> centre/scale, the UDP affine warp, its exact inverse, and augmentation.

Conventions (DESIGN.md): keypoints (x, y) in pixels with pixel centres at integers; sizes (W, H);
centre and scale IN PIXELS (the box after padding and aspect fix, not mmpose's /200 units).

The warp is mmpose's ``get_udp_warp_matrix`` (Huang et al., "The Devil is in the Details: Delving into
Unbiased Data Processing for Human Pose Estimation", CVPR 2020): the box edge ``cx - sw/2`` lands on crop
pixel 0 and ``cx + sw/2`` on crop pixel ``W - 1``; the centre lands on ((W-1)/2, (H-1)/2). A rotation of
``rot`` degrees turns the image content about the box centre, as in mmpose. :func:`crop_to_image` is its
exact inverse (the decoder output goes through it at evaluation).

Horizontal flip is composed into the same matrix as x' = (W - 1) - x in crop pixels (the UDP flip),
so image and keypoints always see one identical warp and a single ``cv2.warpAffine`` call.
Keypoints that leave the crop keep their label; the heatmap encoder gives them weight 0 when their
Gaussian falls wholly outside the map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "box_to_center_scale",
    "get_udp_warp_matrix",
    "flip_matrix",
    "apply_affine",
    "image_to_crop",
    "crop_to_image",
    "warp_image",
    "to_tensor",
    "half_body_center_scale",
    "TopDownAugment",
    "Sample",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _size(size: Sequence[int], name: str) -> tuple[int, int]:
    if len(size) != 2 or int(size[0]) < 2 or int(size[1]) < 2:
        raise ValueError(f"{name} must be (W, H) with both >= 2, got {tuple(size)}")
    return int(size[0]), int(size[1])


def box_to_center_scale(
    box: np.ndarray | Sequence[float], aspect_ratio: float = 192 / 256, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """COCO box(es) -> crop centre and scale in pixels.

    Args:
        box: [4] or [N, 4] (x, y, w, h) pixels.
        aspect_ratio: W / H of the network input (default 192 / 256); the shorter side of the box is
            enlarged to match.
        padding: enlargement of both sides (1.25 in HRNet / ViTPose).
    Returns:
        center [2] or [N, 2] = (x + w/2, y + h/2); scale [2] or [N, 2] = padded, aspect-fixed (w, h).

    >>> box_to_center_scale([0, 0, 30, 40], aspect_ratio=0.75)[1]
    array([37.5, 50. ])
    """
    b = np.asarray(box, dtype=np.float64)
    if b.shape[-1] != 4 or b.ndim not in (1, 2):
        raise ValueError(f"box must be [4] or [N, 4] (x, y, w, h), got shape {b.shape}")
    if not aspect_ratio > 0:
        raise ValueError(f"aspect_ratio must be > 0, got {aspect_ratio}")
    x, y, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    center = np.stack([x + 0.5 * w, y + 0.5 * h], axis=-1)
    wide = w > aspect_ratio * h
    w, h = np.where(wide, w, h * aspect_ratio), np.where(wide, w / aspect_ratio, h)
    scale = np.stack([w, h], axis=-1) * padding
    return center, scale


def get_udp_warp_matrix(
    center: Sequence[float], scale: Sequence[float], rot_deg: float, output_size: Sequence[int]
) -> np.ndarray:
    """[2, 3] float64 affine matrix mapping image pixels to crop pixels (mmpose ``get_udp_warp_matrix``).

    x' = sx * ( cos r (x - cx) - sin r (y - cy) + sw / 2),  sx = (W - 1) / sw
    y' = sy * ( sin r (x - cx) + cos r (y - cy) + sh / 2),  sy = (H - 1) / sh
    """
    cx, cy = (float(v) for v in center)
    sw, sh = (float(v) for v in scale)
    if not (sw > 0 and sh > 0):
        raise ValueError(f"scale must be positive, got {(sw, sh)}")
    out_w, out_h = _size(output_size, "output_size")
    r = math.radians(float(rot_deg))
    c, s = math.cos(r), math.sin(r)
    sx, sy = (out_w - 1) / sw, (out_h - 1) / sh
    return np.array(
        [
            [c * sx, -s * sx, sx * (-c * cx + s * cy + 0.5 * sw)],
            [s * sy, c * sy, sy * (-s * cx - c * cy + 0.5 * sh)],
        ],
        dtype=np.float64,
    )


def flip_matrix(output_size: Sequence[int]) -> np.ndarray:
    """[2, 3] crop-space horizontal flip x' = (W - 1) - x (UDP: pixel centres at integers)."""
    out_w, _ = _size(output_size, "output_size")
    return np.array([[-1.0, 0.0, out_w - 1.0], [0.0, 1.0, 0.0]])


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Affine a after b (both [2, 3])."""
    return a[:, :2] @ b + np.concatenate([np.zeros((2, 2)), a[:, 2:]], axis=1)


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a [2, 3] affine matrix to points [..., 2] (float64 math, input dtype kept for floats)."""
    p = np.asarray(points)
    out = p.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    return out.astype(p.dtype) if np.issubdtype(p.dtype, np.floating) else out


def _as_pair(v, like):
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(v, dtype=like.dtype, device=like.device)
    return np.asarray(v, dtype=np.float64)


def image_to_crop(keypoints, center, scale, input_size: Sequence[int], rotation=0.0):
    """Image pixels -> crop pixels: the UDP warp applied to points (numpy or torch).

    Args:
        keypoints: [..., K, 2] image pixels.
        center, scale: [..., 2] pixels (broadcast against the leading dims of keypoints).
        input_size: crop (W, H).
        rotation: degrees, scalar or [...].
    Returns: [..., K, 2] crop pixels, same library (numpy float64 math; torch keeps dtype/device).
    """
    w, h = _size(input_size, "input_size")
    lib = torch if isinstance(keypoints, torch.Tensor) else np
    kp = keypoints if lib is torch else np.asarray(keypoints, dtype=np.float64)
    c = _as_pair(center, kp)[..., None, :]
    s = _as_pair(scale, kp)[..., None, :]
    r = _as_pair(rotation, kp)
    rad = r * (math.pi / 180.0)
    cos, sin = lib.cos(rad)[..., None], lib.sin(rad)[..., None]
    dx, dy = kp[..., 0] - c[..., 0], kp[..., 1] - c[..., 1]
    u = cos * dx - sin * dy + 0.5 * s[..., 0]
    v = sin * dx + cos * dy + 0.5 * s[..., 1]
    return lib.stack([u * ((w - 1) / s[..., 0]), v * ((h - 1) / s[..., 1])], -1)


def crop_to_image(keypoints, center, scale, input_size: Sequence[int], rotation=0.0):
    """Crop pixels -> image pixels: the exact inverse of :func:`get_udp_warp_matrix` (numpy or torch).

    Args:
        keypoints: [..., K, 2] in crop pixels (e.g. decoder output).
        center, scale: [..., 2] pixels, broadcast against the leading dims of keypoints.
        input_size: crop (W, H).
        rotation: degrees, scalar or [...] (0 at evaluation).
    Returns: [..., K, 2] image pixels (numpy float64; torch keeps dtype and device).

    With rotation 0: x = cx - sw/2 + x' * sw / (W - 1).
    """
    w, h = _size(input_size, "input_size")
    lib = torch if isinstance(keypoints, torch.Tensor) else np
    kp = keypoints if lib is torch else np.asarray(keypoints, dtype=np.float64)
    c = _as_pair(center, kp)[..., None, :]
    s = _as_pair(scale, kp)[..., None, :]
    r = _as_pair(rotation, kp)
    u = kp[..., 0] * (s[..., 0] / (w - 1)) - 0.5 * s[..., 0]
    v = kp[..., 1] * (s[..., 1] / (h - 1)) - 0.5 * s[..., 1]
    if not (lib is np and np.all(r == 0)) and not (lib is torch and bool((r == 0).all())):
        rad = r * (math.pi / 180.0)
        cos, sin = lib.cos(rad)[..., None], lib.sin(rad)[..., None]
        u, v = cos * u + sin * v, -sin * u + cos * v
    return lib.stack([u + c[..., 0], v + c[..., 1]], -1)


def warp_image(image: np.ndarray, matrix: np.ndarray, output_size: Sequence[int]) -> np.ndarray:
    """cv2.warpAffine with bilinear sampling and a black border: [H, W, C] uint8 -> [h, w, C]."""
    out_w, out_h = _size(output_size, "output_size")
    return cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=0)


# Per-channel lookup table uint8 -> normalised float32, RGB order: one gather per channel does the colour
# swap, the HWC -> CHW transpose and the normalisation together (4x faster than the float arithmetic).
_LUT = (
    (np.arange(256, dtype=np.float64)[None, :] / 255.0 - np.array(IMAGENET_MEAN)[:, None])
    / np.array(IMAGENET_STD)[:, None]
).astype(np.float32)


def to_tensor(crop_bgr: np.ndarray) -> torch.Tensor:
    """[H, W, 3] uint8 BGR -> [3, H, W] float32 RGB, ImageNet-normalised: (x / 255 - mean) / std."""
    if crop_bgr.dtype != np.uint8 or crop_bgr.ndim != 3 or crop_bgr.shape[2] != 3:
        raise ValueError(f"to_tensor: expected [H, W, 3] uint8, got {crop_bgr.dtype} {crop_bgr.shape}")
    out = np.empty((3,) + crop_bgr.shape[:2], np.float32)
    for c in range(3):
        np.take(_LUT[c], crop_bgr[:, :, 2 - c], out=out[c])
    return torch.from_numpy(out)


def half_body_center_scale(
    keypoints: np.ndarray,
    labelled: np.ndarray,
    upper_body: Sequence[int],
    aspect_ratio: float,
    rng: np.random.Generator,
    padding: float = 1.5,
) -> tuple[np.ndarray, np.ndarray] | None:
    """HRNet/ViTPose half-body box: the upper or the lower body's labelled joints, x1.5, aspect fixed.

    Picks the upper body with probability 1/2 when it has > 2 labelled joints, else the lower body when it
    has > 2, else the upper. Returns None when fewer than 2 joints would remain.

    Args:
        keypoints: [K, 2] image pixels (x, y).
        labelled: [K] (> 0 = labelled).
        upper_body: indices of the upper-body joints of the schema.
        aspect_ratio: crop W / H.
        rng: source of the random choice.
        padding: the box of the chosen joints is enlarged by this factor.
    Returns: (center [2], scale [2]) in pixels, or None.
    """
    upper_set = set(int(i) for i in upper_body)
    lab = labelled > 0
    up = np.array([i for i in range(len(keypoints)) if lab[i] and i in upper_set], dtype=np.int64)
    lo = np.array([i for i in range(len(keypoints)) if lab[i] and i not in upper_set], dtype=np.int64)
    if rng.random() < 0.5 and len(up) > 2:
        sel = up
    elif len(lo) > 2:
        sel = lo
    else:
        sel = up
    if len(sel) < 2:
        return None
    pts = keypoints[sel]
    center = pts.mean(axis=0)
    w, h = pts.max(axis=0) - pts.min(axis=0)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    if w <= 0 or h <= 0:
        return None
    return center.astype(np.float64), np.array([w, h], dtype=np.float64) * padding


@dataclass
class Sample:
    """One transformed instance (before conversion to tensors)."""

    crop: np.ndarray  # [H, W, 3] uint8 BGR
    keypoints: np.ndarray  # [K, 2] float64 crop pixels
    center: np.ndarray  # [2] pixels (after augmentation)
    scale: np.ndarray  # [2] pixels
    rotation: float  # degrees
    flipped: bool
    matrix: np.ndarray  # [2, 3] image -> crop, flip included
    labelled: np.ndarray  # [K] labels, swapped like the keypoints after a flip


@dataclass
class TopDownAugment:
    """Random flip, half-body, scale and rotation (ViTPose/mmpose 0.x defaults), then the UDP warp.

    Attributes:
        input_size: crop (W, H).
        train: apply the random augmentation; when False only the deterministic warp is done.
        flip_prob: probability of a horizontal flip (joints swapped with the schema's flip index).
        half_body_prob / half_body_min_joints: half-body when more than ``half_body_min_joints`` joints
            are labelled (mmpose ``num_joints_half_body=8``, ``prob_half_body=0.3``).
        scale_factor: scale *= clip(1 + N(0, 1) * f, 1 - f, 1 + f).
        rot_factor / rot_prob: rotation = clip(N(0, 1) * f, -2f, 2f) degrees with probability rot_prob.
    """

    input_size: tuple[int, int] = (192, 256)
    train: bool = False
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8
    scale_factor: float = 0.5
    rot_factor: float = 40.0
    rot_prob: float = 0.6

    def __post_init__(self) -> None:
        self.input_size = _size(self.input_size, "input_size")

    def __call__(
        self,
        image: np.ndarray,
        center: np.ndarray,
        scale: np.ndarray,
        keypoints: np.ndarray,
        labelled: np.ndarray,
        flip_index: Sequence[int] | None = None,
        upper_body: Sequence[int] | None = None,
        rng: np.random.Generator | None = None,
    ) -> Sample:
        """Warp one instance. keypoints [K, 2] image pixels, labelled [K]; returns crop keypoints [K, 2]
        in the same joint order as the input (after a flip, swapped through ``flip_index``)."""
        center = np.asarray(center, dtype=np.float64).copy()
        scale = np.asarray(scale, dtype=np.float64).copy()
        rot, flipped = 0.0, False
        if self.train:
            rng = rng if rng is not None else np.random.default_rng()
            aspect = self.input_size[0] / self.input_size[1]
            if (
                upper_body
                and self.half_body_prob > 0
                and int(np.sum(labelled > 0)) > self.half_body_min_joints
                and rng.random() < self.half_body_prob
            ):
                hb = half_body_center_scale(keypoints, labelled, upper_body, aspect, rng)
                if hb is not None:
                    center, scale = hb
            if self.scale_factor > 0:
                f = self.scale_factor
                scale = scale * float(np.clip(1.0 + rng.standard_normal() * f, 1.0 - f, 1.0 + f))
            if self.rot_factor > 0 and rng.random() <= self.rot_prob:
                f = self.rot_factor
                rot = float(np.clip(rng.standard_normal() * f, -2.0 * f, 2.0 * f))
            flipped = flip_index is not None and rng.random() < self.flip_prob
        matrix = get_udp_warp_matrix(center, scale, rot, self.input_size)
        labelled = np.asarray(labelled)
        if flipped:
            matrix = _compose(flip_matrix(self.input_size), matrix)
        kp = apply_affine(np.asarray(keypoints, dtype=np.float64), matrix)
        if flipped:
            order = list(flip_index)
            kp, labelled = kp[order], labelled[order]
        crop = warp_image(image, matrix, self.input_size)
        return Sample(crop, kp, center, scale, rot, flipped, matrix, labelled)
