"""Numpy references of the 3D pose metrics and the Human3.6M camera model (readable spec, used by tests).

Written from the papers and VideoPose3D (Pavllo et al. 2019, ``common/loss.py`` and ``common/camera.py``),
kept in VideoPose3D's batched-numpy form but returning one value per frame instead of the batch mean:

* MPJPE (protocol #1): mean over joints of the Euclidean joint error.
* P-MPJPE (protocol #2): MPJPE after the similarity (Procrustes) alignment of the prediction to the ground
  truth: translation, uniform scale and a proper rotation (the SVD solution with the reflection fix of
  Umeyama 1991, as ``p_mpjpe`` in VideoPose3D).
* N-MPJPE: MPJPE after the least-squares scale only (Rhodin et al. 2018, VideoPose3D ``n_mpjpe``).
* MPJVE: MPJPE of the first differences over time (VideoPose3D ``mean_velocity_error``).
* 3D PCK / AUC: MPI-INF-3DHP protocol (Mehta et al. 2017, ``mpii_compute_3d_pck.m``): a joint is correct
  when its error is strictly below the threshold (150 mm); AUC is the mean PCK over 31 thresholds 0..150 mm.

Degenerate poses (the SVD is not defined when all joints of a pose coincide): the optimal similarity
transform then has scale 0 and maps the prediction onto the ground-truth centroid, so the error is the mean
distance of the ground-truth joints from their centroid (0 when the ground truth is the degenerate one).
VideoPose3D's code divides by zero there; these references apply that limit explicitly.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "mpjpe",
    "p_mpjpe",
    "n_mpjpe",
    "mpjve",
    "pck3d",
    "auc3d",
    "qrot",
    "qinverse",
    "world_to_camera",
    "camera_to_world",
    "project_to_2d",
    "normalize_screen_coordinates",
    "image_coordinates",
]


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """[N, J, 3] x2 -> [N] mean joint error (units of the input)."""
    return np.mean(np.linalg.norm(pred - gt, axis=-1), axis=-1)


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """[N, J, 3] x2 -> [N] MPJPE after similarity Procrustes alignment (VideoPose3D's algorithm, per frame,
    in the dtype of the inputs as the original)."""
    mu_x = np.mean(gt, axis=1, keepdims=True)
    mu_y = np.mean(pred, axis=1, keepdims=True)
    x0 = gt - mu_x
    y0 = pred - mu_y
    norm_x = np.sqrt(np.sum(x0**2, axis=(1, 2), keepdims=True))
    norm_y = np.sqrt(np.sum(y0**2, axis=(1, 2), keepdims=True))
    degenerate = (norm_x[:, 0, 0] == 0) | (norm_y[:, 0, 0] == 0)
    safe_x = np.where(norm_x == 0, 1.0, norm_x)
    safe_y = np.where(norm_y == 0, 1.0, norm_y)
    x0 = x0 / safe_x
    y0 = y0 / safe_y
    h = np.matmul(x0.transpose(0, 2, 1), y0)
    u, s, vt = np.linalg.svd(h)
    v = vt.transpose(0, 2, 1)
    r = np.matmul(v, u.transpose(0, 2, 1))
    # avoid improper rotations (reflections): flip the direction of the smallest singular value
    sign_det = np.sign(np.expand_dims(np.linalg.det(r), axis=1))
    v[:, :, -1] *= sign_det
    s[:, -1] *= sign_det.flatten()
    r = np.matmul(v, u.transpose(0, 2, 1))
    tr = np.expand_dims(np.sum(s, axis=1, keepdims=True), axis=2)
    a = tr * safe_x / safe_y
    a[degenerate] = 0.0
    t = mu_x - a * np.matmul(mu_y, r)
    aligned = a * np.matmul(pred, r) + t
    return np.mean(np.linalg.norm(aligned - gt, axis=-1), axis=-1)


def n_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """[N, J, 3] x2 -> [N] MPJPE after the per-frame least-squares scale of the prediction (no centring).

    scale = sum(gt * pred) / sum(pred * pred); a prediction of all zeros gets scale 0."""
    num = np.sum(gt * pred, axis=(1, 2))
    den = np.sum(pred * pred, axis=(1, 2))
    scale = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return mpjpe(scale[:, None, None] * pred, gt)


def mpjve(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """[T, J, 3] x2 -> [T-1] mean joint error of the frame-to-frame velocities."""
    return mpjpe(np.diff(pred, axis=0), np.diff(gt, axis=0))


def pck3d(pred: np.ndarray, gt: np.ndarray, threshold: float = 150.0) -> np.ndarray:
    """[N, J, 3] x2 -> [N] fraction of joints whose error is strictly below ``threshold``."""
    err = np.linalg.norm(pred - gt, axis=-1)
    return np.mean(err < threshold, axis=-1)


def auc3d(pred: np.ndarray, gt: np.ndarray, max_threshold: float = 150.0, steps: int = 31) -> np.ndarray:
    """[N, J, 3] x2 -> [N] mean of :func:`pck3d` over ``np.linspace(0, max_threshold, steps)``."""
    return np.mean([pck3d(pred, gt, t) for t in np.linspace(0.0, max_threshold, steps)], axis=0)


# ------------------------------------------------------------------------------------- cameras (numpy)
def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` [..., 3] by unit quaternions ``q`` [..., 4] (w, x, y, z)."""
    qvec = q[..., 1:]
    uv = np.cross(qvec, v)
    uuv = np.cross(qvec, uv)
    return v + 2 * (q[..., :1] * uv + uuv)


def qinverse(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion (w, -x, -y, -z)."""
    return np.concatenate([q[..., :1], -q[..., 1:]], axis=-1)


def world_to_camera(x: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """VideoPose3D ``world_to_camera``: rotate ``x - t`` by the inverse of the camera orientation ``r``."""
    rt = np.broadcast_to(qinverse(r), x.shape[:-1] + (4,))
    return qrot(rt, x - t)


def camera_to_world(x: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Inverse of :func:`world_to_camera`."""
    return qrot(np.broadcast_to(r, x.shape[:-1] + (4,)), x) + t


def project_to_2d(x: np.ndarray, intrinsic: np.ndarray) -> np.ndarray:
    """VideoPose3D ``project_to_2d``: [..., 3] camera-frame points, intrinsic [9] = (fx, fy, cx, cy, k1, k2,
    k3, p1, p2) -> [..., 2]. The normalised image coordinates are clamped to [-1, 1] as in the original."""
    f, c, k, p = intrinsic[:2], intrinsic[2:4], intrinsic[4:7], intrinsic[7:9]
    xx = np.clip(x[..., :2] / x[..., 2:], -1, 1)
    r2 = np.sum(xx**2, axis=-1, keepdims=True)
    radial = 1 + np.sum(k * np.concatenate([r2, r2**2, r2**3], axis=-1), axis=-1, keepdims=True)
    tan = np.sum(p * xx, axis=-1, keepdims=True)
    xxx = xx * (radial + tan) + p * r2
    return f * xxx + c


def normalize_screen_coordinates(x: np.ndarray, w: int, h: int) -> np.ndarray:
    """Map pixels so that [0, w] -> [-1, 1], keeping the aspect ratio (VideoPose3D)."""
    return x / w * 2 - np.array([1, h / w])


def image_coordinates(x: np.ndarray, w: int, h: int) -> np.ndarray:
    """Inverse of :func:`normalize_screen_coordinates`."""
    return (x + np.array([1, h / w])) * w / 2
