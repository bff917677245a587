"""Loading models from the command line: hpefast checkpoints and official ViTPose / ViTPose+ ``.pth`` files,
with ``--expert`` picking a ViTPose+ dataset's expert and head (shared by ``hpefast eval`` and ``export``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EXPERT_HELP = (
    "official ViTPose+ .pth only: the dataset whose expert and head to use, by name (coco, aic, mpii, "
    "ap10k, apt36k, wholebody) or index (0..5); the model's layout follows it"
)


def add_expert_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expert", metavar="NAME|ID", default=None, help=EXPERT_HELP)


def parse_expert(text: str | None) -> int | str | None:
    """``"mpii"`` -> ``"mpii"``, ``"2"`` -> ``2``; names and ranges are checked by the converter."""
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else text


def is_official_file(path: str | Path) -> bool:
    """An official (mmcv / torch) checkpoint file rather than an hpefast one (folder, safetensors, json)."""
    from hpefast.models.checkpoint import _OFFICIAL_SUFFIXES

    p = Path(path)
    return p.is_file() and p.suffix in _OFFICIAL_SUFFIXES


def load_checkpoint_model(path: str | Path, expert: str | None = None, map_location: str = "cpu") -> Any:
    """``hpefast.models.checkpoint.load_model`` with CLI errors: a ViTPose+ file without ``--expert``, or
    ``--expert`` with an hpefast checkpoint, raise ValueError naming ``--expert``."""
    from hpefast.models.checkpoint import load_model
    from hpefast.models.convert import VITPOSE_PLUS_DATASETS, ExpertRequired

    kw: dict[str, Any] = {}
    if expert is not None:
        if not is_official_file(path):
            raise ValueError(
                f"--expert {expert}: only for official ViTPose+ checkpoint files (.pth); {path} is an "
                "hpefast checkpoint (pick its head / expert with the dataset id instead)"
            )
        kw["expert"] = parse_expert(expert)
    try:
        return load_model(path, map_location=map_location, **kw)
    except ExpertRequired as exc:
        known = dict(enumerate(VITPOSE_PLUS_DATASETS))
        names = ", ".join(f"{i} {known[i]}" if i in known else str(i) for i in exc.experts)
        raise ValueError(
            f"{path} is a ViTPose+ checkpoint with one expert and head per dataset: pass --expert NAME|ID "
            f"to pick one ({names})"
        ) from None
