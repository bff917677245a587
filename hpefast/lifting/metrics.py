"""3D pose metrics: MPJPE (protocol #1), P-MPJPE (protocol #2), N-MPJPE, MPJVE, 3D PCK and AUC.

All metrics are batched torch code that runs on any device in float32 or float64 and also take numpy
arrays (the result is then numpy). They return one value per frame, so a caller can average over frames,
actions or subjects as its protocol asks (:func:`hpefast.lifting.h36m.action_table` does the Human3.6M
action-wise tables). Units are those of the input (millimetres for the published Human3.6M numbers).

The spec of each metric is the numpy code in :mod:`hpefast._reference.lifting` (VideoPose3D's
``common/loss.py`` and the MPI-INF-3DHP evaluation script); the tests compare against it.

P-MPJPE needs the optimal similarity transform of every frame. VideoPose3D runs ``np.linalg.svd`` on the
[N, 3, 3] cross-covariances, one LAPACK call per frame; here the rotation comes in closed form, vectorised
over frames: Horn's quaternion method, whose top eigenvalue s1 + s2 + sign(det H) s3 (Theobald's QCP
observation) builds the reflection fix in and is known in closed form. The few frames it flags as
ill-conditioned (degenerate or collinear poses, a nearly repeated top eigenvalue) are solved again by SVD
exactly as the reference. The 3x3 algebra is float64 whatever the input dtype; the [N, J, 3] work stays in
the input dtype, in chunks of 8192 frames.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, TypeVar

import numpy as np
import torch

from hpefast.errors import InputError

__all__ = ["mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "pck3d", "auc3d", "procrustes_align", "root_relative"]

Array = TypeVar("Array", np.ndarray, torch.Tensor)

_CHUNK = 1 << 13  # frames per chunk for P-MPJPE: the [chunk, J, 3] temporaries stay in cache


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
        raise InputError(f"{name}: pred must be [..., J, 3] (x, y, z per joint), got shape {tuple(p.shape)}")
    if tuple(p.shape) != tuple(g.shape):
        raise InputError(
            f"{name}: pred and gt must have the same shape, got {tuple(p.shape)} and {tuple(g.shape)} "
            f"({p.shape[-2]} vs {g.shape[-2]} joints)"
            if p.ndim == g.ndim and p.shape[:-2] == g.shape[:-2]
            else f"{name}: pred and gt must have the same shape, got {tuple(p.shape)} and {tuple(g.shape)}"
        )
    if p.shape[-2] < 1:
        raise InputError(f"{name}: pred has no joints (shape {tuple(p.shape)})")
    if p.device != g.device:
        raise InputError(f"{name}: pred is on {p.device} but gt is on {g.device}")
    if p.ndim >= 3 and p.shape[0] < min_frames:
        raise InputError(f"{name}: needs at least {min_frames} frames along dim 0, got {p.shape[0]}")
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
        raise InputError(
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
        raise InputError(f"root_relative: root {root} out of range for poses of shape {tuple(poses.shape)}")
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
        raise InputError(f"mpjve: pred must be [T, ..., J, 3] with T >= 2 frames, got shape {tuple(p.shape)}")
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
        raise InputError(f"auc3d: steps must be a positive integer, got {steps!r}")
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
        raise InputError(f"{name}: {arg} must be a finite number >= 0, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------------- P-MPJPE
def p_mpjpe(pred: Array, gt: Array) -> Array:
    """MPJPE after per-frame similarity Procrustes alignment (protocol #2): [..., J, 3] x2 -> [...].

    The prediction is aligned to the ground truth by the least-squares translation, uniform scale and proper
    rotation (reflections excluded, as VideoPose3D's ``p_mpjpe``), then the mean joint error is taken.
    Degenerate frames (all joints of the prediction or of the ground truth equal) have scale 0: the error is
    the mean distance of the ground-truth joints from their centroid (0 for a degenerate ground truth).
    Collinear poses get one of the equally optimal rotations.

    Not meant for back-propagation (use :func:`mpjpe` as the loss). On the CPU it runs with one torch
    intra-op thread (``torch.set_num_threads`` is process-wide; the previous value is restored after)."""
    p, g, is_np = _check_pair(pred, gt, "p_mpjpe", check_finite=False)  # checked per chunk
    lead = p.shape[:-2]
    j = p.shape[-2]
    p2, g2 = p.reshape(-1, j, 3), g.reshape(-1, j, 3)
    out = torch.empty(p2.shape[0], dtype=p.dtype, device=p.device)
    # On the CPU one intra-op torch thread: a chunk is a few hundred small ops, too small to gain from
    # threads, and on a shared machine intra-op thread contention made them several times slower (47 s vs
    # 18 s for numpy at 1M frames, 2 threads, load 12). Python threads over chunks gained nothing either
    # (the numpy 3x3 algebra holds the GIL between its many small calls).
    old = torch.get_num_threads()
    if p.device.type == "cpu":
        torch.set_num_threads(1)
    try:
        for s in range(0, p2.shape[0], _CHUNK):
            out[s : s + _CHUNK] = _p_mpjpe_chunk(p2[s : s + _CHUNK], g2[s : s + _CHUNK])
    finally:
        torch.set_num_threads(old)
    return _out(out.reshape(lead), is_np)


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


def _centring(j: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(order, average [3*J, 3], spread [3, 3*J]) for coordinate-planar rows: ``flat[:, order]`` holds all x,
    then all y, then all z; centroid = planar @ average, centred = planar - centroid @ spread. Two small
    GEMMs (one fused with the subtraction) are cheaper than a mean over joints and a broadcast, and the
    planar layout makes the 3x3 ``bmm`` and the per-joint error loops contiguous."""
    order = torch.arange(3 * j, device=device).reshape(j, 3).t().reshape(-1)
    spread = torch.eye(3, dtype=dtype, device=device).repeat_interleave(j, dim=1)
    return order, spread.t() / j, spread


def _p_mpjpe_chunk(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    n, j = p.shape[:2]
    order, average, spread = _centring(j, p.dtype, p.device)
    gf, pf = g.reshape(n, 3 * j).index_select(1, order), p.reshape(n, 3 * j).index_select(1, order)
    mu_x, mu_y = gf @ average, pf @ average
    # a NaN or inf anywhere in a frame shows in its centroid: one cheap check instead of a pass over the data
    if not bool(torch.isfinite(mu_x).all() & torch.isfinite(mu_y).all()):
        _check_finite(p, "p_mpjpe", "pred")
        _check_finite(g, "p_mpjpe", "gt")
        raise InputError("p_mpjpe: pred or gt holds values too large to average (overflow)")
    x0 = torch.addmm(gf, mu_x, spread, alpha=-1.0).reshape(n, 3, j)  # [n, 3, J] coordinate planes
    y0 = torch.addmm(pf, mu_y, spread, alpha=-1.0).reshape(n, 3, j)
    rot, scale = _similarity(x0, y0, planar=True)
    sr = (rot * scale[:, None, None]).unsqueeze(-1)  # [n, 3, 3, 1]
    # per joint |x0 - s y0 R| with fused multiply-adds on the coordinate planes (cheaper than a batched
    # 17x3 @ 3x3 matmul and a norm)
    sq = None
    for c in range(3):
        e = torch.addcmul(x0[:, c], y0[:, 0], sr[:, 0, c], value=-1.0)
        e = torch.addcmul(e, y0[:, 1], sr[:, 1, c], value=-1.0)
        e = torch.addcmul(e, y0[:, 2], sr[:, 2, c], value=-1.0)
        sq = e * e if sq is None else torch.addcmul(sq, e, e)
    return sq.sqrt_().mean(-1)


def _similarity(
    x0: torch.Tensor, y0: torch.Tensor, planar: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation R [n, 3, 3] (applied as ``y0 @ R``) and scale [n] minimising ||s y0 R - x0|| for centred
    [n, J, 3] point sets; both in the dtype of the inputs. Frames the closed form flags as ill-conditioned
    (degenerate or nearly so) are solved again by SVD, exactly as the reference does."""
    n = x0.shape[0]
    # H = X0^T Y0 [n, 3, 3] = U S V^T; ``planar``: x0, y0 are [n, 3, J] coordinate planes
    h = (torch.bmm(x0, y0.transpose(1, 2)) if planar else torch.bmm(x0.transpose(1, 2), y0)).double()
    hc = h.reshape(n, 9).t().contiguous().unbind(0)  # h[i][j] -> hc[3 * i + j], contiguous [n] each
    if h.device.type == "cpu":
        hn = tuple(x.numpy() for x in hc)
        rn, bad_n = _rotation_qcp(hn, _NUMPY)
        tr = torch.from_numpy(sum(hn[3 * i + j] * rn[3 * j + i] for i in range(3) for j in range(3)))
        rot, bad = torch.from_numpy(np.stack(rn, 1)).reshape(n, 3, 3), torch.from_numpy(bad_n)
    else:
        rc, bad = _rotation_qcp(hc, _TORCH)
        tr = sum(hc[3 * i + j] * rc[3 * j + i] for i in range(3) for j in range(3))  # trace(H R)
        rot = torch.stack(rc, 1).reshape(n, 3, 3)
    if bool(bad.any()):
        idx = bad.nonzero()[:, 0]
        r_svd, tr_svd = _rotation_svd(h[idx])
        rot[idx], tr[idx] = r_svd, tr_svd
    ny = torch.linalg.vector_norm(y0.reshape(n, -1), dim=1).double().square()
    ok = (ny > 0) & (tr > 0)
    scale = torch.where(ok, tr / torch.where(ok, ny, 1.0), 0.0)
    return rot.to(x0.dtype), scale.to(x0.dtype)


def _rotation_svd(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """VideoPose3D's solution for [m, 3, 3] H = U S V^T: R = V diag(1, 1, d) U^T with d = sign det(V U^T),
    trace(H R) = s1 + s2 + d s3 (an all-zero H gives R = I, trace 0)."""
    u, sv, vt = torch.linalg.svd(h)
    v = vt.transpose(1, 2)
    d = torch.sign(torch.linalg.det(torch.bmm(v, u.transpose(1, 2))))
    d = torch.where(d == 0, 1.0, d)
    v = torch.cat([v[:, :, :2], v[:, :, 2:] * d[:, None, None]], 2)
    sv = torch.cat([sv[:, :2], sv[:, 2:] * d[:, None]], 1)
    return torch.bmm(v, u.transpose(1, 2)), sv.sum(1)


def _minors(a) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """The 2x2 minors of rows (0, 1) and of rows (2, 3) of a 4x4 matrix (Laplace expansion)."""
    s = (
        a[0][0] * a[1][1] - a[1][0] * a[0][1],
        a[0][0] * a[1][2] - a[1][0] * a[0][2],
        a[0][0] * a[1][3] - a[1][0] * a[0][3],
        a[0][1] * a[1][2] - a[1][1] * a[0][2],
        a[0][1] * a[1][3] - a[1][1] * a[0][3],
        a[0][2] * a[1][3] - a[1][2] * a[0][3],
    )
    c = (
        a[2][0] * a[3][1] - a[3][0] * a[2][1],
        a[2][0] * a[3][2] - a[3][0] * a[2][2],
        a[2][0] * a[3][3] - a[3][0] * a[2][3],
        a[2][1] * a[3][2] - a[3][1] * a[2][2],
        a[2][1] * a[3][3] - a[3][1] * a[2][3],
        a[2][2] * a[3][3] - a[3][2] * a[2][3],
    )
    return s, c


_NUMPY = SimpleNamespace(
    where=np.where, sqrt=np.sqrt, acos=np.arccos, cos=np.cos, isfinite=np.isfinite, abs=np.abs,
    clip=np.clip, clip_min=np.maximum,
)  # fmt: skip
_TORCH = SimpleNamespace(
    where=torch.where, sqrt=torch.sqrt, acos=torch.acos, cos=torch.cos, isfinite=torch.isfinite,
    abs=torch.abs, clip=torch.clamp, clip_min=torch.clamp_min,
)  # fmt: skip


def _rotation_qcp(h: tuple, xp: SimpleNamespace | None = None) -> tuple[tuple, Any]:
    """Optimal proper rotation by Horn's quaternion method (Horn 1987), in closed form.

    The rotation's quaternion is the top eigenvector of Horn's symmetric 4x4 matrix N, whose top eigenvalue
    is l = s1 + s2 + sign(det H) s3 = trace(H R) (Theobald 2005): the reflection fix comes for free. l comes
    from the largest singular value s1 (trigonometric solution for H^T H, accurate for the largest
    eigenvalue) and (s2 + d s3)^2 = |H|^2 - s1^2 + 2 det(H) / s1; the eigenvector is the dominant column of
    adj(N - l I) = (product of the other eigenvalue gaps) q q^T.

    ``h``: the 9 row-major entries of H as [n] arrays of ``xp``'s library (numpy on the CPU, where its
    per-call overhead is half torch's; torch elsewhere). Returns (R row-major [9 x [n]] for ``y0 @ R``,
    ill-conditioned [n]): frames whose top eigenvalue is nearly repeated (relative gap below ~1e-3:
    degenerate, collinear or reflection-ambiguous poses), where this q loses accuracy, go to the SVD path.
    """
    xp = xp or _TORCH
    # S = H^T, S_ab = sum_j y_ja x_jb (Horn's M for rotating y onto x)
    sxx, syx, szx, sxy, syy, szy, sxz, syz, szz = h
    fro2 = sum(v * v for v in h)
    det_h = sxx * (syy * szz - szy * syz) - syx * (sxy * szz - szy * sxz) + szx * (sxy * syz - syy * sxz)
    # s1: the largest eigenvalue of G = S S^T (Smith's trigonometric solution)
    g00 = sxx * sxx + sxy * sxy + sxz * sxz
    g11 = syx * syx + syy * syy + syz * syz
    g22 = szx * szx + szy * szy + szz * szz
    g01 = sxx * syx + sxy * syy + sxz * syz
    g02 = sxx * szx + sxy * szy + sxz * szz
    g12 = syx * szx + syy * szy + syz * szz
    q = (g00 + g11 + g22) / 3
    b00, b11, b22 = g00 - q, g11 - q, g22 - q
    p = xp.sqrt((b00 * b00 + b11 * b11 + b22 * b22 + 2 * (g01 * g01 + g02 * g02 + g12 * g12)) / 6)
    inv_p = xp.where(p > 0, 1.0 / xp.where(p > 0, p, 1.0), 0.0)
    det_b = (
        b00 * (b11 * b22 - g12 * g12) - g01 * (g01 * b22 - g12 * g02) + g02 * (g01 * g12 - b11 * g02)
    ) * (inv_p * inv_p * inv_p)
    angle = xp.acos(xp.clip(0.5 * det_b, -1.0, 1.0)) / 3
    s1 = xp.sqrt(xp.clip_min(q + 2 * p * xp.cos(angle), 0.0))
    # (s2 + d s3)^2 = s2^2 + s3^2 + 2 d s2 s3 = (|H|^2 - s1^2) + 2 det(H) / s1, as d s1 s2 s3 = det H: the
    # two smaller singular values without their (inaccurate) trigonometric values
    rest = fro2 - s1 * s1 + 2 * det_h / xp.where(s1 > 0, s1, 1.0)
    lam = s1 + xp.sqrt(xp.clip_min(rest, 0.0))
    # M = N - lam I (Horn's N for S)
    m = (
        (sxx + syy + szz - lam, syz - szy, szx - sxz, sxy - syx),
        (syz - szy, sxx - syy - szz - lam, sxy + syx, szx + sxz),
        (szx - sxz, sxy + syx, syy - sxx - szz - lam, syz + szy),
        (sxy - syx, szx + sxz, syz + szy, szz - sxx - syy - lam),
    )
    s, c = _minors(m)
    # the 10 distinct entries of the symmetric adjugate (cofactor expansion on the 2x2 minors)
    a00 = m[1][1] * c[5] - m[1][2] * c[4] + m[1][3] * c[3]
    a01 = -m[0][1] * c[5] + m[0][2] * c[4] - m[0][3] * c[3]
    a02 = m[3][1] * s[5] - m[3][2] * s[4] + m[3][3] * s[3]
    a03 = -m[2][1] * s[5] + m[2][2] * s[4] - m[2][3] * s[3]
    a11 = m[0][0] * c[5] - m[0][2] * c[2] + m[0][3] * c[1]
    a12 = -m[3][0] * s[5] + m[3][2] * s[2] - m[3][3] * s[1]
    a13 = m[2][0] * s[5] - m[2][2] * s[2] + m[2][3] * s[1]
    a22 = m[3][0] * s[4] - m[3][1] * s[2] + m[3][3] * s[0]
    a23 = -m[2][0] * s[4] + m[2][1] * s[2] - m[2][3] * s[0]
    a33 = m[2][0] * s[3] - m[2][1] * s[1] + m[2][2] * s[0]
    # the column with the largest diagonal entry (= gap product x q_k^2): the best conditioned one
    quat, big = (a00, a01, a02, a03), xp.abs(a00)
    for col, d in (((a01, a11, a12, a13), a11), ((a02, a12, a22, a23), a22), ((a03, a13, a23, a33), a33)):
        d = xp.abs(d)
        better = d > big
        quat = tuple(xp.where(better, new, old) for new, old in zip(col, quat))
        big = xp.where(better, d, big)
    w, x, y, z = quat
    inv = 1.0 / xp.sqrt(xp.clip_min(w * w + x * x + y * y + z * z, 1e-300))
    w, x, y, z = w * inv, x * inv, y * inv, z * inv
    # rotation mapping y onto x (column vectors) is M(q); R = M^T for row vectors (y0 @ R)
    ww, xx, yy, zz = w * w, x * x, y * y, z * z
    xy, xz, yz, wx, wy, wz = x * y, x * z, y * z, w * x, w * y, w * z
    rot = (
        ww + xx - yy - zz, 2 * (xy + wz), 2 * (xz - wy),
        2 * (xy - wz), ww - xx + yy - zz, 2 * (yz + wx),
        2 * (xz + wy), 2 * (yz - wx), ww - xx - yy + zz,
    )  # fmt: skip
    # ill-conditioned: H = 0 (a degenerate pose) or a nearly repeated top eigenvalue of N (small adjugate;
    # the largest diagonal entry is at least a quarter of the gap product (l1-l2)(l1-l3)(l1-l4))
    bad = ~(big > 1e-3 * fro2 * xp.sqrt(fro2)) | ~xp.isfinite(lam)
    return rot, bad
