"""``hpefast study downstream``: does a probabilistic 2D pose estimator help 2D-to-3D lifting?

Pipeline (everything trained here, on the synthetic Human3.6M of :func:`hpefast.lifting.write_h36m`):

1. Data: 3D motion + the real H36M cameras -> npz (VideoPose3D layout) and rendered frames (train
   subjects S1, S5, S6, S7, S8; test S9, S11; ``--quick``: S1 / S9, three actions).
2. One lifter (Martinez single-frame MLP, ``tiny-synthetic-mlp`` preset of ``hpefast lift``) trained on
   ground-truth 2D of the training subjects (every 3D frame, flip augmentation).
3. Two 2D models on crops of the rendered training frames (ground-truth boxes, 64 x 64 crops), same
   architecture (a micro ViTPose, ``pose2d.MICRO_VIT``), data order, steps and optimiser:
   - deterministic: heatmap MSE, DARK-UDP decoding;
   - probabilistic: the same + a latent bottleneck and a covariance head (TIC-TAC), heatmap MSE +
     ``prob_weight`` x (full-covariance NLL | TIC | ...) on the soft-argmax means.
4. On the rendered test frames, the same lifter lifts: ground-truth 2D; the deterministic 2D; the
   probabilistic mean; the average of the 3D lifts of ``samples`` 2D hypotheses drawn from the
   predicted Gaussian (covariance-aware lifting); and the best of those hypotheses per frame (an oracle
   that knows the 3D ground truth: an upper bound of what a multi-hypothesis method could pick). Control:
   the same with isotropic Gaussians of the same mean and total spread per frame (does the structure of
   the covariance matter, or only its size?).
5. Written to ``out``: ``predictions.npz`` (all 2D inputs, covariances, hypotheses and 3D lifts of the
   test frames; image pixels and millimetres), ``results.json`` / ``results.md`` (MPJPE and P-MPJPE per
   input kind and per joint; 2D error, NLL, TAC and 95%-ellipse coverage of the probabilistic model),
   ``uncertainty_vs_error.png`` (per joint: predicted 2D spread vs 3D error, rank correlations), the lifter.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpefast._io import atomic_path, atomic_write_text

__all__ = ["DownstreamConfig", "add_study_arguments", "run_downstream", "run_study"]

KINDS = (
    "gt",
    "deterministic",
    "probabilistic_dark",
    "probabilistic_mean",
    "probabilistic_sampled",
    "probabilistic_best_of_n",
    "isotropic_sampled",
    "isotropic_best_of_n",
)
KIND_LABELS = {
    "gt": "ground-truth 2D",
    "deterministic": "deterministic 2D model",
    "probabilistic_dark": "probabilistic model, heatmaps decoded by DARK-UDP",
    "probabilistic_mean": "probabilistic model, mean (soft-argmax)",
    "probabilistic_sampled": "probabilistic model, mean of lifted samples",
    "probabilistic_best_of_n": "probabilistic model, best of N samples (oracle)",
    "isotropic_sampled": "control: isotropic samples of equal spread, mean of lifts",
    "isotropic_best_of_n": "control: isotropic samples of equal spread, best of N (oracle)",
}


@dataclass
class DownstreamConfig:
    """Settings of the study (defaults: the full CPU run of a few minutes; :meth:`quick` for tests)."""

    out: str
    data: str | None = None  # an existing write_h36m folder with rendered frames; None: write under out/data
    seed: int = 0
    train_subjects: list[str] = field(default_factory=lambda: ["S1", "S5", "S6", "S7", "S8"])
    test_subjects: list[str] = field(default_factory=lambda: ["S9", "S11"])
    actions: list[str] | None = None  # None = all 15
    num_frames: int = 150  # per sequence (50 fps), all used by the lifter
    render_frames: int = 12  # rendered frames per (sequence, camera)
    image_scale: float = 0.25
    crop: int = 64
    steps_2d: int = 600
    batch_2d: int = 32
    lr_2d: float = 1e-3
    prob_loss: str = "nll"
    prob_weight: float = 1e-3
    beta: float = 20.0
    samples: int = 20
    lift_epochs: int = 6
    quick: bool = False

    @classmethod
    def quick_config(cls, out: str, **kw: Any) -> DownstreamConfig:
        """A tiny run for tests (a minute on 2 CPU cores): one train / one test subject, 3 actions."""
        base = dict(
            out=out,
            train_subjects=["S1"],
            test_subjects=["S9"],
            actions=["Walking", "Sitting", "Greeting"],
            num_frames=30,
            render_frames=4,
            steps_2d=30,
            batch_2d=16,
            samples=8,
            lift_epochs=2,
            quick=True,
        )
        base.update(kw)
        return cls(**base)

    def check(self) -> None:
        """InputError (a ValueError) naming the first bad setting."""
        from hpefast.errors import InputError
        from hpefast.probabilistic.model import LOSS_KINDS

        if self.prob_loss not in LOSS_KINDS or self.prob_loss == "mse":
            raise InputError(
                f"prob_loss must be one of {[k for k in LOSS_KINDS if k != 'mse']}, got {self.prob_loss!r}"
            )
        for name in ("num_frames", "render_frames", "steps_2d", "batch_2d", "samples", "lift_epochs"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.prob_weight > 0 and self.beta > 0):
            raise InputError(f"prob_weight and beta must be > 0, got {self.prob_weight}, {self.beta}")
        if self.crop < 16 or self.crop % 8:
            raise InputError(f"crop must be a multiple of 8 and >= 16, got {self.crop}")
        if not self.train_subjects or not self.test_subjects:
            raise InputError("train_subjects and test_subjects must not be empty")
        overlap = set(self.train_subjects) & set(self.test_subjects)
        if overlap:
            raise InputError(f"subjects {sorted(overlap)} are both train and test subjects")


# ------------------------------------------------------------------------------------------ data
@dataclass
class _Split:
    """Rendered frames of one split joined with the npz data."""

    files: list[Path]
    kp_img: np.ndarray  # [N, J, 2] ground-truth 2D, rendered-image pixels
    pose3d: np.ndarray  # [N, J, 3] camera frame, root-relative, millimetres
    res: np.ndarray  # [N, 2] full-resolution (res_w, res_h) of the camera
    scale: np.ndarray  # [N] rendered size / full size
    action: list[str]


def _load_split(root: Path, split: str, subjects: list[str], actions: list[str] | None) -> _Split:
    from hpefast.lifting import image_coordinates, load_sequences

    ann = root / "annotations" / f"h36m_{split}.json"
    if not ann.is_file():
        raise FileNotFoundError(f"{ann} not found: data must be written by write_h36m with render_frames > 0")
    doc = json.loads(ann.read_text())
    try:
        seqs = load_sequences(root / "data_3d_h36m.npz", root / "data_2d_h36m_gt.npz", subjects, actions)
    except ValueError as exc:  # a subject / action / camera the data does not have: the user's input
        from hpefast.errors import InputError

        raise InputError(f"{root}: {exc}") from None
    by_key = {(s.subject, s.action, s.camera): s for s in seqs}
    files, kp, pose, res, scale, act = [], [], [], [], [], []
    for im in doc["images"]:
        seq = by_key.get((im["subject"], im["action"], int(im["camera"])))
        if seq is None:
            continue
        cam = seq.camera_params
        s = float(im["width"]) / cam.res_w
        f = int(im["frame"])
        full = image_coordinates(seq.poses_2d[f].astype(np.float64), cam.res_w, cam.res_h)
        files.append(root / "images" / im["file_name"])
        kp.append((full + 0.5) * s - 0.5)
        pose.append(seq.poses_3d[f].astype(np.float64) * 1000.0)
        res.append((cam.res_w, cam.res_h))
        scale.append(s)
        act.append(seq.action)
    if not files:
        raise ValueError(f"{ann}: no rendered frames of subjects {subjects} (actions {actions or 'all'})")
    return _Split(files, np.stack(kp), np.stack(pose), np.array(res, np.float64), np.array(scale), act)


def _to_lifter_input(kp_img: np.ndarray, split: _Split) -> np.ndarray:
    """Rendered-image pixels [..., N, J, 2] -> the lifter's normalised screen coordinates."""
    s = split.scale[:, None, None]
    w, h = split.res[:, 0][:, None, None], split.res[:, 1][:, None, None]
    full = (kp_img + 0.5) / s - 0.5
    return np.concatenate([full[..., :1] / w * 2 - 1, full[..., 1:] / w * 2 - h / w], axis=-1)


def _lift(model: Any, x_norm: np.ndarray) -> np.ndarray:
    """[..., J, 2] normalised 2D -> [..., J, 3] root-relative millimetres (flip test)."""
    from hpefast.lifting.train import predict_sequence

    shape = x_norm.shape
    y = predict_sequence(model, x_norm.reshape(-1, shape[-2], 2).astype(np.float32), flip_test=True)
    return y.reshape(*shape[:-1], 3).astype(np.float64) * 1000.0


# ------------------------------------------------------------------------------------------ study
def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def _plot(path: Path, unc: np.ndarray, err: np.ndarray, names: list[str], rho: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    j = unc.shape[1]
    cols = 6
    rows = math.ceil((j + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.6 * rows), squeeze=False)
    for k in range(rows * cols):
        ax = axes[k // cols][k % cols]
        if k < j:
            ax.scatter(unc[:, k], err[:, k], s=4, alpha=0.4)
            ax.set_title(f"{names[k]}  rho={rho[k]:.2f}", fontsize=8)
        elif k == j:
            ax.scatter(unc.mean(0), err.mean(0), s=12)
            for i in range(j):
                ax.annotate(str(i), (unc[:, i].mean(), err[:, i].mean()), fontsize=6)
            ax.set_title("per-joint means", fontsize=8)
        else:
            ax.axis("off")
            continue
        ax.tick_params(labelsize=6)
    fig.supxlabel("predicted 2D spread sqrt(tr Sigma_j) [px]")
    fig.supylabel("3D joint error of the lifted mean [mm]")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def _table_md(res: dict[str, Any]) -> str:
    lines = [
        f"# hpefast study downstream ({'quick' if res['config']['quick'] else 'full'} run)",
        "",
        res["what"],
        "",
        "| 2D input | MPJPE (mm) | P-MPJPE (mm) | 2D error (px) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for k in KINDS:
        r = res["kinds"][k]
        e2 = "-" if r["error_2d_px"] is None else f"{r['error_2d_px']:.2f}"
        lines.append(f"| {KIND_LABELS[k]} | {r['mpjpe']:.1f} | {r['p_mpjpe']:.1f} | {e2} |")
    p = res["probabilistic_2d"]
    lines += [
        "",
        f"Probabilistic 2D model on the test frames ({p['loss']} loss): NLL {p['nll']:.2f} nats/pose, "
        f"TAC {p['tac']:.3f} px vs its plain error {p['error_2d_px']:.3f} px, "
        f"95% ellipse coverage {100 * p['coverage95']:.1f}% (ideal 95%). "
        f"Rank correlation of the predicted 2D spread and the 3D error of the lifted mean: within each joint "
        f"over frames (median over joints) {p['median_rho']:.2f}; across joints (mean spread vs mean error) "
        f"{p['rho_across_joints']:.2f}.",
        "",
        "Per-joint MPJPE (mm):",
        "",
        "| joint | " + " | ".join(KINDS) + " | rho(spread, 3D err) |",
        "| --- | " + " | ".join("---:" for _ in KINDS) + " | ---: |",
    ]
    for i, name in enumerate(res["joints"]):
        vals = " | ".join(f"{res['kinds'][k]['per_joint_mpjpe'][i]:.1f}" for k in KINDS)
        lines.append(f"| {name} | {vals} | {p['rho_per_joint'][i]:.2f} |")
    lines.append("")
    return "\n".join(lines)


def run_downstream(cfg: DownstreamConfig, log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Run the study (see the module docstring); returns the results dict also written to ``cfg.out``."""
    import torch

    from hpefast.keypoints.h36m import H36M_NAMES
    from hpefast.lifting import H36M_ACTIONS, mpjpe, p_mpjpe, write_h36m
    from hpefast.lifting.config import load_lift_config
    from hpefast.lifting.train import train_lifter
    from hpefast.probabilistic.metrics import gaussian_nll, tac
    from hpefast.probabilistic.pose2d import (
        boxes_from_keypoints,
        joint_uncertainty,
        make_crops,
        predict_2d,
        sample_hypotheses,
        train_2d,
    )

    cfg.check()
    say = log or (lambda _m: None)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    # 1. data
    t = time.perf_counter()
    if cfg.data is None:
        root = out / "data"
        say(f"writing synthetic Human3.6M with rendered frames to {root}")
        write_h36m(
            root,
            subjects=cfg.train_subjects + cfg.test_subjects,
            actions=H36M_ACTIONS if cfg.actions is None else cfg.actions,
            num_frames=cfg.num_frames,
            seed=cfg.seed,
            render_frames=cfg.render_frames,
            image_scale=cfg.image_scale,
        )
    else:
        root = Path(cfg.data)
        if not root.is_dir():
            raise FileNotFoundError(f"data folder {root} does not exist")
    train = _load_split(root, "train", cfg.train_subjects, cfg.actions)
    test = _load_split(root, "test", cfg.test_subjects, cfg.actions)
    timings["data_s"] = time.perf_counter() - t
    say(f"  {len(train.files)} training frames, {len(test.files)} test frames ({timings['data_s']:.0f}s)")

    # 2. the lifter, on ground-truth 2D of the training subjects
    t = time.perf_counter()
    lift_cfg = load_lift_config(
        "tiny-synthetic-mlp",
        [
            f"output_dir={out / 'lifter'}",
            f"data.root={root}",
            f"data.train_subjects={json.dumps(cfg.train_subjects)}",
            f"data.test_subjects={json.dumps(cfg.test_subjects)}",
            f"optim.epochs={cfg.lift_epochs}",
            f"seed={cfg.seed}",
            "device=cpu",
        ]
        + ([f"data.actions={json.dumps(cfg.actions)}"] if cfg.actions else []),
    )
    say("training the lifter (Martinez MLP) on ground-truth 2D")
    lift_result = train_lifter(lift_cfg)
    from hpefast.lifting.train import load_lifter

    lifter, _, _ = load_lifter(out / "lifter")
    timings["lifter_s"] = time.perf_counter() - t
    say(
        f"  lifter: MPJPE {lift_result.metrics['mpjpe_frames']:.1f} mm on all test frames "
        f"({timings['lifter_s']:.0f}s)"
    )

    # 3. crops and the two 2D models
    t = time.perf_counter()

    def reader(files: list[Path]) -> Callable[[int], np.ndarray]:
        import cv2

        def read(i: int) -> np.ndarray:
            img = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f"cannot read frame {files[i]}")
            return img

        return read

    tr_crops = make_crops(
        reader(train.files), boxes_from_keypoints(train.kp_img), cfg.crop, train.kp_img, len(train.files)
    )
    te_crops = make_crops(
        reader(test.files), boxes_from_keypoints(test.kp_img), cfg.crop, None, len(test.files)
    )
    timings["crops_s"] = time.perf_counter() - t
    models = {}
    for kind in ("deterministic", "probabilistic"):
        t = time.perf_counter()
        say(f"training the {kind} 2D model ({cfg.steps_2d} steps, batch {cfg.batch_2d})")
        models[kind] = train_2d(
            tr_crops,
            kind,
            cfg.steps_2d,
            cfg.batch_2d,
            cfg.lr_2d,
            cfg.seed,
            prob_loss=cfg.prob_loss,
            prob_weight=cfg.prob_weight,
            beta=cfg.beta,
            log=say,
        )
        timings[f"train_{kind}_s"] = time.perf_counter() - t

    # 4. predictions and lifting
    t = time.perf_counter()
    det_2d, _ = predict_2d(models["deterministic"], te_crops)
    prob_2d, cov_img = predict_2d(models["probabilistic"], te_crops, tic=cfg.prob_loss == "tic")
    prob_dark_2d, _ = predict_2d(models["probabilistic"], te_crops, decoder="dark_udp")
    assert cov_img is not None
    hyp = sample_hypotheses(prob_2d, cov_img, cfg.samples, cfg.seed)  # [S, N, J, 2]
    gt3d = test.pose3d
    lifted = {
        "gt": _lift(lifter, _to_lifter_input(test.kp_img, test)),
        "deterministic": _lift(lifter, _to_lifter_input(det_2d, test)),
        "probabilistic_dark": _lift(lifter, _to_lifter_input(prob_dark_2d, test)),
        "probabilistic_mean": _lift(lifter, _to_lifter_input(prob_2d, test)),
    }
    hyp3d = _lift(lifter, _to_lifter_input(hyp, test))  # [S, N, J, 3]
    # control: the same mean and total spread per frame, no structure (sigma^2 I, sigma^2 = tr(cov) / 2J)
    var = np.trace(cov_img, axis1=-2, axis2=-1) / cov_img.shape[-1]
    iso = sample_hypotheses(
        prob_2d, var[:, None, None] * np.eye(cov_img.shape[-1]), cfg.samples, cfg.seed + 1
    )
    iso3d = _lift(lifter, _to_lifter_input(iso, test))
    for name, h3 in (("probabilistic", hyp3d), ("isotropic", iso3d)):
        lifted[f"{name}_sampled"] = h3.mean(0)
        per_hyp = np.stack([mpjpe(h, gt3d) for h in h3])  # [S, N]
        best = per_hyp.argmin(0)
        lifted[f"{name}_best_of_n"] = h3[best, np.arange(len(best))]
    timings["predict_lift_s"] = time.perf_counter() - t

    inputs_2d = {
        "gt": None,
        "deterministic": det_2d,
        "probabilistic_dark": prob_dark_2d,
        "probabilistic_mean": prob_2d,
    }
    kinds: dict[str, Any] = {}
    for k in KINDS:
        pred = lifted[k]
        e2d = inputs_2d.get(k)
        kinds[k] = {
            "mpjpe": float(np.mean(mpjpe(pred, gt3d))),
            "p_mpjpe": float(np.mean(p_mpjpe(pred, gt3d))),
            "per_joint_mpjpe": np.linalg.norm(pred - gt3d, axis=-1).mean(0).tolist(),
            "error_2d_px": None if e2d is None else float(np.linalg.norm(e2d - test.kp_img, axis=-1).mean()),
        }
    # the probabilistic model's 2D distribution on the test frames
    mt, ct, gt2 = (torch.from_numpy(a) for a in (prob_2d, cov_img, test.kp_img))
    r = (gt2 - mt).reshape(len(mt), -1, 2)
    blocks = torch.stack([ct[:, 2 * j : 2 * j + 2, 2 * j : 2 * j + 2] for j in range(r.shape[1])], 1)
    maha = (r[..., None, :] @ torch.linalg.solve(blocks, r[..., None])).reshape(r.shape[:2])
    unc = joint_uncertainty(cov_img)
    err3 = np.linalg.norm(lifted["probabilistic_mean"] - gt3d, axis=-1)
    rho = [_spearman(unc[:, j], err3[:, j]) for j in range(unc.shape[1])]
    prob = {
        "loss": cfg.prob_loss,
        "nll": float(gaussian_nll(mt, ct, gt2, jitter=1e-9).mean()),
        "tac": float(tac(mt, ct, gt2, jitter=1e-9).mean()),
        "error_2d_px": kinds["probabilistic_mean"]["error_2d_px"],
        "coverage95": float((maha <= 5.991464547107979).double().mean()),  # chi2(2) 95% quantile
        "mean_spread_px": float(unc.mean()),
        "rho_per_joint": rho,
        "median_rho": float(np.nanmedian(rho)),
        # across joints (root excluded): do joints with larger predicted spread have larger 3D errors?
        "rho_across_joints": _spearman(unc.mean(0)[1:], err3.mean(0)[1:]),
    }
    _plot(out / "uncertainty_vs_error.png", unc, err3, list(H36M_NAMES), rho)
    timings["total_s"] = time.perf_counter() - t_start
    results = {
        "what": _what(cfg, len(train.files), len(test.files)),
        "config": asdict(cfg),
        "joints": list(H36M_NAMES),
        "frames": {
            "train_2d": len(train.files),
            "test": len(test.files),
            "lifter_train": lift_result.metrics["train_frames"],
        },
        "lifter_gt2d_all_test_frames": {
            "mpjpe": lift_result.metrics["mpjpe_frames"],
            "p_mpjpe": lift_result.metrics["p_mpjpe_frames"],
        },
        "kinds": kinds,
        "probabilistic_2d": prob,
        "timings": timings,
        "machine": _machine(),
    }
    with atomic_path(out / "predictions.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            gt_2d=test.kp_img,
            deterministic_2d=det_2d,
            probabilistic_2d=prob_2d,
            probabilistic_dark_2d=prob_dark_2d,
            probabilistic_cov=cov_img,
            hypotheses_2d=hyp,
            hypotheses_3d=hyp3d,
            isotropic_hypotheses_3d=iso3d,
            gt_3d=gt3d,
            **{f"lifted_{k}": v for k, v in lifted.items()},
        )
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "results.md", _table_md(results))
    say(f"wrote results.md, results.json and uncertainty_vs_error.png to {out} ({timings['total_s']:.0f}s)")
    return results


def _what(cfg: DownstreamConfig, n_train: int, n_test: int) -> str:
    return (
        f"Synthetic Human3.6M (hpefast.lifting.write_h36m, seed {cfg.seed}): train subjects "
        f"{', '.join(cfg.train_subjects)}, test subjects {', '.join(cfg.test_subjects)}, actions "
        f"{'all 15' if cfg.actions is None else ', '.join(cfg.actions)}, {cfg.num_frames} frames per "
        f"sequence, "
        f"{cfg.render_frames} rendered frames per sequence and camera at {cfg.image_scale} of full size "
        f"({n_train} training / {n_test} test frames). Lifter: Martinez MLP (tiny-synthetic-mlp, "
        f"{cfg.lift_epochs} epochs) trained on ground-truth 2D of every training frame. 2D models: micro "
        f"ViTPose on {cfg.crop}x{cfg.crop} crops of ground-truth boxes, {cfg.steps_2d} steps of batch "
        f"{cfg.batch_2d} each (same data order); the probabilistic one adds a 64-d latent and a full "
        f"{2 * 17}x{2 * 17} Cholesky covariance head trained with heatmap MSE + {cfg.prob_weight} x "
        f"{cfg.prob_loss} on soft-argmax means (beta {cfg.beta}). Sampling: {cfg.samples} hypotheses "
        f"per frame."
    )


def _machine() -> str:
    import os
    import platform

    import torch

    return (
        f"{platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}, {platform.python_version()}"
    )


# ------------------------------------------------------------------------------------------ CLI hooks
def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``hpefast study downstream``."""
    parser.add_argument("--out", required=True, help="output folder (results.md, results.json, plot, lifter)")
    parser.add_argument("--data", default=None, help="existing write_h36m folder with rendered frames")
    parser.add_argument("--quick", action="store_true", help="tiny run for tests (about a minute on CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps-2d", type=int, default=None, help="training steps of each 2D model")
    parser.add_argument("--samples", type=int, default=None, help="2D hypotheses per frame")
    parser.add_argument(
        "--prob-loss",
        default="nll",
        choices=["nll", "tic", "faithful", "diagonal", "beta_nll"],
        help="probabilistic 2D model's loss on the soft-argmax means",
    )
    parser.add_argument("--lift-epochs", type=int, default=None)
    parser.add_argument("--prob-weight", type=float, default=None, help="weight of the NLL-type loss (1e-3)")
    parser.add_argument("--beta", type=float, default=None, help="soft-argmax inverse temperature (20)")


def run_study(args: argparse.Namespace) -> int:
    """``hpefast study downstream``: build the config from ``args`` and run."""
    kw: dict[str, Any] = {"seed": args.seed, "data": args.data, "prob_loss": args.prob_loss}
    for name in ("steps_2d", "samples", "lift_epochs", "prob_weight", "beta"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    cfg = (
        DownstreamConfig.quick_config(args.out, **kw) if args.quick else DownstreamConfig(out=args.out, **kw)
    )
    run_downstream(cfg)
    return 0
