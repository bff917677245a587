"""Reference heatmap codecs in plain numpy, one joint at a time: the executable spec of the
compiled kernels in ``csrc/heatmap`` (see :mod:`hpefast.ops.heatmap` for the public API).

Written from the papers' code:

- ``msra``: HRNet's ``JointsDataset.generate_target`` (Sun et al. 2019; Xiao et al. 2018, "Simple
  Baselines"): stride = input / heatmap, integer centre ``mu = int(x / stride + 0.5)``, unnormalised
  Gaussian (peak 1) drawn in the window ``[mu - 3 sigma, mu + 3 sigma]``.
- ``udp``: UDP-Pose (Huang et al. 2020, mmpose ``_udp_generate_target``): stride =
  (input - 1) / (heatmap - 1), the same integer window, the Gaussian centred at the float position.
- ``argmax`` / ``shift``: HRNet ``get_final_preds`` (+-0.25 toward the higher neighbour).
- ``dark``: DarkPose (Zhang et al. 2020): blur with a k x k Gaussian (zero padding, rescaled to keep the
  map's maximum), ``log(max(., 1e-10))``, one Newton (Taylor) step, border guard ``1 < p < size - 2``.
- ``dark_udp``: ViTPose / mmpose ``post_dark_udp``: blur (cv2 default border, reflect-101), clip to
  [1e-3, 50], log, edge padding, central differences, one Newton step with ``H + eps I``.

Deliberate, documented choices (the compiled kernels do the same):

- The window ends use floor, so a window that crosses the left/top border stays centred on ``mu``
  (HRNet's ``int()`` truncates toward zero there and shifts the patch when 3 sigma is not an integer).
  For integer 3 sigma and every window with ``mu - 3 sigma >= 0`` this is bit-for-bit HRNet's window.
- A window with no pixel inside the map gets weight 0 (HRNet keeps weight 1 with an all-zero map when
  the window ends exactly at the left/top border, ``br == 0``).
- Not labelled (``visible <= 0.5``), NaN or infinite keypoints: weight 0 and an all-zero map.
- The blur is evaluated in float64 here (the originals call cv2 in float32: identical up to float32
  rounding, see ``backend="cv2"``); all position arithmetic is float64, rounded to float32 once.
- Decoders: a map whose maximum is not > 0 (or is NaN) decodes to (-1, -1) heatmap pixels, as mmpose's
  ``_get_max_preds``, and is not refined (post_dark_udp would read a neighbouring map there).
- Output in input-crop pixels: heatmap position x stride, stride = input / heatmap for argmax / shift /
  dark (mmpose's ``transform_preds``), (input - 1) / (heatmap - 1) for dark_udp (UDP, as its encoder).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ENCODE_METHODS = ("msra", "udp")
DECODE_METHODS = ("argmax", "shift", "dark", "dark_udp")

# OpenCV's fixed getGaussianKernel tables (sigma <= 0, ksize <= 9).
_SMALL_GAUSSIAN = {
    1: [1.0],
    3: [0.25, 0.5, 0.25],
    5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
    7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
    9: [0.015625, 0.05078125, 0.1171875, 0.19921875, 0.234375, 0.19921875, 0.1171875, 0.05078125, 0.015625],
}


def gaussian_kernel(k: int) -> np.ndarray:
    """1-D weights of ``cv2.getGaussianKernel(k, 0)`` in float64 (what ``cv2.GaussianBlur(x, (k, k), 0)``
    uses): OpenCV's fixed tables for k <= 9, else sigma = 0.3 * ((k - 1) / 2 - 1) + 0.8, normalised."""
    if k in _SMALL_GAUSSIAN:
        return np.asarray(_SMALL_GAUSSIAN[k], dtype=np.float64)
    sigma = 0.3 * ((k - 1) * 0.5 - 1.0) + 0.8
    x = np.arange(k, dtype=np.float64) - (k - 1) * 0.5
    w = np.exp(-0.5 / (sigma * sigma) * x * x)
    return w * (1.0 / w.sum())


def _reflect101(p: np.ndarray, n: int) -> np.ndarray:
    """Indices under OpenCV's BORDER_REFLECT_101 (``... 2 1 | 0 1 2 ... n-1 | n-2 ...``)."""
    p = np.asarray(p).copy()
    if n == 1:
        return np.zeros_like(p)
    while True:
        low, high = p < 0, p >= n
        if not (low.any() or high.any()):
            return p
        p[low] = -p[low]
        p[high] = 2 * n - 2 - p[high]


def blur(heatmap: np.ndarray, k: int, border: str) -> np.ndarray:
    """Separable k x k Gaussian blur of one [h, w] map in float64, rows then columns (as cv2).

    ``border="zero"``: taps outside the map read 0 (DarkPose pads by (k-1)/2 zeros before blurring);
    ``border="reflect101"``: cv2.GaussianBlur's default border (post_dark_udp blurs the map itself).
    """
    m = np.asarray(heatmap, dtype=np.float64)
    h, w = m.shape
    kw = gaussian_kernel(k)
    r = k // 2
    if border == "zero":
        padded = np.zeros((h + 2 * r, w + 2 * r))
        padded[r : r + h, r : r + w] = m
    elif border == "reflect101":
        padded = m[_reflect101(np.arange(-r, h + r), h)][:, _reflect101(np.arange(-r, w + r), w)]
    else:
        raise ValueError(f"border must be 'zero' or 'reflect101', got {border!r}")
    rows = sum(kw[j] * padded[:, j : j + w] for j in range(k))
    return sum(kw[i] * rows[i : i + h, :] for i in range(k))


def _blur_cv2(heatmap: np.ndarray, k: int, border: str) -> np.ndarray:
    """The original code's blur, with OpenCV in float32 (DarkPose ``_gaussian_blur`` / post_dark_udp)."""
    import cv2

    m = np.asarray(heatmap, dtype=np.float32)
    if border == "zero":
        r = k // 2
        padded = np.zeros((m.shape[0] + 2 * r, m.shape[1] + 2 * r), dtype=np.float32)
        padded[r : r + m.shape[0], r : r + m.shape[1]] = m
        return cv2.GaussianBlur(padded, (k, k), 0)[r : r + m.shape[0], r : r + m.shape[1]].astype(np.float64)
    return cv2.GaussianBlur(m, (k, k), 0).astype(np.float64)


# --------------------------------------------------------------------------------------------------
# Encode


def encode_joint(
    x: float,
    y: float,
    v: float,
    input_size: Sequence[int],
    heatmap_size: Sequence[int],
    sigma: float,
    method: str,
) -> tuple[np.ndarray, bool]:
    """The [h, w] target of one joint and whether it is valid (HRNet ``generate_target`` for one joint)."""
    (in_w, in_h), (hm_w, hm_h) = input_size, heatmap_size
    target = np.zeros((hm_h, hm_w), dtype=np.float32)
    if not v > 0.5 or not (math.isfinite(x) and math.isfinite(y)):
        return target, False
    if method == "udp":
        stride = ((in_w - 1.0) / (hm_w - 1.0), (in_h - 1.0) / (hm_h - 1.0))
    else:
        stride = (in_w / hm_w, in_h / hm_h)
    fx, fy = float(x) / stride[0], float(y) / stride[1]
    mu_x, mu_y = math.trunc(fx + 0.5), math.trunc(fy + 0.5)  # HRNet: int(x / stride + 0.5)
    radius = 3.0 * sigma
    ul = (math.floor(mu_x - radius), math.floor(mu_y - radius))
    br = (math.floor(mu_x + radius + 1), math.floor(mu_y + radius + 1))  # exclusive
    if ul[0] >= hm_w or ul[1] >= hm_h or br[0] <= 0 or br[1] <= 0:
        return target, False  # window wholly outside the map
    cx, cy = (fx, fy) if method == "udp" else (float(mu_x), float(mu_y))
    xs = np.arange(max(ul[0], 0), min(br[0], hm_w))
    ys = np.arange(max(ul[1], 0), min(br[1], hm_h))
    g = np.exp(-((xs[None, :] - cx) ** 2 + (ys[:, None] - cy) ** 2) / (2.0 * sigma**2))
    target[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1] = g
    return target, True


def encode_heatmaps(
    keypoints: np.ndarray,
    visible: np.ndarray,
    input_size: Sequence[int],
    heatmap_size: Sequence[int],
    sigma: float = 2.0,
    method: str = "udp",
    joint_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """keypoints [B, K, 2] input-crop pixels, visible [B, K] -> heatmaps [B, K, h, w], weights [B, K]."""
    if method not in ENCODE_METHODS:
        raise ValueError(f"method must be one of {ENCODE_METHODS}, got {method!r}")
    kp = np.asarray(keypoints, dtype=np.float32)
    vis = np.asarray(visible, dtype=np.float32)
    B, K = kp.shape[:2]
    hm_w, hm_h = heatmap_size
    heatmaps = np.zeros((B, K, hm_h, hm_w), dtype=np.float32)
    weights = np.zeros((B, K), dtype=np.float32)
    jw = np.ones(K, np.float32) if joint_weights is None else np.asarray(joint_weights, np.float32)
    for b in range(B):
        for k in range(K):
            heatmaps[b, k], valid = encode_joint(
                float(kp[b, k, 0]),
                float(kp[b, k, 1]),
                float(vis[b, k]),
                input_size,
                heatmap_size,
                sigma,
                method,
            )
            weights[b, k] = jw[k] if valid else 0.0
    return heatmaps, weights


# --------------------------------------------------------------------------------------------------
# Decode


def _argmax(heatmap: np.ndarray) -> tuple[int, int, float]:
    """mmpose ``_get_max_preds`` for one map: first argmax (NaN wins, as np.argmax) and the maximum."""
    flat = heatmap.reshape(-1)
    idx = int(np.argmax(flat))
    return idx % heatmap.shape[1], idx // heatmap.shape[1], float(flat[idx])


def _dark(heatmap: np.ndarray, px: int, py: int, k: int, backend: str) -> tuple[float, float]:
    """DarkPose: blur (zero pad, rescaled to the original max), log(max(., 1e-10)), Taylor step."""
    h, w = heatmap.shape
    x, y = float(px), float(py)
    if not (1 < px < w - 2 and 1 < py < h - 2):
        return x, y
    b = (_blur_cv2 if backend == "cv2" else blur)(heatmap, k, "zero")
    with np.errstate(divide="ignore", invalid="ignore"):
        b = b * (float(np.max(heatmap)) / np.max(b))
        hm = np.log(np.maximum(b, 1e-10))
    dx = 0.5 * (hm[py, px + 1] - hm[py, px - 1])
    dy = 0.5 * (hm[py + 1, px] - hm[py - 1, px])
    dxx = 0.25 * (hm[py, px + 2] - 2 * hm[py, px] + hm[py, px - 2])
    dxy = 0.25 * (hm[py + 1, px + 1] - hm[py - 1, px + 1] - hm[py + 1, px - 1] + hm[py - 1, px - 1])
    dyy = 0.25 * (hm[py + 2, px] - 2 * hm[py, px] + hm[py - 2, px])
    if dxx * dyy - dxy**2 != 0:
        offset = -np.linalg.inv(np.array([[dxx, dxy], [dxy, dyy]])) @ np.array([dx, dy])
        x, y = x + float(offset[0]), y + float(offset[1])
    return x, y


def _dark_udp(heatmap: np.ndarray, px: int, py: int, k: int, backend: str) -> tuple[float, float]:
    """ViTPose post_dark_udp: blur (reflect-101), clip [1e-3, 50], log, edge pad, one Newton step."""
    b = (_blur_cv2 if backend == "cv2" else blur)(heatmap, k, "reflect101")
    hm = np.pad(np.log(np.clip(b, 0.001, 50)), 1, mode="edge")
    cx, cy = px + 1, py + 1  # position in the padded map
    i_ = hm[cy, cx]
    ix1, ix1_ = hm[cy, cx + 1], hm[cy, cx - 1]
    iy1, iy1_ = hm[cy + 1, cx], hm[cy - 1, cx]
    ix1y1, ix1_y1_ = hm[cy + 1, cx + 1], hm[cy - 1, cx - 1]
    derivative = np.array([0.5 * (ix1 - ix1_), 0.5 * (iy1 - iy1_)])
    dxx = ix1 - 2 * i_ + ix1_
    dyy = iy1 - 2 * i_ + iy1_
    dxy = 0.5 * (ix1y1 - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + ix1_y1_)
    hessian = np.array([[dxx, dxy], [dxy, dyy]]) + np.finfo(np.float32).eps * np.eye(2)
    if np.linalg.det(hessian) == 0:  # numpy would raise; the kernel keeps the argmax
        return float(px), float(py)
    offset = np.linalg.inv(hessian) @ derivative
    return px - float(offset[0]), py - float(offset[1])


def _shift(heatmap: np.ndarray, px: int, py: int) -> tuple[float, float]:
    """HRNet ``get_final_preds``: +-0.25 toward the higher neighbour when 1 < p < size - 1."""
    h, w = heatmap.shape
    x, y = float(px), float(py)
    if 1 < px < w - 1 and 1 < py < h - 1:
        x += 0.25 * float(np.sign(np.float64(heatmap[py, px + 1]) - heatmap[py, px - 1]))
        y += 0.25 * float(np.sign(np.float64(heatmap[py + 1, px]) - heatmap[py - 1, px]))
    return x, y


def decode_heatmaps(
    heatmaps: np.ndarray,
    input_size: Sequence[int],
    method: str = "dark_udp",
    blur_kernel: int = 11,
    backend: str = "numpy",
) -> tuple[np.ndarray, np.ndarray]:
    """heatmaps [B, K, h, w] -> keypoints [B, K, 2] (input-crop pixels, float32), scores [B, K] (max).

    ``backend="cv2"`` blurs with OpenCV in float32 exactly as the original code does (used by the
    benchmark as the per-joint numpy way, and by the tests to tie the float64 blur to cv2).
    """
    if method not in DECODE_METHODS:
        raise ValueError(f"method must be one of {DECODE_METHODS}, got {method!r}")
    hms = np.asarray(heatmaps, dtype=np.float32)
    B, K, h, w = hms.shape
    in_w, in_h = input_size
    if method == "dark_udp":
        stride = ((in_w - 1.0) / (w - 1.0), (in_h - 1.0) / (h - 1.0))
    else:
        stride = (in_w / w, in_h / h)
    keypoints = np.zeros((B, K, 2), dtype=np.float32)
    scores = np.zeros((B, K), dtype=np.float32)
    for b in range(B):
        for k in range(K):
            m = hms[b, k]
            px, py, maxval = _argmax(m)
            scores[b, k] = maxval
            if not maxval > 0:
                x, y = -1.0, -1.0
            elif method == "shift":
                x, y = _shift(m, px, py)
            elif method == "dark":
                x, y = _dark(m, px, py, blur_kernel, backend)
            elif method == "dark_udp":
                x, y = _dark_udp(m, px, py, blur_kernel, backend)
            else:
                x, y = float(px), float(py)
            keypoints[b, k] = (x * stride[0], y * stride[1])
    return keypoints, scores


def flip_heatmaps(heatmaps: np.ndarray, flip_index: Sequence[int], shift: bool = False) -> np.ndarray:
    """Heatmaps of the horizontally flipped image -> heatmaps in the original frame (flip test).

    Mirror along x and swap left/right channels: ``out[:, k] = flip(in[:, flip_index[k]])``. ``shift``
    (mmpose ``shift_heatmap``): move one pixel to the right, column 0 kept, for non-UDP codecs.
    """
    out = np.asarray(heatmaps)[:, list(flip_index), :, ::-1].copy()
    if shift:
        out[..., 1:] = out[..., :-1].copy()
    return out
