"""Validation in each dataset's own schema and protocol.

A model predicts heatmaps in its training layout (e.g. ``union21``). For every validation dataset:
flip test (mirrored crop, heatmaps flipped back with the layout's flip index, averaged) -> the model
codec's decoder (DARK-UDP for UDP models)
-> crop pixels -> ``crop_to_image`` (inverse of the UDP warp) -> image pixels -> the layout's joints
re-indexed into the dataset's schema (``hpefast.keypoints.mapping_index``) -> the dataset's metric:

- ``coco_ap``: COCO results (score = box score x mean of keypoint scores above ``test.score_threshold``,
  as mmpose's top-down rescoring), OKS-NMS per image, then ``hpefast.evaluation.COCOeval`` with the
  schema's sigmas. Each result keeps its instance's ``category_id`` (AP-10K: the species; COCOeval scores
  per category). Keys ``AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl``; CrowdPose data
  (schema ``crowdpose``) is scored by the CrowdPose protocol instead: xtcocotools' ``keypoints_crowd``
  without areas, keys ``AP, AP50, AP75, AR, AR50, AR75, AP_easy, AP_medium, AP_hard``.
- ``pckh``: ``hpefast.evaluation.pckh`` on the 16 MPII joints with the head boxes (threshold 0.5).
  Keys ``PCKh`` (mean, percent), ``PCKh@0.1`` and the per-part values; ``Head`` is HRNet's / mmpose's
  (head_top alone), ``Head_toolkit`` the official MPII toolkit's (mean of upper_neck and head_top).
  The real MPII json files have no head boxes: the dataset reads them from the official
  ``mpii_gt_val.mat`` (``MpiiDataset(headbox_file=...)``; :func:`require_headboxes` checks it up front).

Predictions can also be written as a COCO-format keypoint results file (:func:`keypoint_results`,
:func:`write_results`, ``evaluate_dataset(results_file=...)``): in the dataset's schema (the file
``hpefast eval-coco`` / pycocotools score) or in the model's layout (what ``hpefast translate fit --pred
--src LAYOUT`` reads: a model of layout A run on dataset B's images), with each instance's box.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from hpefast.codec import HeatmapCodec
from hpefast.errors import InputError

__all__ = [
    "layout_index",
    "covers",
    "require_headboxes",
    "predict",
    "evaluate_dataset",
    "score_records",
    "coco_metrics",
    "pckh_metrics",
    "keypoint_results",
    "dataset_results",
    "write_results",
]

_COCO_KEYS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
_CROWD_KEYS = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard")
# Schemas scored by their own COCO-style protocol: CrowdPose (Li et al., CVPR 2019; xtcocotools
# ``keypoints_crowd``: AP by the images' crowdIndex, OKS scale 0.53 x box area since the files have no area).
_CROWD_SCHEMAS = ("crowdpose",)
_HEADBOX_HINT = (
    "give the official head-box file mpii_gt_val.mat (mmpose / HRNet ship it beside mpii_val.json): "
    "`hpefast eval --mpii-gt FILE`, or the dataset's `mpii_gt` key in a training config"
)


def layout_index(layout: str, schema: str) -> np.ndarray:
    """[K_schema] indices into the layout's joints; ValueError when the layout lacks one of them.

    This is the check that stops a checkpoint trained for another layout from being scored on a dataset
    it cannot predict (e.g. a COCO-17 model on MPII, which needs head_top, upper_neck, thorax, pelvis).
    """
    from hpefast.keypoints import get_schema, mapping_index

    idx = mapping_index(layout, schema)
    if (idx < 0).any():
        names = get_schema(schema).names
        missing = [names[j] for j in np.flatnonzero(idx < 0)]
        raise InputError(
            f"a model with layout {layout!r} does not predict joints {missing} of the {schema!r} schema; "
            f"evaluate it on data of a schema its layout covers, or train with a union layout"
        )
    return idx


def covers(layout: str, schema: str) -> bool:
    """Whether a model of ``layout`` predicts every joint of ``schema`` (so it can be scored on it)."""
    from hpefast.keypoints import mapping_index

    return bool((mapping_index(layout, schema) >= 0).all())


@torch.no_grad()
def predict_batch(
    model: torch.nn.Module,
    images: torch.Tensor,
    dataset_id: torch.Tensor | None,
    flip_index: Sequence[int],
    flip_test: bool = True,
    codec: HeatmapCodec | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(keypoints [B,K,2] crop pixels, scores [B,K])`` of one batch of crops [B,3,H,W], decoded (and
    flipped back) by ``codec``, by default the model's own (``model.cfg.codec``)."""
    codec = _unwrap(model).cfg.codec if codec is None else codec
    heat = model(images, dataset_id).float()
    if flip_test:
        flipped = model(images.flip(3), dataset_id).float()
        heat = (heat + codec.flip_back(flipped.contiguous(), list(flip_index))) * 0.5
    return codec.decode(heat.contiguous())


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    dataset: Dataset,
    device: torch.device,
    batch_size: int = 64,
    workers: int = 0,
    flip_test: bool = True,
    codec: HeatmapCodec | None = None,
    indices: Sequence[int] | None = None,
    amp: bool = False,
) -> list[dict[str, Any]]:
    """Predict every instance of ``dataset`` (or ``indices`` of it).

    ``codec`` decodes the heatmaps; None (the default) uses the model's own. Returns one record per
    instance: ``keypoints`` [K,2] float64 image pixels and ``scores`` [K] in the
    model's layout, plus ``meta`` (the dataset's per-instance metadata).
    """
    from hpefast.data import collate
    from hpefast.data.transforms import crop_to_image
    from hpefast.keypoints import get_schema

    net = _unwrap(model)
    layout = get_schema(net.cfg.layout)
    was_training = model.training
    model.eval()
    subset = dataset if indices is None else Subset(dataset, list(indices))
    loader = DataLoader(subset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate)
    input_size = tuple(net.cfg.image_size)
    records: list[dict[str, Any]] = []
    use_amp = amp and device.type == "cuda"
    try:
        for batch in loader:
            images = batch["image"].to(device, non_blocking=True)
            ids = batch["dataset_id"].to(device) if net.uses_dataset_id else None
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                kp, sc = predict_batch(model, images, ids, layout.flip_index, flip_test, codec)
            kp = kp.double().cpu().numpy()
            sc = sc.float().cpu().numpy()
            metas = batch["meta"]
            center = np.stack([np.asarray(m["center"], np.float64) for m in metas])
            scale = np.stack([np.asarray(m["scale"], np.float64) for m in metas])
            kp_img = crop_to_image(kp, center, scale, input_size)
            for i, m in enumerate(metas):
                records.append({"keypoints": np.asarray(kp_img[i]), "scores": sc[i], "meta": m})
    finally:
        model.train(was_training)
    return records


def require_headboxes(dataset: Any, where: str = "MPII validation") -> None:
    """AnnotationError (before any prediction) when an MPII dataset lacks head boxes that PCKh needs.

    The real ``mpii_{train,val}.json`` carry none; they come from the official ``mpii_gt_val.mat``
    (``MpiiDataset(headbox_file=...)``). ``where`` names the dataset (a config entry, a ``--data`` flag).
    """
    from hpefast.errors import AnnotationError

    missing = int(getattr(dataset, "missing_headboxes", 0))
    if missing:
        ann = getattr(dataset, "ann_file", "?")
        raise AnnotationError(
            f"{where}: {missing} of {len(dataset)} MPII instances in {ann} have no head box, which PCKh "
            f"needs (head size = 0.6 x head-box diagonal); {_HEADBOX_HINT}"
        )


def _category_id(dataset: Any) -> int:
    for name in ("category_id", "cat_id"):
        v = getattr(dataset, name, None)
        if isinstance(v, int):
            return v
    return 1


def keypoint_results(
    records: list[dict[str, Any]],
    layout: str,
    schema: str,
    *,
    out_schema: str | None = None,
    score_threshold: float = 0.2,
    oks_nms_threshold: float | None = 0.9,
    category_id: int = 1,
) -> list[dict[str, Any]]:
    """COCO-format keypoint results of top-down predictions (records from :func:`predict`).

    Args:
        records: predictions in the model's ``layout`` (image pixels).
        layout: the model's layout; ``schema``: the dataset's schema.
        out_schema: the joints written: ``schema`` (default; the file the dataset's COCO protocol scores)
            or ``layout`` (the model's own outputs, e.g. for ``hpefast translate``).
        score_threshold: instance score = box score x mean of the keypoint scores above it (mmpose's
            top-down rescoring).
        oks_nms_threshold: OKS-NMS per image (None: none, e.g. MPII, scored per ground-truth person).
        category_id: the category of records whose ``meta`` has none; an instance's own
            ``meta["category_id"]`` (its annotation's or detection's, e.g. the AP-10K species) wins.

    Rescoring and OKS-NMS use the dataset schema's joints and sigmas when the layout covers the schema
    (so both ``out_schema`` choices keep the same instances with the same scores), else the layout's.

    Returns:
        ``[{image_id, category_id, keypoints: [3 K] (x, y, score; image pixels), score, bbox: [x, y, w, h]
        (the instance box the crop was made from)}]``, grouped by image in order of first appearance.
    """
    from hpefast.keypoints import get_schema

    out_schema = schema if out_schema is None else out_schema
    if out_schema not in (schema, layout):
        raise InputError(
            f"out_schema must be the dataset's {schema!r} or the model's {layout!r}, got {out_schema!r}"
        )
    ref = schema if covers(layout, schema) else layout  # the joints rescoring and NMS look at
    ref_idx = layout_index(layout, ref)
    out_idx = layout_index(layout, out_schema)
    by_image: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        kp = np.asarray(r["keypoints"], np.float64)
        sc = np.asarray(r["scores"], np.float64)
        meta = r["meta"]
        keep = sc[ref_idx] > score_threshold
        kpt_score = float(sc[ref_idx][keep].mean()) if keep.any() else 0.0
        scale = np.asarray(meta["scale"], np.float64)
        by_image.setdefault(int(meta["image_id"]), []).append(
            {
                "image_id": int(meta["image_id"]),
                "ref": np.concatenate([kp[ref_idx], sc[ref_idx, None]], axis=1),
                "keypoints": np.concatenate([kp[out_idx], sc[out_idx, None]], axis=1),
                "score": kpt_score * float(meta.get("score", 1.0)),
                "area": float(scale[0] * scale[1]),
                "bbox": np.asarray(meta.get("bbox", [0, 0, 0, 0]), np.float64).reshape(4),
                "category_id": int(meta.get("category_id", category_id)),
            }
        )
    sigmas = np.asarray(get_schema(ref).sigmas, np.float64)
    results: list[dict[str, Any]] = []
    for dets in by_image.values():
        if oks_nms_threshold is not None and len(dets) > 1:
            dets = [dets[i] for i in _oks_nms(dets, oks_nms_threshold, sigmas)]
        for d in dets:
            results.append(
                {
                    "image_id": d["image_id"],
                    "category_id": d["category_id"],
                    "keypoints": d["keypoints"].reshape(-1).tolist(),
                    "score": d["score"],
                    "bbox": d["bbox"].tolist(),
                }
            )
    return results


def coco_metrics(
    records: list[dict[str, Any]],
    ann_file: str,
    layout: str,
    schema: str,
    score_threshold: float = 0.2,
    oks_nms_threshold: float | None = 0.9,
    use_area: bool = True,
    category_id: int = 1,
) -> dict[str, float]:
    """COCO keypoint AP of top-down predictions (records from :func:`predict`) against ``ann_file``.

    The results are :func:`keypoint_results` scored *without* their ``bbox`` (as mmpose writes them): a
    result's area is then its keypoints' extent. pycocotools takes a result's area from its ``bbox`` when
    it has one, which only matters for the area-range stats (APm, APl, ARm, ARl).

    CrowdPose (``schema == "crowdpose"``) is scored by its own protocol whatever ``use_area`` says:
    ``keypoints_crowd`` with ``use_area=False`` (xtcocotools), keys ``AP, AP50, AP75, AR, AR50, AR75,
    AP_easy, AP_medium, AP_hard``; the ground truth's images need ``crowdIndex`` (the CrowdPose files
    have it).
    """
    from hpefast.evaluation import COCO, COCOeval
    from hpefast.keypoints import get_schema

    layout_index(layout, schema)
    results = keypoint_results(
        records,
        layout,
        schema,
        score_threshold=score_threshold,
        oks_nms_threshold=oks_nms_threshold,
        category_id=category_id,
    )
    crowd = schema in _CROWD_SCHEMAS
    keys = _CROWD_KEYS if crowd else _COCO_KEYS
    if not results:
        return {k: 0.0 for k in keys}
    gt = COCO(ann_file)
    dt = gt.loadRes([{k: v for k, v in r.items() if k != "bbox"} for r in results])
    sigmas = np.asarray(get_schema(schema).sigmas)
    if crowd:
        ev = COCOeval(gt, dt, iouType="keypoints_crowd", sigmas=sigmas, use_area=False)
    else:
        ev = COCOeval(gt, dt, iouType="keypoints", sigmas=sigmas, use_area=use_area)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    stats = [float(s) for s in ev.stats]
    return dict(zip(keys, stats))


def _oks_nms(dets: list[dict[str, Any]], threshold: float, sigmas: np.ndarray) -> list[int]:
    """Indices kept by greedy OKS-NMS (mmpose top-down semantics: area = padded box, no vis threshold)."""
    from hpefast.evaluation import oks_nms

    kpts = np.stack([d["ref"] for d in dets])  # [N, K, 3]
    scores = np.array([d["score"] for d in dets], dtype=np.float64)
    areas = np.array([d["area"] for d in dets], dtype=np.float64)
    keep = oks_nms(kpts, threshold, sigmas=np.asarray(sigmas), scores=scores, areas=areas)
    return [int(i) for i in keep]


def pckh_metrics(records: list[dict[str, Any]], layout: str, threshold: float = 0.5) -> dict[str, float]:
    """MPII PCKh (percent) of predictions against the instances' own ground truth and head boxes.

    Keys: ``PCKh`` (= ``Mean``: the 14 joints other than pelvis and thorax, weighted by their counts),
    ``PCKh@0.1``, the parts ``Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle`` as HRNet / mmpose report
    them (``Head`` = head_top alone) and ``Head_toolkit``: the official MPII toolkit's head (``evalMPII``:
    the mean of upper_neck and head_top). AnnotationError when an instance has no head box.
    """
    from hpefast.errors import AnnotationError
    from hpefast.evaluation import pckh

    idx = layout_index(layout, "mpii")
    if not records:
        raise InputError("pckh_metrics: no predictions (the MPII validation set is empty)")
    pred = np.stack([r["keypoints"][idx] for r in records])
    gt_kv = np.stack([np.asarray(r["meta"]["keypoints_image"], np.float64) for r in records])
    head = np.stack([np.asarray(r["meta"]["headbox"], np.float64) for r in records])
    missing = ~np.isfinite(head).all(axis=(1, 2))
    if missing.any():
        ann = records[int(np.flatnonzero(missing)[0])]["meta"].get("ann_id")
        raise AnnotationError(
            f"MPII PCKh: {int(missing.sum())} of {len(records)} instances have no head box (e.g. entry "
            f"{ann}); {_HEADBOX_HINT}"
        )
    out = pckh(pred, gt_kv[..., :2], gt_kv[..., 2] > 0, head, threshold=threshold)
    metrics = {str(k): float(v) for k, v in out.items() if np.ndim(v) == 0}  # drop per_joint / count arrays
    metrics["PCKh"] = metrics.get("Mean", float("nan"))
    if "Mean@0.1" in metrics:
        metrics["PCKh@0.1"] = metrics["Mean@0.1"]
    # MPII joints 8 upper_neck, 9 head_top: the official toolkit's "Head" column averages the two.
    metrics["Head_toolkit"] = float(np.mean(np.asarray(out["per_joint"], np.float64)[[8, 9]]))
    return metrics


def evaluate_dataset(
    model: torch.nn.Module,
    dataset: Any,
    metric: str,
    device: torch.device,
    *,
    ann_file: str | None = None,
    batch_size: int = 64,
    workers: int = 0,
    flip_test: bool = True,
    codec: HeatmapCodec | None = None,
    score_threshold: float = 0.2,
    oks_nms_threshold: float | None = 0.9,
    use_area: bool = True,
    amp: bool = False,
    results_file: str | os.PathLike | None = None,
    results_schema: str = "dataset",
) -> dict[str, float]:
    """Predict ``dataset`` and score it with ``metric`` ("coco_ap" or "pckh") in the dataset's schema.

    With ``results_file``, also write the predictions there as COCO-format keypoint results (see
    :func:`dataset_results`; ``results_schema`` "dataset" or "model"). A model whose layout does not cover
    the dataset's schema cannot be scored (ValueError, before any image is read) unless it only writes
    its predictions in its own layout (``results_file`` and ``results_schema="model"``): the metrics
    are then ``{}``.
    """
    net = _unwrap(model)
    schema = dataset.schema.name
    layout = net.cfg.layout
    if results_schema not in ("dataset", "model"):
        raise InputError(f"results_schema must be 'dataset' or 'model', got {results_schema!r}")
    scored = covers(layout, schema)
    if not scored and (results_file is None or results_schema != "model"):
        layout_index(layout, schema)  # raises: fail before predicting anything
    if scored and metric == "pckh":
        require_headboxes(dataset)
    records = predict(model, dataset, device, batch_size, workers, flip_test, codec, amp=amp)
    metrics: dict[str, float] = {}
    if scored:
        metrics = score_records(
            records,
            dataset,
            metric,
            layout,
            ann_file=ann_file,
            score_threshold=score_threshold,
            oks_nms_threshold=oks_nms_threshold,
            use_area=use_area,
        )
    if results_file is not None:
        results = dataset_results(
            records,
            dataset,
            metric,
            layout,
            results_schema=results_schema,
            score_threshold=score_threshold,
            oks_nms_threshold=oks_nms_threshold,
        )
        write_results(results_file, results)
    return metrics


def dataset_results(
    records: list[dict[str, Any]],
    dataset: Any,
    metric: str,
    layout: str,
    *,
    results_schema: str = "dataset",
    score_threshold: float = 0.2,
    oks_nms_threshold: float | None = 0.9,
) -> list[dict[str, Any]]:
    """The COCO-format keypoint results of ``dataset``'s predictions (:func:`keypoint_results`).

    ``results_schema="dataset"``: keypoints in the dataset's schema; for ``coco_ap`` exactly the results
    :func:`coco_metrics` scores (after rescoring and OKS-NMS; scoring the file with pycocotools gives the
    same AP). ``"model"``: the same instances with the model's layout's joints. MPII (``pckh``) results
    have one result per ground-truth person (no NMS), ``image_id`` as ``MpiiDataset`` assigns it (the
    number in the image file name, else the entry's index), category 1 and the person box.
    """
    schema = dataset.schema.name
    if results_schema not in ("dataset", "model"):
        raise InputError(f"results_schema must be 'dataset' or 'model', got {results_schema!r}")
    return keypoint_results(
        records,
        layout,
        schema,
        out_schema=schema if results_schema == "dataset" else layout,
        score_threshold=score_threshold,
        oks_nms_threshold=oks_nms_threshold if metric == "coco_ap" else None,
        category_id=_category_id(dataset) if metric == "coco_ap" else 1,
    )


def write_results(path: str | os.PathLike, results: list[dict[str, Any]]) -> None:
    """Write COCO-format results as a json list, atomically (temporary file + ``os.replace``); ValueError
    for a non-finite number."""
    from hpefast._io import atomic_write_text

    try:
        text = json.dumps(results, allow_nan=False)
    except ValueError as exc:
        raise InputError(f"results for {str(path)!r} contain NaN or inf: {exc}") from exc
    atomic_write_text(path, text + "\n")


def score_records(
    records: list[dict[str, Any]],
    dataset: Any,
    metric: str,
    layout: str,
    *,
    ann_file: str | None = None,
    score_threshold: float = 0.2,
    oks_nms_threshold: float | None = 0.9,
    use_area: bool = True,
) -> dict[str, float]:
    """Score :func:`predict` records of ``dataset`` with ``metric`` ("coco_ap" or "pckh")."""
    schema = dataset.schema.name
    if metric == "coco_ap":
        ann = ann_file or getattr(dataset, "ann_file", None)
        if ann is None:
            raise InputError("coco_ap evaluation needs the annotation file (ann_file)")
        return coco_metrics(
            records,
            str(ann),
            layout,
            schema,
            score_threshold=score_threshold,
            oks_nms_threshold=oks_nms_threshold,
            use_area=use_area,
            category_id=_category_id(dataset),
        )
    if metric == "pckh":
        if schema != "mpii":
            raise InputError(f"pckh needs MPII data, got a dataset in schema {schema!r}")
        return pckh_metrics(records, layout)
    raise InputError(f"unknown metric {metric!r}; choose 'coco_ap' or 'pckh'")
