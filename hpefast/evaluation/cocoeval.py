"""``COCOeval``: COCO keypoint AP identical to pycocotools 2.0.11 (and to xtcocotools' ``use_area`` and
``keypoints_crowd`` options), with the per-image work and the accumulation compiled (csrc/cocoeval).

Python only groups the annotations by (category, image) with vectorised numpy; OKS, matching and
accumulation run in C++ over all cores. The exponential of the OKS is numpy's own, so ``ious`` are
bit-identical to pycocotools', and so are ``eval["precision" | "recall" | "scores"]`` and ``stats``.

Example::

    gt = COCO("person_keypoints_val2017.json")
    dt = gt.loadRes("results.json")
    E = COCOeval(gt, dt, "keypoints")
    E.evaluate(); E.accumulate(); E.summarize()
    E.stats  # AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl
"""

from __future__ import annotations

import copy
import datetime
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpefast.evaluation.columns import AnnColumns, columns_from_annotations, int_positions
from hpefast.evaluation.sigmas import resolve_sigmas

_IOU_TYPES = ("keypoints", "keypoints_crowd")
_COMPAT = ("pycocotools", "xtcocotools")


class Params:
    """Evaluation parameters, as ``pycocotools.cocoeval.Params`` for iouType keypoints.

    imgIds, catIds: [] = all of the ground truth. iouThrs: [T] OKS thresholds .50:.05:.95.
    recThrs: [R] 101 recall levels. maxDets: [20]. areaRng: [[0, 1e10], [32^2, 96^2], [96^2, 1e10]]
    with labels all / medium / large. useCats: 1. kpt_oks_sigmas: [K] (COCO by default).
    """

    def __init__(self, iouType: str = "keypoints") -> None:
        if iouType not in _IOU_TYPES:
            raise ValueError(
                f"iouType must be one of {_IOU_TYPES} (hpefast evaluates keypoints), got {iouType!r}"
            )
        self.setKpParams()
        self.iouType = iouType
        self.useSegm = None

    def setKpParams(self) -> None:
        self.imgIds: list = []
        self.catIds: list = []
        # np.arange causes trouble: the data points of arange are slightly larger than the true values
        self.iouThrs = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
        self.recThrs = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
        self.maxDets = [20]
        self.areaRng = [[0**2, 1e5**2], [32**2, 96**2], [96**2, 1e5**2]]
        self.areaRngLbl = ["all", "medium", "large"]
        self.useCats = 1
        self.kpt_oks_sigmas = resolve_sigmas(None)


@dataclass
class _EvalState:
    """What evaluate() leaves for accumulate(), evalImgs and ious (arrays in group order)."""

    img_ids: list
    cat_ids: list  # categories of the groups ([-1] without useCats)
    num_images: int
    mode: int  # 0 pycocotools, 1 xtcocotools matching conventions
    gt_offsets: np.ndarray  # [NG + 1]
    kept_offsets: np.ndarray  # [NG + 1]
    iou_offsets: np.ndarray  # [NG + 1]
    group_present: np.ndarray  # [NG] uint8, false where pycocotools' evalImg is None
    dt_order: np.ndarray  # [Dk] detection (group order) of each kept slot, by score per group
    kept_scores: np.ndarray  # [Dk]
    ious: np.ndarray  # flat, per group [kept, ng]
    range_area: np.ndarray  # [G]
    ignore: np.ndarray  # [G] uint8
    iscrowd: np.ndarray  # [G] uint8
    gt_ids_int: np.ndarray  # [G] ids the matcher stores (real ids, or positions with fix_zero_id)
    dt_ids_int: np.ndarray  # [D]
    dt_area: np.ndarray  # [D]
    iou_thrs: np.ndarray  # [T]
    area_rng: np.ndarray  # [A * 2]
    gt_ids: np.ndarray  # [G] real ids (exact: int64 or object)
    dt_ids: np.ndarray  # [D] real ids
    id_maps: tuple[np.ndarray, np.ndarray] | None  # internal id -> real id when fix_zero_id
    gt_order: np.ndarray | None = None  # [A, G]
    gt_ignore: np.ndarray | None = None  # [A, G]
    group_npig: np.ndarray | None = None  # [A, NG]
    dt_flags: np.ndarray | None = None  # [A, Dk, T]


def _copy_params(p: Params) -> Params:
    """A deep copy of the parameters (copy.deepcopy is slow on thousands of numpy image ids)."""
    q = copy.copy(p)
    for name, value in vars(p).items():
        if isinstance(value, np.ndarray):
            setattr(q, name, value.copy())
        elif isinstance(value, list):
            if value and isinstance(value[0], list):
                setattr(q, name, [list(v) if isinstance(v, list) else v for v in value])
            else:
                setattr(q, name, list(value))  # scalars are immutable
    return q


def _match(st: _EvalState, with_ids: bool) -> tuple:
    """Run the compiled matcher; with_ids also returns the match id arrays [A, T, Dk] and [A, T, G]."""
    from hpefast._ext import lib

    ng = len(st.group_present)
    G, Dk = int(st.gt_offsets[-1]), int(st.kept_offsets[-1])
    T, A = len(st.iou_thrs), len(st.area_rng) // 2
    gt_order = np.empty((A, G), np.int64)
    gt_ignore = np.empty((A, G), np.uint8)
    group_npig = np.empty((A, ng), np.int64)
    dt_flags = np.empty((A, Dk, T), np.uint8)
    dtm = np.empty((A, T, Dk), np.float64) if with_ids else None
    gtm = np.empty((A, T, G), np.float64) if with_ids else None
    lib().cocoeval_match(
        ng, st.mode, st.gt_offsets, st.kept_offsets, st.iou_offsets, st.ious, st.range_area, st.ignore,
        st.iscrowd, st.gt_ids_int, st.dt_order, st.dt_area, st.dt_ids_int, st.iou_thrs, st.area_rng,
        gt_order, gt_ignore, group_npig, dt_flags, dtm, gtm,
    )  # fmt: skip
    return gt_order, gt_ignore, group_npig, dt_flags, dtm, gtm


def _columns(coco: Any, what: str) -> AnnColumns:
    """Columns of an hpefast COCO (cached) or of any pycocotools-like object (built now)."""
    if hasattr(coco, "columns") and callable(coco.columns):
        return coco.columns()
    dataset = getattr(coco, "dataset", None)
    if not isinstance(dataset, dict):
        raise TypeError(f"{what} must be a COCO object (hpefast or pycocotools), got {type(coco).__name__}")
    return columns_from_annotations(dataset.get("annotations", []), what)


def _positions(values: np.ndarray, keys: list) -> tuple[np.ndarray, np.ndarray]:
    """Index of each value in ``keys`` (pycocotools' ``p.imgIds`` / ``p.catIds``: numpy scalars from
    ``np.unique``) and whether it is there, with the dict semantics pycocotools' lookups have.

    int64 values and int64 keys take a vectorised search; anything else (string, float or huge ids,
    mixed types) is looked up in a dict keyed by the numpy scalars, exactly as pycocotools does.
    """
    key_arr = np.asarray(keys) if len(keys) else np.zeros(0, np.int64)
    if len(values) == 0 or len(keys) == 0:
        return np.zeros(len(values), np.int64), np.zeros(len(values), bool)
    if values.dtype == np.int64 and key_arr.dtype == np.int64:
        return int_positions(values, key_arr)
    table: dict = {}
    for i, k in enumerate(keys):
        table.setdefault(k, i)
    try:
        pos = np.fromiter((table.get(v, -1) for v in values.tolist()), np.int64, count=len(values))
    except TypeError:
        bad = next(v for v in values.tolist() if not _is_hashable(v))
        raise ValueError(f"an id must be a number or a string, got {bad!r}") from None
    return np.maximum(pos, 0), pos >= 0


def _is_hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _unique_ids(ids: Any, field: str) -> list:
    """``list(np.unique(ids))`` as pycocotools computes ``p.imgIds`` / ``p.catIds`` (numpy scalars, numpy's
    type promotion included: ``[1, "2"]`` becomes strings, ``[2**63, 5]`` floats), with a short cut for the
    usual int64 ids and a ValueError naming the field where numpy cannot order them."""
    arr = _id_array(list(ids))
    if arr.dtype == np.int64:
        arr = np.sort(arr)
        if len(arr) > 1:
            arr = arr[np.concatenate(([True], arr[1:] != arr[:-1]))]
        return list(arr)
    try:
        return list(np.unique(np.asarray(list(ids))))
    except TypeError as exc:
        raise ValueError(f"params.{field}: ids that cannot be ordered together ({exc})") from None


def _sorted_ids(ids: list, field: str) -> list:
    """``sorted(ids)`` as pycocotools' COCOeval does, ValueError naming the field where it raises
    (ids of types that cannot be ordered together, such as a string among integers)."""
    try:
        return sorted(ids)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in ids})
        raise ValueError(
            f"cocoGt: the {field} mix {' and '.join(kinds)} values, which cannot be sorted together "
            "(pycocotools raises TypeError): give every id the same type"
        ) from None


def _id_array(ids: list) -> np.ndarray:
    """Ids as int64 when every one is an integer in range (the usual COCO ids), else numpy's own array."""
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in ids):
        try:
            return np.array([int(v) for v in ids], dtype=np.int64)
        except OverflowError:
            pass
    return np.asarray(ids)


def _same_ids(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    if a is b:
        return True
    try:
        return bool(all(x == y for x, y in zip(a, b)))
    except (TypeError, ValueError):
        return False


def _rows(a: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """``a[sel]`` C-contiguous; ``a`` itself (read only by the caller) when ``sel`` takes every row in
    order, as for a results file written image by image in the ground truth's order."""
    if (
        len(sel) == len(a)
        and a.flags.c_contiguous
        and (len(sel) == 0 or (sel[0] == 0 and np.all(np.diff(sel) == 1)))
    ):
        return a
    return np.ascontiguousarray(a[sel])


def _exp_neg(e: np.ndarray, threads: int) -> np.ndarray:
    """``np.exp(-e)`` in place, split over threads (numpy's ufunc loops release the GIL and compute each
    element on its own, so the values are those of one call)."""
    parts = int(min(max(threads, 1), max(1, e.size // 500_000)))
    bounds = [e.size * i // parts for i in range(parts + 1)]

    def work(a: int, b: int) -> None:
        seg = e[a:b]
        np.negative(seg, out=seg)
        np.exp(seg, out=seg)

    pool = [threading.Thread(target=work, args=(bounds[i], bounds[i + 1])) for i in range(1, parts)]
    for t in pool:
        t.start()
    work(bounds[0], bounds[1])
    for t in pool:
        t.join()
    return e


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


class COCOeval:
    """COCO keypoint evaluation, a drop-in for ``pycocotools.cocoeval.COCOeval`` (iouType keypoints).

    Args:
        cocoGt, cocoDt: ground truth and results (hpefast or pycocotools ``COCO`` objects).
        iouType: ``"keypoints"`` (pycocotools) or ``"keypoints_crowd"`` (xtcocotools' CrowdPose mode:
            stats AP, AP50, AP75, AR, AR50, AR75, AP easy / medium / hard by the images' ``crowdIndex``).
        sigmas: OKS sigmas [K], a schema name (``"coco"``, ``"crowdpose"``, ``"aic"``, ``"mpii"``,
            ``"ap10k"``, ...) or None (COCO). Sets ``params.kpt_oks_sigmas``.
        use_area: True: a ground truth's area is its ``area`` field (required). False (xtcocotools):
            area = bbox w * h * 0.53, for the OKS scale and the area ranges.
        compat: ``"pycocotools"`` or ``"xtcocotools"``; None = pycocotools for ``keypoints`` and
            xtcocotools for ``keypoints_crowd``. xtcocotools skips results whose keypoint scores are all
            <= 0, starts match arrays at -1 (no gt-id-0 quirk), and for ``keypoints`` counts labelled
            joints from the keypoints rather than ``num_keypoints``.
        fix_zero_id: pycocotools counts a detection matched to a ground truth of id 0 as unmatched (its
            match array holds ids and 0 means "none"). False reproduces that; True matches by position.

    After ``evaluate(); accumulate(); summarize()``: ``stats`` (10 numbers, 9 for keypoints_crowd),
    ``eval`` with ``precision`` [T,R,K,A,M], ``recall`` [T,K,A,M], ``scores`` [T,R,K,A,M]; ``evalImgs``
    and ``ious`` as pycocotools (built on first access).
    """

    def __init__(
        self,
        cocoGt: Any = None,
        cocoDt: Any = None,
        iouType: str = "keypoints",
        sigmas: Any = None,
        use_area: bool = True,
        compat: str | None = None,
        fix_zero_id: bool = False,
    ) -> None:
        if not iouType:
            iouType = "keypoints"
        if compat is None:
            compat = "xtcocotools" if iouType == "keypoints_crowd" else "pycocotools"
        if compat not in _COMPAT:
            raise ValueError(f"compat must be one of {_COMPAT}, got {compat!r}")
        self.cocoGt = cocoGt
        self.cocoDt = cocoDt
        self.params = Params(iouType=iouType)
        self.params.kpt_oks_sigmas = resolve_sigmas(sigmas)
        self.use_area = bool(use_area)
        self.compat = compat
        self.fix_zero_id = bool(fix_zero_id)
        self.eval: dict[str, Any] = {}
        self.stats: np.ndarray | list = []
        self._paramsEval: Any = {}
        self._state: _EvalState | None = None
        self._evalImgs: list | None = None
        self._ious: dict | None = None
        self.verbose = False
        if cocoGt is not None:
            self.params.imgIds = _sorted_ids(cocoGt.getImgIds(), "image ids ('images' id)")
            self.params.catIds = _sorted_ids(cocoGt.getCatIds(), "category ids ('categories' id)")

    # xtcocotools keeps the sigmas on the evaluator
    @property
    def sigmas(self) -> np.ndarray:
        return self.params.kpt_oks_sigmas

    @sigmas.setter
    def sigmas(self, value: Any) -> None:
        self.params.kpt_oks_sigmas = resolve_sigmas(value)

    def _log(self, msg: str) -> None:
        if self.verbose:
            print(msg)

    # ------------------------------------------------------------------ evaluate
    def evaluate(self) -> None:
        """Per-image OKS and matching for every (category, area range, image); see accumulate()."""
        from hpefast._ext import lib, sync_num_threads

        tic = time.time()
        p = self.params
        if p.iouType not in _IOU_TYPES:
            raise ValueError(f"params.iouType must be one of {_IOU_TYPES}, got {p.iouType!r}")
        if self.cocoGt is None or self.cocoDt is None:
            raise ValueError("COCOeval needs cocoGt and cocoDt")
        p.imgIds = _unique_ids(p.imgIds, "imgIds")
        if p.useCats:
            p.catIds = _unique_ids(p.catIds, "catIds")
        p.maxDets = sorted(p.maxDets)
        if not p.maxDets:
            raise ValueError("params.maxDets is empty")
        if any(int(m) != m or m < 0 for m in p.maxDets):
            raise ValueError(f"params.maxDets must be non-negative integers, got {p.maxDets}")
        self.params = p
        sig = np.asarray(p.kpt_oks_sigmas, dtype=np.float64).reshape(-1)
        if sig.size == 0 or not np.all(np.isfinite(sig)) or np.any(sig <= 0):
            raise ValueError("params.kpt_oks_sigmas must be finite and positive")
        K = sig.size
        variances = (sig * 2) ** 2
        iou_thrs = np.ascontiguousarray(p.iouThrs, dtype=np.float64).reshape(-1)
        area_rng = np.ascontiguousarray(p.areaRng, dtype=np.float64).reshape(-1, 2)
        xt = self.compat == "xtcocotools"
        crowd_mode = p.iouType == "keypoints_crowd"

        gt = _columns(self.cocoGt, "cocoGt")
        dt = _columns(self.cocoDt, "cocoDt")
        imgs = list(p.imgIds)
        I = len(imgs)
        if p.useCats:
            cat_ids = list(p.catIds)
            gi, g_in = _positions(gt.image_ids, imgs)
            gc, gc_in = _positions(gt.category_ids, cat_ids)
            di, d_in = _positions(dt.image_ids, imgs)
            dc, dc_in = _positions(dt.category_ids, cat_ids)
            g_sel = np.nonzero(g_in & gc_in)[0]
            d_sel = np.nonzero(d_in & dc_in)[0]
            g_group = gc[g_sel] * I + gi[g_sel]
            d_group = dc[d_sel] * I + di[d_sel]
            g_order = np.argsort(g_group, kind="stable")
            d_order = np.argsort(d_group, kind="stable")
            g_sel, g_group = g_sel[g_order], g_group[g_order]
            d_sel, d_group = d_sel[d_order], d_group[d_order]
            num_cats = len(cat_ids)
        else:
            # every listed category, in the listed order, within an image (pycocotools' concatenation)
            cat_ids = [-1]
            num_cats = 1
            g_sel, g_group = self._no_cats_order(gt, imgs, list(p.catIds))
            d_sel, d_group = self._no_cats_order(dt, imgs, list(p.catIds))
        G, D = len(g_sel), len(d_sel)
        num_groups = num_cats * I

        gt_kp = _rows(gt.keypoints_for(K, "ground truth"), g_sel) if G else np.zeros((0, K, 3))
        if D and dt.keypoints is None and dt.bad_keypoints is None:
            raise ValueError("cocoDt: the results carry no keypoints")
        dt_kp = _rows(dt.keypoints_for(K, "results"), d_sel) if D else np.zeros((0, K, 3))
        if D and xt:
            # xtcocotools drops results whose keypoint scores are all <= 0
            keep = np.count_nonzero(dt_kp[:, :, 2] > 0, axis=1) > 0
            if not keep.all():
                d_sel, d_group, dt_kp = d_sel[keep], d_group[keep], np.ascontiguousarray(dt_kp[keep])
                D = len(d_sel)
        dt_score = np.ascontiguousarray(dt.score[d_sel])
        if D and not np.all(np.isfinite(dt_score)):
            i = int(d_sel[np.nonzero(~np.isfinite(dt_score))[0][0]])
            raise ValueError(
                f"cocoDt: result id {dt.ids[i]:g} (image {dt.image_ids[i]}) has score {dt.score[i]!r}"
            )
        dt_area = np.ascontiguousarray(dt.area[d_sel])
        if D and np.isnan(dt_area).any():
            i = int(d_sel[np.nonzero(np.isnan(dt_area))[0][0]])
            raise ValueError(f"cocoDt: result id {dt.ids[i]:g} (image {dt.image_ids[i]}) has no 'area'")

        # ground truth: ignore flag, area for the OKS scale, area for the ranges
        v_count = np.count_nonzero(gt_kp[:, :, 2] > 0, axis=1)
        if xt and not crowd_mode:
            labelled = v_count
        else:
            nk = gt.num_keypoints[g_sel]
            labelled = np.where(np.isnan(nk), v_count, nk)
        iscrowd = np.ascontiguousarray(gt.iscrowd[g_sel])
        ignore = ((labelled == 0) | (iscrowd > 0)).astype(np.uint8)
        gt_bbox = np.ascontiguousarray(gt.bbox[g_sel])
        gt_area_field = gt.area[g_sel]
        box_area = gt_bbox[:, 3] * gt_bbox[:, 2] * 0.53
        if self.use_area:
            missing = np.isnan(gt_area_field)
            if missing.any():
                i = int(g_sel[np.nonzero(missing)[0][0]])
                raise ValueError(
                    f"cocoGt: annotation id {gt.ids[i]:g} (image {gt.image_ids[i]}) has no 'area'; "
                    "pass use_area=False to use 0.53 x its bbox area (xtcocotools)"
                )
            oks_area = np.ascontiguousarray(gt_area_field)
            range_area = oks_area
        else:
            oks_area = np.ascontiguousarray(box_area)
            range_area = oks_area
        need_box = (v_count == 0) | (not self.use_area)
        bad_box = need_box & np.isnan(gt_bbox).any(1)
        if bad_box.any():
            i = int(g_sel[np.nonzero(bad_box)[0][0]])
            why = "use_area=False" if not self.use_area else "it has no labelled joint"
            raise ValueError(
                f"cocoGt: annotation id {gt.ids[i]:g} (image {gt.image_ids[i]}) needs a 'bbox' ({why})"
            )
        gt_ids = gt.ids[g_sel]
        if G:
            _check_unique_ids(gt, g_sel)
        dt_ids = dt.ids[d_sel]
        if self.fix_zero_id:
            id_maps = (gt_ids, dt_ids)
            gt_ids_int = np.arange(1, G + 1, dtype=np.float64)
            dt_ids_int = np.arange(1, D + 1, dtype=np.float64)
        else:
            id_maps = None
            gt_ids_int, dt_ids_int = np.ascontiguousarray(gt_ids), np.ascontiguousarray(dt_ids)

        gt_counts = (
            np.bincount(g_group, minlength=num_groups).astype(np.int64)
            if num_groups
            else np.zeros(0, np.int64)
        )
        dt_counts = (
            np.bincount(d_group, minlength=num_groups).astype(np.int64)
            if num_groups
            else np.zeros(0, np.int64)
        )
        max_det = int(p.maxDets[-1])
        kept = np.minimum(dt_counts, max_det)
        pair = kept * gt_counts if p.useCats else np.zeros_like(kept)
        gt_offsets, dt_offsets = _offsets(gt_counts), _offsets(dt_counts)
        kept_offsets, iou_offsets, e_offsets = _offsets(kept), _offsets(pair), _offsets(pair * K)
        Dk = int(kept_offsets[-1])

        C = lib()
        dt_order = np.empty(Dk, np.int64)
        e = np.empty(int(e_offsets[-1]), np.float64)
        C.cocoeval_exponents(
            num_groups, K, max_det, gt_offsets, dt_offsets, gt_kp, oks_area, gt_bbox, dt_kp, dt_score,
            np.ascontiguousarray(variances), kept_offsets, e_offsets, dt_order, e,
        )  # fmt: skip
        exp_e = _exp_neg(e, sync_num_threads())  # numpy's exp, as pycocotools
        del e
        ious = np.empty(int(iou_offsets[-1]), np.float64)
        C.cocoeval_oks(num_groups, K, gt_offsets, e_offsets, iou_offsets, exp_e, gt_kp, ious)
        del exp_e
        st = _EvalState(
            img_ids=list(p.imgIds),
            cat_ids=cat_ids,
            num_images=I,
            mode=1 if xt else 0,
            gt_offsets=gt_offsets,
            kept_offsets=kept_offsets,
            iou_offsets=iou_offsets,
            group_present=((gt_counts + dt_counts) > 0).astype(np.uint8),
            dt_order=dt_order,
            kept_scores=np.ascontiguousarray(dt_score[dt_order]),
            ious=ious,
            range_area=np.ascontiguousarray(range_area),
            ignore=ignore,
            iscrowd=iscrowd,
            gt_ids_int=gt_ids_int,
            dt_ids_int=dt_ids_int,
            dt_area=dt_area,
            iou_thrs=iou_thrs,
            area_rng=np.ascontiguousarray(area_rng.reshape(-1)),
            gt_ids=(gt.id_keys if gt.id_keys is not None else gt.ids)[g_sel],
            dt_ids=dt_ids,
            id_maps=id_maps,
        )
        st.gt_order, st.gt_ignore, st.group_npig, st.dt_flags = _match(st, with_ids=False)[:4]
        self._state = st
        self._evalImgs = None
        self._ious = None
        self.eval = {}
        self._paramsEval = _copy_params(self.params)
        self._log(f"DONE (t={time.time() - tic:0.2f}s).")

    @staticmethod
    def _no_cats_order(cols: AnnColumns, imgs: list, cat_ids: list) -> tuple[np.ndarray, np.ndarray]:
        """useCats=0: per image, the annotations of each listed category in list order (duplicates repeat)."""
        pos, found = _positions(cols.image_ids, imgs)
        rows, groups, rank = [], [], []
        for j, c in enumerate(cat_ids):
            cpos, cfound = _positions(cols.category_ids, [c])
            sel = np.nonzero(found & cfound)[0]
            rows.append(sel)
            groups.append(pos[sel])
            rank.append(np.full(len(sel), j))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        rows_a, groups_a, rank_a = np.concatenate(rows), np.concatenate(groups), np.concatenate(rank)
        order = np.lexsort((rows_a, rank_a, groups_a))
        return rows_a[order].astype(np.int64), groups_a[order].astype(np.int64)

    # ------------------------------------------------------------------ accumulate
    def accumulate(self, p: Params | None = None) -> None:
        """Precision [T,R,K,A,M], recall [T,K,A,M] and scores [T,R,K,A,M] into ``self.eval``."""
        from hpefast._ext import lib

        tic = time.time()
        st = self._state
        if st is None:
            raise RuntimeError("Please run evaluate() first")
        if p is None:
            p = self.params
        p.catIds = p.catIds if p.useCats == 1 else [-1]
        T, R = len(p.iouThrs), len(p.recThrs)
        K = len(p.catIds) if p.useCats else 1
        A, M = len(p.areaRng), len(p.maxDets)
        precision = -np.ones((T, R, K, A, M))
        recall = -np.ones((T, K, A, M))
        scores = -np.ones((T, R, K, A, M))
        _pe = self._paramsEval
        cat_ids = _pe.catIds if _pe.useCats else [-1]
        set_k, set_a = set(cat_ids), set(map(tuple, _pe.areaRng))
        set_m = set(_pe.maxDets)
        set_i = set() if _same_ids(p.imgIds, _pe.imgIds) else set(_pe.imgIds)
        k_list = [n for n, k in enumerate(p.catIds) if k in set_k]
        m_list = [m for n, m in enumerate(p.maxDets) if m in set_m]
        a_list = [n for n, a in enumerate(map(tuple, p.areaRng)) if a in set_a]
        if p.imgIds is _pe.imgIds or _same_ids(p.imgIds, _pe.imgIds):
            i_list = np.arange(len(p.imgIds), dtype=np.int64)
        else:
            i_list = np.array([n for n, i in enumerate(p.imgIds) if i in set_i], np.int64)
        I0, A0 = len(_pe.imgIds), len(_pe.areaRng)
        n_eval = len(st.cat_ids) * A0 * I0
        Ks, As, Ms, NS = len(k_list), len(a_list), len(m_list), len(i_list)
        if Ks and As and Ms and NS:
            sel_group = np.empty((Ks, As, NS), np.int64)
            sel_area = np.empty((Ks, As, NS), np.int64)
            for k, k0 in enumerate(k_list):
                for a, a0 in enumerate(a_list):
                    flat = k0 * A0 * I0 + a0 * I0 + i_list
                    if flat.size and flat.max() >= n_eval:
                        raise ValueError(
                            "accumulate: params select images / categories / area ranges that evaluate() "
                            "did not evaluate (pycocotools would raise IndexError)"
                        )
                    kk, aa, ii = flat // (A0 * I0), (flat // I0) % A0, flat % I0
                    sel_group[k, a] = kk * I0 + ii
                    sel_area[k, a] = aa
            prec = np.empty((T, R, Ks, As, Ms))
            rec = np.empty((T, Ks, As, Ms))
            sc = np.empty((T, R, Ks, As, Ms))
            if T != len(st.iou_thrs):
                raise ValueError("accumulate: params.iouThrs differ in length from those evaluate() used")
            lib().cocoeval_accumulate(
                T, R, Ks, As, Ms, A0, NS, sel_group, sel_area, st.group_present, st.kept_offsets,
                np.asarray(m_list, np.int64), st.kept_scores, st.dt_flags, st.group_npig,
                np.ascontiguousarray(p.recThrs, dtype=np.float64), prec, rec, sc,
            )  # fmt: skip
            precision[:, :, :Ks, :As, :Ms] = prec
            recall[:, :Ks, :As, :Ms] = rec
            scores[:, :, :Ks, :As, :Ms] = sc
        self.eval = {
            "params": p,
            "counts": [T, R, K, A, M],
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "precision": precision,
            "recall": recall,
            "scores": scores,
        }
        self._log(f"DONE (t={time.time() - tic:0.2f}s).")

    # ------------------------------------------------------------------ summarize
    def _summarize(
        self, ap: int = 1, iouThr: float | None = None, areaRng: str = "all", maxDets: int = 100
    ) -> float:
        p = self.params
        fmt = "{:0.3f}" if self.compat == "pycocotools" else "{: 0.3f}"
        i_str = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = " + fmt
        title = "Average Precision" if ap == 1 else "Average Recall"
        kind = "(AP)" if ap == 1 else "(AR)"
        iou_str = f"{p.iouThrs[0]:0.2f}:{p.iouThrs[-1]:0.2f}" if iouThr is None else f"{iouThr:0.2f}"
        aind = [i for i, lbl in enumerate(p.areaRngLbl) if lbl == areaRng]
        mind = [i for i, m in enumerate(p.maxDets) if m == maxDets]
        if ap == 1:
            s = self.eval["precision"]
            if iouThr is not None:
                s = s[np.where(iouThr == p.iouThrs)[0]]
            s = s[:, :, :, aind, mind]
        else:
            s = self.eval["recall"]
            if iouThr is not None:
                s = s[np.where(iouThr == p.iouThrs)[0]]
            s = s[:, :, aind, mind]
        mean_s = -1 if len(s[s > -1]) == 0 else np.mean(s[s > -1])
        print(i_str.format(title, kind, iou_str, areaRng, maxDets, mean_s))
        return mean_s

    def summarize(self) -> None:
        """Print pycocotools' summary table and set ``self.stats``."""
        if not self.eval:
            raise Exception("Please run accumulate() first")
        s = self._summarize
        if self.params.iouType == "keypoints_crowd":
            stats = np.zeros((9,))
            stats[0] = s(1, maxDets=20)
            stats[1] = s(1, maxDets=20, iouThr=0.5)
            stats[2] = s(1, maxDets=20, iouThr=0.75)
            stats[3] = s(0, maxDets=20)
            stats[4] = s(0, maxDets=20, iouThr=0.5)
            stats[5] = s(0, maxDets=20, iouThr=0.75)
            easy, medium, hard = self.get_type_result(first=0.2, second=0.8)
            p = self.params
            i_str = " {:<18} {} @[ IoU={:<9} | type={:>6s} | maxDets={:>3d} ] = {:0.3f}"
            iou_str = f"{p.iouThrs[0]:0.2f}:{p.iouThrs[-1]:0.2f}"
            for label, value in (("easy", easy), ("medium", medium), ("hard", hard)):
                print(i_str.format("Average Precision", "(AP)", iou_str, label, 20, value))
            stats[6:9] = easy, medium, hard
        else:
            stats = np.zeros((10,))
            stats[0] = s(1, maxDets=20)
            stats[1] = s(1, maxDets=20, iouThr=0.5)
            stats[2] = s(1, maxDets=20, iouThr=0.75)
            stats[3] = s(1, maxDets=20, areaRng="medium")
            stats[4] = s(1, maxDets=20, areaRng="large")
            stats[5] = s(0, maxDets=20)
            stats[6] = s(0, maxDets=20, iouThr=0.5)
            stats[7] = s(0, maxDets=20, iouThr=0.75)
            stats[8] = s(0, maxDets=20, areaRng="medium")
            stats[9] = s(0, maxDets=20, areaRng="large")
        self.stats = stats

    def get_type_result(self, first: float = 0.01, second: float = 0.85) -> list:
        """CrowdPose AP (mean precision, all areas) on the easy / medium / hard images by ``crowdIndex``.

        As xtcocotools, but the evaluator's state (params.imgIds, eval, per-image results) is restored.
        """
        images = self.cocoGt.dataset.get("images", [])
        missing = [img.get("id") for img in images if "crowdIndex" not in img]
        if missing:
            raise ValueError(
                f"keypoints_crowd: image id {missing[0]} has no 'crowdIndex' (CrowdPose annotations)"
            )
        easy = [img["id"] for img in images if img["crowdIndex"] < first]
        mid = [img["id"] for img in images if first <= img["crowdIndex"] < second]
        hard = [img["id"] for img in images if img["crowdIndex"] >= second]
        saved = (
            _copy_params(self.params),
            self.eval,
            self._state,
            self._paramsEval,
            self._evalImgs,
            self._ious,
        )
        res = []
        try:
            for ids in (easy, mid, hard):
                self.params.imgIds = ids
                self.evaluate()
                self.accumulate()
                score = self.eval["precision"][:, :, :, 0, :]
                res.append(round(np.mean(score), 4))
        finally:
            self.params, self.eval, self._state, self._paramsEval, self._evalImgs, self._ious = saved
        return res

    def __str__(self) -> str:
        self.summarize()
        return ""

    # ------------------------------------------------------------------ per-image views
    @property
    def ious(self) -> dict:
        """{(imgId, catId): [D, G] OKS (detections by score, gt in file order) or []} as pycocotools."""
        if self._ious is None:
            st = self._state
            out: dict = {}
            if st is not None:
                for g in range(len(st.cat_ids) * st.num_images):
                    key = (st.img_ids[g % st.num_images], st.cat_ids[g // st.num_images])
                    b, e = st.iou_offsets[g], st.iou_offsets[g + 1]
                    if e > b:
                        ng = st.gt_offsets[g + 1] - st.gt_offsets[g]
                        out[key] = st.ious[b:e].reshape(-1, ng)
                    else:
                        out[key] = []
            self._ious = out
        return self._ious

    @ious.setter
    def ious(self, value: dict) -> None:
        self._ious = value

    @property
    def evalImgs(self) -> list:
        """pycocotools' per-image results: [catIds x areaRng x imgIds] dicts (None where empty)."""
        if self._evalImgs is None:
            self._evalImgs = self._build_eval_imgs()
        return self._evalImgs

    @evalImgs.setter
    def evalImgs(self, value: list) -> None:
        self._evalImgs = value

    def _build_eval_imgs(self) -> list:
        st = self._state
        if st is None:
            return []
        p = self._paramsEval
        gt_real, dt_real = st.id_maps if st.id_maps is not None else (None, None)
        gt_order, gt_ignore, _, dt_flags, dt_matches, gt_matches = _match(st, with_ids=True)
        out: list = []
        max_det = p.maxDets[-1]
        for k, cat in enumerate(st.cat_ids):
            for a, rng in enumerate(p.areaRng):
                for i, img in enumerate(st.img_ids):
                    g = k * st.num_images + i
                    if not st.group_present[g]:
                        out.append(None)
                        continue
                    g0, g1 = st.gt_offsets[g], st.gt_offsets[g + 1]
                    k0, k1 = st.kept_offsets[g], st.kept_offsets[g + 1]
                    order = st.dt_order[k0:k1]
                    dtm = dt_matches[a, :, k0:k1].copy()
                    gtm = gt_matches[a, :, g0:g1].copy()
                    if gt_real is not None:
                        dtm = np.where(dtm > 0, gt_real[np.maximum(dtm.astype(np.int64) - 1, 0)], 0.0)
                        gtm = np.where(gtm > 0, dt_real[np.maximum(gtm.astype(np.int64) - 1, 0)], 0.0)
                    out.append(
                        {
                            "image_id": img,
                            "category_id": cat,
                            "aRng": rng,
                            "maxDet": max_det,
                            "dtIds": [_num(x) for x in st.dt_ids[order]],
                            "gtIds": [_id_value(x) for x in st.gt_ids[gt_order[a, g0:g1]].tolist()],
                            "dtMatches": dtm,
                            "gtMatches": gtm,
                            "dtScores": st.kept_scores[k0:k1].tolist(),
                            "gtIgnore": gt_ignore[a, g0:g1].astype(np.int64),
                            "dtIgnore": (dt_flags[a, k0:k1, :].T & 2) > 0,
                        }
                    )
        return out


def _check_unique_ids(gt: AnnColumns, sel: np.ndarray) -> None:
    """ValueError for a ground-truth id used twice (pycocotools would evaluate the last one twice), on the
    exact ids: 2**53 + 1 and 2**53 + 2 are different annotations even though they share a double."""
    keys = gt.id_keys if gt.id_keys is not None else gt.ids
    keys = keys[sel]
    if keys.dtype != object:
        uniq, cnt = np.unique(keys, return_counts=True)
        if (cnt > 1).any():
            raise ValueError(f"cocoGt: annotation id {_num(uniq[cnt > 1][0])} is used more than once")
        return
    seen: set = set()
    for v in keys.tolist():
        if v in seen:
            raise ValueError(f"cocoGt: annotation id {v!r} is used more than once")
        seen.add(v)


def _id_value(x: Any) -> Any:
    return _num(x) if isinstance(x, float) else x


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)
