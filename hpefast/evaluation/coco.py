"""``COCO``: a drop-in for ``pycocotools.coco.COCO`` (indexes, queries, ``loadRes``) that also keeps the
annotations as numpy columns for the compiled evaluator.

Differences from pycocotools, all on inputs pycocotools does not handle well:
``loadRes`` does not modify the result dicts it is given (it stores shallow copies), refuses empty
results unless ``allow_empty=True``, and raises ValueError naming the result for unknown image ids,
missing or NaN scores, and malformed keypoints. Loading prints nothing.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpefast.evaluation.columns import AnnColumns, columns_from_annotations


def _is_array_like(obj: Any) -> bool:
    return hasattr(obj, "__iter__") and hasattr(obj, "__len__") and not isinstance(obj, str)


def _load_json(path: str | os.PathLike, what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what}: no such file {str(p)!r}")
    with open(p, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what}: {str(p)!r} is not valid JSON ({exc})") from None


class COCO:
    """COCO annotations with pycocotools' index and query API.

    Args:
        annotation_file: path of a COCO json, or the already loaded dict (used as is, not copied), or
            None for an empty object.

    Attributes (as pycocotools): ``dataset``, ``anns``, ``imgs``, ``cats``, ``imgToAnns``, ``catToImgs``.
    """

    def __init__(self, annotation_file: str | os.PathLike | dict | None = None) -> None:
        self.dataset: dict[str, Any] = {}
        self.anns: dict[Any, dict] = {}
        self.cats: dict[Any, dict] = {}
        self.imgs: dict[Any, dict] = {}
        self.imgToAnns: defaultdict[Any, list] = defaultdict(list)
        self.catToImgs: defaultdict[Any, list] = defaultdict(list)
        self._columns: AnnColumns | None = None
        self.anno_file = [annotation_file] if not isinstance(annotation_file, dict) else [None]
        if annotation_file is None:
            return
        if isinstance(annotation_file, dict):
            dataset = annotation_file
        elif isinstance(annotation_file, (str, os.PathLike)):
            dataset = _load_json(annotation_file, "COCO")
        else:
            raise TypeError(f"annotation_file must be a path or a dict, got {type(annotation_file).__name__}")
        if not isinstance(dataset, dict):
            raise ValueError(
                f"COCO: annotation file format {type(dataset).__name__} not supported (need a dict)"
            )
        self.dataset = dataset
        self.createIndex()

    # ------------------------------------------------------------------ index
    def createIndex(self) -> None:
        """Build the id indexes (and drop the cached columns)."""
        anns, cats, imgs = {}, {}, {}
        img_to_anns, cat_to_imgs = defaultdict(list), defaultdict(list)
        for key in ("annotations", "images", "categories"):
            if key in self.dataset and not isinstance(self.dataset[key], list):
                raise ValueError(f"COCO: {key!r} must be a list, got {type(self.dataset[key]).__name__}")
        for ann in self.dataset.get("annotations", []):
            if not isinstance(ann, dict) or "id" not in ann or "image_id" not in ann:
                raise ValueError(f"COCO: every annotation needs 'id' and 'image_id', got {str(ann)[:120]}")
            img_to_anns[ann["image_id"]].append(ann)
            anns[ann["id"]] = ann
        for img in self.dataset.get("images", []):
            if not isinstance(img, dict) or "id" not in img:
                raise ValueError(f"COCO: every image needs an 'id', got {str(img)[:120]}")
            imgs[img["id"]] = img
        for cat in self.dataset.get("categories", []):
            cats[cat["id"]] = cat
        if "annotations" in self.dataset and "categories" in self.dataset:
            for ann in self.dataset["annotations"]:
                if "category_id" in ann:
                    cat_to_imgs[ann["category_id"]].append(ann["image_id"])
        self.anns, self.imgs, self.cats = anns, imgs, cats
        self.imgToAnns, self.catToImgs = img_to_anns, cat_to_imgs
        self._columns = None

    def columns(self) -> AnnColumns:
        """The annotations as numpy columns (built once, dropped by ``createIndex``)."""
        if self._columns is None:
            self._columns = columns_from_annotations(self.dataset.get("annotations", []), "annotations")
        return self._columns

    def info(self) -> None:
        for key, value in self.dataset.get("info", {}).items():
            print(f"{key}: {value}")

    # ------------------------------------------------------------------ queries
    def getAnnIds(self, imgIds=(), catIds=(), areaRng=(), iscrowd=None) -> list:
        """Ids of annotations in the given images / categories / open area range / crowd flag."""
        imgIds = imgIds if _is_array_like(imgIds) else [imgIds]
        catIds = catIds if _is_array_like(catIds) else [catIds]
        if len(imgIds) == len(catIds) == len(areaRng) == 0:
            anns = self.dataset.get("annotations", [])
        else:
            if len(imgIds) != 0:
                lists = [self.imgToAnns[i] for i in imgIds if i in self.imgToAnns]
                anns = list(itertools.chain.from_iterable(lists))
            else:
                anns = self.dataset.get("annotations", [])
            anns = anns if len(catIds) == 0 else [a for a in anns if a["category_id"] in catIds]
            anns = anns if len(areaRng) == 0 else [a for a in anns if areaRng[0] < a["area"] < areaRng[1]]
        if iscrowd is not None:
            return [a["id"] for a in anns if a["iscrowd"] == iscrowd]
        return [a["id"] for a in anns]

    def getCatIds(self, catNms=(), supNms=(), catIds=()) -> list:
        catNms = catNms if _is_array_like(catNms) else [catNms]
        supNms = supNms if _is_array_like(supNms) else [supNms]
        catIds = catIds if _is_array_like(catIds) else [catIds]
        cats = self.dataset.get("categories", [])
        if not (len(catNms) == len(supNms) == len(catIds) == 0):
            cats = cats if len(catNms) == 0 else [c for c in cats if c["name"] in catNms]
            cats = cats if len(supNms) == 0 else [c for c in cats if c["supercategory"] in supNms]
            cats = cats if len(catIds) == 0 else [c for c in cats if c["id"] in catIds]
        return [c["id"] for c in cats]

    def getImgIds(self, imgIds=(), catIds=()) -> list:
        imgIds = imgIds if _is_array_like(imgIds) else [imgIds]
        catIds = catIds if _is_array_like(catIds) else [catIds]
        if len(imgIds) == len(catIds) == 0:
            return list(self.imgs.keys())
        ids = set(imgIds)
        for i, cat_id in enumerate(catIds):
            if i == 0 and len(ids) == 0:
                ids = set(self.catToImgs[cat_id])
            else:
                ids &= set(self.catToImgs[cat_id])
        return list(ids)

    def loadAnns(self, ids=()) -> list[dict]:
        if _is_array_like(ids):
            return [self.anns[i] for i in ids]
        return [self.anns[ids]]

    def loadCats(self, ids=()) -> list[dict]:
        if _is_array_like(ids):
            return [self.cats[i] for i in ids]
        return [self.cats[ids]]

    def loadImgs(self, ids=()) -> list[dict]:
        if _is_array_like(ids):
            return [self.imgs[i] for i in ids]
        return [self.imgs[ids]]

    # ------------------------------------------------------------------ results
    def loadRes(
        self, resFile: str | os.PathLike | Sequence[dict] | np.ndarray, allow_empty: bool = False
    ) -> COCO:
        """Load detection / keypoint results as a COCO object with pycocotools' semantics.

        Results are dicts with ``image_id``, ``category_id``, ``score`` and ``keypoints`` [3K] (x, y, v)
        (a list, or an array [3K] or [K, 3]).
        Ids become 1..N in list order. Without ``bbox`` the area and box are those of the keypoints'
        extent, ``(max x - min x) * (max y - min y)``; when the first result carries a non-empty
        ``bbox``, every result must, and area = w * h (pycocotools' bbox branch).

        Args:
            resFile: path of a results json, a list of result dicts, or a [N, 7] array
                (image_id, x, y, w, h, score, category_id) as pycocotools' ``loadNumpyAnnotations``.
            allow_empty: accept an empty result list (every detection count is then zero).

        Raises:
            ValueError: empty results (unless allowed), results for images not in this set, missing or
                non-finite scores, keypoints of unequal or non-triplet length, missing fields.
        """
        res = COCO()
        res.dataset["info"] = copy.deepcopy(self.dataset.get("info", {}))
        res.dataset["images"] = list(self.dataset.get("images", []))
        res.anno_file = [self.anno_file[0], resFile if isinstance(resFile, (str, os.PathLike)) else None]
        if isinstance(resFile, (str, os.PathLike)):
            anns = _load_json(resFile, "loadRes")
        elif isinstance(resFile, np.ndarray):
            anns = self.loadNumpyAnnotations(resFile)
        else:
            anns = resFile
        if not isinstance(anns, (list, tuple)):
            raise ValueError(f"loadRes: results must be a list of objects, got {type(anns).__name__}")
        anns = [dict(a) if isinstance(a, dict) else a for a in anns]
        for i, a in enumerate(anns):
            if not isinstance(a, dict):
                raise ValueError(f"loadRes: result {i} is a {type(a).__name__}, expected a dict")
            if "image_id" not in a:
                raise ValueError(f"loadRes: result {i} has no 'image_id'")
        if not anns:
            if not allow_empty:
                raise ValueError(
                    "loadRes: the results are empty (pass allow_empty=True to evaluate no detections)"
                )
            res.dataset["categories"] = copy.deepcopy(self.dataset.get("categories", []))
            res.dataset["annotations"] = []
            res.createIndex()
            return res
        known = self.imgs
        unknown = [a["image_id"] for a in anns if a["image_id"] not in known]
        if unknown:
            i = next(i for i, a in enumerate(anns) if a["image_id"] not in known)
            raise ValueError(
                f"loadRes: result {i} is for image id {unknown[0]!r}, which is not in the ground truth "
                f"({len(set(map(repr, unknown)))} unknown image ids in all): results do not match this set"
            )
        first = anns[0]
        res.dataset["categories"] = copy.deepcopy(self.dataset.get("categories", []))
        if "caption" in first:
            raise ValueError("loadRes: caption results are not supported by hpefast (keypoint results only)")
        if "bbox" in first and not first["bbox"] == []:
            cols = _result_columns(anns)
            for i, a in enumerate(anns):
                if "bbox" not in a:
                    raise ValueError(f"loadRes: result {i} has no 'bbox' but the first result has one")
            bb = cols.bbox
            if np.isnan(bb).any():
                i = int(np.nonzero(np.isnan(bb).any(1))[0][0])
                raise ValueError(f"loadRes: result {i} (image {anns[i]['image_id']}) has a malformed 'bbox'")
            area = bb[:, 2] * bb[:, 3]
            for i, a in enumerate(anns):
                a["area"] = float(area[i])
                a["id"] = i + 1
                a["iscrowd"] = 0
            cols.area = area
            cols.iscrowd = np.zeros(len(anns), np.uint8)
        elif "segmentation" in first:
            raise ValueError(
                "loadRes: segmentation results are not supported (give keypoints, optionally with bbox)"
            )
        elif "keypoints" in first:
            cols = _result_columns(anns)
            kp = cols.keypoints
            if kp is None:
                raise ValueError(f"loadRes: {cols.bad_keypoints}")
            x, y = kp[:, 0::3], kp[:, 1::3]
            x0, x1, y0, y1 = x.min(1), x.max(1), y.min(1), y.max(1)
            area = (x1 - x0) * (y1 - y0)
            boxes = np.stack([x0, y0, x1 - x0, y1 - y0], 1)
            for i, (a, b) in enumerate(zip(anns, boxes.tolist())):
                a["area"] = float(area[i])
                a["id"] = i + 1
                a["bbox"] = b
            cols.area = area
            cols.bbox = boxes
        else:
            raise ValueError("loadRes: results carry neither 'keypoints' nor 'bbox'")
        cols.ids = np.arange(1, len(anns) + 1, dtype=np.float64)
        res.dataset["annotations"] = anns
        res.createIndex()
        res._columns = cols
        return res

    def loadNumpyAnnotations(self, data: np.ndarray) -> list[dict]:
        """[N, 7] array (image_id, x, y, w, h, score, category_id) -> result dicts (pycocotools)."""
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[1] != 7:
            raise ValueError(f"loadRes: a numpy result array must have shape [N, 7], got {list(data.shape)}")
        return [
            {
                "image_id": int(r[0]),
                "bbox": [float(r[1]), float(r[2]), float(r[3]), float(r[4])],
                "score": float(r[5]),
                "category_id": int(r[6]),
            }
            for r in data
        ]


def _result_columns(anns: list[dict]) -> AnnColumns:
    for i, a in enumerate(anns):
        if "category_id" not in a:
            raise ValueError(f"loadRes: result {i} (image {a['image_id']}) has no 'category_id'")
        if "score" not in a:
            raise ValueError(f"loadRes: result {i} (image {a['image_id']}) has no 'score'")
    cols = columns_from_annotations(anns, "loadRes", ids=range(1, len(anns) + 1))
    bad = ~np.isfinite(cols.score)
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        raise ValueError(f"loadRes: result {i} (image {anns[i]['image_id']}) has score {anns[i]['score']!r}")
    if cols.keypoints is not None:
        badk = ~np.isfinite(cols.keypoints).all(1)
        if badk.any():
            i = int(np.nonzero(badk)[0][0])
            raise ValueError(f"loadRes: result {i} (image {anns[i]['image_id']}) has non-finite keypoints")
    return cols
