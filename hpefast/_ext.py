"""Access to the compiled core ``hpefast._C`` with a clear error when it is missing."""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
from types import ModuleType


def _installed_extension() -> ModuleType | None:
    """Load ``_C`` from the installed distribution when ``hpefast`` itself was imported from a source
    checkout (``python -m pytest`` or ``python -c`` in the repository root put the checkout first on
    sys.path, and a checkout has no compiled module unless scripts/dev_build.sh made one)."""
    try:
        files = importlib.metadata.distribution("hpefast").files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for f in files:
        if f.parent.name == "hpefast" and f.name.startswith("_C.") and f.name.endswith(suffixes):
            path = str(f.locate())
            spec = importlib.util.spec_from_file_location("hpefast._C", path)
            if spec is None or spec.loader is None:
                return None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules["hpefast._C"] = module
            return module
    return None


@functools.lru_cache(maxsize=1)
def lib() -> ModuleType:
    """Return the compiled extension module, raising ImportError with a fix when it is absent."""
    try:
        from hpefast import _C
    except ImportError as exc:
        module = _installed_extension()
        if module is not None:
            return module
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
