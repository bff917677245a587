"""Pictures of :func:`hpefast.translate.analysis.analyse` results (matplotlib, Agg backend, PNG files written
atomically): per-joint residual histograms with the fitted normal, per-joint QQ plots against the normal,
and the per-joint biases drawn as arrows (with confidence ellipses) on the dataset's mean skeleton."""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpefast.translate._schema import get_schema
from hpefast.translate.analysis import normal_quantiles

AXIS_COLOURS = {"x": "tab:blue", "y": "tab:orange"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> Path:
    from hpefast._io import atomic_path

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=90)
    finally:
        _pyplot().close(fig)
    return Path(path)


def _grid(k: int, cols: int = 6) -> tuple[int, int]:
    cols = min(cols, k)
    return math.ceil(k / cols), cols


def _with_data(result: dict[str, Any]) -> tuple[list[int], list[dict[str, Any]]]:
    """Indices and statistics of the joints with at least 3 residuals (others have nothing to draw)."""
    keep = [k for k, j in enumerate(result["joints"]) if j["n"] >= 3]
    if not keep:
        raise ValueError(f"{result['name']}: no joint has residuals to draw (did any prediction match?)")
    return keep, [result["joints"][k] for k in keep]


def _axis_labels(frame: str) -> tuple[str, str]:
    return ("x (person's left)", "y (down the torso)") if frame == "body" else ("x (image)", "y (image)")


def plot_histograms(result: dict[str, Any], path: str | os.PathLike, bins: int = 40) -> Path:
    """One panel per joint: histograms of the x and y residuals (density) with the normal of the same mean
    and standard deviation, titled with n and the normality test's p-value per axis."""
    plt = _pyplot()
    keep, joints = _with_data(result)
    res = result["residuals"][:, keep]
    rows, cols = _grid(len(joints))
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.9 * cols, 2.3 * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(joints) :]:
        ax.axis("off")
    for k, (ax, stats) in enumerate(zip(axes.flat, joints)):
        r = res[:, k]
        r = r[np.isfinite(r).all(axis=1)]
        lo, hi = np.quantile(r, 0.005), np.quantile(r, 0.995)
        pad = 0.1 * (hi - lo) + 1e-9
        edges = np.linspace(lo - pad, hi + pad, bins + 1)
        grid = np.linspace(edges[0], edges[-1], 200)
        for i, axis in enumerate(("x", "y")):
            ax.hist(
                r[:, i],
                bins=edges,
                density=True,
                histtype="stepfilled",
                alpha=0.45,
                color=AXIS_COLOURS[axis],
                label=axis,
            )
            mu, sd = r[:, i].mean(), r[:, i].std(ddof=1)
            if sd > 0:
                ax.plot(
                    grid,
                    np.exp(-0.5 * ((grid - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)),
                    color=AXIS_COLOURS[axis],
                    lw=1.2,
                )
        ax.axvline(0.0, color="k", lw=0.6, ls=":")
        p = stats["normality"]
        ax.set_title(
            f"{stats['joint']} (n={stats['n']})\np x={p['x']['p']:.2g}  y={p['y']['p']:.2g}", fontsize=8
        )
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7, loc="upper right")
    unit = result.get("unit", "unit")
    fig.suptitle(
        f"{result['name']}: residuals (pred - gt) / {unit}, {result['frame']} frame; "
        "curves: normal fit; p: D'Agostino-Pearson",
        fontsize=10,
    )
    return _save(fig, path)


def plot_qq(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """One panel per joint: quantiles of the standardised x and y residuals against standard normal
    quantiles, with the identity line (points on it = normal; S-shapes = heavy or light tails)."""
    plt = _pyplot()
    keep, joints = _with_data(result)
    res = result["residuals"][:, keep]
    rows, cols = _grid(len(joints))
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.5 * cols, 2.5 * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(joints) :]:
        ax.axis("off")
    lim = 4.0
    for k, (ax, stats) in enumerate(zip(axes.flat, joints)):
        r = res[:, k]
        r = r[np.isfinite(r).all(axis=1)]
        ax.plot([-lim, lim], [-lim, lim], color="k", lw=0.7)
        q = normal_quantiles(len(r))
        for i, axis in enumerate(("x", "y")):
            sd = r[:, i].std(ddof=1)
            z = np.sort((r[:, i] - r[:, i].mean()) / sd) if sd > 0 else np.zeros(len(r))
            ax.plot(q, np.clip(z, -2 * lim, 2 * lim), ".", ms=2, color=AXIS_COLOURS[axis], label=axis)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-1.5 * lim, 1.5 * lim)
        ax.set_title(f"{stats['joint']} (n={stats['n']})", fontsize=8)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7, loc="upper left", markerscale=4)
    fig.suptitle(f"{result['name']}: QQ plots of standardised residuals vs N(0, 1)", fontsize=10)
    return _save(fig, path)


def _ellipse(cov: np.ndarray, n: int = 60) -> np.ndarray:
    """[n, 2] points of the 1-sigma ellipse of the 2x2 covariance ``cov`` around the origin."""
    w, v = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)
    return (circle * np.sqrt(np.maximum(w, 0))) @ v.T


def plot_bias(results: Sequence[dict[str, Any]], path: str | os.PathLike, gain: float | None = None) -> Path:
    """One panel per result: the mean labelled pose (the schema's skeleton, grey), an arrow from each joint
    along its bias (mean residual) and, around the arrow's head, the 95 % confidence ellipse of that mean
    (an ellipse that covers the joint means no significant bias), all magnified by the same ``gain``
    (default: the largest bias is drawn 0.35 units long) so that panels compare."""
    plt = _pyplot()
    results = list(results)
    if not results:
        raise ValueError("plot_bias: no results to draw")
    if gain is None:
        biggest = max(
            (np.hypot(*j["mean"]) for r in results for j in r["joints"] if np.all(np.isfinite(j["mean"]))),
            default=0.0,
        )
        gain = 0.35 / biggest if biggest > 0 else 1.0
    width = 5.2 * len(results)
    fig, axes = plt.subplots(1, len(results), figsize=(width, 6.0), squeeze=False, layout="constrained")
    for ax, r in zip(axes.flat, results):
        pose = np.asarray(r["mean_pose"])
        skeleton = get_schema(r["schema"]).skeleton
        for a, b in skeleton:
            if np.isfinite(pose[[a, b]]).all():
                ax.plot(pose[[a, b], 0], pose[[a, b], 1], color="0.6", lw=2.0, zorder=1)
        for k, j in enumerate(r["joints"]):
            if not np.isfinite(pose[k]).all():
                continue
            ax.plot(*pose[k], "o", color="0.3", ms=4, zorder=2)
            mean = np.asarray(j["mean"])
            if not np.isfinite(mean).all():
                continue
            tip = pose[k] + gain * mean
            ax.annotate(
                "",
                xy=tip,
                xytext=pose[k],
                zorder=3,
                arrowprops=dict(arrowstyle="-|>", color="tab:red", lw=1.6, mutation_scale=10),
            )
            cov = np.asarray(j["cov"])
            if np.isfinite(cov).all() and j["n"] > 1:
                # 95 % confidence region of the mean: covariance / n, radius sqrt(chi2_2(0.95)) = 2.448
                e = tip + gain * 2.448 * _ellipse(cov / j["n"])
                ax.plot(e[:, 0], e[:, 1], color="tab:red", lw=0.7, alpha=0.6, zorder=3)
            ax.text(*(pose[k] + 0.03), j["joint"], fontsize=6, color="0.25", zorder=4)
        ax.set_aspect("equal")
        ax.invert_yaxis()
        xl, yl = _axis_labels(r["frame"])
        ax.set_xlabel(xl, fontsize=8)
        ax.set_ylabel(yl, fontsize=8)
        ax.set_title(f"{r['name']} ({r['people']} people)", fontsize=10)
        ax.tick_params(labelsize=7)
    unit = results[0].get("unit", "unit")
    title = f"per-joint bias (mean of pred - gt) x{gain:.3g}, with 95% confidence ellipses; units: {unit}"
    # constrained layout makes room above a suptitle but never narrows it: wrap it to the figure's width
    # (a 10 pt character is ~6.5 pt wide on average), else one panel cuts it off at both edges.
    fig.suptitle(textwrap.fill(title, width=max(20, int(width * 72 / 6.5))), fontsize=10)
    return _save(fig, path)
