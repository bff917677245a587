"""``COCO``: a drop-in for ``pycocotools.coco.COCO`` (indexes, queries, ``loadRes``) that also keeps the
annotations as numpy columns for the compiled evaluator.

Differences from pycocotools, all on inputs pycocotools does not handle well:
``loadRes`` does not modify the result dicts it is given (it stores shallow copies), refuses empty
results unless ``allow_empty=True``, and raises ValueError naming the result for unknown image ids,
missing or NaN scores, and malformed keypoints. Loading prints nothing.

Loading from files goes through the compiled json readers (``hpefast.evaluation.loading``) into columns;
the pycocotools views (``dataset``, ``anns``, ``imgs``, ``imgToAnns``, ...) are built on first use, so
an evaluation that never reads them never makes a Python object per annotation or result. Result dicts
made from columns hold floats where the json had integers (``2`` -> ``2.0`` in keypoints), the same values.
"""

from __future__ import annotations

import copy
import itertools
import os
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from hpefast.errors import InputError
from hpefast.evaluation.columns import AnnColumns, columns_from_annotations, int_positions
from hpefast.evaluation.loading import (
    parse_json,
    read_bytes,
    read_ground_truth_columns,
    read_json,
    read_results_file,
)


def _is_array_like(obj: Any) -> bool:
    return hasattr(obj, "__iter__") and hasattr(obj, "__len__") and not isinstance(obj, str)


class _Index:
    """pycocotools' id indexes of one COCO object."""

    __slots__ = ("anns", "imgs", "cats", "imgToAnns", "catToImgs")

    def __init__(self, anns: dict, imgs: dict, cats: dict, img_to_anns: dict, cat_to_imgs: dict) -> None:
        self.anns, self.imgs, self.cats = anns, imgs, cats
        self.imgToAnns, self.catToImgs = img_to_anns, cat_to_imgs


def _index_property(name: str) -> property:
    def get(self: COCO) -> Any:
        return getattr(self._ensure_index(), name)

    def set_(self: COCO, value: Any) -> None:
        setattr(self._ensure_index(), name, value)

    return property(get, set_, doc=f"pycocotools' ``{name}`` (built on first use)")


class COCO:
    """COCO annotations with pycocotools' index and query API.

    Args:
        annotation_file: path of a COCO json, or the already loaded dict (used as is, not copied), or
            None for an empty object.

    Attributes (as pycocotools): ``dataset``, ``anns``, ``imgs``, ``cats``, ``imgToAnns``, ``catToImgs``.
    """

    def __init__(self, annotation_file: str | os.PathLike | dict | None = None) -> None:
        self._dataset: dict[str, Any] = {}
        # steps that complete the dataset on first use (json text not parsed yet, result dicts not made)
        self._pending: list = []
        self._lazy_ids: list | None = None  # image ids and categories while the dataset is pending
        self._lazy_categories: list | None = None
        self._index: _Index | None = None  # built on first use of anns / imgs / cats / imgToAnns / catToImgs
        self._columns: AnnColumns | None = None
        self.anno_file = [annotation_file] if not isinstance(annotation_file, dict) else [None]
        if annotation_file is None:
            return
        if isinstance(annotation_file, dict):
            dataset = annotation_file
        elif isinstance(annotation_file, (str, os.PathLike)):
            data = read_bytes(annotation_file, "COCO")
            table = read_ground_truth_columns(data)
            if table is not None:
                self._init_from_table(data, table, annotation_file)
                return
            dataset = parse_json(data, annotation_file, "COCO")
        else:
            raise TypeError(f"annotation_file must be a path or a dict, got {type(annotation_file).__name__}")
        if not isinstance(dataset, dict):
            where = "" if isinstance(annotation_file, dict) else f"{str(annotation_file)!r}: "
            raise InputError(
                f"COCO: {where}annotation file format {type(dataset).__name__} not supported (need a dict)"
            )
        self._dataset = dataset
        _check_lists(dataset)

    def _init_from_table(self, data: bytes, table: dict, path: str | os.PathLike) -> None:
        """Ground truth from the compiled reader: the columns now, the json objects on first use."""
        n = len(table["id"])
        kp = table["keypoints"] if n else None
        bad = None
        if kp is not None and kp.shape[1] % 3 != 0:
            bad = (
                f"annotation id {table['id'][0]} (image {table['image_id'][0]}) has {kp.shape[1]} keypoint "
                "values, not a multiple of 3"
            )
            kp = None
        self._columns = AnnColumns(
            ids=table["id"].astype(np.float64),
            image_ids=table["image_id"],
            category_ids=table["category_id"],
            keypoints=kp,
            bad_keypoints=bad,
            area=table["area"],
            bbox=table["bbox"],
            iscrowd=table["iscrowd"],
            num_keypoints=table["num_keypoints"],
            score=np.full(n, np.nan),
            id_keys=table["id"],
        )
        self._lazy_ids = table["image_ids"].tolist()
        span = table["categories"]
        self._lazy_categories = [] if span is None else parse_json(data[span[0] : span[1]], path, "COCO")

        def parse(_: dict) -> dict:
            dataset = parse_json(data, path, "COCO")
            _check_lists(dataset)
            return dataset

        self._pending = [parse]

    # ------------------------------------------------------------------ lazy views
    @property
    def dataset(self) -> dict[str, Any]:
        """The json content as pycocotools keeps it (parsed, and result dicts made, on first use)."""
        while self._pending:
            step = self._pending.pop(0)
            self._dataset = step(self._dataset)
            if not self._pending:
                self._lazy_ids = self._lazy_categories = None
        return self._dataset

    @dataset.setter
    def dataset(self, value: dict[str, Any]) -> None:
        self._dataset, self._pending, self._columns = value, [], None
        self._lazy_ids = self._lazy_categories = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle / deepcopy with the dataset materialised (the pending steps are closures)."""
        self.dataset  # noqa: B018 - runs the pending steps
        state = self.__dict__.copy()
        state["_pending"] = []
        return state

    def _categories(self) -> list:
        """``dataset["categories"]`` without parsing the rest of a pending json."""
        if self._pending and self._lazy_categories is not None:
            return self._lazy_categories
        return self.dataset.get("categories", [])

    anns = _index_property("anns")
    imgs = _index_property("imgs")
    cats = _index_property("cats")
    imgToAnns = _index_property("imgToAnns")
    catToImgs = _index_property("catToImgs")

    def _ensure_index(self) -> _Index:
        if self._index is None:
            self._index = self._build_index()
        return self._index

    # ------------------------------------------------------------------ index
    def createIndex(self) -> None:
        """Build the id indexes now (and drop the cached columns)."""
        self._index = self._build_index()
        self._columns = None

    def _build_index(self) -> _Index:
        anns, cats, imgs = {}, {}, {}
        img_to_anns, cat_to_imgs = defaultdict(list), defaultdict(list)
        dataset = self.dataset
        _check_lists(dataset)
        for ann in dataset.get("annotations", []):
            if not isinstance(ann, dict) or "id" not in ann or "image_id" not in ann:
                raise InputError(f"COCO: every annotation needs 'id' and 'image_id', got {str(ann)[:120]}")
            img_to_anns[_hashable(ann["image_id"], "annotation image_id")].append(ann)
            anns[_hashable(ann["id"], "annotation id")] = ann
        for img in dataset.get("images", []):
            if not isinstance(img, dict) or "id" not in img:
                raise InputError(f"COCO: every image needs an 'id', got {str(img)[:120]}")
            imgs[_hashable(img["id"], "image id")] = img
        for cat in dataset.get("categories", []):
            cats[_hashable(cat["id"], "category id")] = cat
        if "annotations" in dataset and "categories" in dataset:
            for ann in dataset["annotations"]:
                if "category_id" in ann:
                    cat = _hashable(ann["category_id"], "annotation category_id")
                    cat_to_imgs[cat].append(ann["image_id"])
        return _Index(anns, imgs, cats, img_to_anns, cat_to_imgs)

    def _image_ids(self) -> list:
        """The image ids in file order without repeats (``list(imgs)``), without building the index."""
        if self._index is not None:
            return list(self._index.imgs.keys())
        if self._pending and self._lazy_ids is not None:
            return list(dict.fromkeys(self._lazy_ids))
        images = self.dataset.get("images", [])
        try:
            return list(dict.fromkeys([img["id"] for img in images]))
        except (TypeError, KeyError):
            for img in images:
                if not isinstance(img, dict) or "id" not in img:
                    raise InputError(f"COCO: every image needs an 'id', got {str(img)[:120]}") from None
                _hashable(img["id"], "image id")
            raise

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
        cats = self._categories()
        if not (len(catNms) == len(supNms) == len(catIds) == 0):
            cats = cats if len(catNms) == 0 else [c for c in cats if c["name"] in catNms]
            cats = cats if len(supNms) == 0 else [c for c in cats if c["supercategory"] in supNms]
            cats = cats if len(catIds) == 0 else [c for c in cats if c["id"] in catIds]
        return [c["id"] for c in cats]

    def getImgIds(self, imgIds=(), catIds=()) -> list:
        imgIds = imgIds if _is_array_like(imgIds) else [imgIds]
        catIds = catIds if _is_array_like(catIds) else [catIds]
        if len(imgIds) == len(catIds) == 0:
            return self._image_ids()
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

        def base(ds: dict) -> dict:  # pycocotools copies the ground truth's info and images
            info = copy.deepcopy(self.dataset.get("info", {}))
            return {"info": info, "images": list(self.dataset.get("images", []))} | ds

        res._pending = [base]
        res._lazy_ids = self._image_ids()
        res._lazy_categories = self._categories()
        res.anno_file = [self.anno_file[0], resFile if isinstance(resFile, (str, os.PathLike)) else None]
        if isinstance(resFile, (str, os.PathLike)):
            table = read_results_file(resFile, "loadRes")
            if table is not None:
                return self._results_from_table(res, table, allow_empty)
            anns = read_json(resFile, "loadRes")
        elif isinstance(resFile, np.ndarray):
            anns = self.loadNumpyAnnotations(resFile)
        else:
            anns = resFile
        if not isinstance(anns, (list, tuple)):
            raise InputError(f"loadRes: results must be a list of objects, got {type(anns).__name__}")
        anns = list(anns)  # the caller's dicts are copied (with area, id, bbox) only when dataset is read
        for i, a in enumerate(anns):
            if not isinstance(a, dict):
                raise InputError(f"loadRes: result {i} is a {type(a).__name__}, expected a dict")
            if "image_id" not in a:
                raise InputError(f"loadRes: result {i} has no 'image_id'")
        if not anns:
            if not allow_empty:
                raise InputError(
                    "loadRes: the results are empty (pass allow_empty=True to evaluate no detections)"
                )
            res._dataset["categories"] = copy.deepcopy(self._categories())
            res._dataset["annotations"] = []
            return res
        self._check_known_images([a["image_id"] for a in anns])
        first = anns[0]
        res._dataset["categories"] = copy.deepcopy(self._categories())
        if "caption" in first:
            raise InputError("loadRes: caption results are not supported by hpefast (keypoint results only)")
        if "bbox" in first and not first["bbox"] == []:
            cols = _result_columns(anns)
            for i, a in enumerate(anns):
                if "bbox" not in a:
                    raise InputError(f"loadRes: result {i} has no 'bbox' but the first result has one")
            bb = cols.bbox
            if np.isnan(bb).any():
                i = int(np.nonzero(np.isnan(bb).any(1))[0][0])
                raise InputError(f"loadRes: result {i} (image {anns[i]['image_id']}) has a malformed 'bbox'")
            area = bb[:, 2] * bb[:, 3]
            cols.area = area
            cols.iscrowd = np.zeros(len(anns), np.uint8)
        elif "segmentation" in first:
            raise InputError(
                "loadRes: segmentation results are not supported (give keypoints, optionally with bbox)"
            )
        elif "keypoints" in first:
            cols = _result_columns(anns)
            kp = cols.keypoints
            if kp is None:
                raise InputError(f"loadRes: {cols.bad_keypoints}")
            x, y = kp[:, 0::3], kp[:, 1::3]
            x0, x1, y0, y1 = x.min(1), x.max(1), y.min(1), y.max(1)
            area = (x1 - x0) * (y1 - y0)
            boxes = np.stack([x0, y0, x1 - x0, y1 - y0], 1)
            cols.area = area
            cols.bbox = boxes
        else:
            raise InputError("loadRes: results carry neither 'keypoints' nor 'bbox'")
        cols.ids = np.arange(1, len(anns) + 1, dtype=np.float64)
        with_bbox = "bbox" in first and not first["bbox"] == []

        def add_annotations(ds: dict) -> dict:
            ds["annotations"] = _result_dicts(anns, cols, with_bbox)
            return ds

        res._pending.append(add_annotations)
        res._columns = cols
        return res

    def _check_known_images(self, image_ids: list | np.ndarray) -> None:
        """ValueError naming the first result whose image id is not an image of this set (pycocotools
        asserts the same with set semantics: ``785`` and ``"785"`` differ, ``785.0`` is ``785``)."""
        ids = self._image_ids()
        if isinstance(image_ids, np.ndarray) and image_ids.dtype == np.int64 and _all_int(ids):
            keys = np.unique(np.asarray(ids, dtype=np.int64))
            bad = np.nonzero(~int_positions(image_ids, keys)[1])[0]
            unknown = image_ids[bad].tolist()
        else:
            known = set(ids)
            values = image_ids.tolist() if isinstance(image_ids, np.ndarray) else image_ids
            try:
                all_known = known.issuperset(values)
            except TypeError:  # an unhashable id: name it
                all_known = False
            bad = (
                []
                if all_known
                else [i for i, v in enumerate(values) if _hashable(v, f"result {i} image_id") not in known]
            )
            unknown = [values[i] for i in bad]
        if len(bad):
            raise InputError(
                f"loadRes: result {int(bad[0])} is for image id {unknown[0]!r}, which is not in the ground "
                f"truth ({len(set(map(repr, unknown)))} unknown image ids in all): results do not match "
                "this set"
            )

    def _results_from_table(self, res: COCO, table: dict[str, np.ndarray], allow_empty: bool) -> COCO:
        """loadRes on the columns of the compiled json reader: the same checks, areas and boxes as the
        dict path; the result dicts of ``res.dataset`` are made only if someone asks for them."""
        n = len(table["score"])
        res._dataset["categories"] = copy.deepcopy(self._categories())
        if n == 0:
            if not allow_empty:
                raise InputError(
                    "loadRes: the results are empty (pass allow_empty=True to evaluate no detections)"
                )
            res._dataset["annotations"] = []
            return res
        image_ids, category_ids = table["image_id"], table["category_id"]
        self._check_known_images(image_ids)
        kp, bbox, score = table["keypoints"], table["bbox"], table["score"]
        bad = None
        if kp.shape[1] % 3 != 0:
            bad = f"result 0 (image {image_ids[0]}) has {kp.shape[1]} keypoint values, not a multiple of 3"
        cols = AnnColumns(
            ids=np.arange(1, n + 1, dtype=np.float64),
            image_ids=image_ids,
            category_ids=category_ids,
            keypoints=None if bad else kp,
            bad_keypoints=bad,
            area=np.full(n, np.nan),
            bbox=bbox,
            iscrowd=np.zeros(n, np.uint8),
            num_keypoints=np.full(n, np.nan),
            score=score,
        )
        with_bbox = bool(table["has_bbox"][0])
        if with_bbox:
            missing = np.nonzero(table["has_bbox"] == 0)[0]
            if len(missing):
                i = int(missing[0])
                raise InputError(f"loadRes: result {i} has no 'bbox' but the first result has one")
            cols.area = bbox[:, 2] * bbox[:, 3]
        else:
            if bad:
                raise InputError(f"loadRes: {bad}")
            if "extent" in table:  # min / max of x = [0::3] and y = [1::3], taken while reading
                x0, y0, x1, y1 = table["extent"].T
            else:
                x, y = kp[:, 0::3], kp[:, 1::3]
                x0, x1, y0, y1 = x.min(1), x.max(1), y.min(1), y.max(1)
            cols.area = (x1 - x0) * (y1 - y0)
            cols.bbox = np.stack([x0, y0, x1 - x0, y1 - y0], 1)

        def add_annotations(ds: dict) -> dict:
            ds["annotations"] = _result_dicts(_plain_results(table, with_bbox), cols, with_bbox)
            return ds

        res._pending.append(add_annotations)
        res._columns = cols
        return res

    def loadNumpyAnnotations(self, data: np.ndarray) -> list[dict]:
        """[N, 7] array (image_id, x, y, w, h, score, category_id) -> result dicts (pycocotools)."""
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[1] != 7:
            raise InputError(f"loadRes: a numpy result array must have shape [N, 7], got {list(data.shape)}")
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
            raise InputError(f"loadRes: result {i} (image {a['image_id']}) has no 'category_id'")
        if "score" not in a:
            raise InputError(f"loadRes: result {i} (image {a['image_id']}) has no 'score'")
    cols = columns_from_annotations(anns, "loadRes", ids=range(1, len(anns) + 1))
    bad = ~np.isfinite(cols.score)
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        raise InputError(f"loadRes: result {i} (image {anns[i]['image_id']}) has score {anns[i]['score']!r}")
    if cols.keypoints is not None:
        badk = ~np.isfinite(cols.keypoints).all(1)
        if badk.any():
            i = int(np.nonzero(badk)[0][0])
            raise InputError(f"loadRes: result {i} (image {anns[i]['image_id']}) has non-finite keypoints")
    return cols


def _plain_results(table: dict[str, np.ndarray], with_bbox: bool) -> list[dict]:
    """The result dicts of the compiled reader's columns, as the json had them (before loadRes' fields)."""
    fields = [table["image_id"].tolist(), table["category_id"].tolist(), table["keypoints"].tolist()]
    fields.append(table["score"].tolist())
    if not with_bbox:
        return [{"image_id": i, "category_id": c, "keypoints": k, "score": s} for i, c, k, s in zip(*fields)]
    fields.append(table["bbox"].tolist())
    return [
        {"image_id": i, "category_id": c, "keypoints": k, "score": s, "bbox": b}
        for i, c, k, s, b in zip(*fields)
    ]


def _result_dicts(anns: list, cols: AnnColumns, with_bbox: bool) -> list[dict]:
    """pycocotools' loadRes dicts: each result copied with ``area``, ``id`` and (keypoint extent) ``bbox``,
    or in the bbox branch ``area``, ``id``, ``iscrowd`` and a box ``segmentation`` where it has none."""
    areas = cols.area.tolist()
    if not with_bbox:
        boxes = cols.bbox.tolist()
        return [{**a, "area": areas[i], "id": i + 1, "bbox": boxes[i]} for i, a in enumerate(anns)]
    out = []
    for i, a in enumerate(anns):
        d = dict(a)
        if "segmentation" not in d:
            bb = d["bbox"]
            x1, x2, y1, y2 = bb[0], bb[0] + bb[2], bb[1], bb[1] + bb[3]
            d["segmentation"] = [[x1, y1, x1, y2, x2, y2, x2, y1]]
        d["area"] = areas[i]
        d["id"] = i + 1
        d["iscrowd"] = 0
        out.append(d)
    return out


def _check_lists(dataset: dict) -> None:
    for key in ("annotations", "images", "categories"):
        if key in dataset and not isinstance(dataset[key], list):
            raise InputError(f"COCO: {key!r} must be a list, got {type(dataset[key]).__name__}")


def _hashable(value: Any, field: str) -> Any:
    """The id itself, or ValueError naming the field when it cannot be a dict key (pycocotools: TypeError)."""
    try:
        hash(value)
    except TypeError:
        raise InputError(f"COCO: {field} must be a number or a string, got {value!r}") from None
    return value


def _all_int(values: list) -> bool:
    return all(type(v) is int and -(2**63) <= v < 2**63 for v in values)
