"""The errors hpefast raises for problems in what the user gave it.

Every error that means "your input is wrong" (a config key, an annotation, a checkpoint, a file, an
argument of a command) derives from :class:`HpefastError`. The ``hpefast`` command turns these (and the
operating system's file errors: a missing path, a read-only folder) into a one-line message and exit code 2.
Anything else reaching the command is a bug in hpefast and keeps its traceback.

The subclasses also derive from :class:`ValueError`, so code that caught ``ValueError`` before keeps working.
"""

from __future__ import annotations

__all__ = [
    "HpefastError",
    "ConfigError",
    "AnnotationError",
    "CheckpointError",
    "InputError",
]


class HpefastError(Exception):
    """Base class of the user-facing errors: the message alone says what is wrong and where."""


class ConfigError(HpefastError, ValueError):
    """A config key or value is wrong; the message names the key path (``optim.lr``) and the source."""


class AnnotationError(HpefastError, ValueError):
    """A malformed annotation or data file; the message names the file, the image / annotation id and the
    field."""


class CheckpointError(HpefastError, ValueError):
    """A checkpoint, model file or export that cannot be used: wrong kind, corrupt, or contradicting its
    config; the message names the path."""


class InputError(HpefastError, ValueError):
    """Any other bad argument or input file given to a command (sizes, devices, options)."""
