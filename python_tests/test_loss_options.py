"""Target-imbalance options of hpefast.ops.union_heatmap_loss (heatmap amplitude scaling, foreground-weighted
MSE), alone and with OHKM: against the eager reference and a per-pixel numpy loop written from the formula,
identities that tie them to the plain loss, float64 gradcheck, opcheck, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpefast._reference.loss import union_heatmap_loss as reference
from hpefast.ops import union_heatmap_loss

OPTIONS = [
    dict(amplitude=3.0),
    dict(fg_threshold=0.5, fg_weight=4.0),
    dict(amplitude=2.0, fg_threshold=0.3, fg_weight=0.25),
]


def make(b=4, k=6, h=6, w=5, dtype=torch.float32, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(b, k, h, w, generator=g, dtype=torch.float64)
    target = torch.rand(b, k, h, w, generator=g, dtype=torch.float64)
    # keep targets 1e-3 away from the thresholds used here, so finite differences do not flip a pixel
    for thr in (0.3, 0.5):
        target = torch.where((target - thr).abs() < 1e-3, target + 2e-3, target)
    weight = torch.where(torch.rand(b, k, generator=g) < 0.7, 0.5 + torch.rand(b, k, generator=g), 0.0)
    return (t.to(device=device, dtype=dtype) for t in (pred, target, weight.double()))


def loop_loss(pred, target, weight, ohkm, amplitude=1.0, fg_threshold=0.0, fg_weight=1.0):
    """Per-pixel numpy loops written from the docstring formula (independent of the reference)."""
    p, t, wt = (x.detach().double().cpu().numpy() for x in (pred, target, weight))
    b, k = wt.shape
    jl = np.zeros((b, k))
    for i in range(b):
        for j in range(k):
            acc = 0.0
            for v, y in zip(p[i, j].ravel(), t[i, j].ravel()):
                u = fg_weight if y > fg_threshold else 1.0
                acc += u * (v - amplitude * y) ** 2
            jl[i, j] = wt[i, j] ** 2 * acc / p[i, j].size
    total, count = 0.0, 0
    for i in range(b):
        lab = [j for j in range(k) if wt[i, j] > 0]
        if ohkm:
            lab = sorted(lab, key=lambda j: (-jl[i, j], j))[:ohkm]
        total += sum(jl[i, j] for j in lab)
        count += len(lab)
    return total / max(count, 1)


@pytest.mark.parametrize("ohkm", [None, 2])
@pytest.mark.parametrize("opts", OPTIONS)
def test_options_match_reference_and_loop(device, ohkm, opts):
    pred, target, weight = make(device=device)
    pred.requires_grad_(True)
    target.requires_grad_(True)
    out = union_heatmap_loss(pred, target, weight, ohkm, **opts)
    ref = reference(pred, target, weight, ohkm, **opts)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    assert float(out.detach()) == pytest.approx(loop_loss(pred, target, weight, ohkm, **opts), rel=1e-5)
    for a, b in zip(torch.autograd.grad(out, [pred, target]), torch.autograd.grad(ref, [pred, target])):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("ohkm", [None, 3])
@pytest.mark.parametrize("opts", OPTIONS)
def test_float64_gradcheck_with_options(device, ohkm, opts):
    pred, target, weight = make(b=2, k=4, h=3, w=3, dtype=torch.float64, device=device, seed=1)
    pred.requires_grad_(True)
    target.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda p, t: union_heatmap_loss(p, t, weight, ohkm, **opts), (pred, target)
    )


def test_identities_with_the_plain_loss():
    pred, target, weight = make(dtype=torch.float64, seed=2)
    plain = union_heatmap_loss(pred, target, weight)
    # amplitude a against target t is the plain loss against a * t
    torch.testing.assert_close(
        union_heatmap_loss(pred, target, weight, amplitude=2.5),
        union_heatmap_loss(pred, 2.5 * target, weight),
        rtol=1e-12,
        atol=0,
    )
    # every pixel foreground (threshold below all targets): the plain loss times fg_weight
    torch.testing.assert_close(
        union_heatmap_loss(pred, target, weight, fg_threshold=-1.0, fg_weight=3.0),
        3 * plain,
        rtol=1e-12,
        atol=0,
    )
    # no pixel foreground: the plain loss
    torch.testing.assert_close(
        union_heatmap_loss(pred, target, weight, fg_threshold=2.0, fg_weight=9.0), plain, rtol=1e-12, atol=0
    )
    # the foreground weight raises the loss when the foreground error dominates
    t = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    t[0, 0, 1, 1] = 1.0
    w1 = torch.ones(1, 1, dtype=torch.float64)
    base = union_heatmap_loss(torch.zeros_like(t), t, w1)
    assert float(
        union_heatmap_loss(torch.zeros_like(t), t, w1, fg_threshold=0.5, fg_weight=5.0)
    ) == pytest.approx(5 * float(base))


def test_opcheck_with_options():
    from hpefast.ops.loss import _loss_bwd, _loss_fwd

    pred, target, weight = make(b=2, k=3, h=4, w=4)
    pred.requires_grad_(True)
    opts = (2.0, 0.5, 3.0)
    torch.library.opcheck(_loss_fwd, (pred, target, weight, 2, *opts))
    coef = _loss_fwd(pred.detach(), target, weight, 0, *opts)[2]
    torch.library.opcheck(_loss_bwd, (torch.tensor(1.0), pred.detach(), target, coef, *opts))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(amplitude=0.0), ValueError, "amplitude must be > 0"),
        (dict(amplitude=float("inf")), ValueError, "amplitude must be finite"),
        (dict(amplitude="2"), TypeError, "amplitude must be a float"),
        (dict(fg_weight=-1.0), ValueError, "fg_weight must be >= 0"),
        (dict(fg_threshold=float("nan")), ValueError, "fg_threshold must be finite"),
        (dict(fg_weight=True), TypeError, "fg_weight must be a float"),
    ],
)
def test_option_bad_input(kwargs, exc, match):
    pred, target, weight = make(b=1, k=2)
    with pytest.raises(exc, match=match):
        union_heatmap_loss(pred, target, weight, **kwargs)
