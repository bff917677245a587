"""Shared fixtures: devices, the shared reference data folder, seeded generators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import hpefast

# ../shared/data relative to the project root (tests skip when it is absent, e.g. a clone elsewhere).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

DEVICES = ["cpu"] + (["cuda"] if hpefast.cuda_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Every device with compiled kernels: cpu always, cuda when present."""
    return request.param


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


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
