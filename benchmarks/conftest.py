"""Benchmark fixtures: the same as the tests' (devices, the shared reference data folder, seeds)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_hpefast_tests_conftest", Path(__file__).resolve().parents[1] / "python_tests" / "conftest.py"
)
_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tests)

SHARED_DATA = _tests.SHARED_DATA
DEVICES = _tests.DEVICES
requires_cuda = _tests.requires_cuda
device = _tests.device
shared_data = _tests.shared_data
rng = _tests.rng
_seed_torch = _tests._seed_torch
# The `cuda` marker on GPU rows and HPEFAST_REQUIRE_CUDA=1 (scripts/gpu_check.sh), as in the tests.
pytest_collection_modifyitems = _tests.pytest_collection_modifyitems
pytest_runtest_makereport = _tests.pytest_runtest_makereport
