"""Evaluation exactly as the official tools, only faster.

- :class:`COCO`, :class:`COCOeval`: COCO keypoint AP identical to pycocotools (compiled core), with
  xtcocotools' ``use_area=False`` and CrowdPose ``keypoints_crowd`` options and per-joint AP.
- :func:`pckh`: the MPII PCKh protocol; :func:`pck`, :func:`pck_bbox`, :func:`epe`, :func:`auc`.
- :func:`oks_nms`, :func:`soft_oks_nms`: OKS non-maximum suppression (mmpose semantics).
"""

from __future__ import annotations

from hpefast._lazy import lazy_names

_NAMES = {
    "COCO": "hpefast.evaluation.coco",
    "COCOeval": "hpefast.evaluation.cocoeval",
    "Params": "hpefast.evaluation.cocoeval",
    "per_joint_ap": "hpefast.evaluation.per_joint",
    "pckh": "hpefast.evaluation.pck_metrics",
    "pckh_from_mat": "hpefast.evaluation.pck_metrics",
    "pck": "hpefast.evaluation.pck_metrics",
    "epe": "hpefast.evaluation.pck_metrics",
    "auc": "hpefast.evaluation.pck_metrics",
    "pck_bbox": "hpefast.evaluation.pck_metrics",
    "MPII_PARTS": "hpefast.evaluation.pck_metrics",
    "oks_nms": "hpefast.evaluation.nms",
    "soft_oks_nms": "hpefast.evaluation.nms",
    "oks_iou": "hpefast.evaluation.nms",
    "resolve_sigmas": "hpefast.evaluation.sigmas",
}

__all__ = sorted(_NAMES)

__getattr__, __dir__ = lazy_names(__name__, _NAMES)
