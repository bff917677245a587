"""COCO-format keypoint datasets: COCO, AI Challenger, AP-10K, CrowdPose and custom data.

Ground-truth instances follow mmpose: crowd regions and annotations without any labelled keypoint are
left out (``min_keypoints``), boxes are clipped to the image (x1 = clip(x, 0, W-1), x2 = clip(x + w, 0,
W-1)), then padded x1.25 and aspect-fixed. ``area`` falls back to the clipped box area when the file
has none (AIC, CrowdPose). With ``boxes`` (a detector results json: image_id, bbox, score[, category_id])
the instances are the detector's boxes with score >= ``score_threshold`` instead, as in top-down
evaluation; their keypoints are unknown (all unlabelled) and ``ann_id`` is -1.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpefast.data.base import AnnotationError, Instance, TopDownDataset, _Issues, load_json
from hpefast.data.images import DEFAULT_MAX_IMAGE_PIXELS
from hpefast.keypoints import KeypointSchema

__all__ = ["CocoKeypointDataset"]


def _finite_numbers(values: Any, n: int | None = None) -> np.ndarray | None:
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    if (n is not None and arr.size != n) or not np.all(np.isfinite(arr)):
        return None
    return arr


class CocoKeypointDataset(TopDownDataset):
    """Top-down instances of a COCO keypoint json.

    Args:
        ann_file: COCO json (images, annotations[, categories]).
        image_root: folder holding the images' ``file_name``.
        schema: keypoint schema of the file ("coco", "aic", "crowdpose", "ap10k", or a registered one).
        input_size: crop (W, H), default (192, 256).
        boxes: detector results json for evaluation (None = ground-truth boxes).
        score_threshold: minimum detector score kept.
        train: random augmentation.
        layout: map keypoints into this schema (e.g. "union21"); None = ``schema``.
        dataset_id: id given to every item.
        strict: raise on malformed annotations / missing images (False: skip with a warning).
        category_ids: keep only these categories (None = all).
        min_keypoints: ground-truth instances need at least this many labelled joints.
        padding: box padding.
        augment: a configured TopDownAugment.
        max_image_pixels: images larger by their header are refused before decoding (None: no limit).
    """

    def __init__(
        self,
        ann_file: str | os.PathLike,
        image_root: str | os.PathLike,
        schema: str | KeypointSchema = "coco",
        input_size: Sequence[int] = (192, 256),
        boxes: str | os.PathLike | None = None,
        score_threshold: float = 0.0,
        train: bool = False,
        layout: str | KeypointSchema | None = None,
        dataset_id: int = 0,
        strict: bool = True,
        category_ids: Sequence[int] | None = None,
        min_keypoints: int = 1,
        padding: float = 1.25,
        augment=None,
        *,
        max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    ):
        super().__init__(
            schema,
            input_size,
            train,
            layout,
            dataset_id,
            strict,
            padding,
            augment,
            max_image_pixels=max_image_pixels,
        )
        self.ann_file = Path(ann_file)
        self.image_root = Path(image_root)
        self.boxes_file = None if boxes is None else Path(boxes)
        self.score_threshold = float(score_threshold)
        data = load_json(self.ann_file)
        issues = _Issues(str(self.ann_file), self.strict)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise AnnotationError(f"{self.ann_file}: not a COCO json (needs a list 'images')")
        if self.boxes_file is None and not isinstance(data.get("annotations"), list):
            raise AnnotationError(f"{self.ann_file}: not a COCO json (needs a list 'annotations')")
        self.images: dict[int, dict[str, Any]] = {}
        for img in data["images"]:
            if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
                raise AnnotationError(f"{self.ann_file}: image without 'id' / 'file_name': {img!r:.200}")
            img_id = _integer_id(img["id"])
            if img_id is None:
                raise AnnotationError(f"{self.ann_file}: image id {img['id']!r} is not an integer")
            if img_id in self.images:
                raise AnnotationError(f"{self.ann_file}: image id {img_id} is used by more than one image")
            self.images[img_id] = img
        self.categories = {int(c["id"]): c for c in data.get("categories", []) if "id" in c}
        self._check_categories()
        cats = None if category_ids is None else {int(c) for c in category_ids}
        if self.boxes_file is None:
            for ann in data["annotations"]:
                inst = self._parse_annotation(ann, cats, int(min_keypoints), issues)
                if inst is not None:
                    self.instances.append(inst)
        else:
            self._load_detections(cats, issues)
        self._finish_init(issues)

    def _check_categories(self) -> None:
        k = self.schema.num_keypoints
        for cat in self.categories.values():
            names = cat.get("keypoints")
            if names is not None and len(names) != k:
                raise AnnotationError(
                    f"{self.ann_file}: category {cat.get('id')} ({cat.get('name')}) has {len(names)} "
                    f"keypoints, schema {self.schema.name!r} has {k}"
                )

    def _image_file(self, img: dict[str, Any]) -> str:
        return str(self.image_root / img["file_name"])

    def _clip_box(self, box: np.ndarray, img: dict[str, Any]) -> np.ndarray | None:
        x, y, w, h = box
        if "width" not in img or "height" not in img:
            return box
        iw, ih = float(img["width"]), float(img["height"])
        x1, y1 = min(max(x, 0.0), iw - 1), min(max(y, 0.0), ih - 1)
        x2, y2 = min(max(x + w, 0.0), iw - 1), min(max(y + h, 0.0), ih - 1)
        if x2 <= x1 or y2 <= y1:
            return None
        return np.array([x1, y1, x2 - x1, y2 - y1])

    def _parse_annotation(
        self, ann: Any, cats: set[int] | None, min_keypoints: int, issues: _Issues
    ) -> Instance | None:
        if not isinstance(ann, dict) or "id" not in ann:
            issues.report(-1, f"annotation without an 'id': {ann!r:.120}")
            return None
        ann_id = ann["id"]
        issues = issues.with_image(ann.get("image_id"))  # messages name the image too
        if _integer_id(ann_id) is None:
            issues.report(-1, f"annotation id {ann_id!r} is not an integer")
            return None
        if cats is not None and int(ann.get("category_id", -1)) not in cats:
            return None
        if ann.get("iscrowd", 0):
            return None
        missing = [key for key in ("image_id", "bbox", "keypoints") if key not in ann]
        if missing:
            issues.report(ann_id, f"missing key(s) {missing}")
            return None
        if _integer_id(ann["image_id"]) is None:
            issues.report(ann_id, f"image_id {ann['image_id']!r} is not an integer")
            return None
        img = self.images.get(_integer_id(ann["image_id"]))
        if img is None:
            issues.report(ann_id, f"image_id {ann['image_id']} is not in 'images'")
            return None
        k = self.schema.num_keypoints
        kps = _finite_numbers(ann["keypoints"])
        if kps is None or kps.size != 3 * k:
            n = len(ann["keypoints"]) if isinstance(ann["keypoints"], list) else "?"
            issues.report(
                ann_id, f"'keypoints' must hold {3 * k} finite numbers (schema {self.schema.name!r}), got {n}"
            )
            return None
        kps = kps.reshape(k, 3)
        if np.any(kps[:, 2] < 0):
            issues.report(ann_id, "negative keypoint visibility")
            return None
        if int(np.sum(kps[:, 2] > 0)) < min_keypoints:
            return None
        box = _finite_numbers(ann["bbox"], 4)
        if box is None:
            issues.report(ann_id, f"'bbox' must be 4 finite numbers (x, y, w, h), got {ann['bbox']!r:.80}")
            return None
        if box[2] <= 0 or box[3] <= 0:
            issues.report(ann_id, f"non-positive box width/height in bbox {box.tolist()}")
            return None
        clipped = self._clip_box(box, img)
        if clipped is None:
            size = f"{img.get('width')}x{img.get('height')}"
            issues.report(ann_id, f"bbox {box.tolist()} lies outside the {size} image")
            return None
        center, scale = self._center_scale(clipped)
        area = ann.get("area")
        if not (isinstance(area, (int, float)) and math.isfinite(area)):
            area = clipped[2] * clipped[3]
        kps[kps[:, 2] <= 0, :2] = 0.0
        return Instance(
            image_file=self._image_file(img),
            image_id=int(ann["image_id"]),
            ann_id=_integer_id(ann_id),
            bbox=clipped,
            center=center,
            scale=scale,
            keypoints=kps,
            score=1.0,
            area=float(area),
            extra={"category_id": int(ann.get("category_id", 1))},
        )

    def _load_detections(self, cats: set[int] | None, issues: _Issues) -> None:
        dets = load_json(self.boxes_file)
        if not isinstance(dets, list):
            raise AnnotationError(f"{self.boxes_file}: detection results must be a json list")
        source = str(self.boxes_file)
        det_issues = _Issues(source, self.strict)
        k = self.schema.num_keypoints
        for i, det in enumerate(dets):
            if not isinstance(det, dict) or any(key not in det for key in ("image_id", "bbox")):
                det_issues.report(i, "detection needs 'image_id' and 'bbox' (index used as id)")
                continue
            if cats is not None and "category_id" in det and int(det["category_id"]) not in cats:
                continue
            score = float(det.get("score", 1.0))
            if score < self.score_threshold:
                continue
            if _integer_id(det["image_id"]) is None:
                det_issues.report(i, f"image_id {det['image_id']!r} is not an integer")
                continue
            img = self.images.get(_integer_id(det["image_id"]))
            if img is None:
                det_issues.report(i, f"image_id {det['image_id']} is not in {self.ann_file}")
                continue
            box = _finite_numbers(det["bbox"], 4)
            if box is None or box[2] <= 0 or box[3] <= 0:
                det_issues.report(i, f"bad detection box {det['bbox']!r:.80}")
                continue
            center, scale = self._center_scale(box)
            self.instances.append(
                Instance(
                    image_file=self._image_file(img),
                    image_id=int(det["image_id"]),
                    ann_id=-1,
                    bbox=box,
                    center=center,
                    scale=scale,
                    keypoints=np.zeros((k, 3)),
                    score=score,
                    area=float(box[2] * box[3]),
                    extra={"category_id": int(det.get("category_id", 1)), "det_index": i},
                )
            )
        issues.skipped.extend(det_issues.skipped)


def _integer_id(value: Any) -> int | None:
    """An id as an int: JSON integers (and integral floats such as 785.0); None for anything else (strings,
    1.5, booleans), which int() would silently convert or truncate."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return None
