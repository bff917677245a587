"""Run logs: one JSON object per line in ``log.jsonl`` and, when the ``tensorboard`` package is importable,
TensorBoard scalars through ``torch.utils.tensorboard`` (tensorboard is not a dependency: without it the
JSONL log is the record and a one-line notice says so)."""

from __future__ import annotations

import importlib.util
import json
import logging
import math
from pathlib import Path
from typing import Any

__all__ = ["RunLogger", "tensorboard_available"]


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package is installed (checked without importing it)."""
    return importlib.util.find_spec("tensorboard") is not None


class RunLogger:
    """Write records to ``output_dir/log.jsonl`` (line-buffered) and mirror numbers to TensorBoard.

    ``resume_step``: None starts a new log (an earlier file is replaced: the caller has refused to mix
    runs); a step keeps the existing records up to that step and drops the later ones, which the
    interrupted run logged after its last checkpoint and the resumed run logs again, so ``log.jsonl``
    has each step once.
    """

    def __init__(
        self,
        output_dir: str | Path,
        tensorboard: bool = True,
        enabled: bool = True,
        resume_step: int | None = None,
    ) -> None:
        self.enabled = enabled
        self.path = Path(output_dir) / "log.jsonl"
        self._tb = None
        self.tensorboard_note = ""
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _keep_until(self.path, -1 if resume_step is None else int(resume_step))
        self._file = open(self.path, "a", buffering=1)  # noqa: SIM115 - closed in close()
        if tensorboard:
            if tensorboard_available():
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(Path(output_dir) / "tensorboard"))
            else:
                self.tensorboard_note = (
                    "tensorboard is not installed: TensorBoard logs skipped (see log.jsonl)"
                )
                logging.getLogger("hpefast.engine").warning(self.tensorboard_note)

    def log(self, record: dict[str, Any], step: int | None = None, prefix: str = "") -> None:
        if not self.enabled:
            return
        try:
            self._file.write(json.dumps(record, default=_jsonable) + "\n")
        except OSError as exc:  # a full disk: name the file
            raise type(exc)(exc.errno, f"{exc.strerror or exc} while writing", str(self.path)) from None
        if self._tb is not None and step is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    self._tb.add_scalar(f"{prefix}{k}", v, step)

    def close(self) -> None:
        if not self.enabled:
            return
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _jsonable(v: Any) -> Any:
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def _keep_until(path: Path, step: int) -> None:
    """Rewrite ``path`` (atomically) with only the records whose ``step`` is <= ``step`` (-1: none).

    A torn last line (a kill mid-write) is dropped too."""
    if not path.exists():
        return
    from hpefast._io import atomic_write_text

    kept = []
    if step >= 0:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                s = record.get("step") if isinstance(record, dict) else None
                if isinstance(s, (int, float)) and s <= step:
                    kept.append(line if line.endswith("\n") else line + "\n")
    atomic_write_text(path, "".join(kept))
