"""P-MPJPE (Human3.6M protocol #2): hpefast's batched torch metric against VideoPose3D's batched numpy.

    pytest benchmarks/test_lifting.py                        # 1,000,000 frames x 17 joints, float32
    pytest benchmarks/test_lifting.py --benchmark-disable    # quick run (CI): 2,000 frames

VideoPose3D's ``p_mpjpe`` (``common/loss.py``) is :func:`hpefast._reference.lifting.p_mpjpe` (the same
numpy code, per frame, with the degenerate-pose limit), run on float32 arrays as VideoPose3D's data are.
One timed round per implementation (the full size takes seconds); both answers are compared after timing.
``extra_info`` records the process CPU time, which is steadier than wall time on a shared machine.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from hpefast._reference import lifting as ref
from hpefast.lifting import p_mpjpe

FULL_FRAMES = 1_000_000


@pytest.fixture(scope="module")
def poses(request):
    n = 2_000 if request.config.getoption("benchmark_disable") else FULL_FRAMES
    rng = np.random.default_rng(2026)
    gt = (rng.normal(size=(n, 17, 3)) * 300.0).astype(np.float32)
    pred = (gt + rng.normal(size=(n, 17, 3)) * 40.0 + rng.normal(size=(n, 1, 3)) * 100.0).astype(np.float32)
    return pred, gt


@pytest.fixture(scope="module")
def expected(poses):
    pred, gt = poses
    return ref.p_mpjpe(pred.astype(np.float64), gt.astype(np.float64))


@pytest.mark.parametrize("impl", ["videopose3d_numpy", "hpefast"])
def test_p_mpjpe(benchmark, poses, expected, device, impl):
    if impl == "videopose3d_numpy" and device != "cpu":
        pytest.skip("numpy runs on the CPU only")
    pred, gt = poses
    benchmark.group = f"p_mpjpe_{pred.shape[0]}x17_float32"
    if impl == "hpefast":
        p, g = torch.from_numpy(pred).to(device), torch.from_numpy(gt).to(device)

        def run():
            out = p_mpjpe(p, g)
            if device == "cuda":
                torch.cuda.synchronize()
            return out
    else:

        def run():
            return ref.p_mpjpe(pred, gt)

    cpu = time.process_time()
    out = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info["process_cpu_s"] = round(time.process_time() - cpu, 3)
    out = out.cpu().numpy() if isinstance(out, torch.Tensor) else out
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-2)  # float32 against float64 (mm)
