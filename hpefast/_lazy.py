"""Lazy package attributes (PEP 562): ``import hpefast.engine`` stays cheap and does not import torch
extensions, onnxruntime or tensorrt until a name that needs them is used."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for a package whose public ``names`` map to defining modules.

    Example (in a package ``__init__``)::

        _NAMES = {"Trainer": "hpefast.engine.trainer"}
        __all__ = sorted(_NAMES)
        __getattr__, __dir__ = lazy_names(__name__, _NAMES)
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
