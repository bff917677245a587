"""Shared by test_export.py and test_predictor.py: a tiny random ViTPose with realistic heatmap magnitudes,
and the well-posedness mask that makes decoded-keypoint comparisons on random weights meaningful."""

from __future__ import annotations

import numpy as np
import torch

from hpefast.models import build_model
from hpefast.ops import decode_heatmaps

INPUT_SIZE = (96, 128)  # (W, H): heatmaps 24 x 32


def lively_model(seed: int = 0, **kwargs) -> torch.nn.Module:
    """A tiny ViTPose with random weights whose heatmaps have O(1) values (the default init gives ~1e-3,
    which would make absolute tolerances meaningless)."""
    torch.manual_seed(seed)
    model = build_model("tiny", image_size=INPUT_SIZE, **kwargs).eval()
    with torch.no_grad():
        for dec in model.head.decoders:
            dec.final_layer.weight.mul_(1000.0)
            dec.final_layer.bias.normal_(0.0, 0.05)
    return model


def well_posed(heatmaps: torch.Tensor, input_size: tuple[int, int] = INPUT_SIZE) -> np.ndarray:
    """[N, K] mask of joints whose DARK-UDP refinement stays within half a heatmap pixel of the argmax.

    A random-weight model's maps have ridges and plateaus where DARK's Newton step (-H^-1 g with a
    near-singular Hessian) turns 1e-7 float differences between two runs into tenths of a pixel, or jumps
    many pixels. A trained model's Gaussian peaks are always well posed. Tests check the 0.05 px
    requirement on these joints, and the argmax cell (the well-defined part) on all.
    """
    n, k, h, w = heatmaps.shape
    idx = heatmaps.flatten(2).argmax(-1)
    kp, _ = decode_heatmaps(heatmaps.contiguous(), input_size, method="dark_udp")
    sx, sy = (input_size[0] - 1) / (w - 1), (input_size[1] - 1) / (h - 1)
    return (((kp[..., 0] / sx - idx % w).abs() < 0.5) & ((kp[..., 1] / sy - idx // w).abs() < 0.5)).numpy()
