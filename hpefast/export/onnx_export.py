"""Export a hpefast heatmap model (ViTPose) to ONNX.

The graph maps ``images [B, 3, H, W] float32`` (ImageNet-normalised RGB crops) to
``heatmaps [B, K, h, w] float32``. Attention is exported through the explicit matmul/softmax path
(TensorRT and older runtimes fuse it themselves). Weights are embedded in the file for models under
2 GB; larger models keep them in ``<file>.data`` next to it (ONNX's protobuf limit).

fp16: weights and arithmetic in half precision with float32 inputs and outputs (Cast nodes at the
boundaries, like ModelOpt AutoCast's ``keep_io_types``). TensorRT 11 builds strongly typed networks,
so this file is how an fp16 engine is made there.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hpefast._io import atomic_write_bytes
from hpefast.errors import InputError
from hpefast.export.metadata import INPUT_NAME, OUTPUT_NAME, ExportInfo, serialize_onnx_with_checksum

MIN_OPSET = 17  # LayerNormalization is an ONNX op from 17 on
PROTOBUF_LIMIT = 2**31 - 1


class _ExportWrapper(nn.Module):
    """images -> heatmaps with the dataset head fixed and (fp16) casts at the boundaries."""

    def __init__(self, model: nn.Module, dataset_id: int | None, fp16: bool) -> None:
        super().__init__()
        self.model = model
        self.dataset_id = dataset_id
        self.fp16 = fp16

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.half() if self.fp16 else images
        if self.dataset_id is None:
            out = self.model(x)
        else:
            ids = torch.full((images.shape[0],), self.dataset_id, dtype=torch.long, device=images.device)
            out = self.model(x, ids)
        return out.float()


def use_plain_attention(model: nn.Module) -> nn.Module:
    """Switch every attention block of ``model`` to the explicit matmul/softmax path (in place).

    Uses the model's own switch (``set_fused_attention(False)``) when it has one, else clears every
    boolean ``fused_attention`` attribute of its submodules.
    """
    setter = getattr(model, "set_fused_attention", None)
    if callable(setter):
        setter(False)
        return model
    for m in model.modules():
        if isinstance(getattr(m, "fused_attention", None), bool):
            m.fused_attention = False
    return model


def parse_batch(batch: str | int) -> int | None:
    """``"dynamic"`` -> None, a positive int (or its decimal string) -> that int. ValueError otherwise."""
    if isinstance(batch, str):
        if batch == "dynamic":
            return None
        if batch.strip().isdigit():
            batch = int(batch)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(f"batch must be 'dynamic' or a positive int, got {batch!r}")
    return batch


def _check_opset(opset: int) -> int:
    import onnx.defs

    if isinstance(opset, bool) or not isinstance(opset, int):
        raise TypeError(f"opset must be an int, got {opset!r}")
    top = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= top:
        raise InputError(f"opset must be in [{MIN_OPSET}, {top}] (this onnx package's newest), got {opset}")
    return opset


@contextlib.contextmanager
def _quiet_exporter():
    """The dynamo exporter logs each stage and warns about internals users cannot act on."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "torch.export", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def export_onnx_model(
    model: nn.Module,
    *,
    opset: int = 17,
    fp16: bool = False,
    batch: str | int = "dynamic",
    dataset_id: int | None = None,
    dynamo: bool = True,
    fold_bn: bool = True,
) -> Any:
    """Export ``model`` and return the checked ``onnx.ModelProto`` (nothing written).

    See :func:`to_onnx` for the arguments.
    """
    import onnx

    opset = _check_opset(opset)
    fixed = parse_batch(batch)
    info = ExportInfo.from_model(
        model, precision="fp16" if fp16 else "fp32", batch=fixed, dataset_id=dataset_id
    )
    if dataset_id is not None and (isinstance(dataset_id, bool) or not isinstance(dataset_id, int)):
        raise TypeError(f"dataset_id must be an int or None, got {dataset_id!r}")
    num_datasets = getattr(model.cfg, "num_datasets", 1)
    if dataset_id is not None and not 0 <= dataset_id < num_datasets:
        raise InputError(f"dataset_id must be in [0, {num_datasets}) for this model, got {dataset_id}")

    net = copy.deepcopy(model).cpu().float().eval()
    if fold_bn:
        from hpefast.export.fold import fold_batchnorm

        net = fold_batchnorm(net)
    use_plain_attention(net)
    if fp16:
        net = net.half()
    wrapper = _ExportWrapper(net, dataset_id, fp16).eval()
    w, h = info.image_size
    # A dynamic export traces with batch 2 so that batch 1 is not specialised into the graph.
    example = torch.randn(fixed or 2, 3, h, w)
    kwargs: dict[str, Any] = dict(
        opset_version=opset, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False
    )
    if dynamo:
        kwargs["external_data"] = False
        if fixed is None:
            kwargs["dynamic_shapes"] = {"images": {0: torch.export.Dim("batch", min=1, max=4096)}}
    elif fixed is None:
        kwargs["dynamic_axes"] = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}

    with torch.no_grad(), _quiet_exporter():
        if dynamo:
            program = torch.onnx.export(wrapper, (example,), None, dynamo=True, **kwargs)
            proto = program.model_proto
        else:
            import io

            buf = io.BytesIO()
            torch.onnx.export(wrapper, (example,), buf, dynamo=False, **kwargs)
            proto = onnx.load_from_string(buf.getvalue())

    _check_io(proto, info)
    proto.producer_name = "hpefast"
    del proto.metadata_props[:]
    for k, v in info.to_metadata().items():
        proto.metadata_props.add(key=k, value=v)
    if proto.ByteSize() < PROTOBUF_LIMIT:
        onnx.checker.check_model(proto, full_check=True)
    return proto


def _check_io(proto: Any, info: ExportInfo) -> None:
    """The exported graph has one input and one output of the shapes the model config promises."""
    graph = proto.graph
    init_names = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in init_names]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise RuntimeError(
            f"exported graph has {len(inputs)} inputs and {len(graph.output)} outputs, expected 1 and 1"
        )

    def dims(vi: Any) -> list[int | str]:
        return [
            d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim
        ]

    w, h = info.image_size
    hw, hh = info.heatmap_size
    got_in, got_out = dims(inputs[0]), dims(graph.output[0])
    if got_in[1:] != [3, h, w] or got_out[1:] != [info.num_keypoints, hh, hw]:
        raise RuntimeError(
            f"exported graph maps {got_in} -> {got_out}, expected [B, 3, {h}, {w}] -> "
            f"[B, {info.num_keypoints}, {hh}, {hw}] from the model config"
        )


def to_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    opset: int = 17,
    fp16: bool = False,
    batch: str | int = "dynamic",
    *,
    dataset_id: int | None = None,
    dynamo: bool = True,
    fold_bn: bool = True,
) -> Path:
    """Export a hpefast heatmap model to an ONNX file and check it with ``onnx.checker``.

    Args:
        model: a hpefast model (``model.cfg`` gives layout, image_size (W, H), heatmap_size (w, h),
            num_keypoints). It is copied: the caller's model is not changed.
        path: output ``.onnx`` file, written atomically.
        opset: ONNX opset, 17 (TensorRT-friendly) or newer.
        fp16: half-precision weights and arithmetic; inputs and outputs stay float32.
        batch: ``"dynamic"`` (default) or a fixed batch size.
        dataset_id: for multi-dataset models (per-dataset heads or experts): the head baked into the graph.
        dynamo: use the ``torch.export``-based exporter (default) or the TorchScript one.
        fold_bn: fold every BatchNorm that follows a convolution into it first
            (:func:`hpefast.export.fold_batchnorm`; default): no BatchNormalization node in the graph.

    Graph: ``images`` float32 [B, 3, H, W] (ImageNet-normalised RGB crops) -> ``heatmaps`` float32
    [B, K, h, w]. The file's ``metadata_props`` carry :class:`~hpefast.export.metadata.ExportInfo`
    (keys ``hpefast.*``) so that :class:`hpefast.deploy.TopDownPredictor` can use it on its own.

    Returns the path written. Example::

        to_onnx(build_model("tiny"), "tiny.onnx")
    """

    path = Path(path)
    proto = export_onnx_model(
        model, opset=opset, fp16=fp16, batch=batch, dataset_id=dataset_id, dynamo=dynamo, fold_bn=fold_bn
    )
    if proto.ByteSize() < PROTOBUF_LIMIT:
        atomic_write_bytes(path, serialize_onnx_with_checksum(proto))
        return path
    _save_with_external_data(proto, path)
    return path


def _save_with_external_data(proto: Any, path: Path) -> None:
    """Over 2 GB (ViTPose-H in fp32): weights go to ``<name>.data`` beside the graph.

    Both files are written into a private temporary folder beside ``path`` and then renamed over the
    destination, so an earlier ``<name>.data`` is replaced, never appended to (``onnx.save_model`` appends
    to an existing external-data file), and an interrupted export leaves the previous pair intact.
    """
    import shutil

    import onnx

    from hpefast._io import atomic_path, clean_stale_temporaries, sha256_file, temporary_name

    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)  # a killed export's folder
    data_name = path.name + ".data"
    work = temporary_name(path)
    work.mkdir()
    try:
        graph = work / path.name
        onnx.save_model(
            proto, graph, save_as_external_data=True, all_tensors_to_one_file=True, location=data_name
        )
        onnx.checker.check_model(str(graph), full_check=True)
        stamped = onnx.load_model(str(graph), load_external_data=False)
        data = serialize_onnx_with_checksum(stamped, data_sha256=sha256_file(work / data_name))
        os.replace(work / data_name, path.with_name(data_name))
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(data)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def verify_onnx(
    model: nn.Module,
    onnx_model: str | os.PathLike | bytes,
    images: torch.Tensor | None = None,
    *,
    dataset_id: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Run the exported file in ONNX Runtime (CPU) and the torch model on the same crops; compare.

    Args:
        model: the torch model that was exported (run in eval mode, on the CPU, under ``no_grad``).
        onnx_model: the ``.onnx`` file (or its serialized bytes).
        images: float32 [B, 3, H, W] ImageNet-normalised crops. Default: a seeded random batch (B = the
            file's fixed batch, else 2). Real crops are the better probe: on noise the maps of a trained
            model are flat and the DARK decoder's sub-pixel step is ill-posed, which inflates
            ``max_kpt_diff_px`` without any export error.
        dataset_id: the head baked into the file (multi-dataset models).
        seed: of the random batch.

    Returns: ``{"max_abs_diff": max |ORT - torch| over the heatmaps, "max_kpt_diff_px": max |difference|
    of the keypoints decoded by the model's codec (x or y, input-crop pixels, all joints), "batch": B}``.
    """
    import numpy as np
    import onnxruntime as ort

    src = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    w, h = model.cfg.image_size
    if images is None:
        fixed = inp.shape[0] if isinstance(inp.shape[0], int) and inp.shape[0] > 0 else 2
        images = torch.randn(fixed, 3, h, w, generator=torch.Generator().manual_seed(seed))
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or tuple(images.shape[1:]) != (3, h, w):
        shape = list(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InputError(f"images must be a float tensor [B, 3, {h}, {w}], got {shape}")
    x = images.detach().to("cpu", torch.float32).contiguous()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ref = (model(x) if dataset_id is None else model(x, dataset_id)).float().cpu().contiguous()
    finally:
        model.train(was_training)
    (out,) = sess.run(None, {inp.name: x.numpy()})
    out_t = torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
    kp_ref, _ = model.cfg.codec.decode(ref)
    kp_out, _ = model.cfg.codec.decode(out_t)
    return {
        "max_abs_diff": float((out_t - ref).abs().max()),
        "max_kpt_diff_px": float((kp_out - kp_ref).abs().max()),
        "batch": int(x.shape[0]),
    }
