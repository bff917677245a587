"""``hpefast study STUDY``: research claims measured end to end (both sides trained on the same data and
budget, a table written).

Each study lives beside the research code it measures, in a module that provides
``add_study_arguments(parser)`` and ``run_study(args) -> int``; add a study with one line in ``STUDIES``.
Study modules must not import torch at import time (``main`` sets OpenMP's wait policy first).
"""

from __future__ import annotations

import argparse
import importlib

from hpefast.errors import InputError

# name -> (module with add_study_arguments(parser) and run_study(args), one-line help)
STUDIES: dict[str, tuple[str, str]] = {
    "downstream": (
        "hpefast.probabilistic.downstream",
        "does a probabilistic 2D model (TIC-TAC covariances) help 2D-to-3D lifting? MPJPE per 2D input kind",
    ),
    "distill": (
        "hpefast.engine.distill_study",
        "does heatmap distillation (and target-imbalance options) help a small student?",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="study", metavar="STUDY")
    for name, (module, help_text) in STUDIES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # study modules import torch lazily, so that main() can still set OpenMP's wait policy
        importlib.import_module(module).add_study_arguments(p)
        p.set_defaults(_study_module=module)


def main(args: argparse.Namespace) -> int:
    if getattr(args, "study", None) is None:
        raise InputError(f"choose a study: {', '.join(STUDIES)} (hpefast study STUDY --help)")
    from hpefast.commands._omp import prefer_passive_omp_wait

    prefer_passive_omp_wait()  # before torch loads: idle OpenMP threads sleep instead of spinning
    return int(importlib.import_module(args._study_module).run_study(args) or 0)
