"""End-to-end top-down deployment: :class:`TopDownPredictor` (boxes -> keypoints) over torch,
ONNX Runtime or TensorRT, and :class:`TensorRTRunner` (an engine on torch CUDA tensors).

Names are resolved lazily so that importing ``hpefast.deploy`` imports neither onnxruntime nor tensorrt.
"""

from __future__ import annotations

from hpefast._lazy import lazy_names

_NAMES = {
    "TopDownPredictor": "hpefast.deploy.predictor",
    "TensorRTRunner": "hpefast.deploy.trt_runner",
}

__all__ = sorted(_NAMES)

__getattr__, __dir__ = lazy_names(__name__, _NAMES)
