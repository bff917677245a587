"""End-to-end top-down predictor: image + person boxes -> keypoints in image pixels.

Pipeline (one batch for all boxes of the image):

1. boxes (x, y, w, h) -> centre / scale (x1.25 padding, aspect fixed to the model input) -> UDP warp.
2. crops: ``cv2.warpAffine`` on the host (CPU default) or one ``grid_sample`` on the device (CUDA default).
3. the network on ``[crops; flipped crops]`` (flip test), heatmaps of the flipped half flipped back
   through the schema's flip index (UDP: no one-pixel shift) and averaged.
4. the model's codec (``HeatmapCodec.decode``: DARK-UDP for UDP models) on the output buffer, on the device.
5. crop pixels -> image pixels (``crop_to_image``, the exact inverse of the warp).

With the torch or TensorRT backend on a GPU nothing returns to the host until the caller asks for
numpy output; ONNX Runtime's output passes through host memory.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hpefast.codec import HeatmapCodec
from hpefast.deploy.crops import crop_cv2, crop_torch, image_to_device, warp_matrices
from hpefast.deploy.inputs import check_boxes, check_channel_order, check_image
from hpefast.errors import InputError
from hpefast.export.metadata import ExportInfo, engine_info_path

BACKENDS = ("torch", "onnxruntime", "tensorrt")
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def _resolve_source(model_or_path: Any) -> tuple[str, Any]:
    """('module', nn.Module) | ('onnx', Path) | ('engine', Path) | ('checkpoint', Path)."""
    if isinstance(model_or_path, nn.Module):
        return "module", model_or_path
    if not isinstance(model_or_path, (str, os.PathLike)):
        raise TypeError(
            "model_or_path must be a hpefast model (nn.Module) or a path to a checkpoint, .onnx file or "
            f"TensorRT engine, got {type(model_or_path).__name__}"
        )
    path = Path(model_or_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: model file not found")
    if path.suffix == ".onnx":
        return "onnx", path
    if path.suffix in ENGINE_SUFFIXES:
        return "engine", path
    return "checkpoint", path


def _read_onnx_info(path: Path) -> tuple[ExportInfo | None, tuple[int, int] | None]:
    from hpefast.export.metadata import verify_onnx_checksum
    from hpefast.export.trt_engine import read_onnx_io

    verify_onnx_checksum(path)  # a flipped byte is reported with the path, not run
    info, _, chw, _ = read_onnx_io(path)
    return info, (chw[2], chw[1])


def _verify_engine(path: Path) -> None:
    import json

    from hpefast.export.metadata import verify_engine_checksum

    sidecar = json.loads(engine_info_path(path).read_text(encoding="utf-8"))
    verify_engine_checksum(path, sidecar if isinstance(sidecar, dict) else {})


class TopDownPredictor:
    """Top-down keypoint predictor over a torch model, an ONNX file or a TensorRT engine.

    Args:
        model_or_path: a hpefast model (``nn.Module``; moved to ``device`` and put in eval mode), a
            checkpoint path (``hpefast.models.load_model``), an ``.onnx`` file from ``hpefast export``, or
            a TensorRT engine (``.engine`` / ``.plan`` / ``.trt`` with its ``.json`` beside it).
        backend: "torch", "onnxruntime" or "tensorrt"; None picks by source (model / checkpoint -> torch,
            .onnx -> onnxruntime, engine -> tensorrt). A torch model with backend "onnxruntime" is
            exported in memory; with "tensorrt" it is exported and built in a temporary folder.
        flip_test: average with the horizontally flipped crop (ViTPose's test-time flip).
        codec: the :class:`~hpefast.codec.HeatmapCodec` that decodes and flips the heatmaps. None (the
            default) takes the model's own: ``model.cfg.codec``, or the one recorded in the export metadata
            (a file without hpefast metadata: the udp / dark_udp codec of its sizes). One given explicitly
            must have the model's input and heatmap sizes.
        device: "cpu" or "cuda[:i]"; default: CUDA for TensorRT, else CPU.
        layout: expected keypoint schema name; ValueError when the model's differs. Required for an ONNX
            file or engine without hpefast metadata.
        channel_order: of the images given to :meth:`predict`: "bgr" (as ``cv2.imread`` returns, default)
            or "rgb".
        padding: box enlargement (1.25 as in training).
        batch_size: most crops per network call (flip test doubles the crops of a call).
        crop: "cv2" (host) or "torch" (``grid_sample`` on the device); default: cv2 on CPU, torch on CUDA.
        compile: ``torch.compile`` the model (torch backend): True, or a mode name, e.g.
            ``"reduce-overhead"`` (CUDA graphs on a GPU).
        dataset_id: the head / expert of a multi-dataset model (torch backend; an export bakes it in).
        providers: ONNX Runtime execution providers (default: CUDA when available on a CUDA device, CPU).
        onnx_threads: ONNX Runtime intra-op threads (default: its own choice, one per core). Torch's
            thread count is process-wide: ``torch.set_num_threads``.

    Example::

        predictor = TopDownPredictor("model.onnx")
        keypoints = predictor.predict(cv2.imread("image.jpg"), [[10, 20, 100, 200]])  # [1, K, 3]
    """

    def __init__(
        self,
        model_or_path: nn.Module | str | os.PathLike,
        backend: str | None = None,
        flip_test: bool = True,
        codec: HeatmapCodec | None = None,
        device: str | torch.device | None = None,
        *,
        layout: str | None = None,
        channel_order: str = "bgr",
        padding: float = 1.25,
        batch_size: int = 64,
        crop: str | None = None,
        compile: bool | str = False,
        dataset_id: int | None = None,
        providers: list[Any] | None = None,
        onnx_threads: int | None = None,
    ) -> None:
        kind, source = _resolve_source(model_or_path)
        if backend is None:
            backend = {"onnx": "onnxruntime", "engine": "tensorrt"}.get(kind, "torch")
        if backend not in BACKENDS:
            raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if codec is not None and not isinstance(codec, HeatmapCodec):
            raise TypeError(f"codec must be a hpefast.HeatmapCodec or None, got {type(codec).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive int, got {batch_size!r}")
        if not float(padding) > 0:
            raise InputError(f"padding must be > 0, got {padding!r}")
        if device is None:
            device = "cuda" if backend == "tensorrt" else "cpu"
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError):
            raise InputError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"device={self.device} but torch sees no CUDA device")
        if crop is None:
            crop = "torch" if self.device.type == "cuda" else "cv2"
        if crop not in ("cv2", "torch"):
            raise InputError(f"crop must be 'cv2' or 'torch', got {crop!r}")
        self.crop = crop
        self.channel_order = check_channel_order(channel_order)
        self.flip_test = bool(flip_test)
        self.padding = float(padding)
        self.batch_size = batch_size
        self.backend_name = backend
        self._tmpdir: tempfile.TemporaryDirectory | None = None

        if kind == "checkpoint":
            from hpefast.models.checkpoint import load_model

            source, kind = load_model(source, map_location=self.device, layout=layout), "module"

        if kind == "module":
            info = ExportInfo.from_model(source)
        elif kind == "onnx":
            info, size = _read_onnx_info(source)
            if info is None:
                info = ExportInfo(layout=None, num_keypoints=0, image_size=size, heatmap_size=(0, 0))
        else:
            info = ExportInfo.from_json_file(engine_info_path(source))
            _verify_engine(source)
        self.info = info
        self.schema = self._resolve_schema(info, layout, source)
        self.input_size = info.image_size

        if backend == "torch":
            if kind != "module":
                raise InputError(
                    f"{source}: a {kind} file runs on backend 'onnxruntime' or 'tensorrt' "
                    "(backend 'torch' needs a model or checkpoint)"
                )
            from hpefast.deploy.backends import TorchBackend

            self.backend = TorchBackend(source, self.device, dataset_id=dataset_id, compile=compile)
        elif backend == "onnxruntime":
            if kind == "engine":
                raise InputError(f"{source}: a TensorRT engine runs only on backend 'tensorrt'")
            from hpefast.deploy.backends import OnnxRuntimeBackend

            if kind == "module":
                from hpefast.export.onnx_export import export_onnx_model

                onnx_src: Any = export_onnx_model(source, dataset_id=dataset_id).SerializeToString()
            else:
                self._check_dataset_id(info, dataset_id, source)
                onnx_src = source
            self.backend = OnnxRuntimeBackend(
                onnx_src, self.device, providers=providers, threads=onnx_threads
            )
        else:
            if self.device.type != "cuda":
                raise InputError(f"backend 'tensorrt' runs on a CUDA device, got device={self.device}")
            from hpefast.deploy.backends import TensorRTBackend

            if kind != "engine":
                engine = self._build_temporary_engine(kind, source, dataset_id)
            else:
                self._check_dataset_id(info, dataset_id, source)
                engine = source
            self.backend = TensorRTBackend(engine, self.device)
        if not info.num_keypoints:
            self._complete_info()
        self.codec = self._resolve_codec(codec)

    def _resolve_codec(self, codec: HeatmapCodec | None) -> HeatmapCodec:
        """The given codec (checked against the model's sizes) or the model's own."""
        if codec is None:
            return self.info.heatmap_codec()
        for name, want in (("input_size", self.info.image_size), ("heatmap_size", self.info.heatmap_size)):
            if tuple(getattr(codec, name)) != tuple(want):
                raise InputError(
                    f"codec.{name} {getattr(codec, name)} does not match the model's {tuple(want)}"
                )
        return codec

    def _complete_info(self) -> None:
        """A file without hpefast metadata: take K and the heatmap size from the graph's output."""
        khw = getattr(self.backend, "output_khw", None)
        if khw is None:
            raise InputError(
                "the model file gives no static output shape [B, K, h, w] and carries no metadata"
            )
        k, h, w = (int(v) for v in khw)
        if k != self.schema.num_keypoints:
            raise InputError(
                f"the model has {k} output channels but layout {self.schema.name!r} has "
                f"{self.schema.num_keypoints} keypoints"
            )
        self.info = replace(self.info, num_keypoints=k, heatmap_size=(w, h))

    # --- construction helpers ---------------------------------------------------------------------
    @staticmethod
    def _resolve_schema(info: ExportInfo, layout: str | None, source: Any):
        from hpefast.keypoints import get_schema

        name = f"{source}" if not isinstance(source, nn.Module) else "model"
        if layout is not None and info.layout is not None and layout != info.layout:
            raise InputError(
                f"{name} predicts layout {info.layout!r} ({info.num_keypoints} keypoints), not {layout!r}"
            )
        chosen = layout or info.layout
        if chosen is None:
            raise InputError(f"{name} carries no keypoint layout (not exported by hpefast): pass layout=...")
        try:
            schema = get_schema(chosen)
        except (KeyError, LookupError, ValueError) as exc:
            raise InputError(f"unknown keypoint layout {chosen!r}: {exc}") from None
        if info.num_keypoints and schema.num_keypoints != info.num_keypoints:
            raise InputError(
                f"{name} has {info.num_keypoints} output channels but layout {chosen!r} has "
                f"{schema.num_keypoints} keypoints"
            )
        return schema

    @staticmethod
    def _check_dataset_id(info: ExportInfo, dataset_id: int | None, source: Any) -> None:
        if dataset_id is not None and dataset_id != info.dataset_id:
            raise InputError(
                f"{source} was exported with dataset_id={info.dataset_id}; the head is fixed in the file "
                f"(asked for {dataset_id}): export again with that dataset_id"
            )

    def _build_temporary_engine(self, kind: str, source: Any, dataset_id: int | None) -> Path:
        from hpefast.export.onnx_export import to_onnx
        from hpefast.export.trt_engine import build_engine

        self._tmpdir = tempfile.TemporaryDirectory(prefix="hpefast-trt-")
        tmp = Path(self._tmpdir.name)
        onnx_path = to_onnx(source, tmp / "model.onnx", dataset_id=dataset_id) if kind == "module" else source
        return build_engine(onnx_path, tmp / "model.engine", max_batch=self.batch_size)

    # --- properties -------------------------------------------------------------------------------
    @property
    def layout(self) -> str:
        return self.schema.name

    @property
    def num_keypoints(self) -> int:
        return self.schema.num_keypoints

    # --- the three stages (public so benchmarks can time them) -----------------------------------
    def preprocess(self, image: Any, boxes: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Validate and crop: -> (crops [N, 3, H, W] float32 on the device, center [N, 2], scale [N, 2]
        float64 on the device, pixels)."""
        image = check_image(image)
        height, width = int(image.shape[0]), int(image.shape[1])
        return self._crop(image, check_boxes(boxes, (width, height)))

    def _crop(self, image: Any, b: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`preprocess` on a checked image and checked boxes [N, 4]."""
        from hpefast.data.transforms import box_to_center_scale

        w, h = self.input_size
        if len(b) == 0:
            empty = torch.zeros((0, 2), dtype=torch.float64, device=self.device)
            return torch.zeros((0, 3, h, w), device=self.device), empty, empty.clone()
        center, scale = box_to_center_scale(b, aspect_ratio=w / h, padding=self.padding)
        center, scale = center.reshape(-1, 2), scale.reshape(-1, 2)
        mats = warp_matrices(center, scale, self.input_size)
        if self.crop == "cv2":
            host = image.cpu().numpy() if isinstance(image, torch.Tensor) else image
            crops = crop_cv2(host, mats, self.input_size, self.channel_order).to(
                self.device, non_blocking=True
            )
        else:
            crops = crop_torch(image_to_device(image, self.device), mats, self.input_size, self.channel_order)
        c = torch.from_numpy(center).to(self.device)
        s = torch.from_numpy(scale).to(self.device)
        return crops, c, s

    def infer(self, crops: torch.Tensor) -> torch.Tensor:
        """crops [N, 3, H, W] -> heatmaps [N, K, h, w] float32 (flip-averaged when ``flip_test``)."""
        n = crops.shape[0]
        if n == 0:
            hw, hh = self.info.heatmap_size
            return torch.zeros((0, self.num_keypoints, hh, hw), device=self.device)
        x = torch.cat([crops, crops.flip(3)]) if self.flip_test else crops
        hm = self._run(x)
        if self.flip_test:
            back = self.codec.flip_back(hm[n:].contiguous(), self.schema.flip_index)
            hm = (hm[:n] + back) * 0.5
        return hm.contiguous()

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        be = self.backend
        chunk = min(self.batch_size, be.max_batch or self.batch_size)
        fixed = be.fixed_batch
        if fixed is not None:
            chunk = fixed
        outs = []
        for i in range(0, x.shape[0], chunk):
            xb = x[i : i + chunk]
            m = xb.shape[0]
            if fixed is not None and m < fixed:
                xb = torch.cat([xb, xb.new_zeros((fixed - m, *xb.shape[1:]))])
            outs.append(be(xb)[:m])
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def postprocess(self, heatmaps: torch.Tensor, center: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """heatmaps [N, K, h, w] -> keypoints [N, K, 3] float32 (x, y image pixels, score) on the device."""
        from hpefast.data.transforms import crop_to_image

        n = heatmaps.shape[0]
        if n == 0:
            return torch.zeros((0, self.num_keypoints, 3), device=self.device)
        kp, scores = self.codec.decode(heatmaps)
        xy = crop_to_image(kp.double(), center, scale, self.input_size)
        return torch.cat([xy.float(), scores.float().unsqueeze(-1)], dim=-1)

    def predict(self, image: np.ndarray | torch.Tensor, boxes: Any) -> np.ndarray | torch.Tensor:
        """Keypoints of the people in ``boxes``.

        Args:
            image: [H, W, 3] uint8, BGR (as ``cv2.imread`` returns) unless ``channel_order="rgb"``;
                a numpy array or a torch tensor (any device).
            boxes: [N, 4] (x, y, w, h) image pixels; N may be 0. Boxes may extend past the image
                (the crop is padded black) but must overlap it and have w, h > 0.
        Returns:
            [N, K, 3] float32: (x, y) image pixels (pixel centres at integers) and the heatmap score.
            A numpy array for a numpy image; for a torch image, a tensor on the predictor's device.

        The boxes go through crop, network and decode ``batch_size`` at a time, so memory does not grow
        with the number of boxes (only the [N, K, 3] result does).
        """
        as_tensor = isinstance(image, torch.Tensor)
        image = check_image(image)
        b = check_boxes(boxes, (int(image.shape[1]), int(image.shape[0])))
        if len(b) > self.batch_size:  # move the image once, not once per chunk
            if self.crop == "torch":  # [H, W, 3] uint8 on the device; _crop makes the float copy per chunk
                t = torch.from_numpy(image) if isinstance(image, np.ndarray) else image
                image = t.to(self.device)
            elif isinstance(image, torch.Tensor):
                image = image.cpu().numpy()
        parts = []
        for i in range(0, max(len(b), 1), self.batch_size):
            crops, center, scale = self._crop(image, b[i : i + self.batch_size])
            parts.append(self.postprocess(self.infer(crops), center, scale))
            del crops
        out = parts[0] if len(parts) == 1 else torch.cat(parts)
        if as_tensor:
            return out
        return out.cpu().numpy()

    __call__ = predict

    def __repr__(self) -> str:
        w, h = self.input_size
        return (
            f"TopDownPredictor(backend={self.backend_name!r}, layout={self.layout!r}, input={w}x{h}, "
            f"flip_test={self.flip_test}, decoder={self.codec.decoder!r}, device='{self.device}', "
            f"crop={self.crop!r})"
        )
