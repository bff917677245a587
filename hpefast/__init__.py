"""hpefast: fast 2D pose estimation.

Compiled CPU/CUDA kernels for heatmap target generation and decoding, the masked union-joint loss and
COCO/MPII evaluation, under a thin PyTorch API; datasets and a top-down pipeline; ViTPose models and a
training engine; ONNX/TensorRT export and an end-to-end predictor.
"""

from __future__ import annotations

from typing import Any

from hpefast._ext import build_info, cuda_available, cuda_compiled

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "build_info",
    "cuda_available",
    "cuda_compiled",
    "load_model",
    "HeatmapCodec",
    "HpefastError",
]


def __getattr__(name: str) -> Any:
    # imported on first use, so that ``import hpefast`` stays light (no pydantic / torch import)
    if name == "HeatmapCodec":
        from hpefast.codec import HeatmapCodec

        return HeatmapCodec
    if name == "HpefastError":
        from hpefast.errors import HpefastError

        return HpefastError
    raise AttributeError(f"module 'hpefast' has no attribute {name!r}")


def load_model(path: str, map_location: str = "cpu") -> Any:
    """Rebuild a model saved by hpefast (safetensors weights + json config). See hpefast.models."""
    from hpefast.models.checkpoint import load_model as _load

    return _load(path, map_location=map_location)
