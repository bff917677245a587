"""Batched top-down crops: boxes -> UDP affine crops -> ImageNet-normalised RGB network input.

Two implementations of one geometry (``hpefast.data.transforms.get_udp_warp_matrix``):

- ``crop_cv2``: ``cv2.warpAffine`` per box on the host, bilinear, black border: exactly the crops the
  training / evaluation pipeline makes (``hpefast.data.transforms.warp_image`` + ``to_tensor``).
- ``crop_torch``: one ``grid_sample`` for all boxes on the image's device (the GPU path: the image goes
  to the device once as uint8, nothing comes back). Same sampling points; values differ from cv2 by
  cv2's fixed-point interpolation (a fraction of a grey level).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from hpefast.data.transforms import IMAGENET_MEAN, IMAGENET_STD, get_udp_warp_matrix

_MEAN255 = tuple(m * 255.0 for m in IMAGENET_MEAN)
_INV_STD255 = tuple(1.0 / (s * 255.0) for s in IMAGENET_STD)


def warp_matrices(center: np.ndarray, scale: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """[N, 2, 3] float64 image -> crop matrices for centres / scales [N, 2] (pixels), crop (W, H)."""
    return np.stack([get_udp_warp_matrix(c, s, 0.0, input_size) for c, s in zip(center, scale)]).reshape(
        -1, 2, 3
    )


def normalize(crops: torch.Tensor, channel_order: str) -> torch.Tensor:
    """[N, H, W, 3] uint8 (or [N, 3, H, W] float 0..255 when already channels-first) -> [N, 3, H, W]
    float32 RGB, ``(x - 255 mean) / (255 std)`` in the order ``to_tensor`` uses."""
    if crops.dtype == torch.uint8:
        crops = crops.permute(0, 3, 1, 2)
    x = crops.float()
    if channel_order == "bgr":
        x = x.flip(1)
    mean = torch.tensor(_MEAN255, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    inv_std = torch.tensor(_INV_STD255, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) * inv_std).contiguous()


def crop_cv2(
    image: np.ndarray, matrices: np.ndarray, input_size: tuple[int, int], channel_order: str
) -> torch.Tensor:
    """Host crops: image [H, W, 3] uint8, matrices [N, 2, 3] -> [N, 3, h, w] float32 CPU tensor."""
    w, h = input_size
    out = np.empty((len(matrices), h, w, 3), dtype=np.uint8)
    for i, m in enumerate(matrices):
        cv2.warpAffine(image, m, (w, h), dst=out[i], flags=cv2.INTER_LINEAR, borderValue=0)
    return normalize(torch.from_numpy(out), channel_order)


def image_to_device(image: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """[H, W, 3] uint8 -> [1, 3, H, W] float32 on ``device`` (uploaded as uint8: 4x less traffic)."""
    t = torch.from_numpy(image) if isinstance(image, np.ndarray) else image
    t = t.to(device, non_blocking=True)
    return t.permute(2, 0, 1).unsqueeze(0).float()


def crop_torch(
    image: torch.Tensor, matrices: np.ndarray, input_size: tuple[int, int], channel_order: str
) -> torch.Tensor:
    """Device crops with one ``grid_sample``: image [1, 3, H, W] float 0..255 on the device (see
    :func:`image_to_device`), matrices [N, 2, 3] image -> crop -> [N, 3, h, w] float32 on that device.

    Crop pixel (u, v) samples image point ``inv(M) @ (u, v, 1)``; with ``align_corners=False`` pixel
    centre x sits at normalised ``(2x + 1) / W - 1``. Bilinear, zeros outside (cv2's black border).
    """
    w, h = input_size
    n = len(matrices)
    img_h, img_w = image.shape[-2:]
    inv = np.stack([cv2.invertAffineTransform(m) for m in matrices]).reshape(n, 2, 3)
    # Fold the pixel -> normalised-coordinate map into the matrices (float64 on the host, tiny).
    norm = np.array([[2.0 / img_w, 0.0, 1.0 / img_w - 1.0], [0.0, 2.0 / img_h, 1.0 / img_h - 1.0]])
    theta = np.einsum("ij,njk->nik", norm[:, :2], inv)
    theta[:, :, 2] += norm[:, 2]
    theta_t = torch.from_numpy(theta).to(device=image.device, dtype=torch.float32, non_blocking=True)
    u = torch.arange(w, device=image.device, dtype=torch.float32)
    v = torch.arange(h, device=image.device, dtype=torch.float32)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    base = torch.stack([uu, vv, torch.ones_like(uu)], -1)  # [h, w, 3]
    grid = torch.einsum("hwk,nik->nhwi", base, theta_t)  # [N, h, w, 2]
    # All boxes in one call: one image, a grid of N stacked crops.
    out = F.grid_sample(
        image, grid.reshape(1, n * h, w, 2), mode="bilinear", padding_mode="zeros", align_corners=False
    )
    crops = out.view(3, n, h, w).permute(1, 0, 2, 3)
    return normalize(crops, channel_order)
