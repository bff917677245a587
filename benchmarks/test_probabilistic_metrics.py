"""TAC and the Gaussian NLL: hpefast's batched forms against the per-sample, per-joint reference that
follows TIC-TAC's code (swap joint i to the front, invert the rest; ``torch.logdet`` + ``torch.linalg.inv``).

Full size: 256 poses of 17 joints (34 x 34 covariances), float64. Under ``--benchmark-disable`` (CI) 4 poses.
One group per metric; implementations are the parameter. Values are checked equal before timing.
"""

from __future__ import annotations

import pytest
import torch

from hpefast._reference import probabilistic as ref
from hpefast.probabilistic import gaussian_nll, tac

IMPLS = {
    "tac": {"hpefast": tac, "reference": ref.tac},
    "gaussian_nll": {"hpefast": gaussian_nll, "reference": ref.gaussian_nll},
}


def _problem(b: int, device: str):
    g = torch.Generator().manual_seed(0)
    k = 17
    mean = torch.randn(b, k, 2, generator=g, dtype=torch.float64) * 10
    gt = mean + torch.randn(b, k, 2, generator=g, dtype=torch.float64)
    a = torch.randn(b, 2 * k, 2 * k, generator=g, dtype=torch.float64)
    cov = a @ a.mT / (2 * k) + 0.1 * torch.eye(2 * k, dtype=torch.float64)
    return mean.to(device), cov.to(device), gt.to(device)


@pytest.mark.parametrize("impl", ["hpefast", "reference"])
@pytest.mark.parametrize("metric", list(IMPLS))
def test_probabilistic_metric(benchmark, request, impl, metric):
    small = bool(request.config.getoption("benchmark_disable"))
    mean, cov, gt = _problem(4 if small else 256, "cpu")
    fn = IMPLS[metric][impl]
    torch.testing.assert_close(fn(mean, cov, gt), IMPLS[metric]["reference"](mean, cov, gt))
    benchmark.group = f"{metric} 17 joints"
    benchmark(fn, mean, cov, gt)
