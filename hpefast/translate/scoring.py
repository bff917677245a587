"""Cross-dataset evaluation: score predictions of one schema on a dataset of another, in the dataset's own
protocol (MPII: PCKh@0.5; COCO-format data: OKS AP with the dataset schema's sigmas), over a chosen set of
the dataset's joints.

:func:`evaluate_translation` compares the plain mapping (the joints the two schemas share, as they are)
with a :class:`~hpefast.translate.KeypointTranslator` (on the same shared joints, and on all joints):

    rows = evaluate_translation(gt, preds)                 # a COCO model on MPII: PCKh of mapped joints
    rows = evaluate_translation(gt, preds, translator=t)   # + the translator's rows

Every method is scored on the same people: the predictions are matched to the ground truth once, on the
source predictions (:func:`hpefast.translate.pairs.match`), for PCKh; COCO AP does its own matching.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np

from hpefast.errors import InputError
from hpefast.translate._schema import get_schema, index_map, map_array
from hpefast.translate.pairs import GroundTruth, Predictions, match, prediction_boxes

COCO_STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def score_pckh(
    gt: GroundTruth,
    keypoints: np.ndarray,
    gt_index: np.ndarray,
    pred_index: np.ndarray,
    joints: np.ndarray,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """PCKh (percent) of ``keypoints [P, 16, >=2]`` (MPII schema, image pixels) against MPII ground truth.

    Each ground-truth person is scored with the prediction matched to it (``gt_index[i] <-> pred_index[i]``);
    people with no prediction count as misses on all their joints. Only joints in ``joints [16] bool`` are
    scored (the others are treated as not labelled). Uses ``hpefast.evaluation.pckh`` (head size
    0.6 x head-box diagonal; Mean without pelvis and thorax): per-part values, ``Mean``, ``Mean@0.1``, and
    the lists ``per_joint`` and ``count``.
    """
    from hpefast.evaluation import pckh

    if gt.format != "mpii" or gt.headbox is None:
        raise InputError(f"{gt.source}: PCKh needs MPII ground truth with head boxes")
    bad = ~np.isfinite(gt.headbox).all(axis=(1, 2))
    if bad.any():
        raise InputError(
            f"{gt.source}: MPII entry {int(gt.ann_id[np.flatnonzero(bad)[0]])} has no head box; "
            "PCKh needs one "
            "per person (a 'headbox' key per entry, or --headboxes FILE)"
        )
    n = len(gt)
    pred = gt.keypoints[:, :, :2] + 1e6  # unmatched people: far away, a miss on every joint
    pred[gt_index] = np.asarray(keypoints, dtype=np.float64)[pred_index, :, :2]
    visible = (gt.keypoints[..., 2] > 0) & np.asarray(joints, dtype=bool)[None]
    if n == 0 or not visible.any():
        raise InputError(
            f"{gt.source}: no labelled joint to score among {int(np.sum(joints))} selected joints"
        )
    out = pckh(pred, gt.keypoints[..., :2], visible, gt.headbox, threshold=threshold)
    return {str(k): (np.asarray(v).tolist() if np.ndim(v) else float(v)) for k, v in out.items()}


def score_coco(
    gt: GroundTruth,
    keypoints: np.ndarray,
    scores: np.ndarray,
    image_ids: np.ndarray,
    joints: np.ndarray,
) -> dict[str, float]:
    """COCO OKS AP of ``keypoints [P, K, 3]`` (the dataset's schema, image pixels + joint scores) with
    instance ``scores [P]`` on ``image_ids [P]``, over the joints in ``joints [K] bool`` only (ground truth,
    results and sigmas are all cut down to them). ``use_area`` is on when every annotation has an area."""
    from hpefast.evaluation import COCO, COCOeval

    if gt.coco is None:
        raise InputError(f"{gt.source}: OKS AP needs COCO-format ground truth")
    joints = np.asarray(joints, dtype=bool)
    sel = np.flatnonzero(joints)
    if len(sel) == 0:
        raise InputError("no joints selected for OKS AP")
    sigmas = np.asarray(get_schema(gt.schema).sigmas, dtype=np.float64)[sel]
    data = dict(gt.coco)
    anns = []
    for a in gt.coco["annotations"]:
        a = dict(a)
        kp = np.asarray(a.get("keypoints", [0] * 3 * len(joints)), dtype=np.float64).reshape(-1, 3)
        if kp.shape[0] == len(joints):
            kp = kp[sel]
            a["keypoints"] = kp.reshape(-1).tolist()
            a["num_keypoints"] = int((kp[:, 2] > 0).sum())
        anns.append(a)
    data["annotations"] = anns
    cats = copy.deepcopy(gt.coco.get("categories", [{"id": 1, "name": "person"}]))
    for c in cats:
        if "keypoints" in c and len(c["keypoints"]) == len(joints):
            c["keypoints"] = [c["keypoints"][i] for i in sel]
            c.pop("skeleton", None)
    data["categories"] = cats
    cat_id = int(cats[0]["id"]) if cats else 1
    kp = np.asarray(keypoints, dtype=np.float64)[:, sel]
    results = [
        dict(image_id=int(i), category_id=cat_id, keypoints=k.reshape(-1).tolist(), score=float(s))
        for i, k, s in zip(image_ids, kp, scores)
    ]
    if not results:
        return {name: 0.0 for name in COCO_STAT_NAMES}
    coco_gt = COCO(data)
    ev = COCOeval(coco_gt, coco_gt.loadRes(results), iouType="keypoints", sigmas=sigmas, use_area=gt.has_area)
    ev.evaluate()
    ev.accumulate()
    with contextlib.redirect_stdout(io.StringIO()):  # the summary table: the rows are printed by the caller
        ev.summarize()
    return {name: float(v) for name, v in zip(COCO_STAT_NAMES, ev.stats)}


def score(
    gt: GroundTruth,
    keypoints: np.ndarray,
    preds: Predictions,
    assignment: tuple[np.ndarray, np.ndarray],
    joints: np.ndarray,
) -> dict[str, float]:
    """Score ``keypoints [P, K, 3]`` (one row per prediction of ``preds``, in ``gt``'s schema) in the
    dataset's protocol: PCKh for MPII json ground truth, OKS AP otherwise."""
    if gt.format == "mpii":
        return score_pckh(gt, keypoints, assignment[0], assignment[1], joints)
    return score_coco(gt, keypoints, preds.score, preds.image_id, joints)


def headline(metrics: dict[str, float]) -> tuple[str, float]:
    """The one number a row is compared by: PCKh ``Mean`` or COCO ``AP``."""
    if "Mean" in metrics:
        return "PCKh", metrics["Mean"]
    return "AP", metrics["AP"]


def evaluate_translation(
    gt: GroundTruth,
    preds: Predictions,
    translator: Any = None,
    *,
    box_mode: str | None = None,
    match_method: str = "oks",
    match_threshold: float | None = None,
) -> dict[str, Any]:
    """Score predictions of schema ``preds.schema`` on a dataset of schema ``gt.schema``.

    Rows (each a dict with ``method``, ``joints``, ``num_joints`` and the protocol's metrics):
    ``mapping / shared`` — the plain mapping on the joints both schemas have (the cross-dataset score);
    with a ``translator`` (whose ``src``/``dst`` must be the two schemas) also ``translator / shared`` and,
    when the dataset has joints the model lacks, ``translator / all``. ``box_mode`` defaults to the
    translator's (``translator.meta["box_mode"]``), else ``"auto"``.
    """
    src, dst = preds.schema, gt.schema
    if translator is not None and (translator.src, translator.dst) != (src, dst):
        raise InputError(
            f"the translator maps {translator.src!r} -> {translator.dst!r}, but the predictions are {src!r} "
            f"and the ground truth {dst!r}"
        )
    shared = index_map(src, dst) >= 0
    if not shared.any():
        raise InputError(f"schemas {src!r} and {dst!r} share no joint: nothing to score without a translator")
    assignment = match(gt, preds, match_method, match_threshold)
    names = get_schema(dst).names
    rows: list[dict[str, Any]] = []

    def add(method: str, kp: np.ndarray, joints: np.ndarray) -> None:
        m = score(gt, kp, preds, assignment, joints)
        rows.append(
            dict(method=method, joints="all" if joints.all() else "shared", num_joints=int(joints.sum()), **m)
        )

    add("mapping", map_array(preds.keypoints, src, dst), shared)
    mode_used = None
    if translator is not None:
        mode = box_mode or getattr(translator, "meta", {}).get("box_mode", "auto")
        boxes, mode_used = prediction_boxes(preds, mode)
        kp = translator.predict(preds.keypoints, boxes)
        add("translator", kp, shared)
        if not shared.all():
            add("translator", kp, np.ones(len(names), dtype=bool))
    return dict(
        src=src,
        dst=dst,
        protocol="PCKh@0.5" if gt.format == "mpii" else "OKS AP",
        shared_joints=[n for n, s in zip(names, shared) if s],
        missing_joints=[n for n, s in zip(names, shared) if not s],
        matched=len(assignment[0]),
        gt_people=len(gt),
        predictions=len(preds),
        box_mode=mode_used,
        rows=rows,
    )


def format_rows(result: dict[str, Any]) -> str:
    """A small text table of :func:`evaluate_translation`'s rows."""
    lines = [
        f"{result['src']} predictions on {result['dst']} ground truth ({result['protocol']}): "
        f"{result['matched']}/{result['gt_people']} people matched, {result['predictions']} predictions",
        f"{'method':<12}{'joints':<14}{'metric':<8}{'value':>8}",
    ]
    for r in result["rows"]:
        name, value = headline(r)
        shown = value if name == "PCKh" else 100.0 * value
        lines.append(
            f"{r['method']:<12}{r['joints'] + ' (' + str(r['num_joints']) + ')':<14}{name:<8}{shown:>8.2f}"
        )
    return "\n".join(lines)
