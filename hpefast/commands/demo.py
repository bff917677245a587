"""``hpefast demo [--out DIR]``: the whole pipeline on a laptop CPU in minutes.

1. Writes synthetic COCO-layout and MPII-layout datasets in their real file formats
   (``hpefast.data.synthetic``), with separate held-out validation images.
2. Trains one tiny ViTPose on both at once in the ``union21`` layout (COCO-17 + 4 MPII joints); targets are
   made by the encode kernel, the loss is the masked union loss (each dataset supervises only its joints).
3. Scores the held-out images in each dataset's own protocol: COCO keypoint AP (OKS, hpefast.evaluation)
   and MPII PCKh@0.5, with flip test and DARK-UDP decoding.
4. Writes ``DIR/metrics.json``, the model (``DIR/model``, hpefast format), the training state
   (``DIR/checkpoints/last.pt``), ``DIR/log.jsonl``, ``DIR/training_curve.png``, prediction overlays
   (``DIR/predictions_coco.png``, ``DIR/predictions_mpii.png``) and, when ONNX export is available,
   ``DIR/model.onnx``, checked in ONNX Runtime against torch on held-out crops (``onnx_max_abs_diff``,
   ``onnx_max_kpt_diff_px`` in metrics.json).

An untrained model scores about 0 AP; the full demo reaches COCO AP >= 0.6 and MPII PCKh >= 80 on a
2-core CPU within 10 minutes. ``--quick`` is a seconds-long smoke run (tiny data, no quality target).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpefast.errors import InputError


@dataclass(frozen=True)
class DemoSize:
    """Data and schedule of one demo size."""

    train_images: int  # per dataset
    val_images: int  # per dataset
    image_size: tuple[int, int]  # (W, H) of the synthetic images
    input_size: tuple[int, int]  # (W, H) of the model crops
    epochs: int
    batch_size: int
    lr: float
    warmup_iters: int
    milestones: tuple[int, ...]


SIZES = {
    "full": DemoSize(
        train_images=300,
        val_images=50,
        image_size=(320, 240),
        input_size=(96, 128),
        epochs=9,
        batch_size=32,
        lr=2e-3,
        warmup_iters=40,
        milestones=(8,),
    ),
    "quick": DemoSize(
        train_images=12,
        val_images=6,
        image_size=(160, 120),
        input_size=(48, 64),
        epochs=2,
        batch_size=8,
        lr=1e-3,
        warmup_iters=2,
        milestones=(),
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="hpefast-demo", help="output folder (default: ./hpefast-demo)")
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (tiny data)")
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    parser.add_argument("--train-images", type=int, help="override the training images per dataset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--no-export", action="store_true", help="skip the ONNX export")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    from hpefast.commands._outputs import add_overwrite_argument

    add_overwrite_argument(parser)


def _write_data(root: Path, size: DemoSize, seed: int) -> dict[str, Path]:
    from hpefast.data.synthetic import write_dataset

    paths = {}
    for layout, offset in (("coco", 0), ("mpii", 1)):
        for split, n, split_seed in (
            ("train", size.train_images, 1000 * seed + 2 * offset),
            ("val", size.val_images, 1000 * seed + 2 * offset + 1),
        ):
            folder = root / f"{layout}_{split}"
            paths[f"{layout}_{split}"] = write_dataset(
                folder, layout=layout, num_images=n, seed=split_seed, image_size=size.image_size
            )
    return paths


def build_config(out: Path, size: DemoSize, args: argparse.Namespace):
    """The ``tiny-synthetic`` preset pointed at ``out/data``, with the demo size's schedule."""
    from hpefast.engine.config import load_config

    epochs = size.epochs if args.epochs is None else args.epochs
    # lr x 0.1 for the last ~15% of the epochs, like the recipe's 170 and 200 of 210
    if args.epochs is not None:
        milestones = [max(1, round(0.85 * epochs))]
    else:
        milestones = [m for m in size.milestones if m < epochs]
    return load_config(
        {
            "base": "tiny-synthetic",
            "name": "demo",
            "output_dir": str(out),
            "seed": args.seed,
            "device": args.device,
            "progress": not args.no_progress,
            "model": {"image_size": list(size.input_size)},
            "data": {
                "root": str((out / "data").resolve()),
                "batch_size": size.batch_size,
                "workers": args.workers,
            },
            "optim": {"lr": size.lr},
            "schedule": {"epochs": epochs, "warmup_iters": size.warmup_iters, "milestones": milestones},
        }
    )


def _training_curve(losses: list[tuple[int, float]], steps_per_epoch: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps = np.array([s for s, _ in losses], dtype=np.float64)
    vals = np.array([v for _, v in losses], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.plot(steps / steps_per_epoch, vals, lw=0.8, alpha=0.5, label="loss (per step)")
    if len(vals) >= 10:
        k = max(5, len(vals) // 30)
        smooth = np.convolve(vals, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1 :] / steps_per_epoch, smooth, lw=1.8, label=f"moving mean ({k} steps)")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked heatmap MSE")
    ax.set_title("hpefast demo: tiny ViTPose, union21 on synthetic COCO + MPII")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    from hpefast._io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _overlays(model, entry, device, path: Path, count: int = 8) -> None:
    """Predictions (in the dataset's own schema) drawn on the first held-out images."""
    import cv2
    import numpy as np

    from hpefast.engine.validation import layout_index, predict
    from hpefast.visualize import draw_pose, make_grid

    ds = entry.val
    schema = ds.schema.name
    idx = layout_index(model.cfg.layout, schema)
    records = predict(model, ds, device, batch_size=64, indices=range(min(len(ds), 4 * count)))
    by_file: dict[str, list[np.ndarray]] = {}
    for r in records:
        kp = np.concatenate([r["keypoints"][idx], r["scores"][idx, None]], axis=1)
        by_file.setdefault(r["meta"]["image_file"], []).append(kp)
    tiles = []
    for file, poses in list(by_file.items())[:count]:
        image = cv2.imread(file, cv2.IMREAD_COLOR)
        tiles.append(draw_pose(image, np.stack(poses), schema, threshold=0.2))
    ok, buf = cv2.imencode(".png", make_grid(tiles, columns=4))
    if ok:
        from hpefast._io import atomic_write_bytes

        atomic_write_bytes(path, buf.tobytes())


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Run the demo; returns the metrics written to ``DIR/metrics.json``."""
    import torch

    from hpefast._io import atomic_write_text
    from hpefast.commands._outputs import check_run_dir
    from hpefast.engine.trainer import Trainer

    # Zero-valued flags are refused, never silently replaced by the defaults.
    for flag, value, least in (("--epochs", args.epochs, 1), ("--train-images", args.train_images, 1)):
        if value is not None and value < least:
            raise InputError(f"{flag} must be at least {least}, got {value}")
    if args.workers < 0:
        raise InputError(f"--workers must be >= 0, got {args.workers}")
    size = SIZES["quick" if args.quick else "full"]
    if args.train_images is not None:
        size = DemoSize(**{**size.__dict__, "train_images": args.train_images})
    out = check_run_dir(args.out, overwrite=args.overwrite, option="--out")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"hpefast demo: writing synthetic COCO and MPII data to {out / 'data'}")
    _write_data(out / "data", size, args.seed)
    t_data = time.perf_counter() - t0

    cfg = build_config(out, size, args)
    (out / "log.jsonl").unlink(missing_ok=True)  # a fresh run, not a continuation of an earlier demo
    trainer = Trainer(cfg, overwrite=True)  # the folder was checked above; it now holds the demo's data
    n_train = {e.cfg.name: len(e.train) for e in trainer.entries}
    n_val = {e.cfg.name: len(e.val) for e in trainer.entries}
    n_params = sum(p.numel() for p in trainer.model.parameters()) / 1e6
    print(
        f"hpefast demo: training a tiny ViTPose ({n_params:.2f} M "
        f"parameters, input {cfg.model.image_size[0]}x{cfg.model.image_size[1]}) on {n_train} instances, "
        f"{cfg.schedule.epochs} epochs x {trainer.steps_per_epoch} steps, {torch.get_num_threads()} threads"
    )
    try:
        result = trainer.fit()
        t_train = time.perf_counter() - t0 - t_data
        model = trainer.model.eval()
        t1 = time.perf_counter()
        _training_curve(result.losses, trainer.steps_per_epoch, out / "training_curve.png")
        for e in trainer.entries:
            _overlays(model, e, trainer.device, out / f"predictions_{e.cfg.name}.png")
        t_art = time.perf_counter() - t1
    finally:
        trainer.close()
    coco, mpii = result.metrics.get("coco", {}), result.metrics.get("mpii", {})
    metrics: dict[str, Any] = {
        "coco_AP": coco.get("AP"),
        "mpii_PCKh": mpii.get("PCKh"),
        "coco": coco,
        "mpii": mpii,
        "train_instances": n_train,
        "val_instances": n_val,
        "epochs": cfg.schedule.epochs,
        "steps": result.step,
        "batch_size": cfg.data.batch_size,
        "input_size": list(cfg.model.image_size),
        "final_loss": result.losses[-1][1] if result.losses else None,
        "seconds": {
            "data": round(t_data, 1),
            "train_and_eval": round(t_train, 1),
            "artefacts": round(t_art, 1),
        },
        "threads": torch.get_num_threads(),
        "quick": bool(args.quick),
        "model": str(out / "model"),
    }
    if not args.no_export:
        crops = _validation_crops(trainer.entries)
        metrics["onnx"], check = _export(model, out / "model.onnx", crops)
        if check is not None:
            metrics["onnx_max_abs_diff"] = check["max_abs_diff"]
            metrics["onnx_max_kpt_diff_px"] = check["max_kpt_diff_px"]
            metrics["onnx_check_batch"] = check["batch"]
    metrics["seconds"]["total"] = round(time.perf_counter() - t0, 1)
    # CPU seconds of this process (and its workers): on a shared machine wall time overstates the cost.
    try:
        import resource

        usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        metrics["seconds"]["cpu"] = round(sum(u.ru_utime + u.ru_stime for u in usage), 1)
    except ImportError:  # not on POSIX
        pass
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return metrics


def _validation_crops(entries, count: int = 3):
    """The first held-out crops of the first datasets (float32 [count, 3, H, W]): the ONNX check's input."""
    import torch

    crops = [e.val[i]["image"] for e in entries for i in range(min(count, len(e.val)))]
    return torch.stack(crops[:count]) if crops else None


def _export(model, path: Path, crops=None) -> tuple[str | None, dict | None]:
    """ONNX export through hpefast.export when it (and the onnx packages) are available, then ONNX Runtime
    against torch on held-out crops (``hpefast.export.verify_onnx``, as ``hpefast export`` checks):
    returns (path or None, the check's max heatmap / keypoint differences or None)."""
    try:
        from hpefast.export import to_onnx, verify_onnx
    except ImportError:
        return None, None
    model = model.cpu()
    try:
        written = to_onnx(model, path)
    except ImportError as exc:  # onnx / onnxscript not installed
        print(f"hpefast demo: ONNX export skipped ({exc})")
        return None, None
    try:
        check = verify_onnx(model, written, crops)
    except ImportError as exc:  # onnxruntime not installed
        print(f"hpefast demo: ONNX Runtime check skipped ({exc})")
        return str(written), None
    print(
        f"hpefast demo: ONNX Runtime vs torch on {check['batch']} held-out crops: max |heatmap diff| "
        f"{check['max_abs_diff']:.2e}, max keypoint diff {check['max_kpt_diff_px']:.2e} px"
    )
    return str(written), check


def main(args: argparse.Namespace) -> int:
    from hpefast.commands._omp import prefer_passive_omp_wait

    prefer_passive_omp_wait()  # before torch loads: idle OpenMP threads sleep instead of spinning
    m = run_demo(args)
    ap, pckh = m["coco_AP"], m["mpii_PCKh"]
    print(
        f"hpefast demo: COCO AP {ap:.3f}, MPII PCKh@0.5 {pckh:.1f} on held-out synthetic images "
        f"({m['seconds']['total']:.0f} s). Outputs in {args.out}/: metrics.json, model/, training_curve.png, "
        f"predictions_coco.png, predictions_mpii.png" + (", model.onnx" if m.get("onnx") else "")
    )
    return 0
