"""Loading models from the command line (shared by ``hpefast eval``, ``export`` and ``predict``): hpefast
models, the ``checkpoints/last.pt`` of a training run (stopped or finished), and official ViTPose / ViTPose+
``.pth`` files, with ``--expert`` (a ViTPose+ dataset's expert and head), ``--layout`` (the keypoint layout
of an official head, which its weights cannot tell: a 17-channel head is COCO's or AP-10K's) and
``--trusted`` (full unpickling, only for a file you trust)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hpefast.errors import InputError

EXPERT_HELP = (
    "official ViTPose+ .pth only (also the per-dataset files of ViTPose's tools/model_split.py): the dataset "
    "whose expert and head to use, by name (coco, aic, mpii, ap10k, apt36k, wholebody) or index (0..5); "
    "the model's layout follows it"
)
LAYOUT_HELP = (
    "keypoint layout of the model's outputs (coco, ap10k, mpii, aic, crowdpose, union21, ...): picks it "
    "for an official .pth, whose weights only give the keypoint count (17 could be coco or ap10k); for "
    "other checkpoints it must match the one they carry"
)
TRUSTED_HELP = (
    "official .pth only: allow full unpickling when torch.load(weights_only=True) cannot read the file "
    "(runs code from the file: only for files you trust)"
)
# the training checkpoint (checkpoints/last.pt) is the engine's: one owner for reading it
from hpefast.engine.state import (  # noqa: E402
    is_training_checkpoint,
    load_training_checkpoint,
)


def add_expert_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expert", metavar="NAME|ID", default=None, help=EXPERT_HELP)


def add_model_arguments(parser: argparse.ArgumentParser, layout: bool = True) -> None:
    """``--expert``, ``--trusted`` and (unless the command has its own) ``--layout``."""
    add_expert_argument(parser)
    if layout:
        parser.add_argument("--layout", metavar="NAME", default=None, help=LAYOUT_HELP)
    parser.add_argument("--trusted", action="store_true", help=TRUSTED_HELP)


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
    return p.is_file() and p.suffix in _OFFICIAL_SUFFIXES and not is_training_checkpoint(p)


def load_checkpoint_model(
    path: str | Path,
    expert: str | None = None,
    map_location: str = "cpu",
    *,
    layout: str | None = None,
    trusted: bool = False,
) -> Any:
    """The model of any checkpoint a command accepts, with CLI errors naming the option:

    - a training checkpoint (``checkpoints/last.pt``): its config and (EMA) weights;
    - an hpefast model (folder, ``.safetensors``, ``.json``): ``layout`` must be the one it carries;
    - an official ViTPose / ViTPose+ file: ``expert`` picks a ViTPose+ dataset (required when the file has
      experts), ``layout`` names the head's layout (else guessed from its keypoint count and the expert),
      ``trusted`` allows full unpickling.
    """
    from hpefast.models.checkpoint import load_model
    from hpefast.models.convert import VITPOSE_PLUS_DATASETS, ExpertRequired

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    if layout is not None and layout not in VITPOSE_PLUS_DATASETS:
        # ViTPose+'s dataset names are accepted as the converter names them (``wholebody`` has no
        # registered schema yet: such a model exports, but is not scored or drawn)
        from hpefast.keypoints import get_schema

        try:
            get_schema(layout)
        except ValueError as exc:
            raise InputError(f"--layout {layout}: {exc}") from None
    if is_training_checkpoint(p):
        for flag, value in ((f"--expert {expert}", expert), ("--trusted", trusted or None)):
            if value is not None:
                raise InputError(
                    f"{flag}: only for official ViTPose+ checkpoint files (.pth); {path} is a training "
                    "checkpoint (pick its head / expert with the dataset id instead)"
                )
        model = load_training_checkpoint(p, map_location)
        if layout is not None and layout != model.cfg.layout:
            raise InputError(
                f"--layout {layout}: {path} is a training checkpoint of layout {model.cfg.layout!r}"
            )
        return model
    official = is_official_file(p)
    kw: dict[str, Any] = {}
    if expert is not None or trusted:
        if not official:
            flag = (
                f"--expert {expert}: only for official ViTPose+" if expert is not None else "--trusted: only"
            )
            raise InputError(
                f"{flag} for official ViTPose checkpoint files (.pth); {path} is an hpefast checkpoint "
                "(pick its head / expert with the dataset id instead)"
            )
        if expert is not None:
            kw["expert"] = parse_expert(expert)
        if trusted:
            kw["trusted"] = True
    try:
        return load_model(p, map_location=map_location, layout=layout, **kw)
    except ExpertRequired as exc:
        known = dict(enumerate(VITPOSE_PLUS_DATASETS))
        names = ", ".join(f"{i} {known[i]}" if i in known else str(i) for i in exc.experts)
        raise InputError(
            f"{path} is a ViTPose+ checkpoint with one expert and head per dataset: pass --expert NAME|ID "
            f"to pick one ({names})"
        ) from None
