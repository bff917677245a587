"""Run a serialized TensorRT engine on torch CUDA tensors (TensorRT 10 / 11 name-based I/O API).

``execute_async_v3`` is enqueued on torch's current CUDA stream with the input and output tensors' device
pointers, so the heatmaps stay in a torch tensor on the device and go straight into
``hpefast.ops.decode_heatmaps`` with no host copy and no extra synchronisation.

Status: written against the TensorRT 10/11 Python API; TensorRT cannot be installed on the machines this
project is developed on, so this runs only where ``tensorrt`` imports (tests skip otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from hpefast.export.trt_engine import import_tensorrt


def torch_dtype(trt: ModuleType, dtype: Any) -> torch.dtype:
    """torch dtype of a ``tensorrt.DataType``; ValueError for one torch has no equivalent of."""
    table = {
        "FLOAT": torch.float32,
        "HALF": torch.float16,
        "BF16": torch.bfloat16,
        "INT32": torch.int32,
        "INT64": torch.int64,
        "INT8": torch.int8,
        "UINT8": torch.uint8,
        "BOOL": torch.bool,
    }
    for name, tdt in table.items():
        if hasattr(trt.DataType, name) and dtype == getattr(trt.DataType, name):
            return tdt
    raise ValueError(f"TensorRT data type {dtype} has no torch equivalent")


class TensorRTRunner:
    """One engine, one execution context: ``runner(images) -> heatmaps`` on the GPU.

    Args:
        engine_path: serialized engine (``hpefast export --format tensorrt`` or :func:`build_engine`).
        device: CUDA device the engine runs on.
        trt: the tensorrt module (default: ``import tensorrt``).

    Attributes:
        input_name, output_name: the engine's I/O tensor names.
        min_batch, opt_batch, max_batch: the batch range of optimization profile 0.
    """

    def __init__(
        self,
        engine_path: str | os.PathLike,
        device: str | torch.device = "cuda",
        trt: ModuleType | None = None,
    ):
        self.trt = trt if trt is not None else import_tensorrt()
        device = torch.device(device)
        if device.type != "cuda":
            raise ValueError(f"TensorRT engines run on a CUDA device, got device={device}")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        self.device = device
        path = Path(engine_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: TensorRT engine not found")
        self._logger = self.trt.Logger(self.trt.Logger.WARNING)
        self._runtime = self.trt.Runtime(self._logger)
        with torch.cuda.device(self.device):
            self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if self.engine is None:
                raise ValueError(
                    f"{path}: TensorRT could not deserialize the engine (built by another TensorRT version "
                    "or for another GPU? engines are not portable: rebuild it on this machine)"
                )
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == self.trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"{path}: expected one input and one output tensor, found {inputs} and {outputs}"
            )
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.input_dtype = torch_dtype(self.trt, self.engine.get_tensor_dtype(self.input_name))
        self.output_dtype = torch_dtype(self.trt, self.engine.get_tensor_dtype(self.output_name))
        lo, opt, hi = self.engine.get_tensor_profile_shape(self.input_name, 0)
        self.min_batch, self.opt_batch, self.max_batch = int(lo[0]), int(opt[0]), int(hi[0])
        self.input_chw = tuple(int(d) for d in hi[1:])
        out_shape = tuple(int(d) for d in self.engine.get_tensor_shape(self.output_name))
        self.output_khw = out_shape[1:] if len(out_shape) == 4 and min(out_shape[1:]) > 0 else None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, C, H, W] float32 on the runner's device -> heatmaps [B, K, h, w] float32 there.

        B must lie in the engine's profile range [min_batch, max_batch]. Asynchronous on torch's current
        stream, like any torch op.
        """
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
        if images.device != self.device:
            raise ValueError(f"images is on {images.device} but the engine runs on {self.device}")
        if images.dim() != 4 or tuple(images.shape[1:]) != self.input_chw:
            raise ValueError(
                f"images must have shape [B, {', '.join(map(str, self.input_chw))}], got {list(images.shape)}"
            )
        b = images.shape[0]
        if not self.min_batch <= b <= self.max_batch:
            raise ValueError(
                f"batch {b} is outside the engine's profile [{self.min_batch}, {self.max_batch}]"
            )
        x = images.to(self.input_dtype).contiguous()
        if not self.context.set_input_shape(self.input_name, tuple(x.shape)):
            raise ValueError(f"TensorRT refused input shape {list(x.shape)}")
        out_shape = tuple(int(d) for d in self.context.get_tensor_shape(self.output_name))
        out = torch.empty(out_shape, dtype=self.output_dtype, device=x.device)
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        self.context.set_tensor_address(self.output_name, out.data_ptr())
        stream = torch.cuda.current_stream(x.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed (see the TensorRT log)")
        # ``x`` must outlive the kernels: torch's caching allocator reuses its memory only for work queued
        # later on this same stream, so returning is safe.
        return out if out.dtype == torch.float32 else out.float()
