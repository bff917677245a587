"""``hpefast show-data ANN IMAGES --out grid.png``: look at a dataset with its skeletons.

Full images with every loaded instance (box + keypoints in the dataset's schema), or with ``--crops`` the
network inputs exactly as the loader produces them (``--train`` adds the random augmentation), with the
crop keypoints in the output layout. Reading what the loader returns, not the raw json, is the point:
a skeleton that lands on its person proves the parsing, the coordinate conventions and the warp.
"""

from __future__ import annotations

import argparse

from hpefast.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ann", help="annotation file: COCO-format json, or an MPII json (a list)")
    parser.add_argument("images", help="image folder")
    parser.add_argument("--out", default="grid.png", help="output PNG (default grid.png)")
    parser.add_argument("--schema", default=None, help="schema of a COCO-format file (default: detect)")
    parser.add_argument("--format", choices=("auto", "coco", "mpii"), default="auto")
    parser.add_argument("--num", type=int, default=16, help="images (or crops) to draw")
    parser.add_argument("--columns", type=int, default=4)
    parser.add_argument("--crops", action="store_true", help="draw the network input crops instead")
    parser.add_argument("--train", action="store_true", help="with --crops: random augmentation")
    parser.add_argument("--layout", default=None, help="with --crops: map keypoints into this layout")
    parser.add_argument("--input-size", type=int, nargs=2, default=(192, 256), metavar=("W", "H"))
    parser.add_argument("--seed", type=int, default=0)
    from hpefast.commands._outputs import add_overwrite_argument

    add_overwrite_argument(parser)


def detect_schema(data: dict) -> str:
    """Name of the registered schema whose joint names match the file's category keypoints."""
    from hpefast.keypoints import get_schema, list_schemas

    cats = [c for c in data.get("categories", []) if c.get("keypoints")]
    if not cats:
        raise InputError("cannot detect the keypoint schema (no category keypoints); pass --schema")
    names = [str(n).lower().replace(" ", "_") for n in cats[0]["keypoints"]]
    aliases = {"head": "top_head", "head_top": "head_top"}
    for name in list_schemas():
        schema_names = list(get_schema(name).names)
        if names == schema_names or [aliases.get(n, n) for n in names] == schema_names:
            return name
    same_count = [n for n in list_schemas() if get_schema(n).num_keypoints == len(names)]
    if len(same_count) == 1:
        return same_count[0]
    raise InputError(f"cannot detect the schema of {len(names)} joints {names[:4]}...; pass --schema")


def main(args: argparse.Namespace) -> int:
    import os

    import cv2
    import numpy as np
    import torch

    from hpefast._io import atomic_write_bytes
    from hpefast.commands._outputs import check_output_file
    from hpefast.data import CocoKeypointDataset, MpiiDataset
    from hpefast.data.base import load_json
    from hpefast.data.transforms import IMAGENET_MEAN, IMAGENET_STD
    from hpefast.visualize import draw_pose, make_grid

    # Everything about the output is checked before any image is read.
    if os.path.splitext(args.out)[1].lower() != ".png":
        raise InputError(f"--out {args.out!r}: show-data writes a PNG image; give a path ending in .png")
    check_output_file(args.out, overwrite=args.overwrite, option="--out", inputs=[args.ann, args.images])
    for flag, value in (("--num", args.num), ("--columns", args.columns)):
        if value < 1:
            raise InputError(f"{flag} must be at least 1, got {value}")
    if min(args.input_size) < 1 or max(args.input_size) > 4096:
        raise InputError(f"--input-size must be two ints (W H) in [1, 4096], got {list(args.input_size)}")
    data = load_json(args.ann)
    fmt = args.format if args.format != "auto" else ("mpii" if isinstance(data, list) else "coco")
    common = {"input_size": tuple(args.input_size), "train": args.train, "layout": args.layout}
    if fmt == "mpii":
        ds = MpiiDataset(args.ann, args.images, **common)
    else:
        schema = args.schema or detect_schema(data)
        ds = CocoKeypointDataset(args.ann, args.images, schema=schema, **common)
    if len(ds) == 0:
        raise InputError(f"{args.ann}: no instances to draw")
    tiles = []
    if args.crops:
        torch.manual_seed(args.seed)
        mean = np.array(IMAGENET_MEAN, np.float32)[:, None, None]
        std = np.array(IMAGENET_STD, np.float32)[:, None, None]
        for i in range(min(args.num, len(ds))):
            item = ds[i]
            rgb = (item["image"].numpy() * std + mean).clip(0, 1) * 255
            crop = np.ascontiguousarray(rgb.transpose(1, 2, 0)[..., ::-1].astype(np.uint8))
            kp = item["keypoints"].numpy()
            tiles.append(draw_pose(crop, kp, ds.layout, visible=item["labelled"].numpy(), radius=3))
        cell = tuple(args.input_size)
    else:
        by_image: dict[str, list] = {}
        for inst in ds.instances:
            by_image.setdefault(inst.image_file, []).append(inst)
        for path, insts in list(by_image.items())[: args.num]:
            image = cv2.imread(path, cv2.IMREAD_COLOR)
            if image is None:
                raise InputError(f"{path}: cannot read the image")
            kps = np.stack([inst.keypoints for inst in insts])
            boxes = np.stack([inst.bbox for inst in insts])
            tiles.append(draw_pose(image, kps, ds.schema, box=boxes))
        cell = (480, 360)
    grid = make_grid(tiles, columns=args.columns, cell=cell)
    ok, buf = cv2.imencode(".png", grid)
    if not ok:
        raise InputError("PNG encoding failed")
    out = os.path.abspath(args.out)
    atomic_write_bytes(out, buf.tobytes())
    what = "crops" if args.crops else "images"
    print(f"wrote {out}: {len(tiles)} {what}, {len(ds)} instances in {args.ann}")
    return 0
