"""The one check every command runs before it writes: outputs never overwrite inputs or earlier results
unasked.

* An existing output file, or a non-empty output folder, is refused unless ``--overwrite`` is given (a
  training run may also continue with ``resume=``).
* An output that is one of the command's own input files is refused outright, ``--overwrite`` or not.

Errors are :class:`hpefast.errors.InputError` naming the option and the path (the ``hpefast`` command
prints them in one line and exits with 2).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path

from hpefast.errors import InputError

__all__ = ["add_overwrite_argument", "check_output_file", "check_run_dir", "check_not_input"]

OVERWRITE_HELP = "replace existing output files / write into a non-empty output folder"


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    """``--overwrite`` (store_true), the same flag and help in every command."""
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.expanduser().resolve() == b.expanduser().resolve()


def check_not_input(
    output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], option: str = "--out"
) -> Path:
    """Refuse ``output`` when it is one of ``inputs`` (None skipped), whatever ``--overwrite`` says."""
    out = Path(output)
    for item in inputs:
        if item is None:
            continue
        src = Path(item)
        if _same(out, src):
            raise InputError(
                f"{option} {str(out)!r} is one of this command's inputs: refusing to write over it"
            )
        if out.is_dir() and src.exists():
            try:
                src.resolve().relative_to(out.resolve())
            except ValueError:
                continue
    return out


def check_output_file(
    path: str | os.PathLike | None,
    *,
    overwrite: bool,
    option: str = "--out",
    inputs: Iterable[str | os.PathLike | None] = (),
) -> Path | None:
    """Check an output file before anything is computed: not an input; not existing unless ``overwrite``;
    not a folder. Returns the path (None stays None)."""
    if path is None:
        return None
    out = check_not_input(path, inputs, option)
    if out.is_dir():
        raise InputError(f"{option} {str(out)!r} is a folder, expected a file path")
    if out.exists() and not overwrite:
        raise InputError(f"{option} {str(out)!r} already exists: pass --overwrite to replace it")
    return out


def check_run_dir(
    path: str | os.PathLike,
    *,
    overwrite: bool,
    option: str = "--out",
    inputs: Iterable[str | os.PathLike | None] = (),
    resume_hint: bool = False,
    ignore: Iterable[str] = (),
) -> Path:
    """Check an output folder: not a file, not one of ``inputs``, and empty (or missing) unless
    ``overwrite``. Entries named in ``ignore`` (e.g. the caller's own lock file) do not count."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"{option} {str(out)!r} exists and is not a folder")
    check_not_input(out, inputs, option)
    skip = set(ignore)
    if out.is_dir() and not overwrite and any(p.name not in skip for p in out.iterdir()):
        flag = "--overwrite" if option.startswith("--") else "--overwrite (overwrite=True)"
        hint = " (or resume=auto to continue the run there)" if resume_hint else ""
        raise InputError(
            f"{option} {str(out)!r} is not empty (an earlier run's outputs): pass {flag} to write into "
            f"it{hint}, or choose another folder"
        )
    return out
