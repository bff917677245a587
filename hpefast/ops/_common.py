"""Validation helpers shared by the op wrappers.

Errors are typed and name the argument: TypeError for a wrong type/dtype, ValueError for a wrong
shape, device mix, non-contiguous memory or bad value. The C++ side re-checks as a backstop.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hpefast._ext import lib, sync_num_threads


def check_tensor(
    name: str,
    t: object,
    *,
    dtype: torch.dtype | Sequence[torch.dtype] | None = None,
    shape: Sequence[int | str | None] | None = None,
    contiguous: bool = True,
) -> torch.Tensor:
    """Check that ``t`` is a tensor of ``dtype`` whose shape matches ``shape``.

    ``shape`` entries: an int (exact size), a str (a named size, only for the message) or None (any).
    Example: ``check_tensor("keypoints", kp, dtype=torch.float32, shape=("B", "K", 2))``.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if dtype is not None:
        allowed = (dtype,) if isinstance(dtype, torch.dtype) else tuple(dtype)
        if t.dtype not in allowed:
            want = " or ".join(str(d).replace("torch.", "") for d in allowed)
            raise TypeError(f"{name} must be {want}, got {str(t.dtype).replace('torch.', '')}")
    if shape is not None:
        spec = "[" + ", ".join(str(s) for s in shape) + "]"
        if t.dim() != len(shape):
            raise ValueError(f"{name} must have shape {spec}, got {list(t.shape)}")
        for i, s in enumerate(shape):
            if isinstance(s, int) and t.shape[i] != s:
                raise ValueError(f"{name} must have shape {spec}, got {list(t.shape)}")
    if contiguous and not t.is_contiguous():
        raise ValueError(f"{name} must be contiguous (call .contiguous() first)")
    return t


def check_same_device(**tensors: torch.Tensor) -> torch.device:
    """All tensors on one device; returns it. Raises ValueError naming the odd one out."""
    items = list(tensors.items())
    dev = items[0][1].device
    for name, t in items[1:]:
        if t.device != dev:
            raise ValueError(f"{name} is on {t.device} but {items[0][0]} is on {dev}; put them on one device")
    return dev


def check_device_supported(name: str, t: torch.Tensor) -> None:
    """CPU always works; CUDA needs the CUDA kernels compiled in."""
    if t.device.type == "cpu":
        return
    if t.device.type == "cuda":
        if not lib().cuda_compiled():
            raise ValueError(
                f"{name} is on {t.device} but hpefast was built without CUDA kernels; "
                "reinstall with nvcc available (and HPEFAST_CUDA unset) or move the tensor to the CPU"
            )
        return
    raise ValueError(f"{name} is on unsupported device {t.device} (hpefast kernels run on cpu and cuda)")


def cuda_stream(t: torch.Tensor) -> int:
    """Handle of torch's current stream on ``t``'s device (0 for CPU tensors)."""
    if t.device.type != "cuda":
        return 0
    return int(torch.cuda.current_stream(t.device).cuda_stream)


def launch(kernel: str, ref: torch.Tensor, *args: object) -> None:
    """Call the compiled op ``_C.<kernel>(cuda, stream, *args)`` on ``ref``'s device.

    The calling convention of every tensor op (csrc/README.md): ``cuda`` and torch's current stream first,
    then the op's buffers (``t.data_ptr()``), sizes and scalars. CPU launches first pass torch's thread count.
    """
    fn = getattr(lib(), kernel)
    if ref.device.type == "cuda":
        with torch.cuda.device(ref.device):
            fn(True, cuda_stream(ref), *args)
    else:
        sync_num_threads()
        fn(False, 0, *args)


def as_size(name: str, value: object, limit: int = 1 << 16) -> tuple[int, int]:
    """Parse a (W, H) size: two positive ints up to ``limit``. Raises TypeError/ValueError naming ``name``."""
    message = f"{name} must be a pair (W, H) of positive ints, got {value!r}"
    try:
        w, h = value  # type: ignore[misc]
        if isinstance(w, bool) or isinstance(h, bool) or int(w) != w or int(h) != h:
            raise TypeError(message)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(message) from None
    w, h = int(w), int(h)
    if w <= 0 or h <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    if w > limit or h > limit:
        raise ValueError(f"{name} must be at most {limit} per side, got {value!r}")
    return w, h
