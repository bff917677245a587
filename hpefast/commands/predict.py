"""``hpefast predict IMAGE --boxes BOXES.json --model PATH --out overlay.png``: keypoints of the people in
given boxes, drawn on the image (and optionally written as json).

BOXES.json is either a list of ``[x, y, w, h]`` or a COCO detection-results list of
``{"image_id", "bbox", "score", ...}``; with several image ids, ``--image-id`` (default: the image file
name's number, as in COCO's ``000000040083.jpg``) selects this image's boxes.

``--layout NAME`` outputs the keypoints in that layout: the model's own (checked), or a dataset layout its
outputs cover, e.g. ``--layout coco`` or ``--layout mpii`` for a union21 model (the union's joints mapped
back by joint identity, as ``hpefast eval`` scores each dataset). For a file without hpefast metadata it
names the model's own layout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hpefast.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image file (anything cv2.imread reads)")
    parser.add_argument("--boxes", required=True, help="json: [[x, y, w, h], ...] or COCO detection results")
    parser.add_argument(
        "--model",
        required=True,
        help="checkpoint (hpefast model, a training run's last.pt, official .pth), .onnx file or TensorRT "
        "engine",
    )
    parser.add_argument("--out", required=True, help="overlay image to write (.png / .jpg)")
    parser.add_argument(
        "--backend",
        choices=("torch", "onnxruntime", "tensorrt"),
        default=None,
        help="default: by model file (checkpoint -> torch, .onnx -> onnxruntime, engine -> tensorrt)",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cpu, cuda for tensorrt)")
    parser.add_argument(
        "--layout",
        default=None,
        help="keypoint layout to output: the model's own, or a dataset layout a union model covers (coco, "
        "mpii, aic from union21/union23); default: the model's",
    )
    parser.add_argument("--no-flip", action="store_true", help="no flip test")
    parser.add_argument(
        "--image-id", type=int, default=None, help="COCO detection results: the image id to use"
    )
    parser.add_argument(
        "--score-threshold", type=float, default=0.0, help="drop boxes scoring below (default 0)"
    )
    parser.add_argument(
        "--kpt-threshold", type=float, default=0.3, help="draw keypoints scoring at least this"
    )
    parser.add_argument("--json", default=None, help="also write the keypoints to this json file")
    from hpefast.commands._outputs import add_overwrite_argument

    add_overwrite_argument(parser)


def read_boxes(
    path: str | Path, image_path: str | Path, image_id: int | None = None, score_threshold: float = 0.0
) -> tuple[list[list[float]], list[float | None]]:
    """(boxes [[x, y, w, h], ...], scores) for one image from a boxes json. ValueError names the file."""
    path = Path(path)
    try:
        doc: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: boxes file not found") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid json ({exc})") from None
    if not isinstance(doc, list):
        raise InputError(f"{path}: expected a list of [x, y, w, h] or of COCO detections with 'bbox'")
    if not doc:
        return [], []
    if all(isinstance(d, dict) for d in doc):
        missing = [i for i, d in enumerate(doc) if "bbox" not in d]
        if missing:
            raise InputError(f"{path}: detection {missing[0]} has no 'bbox'")
        for i, d in enumerate(doc):
            if not _is_xywh(d["bbox"]):
                raise InputError(f"{path}: detection {i}: 'bbox' is not [x, y, w, h]: {d['bbox']!r}")
        ids = {d.get("image_id") for d in doc}
        if len(ids) > 1 or image_id is not None:
            if image_id is None:
                stem = Path(image_path).stem
                if not stem.isdigit():
                    raise InputError(f"{path} holds detections of {len(ids)} images: pass --image-id")
                image_id = int(stem)
            doc = [d for d in doc if d.get("image_id") == image_id]
            if not doc:
                raise InputError(f"{path}: no detection has image_id {image_id}")
        doc = [d for d in doc if float(d.get("score", 1.0)) >= score_threshold]
        return [list(d["bbox"]) for d in doc], [d.get("score") for d in doc]
    for i, b in enumerate(doc):
        if not _is_xywh(b):
            raise InputError(f"{path}: entry {i} is not [x, y, w, h]: {b!r}")
    if score_threshold > 0:
        raise InputError(
            f"--score-threshold {score_threshold}: {path} is a plain box list without scores (give COCO "
            "detections with 'score', or leave --score-threshold out)"
        )
    # A plain list holds the boxes of this one image: --image-id names it (in the --json output).
    return [list(b) for b in doc], [None] * len(doc)


def _is_xywh(box: Any) -> bool:
    """Whether ``box`` is a list of 4 numbers (booleans and strings are not)."""
    return (
        isinstance(box, (list, tuple))
        and len(box) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
    )


def main(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from hpefast._io import atomic_write_bytes, atomic_write_text
    from hpefast.commands._outputs import check_output_file
    from hpefast.visualize import draw_pose

    inputs = [args.image, args.boxes, args.model]
    out = check_output_file(args.out, overwrite=args.overwrite, option="--out", inputs=inputs)
    check_output_file(args.json, overwrite=args.overwrite, option="--json", inputs=[*inputs, args.out])
    # Checked before the model runs: cv2.imencode raises cv2.error (not ValueError) for unknown suffixes.
    if out.suffix and not cv2.haveImageWriter(str(out)):
        raise InputError(f"--out {out}: cv2 cannot write the suffix {out.suffix!r} (use .png or .jpg)")
    if not Path(args.image).exists():
        raise FileNotFoundError(f"{args.image}: image not found")
    image = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{args.image}: not an image cv2 can read")
    boxes, scores = read_boxes(args.boxes, args.image, args.image_id, args.score_threshold)
    predictor = _predictor(args)
    keypoints = predictor.predict(image, np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    layout, schema = predictor.layout, predictor.schema
    if args.layout is not None and args.layout != layout:
        keypoints, schema = to_layout(keypoints, layout, args.layout)
        layout = schema.name
    overlay = draw_pose(
        image, keypoints, schema, threshold=args.kpt_threshold, box=np.asarray(boxes).reshape(-1, 4)
    )
    ok, buf = cv2.imencode(out.suffix or ".png", overlay)
    if not ok:
        raise InputError(f"{out}: cv2 cannot encode an image with suffix {out.suffix!r}")
    atomic_write_bytes(out, buf.tobytes())
    if args.json:
        doc = [
            {"bbox": [float(v) for v in b], "box_score": s, "keypoints": kp.reshape(-1).round(3).tolist()}
            for b, s, kp in zip(boxes, scores, keypoints)
        ]
        head = {"layout": layout, "model_layout": predictor.layout}
        if args.image_id is not None:
            head["image_id"] = args.image_id
        atomic_write_text(args.json, json.dumps({**head, "people": doc}))
    mapped = f" mapped from {predictor.layout}" if layout != predictor.layout else ""
    print(f"{len(boxes)} people, {len(schema.names)} keypoints each ({layout}{mapped}); wrote {out}")
    return 0


def _predictor(args: argparse.Namespace) -> Any:
    """The predictor in the model's own layout; ``--layout`` names that layout only for a file that
    carries none (an ONNX file or engine not exported by hpefast)."""
    from hpefast.commands._checkpoint import is_training_checkpoint, load_training_checkpoint
    from hpefast.deploy import TopDownPredictor

    # a training run's checkpoints/last.pt (also of a stopped run): its config and (EMA) weights
    source = load_training_checkpoint(args.model) if is_training_checkpoint(args.model) else args.model

    def build(layout: str | None) -> Any:
        return TopDownPredictor(
            source, backend=args.backend, flip_test=not args.no_flip, device=args.device, layout=layout
        )

    try:
        return build(None)
    except ValueError as exc:
        if args.layout is None or "carries no keypoint layout" not in str(exc):
            raise
        return build(args.layout)


def to_layout(keypoints: Any, model_layout: str, layout: str) -> tuple[Any, Any]:
    """``keypoints`` [N, K_model, 3] (x, y, score) re-indexed into ``layout`` [N, K_layout, 3] by joint
    identity (``hpefast.keypoints.mapping_index``), and that layout's schema. InputError naming
    ``--layout`` when the model's layout lacks some of its joints (a COCO model cannot give MPII's)."""
    from hpefast.engine.validation import layout_index
    from hpefast.errors import InputError
    from hpefast.keypoints import get_schema

    try:
        schema = get_schema(layout)
        idx = layout_index(model_layout, layout)
    except ValueError as exc:
        raise InputError(f"--layout {layout}: {exc}") from None
    return keypoints[:, idx], schema
