"""Build a serialized TensorRT engine from an exported ONNX file (TensorRT 10 and 11 Python API).

Status: written against the TensorRT 10/11 Python API and unit-tested with a stand-in ``tensorrt`` module;
TensorRT itself cannot be installed on the machines this project is developed and tested on, so no
real engine has been built here.

Precision:
- TensorRT 11 builds strongly typed networks only (``BuilderFlag.FP16`` was removed): the precision is
  the ONNX file's, so an fp16 engine comes from an fp16 ONNX (``to_onnx(..., fp16=True)``).
- TensorRT 10: an fp16 ONNX is built as a strongly typed network too; an fp32 ONNX with ``fp16=True``
  sets ``BuilderFlag.FP16`` and lets TensorRT choose half-precision kernels.

Batch: a dynamic-batch ONNX gets one optimization profile ``min=1, opt=opt_batch, max=max_batch``;
a fixed-batch ONNX gets ``min=opt=max=batch``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from hpefast._io import atomic_write_bytes, atomic_write_text, sha256_file
from hpefast.errors import InputError
from hpefast.export.metadata import INPUT_NAME, ExportInfo, engine_info_path


def import_tensorrt() -> ModuleType:
    """Import ``tensorrt`` or raise ImportError saying how to get it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise ImportError(
            "TensorRT is not installed: the tensorrt Python package (TensorRT 10 or 11, on a machine "
            "with an NVIDIA GPU) is needed to build or run engines. Export to ONNX and use the "
            "onnxruntime backend instead, or `pip install tensorrt` where NVIDIA provides it."
        ) from exc
    return tensorrt


def tensorrt_major(trt: ModuleType) -> int:
    """Major version of a tensorrt module (``"10.13.0.35"`` -> 10)."""
    version = str(getattr(trt, "__version__", "0"))
    try:
        return int(version.split(".")[0])
    except ValueError:
        raise InputError(f"cannot read the TensorRT version from {version!r}") from None


@dataclass(frozen=True)
class BatchProfile:
    """Batch range of an optimization profile: min <= opt <= max."""

    min: int
    opt: int
    max: int

    def shapes(self, chw: tuple[int, int, int]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) input shapes [B, C, H, W] for ``IOptimizationProfile.set_shape``."""
        return (self.min, *chw), (self.opt, *chw), (self.max, *chw)


def batch_profile(fixed_batch: int | None, max_batch: int = 32, opt_batch: int | None = None) -> BatchProfile:
    """The optimization profile for an ONNX input whose batch is ``fixed_batch`` (None = dynamic).

    Dynamic: min 1, max ``max_batch``, opt ``opt_batch`` (default: ``min(8, max_batch)``, the typical
    number of people per frame). Fixed: all three equal the fixed batch (``max_batch``/``opt_batch`` must
    then agree with it or be left at their defaults).
    """
    for name, v in (("max_batch", max_batch), ("opt_batch", opt_batch), ("fixed_batch", fixed_batch)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise InputError(f"{name} must be a positive int, got {v!r}")
    if fixed_batch is not None:
        if opt_batch not in (None, fixed_batch):
            raise InputError(
                f"opt_batch={opt_batch} conflicts with the ONNX file's fixed batch {fixed_batch}"
            )
        return BatchProfile(fixed_batch, fixed_batch, fixed_batch)
    opt = min(8, max_batch) if opt_batch is None else opt_batch
    if opt > max_batch:
        raise InputError(f"opt_batch ({opt}) must be <= max_batch ({max_batch})")
    return BatchProfile(1, opt, max_batch)


def read_onnx_io(
    onnx_path: str | os.PathLike,
) -> tuple[ExportInfo | None, int | None, tuple[int, int, int], str]:
    """(hpefast metadata or None, fixed batch or None, input (C, H, W), input name) of an ONNX file."""
    import onnx

    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"{onnx_path}: ONNX file not found")
    try:
        proto = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # protobuf raises its own DecodeError
        raise InputError(f"{onnx_path}: not a readable ONNX file ({exc})") from None
    info = ExportInfo.from_metadata({p.key: p.value for p in proto.metadata_props}, source=str(onnx_path))
    init = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in init]
    if len(inputs) != 1:
        raise InputError(f"{onnx_path}: expected one input (images [B, 3, H, W]), found {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4 or any(not d.HasField("dim_value") for d in dims[1:]):
        raise InputError(f"{onnx_path}: input must be [B, 3, H, W] with static C, H, W")
    fixed = dims[0].dim_value if dims[0].HasField("dim_value") else None
    chw = (dims[1].dim_value, dims[2].dim_value, dims[3].dim_value)
    return info, fixed, chw, inputs[0].name


def build_engine(
    onnx_path: str | os.PathLike,
    engine_path: str | os.PathLike,
    *,
    fp16: bool = False,
    max_batch: int = 32,
    opt_batch: int | None = None,
    workspace_gib: float = 4.0,
    verbose: bool = False,
    trt: ModuleType | None = None,
) -> Path:
    """Build a serialized TensorRT engine (``builder.build_serialized_network``) and write it atomically.

    Args:
        onnx_path: file written by :func:`hpefast.export.to_onnx` (or any ONNX with one [B, 3, H, W] input).
        engine_path: output engine (``.engine`` / ``.plan``); its :class:`ExportInfo` goes to
            ``<engine_path>.json``.
        fp16: half precision. TensorRT 11: the ONNX must already be fp16 (export with ``fp16=True``);
            TensorRT 10: an fp32 ONNX is built with ``BuilderFlag.FP16``.
        max_batch, opt_batch: optimization profile of a dynamic-batch ONNX (see :func:`batch_profile`).
        workspace_gib: builder workspace memory pool limit.
        trt: the tensorrt module (default: ``import tensorrt``); tests pass a stand-in.

    Returns the engine path. Raises ImportError without TensorRT, ValueError when the ONNX does not parse
    (with the parser's messages) or the build fails.
    """
    trt = trt if trt is not None else import_tensorrt()
    major = tensorrt_major(trt)
    if major < 10:
        raise InputError(f"TensorRT >= 10 is required, found {trt.__version__}")
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if not float(workspace_gib) > 0:
        raise InputError(f"workspace_gib must be > 0, got {workspace_gib}")
    info, fixed, chw, input_name = read_onnx_io(onnx_path)
    profile_batch = batch_profile(fixed, max_batch=max_batch, opt_batch=opt_batch)
    onnx_fp16 = info is not None and info.precision == "fp16"
    if major >= 11 and fp16 and not onnx_fp16:
        raise InputError(
            f"TensorRT {trt.__version__} builds strongly typed networks only: fp16 comes from the ONNX file. "
            "Export it with to_onnx(..., fp16=True) (`hpefast export --fp16`) and build from that file."
        )

    logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if major == 10 and onnx_fp16:
        # An fp16 ONNX carries its own casts: honour them (TensorRT 11 does so by default).
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise InputError(f"{onnx_path}: TensorRT's ONNX parser failed:\n  " + "\n  ".join(errors or ["?"]))

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(float(workspace_gib) * 2**30))
    if major == 10 and fp16 and not onnx_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    shape_min, shape_opt, shape_max = profile_batch.shapes(chw)
    profile.set_shape(input_name or INPUT_NAME, shape_min, shape_opt, shape_max)
    config.add_optimization_profile(profile)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise InputError(f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT log above)")
    atomic_write_bytes(engine_path, bytes(serialized))
    meta: dict[str, Any] = {
        "tensorrt_version": str(trt.__version__),
        "profile": {"min": profile_batch.min, "opt": profile_batch.opt, "max": profile_batch.max},
        "engine_precision": "fp16" if (fp16 or onnx_fp16) else "fp32",
        "onnx": onnx_path.name,
        "sha256": sha256_file(engine_path),  # checked by the predictor before the engine is deserialized
    }
    if info is None:
        # A foreign ONNX: geometry only; the predictor then needs layout= from the caller.
        info = ExportInfo(layout=None, num_keypoints=0, image_size=(chw[2], chw[1]), heatmap_size=(0, 0))
    atomic_write_text(engine_info_path(engine_path), info.to_json(**meta))
    return engine_path
