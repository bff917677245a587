"""``hpefast eval CHECKPOINT --data SCHEMA:ANN:IMAGES[:BOXES] ...``: score a model on each dataset in that
dataset's own schema and protocol (COCO-format data: OKS AP with the schema's sigmas; MPII: PCKh@0.5).

CHECKPOINT is an hpefast model (folder or .safetensors with its .json) or a training checkpoint
(``checkpoints/last.pt``; its EMA weights when it has them). Examples::

    hpefast eval runs/b21/model --data coco:coco/person_keypoints_val2017.json:coco/val2017 \\
                                --data mpii:mpii/annotations/mpii_val.json:mpii/images
    hpefast eval runs/b21/model --data coco:val.json:val2017:dets.json --out metrics.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint", help="hpefast model folder / .safetensors, or a training checkpoint .pt"
    )
    parser.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="SCHEMA:ANN:IMAGES[:BOXES]",
        help="dataset to score (repeatable); SCHEMA mpii reads an MPII json, any other a COCO json",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-flip", action="store_true", help="disable the flip test")
    parser.add_argument("--decode", default="dark_udp", choices=["dark_udp", "dark", "shift", "argmax"])
    parser.add_argument(
        "--no-area", action="store_true", help="COCOeval without area ranges (AIC, CrowdPose)"
    )
    parser.add_argument("--out", help="write the metrics as json to this file")


def parse_data_spec(spec: str) -> dict[str, Any]:
    """``SCHEMA:ANN:IMAGES[:BOXES]`` -> dict(schema, ann, images, boxes)."""
    parts = spec.split(":")
    if len(parts) not in (3, 4) or not all(parts):
        raise ValueError(f"--data {spec!r}: expected SCHEMA:ANN_FILE:IMAGE_DIR[:BOXES_JSON]")
    schema, ann, images = parts[:3]
    return {"schema": schema, "ann": ann, "images": images, "boxes": parts[3] if len(parts) == 4 else None}


def load_any_model(path: str):
    """An hpefast model folder / safetensors file, or the weights (EMA if any) of a training checkpoint."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    if p.is_file() and p.suffix == ".pt":
        from hpefast.engine.builders import build_model
        from hpefast.engine.config import TrainConfig, from_dict
        from hpefast.engine.state import load_state

        state = load_state(p)
        cfg = from_dict(TrainConfig, state["config"])
        model = build_model(cfg, num_datasets=len(cfg.data.datasets))
        weights = state["ema"]["weights"] if state.get("ema") else state["model"]
        model.load_state_dict(weights)
        return model
    from hpefast.models.checkpoint import load_model

    return load_model(str(p))


def main(args: argparse.Namespace) -> int:
    from hpefast.data import CocoKeypointDataset, MpiiDataset
    from hpefast.engine.builders import resolve_device
    from hpefast.engine.state import atomic_write_text
    from hpefast.engine.validation import evaluate_dataset, layout_index
    from hpefast.keypoints import get_schema

    specs = [parse_data_spec(s) for s in args.data]
    for s in specs:
        get_schema(s["schema"])
        for key in ("ann", "images", "boxes"):
            if s[key] is not None and not Path(s[key]).exists():
                raise FileNotFoundError(f"--data {s['schema']}: {key} {s[key]!r} does not exist")
    model = load_any_model(args.checkpoint)
    layout = model.cfg.layout
    for s in specs:  # a checkpoint for another layout fails here, before any image is read
        layout_index(layout, s["schema"])
    device = resolve_device(args.device)
    model = model.to(device).eval()
    size = tuple(model.cfg.image_size)
    results: dict[str, dict[str, float]] = {}
    for i, s in enumerate(specs):
        if s["schema"] == "mpii":
            ds = MpiiDataset(s["ann"], s["images"], input_size=size, train=False, layout=layout)
            metric = "pckh"
        else:
            kw: dict[str, Any] = {"boxes": s["boxes"]} if s["boxes"] else {}
            ds = CocoKeypointDataset(
                s["ann"], s["images"], schema=s["schema"], input_size=size, train=False, layout=layout, **kw
            )
            metric = "coco_ap"
        m = evaluate_dataset(
            model,
            ds,
            metric,
            device,
            ann_file=s["ann"],
            batch_size=args.batch_size,
            workers=args.workers,
            flip_test=not args.no_flip,
            decode=args.decode,
            use_area=not args.no_area and s["schema"] not in ("aic", "crowdpose"),
        )
        name = s["schema"] if s["schema"] not in results else f"{s['schema']}_{i}"
        results[name] = m
        key = "PCKh" if metric == "pckh" else "AP"
        print(f"{name}: {key} = {m[key]:.4f}  ({len(ds)} instances)")
    if args.out:
        atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    return 0
