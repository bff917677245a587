"""Issue 11, item 9: ops under torch.compile behave as in eager.

The loss's NaN / negative weight check raises under ``torch.compile`` as in eager (it used to be skipped
there); ``oks`` and ``pckh`` compile with ``fullgraph=True`` and give the eager values; the gradients of
``oks`` with respect to the ground truth, the area and the sigmas are correct (they used to be silently
None) against an autograd reference of pycocotools' formula in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpefast.ops import union_heatmap_loss
from hpefast.ops.keypoint_metrics import OKS_EPS, oks, pckh


def _loss_inputs(bad: float):
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    w = torch.ones(2, 3)
    w[1, 2] = bad
    return pred, target, w


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
@pytest.mark.parametrize("bad", [float("nan"), -1.0])
def test_loss_weight_check_holds_under_compile(backend, bad):
    torch._dynamo.reset()
    args = _loss_inputs(bad)
    with pytest.raises(ValueError, match=r"weight must be >= 0.*\[b=1, k=2\]"):
        union_heatmap_loss(*args)
    compiled = torch.compile(union_heatmap_loss, backend=backend, fullgraph=True)
    with pytest.raises(ValueError, match=r"weight must be >= 0.*\[b=1, k=2\]"):
        compiled(*args)
    good = _loss_inputs(0.5)
    torch.testing.assert_close(compiled(*good), union_heatmap_loss(*good), rtol=0, atol=0)


def _oks_inputs(n: int = 5, k: int = 17):
    g = torch.Generator().manual_seed(1)
    gt = torch.rand(n, k, 2, generator=g) * 100
    pred = gt + torch.randn(n, k, 2, generator=g) * 4
    vis = (torch.rand(n, k, generator=g) > 0.2).float()
    area = torch.rand(n, generator=g) * 5000 + 500
    sigmas = torch.rand(k, generator=g) * 0.08 + 0.02
    return pred, gt, vis, area, sigmas


def test_oks_and_pckh_compile_with_fullgraph():
    torch._dynamo.reset()
    pred, gt, vis, area, sigmas = _oks_inputs()
    heads = torch.tensor([[[0.0, 0.0], [30.0, 40.0]]]).repeat(pred.shape[0], 1, 1)
    oks_c = torch.compile(oks, fullgraph=True, backend="aot_eager")
    pckh_c = torch.compile(pckh, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(oks_c(pred, gt, vis, area, sigmas), oks(pred, gt, vis, area, sigmas))
    torch.testing.assert_close(pckh_c(pred, gt, vis, heads, 0.5), pckh(pred, gt, vis, heads, 0.5))
    # the value checks hold compiled too
    with pytest.raises(ValueError, match="sigmas must be finite and > 0"):
        oks_c(pred, gt, vis, area, -sigmas)
    with pytest.raises(ValueError, match="area must be >= 0"):
        oks_c(pred, gt, vis, -area, sigmas)
    with pytest.raises(ValueError, match="threshold must be finite and >= 0"):
        pckh_c(pred, gt, vis, heads, -1.0)


def _oks_reference(pred, gt, vis, area, sigmas):
    """pycocotools' computeOks for matched pairs, in torch (float64, autograd)."""
    var = (2 * sigmas) ** 2
    d2 = ((pred - gt) ** 2).sum(-1)
    e = d2 / var[None] / (area[:, None] + OKS_EPS) / 2
    v = (vis > 0).to(pred.dtype)
    return (torch.exp(-e) * v).sum(1) / v.sum(1).clamp_min(1)


@pytest.mark.parametrize("compiled", [False, True])
def test_oks_gradients_wrt_every_input(compiled):
    torch._dynamo.reset()
    pred, gt, vis, area, sigmas = _oks_inputs()
    weights = torch.linspace(0.5, 1.5, pred.shape[0])
    ours = [t.clone().requires_grad_(True) for t in (pred, gt, area, sigmas)]
    ref = [t.double().clone().requires_grad_(True) for t in (pred, gt, area, sigmas)]
    fn = torch.compile(oks, fullgraph=True, backend="aot_eager") if compiled else oks
    (fn(ours[0], ours[1], vis, ours[2], ours[3]) * weights).sum().backward()
    (_oks_reference(ref[0], ref[1], vis.double(), ref[2], ref[3]) * weights.double()).sum().backward()
    for name, a, b in zip(("pred", "gt", "area", "sigmas"), ours, ref):
        assert a.grad is not None, name
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=2e-4, atol=1e-7, err_msg=name)
    assert float(ours[1].grad.abs().sum()) > 0
