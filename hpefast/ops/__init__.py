"""Thin torch wrappers over the compiled kernels, registered as ``torch.library`` custom ops
(namespace ``hpefast``) with fake implementations (and autograd where differentiable).

Each op lives in its own module; names are resolved lazily so importing ``hpefast.ops`` is cheap.
"""

from __future__ import annotations

from hpefast._lazy import lazy_names

_OPS = {
    "encode_heatmaps": "hpefast.ops.heatmap",
    "decode_heatmaps": "hpefast.ops.heatmap",
    "flip_heatmaps": "hpefast.ops.heatmap",
    "union_heatmap_loss": "hpefast.ops.loss",
    "oks": "hpefast.ops.keypoint_metrics",
    "pckh": "hpefast.ops.keypoint_metrics",
}

__all__ = sorted(_OPS)

__getattr__, __dir__ = lazy_names(__name__, _OPS)
