"""The ``hpefast`` command.

Each subcommand lives in ``hpefast/commands/<module>.py`` and provides ``add_arguments(parser)`` and
``main(args) -> int``. Only the module of the command being run is imported, so ``hpefast eval-coco``
does not pay for importing the training engine.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module under hpefast.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "make a small synthetic dataset, train, evaluate and export on CPU in minutes"),
    "train": ("train", "train a model from a YAML config or preset, with key=value overrides"),
    "eval": ("evaluate", "evaluate a checkpoint on COCO-format or MPII data in each dataset's protocol"),
    "eval-coco": ("eval_coco", "COCO keypoint AP of a results json (identical to pycocotools, faster)"),
    "show-data": ("show_data", "draw a dataset's images with their skeletons into a grid PNG"),
    "export": ("export", "export a checkpoint to ONNX or a TensorRT engine"),
    "predict": ("predict", "run a model on an image with given boxes and draw the keypoints"),
    "translate": ("translate", "fit or evaluate a keypoint translator between dataset representations"),
    "analyze": ("analyze", "error analysis: per-joint bias, covariance and Gaussianity of residuals"),
    "lift": ("lift", "2D-to-3D lifting on Human3.6M-format data: train, eval, synth (synthetic data)"),
    "attribute": ("attribute", "PoseIG attribution maps and indices (DI/FI/LI/RI) of a model on COCO data"),
    "study": ("study", "research studies that train both sides on equal budgets and write the table"),
    "distill": ("distill", "train a student model with a frozen teacher (heatmap / feature distillation)"),
}


def _load(name: str):
    module, _ = COMMANDS[name]
    return importlib.import_module(f"hpefast.commands.{module}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser; with ``only``, import just that command's module."""
    parser = argparse.ArgumentParser(prog="hpefast", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and build, exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            _load(name).add_arguments(p)
    return parser


class _VersionAction(argparse.Action):
    """``--version``: the package and its compiled core's build, unwrapped, computed only when asked."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit()


def _version() -> str:
    from hpefast import __version__
    from hpefast._ext import build_info

    try:
        b = build_info()
    except ImportError as exc:  # say what is wrong with the compiled core instead of failing
        return f"hpefast {__version__}\ncompiled core: {exc}"
    git = b["git_hash"][:12] + (" (dirty)" if b["git_dirty"] else "")
    cuda = f"CUDA {b['cuda_version']}, archs {b['cuda_architectures']}" if b["cuda"] else "CPU only"
    return f"hpefast {__version__}\ncompiled core: {b['path']}\n  git {git}, {cuda}, {b['compiler']}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hpefast`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    only = command if command in COMMANDS else "__none__"
    parser = build_parser(only=only)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from hpefast.errors import HpefastError

    _configure_logging()
    try:
        return int(_load(args.command).main(args) or 0)
    except KeyboardInterrupt:
        # Ctrl-C: one line and the shell's exit code for SIGINT; every file is written atomically, so
        # nothing is left half-written.
        print(f"\nhpefast {args.command}: interrupted", file=sys.stderr)
        return 130
    except (
        # what the user gave is wrong: a config key, an annotation, a checkpoint, an argument
        HpefastError,
        # the user's paths and disks: a missing input, an output folder that is a file, a read-only
        # destination, a full disk (OSError covers FileNotFoundError, PermissionError, ENOSPC, ...)
        OSError,
    ) as exc:
        # Anything else (TypeError, KeyError, a ValueError from deep inside) is a bug in hpefast and keeps
        # its traceback.
        print(f"hpefast {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _configure_logging() -> None:
    """Library code logs through ``logging`` (logger ``hpefast.*``); the command shows INFO and above on
    stderr as ``hpefast: message`` unless the user configured logging already."""
    import logging

    logger = logging.getLogger("hpefast")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("hpefast: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _one_line(exc: BaseException) -> str:
    """The message of ``exc``; an error raised in a DataLoader worker arrives with the worker's traceback
    in its message: keep only the original message."""
    text = str(exc)
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    if "Original Traceback (most recent call last)" not in text:
        return text
    last = [line for line in text.strip().splitlines() if line.strip()][-1]
    name = type(exc).__name__
    for prefix in (f"{type(exc).__module__}.{name}: ", f"{name}: "):
        if last.startswith(prefix):
            last = last[len(prefix) :]
            break
    return f"{last} (in a DataLoader worker)"


if __name__ == "__main__":
    sys.exit(main())
