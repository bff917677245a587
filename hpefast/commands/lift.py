"""``hpefast lift``: 2D-to-3D lifting on Human3.6M-format data.

Examples::

    hpefast lift synth --out synthetic_h36m                     # synthetic Human3.6M in VideoPose3D's layout
    hpefast lift train tiny-synthetic data.root=synthetic_h36m  # a preset (or YAML) + key=value overrides
    hpefast lift train videopose3d-243 data.root=/data/h36m data.data_2d=data_2d_h36m_cpn_ft_h36m_dbb.npz
    hpefast lift eval work_dirs/lift-tiny --data-root synthetic_h36m       # protocol #1 / #2 tables
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hpefast.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lift_command", metavar="{train,eval,synth}")
    t = sub.add_parser("train", help="train a lifter from a preset or YAML config, then evaluate it")
    t.add_argument("config", nargs="?", help="a preset name (see --list-presets) or a YAML file")
    t.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. optim.lr=1e-4")
    t.add_argument("--list-presets", action="store_true", help="print the preset names and exit")
    t.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    t.add_argument("--progress", action="store_true", help="print the loss every log_interval steps")
    e = sub.add_parser("eval", help="evaluate a trained lifter (MPJPE / P-MPJPE per action)")
    e.add_argument("checkpoint", help="a run's output_dir or its model/ folder")
    e.add_argument(
        "--data-root", default=None, help="folder of the npz files (default: the training config's)"
    )
    e.add_argument("--data-2d", default=None, help="2D npz file name or path (e.g. a detector's keypoints)")
    e.add_argument(
        "--subjects", default=None, help="comma-separated subjects (default: the config's test subjects)"
    )
    e.add_argument("--no-flip-test", action="store_true", help="do not average with the flipped input")
    e.add_argument("--json", action="store_true", help="print the metrics as json instead of tables")
    e.add_argument("--output", default=None, help="also write the metrics json to this file")
    s = sub.add_parser("synth", help="write a synthetic Human3.6M (npz files, optional rendered frames)")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--frames", type=int, default=100, help="frames per sequence (50 fps)")
    s.add_argument("--sequences-per-action", type=int, default=1)
    s.add_argument("--render-frames", type=int, default=0, help="frames per sequence and camera to render")
    s.add_argument("--image-scale", type=float, default=0.25, help="rendered size / real size (1000 px)")
    s.add_argument("--subjects", default=None, help="comma-separated (default: S1,S5,S6,S7,S8,S9,S11)")
    s.add_argument("--seed", type=int, default=0)


def _tables(metrics: dict) -> str:
    from hpefast.lifting.h36m import format_action_tables

    return format_action_tables(
        {"Protocol #1 (MPJPE, mm)": metrics["mpjpe"], "Protocol #2 (P-MPJPE, mm)": metrics["p_mpjpe"]}
    )


def main(args: argparse.Namespace) -> int:
    from hpefast.commands._omp import prefer_passive_omp_wait

    prefer_passive_omp_wait()  # before torch loads: idle OpenMP threads sleep instead of spinning
    if args.lift_command is None:
        raise InputError("give a subcommand: hpefast lift train | eval | synth (see hpefast lift --help)")
    if args.lift_command == "synth":
        from hpefast.lifting.synthetic import write_h36m

        kw = {}
        if args.subjects:
            kw["subjects"] = [s.strip() for s in args.subjects.split(",") if s.strip()]
        out = write_h36m(
            args.out,
            num_frames=args.frames,
            sequences_per_action=args.sequences_per_action,
            render_frames=args.render_frames,
            image_scale=args.image_scale,
            seed=args.seed,
            **kw,
        )
        for k, v in out.items():
            print(f"{k}: {v}")
        return 0
    if args.lift_command == "train":
        from hpefast.lifting.config import PRESETS, dump_yaml, load_lift_config

        if args.list_presets:
            print("\n".join(PRESETS))
            return 0
        if args.config is None:
            raise InputError(
                "give a CONFIG: a preset name (hpefast lift train --list-presets) or a YAML file"
            )
        cfg = load_lift_config(args.config, args.overrides)
        if args.print_config:
            print(dump_yaml(cfg), end="")
            return 0
        from hpefast.lifting.train import train_lifter

        result = train_lifter(cfg, progress=args.progress)
        print(_tables(result.metrics), end="")
        state = "halted" if result.halted else "finished"
        print(
            f"hpefast lift train: {state} at step {result.step} ({result.seconds:.0f} s); "
            f"outputs in {cfg.output_dir}"
        )
        return 0
    from hpefast.lifting.dataset import load_positions_2d, load_positions_3d, load_sequences
    from hpefast.lifting.train import evaluate_lifter, load_lifter

    model, cfg, _ = load_lifter(args.checkpoint)
    root = Path(args.data_root) if args.data_root else Path(cfg.data.root)
    p3 = load_positions_3d(root / cfg.data.data_3d)
    name_2d = args.data_2d or cfg.data.data_2d
    p2, _ = load_positions_2d(
        Path(name_2d) if Path(name_2d).is_absolute() or Path(name_2d).is_file() else root / name_2d
    )
    subjects = [s.strip() for s in args.subjects.split(",")] if args.subjects else cfg.data.test_subjects
    seqs = load_sequences(p3, p2, subjects, actions=cfg.data.actions, cameras=cfg.data.cameras)
    metrics = evaluate_lifter(
        model, seqs, flip_test=not args.no_flip_test, batch_frames=cfg.eval_batch_frames
    )
    if args.output:
        from hpefast._io import atomic_write_text

        atomic_write_text(args.output, json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2) if args.json else _tables(metrics), end="\n" if args.json else "")
    return 0
