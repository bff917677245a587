"""Inference backends of the predictor: one call ``backend(images) -> heatmaps``.

All take ``images`` float32 [B, 3, H, W] on the predictor's device and return float32 heatmaps
[B, K, h, w] on that device. ``max_batch`` (None = any) and ``fixed_batch`` (None = dynamic) tell the
predictor how to chunk and pad.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn


class TorchBackend:
    """The PyTorch model itself, eager or ``torch.compile``-d, under ``inference_mode``.

    ``compile``: False (eager), True (``torch.compile`` default mode) or a ``torch.compile`` mode name;
    ``"reduce-overhead"`` replays CUDA graphs on a GPU (one graph per batch size). A graph's output buffer
    is reused by the next replay, so each call marks a new step and returns a copy.
    """

    name = "torch"
    fixed_batch: int | None = None
    max_batch: int | None = None
    MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        dataset_id: int | None = None,
        compile: bool | str = False,
    ):
        if isinstance(compile, str) and compile not in self.MODES:
            raise ValueError(f"compile must be a bool or one of {self.MODES}, got {compile!r}")
        self.model = model.to(device).eval()
        self.dataset_id = dataset_id
        mode = compile if isinstance(compile, str) else None
        self._graphs = mode in ("reduce-overhead", "max-autotune")
        self._fn = torch.compile(self.model, mode=mode) if compile else self.model

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            if self._graphs:
                torch.compiler.cudagraph_mark_step_begin()
            out = self._fn(images) if self.dataset_id is None else self._fn(images, self.dataset_id)
            return out.float().clone() if self._graphs else out.float()


def default_providers(device: torch.device) -> list[str]:
    """CUDA then CPU execution providers on a CUDA device when this onnxruntime has CUDA, else CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device.type == "cuda" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxRuntimeBackend:
    """An ONNX Runtime session. Inputs and outputs pass through host memory (numpy)."""

    name = "onnxruntime"

    def __init__(
        self,
        model: str | os.PathLike | bytes,
        device: torch.device,
        providers: list[Any] | None = None,
        threads: int | None = None,
    ):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        if threads:
            so.intra_op_num_threads = int(threads)
        src = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(
            src, sess_options=so, providers=providers or default_providers(device)
        )
        self.device = device
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"ONNX model must have one input and one output, has {len(inputs)} and {len(outputs)}"
            )
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        b = inputs[0].shape[0]
        self.fixed_batch = b if isinstance(b, int) and b > 0 else None
        self.max_batch = self.fixed_batch
        shape = outputs[0].shape
        self.output_khw = (
            tuple(shape[1:]) if len(shape) == 4 and all(isinstance(d, int) for d in shape[1:]) else None
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.detach().to("cpu", torch.float32).contiguous().numpy()
        (out,) = self.session.run([self.output_name], {self.input_name: x})
        return torch.from_numpy(out).to(self.device, torch.float32)


class TensorRTBackend:
    """A TensorRT engine through :class:`hpefast.deploy.trt_runner.TensorRTRunner` (device memory only)."""

    name = "tensorrt"
    fixed_batch: int | None = None

    def __init__(self, engine_path: str | os.PathLike, device: torch.device, trt: Any = None):
        from hpefast.deploy.trt_runner import TensorRTRunner

        self.runner = TensorRTRunner(engine_path, device, trt=trt)
        self.max_batch = self.runner.max_batch
        self.output_khw = self.runner.output_khw
        if self.runner.min_batch == self.runner.max_batch:
            self.fixed_batch = self.runner.max_batch

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.runner(images)
