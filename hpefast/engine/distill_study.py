"""``hpefast study distill``: does heatmap distillation help a small student, and do the target-imbalance
options help on top? Everything trains on the same synthetic COCO + MPII data (the demo's writer), the
students on the same steps, batch and schedule:

1. teacher: the ``tiny`` ViTPose (128 wide, 4 blocks), trained ``teacher_epochs`` epochs;
2. student from scratch: a smaller ViTPose (``student_dim`` wide, ``student_depth`` blocks), GT loss only;
3. student distilled from the teacher: ``(1 - alpha) MSE(s, GT) + alpha MSE(s, teacher)``;
4. each imbalance option (heatmap amplitude scaling, foreground-weighted MSE, OHKM), on the student from
   scratch (the control) and on the distilled student.

Writes ``results.md`` / ``results.json`` (COCO AP and MPII PCKh of each run on the synthetic validation
splits, final losses, seconds, teacher ms per step) and ``training_curves.png``. A single seed on tiny data:
differences of a point or two are within run-to-run noise; the table says so and gives the numbers.
Study modules import torch lazily (``hpefast study`` sets OpenMP's wait policy first).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hpefast.errors import InputError


@dataclass(frozen=True)
class DistillStudyConfig:
    out: str
    seed: int = 0
    train_images: int = 120  # per dataset
    val_images: int = 30
    image_size: tuple[int, int] = (320, 240)  # synthetic images
    input_size: tuple[int, int] = (64, 96)  # model crops (W, H)
    batch_size: int = 16
    student_epochs: int = 10
    teacher_epochs: int = 10
    lr: float = 2e-3
    student_dim: int = 48
    student_depth: int = 2
    alpha: float = 0.5
    amplitude: float = 4.0
    fg_threshold: float = 0.1
    fg_weight: float = 5.0
    ohkm_topk: int = 8

    @classmethod
    def quick(cls, out: str, seed: int = 0) -> DistillStudyConfig:
        return cls(
            out=out,
            seed=seed,
            train_images=8,
            val_images=4,
            image_size=(160, 120),
            input_size=(32, 48),
            batch_size=8,
            student_epochs=1,
            teacher_epochs=1,
        )


def _train_config(cfg: DistillStudyConfig, name: str, *, student: bool, epochs: int, extra: dict[str, Any]):
    from hpefast.engine.config import load_config

    model: dict[str, Any] = {"image_size": list(cfg.input_size)}
    if student:
        model.update(embed_dim=cfg.student_dim, depth=cfg.student_depth, num_heads=2, deconv_channels=32)
    out = Path(cfg.out)
    tree = {
        "base": "tiny-synthetic",
        "name": name,
        "output_dir": str(out / "runs" / name),
        "seed": cfg.seed,
        "device": "cpu",
        "progress": False,
        "tensorboard": False,
        "log_interval": 5,
        "model": model,
        "data": {"root": str((out / "data").resolve()), "batch_size": cfg.batch_size, "workers": 0},
        "optim": {"lr": cfg.lr},
        "schedule": {"epochs": epochs, "warmup_iters": 10, "milestones": [max(1, round(0.85 * epochs))]},
        **extra,
    }
    return load_config(tree)


def _run(cfg: DistillStudyConfig, name: str, *, student: bool, epochs: int, extra: dict[str, Any]) -> dict:
    from hpefast.engine.trainer import Trainer

    tc = _train_config(cfg, name, student=student, epochs=epochs, extra=extra)
    t0 = time.perf_counter()
    trainer = Trainer(tc, overwrite=True)
    try:
        result = trainer.fit()
        params = sum(p.numel() for p in trainer.model.parameters())
    finally:
        trainer.close()
    log = [json.loads(line) for line in (Path(tc.output_dir) / "log.jsonl").read_text().splitlines()]
    teacher_ms = [r["teacher_ms"] for r in log if r.get("type") == "train" and "teacher_ms" in r]
    coco, mpii = result.metrics.get("coco", {}), result.metrics.get("mpii", {})
    return {
        "name": name,
        "params_M": round(params / 1e6, 3),
        "steps": result.step,
        "coco_AP": coco.get("AP"),
        "mpii_PCKh": mpii.get("PCKh"),
        "final_loss": result.losses[-1][1] if result.losses else None,
        "seconds": round(time.perf_counter() - t0, 1),
        "teacher_ms_per_step": round(sum(teacher_ms) / len(teacher_ms), 2) if teacher_ms else None,
        "curve": result.losses,
        "model": result.model_dir,
    }


def run_distill_study(cfg: DistillStudyConfig) -> dict[str, Any]:
    """Train the teacher and the students; write the table; return the results (see the module)."""
    from hpefast._io import atomic_write_text
    from hpefast.commands.demo import DemoSize, _write_data

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    size = DemoSize(
        train_images=cfg.train_images,
        val_images=cfg.val_images,
        image_size=cfg.image_size,
        input_size=cfg.input_size,
        epochs=cfg.student_epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        warmup_iters=10,
        milestones=(),
    )
    _write_data(out / "data", size, cfg.seed)
    teacher = _run(cfg, "teacher", student=False, epochs=cfg.teacher_epochs, extra={})
    if teacher["model"] is None:
        raise RuntimeError("the teacher run stopped before its end: no model to distil from")
    distill = {"teacher": teacher["model"], "alpha": cfg.alpha}
    opts = {
        "amplitude": {"amplitude": cfg.amplitude},
        "fg_weighted": {"fg_threshold": cfg.fg_threshold, "fg_weight": cfg.fg_weight},
        "ohkm": {"ohkm_topk": cfg.ohkm_topk},
    }
    runs = [teacher, _run(cfg, "student_scratch", student=True, epochs=cfg.student_epochs, extra={})]
    runs.append(
        _run(cfg, "student_distilled", student=True, epochs=cfg.student_epochs, extra={"distill": distill})
    )
    for key, loss in opts.items():
        # the option alone (a control: is a gain the option's or the teacher's?), then with the teacher
        for prefix, extra in (("student_scratch", {}), ("student_distilled", {"distill": distill})):
            runs.append(
                _run(
                    cfg,
                    f"{prefix}_{key}",
                    student=True,
                    epochs=cfg.student_epochs,
                    extra={**extra, "loss": loss},
                )
            )
    results = {"config": asdict(cfg), "runs": runs}
    scratch, dist = runs[1], runs[2]
    results["distillation_helped"] = {
        "coco_AP": _better(dist["coco_AP"], scratch["coco_AP"]),
        "mpii_PCKh": _better(dist["mpii_PCKh"], scratch["mpii_PCKh"]),
    }
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "results.md", _table(results))
    _curves(runs, out / "training_curves.png")
    return results


def _better(a: float | None, b: float | None) -> bool | None:
    return None if a is None or b is None else bool(a > b)


def _fmt(v: Any, nd: int = 3) -> str:
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def _table(results: dict[str, Any]) -> str:
    c = results["config"]
    lines = [
        "# hpefast study distill",
        "",
        f"Synthetic COCO + MPII ({c['train_images']} train / {c['val_images']} val images each), crops "
        f"{c['input_size'][0]}x{c['input_size'][1]}, batch {c['batch_size']}, seed {c['seed']}. Students "
        f"({c['student_dim']} wide, {c['student_depth']} blocks): {c['student_epochs']} epochs each; teacher "
        f"(tiny, 128 wide, 4 blocks): {c['teacher_epochs']} epochs. alpha={c['alpha']}; options: amplitude "
        f"{c['amplitude']}, foreground weight {c['fg_weight']} above {c['fg_threshold']}, OHKM top-"
        f"{c['ohkm_topk']}. One seed: treat differences of a few points as noise.",
        "",
        "| run | params (M) | steps | COCO AP | MPII PCKh | final loss | teacher ms/step | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        lines.append(
            f"| {r['name']} | {r['params_M']} | {r['steps']} | {_fmt(r['coco_AP'])} | {_fmt(r['mpii_PCKh'])} "
            f"| {_fmt(r['final_loss'], 5)} | {_fmt(r['teacher_ms_per_step'], 1)} | {r['seconds']} |"
        )
    h = results["distillation_helped"]
    lines += [
        "",
        f"Distilled student ahead of the from-scratch one: COCO AP {h['coco_AP']}, PCKh {h['mpii_PCKh']}.",
    ]
    return "\n".join(lines) + "\n"


def _curves(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hpefast._io import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in runs:
        if r["curve"]:
            s, v = zip(*r["curve"])
            ax.plot(s, v, label=r["name"])
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (each run's own objective)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``hpefast study distill``."""
    parser.add_argument("--out", required=True, help="output folder (results.md, results.json, curves, runs)")
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--student-epochs", type=int, default=None)
    parser.add_argument("--teacher-epochs", type=int, default=None)
    parser.add_argument("--alpha", type=float, default=None, help="teacher weight in [0, 1] (default 0.5)")


def run_study(args: argparse.Namespace) -> int:
    """``hpefast study distill``: build the config from ``args`` and run."""
    cfg = (
        DistillStudyConfig.quick(args.out, args.seed)
        if args.quick
        else DistillStudyConfig(args.out, args.seed)
    )
    changes = {}
    for name in ("student_epochs", "teacher_epochs"):
        v = getattr(args, name)
        if v is not None:
            if v < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
            changes[name] = v
    if args.alpha is not None:
        if not 0.0 <= args.alpha <= 1.0:
            raise InputError(f"--alpha must be in [0, 1], got {args.alpha}")
        changes["alpha"] = args.alpha
    if changes:
        from dataclasses import replace

        cfg = replace(cfg, **changes)
    res = run_distill_study(cfg)
    print(_table(res), end="")
    return 0
