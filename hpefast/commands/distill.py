"""``hpefast distill TEACHER STUDENT_CONFIG [key=value ...]``: train a student with a frozen teacher.

The same as ``hpefast train STUDENT_CONFIG distill.teacher=TEACHER ...``: the student config is a preset
name or a YAML file; ``--alpha``, ``--alpha-schedule`` and ``--feature-weight`` set the ``distill`` section
(see :mod:`hpefast.engine.distill`). Example::

    hpefast distill runs/big/model tiny-synthetic data.root=hpefast-demo/data --alpha 0.5
"""

from __future__ import annotations

import argparse
import json

from hpefast.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("teacher", help="the teacher: an hpefast model checkpoint (a run's model/ folder)")
    parser.add_argument("config", help="the student's training config: a preset name or a YAML file")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    parser.add_argument("--alpha", type=float, default=None, help="teacher weight in [0, 1] (default 0.5)")
    parser.add_argument("--alpha-schedule", choices=("constant", "linear_decay"), default=None)
    parser.add_argument("--feature-weight", type=float, default=None, help="DWPose feature term (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run in output_dir")


def main(args: argparse.Namespace) -> int:
    from hpefast.commands._omp import prefer_passive_omp_wait

    prefer_passive_omp_wait()
    from hpefast.engine.config import load_config
    from hpefast.engine.trainer import train

    if args.alpha is not None and not 0.0 <= args.alpha <= 1.0:
        raise InputError(f"--alpha must be in [0, 1], got {args.alpha}")
    extra = [f"distill.teacher={json.dumps(str(args.teacher))}"]
    for key, value in (
        ("alpha", args.alpha),
        ("alpha_schedule", args.alpha_schedule),
        ("feature_weight", args.feature_weight),
    ):
        if value is not None:
            extra.append(f"distill.{key}={value}")
    cfg = load_config(args.config, [*extra, *args.overrides])
    result = train(cfg, overwrite=args.overwrite)
    if result.metrics:
        print(json.dumps(result.metrics, indent=2))
    state = "halted" if result.halted else "finished"
    print(
        f"hpefast distill: {state} at step {result.step} ({result.seconds:.0f} s); "
        f"outputs in {cfg.output_dir}"
    )
    return 0
