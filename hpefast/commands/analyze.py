"""``hpefast analyze errors``: per-joint bias, covariance and Gaussianity of a model's residuals on one or
more datasets, with pictures.

    # a union model on COCO and on MPII: does each dataset put its joints where the other does?
    hpefast analyze errors --src union21 --out errors/ \\
        --pred union_on_coco.json --gt coco_val.json --name COCO \\
        --pred union_on_mpii.json --gt mpii_val.json --name MPII

``--pred/--gt/--src/--dst/--name`` repeat, one per set (``--src``, ``--dst`` given once apply to all).
Writes ``errors.json`` (per set and joint: n, bias, covariance, std, RMS, normality test), for each set
``hist_<name>.png`` and ``qq_<name>.png``, and ``bias.png`` (arrows on each dataset's mean skeleton).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from hpefast.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser(
        "errors", help="per-joint residual statistics and plots of predictions vs ground truth"
    )
    p.add_argument("--pred", action="append", required=True, help="COCO-format keypoint results (repeatable)")
    p.add_argument("--gt", action="append", required=True, help="ground truth for the matching --pred")
    p.add_argument("--src", action="append", help="the model's schema (once for all sets, or per set)")
    p.add_argument("--dst", action="append", help="the ground truth's schema (default: read from the file)")
    p.add_argument("--name", action="append", help="a label per set (default: the ground truth's schema)")
    p.add_argument(
        "--translator", help="translate predictions with this translator folder instead of mapping"
    )
    p.add_argument(
        "--unit",
        default="torso",
        choices=["torso", "head", "area", "box"],
        help="per-person length residuals are divided by",
    )
    p.add_argument("--frame", default="body", choices=["body", "image"], help="axes residuals are given in")
    p.add_argument("--match", default="oks", choices=["oks", "iou"])
    p.add_argument("--out", required=True, help="output folder")
    from hpefast.commands._outputs import add_overwrite_argument

    add_overwrite_argument(p)


def _per_set(values: list[str] | None, n: int, flag: str) -> list[str | None]:
    if not values:
        return [None] * n
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise InputError(
            f"{flag} given {len(values)} times for {n} --pred/--gt sets: give it once or per set"
        )
    return list(values)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "set"


def _summary(result: dict[str, Any]) -> str:
    lines = [
        f"{result['name']}: {result['src']} predictions on {result['schema']} ({result['matched']}/"
        f"{result['gt_people']} people matched), residuals / {result['unit']}, {result['frame']} frame",
        f"{'joint':<16}{'n':>6}{'bias x':>9}{'bias y':>9}{'std x':>8}{'std y':>8}{'p(x)':>9}{'p(y)':>9}",
    ]
    for j in result["joints"]:
        if j["n"] < 2:
            continue
        p = j["normality"]
        lines.append(
            f"{j['joint']:<16}{j['n']:>6}{j['mean'][0]:>9.4f}{j['mean'][1]:>9.4f}{j['std'][0]:>8.4f}{j['std'][1]:>8.4f}"
            f"{p['x']['p']:>9.2g}{p['y']['p']:>9.2g}"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hpefast.commands.translate import _write_json
    from hpefast.translate.analysis import analyse_predictions
    from hpefast.translate.pairs import guess_schema, read_ground_truth, read_predictions
    from hpefast.translate.plots import plot_bias, plot_histograms, plot_qq

    if args.action != "errors":
        raise InputError(f"unknown action {args.action!r}")
    n = len(args.pred)
    if len(args.gt) != n:
        raise InputError(
            f"--pred given {n} times but --gt {len(args.gt)} times: one ground truth per prediction file"
        )
    srcs = _per_set(args.src, n, "--src")
    dsts = _per_set(args.dst, n, "--dst")
    names = _per_set(args.name, n, "--name")
    from hpefast.commands._outputs import check_run_dir

    inputs = [*args.pred, *args.gt, args.translator]
    check_run_dir(args.out, overwrite=args.overwrite, option="--out", inputs=inputs)
    translator = None
    if args.translator:
        from hpefast.translate import KeypointTranslator

        translator = KeypointTranslator.load(args.translator)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, used = [], set()
    for pred, gt_path, src, dst, name in zip(args.pred, args.gt, srcs, dsts, names):
        if src is None:
            if translator is None:
                raise InputError(f"--src is required for {pred} (the schema of the model's keypoints)")
            src = translator.src
        dst = dst or guess_schema(gt_path)
        gt = read_ground_truth(gt_path, dst)
        preds = read_predictions(pred, src)
        name = name or dst
        if name in used:
            raise InputError(f"two sets are called {name!r}: give each a --name")
        used.add(name)
        r = analyse_predictions(
            gt,
            preds,
            unit=args.unit,
            frame=args.frame,
            name=name,
            translator=translator,
            match_method=args.match,
        )
        if r["matched"] == 0:
            raise InputError(
                f"no prediction in {pred} matched a person in {gt_path}: are --src and the files right?"
            )
        plot_histograms(r, out / f"hist_{_slug(name)}.png")
        plot_qq(r, out / f"qq_{_slug(name)}.png")
        print(_summary(r))
        results.append(r)
    plot_bias(results, out / "bias.png")
    payload = [
        {k: v for k, v in r.items() if k not in ("residuals", "mean_pose")}
        | {"mean_pose": r["mean_pose"].tolist()}
        for r in results
    ]
    _write_json(str(out / "errors.json"), payload)
    print(f"wrote {out / 'errors.json'}, bias.png and per-set hist_*.png / qq_*.png to {out}")
    return 0
