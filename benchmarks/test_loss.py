"""Masked union-joint heatmap loss, forward + backward: hpefast's kernel against the eager torch reference
(the same masked formula) and an mmpose-style per-joint loop (JointsMSELoss, which does not mask the
count). One group per size; implementations are the parameter.

Full sizes: batch 64 (CPU) / 512 (CUDA), 21 joints (union21), 64x48 heatmaps. Under
``--benchmark-disable`` (CI) the batch shrinks to 2.
"""

from __future__ import annotations

import pytest
import torch

from hpefast._reference.loss import union_heatmap_loss as reference
from hpefast.ops import union_heatmap_loss


def mmpose_loop(pred, target, weight, ohkm_topk=None):
    b, k = weight.shape
    p, t = pred.reshape(b, k, -1), target.reshape(b, k, -1)
    loss = 0.0
    for j in range(k):
        wj = weight[:, j, None]
        loss = loss + torch.nn.functional.mse_loss(p[:, j] * wj, t[:, j] * wj)
    return loss / k


IMPLS = {"hpefast": union_heatmap_loss, "reference": reference, "mmpose_loop": mmpose_loop}


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("ohkm", [None, 8])
def test_loss_forward_backward(benchmark, request, device, impl, ohkm):
    if impl == "mmpose_loop" and ohkm:
        pytest.skip("the mmpose loop has no OHKM variant here")
    small = bool(request.config.getoption("benchmark_disable"))
    b = 2 if small else (512 if device == "cuda" else 64)
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(b, 21, 64, 48, generator=g).to(device).requires_grad_(True)
    target = torch.rand(b, 21, 64, 48, generator=g).to(device)
    weight = (torch.rand(b, 21, generator=g) < 0.8).float().to(device)
    fn = IMPLS[impl]
    benchmark.group = f"loss-fwd-bwd-B{b}-K21-64x48-ohkm{ohkm or 0}-{device}"

    def step():
        pred.grad = None
        fn(pred, target, weight, ohkm).backward()
        if device == "cuda":
            torch.cuda.synchronize()

    benchmark(step)
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


@pytest.mark.parametrize("impl", ["hpefast", "reference"])
@pytest.mark.parametrize("opts", ["plain", "amplitude+fg"])
def test_loss_imbalance_options(benchmark, request, device, impl, opts):
    """The target-imbalance options (amplitude 4, foreground weight 5 above 0.1, OHKM 8) against the plain
    loss with OHKM 8: the options' cost in the kernel and in the eager reference."""
    small = bool(request.config.getoption("benchmark_disable"))
    b = 2 if small else (512 if device == "cuda" else 64)
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(b, 21, 64, 48, generator=g).to(device).requires_grad_(True)
    target = torch.rand(b, 21, 64, 48, generator=g).to(device)
    weight = (torch.rand(b, 21, generator=g) < 0.8).float().to(device)
    kw = {} if opts == "plain" else dict(amplitude=4.0, fg_threshold=0.1, fg_weight=5.0)
    fn = IMPLS[impl]
    benchmark.group = f"loss-options-B{b}-K21-64x48-ohkm8-{device}"

    def step():
        pred.grad = None
        fn(pred, target, weight, 8, **kw).backward()
        if device == "cuda":
            torch.cuda.synchronize()

    benchmark(step)
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
