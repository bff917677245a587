"""hpefast.ops oks / pckh (compiled, CPU and CUDA) against the numpy reference hpefast._reference.oks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpefast._reference import oks as ref
from hpefast.ops import oks, pckh


def make(n=300, k=17, seed=0):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0, 300, (n, k, 2)).astype(np.float32)
    area = rng.uniform(50, 30000, n).astype(np.float32)
    pred = (gt + rng.normal(0, 1, (n, k, 2)) * np.sqrt(area)[:, None, None] * 0.05).astype(np.float32)
    vis = rng.random((n, k)) > 0.3
    vis[0] = False  # an instance with no labelled joint
    sig = rng.uniform(0.025, 0.107, k).astype(np.float32)
    hb = np.stack([gt[:, 0] - 12, gt[:, 0] + rng.uniform(5, 15, (n, 2))], 1).astype(np.float32)
    return pred, gt, vis, area, sig, hb


def t(x, device):
    return torch.as_tensor(x, device=device)


def test_oks_matches_reference(device):
    pred, gt, vis, area, sig, _ = make()
    out = oks(t(pred, device), t(gt, device), t(vis, device), t(area, device), t(sig, device))
    assert out.device.type == device and out.dtype == torch.float32 and out.shape == (len(pred),)
    np.testing.assert_allclose(out.cpu().numpy(), ref.oks(pred, gt, vis, area, sig), rtol=0, atol=2e-6)
    assert out[0].item() == 0.0  # no labelled joint
    # float visibility, and sigmas given as a list
    out2 = oks(
        t(pred, device), t(gt, device), t(vis.astype(np.float32), device), t(area, device), sig.tolist()
    )
    torch.testing.assert_close(out2, out)


def test_oks_equals_cocoeval_ious_for_matched_pairs():
    """The op is pycocotools' computeOks on the diagonal (a gt with labelled joints)."""
    pred, gt, vis, area, sig, _ = make(n=40, seed=3)
    d = np.concatenate([pred, np.ones((40, 17, 1), np.float32)], -1).astype(np.float64)
    g = np.concatenate([gt, vis[..., None] * 2.0], -1).astype(np.float64)
    boxes = np.zeros((40, 4))
    full = ref.coco_oks_matrix(d, g, area.astype(np.float64), boxes, sig.astype(np.float64))
    out = oks(t(pred, "cpu"), t(gt, "cpu"), t(vis, "cpu"), t(area, "cpu"), t(sig, "cpu")).numpy()
    np.testing.assert_allclose(out[1:], np.diag(full)[1:], rtol=0, atol=2e-6)


def test_oks_gradient(device):
    pred, gt, vis, area, sig, _ = make(n=64, seed=1)
    p = t(pred, device).requires_grad_(True)
    oks(p, t(gt, device), t(vis, device), t(area, device), t(sig, device)).sum().backward()
    # autograd through the float64 reference formula
    p64 = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    var = (2 * torch.tensor(sig, dtype=torch.float64)) ** 2
    e = ((p64 - torch.tensor(gt, dtype=torch.float64)) ** 2).sum(-1) / var
    e = e / (torch.tensor(area, dtype=torch.float64)[:, None] + ref.EPS) / 2
    v = torch.tensor(vis, dtype=torch.float64)
    ((torch.exp(-e) * v).sum(1) / v.sum(1).clamp_min(1)).sum().backward()
    np.testing.assert_allclose(p.grad.cpu().numpy(), p64.grad.numpy(), rtol=1e-4, atol=1e-7)


def test_pckh_matches_reference(device):
    pred, gt, vis, _, _, hb = make(seed=2)
    for thr in (0.5, 0.1, 2.0):
        out = pckh(t(pred, device), t(gt, device), t(vis, device), t(hb, device), threshold=thr)
        assert out.shape == vis.shape and out.device.type == device
        expected = ref.pckh_hits(pred, gt, vis, hb, thr)
        # float32 kernel vs float64 reference: only exact-boundary joints could differ
        assert np.count_nonzero(out.cpu().numpy() != expected) == 0
        assert 0 < expected.mean() < 1 or thr == 2.0


def test_opcheck():
    pred, gt, vis, area, sig, hb = make(n=8)
    args = (t(pred, "cpu"), t(gt, "cpu"), t(vis.astype(np.float32), "cpu"), t(area, "cpu"), t(sig, "cpu"))
    torch.library.opcheck(torch.ops.hpefast.oks.default, args)
    args = (t(pred, "cpu"), t(gt, "cpu"), t(vis.astype(np.float32), "cpu"), t(hb, "cpu"), 0.5)
    torch.library.opcheck(torch.ops.hpefast.pckh.default, args)


def test_empty_batch():
    z = torch.zeros((0, 17, 2))
    assert oks(z, z, torch.zeros((0, 17)), torch.zeros(0), torch.full((17,), 0.05)).shape == (0,)
    assert pckh(z, z, torch.zeros((0, 17)), torch.zeros((0, 2, 2))).shape == (0, 17)


def test_bad_input():
    pred, gt, vis, area, sig, hb = (torch.as_tensor(x) for x in make(n=4))
    with pytest.raises(TypeError, match="pred must be float32"):
        oks(pred.double(), gt, vis, area, sig)
    with pytest.raises(ValueError, match=r"gt must have shape"):
        oks(pred, gt[:, :5], vis, area, sig)
    with pytest.raises(ValueError, match=r"area must have shape"):
        oks(pred, gt, vis, area[:2], sig)
    with pytest.raises(ValueError, match=r"sigmas must have shape"):
        oks(pred, gt, vis, area, sig[:3])
    with pytest.raises(ValueError, match=r"sigmas must be finite and > 0"):
        oks(pred, gt, vis, area, torch.zeros_like(sig))
    with pytest.raises(ValueError, match=r"area must be >= 0"):
        oks(pred, gt, vis, -area, sig)
    with pytest.raises(ValueError, match=r"visible must have shape"):
        oks(pred, gt, vis[:, :3], area, sig)
    with pytest.raises(TypeError, match="visible must be"):
        oks(pred, gt, vis.to(torch.int64), area, sig)
    with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
        oks(pred.numpy(), gt, vis, area, sig)
    with pytest.raises(ValueError, match=r"headboxes must have shape"):
        pckh(pred, gt, vis, hb[:, 0])
    with pytest.raises(ValueError, match="threshold"):
        pckh(pred, gt, vis, hb, threshold=-1.0)
    with pytest.raises(ValueError, match="contiguous"):
        oks(pred.transpose(0, 1).contiguous().transpose(0, 1), gt, vis, area, sig)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_needs_same_device():
    import hpefast

    if not hpefast.cuda_available():
        pytest.skip("CUDA kernels not compiled")
    pred, gt, vis, area, sig, _ = (torch.as_tensor(x) for x in make(n=4))
    with pytest.raises(ValueError, match="on one device"):
        oks(pred.cuda(), gt, vis, area, sig)
