"""Validation in each dataset's own schema and protocol.

A model predicts heatmaps in its training layout (e.g. ``union21``). For every validation dataset:
flip test (mirrored crop, heatmaps flipped back with the layout's flip index, averaged) -> DARK-UDP decode
-> crop pixels -> ``crop_to_image`` (inverse of the UDP warp) -> image pixels -> the layout's joints
re-indexed into the dataset's schema (``hpefast.keypoints.mapping_index``) -> the dataset's metric:

- ``coco_ap``: COCO results (score = box score x mean of keypoint scores above ``test.score_threshold``,
  as mmpose's top-down rescoring), OKS-NMS per image, then ``hpefast.evaluation.COCOeval`` with the
  schema's sigmas. Keys ``AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl``.
- ``pckh``: ``hpefast.evaluation.pckh`` on the 16 MPII joints with the head boxes (threshold 0.5).
  Keys ``PCKh`` (mean, percent), ``PCKh@0.1`` and the per-part values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

__all__ = ["layout_index", "predict", "evaluate_dataset", "coco_metrics", "pckh_metrics"]

_COCO_KEYS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


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
        raise ValueError(
            f"a model with layout {layout!r} does not predict joints {missing} of the {schema!r} schema; "
            f"evaluate it on data of a schema its layout covers, or train with a union layout"
        )
    return idx


@torch.no_grad()
def predict_batch(
    model: torch.nn.Module,
    images: torch.Tensor,
    dataset_id: torch.Tensor | None,
    flip_index: Sequence[int],
    flip_test: bool = True,
    decode: str = "dark_udp",
    blur_kernel: int = 11,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(keypoints [B,K,2] crop pixels, scores [B,K])`` of one batch of crops [B,3,H,W]."""
    from hpefast.ops import decode_heatmaps, flip_heatmaps

    heat = model(images, dataset_id).float()
    if flip_test:
        flipped = model(images.flip(3), dataset_id).float()
        # UDP heatmaps are exactly mirror-symmetric: no one-pixel shift (mmpose shift_heatmap=False).
        heat = (heat + flip_heatmaps(flipped.contiguous(), list(flip_index), shift=False)) * 0.5
    size = (images.shape[3], images.shape[2])
    kw: dict[str, Any] = {"blur_kernel": blur_kernel} if decode in ("dark", "dark_udp") else {}
    return decode_heatmaps(heat.contiguous(), input_size=size, method=decode, **kw)


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
    decode: str = "dark_udp",
    blur_kernel: int = 11,
    indices: Sequence[int] | None = None,
    amp: bool = False,
) -> list[dict[str, Any]]:
    """Predict every instance of ``dataset`` (or ``indices`` of it).

    Returns one record per instance: ``keypoints`` [K,2] float64 image pixels and ``scores`` [K] in the
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
                kp, sc = predict_batch(model, images, ids, layout.flip_index, flip_test, decode, blur_kernel)
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


def _category_id(dataset: Any) -> int:
    for name in ("category_id", "cat_id"):
        v = getattr(dataset, name, None)
        if isinstance(v, int):
            return v
    return 1


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
    """COCO keypoint AP of top-down predictions (records from :func:`predict`) against ``ann_file``."""
    from hpefast.evaluation import COCO, COCOeval
    from hpefast.keypoints import get_schema

    sch = get_schema(schema)
    idx = layout_index(layout, schema)
    by_image: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        kp = r["keypoints"][idx]
        sc = r["scores"][idx].astype(np.float64)
        meta = r["meta"]
        keep = sc > score_threshold
        kpt_score = float(sc[keep].mean()) if keep.any() else 0.0
        box_score = float(meta.get("score", 1.0))
        scale = np.asarray(meta["scale"], np.float64)
        by_image.setdefault(int(meta["image_id"]), []).append(
            {
                "image_id": int(meta["image_id"]),
                "category_id": category_id,
                "keypoints": np.concatenate([kp, sc[:, None]], axis=1),
                "score": kpt_score * box_score,
                "area": float(scale[0] * scale[1]),
                "bbox": np.asarray(meta.get("bbox", [0, 0, 0, 0]), np.float64),
            }
        )
    results: list[dict[str, Any]] = []
    for dets in by_image.values():
        if oks_nms_threshold is not None and len(dets) > 1:
            dets = [dets[i] for i in _oks_nms(dets, oks_nms_threshold, sch.sigmas)]
        for d in dets:
            results.append(
                {
                    "image_id": d["image_id"],
                    "category_id": d["category_id"],
                    "keypoints": d["keypoints"].reshape(-1).tolist(),
                    "score": d["score"],
                }
            )
    if not results:
        return {k: 0.0 for k in _COCO_KEYS}
    gt = COCO(ann_file)
    dt = gt.loadRes(results)
    ev = COCOeval(gt, dt, iouType="keypoints", sigmas=np.asarray(sch.sigmas), use_area=use_area)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    stats = [float(s) for s in ev.stats]
    return dict(zip(_COCO_KEYS, stats))


def _oks_nms(dets: list[dict[str, Any]], threshold: float, sigmas: np.ndarray) -> list[int]:
    """Indices kept by greedy OKS-NMS (mmpose top-down semantics: area = padded box, no vis threshold)."""
    from hpefast.evaluation import oks_nms

    kpts = np.stack([d["keypoints"] for d in dets])  # [N, K, 3]
    scores = np.array([d["score"] for d in dets], dtype=np.float64)
    areas = np.array([d["area"] for d in dets], dtype=np.float64)
    keep = oks_nms(kpts, threshold, sigmas=np.asarray(sigmas), scores=scores, areas=areas)
    return [int(i) for i in keep]


def pckh_metrics(records: list[dict[str, Any]], layout: str, threshold: float = 0.5) -> dict[str, float]:
    """MPII PCKh (percent) of predictions against the instances' own ground truth and head boxes."""
    from hpefast.evaluation import pckh

    idx = layout_index(layout, "mpii")
    if not records:
        raise ValueError("pckh_metrics: no predictions (the MPII validation set is empty)")
    pred = np.stack([r["keypoints"][idx] for r in records])
    gt_kv = np.stack([np.asarray(r["meta"]["keypoints_image"], np.float64) for r in records])
    head = np.stack([np.asarray(r["meta"]["headbox"], np.float64) for r in records])
    out = pckh(pred, gt_kv[..., :2], gt_kv[..., 2] > 0, head, threshold=threshold)
    metrics = {str(k): float(v) for k, v in out.items() if np.ndim(v) == 0}  # drop per_joint / count arrays
    metrics["PCKh"] = metrics.get("Mean", float("nan"))
    if "Mean@0.1" in metrics:
        metrics["PCKh@0.1"] = metrics["Mean@0.1"]
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
    decode: str = "dark_udp",
    blur_kernel: int = 11,
    score_threshold: float = 0.2,
    oks_nms_threshold: float | None = 0.9,
    use_area: bool = True,
    amp: bool = False,
) -> dict[str, float]:
    """Predict ``dataset`` and score it with ``metric`` ("coco_ap" or "pckh") in the dataset's schema."""
    net = _unwrap(model)
    schema = dataset.schema.name
    layout_index(net.cfg.layout, schema)  # fail before predicting anything
    records = predict(model, dataset, device, batch_size, workers, flip_test, decode, blur_kernel, amp=amp)
    return score_records(
        records,
        dataset,
        metric,
        net.cfg.layout,
        ann_file=ann_file,
        score_threshold=score_threshold,
        oks_nms_threshold=oks_nms_threshold,
        use_area=use_area,
    )


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
    schema = dataset.schema.name
    if metric == "coco_ap":
        ann = ann_file or getattr(dataset, "ann_file", None)
        if ann is None:
            raise ValueError("coco_ap evaluation needs the annotation file (ann_file)")
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
            raise ValueError(f"pckh needs MPII data, got a dataset in schema {schema!r}")
        return pckh_metrics(records, layout)
    raise ValueError(f"unknown metric {metric!r}; choose 'coco_ap' or 'pckh'")
