"""``hpefast export CHECKPOINT --format onnx|tensorrt --output PATH``: deployable model files.

ONNX: one file (weights inside under 2 GB), dynamic batch by default, opset 17 by default, checked with
onnx.checker and, unless ``--no-verify``, run once in ONNX Runtime against torch.
TensorRT: the ONNX file is written next to the engine (``PATH`` with suffix ``.onnx``), then the engine is
built with TensorRT's Python API; its metadata goes to ``PATH.json``.

CHECKPOINT may be an hpefast model, a training run's ``checkpoints/last.pt`` (a stopped run's too: its EMA
weights when it has them) or an official ViTPose(+) ``.pth``: ``--expert`` picks a ViTPose+ dataset (also in
the files of ViTPose's ``tools/model_split.py``), ``--layout`` names the head's layout when its keypoint
count is ambiguous (``--layout ap10k`` for an AP-10K head of 17 joints), ``--trusted`` allows full
unpickling of a file you trust.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hpefast.commands._checkpoint import add_model_arguments, load_checkpoint_model
from hpefast.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        help="hpefast checkpoint (directory, .safetensors or .json), a training checkpoint "
        "(checkpoints/last.pt, also of a stopped run) or an official ViTPose(+) .pth",
    )
    parser.add_argument(
        "--format", choices=("onnx", "tensorrt"), default="onnx", help="output format (default onnx)"
    )
    parser.add_argument(
        "--output", "-o", required=True, help="output file (.onnx, or .engine / .plan for tensorrt)"
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17; higher allowed)")
    parser.add_argument("--fp16", action="store_true", help="half precision (float32 inputs and outputs)")
    parser.add_argument("--batch", default="dynamic", help="'dynamic' (default) or a fixed batch size")
    parser.add_argument(
        "--max-batch", type=int, default=32, help="tensorrt: largest batch of the profile (default 32)"
    )
    parser.add_argument(
        "--opt-batch", type=int, default=None, help="tensorrt: batch the engine is tuned for (default 8)"
    )
    parser.add_argument(
        "--workspace", type=float, default=4.0, help="tensorrt: builder workspace in GiB (default 4)"
    )
    parser.add_argument(
        "--dataset-id", type=int, default=None, help="multi-dataset models: head / expert to export"
    )
    parser.add_argument("--no-verify", action="store_true", help="onnx: skip the ONNX Runtime vs torch check")
    from hpefast.commands._outputs import add_overwrite_argument

    add_overwrite_argument(parser)
    add_model_arguments(parser)


def main(args: argparse.Namespace) -> int:
    import sys

    from hpefast.commands._outputs import check_output_file
    from hpefast.export.onnx_export import parse_batch, to_onnx, verify_onnx
    from hpefast.models.checkpoint import checkpoint_paths

    fixed = parse_batch(args.batch)
    out = Path(args.output)
    if args.format == "tensorrt" and out.suffix == ".onnx":
        raise InputError(f"--output {out}: a TensorRT engine needs another suffix (.engine or .plan)")
    inputs = [args.checkpoint, *checkpoint_paths(args.checkpoint)]
    check_output_file(out, overwrite=args.overwrite, option="--output", inputs=inputs)
    if args.format == "onnx":
        check_output_file(
            out.with_name(out.name + ".data"), overwrite=args.overwrite, option="--output", inputs=inputs
        )
    else:
        check_output_file(
            out.with_suffix(".onnx"), overwrite=args.overwrite, option="--output", inputs=inputs
        )
    model = load_checkpoint_model(
        args.checkpoint,
        getattr(args, "expert", None),
        map_location="cpu",
        layout=getattr(args, "layout", None),
        trusted=getattr(args, "trusted", False),
    ).eval()
    if args.format == "onnx":
        if out.suffix != ".onnx":
            print(f"hpefast export: note: writing ONNX to {out} (suffix is not .onnx)", file=sys.stderr)
        to_onnx(model, out, opset=args.opset, fp16=args.fp16, batch=args.batch, dataset_id=args.dataset_id)
        msg = f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, opset {args.opset}, "
        msg += f"{'fp16' if args.fp16 else 'fp32'}, batch {fixed or 'dynamic'})"
        if not args.no_verify:
            diff = verify_onnx(model, out, dataset_id=args.dataset_id)["max_abs_diff"]
            msg += f"; ONNX Runtime vs torch max |diff| = {diff:.2e}"
        print(msg)
        return 0

    from hpefast.export.trt_engine import build_engine, import_tensorrt, tensorrt_major

    try:
        trt = import_tensorrt()
    except ImportError as exc:
        print(f"hpefast export: error: {exc}", file=sys.stderr)
        return 2
    major = tensorrt_major(trt)
    # TensorRT 11 takes fp16 from the ONNX (strong typing); TensorRT 10 from the builder flag.
    onnx_fp16 = args.fp16 and major >= 11
    onnx_path = out.with_suffix(".onnx")
    to_onnx(model, onnx_path, opset=args.opset, fp16=onnx_fp16, batch=args.batch, dataset_id=args.dataset_id)
    build_engine(
        onnx_path,
        out,
        fp16=args.fp16,
        max_batch=args.max_batch,
        opt_batch=args.opt_batch,
        workspace_gib=args.workspace,
        trt=trt,
    )
    print(f"wrote {out} (TensorRT {trt.__version__}, {'fp16' if args.fp16 else 'fp32'}) and {onnx_path}")
    return 0
