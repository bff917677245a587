"""Error analysis: how a model's joints sit relative to a dataset's labels, joint by joint.

For each matched person and each joint labelled in the dataset, the *residual* is prediction minus ground
truth, divided by a per-person length (``unit``) and, in the ``"body"`` frame, rotated into the person's
torso frame (x = towards the person's left, y = from shoulders to hips), so that a dataset which puts a
joint consistently elsewhere shows as a *bias* (the mean residual) regardless of pose and size:

- :func:`residuals` — ``[M, K, 2]`` normalised residuals (NaN where a joint is not labelled);
- :func:`joint_statistics` — per joint: count, mean (bias), covariance, and a normality test per axis;
- :func:`normality_test` — D'Agostino-Pearson K^2 (skewness + kurtosis), written with numpy only
  (it agrees with ``scipy.stats.normaltest``, which the tests use as the reference).

A well-calibrated model of the *same* dataset has biases near 0 and Gaussian-looking residuals; a model of
another dataset (mapped joints) shows the two datasets' labelling conventions as biases. The pictures are
in :mod:`hpefast.translate.plots`.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from hpefast.translate._schema import get_schema

UNITS = ("torso", "head", "area", "box")
FRAMES = ("body", "image")


def _torso(keypoints: np.ndarray, schema: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(up [M, 2] unit vector hips -> shoulders, length [M], valid [M]) or None when the schema has no
    left/right shoulders and hips."""
    names = get_schema(schema).names
    need = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
    if not all(n in names for n in need):
        return None
    j = [keypoints[:, names.index(n)] for n in need]
    valid = np.all([p[:, 2] > 0 for p in j], axis=0)
    axis = 0.5 * (j[0][:, :2] + j[1][:, :2]) - 0.5 * (j[2][:, :2] + j[3][:, :2])
    length = np.linalg.norm(axis, axis=-1)
    valid &= length > 0
    up = axis / np.where(length > 0, length, 1.0)[:, None]
    return up, length, valid


def person_units(
    gt_keypoints: np.ndarray,
    schema: str,
    unit: str = "torso",
    boxes: np.ndarray | None = None,
    area: np.ndarray | None = None,
    headbox: np.ndarray | None = None,
) -> np.ndarray:
    """``[M]`` per-person length in pixels (NaN where it cannot be had):

    ``"torso"`` mid-hip to mid-shoulder of the ground truth (comparable across datasets: every human
    schema has shoulders and hips); ``"head"`` the MPII head size, 0.6 x head-box diagonal (PCKh's unit);
    ``"area"`` sqrt of the annotation area (OKS's scale); ``"box"`` the longer side of the person box.
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    m = gt_keypoints.shape[0]
    if unit == "torso":
        t = _torso(gt_keypoints, schema)
        if t is None:
            raise ValueError(f"schema {schema!r} has no shoulders and hips: use unit 'area', 'box' or 'head'")
        return np.where(t[2], t[1], np.nan)
    if unit == "head":
        if headbox is None:
            raise ValueError("unit 'head' needs MPII head boxes")
        return 0.6 * np.linalg.norm(headbox[:, 1] - headbox[:, 0], axis=-1)
    if unit == "area":
        if area is None:
            raise ValueError("unit 'area' needs annotation areas")
        return np.sqrt(np.maximum(area, 0.0))
    if boxes is None:
        raise ValueError("unit 'box' needs boxes")
    out = np.maximum(boxes[:, 2], boxes[:, 3]).astype(np.float64)
    return np.where(out > 0, out, np.nan) if m else out


def residuals(
    pred_keypoints: np.ndarray,
    gt_keypoints: np.ndarray,
    schema: str,
    units: np.ndarray,
    frame: str = "body",
) -> np.ndarray:
    """``[M, K, 2]`` normalised residuals ``(pred - gt) / unit`` of ``pred_keypoints [M, K, >=2]`` against
    ``gt_keypoints [M, K, 3]`` (both in ``schema``, image pixels); NaN where the joint is not labelled, not
    predicted (NaN prediction) or the person has no unit. ``frame="body"`` rotates each residual into the
    person's torso frame (x: towards the person's left as seen from the front, y: from the shoulders down
    to the hips; for an upright person facing the camera this is the image frame); ``"image"`` keeps image
    axes."""
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {FRAMES}, got {frame!r}")
    pred = np.asarray(pred_keypoints, dtype=np.float64)
    gt = np.asarray(gt_keypoints, dtype=np.float64)
    if pred.shape[:2] != gt.shape[:2]:
        raise ValueError(
            f"pred_keypoints {pred.shape} and gt_keypoints {gt.shape} differ in people or joints"
        )
    units = np.asarray(units, dtype=np.float64)
    r = (pred[..., :2] - gt[..., :2]) / units[:, None, None]
    if frame == "body":
        t = _torso(gt, schema)
        if t is None:
            raise ValueError(f"schema {schema!r} has no shoulders and hips: use frame 'image'")
        up, _, valid = t
        left = np.stack([-up[:, 1], up[:, 0]], axis=-1)
        r = np.stack([(r * left[:, None]).sum(-1), -(r * up[:, None]).sum(-1)], axis=-1)
        r[~valid] = np.nan
    r[~(gt[..., 2] > 0)] = np.nan
    return r


# -- normality --------------------------------------------------------------------------------------------
def _skew_z(x: np.ndarray) -> tuple[float, float]:
    """D'Agostino's skewness test: (sample skewness b1, z). Needs n >= 8."""
    n = x.size
    d = x - x.mean()
    m2, m3 = (d**2).mean(), (d**3).mean()
    b1 = m3 / m2**1.5 if m2 > 0 else 0.0
    y = b1 * math.sqrt((n + 1) * (n + 3) / (6.0 * (n - 2)))
    beta2 = 3.0 * (n * n + 27 * n - 70) * (n + 1) * (n + 3) / ((n - 2.0) * (n + 5) * (n + 7) * (n + 9))
    w2 = -1 + math.sqrt(2 * (beta2 - 1))
    delta = 1 / math.sqrt(0.5 * math.log(w2))
    alpha = math.sqrt(2.0 / (w2 - 1))
    y = 1.0 if y == 0 else y
    return b1, delta * math.log(y / alpha + math.sqrt((y / alpha) ** 2 + 1))


def _kurtosis_z(x: np.ndarray) -> tuple[float, float]:
    """Anscombe-Glynn kurtosis test: (sample excess kurtosis, z). Needs n >= 5."""
    n = x.size
    d = x - x.mean()
    m2, m4 = (d**2).mean(), (d**4).mean()
    b2 = m4 / m2**2 if m2 > 0 else 3.0
    e = 3.0 * (n - 1) / (n + 1)
    var = 24.0 * n * (n - 2) * (n - 3) / ((n + 1) * (n + 1.0) * (n + 3) * (n + 5))
    z = (b2 - e) / math.sqrt(var)
    sqrtbeta1 = (
        6.0
        * (n * n - 5 * n + 2)
        / ((n + 7) * (n + 9))
        * math.sqrt(6.0 * (n + 3) * (n + 5) / (n * (n - 2) * (n - 3)))
    )
    a = 6.0 + 8.0 / sqrtbeta1 * (2.0 / sqrtbeta1 + math.sqrt(1 + 4.0 / sqrtbeta1**2))
    term1 = 1 - 2 / (9.0 * a)
    denom = 1 + z * math.sqrt(2 / (a - 4.0))
    if denom == 0:
        return b2 - 3.0, float("nan")
    term2 = math.copysign(((1 - 2.0 / a) / abs(denom)) ** (1 / 3.0), denom)
    return b2 - 3.0, (term1 - term2) / math.sqrt(2 / (9.0 * a))


def normality_test(x: np.ndarray) -> dict[str, float]:
    """D'Agostino-Pearson omnibus test of normality of the 1-D sample ``x`` (NaNs dropped).

    Returns ``n``, ``skew`` (b1), ``kurtosis`` (excess), ``z_skew``, ``z_kurtosis``, ``K2`` = z_skew^2 +
    z_kurtosis^2 and ``p`` = P(chi^2_2 >= K2) = exp(-K2 / 2). Small ``p`` (e.g. < 0.01) rejects normality.
    Needs at least 8 values (NaN results below that), and is approximate below ~20 (as scipy warns).
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    n = int(x.size)
    out = dict(
        n=n, skew=math.nan, kurtosis=math.nan, z_skew=math.nan, z_kurtosis=math.nan, K2=math.nan, p=math.nan
    )
    if n < 8 or np.all(x == x[0]):
        return out
    b1, zs = _skew_z(x)
    g2, zk = _kurtosis_z(x)
    k2 = zs * zs + zk * zk
    out.update(skew=b1, kurtosis=g2, z_skew=zs, z_kurtosis=zk, K2=k2, p=math.exp(-k2 / 2.0))
    return out


def joint_statistics(res: np.ndarray, names: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """Per joint of ``res [M, K, 2]``: ``n`` (labelled residuals), ``mean`` [2] (the bias), ``cov`` [2, 2],
    ``std`` [2], ``rms`` (root mean squared distance), ``median`` distance, and ``normality`` per axis
    (:func:`normality_test`); NaN entries are left out joint by joint."""
    out = []
    for k, name in enumerate(names):
        r = res[:, k]
        r = r[np.isfinite(r).all(axis=1)]
        n = len(r)
        item: dict[str, Any] = dict(joint=name, n=n)
        if n >= 2:
            mean = r.mean(axis=0)
            cov = np.cov(r, rowvar=False)
            dist = np.linalg.norm(r, axis=1)
            item.update(
                mean=mean.tolist(),
                cov=cov.tolist(),
                std=np.sqrt(np.diag(cov)).tolist(),
                rms=float(np.sqrt((dist**2).mean())),
                median=float(np.median(dist)),
            )
        else:
            nan = math.nan
            item.update(mean=[nan, nan], cov=[[nan, nan], [nan, nan]], std=[nan, nan], rms=nan, median=nan)
        item["normality"] = {axis: normality_test(r[:, i]) for i, axis in enumerate(("x", "y"))}
        out.append(item)
    return out


def normal_quantiles(n: int) -> np.ndarray:
    """``[n]`` standard normal quantiles at the plotting positions (i - 0.375) / (n + 0.25) (Blom), for
    QQ plots."""
    nd = NormalDist()
    return np.array([nd.inv_cdf((i - 0.375) / (n + 0.25)) for i in range(1, n + 1)])


def mean_pose(gt_keypoints: np.ndarray, schema: str, units: np.ndarray, frame: str = "body") -> np.ndarray:
    """``[K, 2]`` the average labelled pose in the residuals' frame and unit (centred on the mid-hip in the
    body frame, on the mean of the labelled joints otherwise), for drawing the biases on; NaN for joints
    never labelled."""
    gt = np.asarray(gt_keypoints, dtype=np.float64)
    lab = gt[..., 2] > 0
    if frame == "body":
        t = _torso(gt, schema)
        if t is None:
            raise ValueError(f"schema {schema!r} has no shoulders and hips: use frame 'image'")
        up, _, valid = t
        names = get_schema(schema).names
        origin = 0.5 * (gt[:, names.index("left_hip"), :2] + gt[:, names.index("right_hip"), :2])
        d = (gt[..., :2] - origin[:, None]) / units[:, None, None]
        left = np.stack([-up[:, 1], up[:, 0]], axis=-1)
        p = np.stack([(d * left[:, None]).sum(-1), -(d * up[:, None]).sum(-1)], axis=-1)
        keep = valid & np.isfinite(units)
    else:
        w = lab[..., None].astype(np.float64)
        origin = (gt[..., :2] * w).sum(1) / np.maximum(w.sum(1), 1)
        p = (gt[..., :2] - origin[:, None]) / units[:, None, None]
        keep = np.isfinite(units) & lab.any(axis=1)
    p = np.where((lab & keep[:, None])[..., None], p, np.nan)
    with np.errstate(invalid="ignore"):
        return np.nanmean(p, axis=0) if len(p) else np.full((gt.shape[1], 2), np.nan)


def analyse(
    pred_keypoints: np.ndarray,
    gt_keypoints: np.ndarray,
    schema: str,
    units: np.ndarray,
    frame: str = "body",
    name: str = "",
) -> dict[str, Any]:
    """Residuals, per-joint statistics and the mean pose of one (predictions, ground truth) set.

    Returns a dict: ``name``, ``schema``, ``frame``, ``people`` (with a unit), ``joints`` (from
    :func:`joint_statistics`), ``residuals [M, K, 2]`` and ``mean_pose [K, 2]`` (numpy arrays).
    """
    units = np.asarray(units, dtype=np.float64)
    res = residuals(pred_keypoints, gt_keypoints, schema, units, frame)
    names = get_schema(schema).names
    return dict(
        name=name or schema,
        schema=schema,
        frame=frame,
        people=int(np.isfinite(units).sum()),
        joints=joint_statistics(res, names),
        residuals=res,
        mean_pose=mean_pose(gt_keypoints, schema, units, frame),
    )


def analyse_predictions(
    gt: Any,
    preds: Any,
    unit: str = "torso",
    frame: str = "body",
    name: str = "",
    translator: Any = None,
    box_mode: str | None = None,
    match_method: str = "oks",
    match_threshold: float | None = None,
) -> dict[str, Any]:
    """:func:`analyse` a model's predictions (:class:`~hpefast.translate.pairs.Predictions`, any schema) on a
    dataset (:class:`~hpefast.translate.pairs.GroundTruth`): the predictions are matched to the people, put
    into the dataset's schema (plain mapping, so only shared joints have residuals; or ``translator``), and
    compared with the labels. Adds ``unit``, ``src``, ``matched`` and ``gt_people`` to the result."""
    from hpefast.translate._schema import index_map, map_array
    from hpefast.translate.pairs import match, prediction_boxes

    gi, pi = match(gt, preds, match_method, match_threshold)
    if translator is not None:
        if (translator.src, translator.dst) != (preds.schema, gt.schema):
            raise ValueError(
                f"the translator maps {translator.src!r} -> {translator.dst!r}, "
                f"not {preds.schema!r} -> {gt.schema!r}"
            )
        boxes, _ = prediction_boxes(preds, box_mode or translator.meta.get("box_mode", "auto"))
        kp = translator.predict(preds.keypoints[pi], boxes[pi])
    else:
        kp = map_array(preds.keypoints[pi], preds.schema, gt.schema)
        kp[:, index_map(preds.schema, gt.schema) < 0, :2] = np.nan  # joints the model lacks: no residual
    g = gt.keypoints[gi]
    units = person_units(
        g,
        gt.schema,
        unit,
        boxes=gt.boxes[gi],
        area=gt.area[gi],
        headbox=None if gt.headbox is None else gt.headbox[gi],
    )
    out = analyse(kp, g, gt.schema, units, frame, name)
    out.update(unit=unit, src=preds.schema, matched=len(gi), gt_people=len(gt))
    return out
