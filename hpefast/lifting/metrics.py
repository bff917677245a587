"""3D pose metrics: MPJPE (protocol #1), P-MPJPE (protocol #2), N-MPJPE, MPJVE, 3D PCK and AUC.

All metrics are batched torch code that runs on any device in float32 or float64 and also take numpy
arrays (the result is then numpy). They return one value per frame, so a caller can average over frames,
actions or subjects as its protocol asks (:func:`hpefast.lifting.h36m.action_table` does the Human3.6M
action-wise tables). Units are those of the input (millimetres for the published Human3.6M numbers).

The spec of each metric is the numpy code in :mod:`hpefast._reference.lifting` (VideoPose3D's
``common/loss.py`` and the MPI-INF-3DHP evaluation script); the tests compare against it.

P-MPJPE needs the optimal similarity transform of every frame. VideoPose3D runs ``np.linalg.svd`` on the
[N, 3, 3] cross-covariances, one LAPACK call per frame; here the rotation comes from a closed-form,
vectorised eigen-decomposition of the symmetric 3x3 matrix H^T H (trigonometric eigenvalues, eigenvectors
by Eberly's robust construction), with the reflection fix written as R = v1 u1^T + v2 u2^T +
(v1 x v2)(u1 x u2)^T, which needs neither the third singular vector nor 1/s3 (so planar poses are exact).
The 3x3 algebra is always done in float64; the [N, J, 3] work stays in the input dtype, in chunks.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TypeVar

import numpy as np
import torch

__all__ = ["mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "pck3d", "auc3d", "procrustes_align", "root_relative"]

Array = TypeVar("Array", np.ndarray, torch.Tensor)

_CHUNK = 1 << 14  # frames per chunk for P-MPJPE: the [chunk, J, 3] temporaries stay in cache


def _check_pair(
    pred, gt, name: str, min_frames: int = 0, check_finite: bool = True
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(pred, gt) as tensors of one floating dtype and device, shape [..., J, 3]; is_numpy."""
    is_np = isinstance(pred, np.ndarray)
    tensors = []
    for label, x in (("pred", pred), ("gt", gt)):
        if isinstance(x, np.ndarray):
            if not np.issubdtype(x.dtype, np.floating):
                raise TypeError(f"{name}: {label} must be a floating-point array, got dtype {x.dtype}")
            x = torch.from_numpy(np.ascontiguousarray(x))
        elif isinstance(x, torch.Tensor):
            if not x.is_floating_point():
                raise TypeError(f"{name}: {label} must be a floating-point tensor, got dtype {x.dtype}")
        else:
            raise TypeError(
                f"{name}: {label} must be a numpy array or a torch tensor, got {type(x).__name__}"
            )
        tensors.append(x)
    p, g = tensors
    if p.ndim < 2 or p.shape[-1] != 3:
        raise ValueError(f"{name}: pred must be [..., J, 3] (x, y, z per joint), got shape {tuple(p.shape)}")
    if tuple(p.shape) != tuple(g.shape):
        raise ValueError(
            f"{name}: pred and gt must have the same shape, got {tuple(p.shape)} and {tuple(g.shape)} "
            f"({p.shape[-2]} vs {g.shape[-2]} joints)"
            if p.ndim == g.ndim and p.shape[:-2] == g.shape[:-2]
            else f"{name}: pred and gt must have the same shape, got {tuple(p.shape)} and {tuple(g.shape)}"
        )
    if p.shape[-2] < 1:
        raise ValueError(f"{name}: pred has no joints (shape {tuple(p.shape)})")
    if p.device != g.device:
        raise ValueError(f"{name}: pred is on {p.device} but gt is on {g.device}")
    if p.ndim >= 3 and p.shape[0] < min_frames:
        raise ValueError(f"{name}: needs at least {min_frames} frames along dim 0, got {p.shape[0]}")
    dtype = torch.promote_types(p.dtype, g.dtype)
    if dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    p, g = p.to(dtype), g.to(dtype)
    if check_finite:
        for label, x in (("pred", p), ("gt", g)):
            _check_finite(x, name, label)
    return p, g, is_np


def _check_finite(x: torch.Tensor, name: str, label: str) -> None:
    """ValueError naming the first frame with a NaN or inf. One cheap reduction in the common case: a
    finite sum proves every element finite; only a non-finite sum (or an overflow) looks closer."""
    if x.numel() == 0 or bool(torch.isfinite(x.sum(dtype=torch.float64))):
        return
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        frame = bad.reshape(-1, x.shape[-2] * x.shape[-1]).any(-1).nonzero()[0, 0].item()
        raise ValueError(
            f"{name}: {label} contains NaN or inf (first in frame {frame} of the flattened batch)"
        )


def _out(x: torch.Tensor, is_np: bool):
    return x.cpu().numpy() if is_np else x


def root_relative(poses: Array, root: int = 0) -> Array:
    """Subtract joint ``root`` from every joint: [..., J, C] -> [..., J, C] (the root becomes 0).

    Human3.6M protocols #1 and #2 compare root-relative poses (root = pelvis, joint 0 of H36M-17)."""
    if isinstance(poses, np.ndarray):
        return poses - poses[..., root : root + 1, :]
    if not isinstance(poses, torch.Tensor):
        raise TypeError(
            f"root_relative: poses must be a numpy array or a torch tensor, got {type(poses).__name__}"
        )
    if poses.ndim < 2 or not -poses.shape[-2] <= root < poses.shape[-2]:
        raise ValueError(f"root_relative: root {root} out of range for poses of shape {tuple(poses.shape)}")
    return poses - poses[..., root : root + 1, :]


def mpjpe(pred: Array, gt: Array) -> Array:
    """Mean per-joint position error (protocol #1): [..., J, 3] x2 -> [...] mean over joints of ||pred - gt||.

    No alignment is applied: pass root-relative poses (:func:`root_relative`) for the Human3.6M protocol.
    Differentiable (usable as a training loss after ``.mean()``).

    >>> mpjpe(torch.zeros(2, 17, 3), torch.ones(2, 17, 3))
    tensor([1.7321, 1.7321])
    """
    p, g, is_np = _check_pair(pred, gt, "mpjpe")
    return _out(torch.linalg.vector_norm(p - g, dim=-1).mean(-1), is_np)


def n_mpjpe(pred: Array, gt: Array) -> Array:
    """Scale-normalised MPJPE (Rhodin et al. 2018, as VideoPose3D's ``n_mpjpe``): [..., J, 3] x2 -> [...].

    Each prediction is multiplied by the least-squares scale ``sum(gt * pred) / sum(pred * pred)`` (no
    translation or rotation; pass root-relative poses). A prediction of all zeros gets scale 0, so its error
    is the mean norm of the ground-truth joints."""
    p, g, is_np = _check_pair(pred, gt, "n_mpjpe")
    num = (g * p).sum((-2, -1))
    den = (p * p).sum((-2, -1))
    scale = torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(den))
    err = torch.linalg.vector_norm(scale[..., None, None] * p - g, dim=-1).mean(-1)
    return _out(err, is_np)


def mpjve(pred: Array, gt: Array) -> Array:
    """Mean per-joint velocity error: [T, ..., J, 3] x2 -> [T-1, ...], the MPJPE of the first differences
    along dim 0 (time), in input units per frame (VideoPose3D ``mean_velocity_error``, per step)."""
    p, g, is_np = _check_pair(pred, gt, "mpjve", min_frames=2)
    if p.ndim < 3:
        raise ValueError(f"mpjve: pred must be [T, ..., J, 3] with T >= 2 frames, got shape {tuple(p.shape)}")
    d = torch.diff(p, dim=0) - torch.diff(g, dim=0)
    return _out(torch.linalg.vector_norm(d, dim=-1).mean(-1), is_np)


def pck3d(pred: Array, gt: Array, threshold: float = 150.0) -> Array:
    """3D PCK (MPI-INF-3DHP protocol): [..., J, 3] x2 -> [...] fraction of joints (0..1) whose Euclidean
    error is strictly below ``threshold`` (150 mm in the protocol; same units as the poses)."""
    p, g, is_np = _check_pair(pred, gt, "pck3d")
    thr = _threshold(threshold, "pck3d", "threshold")
    err = torch.linalg.vector_norm(p - g, dim=-1)
    return _out((err < thr).to(p.dtype).mean(-1), is_np)


def auc3d(pred: Array, gt: Array, max_threshold: float = 150.0, steps: int = 31) -> Array:
    """Area under the 3D PCK curve (MPI-INF-3DHP): [..., J, 3] x2 -> [...] mean of :func:`pck3d` over
    ``steps`` thresholds evenly spaced from 0 to ``max_threshold`` (protocol: 0, 5, ..., 150 mm), in 0..1."""
    p, g, is_np = _check_pair(pred, gt, "auc3d")
    thr = _threshold(max_threshold, "auc3d", "max_threshold")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"auc3d: steps must be a positive integer, got {steps!r}")
    err = torch.linalg.vector_norm(p - g, dim=-1)
    thresholds = torch.linspace(0.0, thr, steps, dtype=torch.float64, device=p.device).to(p.dtype)
    # per joint: the number of thresholds it is below, counted without a [steps, N, J] tensor
    below = torch.searchsorted(thresholds, err.contiguous(), right=True)  # thresholds <= err
    correct = (steps - below).to(p.dtype)
    return _out(correct.mean(-1) / steps, is_np)


def _threshold(value: float, name: str, arg: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name}: {arg} must be a finite number >= 0, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------------- P-MPJPE
def p_mpjpe(pred: Array, gt: Array) -> Array:
    """MPJPE after per-frame similarity Procrustes alignment (protocol #2): [..., J, 3] x2 -> [...].

    The prediction is aligned to the ground truth by the least-squares translation, uniform scale and proper
    rotation (reflections excluded, as VideoPose3D's ``p_mpjpe``), then the mean joint error is taken.
    Degenerate frames (all joints of the prediction or of the ground truth equal) have scale 0: the error is
    the mean distance of the ground-truth joints from their centroid (0 for a degenerate ground truth).
    Collinear poses get one of the equally optimal rotations.

    Not meant for back-propagation (use :func:`mpjpe` as the loss)."""
    p, g, is_np = _check_pair(pred, gt, "p_mpjpe", check_finite=False)  # checked per chunk
    lead = p.shape[:-2]
    j = p.shape[-2]
    p2, g2 = p.reshape(-1, j, 3), g.reshape(-1, j, 3)
    out = torch.empty(p2.shape[0], dtype=p.dtype, device=p.device)
    with _cpu_single_thread(p.device):
        for s in range(0, p2.shape[0], _CHUNK):
            out[s : s + _CHUNK] = _p_mpjpe_chunk(p2[s : s + _CHUNK], g2[s : s + _CHUNK])
    return _out(out.reshape(lead), is_np)


@contextlib.contextmanager
def _cpu_single_thread(device: torch.device) -> Iterator[None]:
    """One torch thread for the chunked P-MPJPE on the CPU: its ops are a few hundred small tensors per
    chunk, too small to gain from threads, and on a shared machine intra-op thread contention made them
    several times slower (measured: 47 s vs 18 s for numpy at 1M frames under load, 2 threads)."""
    if device.type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def procrustes_align(pred: Array, gt: Array) -> Array:
    """``pred`` [..., J, 3] aligned to ``gt`` by the similarity transform that :func:`p_mpjpe` uses."""
    p, g, is_np = _check_pair(pred, gt, "procrustes_align")
    shape = p.shape
    p2, g2 = p.reshape(-1, shape[-2], 3), g.reshape(-1, shape[-2], 3)
    mu_x, mu_y = g2.mean(1, keepdim=True), p2.mean(1, keepdim=True)
    x0, y0 = g2 - mu_x, p2 - mu_y
    rot, scale = _similarity(x0, y0)
    aligned = scale[:, None, None] * torch.bmm(y0, rot) + mu_x
    return _out(aligned.reshape(shape), is_np)


def _p_mpjpe_chunk(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    mu_x, mu_y = g.mean(1, keepdim=True), p.mean(1, keepdim=True)
    # a NaN or inf anywhere in a frame shows in its centroid: one cheap check instead of a pass over the data
    if not bool(torch.isfinite(mu_x).all() & torch.isfinite(mu_y).all()):
        _check_finite(p, "p_mpjpe", "pred")
        _check_finite(g, "p_mpjpe", "gt")
        raise ValueError("p_mpjpe: pred or gt holds values too large to average (overflow)")
    x0, y0 = g - mu_x, p - mu_y
    rot, scale = _similarity(x0, y0)
    err = torch.baddbmm(x0, y0, rot * scale[:, None, None], beta=-1.0)  # s y0 R - x0
    return torch.linalg.vector_norm(err, dim=-1).mean(-1)


def _similarity(x0: torch.Tensor, y0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation R [n, 3, 3] (applied as ``y0 @ R``) and scale [n] minimising ||s y0 R - x0|| for centred
    [n, J, 3] point sets; both in the dtype of the inputs."""
    n = x0.shape[0]
    h = torch.bmm(x0.transpose(1, 2), y0).double()  # [n, 3, 3] = U S V^T
    hc = h.reshape(n, 9).t().contiguous().unbind(0)  # h[i][j] -> hc[3 * i + j], contiguous [n] each
    rc = _rotation(hc)
    tr = sum(hc[3 * i + j] * rc[3 * j + i] for i in range(3) for j in range(3))  # trace(H R)
    ny = y0.square().sum((1, 2)).double()
    ok = (ny > 0) & (tr > 0)
    scale = torch.where(ok, tr / torch.where(ok, ny, 1.0), 0.0)
    rot = torch.stack(rc, 1).reshape(n, 3, 3)
    return rot.to(x0.dtype), scale.to(x0.dtype)


# The 3x3 algebra below works on tuples of contiguous [n] tensors (one per matrix entry or vector
# component): a few hundred cheap elementwise ops, instead of one LAPACK call per frame.
Vec = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _cross(a: Vec, b: Vec) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _dot(a: Vec, b: Vec) -> torch.Tensor:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _select(mask: torch.Tensor, a: Vec, b: Vec) -> Vec:
    return (torch.where(mask, a[0], b[0]), torch.where(mask, a[1], b[1]), torch.where(mask, a[2], b[2]))


def _normalize(v: Vec, fallback: Vec) -> tuple[Vec, torch.Tensor]:
    """(v / |v|, |v|); where |v| == 0 the fallback (a unit vector) is returned."""
    norm = torch.sqrt(_dot(v, v))
    good = norm > 0
    inv = torch.where(good, 1.0 / torch.where(good, norm, 1.0), 0.0)
    return _select(good, (v[0] * inv, v[1] * inv, v[2] * inv), fallback), norm


def _complement(w: Vec) -> tuple[Vec, Vec]:
    """Unit vectors (u, v) completing the unit vectors ``w`` to right-handed orthonormal bases (Eberly)."""
    zero = torch.zeros_like(w[0])
    use_a = w[0].abs() > w[1].abs()
    u = _select(use_a, (-w[2], zero, w[0]), (zero, w[2], -w[1]))
    inv = torch.rsqrt(_dot(u, u))
    u = (u[0] * inv, u[1] * inv, u[2] * inv)
    return u, _cross(w, u)


def _matvec(m: tuple[torch.Tensor, ...], v: Vec) -> Vec:
    return tuple(m[3 * i] * v[0] + m[3 * i + 1] * v[1] + m[3 * i + 2] * v[2] for i in range(3))  # type: ignore[return-value]


def _rotation(h: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Optimal proper rotation R = V diag(1, 1, sign det H) U^T for H = U S V^T (row-major entries)."""
    # A = H^T H = V S^2 V^T (symmetric PSD)
    a00 = h[0] * h[0] + h[3] * h[3] + h[6] * h[6]
    a11 = h[1] * h[1] + h[4] * h[4] + h[7] * h[7]
    a22 = h[2] * h[2] + h[5] * h[5] + h[8] * h[8]
    a01 = h[0] * h[1] + h[3] * h[4] + h[6] * h[7]
    a02 = h[0] * h[2] + h[3] * h[5] + h[6] * h[8]
    a12 = h[1] * h[2] + h[4] * h[5] + h[7] * h[8]
    a = (a00, a01, a02, a01, a11, a12, a02, a12, a22)
    # eigenvalues: trigonometric solution of the characteristic cubic (Smith 1961)
    q = (a00 + a11 + a22) / 3
    b00, b11, b22 = a00 - q, a11 - q, a22 - q
    off = a01 * a01 + a02 * a02 + a12 * a12
    p = torch.sqrt((b00 * b00 + b11 * b11 + b22 * b22 + 2 * off) / 6)
    inv_p = torch.where(p > 0, 1.0 / torch.where(p > 0, p, 1.0), 0.0)
    c00, c11, c22, c01, c02, c12 = (
        b00 * inv_p,
        b11 * inv_p,
        b22 * inv_p,
        a01 * inv_p,
        a02 * inv_p,
        a12 * inv_p,
    )
    det_c = c00 * (c11 * c22 - c12 * c12) - c01 * (c01 * c22 - c12 * c02) + c02 * (c01 * c12 - c11 * c02)
    half_det = (0.5 * det_c).clamp(-1.0, 1.0)
    angle = torch.acos(half_det) / 3
    lam_hi = q + 2 * p * torch.cos(angle)
    lam_lo = q + 2 * p * torch.cos(angle + 2 * math.pi / 3)
    lam_mid = 3 * q - lam_hi - lam_lo
    # eigenvector of the isolated eigenvalue first (the largest when half_det >= 0, else the smallest): the
    # largest cross product of two rows of A - lambda I is well conditioned (Eberly, "A robust
    # eigensolver for 3x3 symmetric matrices")
    hi_first = half_det >= 0
    lam = torch.where(hi_first, lam_hi, lam_lo)
    r0, r1, r2 = (a00 - lam, a01, a02), (a01, a11 - lam, a12), (a02, a12, a22 - lam)
    c0, c1, c2 = _cross(r0, r1), _cross(r0, r2), _cross(r1, r2)
    d0, d1, d2 = _dot(c0, c0), _dot(c1, c1), _dot(c2, c2)
    best = _select(d1 > d0, c1, c0)
    best = _select(d2 > torch.maximum(d0, d1), c2, best)
    one, zero = torch.ones_like(q), torch.zeros_like(q)
    e_x: Vec = (one, zero, zero)
    v_iso, _ = _normalize(best, e_x)
    # the middle eigenvector in the plane orthogonal to v_iso: null vector of the 2x2 restriction
    cu, cv = _complement(v_iso)
    au, av = _matvec(a, cu), _matvec(a, cv)
    m00, m01, m11 = _dot(cu, au) - lam_mid, _dot(cu, av), _dot(cv, av) - lam_mid
    pick = m01 * m01 + m00 * m00 >= m11 * m11 + m01 * m01
    k0, k1 = torch.where(pick, m01, m11), torch.where(pick, -m00, -m01)
    kn = torch.sqrt(k0 * k0 + k1 * k1)
    k_ok = kn > 0
    kinv = 1.0 / torch.where(k_ok, kn, 1.0)
    k0, k1 = torch.where(k_ok, k0 * kinv, 1.0), torch.where(k_ok, k1 * kinv, 0.0)
    v2: Vec = (k0 * cu[0] + k1 * cv[0], k0 * cu[1] + k1 * cv[1], k0 * cu[2] + k1 * cv[2])
    v1 = _select(hi_first, v_iso, _cross(v_iso, v2))  # the top right-singular vector
    # left singular vectors u_i = H v_i / s_i, orthonormalised; for a rank-1 H any u2 orthogonal to u1 is
    # optimal (collinear poses)
    u1, s1 = _normalize(_matvec(h, v1), e_x)
    comp_u1, _ = _complement(u1)
    hv2 = _matvec(h, v2)
    proj = _dot(hv2, u1)
    u2, s2 = _normalize((hv2[0] - proj * u1[0], hv2[1] - proj * u1[1], hv2[2] - proj * u1[2]), comp_u1)
    u2 = _select(s2 <= 1e-12 * s1, comp_u1, u2)
    v3, u3 = _cross(v1, v2), _cross(u1, u2)
    # R = v1 u1^T + v2 u2^T + (v1 x v2)(u1 x u2)^T; an all-zero H (a degenerate pose) gives R = I
    deg = s1 <= 0
    out = []
    for i in range(3):
        for j in range(3):
            r = v1[i] * u1[j] + v2[i] * u2[j] + v3[i] * u3[j]
            out.append(torch.where(deg, one if i == j else zero, r))
    return tuple(out)
