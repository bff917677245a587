"""Export hpefast models for deployment: ONNX files and TensorRT engines.

- :func:`to_onnx`: model -> ``.onnx`` (dynamic or fixed batch, opset 17+, fp32 or fp16, checked with
  ``onnx.checker``; geometry and layout in the file's metadata); :func:`verify_onnx` compares ONNX
  Runtime with torch (heatmaps and decoded keypoints).
- :func:`fold_batchnorm`: a copy of a model with every BatchNorm that follows a convolution or transposed
  convolution merged into it (exports fold by default; ``fold_bn=False`` opts out).
- :func:`build_engine`: ``.onnx`` -> serialized TensorRT engine (TensorRT 10 / 11 Python API) plus
  ``<engine>.json`` with the metadata.

Names are resolved lazily: importing ``hpefast.export`` does not import torch.onnx or tensorrt.
"""

from __future__ import annotations

from hpefast._lazy import lazy_names

_NAMES = {
    "to_onnx": "hpefast.export.onnx_export",
    "export_onnx_model": "hpefast.export.onnx_export",
    "use_plain_attention": "hpefast.export.onnx_export",
    "parse_batch": "hpefast.export.onnx_export",
    "verify_onnx": "hpefast.export.onnx_export",
    "build_engine": "hpefast.export.trt_engine",
    "batch_profile": "hpefast.export.trt_engine",
    "BatchProfile": "hpefast.export.trt_engine",
    "import_tensorrt": "hpefast.export.trt_engine",
    "ExportInfo": "hpefast.export.metadata",
    "fold_batchnorm": "hpefast.export.fold",
    "count_batchnorm": "hpefast.export.fold",
}

__all__ = sorted(_NAMES)

__getattr__, __dir__ = lazy_names(__name__, _NAMES)
