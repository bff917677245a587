"""``hpefast train CONFIG [key=value ...]``: train from a preset name or a YAML file.

Examples::

    hpefast train vitpose-b-union21 data.root=/data output_dir=runs/b21
    hpefast train my.yaml optim.lr=1e-4 resume=auto
    torchrun --nproc_per_node 8 -m hpefast train vitpose-b-coco     # DDP, one process per GPU
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from hpefast.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config", nargs="?", help="a preset name (see --list-presets) or a YAML file (may say 'base: PRESET')"
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="config overrides, e.g. optim.lr=1e-4"
    )
    parser.add_argument("--list-presets", action="store_true", help="print the preset names and exit")
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config as YAML and exit"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start a fresh run in an output_dir that holds an earlier run (its log and checkpoints are "
        "replaced); to continue that run instead, give resume=auto",
    )


def main(args: argparse.Namespace) -> int:
    from hpefast.commands._omp import prefer_passive_omp_wait

    prefer_passive_omp_wait()  # before torch loads: idle OpenMP threads sleep instead of spinning
    from hpefast.engine.config import dump_yaml, load_config
    from hpefast.engine.presets import preset_names

    if args.list_presets:
        print("\n".join(preset_names()))
        return 0
    if args.config is None:
        raise InputError("give a CONFIG: a preset name (hpefast train --list-presets) or a YAML file")
    cfg = load_config(args.config, args.overrides)
    if args.print_config:
        print(dump_yaml(cfg), end="")
        return 0
    from hpefast.engine.trainer import train

    result = train(cfg, overwrite=args.overwrite)
    if result.metrics:
        print(json.dumps(result.metrics, indent=2))
    state = "halted" if result.halted else "finished"
    print(
        f"hpefast train: {state} at step {result.step} ({result.seconds:.0f} s); outputs in {cfg.output_dir}"
    )
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under torchrun, libtorch's process-group objects can abort the interpreter in their static
        # destructors at exit ("terminate called without an active exception", seen 1 in ~10 gloo runs on
        # a loaded 2-core machine). Training has finished, the group is destroyed and every output was
        # written atomically and closed, so leave without running those destructors.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
