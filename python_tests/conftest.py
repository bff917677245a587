"""Shared fixtures: devices, the shared reference data folder, seeded generators."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import hpefast

# The benchmarks load this file by path: make its folder importable for its helper modules.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared_fixtures import SHARED_DATA, require_shared  # noqa: E402, F401, I001

# HPEFAST_REQUIRE_CUDA=1 (scripts/gpu_check.sh): the CUDA tests must run. The "cuda" device parameter is
# then always generated, and a skip of a `cuda`-marked test for want of CUDA or a GPU is a failure.
REQUIRE_CUDA = os.environ.get("HPEFAST_REQUIRE_CUDA") == "1"
DEVICES = ["cpu"] + (["cuda"] if REQUIRE_CUDA or hpefast.cuda_available() else [])


def _cuda_state() -> str:
    from hpefast._ext import lib

    return (
        f"CUDA kernels compiled: {hpefast.cuda_compiled()}, devices seen by the core: "
        f"{lib().cuda_device_count()}, torch.cuda.is_available(): {torch.cuda.is_available()}"
    )


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Every device with compiled kernels: cpu always, cuda when present (or required)."""
    if request.param == "cuda" and not hpefast.cuda_available():
        pytest.fail(f"HPEFAST_REQUIRE_CUDA=1 but CUDA is not usable ({_cuda_state()})")
    return request.param


# Parameter values that put a test on the GPU (the device fixture; the benchmarks' implementation ids).
_CUDA_PARAMS = {"cuda", "hpefast_cuda"}
_CUDA_SKIP_REASON = re.compile(r"cuda|gpu", re.IGNORECASE)


def pytest_collection_modifyitems(config, items):
    """Mark every test that runs on the GPU `cuda` (`-m cuda` selects them all)."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(isinstance(v, str) and v in _CUDA_PARAMS for v in params.values()):
            item.add_marker(pytest.mark.cuda)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With HPEFAST_REQUIRE_CUDA=1, a `cuda` test skipped for want of CUDA or a GPU fails instead (a test
    skipped for another reason, e.g. TensorRT not installed, stays skipped)."""
    outcome = yield
    report = outcome.get_result()
    if not (REQUIRE_CUDA and report.skipped and item.get_closest_marker("cuda")) or hasattr(
        report, "wasxfail"
    ):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if _CUDA_SKIP_REASON.search(reason):
        report.outcome = "failed"
        report.longrepr = f"HPEFAST_REQUIRE_CUDA=1 but this CUDA test was skipped: {reason} ({_cuda_state()})"


@pytest.fixture
def shared_data() -> Path:
    """The shared reference data folder (real samples, official tools' answers, Human3.6M frames)."""
    return require_shared()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)
    yield


requires_cuda = pytest.mark.skipif(
    not hpefast.cuda_available(), reason="needs CUDA kernels and a CUDA device"
)
