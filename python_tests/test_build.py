"""The compiled core imports, reports its CUDA state consistently, and the CLI answers."""

from __future__ import annotations

import subprocess
import sys

import hpefast
from hpefast._ext import lib


def test_extension_reports_state():
    C = lib()
    assert isinstance(C.cuda_compiled(), bool)
    assert C.num_threads() >= 1
    if not C.cuda_compiled():
        assert C.cuda_device_count() == 0
        assert hpefast.cuda_available() is False
    # available implies compiled and a device
    if hpefast.cuda_available():
        assert C.cuda_compiled() and C.cuda_device_count() > 0


def test_cli_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "hpefast", "--help"], capture_output=True, text=True, check=True
    )
    from hpefast.cli import COMMANDS

    for name in COMMANDS:
        assert name in out.stdout
