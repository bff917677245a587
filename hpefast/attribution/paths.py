"""Integration paths of integrated gradients: PoseIG's Gaussian-blur path and the straight line.

A path is a sequence of ``steps + 1`` points ``x_0 .. x_steps`` from a baseline ``x_0`` to the image
``x_steps = x``. Integrated gradients take the left Riemann sum ``sum_i grad f(x_i) * (x_{i+1} - x_i)``
over ``i = 0 .. steps - 1`` (the rule PoseIG's ``compute_poseig`` uses), so the sum of the attributions is
``f(x) - f(x_0)`` up to the discretisation error.

Blur path (PoseIG, ``lib/poseig_tools/path.py`` ``batch_gaussian_path`` in QY-H00/PoseIG-Template):
``x_i`` is the image blurred by a ``31 x 31`` isotropic Gaussian of standard deviation
``sigma_i = linspace(19, 0, steps + 1)[i]`` (plus PoseIG's epsilon 1e-5, so the last kernel is a delta and
``x_steps`` is the image itself), reflect padding, each colour channel alone. PoseIG convolves with the
2-D kernel (and with the kernel difference times ``steps`` for the derivative); the kernel is an outer
product, so here it is applied as two 1-D passes (all steps of a chunk in two conv calls), and the
kernel difference as two separable terms (the same numbers up to rounding, without the factor ``steps``
that PoseIG's max-normalisation removes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "BLUR_KERNEL",
    "BLUR_SIGMA",
    "BLUR_EPSILON",
    "gaussian_kernel_1d",
    "blur",
    "separable_filters",
    "PathPoints",
]

BLUR_KERNEL = 31  # PoseIG batch_gaussian_path l
BLUR_SIGMA = 19.0  # PoseIG batch_gaussian_path sigma (the most blurred point)
BLUR_EPSILON = 1e-5  # PoseIG isotropic_gaussian_kernel epsilon


def gaussian_kernel_1d(size: int, sigma: float, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """Normalised 1-D factor ``g`` of PoseIG's ``isotropic_gaussian_kernel(size, sigma)``: the 2-D kernel
    is ``outer(g, g)``. Taps at ``arange(-size // 2 + 1, size // 2 + 1)`` (PoseIG's ``ax``)."""
    ax = torch.arange(-size // 2 + 1.0, size // 2 + 1.0, dtype=torch.float64)
    g = torch.exp(-(ax**2) / (2.0 * (float(sigma) + BLUR_EPSILON) ** 2))
    return (g / g.sum()).to(dtype)


def blur(images: Tensor, kernel_1d: Tensor) -> Tensor:
    """Depthwise separable blur with reflect padding: ``[N, C, H, W] -> [N, C, H, W]``. Equals PoseIG's
    ``torch_filter`` (2-D depthwise conv, ``padding_mode="reflect"``) with the kernel
    ``outer(kernel_1d, kernel_1d)``, for odd kernel sizes."""
    return separable_filters(images, kernel_1d[None], kernel_1d[None])[0]


def separable_filters(images: Tensor, vertical: Tensor, horizontal: Tensor) -> Tensor:
    """Filter the images with S separable kernels ``outer(vertical[s], horizontal[s])`` at once, each
    channel alone, reflect padding: ``[B, C, H, W], [S, L], [S, L] -> [S, B, C, H, W]`` (images' dtype)."""
    b, c, h, w = images.shape
    s, size = vertical.shape
    pad = (size - 1) // 2
    x = F.pad(images.reshape(b * c, 1, h, w), (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, horizontal.to(images).view(s, 1, 1, size))  # [BC, S, H + 2p, W]
    x = F.conv2d(x, vertical.to(images).view(s, 1, size, 1), groups=s)  # [BC, S, H, W]
    return x.permute(1, 0, 2, 3).reshape(s, b, c, h, w)


class PathPoints:
    """The points of one integration path, made chunk by chunk so that only the points in use are held.

    ``points(i0, i1)`` returns ``(x [i1 - i0, B, C, H, W], dx [i1 - i0, B, C, H, W])`` with
    ``x[k] = x_{i0+k}`` and ``dx[k] = x_{i0+k+1} - x_{i0+k}``, in the dtype of the images.
    """

    def __init__(self, images: Tensor, steps: int, kind: str, baseline: Tensor | None) -> None:
        self.images = images
        self.steps = steps
        self.kind = kind
        if kind == "blur":
            sigmas = torch.linspace(BLUR_SIGMA, 0.0, steps + 1, dtype=torch.float64)
            self.kernels = torch.stack([gaussian_kernel_1d(BLUR_KERNEL, float(s)) for s in sigmas.tolist()])
        else:
            base = torch.zeros_like(images) if baseline is None else baseline.to(images).expand_as(images)
            self.baseline = base
            self.delta = (images - base) / steps

    def points(self, i0: int, i1: int) -> tuple[Tensor, Tensor]:
        dtype = self.images.dtype
        if self.kind == "blur":
            # x_{i+1} - x_i without cancellation: outer(g', g') - outer(g, g)
            # = outer(g' - g, g') + outer(g, g' - g), the kernel difference taken in float64.
            g = self.kernels[i0 : i1 + 1]  # [S + 1, L] float64
            dg = g[1:] - g[:-1]
            x = separable_filters(self.images, g[:-1], g[:-1])
            dx = separable_filters(self.images, dg, g[1:]) + separable_filters(self.images, g[:-1], dg)
            return x, dx
        ts = torch.arange(i0, i1, dtype=dtype, device=self.images.device) / self.steps
        x = self.baseline + ts.view(-1, 1, 1, 1, 1) * (self.images - self.baseline)
        return x, self.delta.expand(i1 - i0, *self.delta.shape)

    @staticmethod
    def check_size(images: Tensor, kind: str) -> None:
        """The blur path pads by ``BLUR_KERNEL // 2`` (reflect), which needs images larger than that."""
        if kind == "blur":
            pad = BLUR_KERNEL // 2
            h, w = images.shape[-2:]
            if h <= pad or w <= pad:
                raise ValueError(
                    f"images {h}x{w}: the blur path's {BLUR_KERNEL}x{BLUR_KERNEL} kernel (reflect padding "
                    f"{pad}) needs images of at least {pad + 1} pixels a side; use path='linear'"
                )
