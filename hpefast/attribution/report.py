"""Writing attribution results: PoseIG's ``idx.json`` / ``epe.json`` / ``j2j.json`` layout, CSV summaries,
overlays and plots (``hpefast attribute``).

Layout (``lib/poseig_tools/data_util.py`` ``IG_DB`` and ``lib/core/function.py`` in QY-H00/PoseIG-Template),
keyed by the running sample number as a string:

- ``idx.json``: ``{"0": {"DI": [J], "FI": [J], "LI": [J], "weight": [J]}, ...}``, indices rounded to 3
  decimals and multiplied by the joint's weight (0 for unlabelled joints), as the template records them.
- ``epe.json``: ``{"0": {"EPE": [J], "weight": [J]}, ...}``: soft-argmax prediction against the ground
  truth in heatmap pixels, times the weight (the template names this file ``epe_json``).
- ``j2j.json``: ``{"J2J": {"<sample*J*J + a*J + c>": [sample, a, c]}}``: joint inversions (epsilon 10
  input pixels).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hpefast._io import atomic_path, atomic_write_bytes, atomic_write_text

__all__ = ["AttributionLog"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save_fig(fig: Any, path: Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=90)
    finally:
        _pyplot().close(fig)
    return path


def _r3(values: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in np.asarray(values, dtype=np.float64)]


class AttributionLog:
    """Collects per-sample indices and writes the files of one run.

    Args:
        out: output folder (created).
        joint_names: names of the J attributed joints, in order.
    """

    def __init__(self, out: str | os.PathLike, joint_names: Sequence[str]) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.names = list(joint_names)
        self.idx: dict[str, dict[str, list[float]]] = {}
        self.epe: dict[str, dict[str, list[float]]] = {}
        self.j2j: dict[str, list[int]] = {}
        self.rows: list[dict[str, Any]] = []
        self.di: list[np.ndarray] = []
        self.fi: list[np.ndarray] = []
        self.li: list[np.ndarray] = []
        self.epe_px: list[np.ndarray] = []
        self.ri: list[np.ndarray] = []
        self.weights: list[np.ndarray] = []
        self.inversions: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(
        self,
        *,
        di: np.ndarray,
        fi: np.ndarray,
        li: np.ndarray,
        ri: np.ndarray,
        epe_hm: np.ndarray,
        epe_px: np.ndarray,
        weight: np.ndarray,
        inverted: np.ndarray,
        meta: dict[str, Any],
    ) -> int:
        """Record one sample (arrays [J], ri [J, J], inverted [J, J] bool); returns its number."""
        k = len(self.rows)
        w = np.asarray(weight, dtype=np.float64)
        self.idx[str(k)] = {"DI": _r3(di * w), "FI": _r3(fi * w), "LI": _r3(li * w), "weight": _r3(w)}
        self.epe[str(k)] = {"EPE": _r3(epe_hm * w), "weight": _r3(w)}
        j = len(self.names)
        for a, c in zip(*np.nonzero(inverted)):
            self.j2j[str(k * j * j + int(a) * j + int(c))] = [k, int(a), int(c)]
        self.di.append(np.asarray(di, np.float64))
        self.fi.append(np.asarray(fi, np.float64))
        self.li.append(np.asarray(li, np.float64))
        self.epe_px.append(np.asarray(epe_px, np.float64))
        self.ri.append(np.asarray(ri, np.float64))
        self.weights.append(w)
        self.inversions.append(np.asarray(inverted, bool).sum(1))
        self.rows.append({"sample": k, **meta})
        return k

    # --- summaries ------------------------------------------------------------------------------------
    def per_joint(self) -> list[dict[str, Any]]:
        """Per-joint means over the samples where the joint is labelled."""
        w = np.stack(self.weights) > 0  # [N, J]
        out = []
        for j, name in enumerate(self.names):
            m = w[:, j]
            n = int(m.sum())

            def mean(values: list[np.ndarray], j: int = j, m: np.ndarray = m, n: int = n) -> float:
                return float(np.stack(values)[m, j].mean()) if n else float("nan")

            out.append(
                {
                    "joint": j,
                    "name": name,
                    "labelled": n,
                    "DI": mean(self.di),
                    "FI": mean(self.fi),
                    "LI": mean(self.li),
                    "EPE_px": mean(self.epe_px),
                    "inversions": int(np.stack(self.inversions)[m, j].sum()) if n else 0,
                }
            )
        return out

    def mean_ri(self) -> np.ndarray:
        """[J, J] mean relation index over samples where both joints are labelled (NaN where none)."""
        w = np.stack(self.weights) > 0
        both = (w[:, :, None] & w[:, None, :]).astype(np.float64)
        ri = np.stack(self.ri)
        count = both.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, (ri * both).sum(0) / count, np.nan)

    # --- files ----------------------------------------------------------------------------------------
    @staticmethod
    def _csv(rows: list[dict[str, Any]]) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})
        return buf.getvalue()

    def write(self, plots: bool = True) -> list[Path]:
        """Write idx.json, epe.json, j2j.json, per_joint.csv, samples.csv, ri.csv (+ plots); returns paths."""
        if not self.rows:
            raise ValueError("no samples were attributed: nothing to write")
        o = self.out
        written = [
            atomic_write_text(o / "idx.json", json.dumps(self.idx)),
            atomic_write_text(o / "epe.json", json.dumps(self.epe)),
            atomic_write_text(o / "j2j.json", json.dumps({"J2J": self.j2j})),
            atomic_write_text(o / "per_joint.csv", self._csv(self.per_joint())),
            atomic_write_text(o / "samples.csv", self._csv(self.rows)),
        ]
        ri = self.mean_ri()
        ri_rows = [
            {"joint": n, **{m: float(v) for m, v in zip(self.names, row)}} for n, row in zip(self.names, ri)
        ]
        written.append(atomic_write_text(o / "ri.csv", self._csv(ri_rows)))
        if plots:
            written += [self.plot_indices(o / "indices.png"), self.plot_ri(o / "ri.png")]
        return written

    def plot_indices(self, path: Path) -> Path:
        """DI, FI, LI per joint: bars of the mean with the standard deviation."""
        plt = _pyplot()
        w = np.stack(self.weights) > 0
        fig, axes = plt.subplots(3, 1, figsize=(max(6.0, 0.45 * len(self.names) + 2), 8), sharex=True)
        x = np.arange(len(self.names))
        for ax, key, values, ref in zip(
            axes, ("DI", "FI", "LI"), (self.di, self.fi, self.li), (None, 1.0, 1.0)
        ):
            v = np.stack(values)
            mean = np.array([v[w[:, j], j].mean() if w[:, j].any() else np.nan for j in x])
            std = np.array([v[w[:, j], j].std() if w[:, j].any() else np.nan for j in x])
            ax.bar(x, mean, yerr=std, color="tab:blue", alpha=0.8, capsize=2)
            if ref is not None:
                ax.axhline(ref, color="grey", lw=0.8, ls="--")
            ax.set_ylabel(key)
        axes[0].set_title(f"PoseIG indices per joint ({len(self.rows)} samples; mean +- std)")
        axes[-1].set_xticks(x, self.names, rotation=60, ha="right", fontsize=8)
        fig.tight_layout()
        return _save_fig(fig, path)

    def plot_ri(self, path: Path) -> Path:
        """The mean relation-index matrix (row: attributed joint, column: ground-truth heatmap)."""
        plt = _pyplot()
        ri = self.mean_ri()
        j = len(self.names)
        fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * j + 2), max(4.5, 0.35 * j + 1.5)))
        im = ax.imshow(ri, cmap="viridis")
        ax.set_xticks(range(j), self.names, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(j), self.names, fontsize=7)
        ax.set_xlabel("ground-truth heatmap of joint")
        ax.set_ylabel("attribution map of joint")
        ax.set_title("mean relation index (RI)")
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        return _save_fig(fig, path)


def overlay(
    crop_bgr: np.ndarray,
    maps: np.ndarray,
    names: Sequence[str],
    gt: np.ndarray,
    pred: np.ndarray,
    weight: np.ndarray,
    path: Path,
    cell: tuple[int, int] = (192, 256),
) -> Path:
    """One PNG per sample: each joint's map (jet, half transparent) on the crop, the ground truth as a
    white circle and the soft-argmax prediction as a red cross; tiles of unlabelled joints are dimmed.

    Args:
        crop_bgr: [H, W, 3] uint8; maps: [J, H, W] in [0, 1]; gt, pred: [J, 2] crop pixels; weight: [J].
    """
    from hpefast.visualize import make_grid

    tiles = []
    for j, name in enumerate(names):
        heat = cv2.applyColorMap((np.clip(maps[j], 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
        tile = cv2.addWeighted(crop_bgr, 0.5, heat, 0.5, 0)
        if weight[j] > 0:
            g = tuple(int(round(v)) for v in gt[j])
            p = tuple(int(round(v)) for v in pred[j])
            cv2.circle(tile, g, 3, (255, 255, 255), 1, cv2.LINE_AA)
            cv2.drawMarker(tile, p, (0, 0, 255), cv2.MARKER_CROSS, 7, 1, cv2.LINE_AA)
        else:
            tile = (tile * 0.4).astype(np.uint8)
        big = cv2.resize(tile, cell, interpolation=cv2.INTER_NEAREST)
        cv2.putText(big, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(big)
    grid = make_grid(tiles, columns=min(6, len(tiles)), cell=cell)
    ok, png = cv2.imencode(".png", grid)
    if not ok:
        raise ValueError(f"could not encode the overlay {path}")
    return atomic_write_bytes(path, png.tobytes())
