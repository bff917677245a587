"""``hpefast eval CHECKPOINT --data SCHEMA:ANN:IMAGES[:BOXES][@ID] ...``: score a model on each dataset in
that dataset's own schema and protocol (COCO-format data: OKS AP with the schema's sigmas; MPII: PCKh@0.5).

CHECKPOINT is an hpefast model (folder or .safetensors with its .json) or a training checkpoint
(``checkpoints/last.pt``, also of a stopped run; its EMA weights when it has them). ``@ID`` picks the
dataset id the model is run with (its per-dataset head / ViTPose+ expert; default 0), e.g. ``@1`` for the
second training dataset.

An official ViTPose ``.pth`` is converted on the fly; for a ViTPose+ one (or a file split from it by
ViTPose's ``tools/model_split.py``) pick the dataset's expert and head with ``--expert NAME|ID`` (``coco``,
``aic``, ``mpii``, ... or 0..5; the layout follows it). ``--layout`` names an official head's keypoint
layout (an AP-10K checkpoint has 17 channels like COCO's: ``--layout ap10k``).

Protocols: COCO OKS AP (``AP, AP50, ... ARl``); CrowdPose data (schema ``crowdpose``) by the CrowdPose
protocol (``keypoints_crowd``, no area: ``AP ... AP_easy, AP_medium, AP_hard``); MPII by PCKh@0.5. The
real ``mpii_val.json`` has no head boxes: ``--mpii-gt mpii_gt_val.mat`` gives them (the official file,
one column per json entry). The MPII table is printed both ways: ``Head`` as HRNet / mmpose report it
(head_top alone) and ``Head_toolkit`` as the official MPII toolkit does (mean of upper_neck and head_top).

``--results-dir DIR`` also writes ``DIR/<name>_results.json`` per dataset (``<name>`` as printed: the schema,
``<schema>_<i>`` for a repeated one): COCO-format keypoint results ``[{image_id, category_id, keypoints
[x, y, score] * K, score, bbox [x, y, w, h]}]`` with the box each crop was made from. ``--results-schema``
picks the joints: ``dataset`` (default) maps the model's layout into the dataset's schema: the file the
dataset's protocol scores (``hpefast eval-coco``, pycocotools); ``model`` keeps the model's own layout: the
``--pred`` of ``hpefast translate fit --src LAYOUT`` ("a model of layout A run on dataset B"). With
``model``, a dataset the layout cannot be scored on (a COCO model on MPII) is predicted and written, not
scored. MPII image ids are ``hpefast.data.MpiiDataset``'s (the number in the image file name), the ones
``hpefast translate`` reads. Examples::

    hpefast eval runs/b21/model --data coco:coco/person_keypoints_val2017.json:coco/val2017 \\
                                --data mpii:mpii/annotations/mpii_val.json:mpii/images@1 \\
                                --mpii-gt mpii/annotations/mpii_gt_val.mat
    hpefast eval vitpose_plus_base.pth --expert ap10k --data ap10k:ap10k-val-split1.json:ap10k/data
    hpefast eval runs/b21/model --data coco:val.json:val2017:dets.json --out metrics.json
    hpefast eval runs/coco/model --data mpii:mpii_train.json:mpii/images --results-dir preds \\
                                 --results-schema model
    hpefast translate fit --pred preds/mpii_results.json --gt mpii_train.json --src coco --out coco2mpii
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hpefast.commands._checkpoint import add_model_arguments, load_checkpoint_model
from hpefast.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        help="hpefast model folder / .safetensors, a training checkpoint .pt, or an official ViTPose .pth",
    )
    parser.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="SCHEMA:ANN:IMAGES[:BOXES][@ID]",
        help="dataset to score (repeatable); SCHEMA mpii reads an MPII json, any other a COCO json; "
        "@ID: the dataset id (per-dataset head / ViTPose+ expert) to run the model with, default 0",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-flip", action="store_true", help="disable the flip test")
    parser.add_argument(
        "--no-area", action="store_true", help="COCOeval without area ranges (AIC; CrowdPose always)"
    )
    parser.add_argument(
        "--mpii-gt",
        metavar="FILE",
        default=None,
        help="the official MPII head-box file (mpii_gt_val.mat: headboxes_src, one per json entry in file "
        "order) for --data mpii:...; the real mpii_val.json has no head boxes, which PCKh needs",
    )
    parser.add_argument("--out", help="write the metrics as json to this file")
    parser.add_argument(
        "--results-dir",
        metavar="DIR",
        help="also write each dataset's predictions to DIR/<name>_results.json (COCO keypoint results)",
    )
    parser.add_argument(
        "--results-schema",
        choices=["dataset", "model"],
        default="dataset",
        help="joints of the results files: 'dataset' (default; the dataset's schema, scoreable by its "
        "protocol) or 'model' (the model's layout, for hpefast translate fit --src LAYOUT; also writes "
        "data the layout cannot be scored on)",
    )
    add_model_arguments(parser)
    from hpefast.commands._outputs import add_overwrite_argument

    add_overwrite_argument(parser)


def parse_data_spec(spec: str) -> dict[str, Any]:
    """``SCHEMA:ANN:IMAGES[:BOXES][@ID]`` -> dict(schema, ann, images, boxes, dataset_id).

    ``@ID`` is read only when it ends the spec and is a non-negative integer (so a path may hold an
    ``@``); without it ``dataset_id`` is 0.
    """
    body, at, tail = spec.rpartition("@")
    dataset_id = 0
    if at and tail.isdigit():
        dataset_id = int(tail)
    else:
        body = spec
    parts = body.split(":")
    if len(parts) not in (3, 4) or not all(parts):
        raise InputError(f"--data {spec!r}: expected SCHEMA:ANN_FILE:IMAGE_DIR[:BOXES_JSON][@DATASET_ID]")
    schema, ann, images = parts[:3]
    return {
        "schema": schema,
        "ann": ann,
        "images": images,
        "boxes": parts[3] if len(parts) == 4 else None,
        "dataset_id": dataset_id,
    }


def load_any_model(path: str, expert: str | None = None, layout: str | None = None, trusted: bool = False):
    """An hpefast model folder / safetensors file, the weights (EMA if any) of a training checkpoint
    (``.pt``), or an official ViTPose ``.pth`` (ViTPose+: ``expert``, a dataset name or index as text;
    ``layout``: an official head's layout; ``trusted``: full unpickling). See
    :func:`hpefast.commands._checkpoint.load_checkpoint_model`."""
    return load_checkpoint_model(path, expert, layout=layout, trusted=trusted)


def _check_results_dir(path: str | None) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"--results-dir {path!r} exists and is not a directory")
    return p


def _check_dataset_id(spec: dict[str, Any], cfg: Any) -> None:
    """The model serves dataset ids 0..n-1 (n = its experts, else its datasets / heads)."""
    n = max(int(getattr(cfg, "num_experts", 0) or 0) or int(getattr(cfg, "num_datasets", 1) or 1), 1)
    if spec["dataset_id"] >= n:
        raise InputError(
            f"--data {spec['schema']}:...@{spec['dataset_id']}: the model serves dataset ids 0..{n - 1} "
            f"(num_datasets={getattr(cfg, 'num_datasets', 1)}, num_experts={getattr(cfg, 'num_experts', 0)})"
        )


def _table(name: str, metric: str, m: dict[str, float]) -> list[str]:
    """The lines printed under a dataset's headline: MPII's parts both ways, CrowdPose's easy/medium/hard."""
    if metric == "pckh":
        parts = ("Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")
        return [
            f"  {name} PCKh@0.5: Head {m['Head']:.2f} (HRNet / mmpose: head_top) | Head_toolkit "
            f"{m['Head_toolkit']:.2f} (official MPII toolkit: mean of upper_neck and head_top) | "
            + " | ".join(f"{p} {m[p]:.2f}" for p in parts)
            + f" | Mean {m['Mean']:.2f} | Mean@0.1 {m.get('Mean@0.1', float('nan')):.2f}"
        ]
    if "AP_easy" in m:
        return [f"  {name} (CrowdPose protocol): " + " | ".join(f"{k} {v:.4f}" for k, v in m.items())]
    return []


def main(args: argparse.Namespace) -> int:
    from hpefast._io import atomic_write_text
    from hpefast.commands._outputs import check_output_file
    from hpefast.data import CocoKeypointDataset, MpiiDataset
    from hpefast.engine.builders import resolve_device
    from hpefast.engine.validation import covers, evaluate_dataset, layout_index, require_headboxes
    from hpefast.errors import InputError
    from hpefast.keypoints import get_schema

    specs = [parse_data_spec(s) for s in args.data]
    results_dir = _check_results_dir(args.results_dir)
    inputs = [args.checkpoint] + [s[k] for s in specs for k in ("ann", "boxes")]
    check_output_file(args.out, overwrite=args.overwrite, option="--out", inputs=inputs)
    if results_dir is not None:  # the files the loop below writes, checked before any prediction
        seen: set[str] = set()
        for i, s in enumerate(specs):
            name = s["schema"] if s["schema"] not in seen else f"{s['schema']}_{i}"
            seen.add(name)
            check_output_file(
                results_dir / f"{name}_results.json",
                overwrite=args.overwrite,
                option="--results-dir",
                inputs=inputs,
            )
    only_write = results_dir is not None and args.results_schema == "model"
    mpii_gt = getattr(args, "mpii_gt", None)
    for s in specs:
        get_schema(s["schema"])
        for key in ("ann", "images", "boxes"):
            if s[key] is not None and not Path(s[key]).exists():
                raise FileNotFoundError(f"--data {s['schema']}: {key} {s[key]!r} does not exist")
    if mpii_gt is not None:
        if not Path(mpii_gt).is_file():
            raise FileNotFoundError(f"--mpii-gt {mpii_gt!r} does not exist")
        if not any(s["schema"] == "mpii" for s in specs):
            raise InputError(f"--mpii-gt {mpii_gt}: no --data mpii:... to take the head boxes from it")
    options = (("layout", getattr(args, "layout", None)), ("trusted", getattr(args, "trusted", False)))
    extra = {k: v for k, v in options if v}
    model = load_any_model(args.checkpoint, getattr(args, "expert", None), **extra)
    layout = model.cfg.layout
    for s in specs:  # a checkpoint for another layout fails here, before any image is read
        _check_dataset_id(s, model.cfg)
        if not only_write:
            try:
                layout_index(layout, s["schema"])
            except ValueError as exc:
                raise InputError(
                    f"{exc}. To only write its predictions (e.g. for hpefast translate fit --src {layout}), "
                    f"pass --results-dir DIR --results-schema model"
                ) from None
    size = tuple(model.cfg.image_size)
    datasets = []  # every dataset is read (and MPII's head boxes checked) before any prediction
    for s in specs:
        common: dict[str, Any] = dict(input_size=size, train=False, layout=layout, dataset_id=s["dataset_id"])
        if s["schema"] == "mpii":
            ds = MpiiDataset(s["ann"], s["images"], headbox_file=mpii_gt, **common)
            metric = "pckh"
            if covers(layout, "mpii"):
                require_headboxes(ds, f"--data mpii:{s['ann']}")
        else:
            kw: dict[str, Any] = {"boxes": s["boxes"]} if s["boxes"] else {}
            ds = CocoKeypointDataset(s["ann"], s["images"], schema=s["schema"], **common, **kw)
            metric = "coco_ap"
        datasets.append((ds, metric))
    if results_dir is not None:
        results_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    model = model.to(device).eval()
    results: dict[str, dict[str, float]] = {}
    names: set[str] = set()
    for i, (s, (ds, metric)) in enumerate(zip(specs, datasets)):
        name = s["schema"] if s["schema"] not in names else f"{s['schema']}_{i}"
        names.add(name)
        out_file = None if results_dir is None else results_dir / f"{name}_results.json"
        m = evaluate_dataset(
            model,
            ds,
            metric,
            device,
            ann_file=s["ann"],
            batch_size=args.batch_size,
            workers=args.workers,
            flip_test=not args.no_flip,
            use_area=not args.no_area and s["schema"] not in ("aic", "crowdpose"),
            results_file=out_file,
            results_schema=args.results_schema,
        )
        if covers(layout, s["schema"]):
            results[name] = m
            key = "PCKh" if metric == "pckh" else "AP"
            print(f"{name}: {key} = {m[key]:.4f}  ({len(ds)} instances)")
            for line in _table(name, metric, m):
                print(line)
        else:
            print(
                f"{name}: not scored (layout {layout!r} lacks joints of {s['schema']!r}; {len(ds)} instances)"
            )
        if out_file is not None:
            schema = s["schema"] if args.results_schema == "dataset" else layout
            print(f"{name}: predictions ({schema} joints) written to {out_file}")
    if args.out:
        atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    return 0
