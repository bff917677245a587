"""Input checks shared by the probabilistic functions: shapes that name the argument, NaN/inf and
covariance validity (symmetric positive definite) with clear errors."""

from __future__ import annotations

import torch
from torch import Tensor

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def can_read_values(t: Tensor) -> bool:
    """Value checks (NaN, SPD) read the data: done for CPU tensors outside compile / export, where it
    costs no device synchronisation; CUDA training steps are not synchronised for them."""
    return (
        t.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and not torch.jit.is_tracing()
        and not torch.onnx.is_in_onnx_export()
    )


def as_float_tensor(name: str, t: object) -> Tensor:
    """A floating tensor (numpy arrays are converted); TypeError naming ``name`` otherwise."""
    if not isinstance(t, Tensor):
        try:
            import numpy as np

            if isinstance(t, np.ndarray):
                t = torch.from_numpy(t)
        except ImportError:  # pragma: no cover - numpy is a core dependency
            pass
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(t).__name__}")
    if t.dtype not in _FLOATS:
        raise TypeError(f"{name} must be a floating-point tensor, got {str(t.dtype).replace('torch.', '')}")
    return t


def check_shape(name: str, t: Tensor, shape: tuple[int | str | None, ...]) -> None:
    """ValueError naming ``name`` unless ``t.shape`` matches ``shape`` (ints exact, str/None any)."""
    spec = "[" + ", ".join(str(s) for s in shape) + "]"
    if t.dim() != len(shape) or any(isinstance(s, int) and t.shape[i] != s for i, s in enumerate(shape)):
        raise ValueError(f"{name} must have shape {spec}, got {list(t.shape)}")


def check_finite(name: str, t: Tensor, *, always: bool = False) -> None:
    """ValueError naming ``name`` when it holds NaN or inf (only where values can be read cheaply,
    unless ``always``)."""
    if (always or can_read_values(t)) and t.numel() and not bool(torch.isfinite(t).all()):
        bad = (~torch.isfinite(t)).nonzero()[0].tolist()
        raise ValueError(f"{name} must be finite, found NaN/inf (first at index {bad})")


def check_keypoints(name: str, t: object, b: int | None = None, k: int | None = None) -> Tensor:
    """[B, K, 2] floating keypoints; ``b``/``k`` pin the batch and joint counts."""
    t = as_float_tensor(name, t)
    check_shape(name, t, ("B" if b is None else b, "K" if k is None else k, 2))
    return t


def check_visible(visible: object, b: int, k: int, device: torch.device) -> Tensor | None:
    """``visible`` [B, K] (bool or numbers, > 0.5 = labelled) -> bool tensor on ``device``, or None."""
    if visible is None:
        return None
    if not isinstance(visible, Tensor):
        raise TypeError(f"visible must be a torch.Tensor [B, K] or None, got {type(visible).__name__}")
    check_shape("visible", visible, (b, k))
    return (visible > 0.5 if visible.dtype != torch.bool else visible).to(device)


def cholesky_checked(name: str, cov: Tensor, jitter: float = 0.0) -> Tensor:
    """Lower Cholesky factor of ``cov`` [B, D, D]; ValueError naming ``name`` and the first failing
    sample when a matrix is not symmetric or not positive definite (``jitter`` is added to the
    diagonal first: a documented way to accept positive semi-definite covariances)."""
    if jitter < 0:
        raise ValueError(f"jitter must be >= 0, got {jitter}")
    if jitter:
        cov = cov + jitter * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    if can_read_values(cov) and cov.numel():
        asym = (cov - cov.mT).abs().amax(dim=(-2, -1))
        scale = cov.abs().amax(dim=(-2, -1)).clamp_min(1e-30)
        tol = 1e-5 if cov.dtype == torch.float64 else 1e-3
        bad = (asym > tol * scale).nonzero()
        if bad.numel():
            i = int(bad[0, 0])
            raise ValueError(
                f"{name} must be symmetric; sample {i} has max |C - C^T| = {float(asym[i]):.3g} "
                f"(max |C| = {float(scale[i]):.3g})"
            )
    chol, info = torch.linalg.cholesky_ex(cov)
    if can_read_values(cov) and info.numel() and bool((info > 0).any()):
        i = int((info > 0).nonzero()[0, 0])
        raise ValueError(
            f"{name} must be symmetric positive definite; sample {i} is not (Cholesky failed at "
            f"row {int(info[i]) - 1}); pass jitter > 0 to add it to the diagonal"
        )
    return chol
