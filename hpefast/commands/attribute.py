"""``hpefast attribute CHECKPOINT --data SCHEMA:ANN:IMAGES[@ID] --out DIR``: PoseIG attributions of a model.

For every person (ground-truth box) of a COCO-format keypoint file: the crop the model sees, one
integrated-gradients map per joint (:func:`hpefast.attribution.integrated_gradients`, PoseIG's blur path
by default), and PoseIG's indices: DI (dispersion), FI (foreground, against the person's segmentation
mask; its box when it has none), LI (localization, against the joint's ground-truth heatmap from the codec),
RI (relation, J x J), EPE and joint inversions. Writes into DIR:

- ``idx.json``, ``epe.json``, ``j2j.json`` in the layout of the PoseIG template (its analysis scripts read
  them; see :mod:`hpefast.attribution.report`),
- ``per_joint.csv`` (means over labelled samples), ``samples.csv`` (which person each sample is),
  ``ri.csv`` (mean RI matrix),
- ``indices.png`` (DI / FI / LI per joint), ``ri.png`` (RI matrix),
- ``overlays/<sample>.png`` for the first ``--overlays`` samples (each joint's map on the crop),
- ``maps.npy`` ([N, J, H, W] float16) with ``--save-maps``.

Example::

    hpefast attribute demo_out/model --data coco:person_keypoints_val2017.json:val2017 --out attr \\
        --joints left_wrist right_wrist --limit 100
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from hpefast.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        help="hpefast model folder / .safetensors, a training checkpoint .pt, or an official ViTPose .pth",
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="SCHEMA:ANN:IMAGES[@ID]",
        help="COCO-format keypoint data (coco, aic, crowdpose, ap10k or a registered schema); @ID: the "
        "dataset id (per-dataset head / ViTPose+ expert), default 0",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--joints",
        nargs="+",
        metavar="NAME|INDEX",
        help="joints of the model's layout to attribute (default: those the data labels)",
    )
    parser.add_argument("--steps", type=int, default=50, help="integration steps (PoseIG: 50)")
    parser.add_argument("--path", choices=["blur", "linear"], default="blur", help="integration path")
    parser.add_argument("--limit", type=int, help="attribute at most N persons")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--chunk-size", type=int, help="path steps per batched backward (default: auto)")
    parser.add_argument("--overlays", type=int, default=8, help="write overlays of the first N samples")
    parser.add_argument("--save-maps", action="store_true", help="also write maps.npy [N, J, H, W] float16")
    parser.add_argument(
        "--codec", choices=["udp", "msra"], help="heatmap codec (default: the model's, or udp)"
    )
    parser.add_argument("--sigma", type=float, help="ground-truth heatmap sigma (default: the model's, or 2)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    from hpefast.commands._checkpoint import add_expert_argument

    add_expert_argument(parser)


def _joint_indices(spec: list[str] | None, names: list[str], covered: np.ndarray) -> list[int]:
    if not spec:
        picked = [i for i in range(len(names)) if covered[i]]
        return picked or list(range(len(names)))
    out: list[int] = []
    for token in (t for s in spec for t in s.split(",") if t):
        if token.lstrip("-").isdigit():
            i = int(token)
            if not 0 <= i < len(names):
                raise InputError(f"--joints {token}: index out of range [0, {len(names)})")
        elif token in names:
            i = names.index(token)
        else:
            raise InputError(f"--joints {token!r}: not a joint of the model's layout ({', '.join(names)})")
        if i not in out:
            out.append(i)
    return out


def _codec(model: Any, codec: str | None, sigma: float | None) -> tuple[str, float]:
    own = getattr(model, "codec", None)
    method = codec or getattr(own, "method", None) or "udp"
    s = sigma if sigma is not None else float(getattr(own, "sigma", 2.0) or 2.0)
    if s <= 0:
        raise InputError(f"--sigma must be positive, got {s}")
    return str(method), s


def _crop_bgr(image: Any) -> np.ndarray:
    from hpefast.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    rgb = image.permute(1, 2, 0).cpu().numpy() * np.array(IMAGENET_STD) + np.array(IMAGENET_MEAN)
    return np.ascontiguousarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)[:, :, ::-1])


def main(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    from hpefast._io import atomic_path
    from hpefast.attribution import (
        crop_mask,
        dispersion_index,
        foreground_index,
        heatmap_stride,
        instance_mask,
        integrated_gradients,
        joint_inversions,
        localization_index,
        relation_index,
        soft_argmax,
    )
    from hpefast.attribution.report import AttributionLog, overlay
    from hpefast.commands.evaluate import _check_dataset_id, load_any_model, parse_data_spec
    from hpefast.data import CocoKeypointDataset
    from hpefast.data.base import load_json
    from hpefast.data.collate import collate
    from hpefast.data.transforms import get_udp_warp_matrix
    from hpefast.engine.builders import resolve_device
    from hpefast.keypoints import get_schema, map_keypoints
    from hpefast.ops import encode_heatmaps

    for name in ("steps", "batch_size"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be >= 1, got {args.limit}")
    spec = parse_data_spec(args.data)
    if spec["schema"] == "mpii" or spec["boxes"]:
        raise InputError(
            f"--data {args.data}: attribution needs COCO-format ground truth (keypoints, segmentations) "
            "and uses its ground-truth boxes: SCHEMA:ANN:IMAGES[@ID]"
        )
    schema = get_schema(spec["schema"])
    for key in ("ann", "images"):
        if not Path(spec[key]).exists():
            raise FileNotFoundError(f"--data {spec['schema']}: {key} {spec[key]!r} does not exist")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {args.out!r} exists and is not a directory")

    model = load_any_model(args.checkpoint, getattr(args, "expert", None))
    _check_dataset_id(spec, model.cfg)
    layout = get_schema(model.cfg.layout)
    covered = map_keypoints(
        np.zeros((schema.num_keypoints, 2), np.float32),
        np.ones(schema.num_keypoints, np.float32),
        schema,
        layout,
    )[1]
    if not covered.any():
        raise InputError(
            f"the model's layout {layout.name!r} shares no joint with the data's schema {schema.name!r}"
        )
    joints = _joint_indices(args.joints, list(layout.names), covered > 0)
    names = [layout.names[i] for i in joints]
    method, sigma = _codec(model, args.codec, args.sigma)
    device = resolve_device(args.device)
    model = model.to(device).eval()
    in_w, in_h = (int(v) for v in model.cfg.image_size)
    hm_w, hm_h = (int(v) for v in model.cfg.heatmap_size)
    stride = heatmap_stride(method, (in_w, in_h), (hm_w, hm_h)).to(device=device, dtype=torch.float32)
    ids = spec["dataset_id"] if getattr(model, "uses_dataset_id", False) else None
    sel = torch.tensor(joints, device=device)

    def model_fn(x: torch.Tensor) -> torch.Tensor:
        return model(x, ids).index_select(1, sel)

    ds = CocoKeypointDataset(
        spec["ann"],
        spec["images"],
        schema=schema,
        input_size=(in_w, in_h),
        train=False,
        layout=layout,
        dataset_id=spec["dataset_id"],
    )
    raw = load_json(spec["ann"])
    anns = {a["id"]: a for a in raw.get("annotations", []) if isinstance(a, dict) and "id" in a}
    image_info = {im["id"]: im for im in raw.get("images", []) if isinstance(im, dict) and "id" in im}
    n_total = len(ds) if args.limit is None else min(len(ds), args.limit)
    if n_total == 0:
        raise InputError(f"--data {args.data}: no person with labelled keypoints to attribute")

    log = AttributionLog(out, names)
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    saved_maps: list[np.ndarray] = []
    box_masks = outside = 0
    bar = tqdm(total=n_total, desc="attribute", unit="person", disable=args.no_progress, file=sys.stderr)
    for start in range(0, n_total, args.batch_size):
        batch = collate([ds[i] for i in range(start, min(start + args.batch_size, n_total))])
        images = batch["image"].to(device)
        gt = batch["keypoints"][:, joints].to(device)
        labelled = batch["labelled"][:, joints].to(device) > 0
        inside = (
            (gt[..., 0] >= -0.5)
            & (gt[..., 0] <= in_w - 0.5)
            & (gt[..., 1] >= -0.5)
            & (gt[..., 1] <= in_h - 0.5)
        )
        outside += int((labelled & ~inside).sum())
        visible = labelled & inside
        target, weight = encode_heatmaps(
            gt.float().contiguous(), visible.float(), (in_w, in_h), (hm_w, hm_h), sigma=sigma, method=method
        )
        visible = visible & (weight > 0)
        maps = integrated_gradients(
            model_fn,
            images,
            gt,
            steps=args.steps,
            path=args.path,
            visible=visible,
            codec=method,
            chunk_size=args.chunk_size,
        )
        masks = []
        kinds = []
        for meta in batch["meta"]:
            ann = anns[meta["ann_id"]]
            info = image_info[meta["image_id"]]
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                m, from_seg = instance_mask(ann, int(info["height"]), int(info["width"]))
            box_masks += not from_seg
            kinds.append("segmentation" if from_seg else "box")
            matrix = get_udp_warp_matrix(meta["center"], meta["scale"], 0.0, (in_w, in_h))
            masks.append(torch.from_numpy(crop_mask(m, matrix, (in_w, in_h))))
        mask = torch.stack(masks)[:, None].to(device)
        with torch.no_grad():
            pred_hm = soft_argmax(model_fn(images).float())  # heatmap pixels
        gt_hm = gt / stride
        w = visible.float()
        di = dispersion_index(maps)
        fi = foreground_index(maps, mask)
        li = localization_index(maps, target)
        ri = relation_index(maps, target)
        epe_hm = torch.linalg.vector_norm(pred_hm - gt_hm, dim=-1)
        pred_px = pred_hm * stride
        epe_px = torch.linalg.vector_norm(pred_px - gt, dim=-1)
        inverted, _, _ = joint_inversions(pred_px, gt, visible, epsilon=10.0)
        for b, meta in enumerate(batch["meta"]):
            k = log.add(
                di=di[b].cpu().numpy(),
                fi=fi[b].cpu().numpy(),
                li=li[b].cpu().numpy(),
                ri=ri[b].cpu().numpy(),
                epe_hm=epe_hm[b].cpu().numpy(),
                epe_px=epe_px[b].cpu().numpy(),
                weight=w[b].cpu().numpy(),
                inverted=inverted[b].cpu().numpy(),
                meta={
                    "image_id": meta["image_id"],
                    "ann_id": meta["ann_id"],
                    "image": Path(meta["image_file"]).name,
                    "mask": kinds[b],
                    "labelled_joints": int(visible[b].sum()),
                },
            )
            if k < args.overlays:
                overlay(
                    _crop_bgr(images[b]),
                    maps[b].cpu().numpy(),
                    names,
                    gt[b].cpu().numpy(),
                    pred_px[b].cpu().numpy(),
                    w[b].cpu().numpy(),
                    out / "overlays" / f"{k:05d}.png",
                )
        if args.save_maps:
            saved_maps.append(maps.cpu().numpy().astype(np.float16))
        bar.update(images.shape[0])
    bar.close()
    log.write()
    if args.save_maps:
        with atomic_path(out / "maps.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, np.concatenate(saved_maps))
    summary = {
        "samples": len(log),
        "joints": names,
        "steps": args.steps,
        "path": args.path,
        "codec": method,
        "sigma": sigma,
        "box_masks": box_masks,
        "labelled_joints_outside_crop": outside,
    }
    from hpefast._io import atomic_write_text

    atomic_write_text(out / "run.json", json.dumps(summary, indent=2))
    per = log.per_joint()
    print(f"hpefast attribute: {len(log)} persons, {len(names)} joints, {args.steps} {args.path}-path steps")
    for row in per:
        print(
            f"  {row['name']:>16s}  n={row['labelled']:<4d} DI {row['DI']:6.2f}  FI {row['FI']:5.2f}  "
            f"LI {row['LI']:6.2f}  EPE {row['EPE_px']:6.2f} px"
        )
    if box_masks:
        print(f"hpefast attribute: {box_masks} persons had no segmentation: FI used their box as the mask")
    if outside:
        print(f"hpefast attribute: {outside} labelled joints lay outside their crop and were skipped")
    print(
        f"hpefast attribute: wrote {out}/ (idx.json, epe.json, j2j.json, per_joint.csv, indices.png, ri.png)"
    )
    return 0
