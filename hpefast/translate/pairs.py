"""Ground truth, model predictions, and pairs of the same person seen in two representations.

A *pair* is one person as a model of schema A predicted it (the source) and as dataset B labelled it (the
destination). Pairs come from running an A-model on B's images: its COCO-format results json is matched to
B's ground truth per image, greedily by OKS over the joints A and B share (or by box IoU when they share
none), and each matched prediction is paired with its ground-truth person.

Ground truth is read from a COCO keypoint json (COCO, AIC, CrowdPose, AP-10K, ...) or an MPII json in the
mmpose/HRNet format, with the conventions of ``hpefast.data``: MPII joints and centres are 1-based and
become 0-based pixels, the person box is the square ``scale x 200`` px around the centre moved down by
``15 x scale`` px, ``image_id`` is the number in the image file name (its entry index when there is none),
and head boxes come from each entry's ``headbox`` key (or a separate file).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpefast._reference.oks import mean_exp, oks_exponents
from hpefast.errors import InputError
from hpefast.translate._schema import get_schema, index_map, map_array

__all__ = [
    "GroundTruth",
    "Predictions",
    "Pairs",
    "read_ground_truth",
    "read_predictions",
    "match",
    "build_pairs",
    "prediction_boxes",
    "guess_schema",
    "guess_results_schema",
]


@dataclass
class GroundTruth:
    """The people of a dataset with keypoints (crowd regions and people with no labelled joint are left out).

    Attributes:
        schema: the dataset's schema name.
        format: ``"coco"`` (COCO keypoint json) or ``"mpii"`` (mmpose MPII json).
        image_id, ann_id: ``[M]`` int64 (MPII ann_id = the entry's index in the file).
        keypoints: ``[M, K, 3]`` 0-based image pixels + visibility (0 = not labelled).
        boxes: ``[M, 4]`` person boxes (x, y, w, h); area: ``[M]`` (COCO ``area``, else box area).
        headbox: ``[M, 2, 2]`` MPII head boxes ((x1, y1), (x2, y2)), NaN where unknown; None for COCO.
        coco: the COCO json (all annotations, crowds included) for COCO-format ground truth, else None.
        has_area: every COCO annotation carries ``area`` (else OKS AP is computed with ``use_area=False``).
        source: where it was read from (for messages).
    """

    schema: str
    format: str
    image_id: np.ndarray
    ann_id: np.ndarray
    keypoints: np.ndarray
    boxes: np.ndarray
    area: np.ndarray
    headbox: np.ndarray | None = None
    coco: dict[str, Any] | None = None
    has_area: bool = True
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.image_id)


@dataclass
class Predictions:
    """A model's COCO-format keypoint results: ``image_id [P]``, ``keypoints [P, K, 3]`` (x, y, score),
    ``score [P]`` (instance score), ``bbox [P, 4]`` (NaN where a result has none)."""

    schema: str
    image_id: np.ndarray
    keypoints: np.ndarray
    score: np.ndarray
    bbox: np.ndarray
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.image_id)


@dataclass
class Pairs:
    """Matched people: ``src_keypoints [M, Ks, 3]`` (the predictions), ``dst_keypoints [M, Kd, 3]`` (their
    ground truth), ``boxes [M, 4]`` (the predictions' boxes, see :func:`prediction_boxes`), and the indices
    of each pair in the predictions and in the ground truth."""

    src: str
    dst: str
    src_keypoints: np.ndarray
    dst_keypoints: np.ndarray
    boxes: np.ndarray
    pred_index: np.ndarray
    gt_index: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pred_index)


# -- reading ---------------------------------------------------------------------------------------------
def _load_json(path: str | os.PathLike, what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {str(p)!r} is not valid JSON: {exc}") from exc


def guess_schema(annotation: str | os.PathLike | dict | list) -> str:
    """The schema of a ground-truth file: ``"mpii"`` for an MPII json (a list), otherwise the registered
    schema whose joint names equal the COCO json's category ``keypoints``. ValueError when none does."""
    source = "<memory>" if isinstance(annotation, (dict, list)) else str(annotation)
    data = annotation if isinstance(annotation, (dict, list)) else _load_json(annotation, "ground truth")
    if isinstance(data, list):
        return "mpii"
    from hpefast.keypoints import list_schemas

    names = None
    for c in data.get("categories", []) if isinstance(data, dict) else []:
        if isinstance(c, dict) and c.get("keypoints"):
            names = tuple(str(n) for n in c["keypoints"])
            break
    if names is not None:
        for name in list_schemas():
            if get_schema(name).names == names:
                return name
    raise InputError(
        f"{source}: cannot tell its keypoint schema from the categories' keypoint names; pass it explicitly"
    )


def guess_results_schema(results: str | os.PathLike | list, gt_schema: str | None = None) -> str:
    """The schema of a model's COCO-format keypoint results, from their keypoint count K (``3K`` values per
    result): ``gt_schema`` when it has K joints (results in the dataset's own schema, as ``hpefast eval``
    writes them by default), else the one registered schema with K joints. ValueError when the results
    are empty or disagree on K, or when no schema or several schemas other than ``gt_schema`` have K joints
    (e.g. 17: coco and ap10k; 14: aic and crowdpose).

    Example: ``guess_results_schema("union_on_mpii.json", "mpii")`` -> ``"union21"`` (63 values per result).
    """
    from hpefast.keypoints import list_schemas

    source = "<memory>" if isinstance(results, list) else str(results)
    data = results if isinstance(results, list) else _load_json(results, "predictions")
    if not isinstance(data, list):
        raise InputError(f"{source}: COCO results must be a json list of detections")
    sizes = {
        len(r["keypoints"]) for r in data if isinstance(r, dict) and isinstance(r.get("keypoints"), list)
    }
    if not sizes:
        raise InputError(f"{source}: no result with keypoints to tell the model's schema from; pass it")
    if len(sizes) > 1 or next(iter(sizes)) % 3:
        raise InputError(f"{source}: results with {sorted(sizes)} keypoint values: not one schema's 3K")
    k = next(iter(sizes)) // 3
    if gt_schema is not None and get_schema(gt_schema).num_keypoints == k:
        return gt_schema
    candidates = [n for n in list_schemas() if get_schema(n).num_keypoints == k]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputError(f"{source}: no registered schema has {k} keypoints; pass the model's schema")
    raise InputError(
        f"{source}: {k} keypoints per result fit the schemas {candidates}: pass the model's schema"
    )


def read_ground_truth(
    annotation: str | os.PathLike | dict | list, schema: str, headbox_file: str | os.PathLike | None = None
) -> GroundTruth:
    """Read a COCO keypoint json (dict with ``annotations``) or an MPII json (list of entries) whose people
    are labelled in ``schema``. ``annotation`` may be a path or the already-parsed json."""
    source = "<memory>" if isinstance(annotation, (dict, list)) else str(annotation)
    data = annotation if isinstance(annotation, (dict, list)) else _load_json(annotation, "ground truth")
    sch = get_schema(schema)
    if isinstance(data, dict) and "annotations" in data:
        return _read_coco(data, sch, source)
    if isinstance(data, list):
        if headbox_file is None:
            heads = None
        else:
            from hpefast.data import load_headboxes

            heads = load_headboxes(headbox_file)
            if len(heads) != len(data):
                raise InputError(
                    f"{headbox_file}: {len(heads)} head boxes for {len(data)} entries in {source}"
                )
        return _read_mpii(data, sch, source, heads)
    raise InputError(
        f"{source}: neither a COCO keypoint json (object with 'annotations') nor an MPII json (list)"
    )


def _read_coco(data: dict, sch: Any, source: str) -> GroundTruth:
    k = sch.num_keypoints
    rows: list[tuple[int, int, np.ndarray, np.ndarray, float]] = []
    has_area = True
    for a in data["annotations"]:
        if not isinstance(a, dict) or "image_id" not in a or "keypoints" not in a:
            raise InputError(
                f"{source}: annotation {a.get('id') if isinstance(a, dict) else a!r} lacks image_id/keypoints"
            )
        has_area &= "area" in a
        if a.get("iscrowd", 0):
            continue
        kp = np.asarray(a["keypoints"], dtype=np.float64)
        if kp.size != 3 * k:
            raise InputError(
                f"{source}: annotation id {a.get('id')} has {kp.size} keypoint values, "
                f"schema {sch.name!r} needs {3 * k}"
            )
        kp = kp.reshape(k, 3)
        if not (kp[:, 2] > 0).any():
            continue
        box = np.asarray(a.get("bbox", _extent(kp)), dtype=np.float64).reshape(-1)
        if box.shape != (4,):
            raise InputError(f"{source}: annotation id {a.get('id')} has a malformed bbox {a.get('bbox')!r}")
        area = float(a["area"]) if "area" in a else float(box[2] * box[3])
        rows.append((int(a["image_id"]), int(a.get("id", len(rows))), kp, box, area))
    return GroundTruth(
        schema=sch.name,
        format="coco",
        image_id=np.array([r[0] for r in rows], dtype=np.int64),
        ann_id=np.array([r[1] for r in rows], dtype=np.int64),
        keypoints=np.stack([r[2] for r in rows]) if rows else np.zeros((0, k, 3)),
        boxes=np.stack([r[3] for r in rows]) if rows else np.zeros((0, 4)),
        area=np.array([r[4] for r in rows], dtype=np.float64),
        coco=data,
        has_area=has_area,
        source=source,
    )


def _read_mpii(entries: list, sch: Any, source: str, heads: np.ndarray | None) -> GroundTruth:
    k = sch.num_keypoints
    rows = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or any(key not in e for key in ("image", "center", "scale", "joints")):
            raise InputError(f"{source}: MPII entry {i} lacks image/center/scale/joints")
        joints = np.asarray(e["joints"], dtype=np.float64)
        vis = np.asarray(e.get("joints_vis", np.ones(k)), dtype=np.float64).reshape(-1)
        if joints.shape != (k, 2) or vis.shape != (k,):
            raise InputError(
                f"{source}: MPII entry {i} needs joints [{k}, 2] and joints_vis [{k}] for schema {sch.name!r}"
            )
        kp = np.zeros((k, 3))
        lab = vis > 0
        kp[lab, :2] = joints[lab] - 1.0  # 1-based MATLAB -> 0-based pixels
        kp[:, 2] = np.where(lab, vis, 0.0)
        if not lab.any():
            continue
        s = float(np.asarray(e["scale"], dtype=np.float64).reshape(-1)[0])
        centre = np.asarray(e["center"], dtype=np.float64).reshape(-1).copy()
        if centre[0] != -1:
            centre[1] += 15.0 * s
        centre -= 1.0
        size = s * 200.0
        box = np.array([centre[0] - size / 2, centre[1] - size / 2, size, size])
        if heads is not None:
            head = heads[i]
        elif "headbox" in e:
            head = np.asarray(e["headbox"], dtype=np.float64)
            if head.shape != (2, 2):
                raise InputError(f"{source}: MPII entry {i} has a malformed headbox {e['headbox']!r}")
        else:
            head = np.full((2, 2), np.nan)
        stem = Path(str(e["image"])).stem
        image_id = int(stem) if stem.isdigit() else i
        rows.append((image_id, i, kp, box, size * size, head))
    return GroundTruth(
        schema=sch.name,
        format="mpii",
        image_id=np.array([r[0] for r in rows], dtype=np.int64),
        ann_id=np.array([r[1] for r in rows], dtype=np.int64),
        keypoints=np.stack([r[2] for r in rows]) if rows else np.zeros((0, k, 3)),
        boxes=np.stack([r[3] for r in rows]) if rows else np.zeros((0, 4)),
        area=np.array([r[4] for r in rows], dtype=np.float64),
        headbox=np.stack([r[5] for r in rows]) if rows else np.zeros((0, 2, 2)),
        source=source,
    )


def read_predictions(
    results: str | os.PathLike | list, schema: str, category_id: int | None = 1
) -> Predictions:
    """Read COCO keypoint results (``[{image_id, category_id, keypoints: [3K], score, bbox?}, ...]``) of a
    model whose joints are ``schema``'s. Results of other categories are skipped (``category_id=None``
    keeps all); a missing ``score`` counts as the mean keypoint score."""
    source = "<memory>" if isinstance(results, list) else str(results)
    data = results if isinstance(results, list) else _load_json(results, "predictions")
    if not isinstance(data, list):
        raise InputError(f"{source}: COCO results must be a json list of detections")
    k = get_schema(schema).num_keypoints
    ids, kps, scores, boxes = [], [], [], []
    for i, r in enumerate(data):
        if not isinstance(r, dict) or "image_id" not in r or "keypoints" not in r:
            raise InputError(f"{source}: result {i} lacks image_id or keypoints")
        if category_id is not None and int(r.get("category_id", category_id)) != category_id:
            continue
        kp = np.asarray(r["keypoints"], dtype=np.float64)
        if kp.size != 3 * k:
            raise InputError(
                f"{source}: result {i} (image_id {r['image_id']}) has {kp.size} keypoint values; "
                f"a {schema!r} "
                f"model gives {3 * k} (x, y, score for {k} joints): is --src right?"
            )
        kp = kp.reshape(k, 3)
        if not np.isfinite(kp).all():
            raise InputError(f"{source}: result {i} (image_id {r['image_id']}) has NaN or inf keypoints")
        ids.append(int(r["image_id"]))
        kps.append(kp)
        scores.append(float(r["score"]) if "score" in r else float(kp[:, 2].mean()))
        b = r.get("bbox")
        boxes.append(
            np.asarray(b, dtype=np.float64).reshape(4)
            if b is not None and len(b) == 4
            else np.full(4, np.nan)
        )
    return Predictions(
        schema=schema,
        image_id=np.array(ids, dtype=np.int64),
        keypoints=np.stack(kps) if kps else np.zeros((0, k, 3)),
        score=np.array(scores, dtype=np.float64),
        bbox=np.stack(boxes) if boxes else np.zeros((0, 4)),
        source=source,
    )


def _extent(kp: np.ndarray) -> np.ndarray:
    from hpefast.translate.synthetic import boxes_from_keypoints

    return boxes_from_keypoints(kp[None])[0]


def prediction_boxes(preds: Predictions, mode: str = "auto") -> tuple[np.ndarray, str]:
    """The box each prediction is normalised by: ``"bbox"`` (the result's ``bbox``, e.g. the detection a
    top-down model cropped), ``"keypoints"`` (the extent of its keypoints), or ``"auto"`` (``bbox`` when every
    result has one). Returns ``(boxes [P, 4], mode used)``; a translator must be used with the mode it
    was fitted with."""
    if mode not in ("auto", "bbox", "keypoints"):
        raise InputError(f"box mode must be 'auto', 'bbox' or 'keypoints', got {mode!r}")
    has = np.isfinite(preds.bbox).all(axis=1) & (np.maximum(preds.bbox[:, 2], preds.bbox[:, 3]) > 0)
    if mode == "auto":
        mode = "bbox" if len(preds) and has.all() else "keypoints"
    if mode == "bbox":
        if not has.all():
            i = int(np.flatnonzero(~has)[0])
            raise InputError(f"{preds.source}: result {i} (image_id {preds.image_id[i]}) has no usable bbox")
        return preds.bbox.copy(), mode
    from hpefast.translate.synthetic import boxes_from_keypoints

    boxes = boxes_from_keypoints(preds.keypoints)
    bad = np.flatnonzero(np.maximum(boxes[:, 2], boxes[:, 3]) <= 0)
    if len(bad):
        raise InputError(f"{preds.source}: result {int(bad[0])} has all its keypoints at one point: no box")
    return boxes, mode


# -- matching --------------------------------------------------------------------------------------------
def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[A, B] IoU of xywh boxes."""
    ax2, ay2 = a[:, None, 0] + a[:, None, 2], a[:, None, 1] + a[:, None, 3]
    bx2, by2 = b[None, :, 0] + b[None, :, 2], b[None, :, 1] + b[None, :, 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = a[:, None, 2] * a[:, None, 3] + b[None, :, 2] * b[None, :, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _oks(
    gt_kp: np.ndarray, area: np.ndarray, pred_kp: np.ndarray, sigmas: np.ndarray, joints: np.ndarray
) -> np.ndarray:
    """[G, P] COCO OKS over ``joints`` (bool [K]) that are labelled in each ground truth."""
    g, p = gt_kp[:, joints], pred_kp[:, joints]
    out = np.zeros((len(g), len(p)))
    for i in range(len(g)):
        out[i] = mean_exp(oks_exponents(p[:, :, :2], g[i, :, :2], area[i], sigmas[joints]), g[i, :, 2] > 0)
    return out


def match(
    gt: GroundTruth, preds: Predictions, method: str = "oks", threshold: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Match predictions to ground-truth people, one to one, per image.

    ``method="oks"`` scores each (ground truth, prediction) by OKS over the joints the two schemas share
    (the ground truth's sigmas and area); ``"iou"`` by the IoU of the boxes (prediction ``bbox`` or keypoint
    extent). Pairs are taken greedily from the most similar down, while both are free and the similarity
    is >= ``threshold`` (default 0.3 for OKS, 0.5 for IoU). Returns ``(gt_index [M], pred_index [M])``.
    """
    if method not in ("oks", "iou"):
        raise InputError(f"match method must be 'oks' or 'iou', got {method!r}")
    shared = index_map(preds.schema, gt.schema) >= 0
    if method == "oks" and not shared.any():
        method = "iou"
    if threshold is None:
        threshold = 0.3 if method == "oks" else 0.5
    mapped = map_array(preds.keypoints, preds.schema, gt.schema)
    pboxes, _ = prediction_boxes(preds) if method == "iou" else (None, None)
    sigmas = np.asarray(get_schema(gt.schema).sigmas, dtype=np.float64)
    gi_all, pi_all = [], []
    pred_by_image: dict[int, list[int]] = {}
    for j, im in enumerate(preds.image_id.tolist()):
        pred_by_image.setdefault(im, []).append(j)
    gt_by_image: dict[int, list[int]] = {}
    for i, im in enumerate(gt.image_id.tolist()):
        gt_by_image.setdefault(im, []).append(i)
    for im, gis in gt_by_image.items():
        pis = pred_by_image.get(im)
        if not pis:
            continue
        gi, pi = np.array(gis), np.array(pis)
        if method == "oks":
            sim = _oks(gt.keypoints[gi], gt.area[gi], mapped[pi], sigmas, shared)
        else:
            sim = _iou(gt.boxes[gi], pboxes[pi])
        order = np.argsort(-sim, axis=None, kind="stable")
        used_g, used_p = set(), set()
        for flat in order:
            a, b = divmod(int(flat), len(pi))
            if sim[a, b] < threshold:
                break
            if a in used_g or b in used_p:
                continue
            used_g.add(a)
            used_p.add(b)
            gi_all.append(gi[a])
            pi_all.append(pi[b])
    return np.array(gi_all, dtype=np.int64), np.array(pi_all, dtype=np.int64)


def build_pairs(
    gt: GroundTruth,
    preds: Predictions,
    box_mode: str = "auto",
    method: str = "oks",
    threshold: float | None = None,
) -> Pairs:
    """Pairs (prediction, ground truth) of the same people, for fitting a ``preds.schema -> gt.schema``
    translator. ``stats`` counts the people matched, and the ground truth and predictions left over."""
    boxes, mode = prediction_boxes(preds, box_mode)
    gi, pi = match(gt, preds, method, threshold)
    stats = dict(
        matched=len(gi),
        gt_people=len(gt),
        predictions=len(preds),
        unmatched_gt=len(gt) - len(gi),
        unmatched_predictions=len(preds) - len(pi),
        box_mode=mode,
        match=method,
    )
    return Pairs(
        src=preds.schema,
        dst=gt.schema,
        src_keypoints=preds.keypoints[pi],
        dst_keypoints=gt.keypoints[gi],
        boxes=boxes[pi],
        pred_index=pi,
        gt_index=gi,
        stats=stats,
    )
