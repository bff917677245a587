"""Access to the compiled core ``hpefast._C`` with a clear error when it is missing."""

from __future__ import annotations

import functools
from types import ModuleType


@functools.lru_cache(maxsize=1)
def lib() -> ModuleType:
    """Return the compiled extension module, raising ImportError with a fix when it is absent."""
    try:
        from hpefast import _C
    except ImportError as exc:  # pragma: no cover - exercised only on a broken install
        raise ImportError(
            "hpefast's compiled core (hpefast._C) is not importable. Install the package with "
            "`pip install .` (or build in place with scripts/dev_build.sh for development)."
        ) from exc
    return _C


def cuda_compiled() -> bool:
    """True when the CUDA kernels were compiled into ``hpefast._C``."""
    return bool(lib().cuda_compiled())


def cuda_available() -> bool:
    """True when CUDA kernels are compiled in *and* a CUDA device is present and usable by torch."""
    if not cuda_compiled() or lib().cuda_device_count() <= 0:
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover
        return False
