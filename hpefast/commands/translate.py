"""``hpefast translate {fit,eval,simulate}``: keypoint translators between dataset representations.

    # pairs from a COCO model run on MPII images (its COCO results json) + MPII ground truth -> translator
    hpefast translate fit --pred coco_on_mpii_train.json --gt mpii_train.json --src coco --out coco2mpii
    # scored in MPII's protocol (PCKh) against the plain mapping of the shared joints
    hpefast translate eval --pred coco_on_mpii_val.json --gt mpii_val.json --model coco2mpii
    # cross-dataset evaluation only (no translator): a union model on MPII, a COCO model on MPII, ...
    hpefast translate eval --pred union_on_mpii.json --gt mpii_val.json --src union21
    # synthetic predictions of a model with COCO's labelling conventions on MPII ground truth (for demos)
    hpefast translate simulate --gt mpii.json --src coco --out coco_on_mpii.json

The ground truth's schema (``--dst``) is read from the file when it can be (MPII json; COCO json whose
category keypoint names are a registered schema's). ``eval`` without ``--model`` or ``--src`` takes the
results' schema from their keypoint count: the ground truth's schema when it has as many joints (results
``hpefast eval`` wrote in the dataset's schema), else the one registered schema with that count (21:
union21); an ambiguous count (17: coco or ap10k on MPII) is an error asking for ``--src``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hpefast.errors import InputError


def _common(p: argparse.ArgumentParser, model: bool = False) -> None:
    p.add_argument("--pred", required=True, help="COCO-format keypoint results of the model (json list)")
    p.add_argument("--gt", required=True, help="ground truth: COCO keypoint json or MPII json")
    p.add_argument(
        "--src",
        required=not model,
        help="the model's schema, e.g. coco, mpii, union21"
        + ("" if not model else " (default: the translator's, else from the results' keypoint count)"),
    )
    p.add_argument("--dst", help="the ground truth's schema (default: read from the file)")
    p.add_argument(
        "--headboxes", help="MPII head boxes (json [N,2,2] or the official .mat), else each entry's"
    )
    p.add_argument("--match", default="oks", choices=["oks", "iou"], help="how predictions meet people")
    p.add_argument("--match-threshold", type=float, default=None, help="default 0.3 (OKS) / 0.5 (IoU)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fit = sub.add_parser("fit", help="fit a translator on (prediction, ground truth) pairs")
    _common(fit)
    fit.add_argument("--out", required=True, help="folder for translator.safetensors + translator.json")
    fit.add_argument("--hidden", type=int, default=256)
    fit.add_argument("--layers", type=int, default=2)
    fit.add_argument("--steps", type=int, default=2000)
    fit.add_argument("--batch-size", type=int, default=256)
    fit.add_argument("--lr", type=float, default=3e-3)
    fit.add_argument("--no-scores", action="store_true", help="do not feed keypoint scores to the network")
    fit.add_argument("--no-flip", action="store_true", help="no left/right mirroring during fitting")
    fit.add_argument(
        "--box-mode",
        default="auto",
        choices=["auto", "bbox", "keypoints"],
        help="normalise by each result's bbox or by its keypoints' extent",
    )
    fit.add_argument("--val-fraction", type=float, default=0.1, help="images held out to report errors on")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--device", default="cpu")

    ev = sub.add_parser("eval", help="score predictions in the dataset's protocol: mapping vs translator")
    _common(ev, model=True)
    ev.add_argument("--model", help="translator folder (without it: the plain mapping only)")
    ev.add_argument(
        "--box-mode", default=None, choices=["auto", "bbox", "keypoints"], help="default: the model's"
    )
    ev.add_argument("--out", help="write the scores as json here")

    sim = sub.add_parser("simulate", help="synthetic predictions of a --src-convention model on --gt")
    sim.add_argument("--gt", required=True)
    sim.add_argument("--src", required=True, help="the simulated model's schema (its labelling convention)")
    sim.add_argument("--dst", help="the ground truth's schema (default: read from the file)")
    sim.add_argument("--out", required=True, help="COCO results json to write")
    sim.add_argument("--noise", type=float, default=0.03, help="joint noise, fraction of the person size")
    sim.add_argument("--seed", type=int, default=0)
    from hpefast.commands._outputs import add_overwrite_argument

    for p in (fit, ev, sim):
        add_overwrite_argument(p)


def _read(args: argparse.Namespace, src: str, dst: str | None):
    from hpefast.translate.pairs import guess_schema, read_ground_truth, read_predictions

    dst = dst or guess_schema(args.gt)
    gt = read_ground_truth(args.gt, dst, headbox_file=getattr(args, "headboxes", None))
    preds = read_predictions(args.pred, src)
    return gt, preds


def _write_json(path: str, payload: Any) -> None:
    """Write strict JSON (NaN / inf as null) atomically."""
    from hpefast._io import atomic_write_text

    atomic_write_text(path, json.dumps(_finite(payload), indent=2, allow_nan=False))


def _finite(obj: Any) -> Any:
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _split_by_image(image_ids, fraction: float, seed: int):
    import numpy as np

    ids = np.unique(image_ids)
    rng = np.random.default_rng(seed)
    n_val = int(round(fraction * len(ids)))
    if fraction > 0 and len(ids) > 1:
        n_val = min(max(n_val, 1), len(ids) - 1)
    else:
        n_val = 0
    val_ids = set(rng.permutation(ids)[:n_val].tolist())
    val = np.array([i in val_ids for i in image_ids.tolist()], dtype=bool)
    return ~val, val


def _errors(pred, dst_kp, boxes, joints) -> float:
    """Mean distance over labelled ``joints`` in units of the box's longer side."""
    import numpy as np

    lab = (dst_kp[..., 2] > 0) & joints[None]
    d = (
        np.linalg.norm(pred[..., :2] - dst_kp[..., :2], axis=-1)
        / np.maximum(boxes[:, 2], boxes[:, 3])[:, None]
    )
    return float(d[lab].mean()) if lab.any() else float("nan")


def _fit(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from hpefast.translate import KeypointTranslator
    from hpefast.translate._schema import map_array
    from hpefast.translate.pairs import build_pairs

    if not 0.0 <= args.val_fraction < 1.0:
        raise InputError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    gt, preds = _read(args, args.src, args.dst)
    pairs = build_pairs(gt, preds, box_mode=args.box_mode, method=args.match, threshold=args.match_threshold)
    if len(pairs) == 0:
        raise InputError(
            f"no prediction in {args.pred} matched a person in {args.gt}: are --src and the files right?"
        )
    st = pairs.stats
    print(
        f"pairs: {st['matched']} matched ({st['unmatched_gt']} people and "
        f"{st['unmatched_predictions']} predictions "
        f"unmatched), boxes from {st['box_mode']}"
    )
    image_ids = gt.image_id[pairs.gt_index]
    train, val = _split_by_image(image_ids, args.val_fraction, args.seed)
    t = KeypointTranslator(
        pairs.src,
        pairs.dst,
        hidden=args.hidden,
        layers=args.layers,
        use_scores=not args.no_scores,
        flip_augment=not args.no_flip,
        seed=args.seed,
        device=args.device,
    )
    t0 = time.perf_counter()
    t.fit(
        pairs.src_keypoints[train],
        pairs.dst_keypoints[train],
        pairs.boxes[train],
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
    )
    seconds = time.perf_counter() - t0
    shared = t.index_map >= 0
    report: dict[str, Any] = dict(
        pairs=st, train_pairs=int(train.sum()), val_pairs=int(val.sum()), fit_seconds=seconds
    )
    for split, sel in (("train", train), ("val", val)):
        if not sel.any():
            continue
        s_kp, d_kp, bx = pairs.src_keypoints[sel], pairs.dst_keypoints[sel], pairs.boxes[sel]
        pred = t.predict(s_kp, bx)
        base = map_array(s_kp, pairs.src, pairs.dst)
        report[split] = dict(
            mapping_shared=_errors(base, d_kp, bx, shared),
            translator_shared=_errors(pred, d_kp, bx, shared),
            translator_all=_errors(pred, d_kp, bx, np.ones_like(shared)),
        )
    t.meta = dict(box_mode=st["box_mode"], fit=report, pred=str(args.pred), gt=str(args.gt))
    folder = t.save(args.out)
    print(f"fitted {t} in {seconds:.1f}s ({args.steps} steps); saved to {folder}")
    print("mean joint error, in units of the box's longer side (lower is better):")
    print(f"{'split':<7}{'mapping/shared':>16}{'translator/shared':>19}{'translator/all':>16}")
    for split in ("train", "val"):
        if split in report:
            r = report[split]
            print(
                f"{split:<7}{r['mapping_shared']:>16.4f}{r['translator_shared']:>19.4f}{r['translator_all']:>16.4f}"
            )
    return 0


def _eval(args: argparse.Namespace) -> int:
    from hpefast.translate.scoring import evaluate_translation, format_rows

    translator = None
    src, dst = args.src, args.dst
    if args.model:
        from hpefast.translate import KeypointTranslator

        translator = KeypointTranslator.load(args.model)
        for flag, given, own in (("--src", src, translator.src), ("--dst", dst, translator.dst)):
            if given is not None and given != own:
                raise InputError(f"{flag} {given!r} contradicts the translator in {args.model} ({own!r})")
        src, dst = translator.src, translator.dst
    if src is None:
        from hpefast.translate.pairs import guess_results_schema, guess_schema

        dst = dst or guess_schema(args.gt)
        try:
            src = guess_results_schema(args.pred, dst)
        except ValueError as exc:
            raise InputError(f"--src not given and cannot be inferred: {exc} with --src") from None
        print(f"hpefast translate eval: --src not given: {src} (from the keypoint count)", file=sys.stderr)
    gt, preds = _read(args, src, dst)
    result = evaluate_translation(
        gt,
        preds,
        translator,
        box_mode=args.box_mode,
        match_method=args.match,
        match_threshold=args.match_threshold,
    )
    print(format_rows(result))
    if args.out:
        _write_json(args.out, result)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    import numpy as np

    from hpefast.translate.pairs import guess_schema, read_ground_truth
    from hpefast.translate.synthetic import simulate_predictions

    dst = args.dst or guess_schema(args.gt)
    gt = read_ground_truth(args.gt, dst)
    rng = np.random.default_rng(args.seed)
    results = simulate_predictions(gt.keypoints, gt.image_id, dst, args.src, rng, noise=args.noise)
    _write_json(args.out, results)
    print(
        f"wrote {len(results)} simulated {args.src!r} predictions on {len(gt)} {dst!r} people to {args.out}"
    )
    return 0


def main(args: argparse.Namespace) -> int:
    actions = {"fit": _fit, "eval": _eval, "simulate": _simulate}
    if getattr(args, "action", None) not in actions:
        print("hpefast translate: choose an action: fit, eval or simulate", file=sys.stderr)
        return 2
    _check_outputs(args)
    return actions[args.action](args)


def _check_outputs(args: argparse.Namespace) -> None:
    """Outputs never overwrite the inputs or an earlier result unasked; zero-valued sizes are refused."""
    from hpefast.commands._outputs import check_output_file, check_run_dir

    inputs = [getattr(args, k, None) for k in ("pred", "gt", "model", "headboxes")]
    if args.action == "fit":
        check_run_dir(args.out, overwrite=args.overwrite, option="--out", inputs=inputs)
        for flag in ("steps", "batch_size", "hidden"):
            if getattr(args, flag) < 1:
                raise InputError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    else:
        check_output_file(args.out, overwrite=args.overwrite, option="--out", inputs=inputs)
