"""``hpefast eval-coco GT.json RESULTS.json [--sigmas NAME] [--json]``: COCO keypoint AP of a results
file, identical to pycocotools (compiled, multithreaded)."""

from __future__ import annotations

import argparse
import json
import sys

from hpefast.errors import InputError

STAT_NAMES = ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]
CROWD_STAT_NAMES = ["AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gt", metavar="GT.json", help="ground truth in COCO keypoint format")
    parser.add_argument(
        "results", metavar="RESULTS.json", help="results: image_id, category_id, keypoints, score"
    )
    parser.add_argument(
        "--sigmas",
        default=None,
        metavar="NAME",
        help="OKS sigmas: a keypoint schema name (coco, aic, mpii, crowdpose, ap10k, union21, union23, ...) "
        "or comma-separated values (default: COCO's)",
    )
    parser.add_argument("--json", action="store_true", help="print the stats as JSON instead of the table")
    parser.add_argument(
        "--no-area",
        action="store_true",
        help="xtcocotools' use_area=False: 0.53 x bbox area instead of the 'area' field, and results whose "
        "keypoint scores are all 0 are dropped, as xtcocotools does (AIC, CrowdPose)",
    )
    parser.add_argument(
        "--crowd", action="store_true", help="CrowdPose mode (keypoints_crowd: AP easy / medium / hard)"
    )
    parser.add_argument("--per-joint", action="store_true", help="also report the AP of each joint alone")


def _parse_sigmas(value: str | None):
    """``--sigmas``: None (COCO), a keypoint schema name (any registered one, digits allowed: ``ap10k``,
    ``union21``) or comma-separated positive numbers. ValueError naming ``--sigmas`` otherwise."""
    if value is None:
        return None
    from hpefast.keypoints import list_schemas

    name = value.strip().lower()
    if name in list_schemas():
        return name
    try:
        values = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        known = ", ".join(list_schemas())
        raise InputError(
            f"--sigmas: unknown keypoint schema {value!r} (known: {known}) and not comma-separated numbers"
        ) from None
    if not values or not all(v > 0 and v < float("inf") for v in values):
        raise InputError(f"--sigmas: {value!r}: expected finite positive numbers")
    return values


def main(args: argparse.Namespace) -> int:
    import contextlib
    import io

    from hpefast.evaluation import COCO, COCOeval, per_joint_ap

    sigmas = _parse_sigmas(args.sigmas)
    gt = COCO(args.gt)
    dt = gt.loadRes(args.results)
    iou_type = "keypoints_crowd" if args.crowd else "keypoints"
    # xtcocotools' options come with its conventions (all-zero-score results dropped; compat="xtcocotools")
    compat = "xtcocotools" if args.no_area or args.crowd else "pycocotools"
    E = COCOeval(gt, dt, iou_type, sigmas=sigmas, use_area=not args.no_area, compat=compat)
    E.evaluate()
    E.accumulate()
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        E.summarize()
    names = CROWD_STAT_NAMES if args.crowd else STAT_NAMES
    stats = {n: float(v) for n, v in zip(names, E.stats)}
    per_joint = None
    if args.per_joint:
        per_joint = per_joint_ap(gt, dt, sigmas=sigmas, use_area=not args.no_area, compat=compat)
    if args.json:
        out = {"stats": stats}
        if per_joint is not None:
            out["per_joint_ap"] = per_joint
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(table.getvalue())
        if per_joint is not None:
            width = max(len(n) for n in per_joint)
            print("Per-joint AP @[ IoU=0.50:0.95 | area=   all | maxDets= 20 ]")
            for name, value in per_joint.items():
                print(f"  {name:<{width}} = {value:0.3f}")
    return 0
