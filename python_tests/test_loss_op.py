"""hpefast.ops.union_heatmap_loss: against the eager reference, against mmpose's formulas, the masking
rule, OHKM, gradients (float64 gradcheck), bad input."""

from __future__ import annotations

import pytest
import torch

import hpefast
from hpefast._ext import lib
from hpefast._reference.loss import union_heatmap_loss as reference
from hpefast.ops import union_heatmap_loss


def make(b=6, k=7, h=8, w=6, dtype=torch.float32, device="cpu", p_labelled=0.7, seed=0):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(b, k, h, w, generator=g, dtype=torch.float64)
    target = torch.rand(b, k, h, w, generator=g, dtype=torch.float64)
    labelled = torch.rand(b, k, generator=g) < p_labelled
    weight = torch.where(labelled, 0.5 + torch.rand(b, k, generator=g), torch.zeros(b, k)).double()
    return (t.to(device=device, dtype=dtype) for t in (pred, target, weight))


# --- mmpose's formulas (ViTPose's losses), written from mmpose/models/losses/mse_loss.py ---------------
def mmpose_joints_mse(pred, target, weight):
    """JointsMSELoss(use_target_weight=True): sum_k MSELoss(pred_k * w_k, gt_k * w_k) / K."""
    b, k = weight.shape
    p, t = pred.reshape(b, k, -1), target.reshape(b, k, -1)
    loss = 0.0
    for j in range(k):
        wj = weight[:, j, None]
        loss = loss + torch.nn.functional.mse_loss(p[:, j] * wj, t[:, j] * wj)
    return loss / k


def mmpose_joints_ohkm_mse(pred, target, weight, topk):
    """JointsOHKMMSELoss(use_target_weight=True, topk): per sample the mean of the top-k joint losses,
    averaged over the batch."""
    b, k = weight.shape
    p, t = pred.reshape(b, k, -1), target.reshape(b, k, -1)
    losses = ((p * weight[..., None] - t * weight[..., None]) ** 2).mean(-1)
    total = 0.0
    for i in range(b):
        total = total + torch.topk(losses[i], k=topk, sorted=False).values.sum() / topk
    return total / b


# --- value and gradients against the reference ------------------------------------------------------------
@pytest.mark.parametrize("ohkm", [None, 1, 3, 7])
def test_matches_reference(device, ohkm):
    pred, target, weight = make(device=device)
    pred.requires_grad_(True)
    target.requires_grad_(True)
    out = union_heatmap_loss(pred, target, weight, ohkm)
    ref = reference(pred, target, weight, ohkm)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    g = torch.autograd.grad(out, [pred, target])
    gr = torch.autograd.grad(ref, [pred, target])
    for a, b in zip(g, gr):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)
    assert out.shape == () and out.device.type == device


@pytest.mark.parametrize("ohkm", [None, 4])
def test_float64_gradcheck(device, ohkm):
    pred, target, weight = make(b=3, k=5, h=4, w=3, dtype=torch.float64, device=device)
    pred.requires_grad_(True)
    target.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p, t: union_heatmap_loss(p, t, weight, ohkm), (pred, target))


@pytest.mark.parametrize("ohkm", [None, 3])
def test_float64_exact_against_reference(device, ohkm):
    pred, target, weight = make(b=9, k=17, h=16, w=12, dtype=torch.float64, device=device, seed=3)
    torch.testing.assert_close(
        union_heatmap_loss(pred, target, weight, ohkm),
        reference(pred, target, weight, ohkm),
        rtol=1e-12,
        atol=0,
    )


# --- agreement with mmpose when nothing is masked -----------------------------------------------------
def test_equals_mmpose_when_all_labelled(device):
    pred, target, weight = make(device=device, p_labelled=1.1, dtype=torch.float64)
    weight = weight * torch.linspace(
        0.5, 1.5, weight.shape[1], dtype=weight.dtype, device=device
    )  # joint weights
    torch.testing.assert_close(
        union_heatmap_loss(pred, target, weight), mmpose_joints_mse(pred, target, weight), rtol=1e-12, atol=0
    )
    torch.testing.assert_close(
        union_heatmap_loss(pred, target, weight, 3),
        mmpose_joints_ohkm_mse(pred, target, weight, 3),
        rtol=1e-12,
        atol=0,
    )


# --- the masking rule ------------------------------------------------------------------------------------
def test_mean_over_labelled_joints_only(device):
    pred, target, _ = make(b=2, k=4, device=device, dtype=torch.float64)
    weight = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 2.0, 0.0]], dtype=torch.float64, device=device)
    per = ((pred - target) ** 2).flatten(2).mean(-1) * weight**2
    expected = (per[0, 0] + per[0, 2] + per[1, 2]) / 3  # three labelled joints, not B*K = 8
    torch.testing.assert_close(union_heatmap_loss(pred, target, weight), expected, rtol=1e-12, atol=0)


def test_unlabelled_joints_carry_no_loss_and_no_gradient(device):
    pred, target, weight = make(device=device)
    masked = weight == 0
    assert masked.any() and (~masked).any()
    base = union_heatmap_loss(pred, target, weight)
    wild = pred.clone()
    wild[masked] = float("nan")  # whatever a head predicts for a joint its dataset does not label
    wild.requires_grad_(True)
    out = union_heatmap_loss(wild, target, weight)
    torch.testing.assert_close(out, base.detach())
    (g,) = torch.autograd.grad(out, wild)
    assert torch.all(g[masked] == 0) and torch.isfinite(g).all()
    assert (g[~masked] != 0).any()


@pytest.mark.parametrize("ohkm", [None, 2])
def test_all_masked_is_zero_with_zero_gradients(device, ohkm):
    pred, target, weight = make(device=device)
    weight = torch.zeros_like(weight)
    pred.requires_grad_(True)
    out = union_heatmap_loss(pred, target, weight, ohkm)
    assert out.item() == 0.0
    (g,) = torch.autograd.grad(out, pred)
    assert torch.count_nonzero(g) == 0


def test_empty_batch(device):
    pred, target, weight = make(b=0, device=device)
    assert union_heatmap_loss(pred, target, weight).item() == 0.0


# --- OHKM -----------------------------------------------------------------------------------------------
def test_ohkm_keeps_top_k_labelled_per_sample(device):
    pred = torch.zeros(2, 5, 1, 1, dtype=torch.float64, device=device)
    target = torch.tensor([1.0, 5.0, 3.0, 4.0, 2.0], dtype=torch.float64, device=device).sqrt()
    target = target.expand(2, 5).reshape(2, 5, 1, 1).clone()  # joint losses 1, 5, 3, 4, 2
    weight = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 1, 0, 0]], dtype=torch.float64, device=device)
    # sample 0 keeps 5 and 4; sample 1 has two labelled joints (1 and 3) and keeps both
    expected = torch.tensor((5 + 4 + 3 + 1) / 4, dtype=torch.float64)
    torch.testing.assert_close(union_heatmap_loss(pred, target, weight, 2).cpu(), expected)


def test_ohkm_ties_go_to_lower_index(device):
    pred = torch.zeros(1, 4, 2, 2, device=device, requires_grad=True)
    target = torch.ones(1, 4, 2, 2, device=device)  # every joint loss is 1
    weight = torch.ones(1, 4, device=device)
    out = union_heatmap_loss(pred, target, weight, 2)
    (g,) = torch.autograd.grad(out, pred)
    assert out.item() == pytest.approx(1.0)
    assert torch.count_nonzero(g[0, :2]) == 8 and torch.count_nonzero(g[0, 2:]) == 0


# --- dtypes and shapes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_inputs_compute_in_float32(device, dtype):
    pred, target, weight = make(device=device, dtype=dtype)
    pred.requires_grad_(True)
    out = union_heatmap_loss(pred, target, weight)
    assert out.dtype == torch.float32
    ref = reference(pred.float(), target.float(), weight.float())
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    (g,) = torch.autograd.grad(out, pred)
    assert g.dtype == dtype


def test_mmpose_weight_shape_and_noncontiguous(device):
    pred, target, weight = make(device=device)
    base = union_heatmap_loss(pred, target, weight)
    torch.testing.assert_close(union_heatmap_loss(pred, target, weight[..., None]), base)
    pt = pred.transpose(2, 3).contiguous().transpose(2, 3)  # same values, other strides
    torch.testing.assert_close(union_heatmap_loss(pt, target, weight), base)


def test_opcheck():
    from hpefast.ops.loss import _loss_bwd, _loss_fwd

    pred, target, weight = make(b=2, k=3, h=4, w=4)
    pred.requires_grad_(True)
    plain = (1.0, 0.0, 1.0)  # amplitude, fg_threshold, fg_weight: the plain MSE
    torch.library.opcheck(_loss_fwd, (pred, target, weight, 2, *plain))
    coef = _loss_fwd(pred.detach(), target, weight, 0, *plain)[2]
    torch.library.opcheck(_loss_bwd, (torch.tensor(1.0), pred.detach(), target, coef, *plain))


# --- bad input ----------------------------------------------------------------------------------------
def test_bad_input_errors_name_the_argument():
    pred, target, weight = make(b=2, k=3)
    with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
        union_heatmap_loss(pred.numpy(), target, weight)
    with pytest.raises(ValueError, match=r"pred must have shape \[B, K, h, w\]"):
        union_heatmap_loss(pred[0], target, weight)
    with pytest.raises(ValueError, match=r"target must have shape \[2, 3, 8, 6\]"):
        union_heatmap_loss(pred, target[:, :2], weight)
    with pytest.raises(ValueError, match=r"weight must have shape \[2, 3\]"):
        union_heatmap_loss(pred, target, weight[:1])
    with pytest.raises(TypeError, match="target must be"):
        union_heatmap_loss(pred, target.long(), weight)
    with pytest.raises(ValueError, match=r"ohkm_topk must be in \[1, K=3\]"):
        union_heatmap_loss(pred, target, weight, 4)
    with pytest.raises(ValueError, match="ohkm_topk"):
        union_heatmap_loss(pred, target, weight, 0)
    with pytest.raises(TypeError, match="ohkm_topk must be None or an int"):
        union_heatmap_loss(pred, target, weight, True)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), -float("inf")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_negative_or_nan_weight_is_refused_on_cpu(bad, dtype):
    pred, target, weight = make(b=2, k=3, dtype=dtype)
    weight[1, 2] = bad
    with pytest.raises(ValueError, match=r"weight must be >= 0 .* at \[b=1, k=2\] \(1 bad of 6\)"):
        union_heatmap_loss(pred, target, weight)
    with pytest.raises(ValueError, match=r"at \[b=1, k=2\]"):  # mmpose's [B, K, 1] too
        union_heatmap_loss(pred, target, weight[..., None])
    weight[1, 2] = 0.0  # a zero (and -0.0) is the mask
    assert torch.isfinite(union_heatmap_loss(pred, target, weight))
    weight[1, 2] = -0.0
    assert torch.isfinite(union_heatmap_loss(pred, target, weight))


@pytest.mark.cuda
@pytest.mark.skipif(not hpefast.cuda_available(), reason="needs CUDA kernels and a CUDA device")
def test_cuda_non_positive_weight_is_unlabelled_without_a_check():
    """No host sync on CUDA: negative / NaN weights are read as 'not labelled', as documented."""
    pred, target, weight = make(b=2, k=3, device="cuda")
    clean = weight.clone()
    clean[1, 2] = 0.0
    for bad in (-0.5, float("nan")):
        weight[1, 2] = bad
        torch.testing.assert_close(
            union_heatmap_loss(pred, target, weight), union_heatmap_loss(pred, target, clean)
        )


def test_compiled_core_backstop():
    with pytest.raises(ValueError, match="unsupported dtype"):
        lib().union_heatmap_loss_forward(False, 0, "int32", 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1.0, 0.0, 1.0)
    out = torch.zeros(3)
    with pytest.raises(ValueError, match="ohkm_topk must be in"):
        p = out.data_ptr()
        lib().union_heatmap_loss_forward(False, 0, "float32", p, p, p, p, p, p, 1, 1, 1, 5, 1.0, 0.0, 1.0)
    if not lib().cuda_compiled():
        with pytest.raises(ValueError, match="built without CUDA"):
            lib().union_heatmap_loss_forward(True, 0, "float32", p, p, p, p, p, p, 1, 1, 1, 0, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="amplitude must be finite and > 0"):
        lib().union_heatmap_loss_forward(False, 0, "float32", p, p, p, p, p, p, 1, 1, 1, 0, 0.0, 0.0, 1.0)
