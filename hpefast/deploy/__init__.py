"""End-to-end top-down deployment: :class:`TopDownPredictor` (boxes -> keypoints) over torch,
ONNX Runtime or TensorRT, and :class:`TensorRTRunner` (an engine on torch CUDA tensors).

Names are resolved lazily so that importing ``hpefast.deploy`` imports neither onnxruntime nor tensorrt.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "TopDownPredictor": "hpefast.deploy.predictor",
    "TensorRTRunner": "hpefast.deploy.trt_runner",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'hpefast.deploy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
