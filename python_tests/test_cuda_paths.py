"""The scalar paths of the CUDA heatmap kernels, against the numpy reference.

``csrc/heatmap/heatmap_cuda.cu`` reads and writes a map with float4 accesses only when the map's plane
(w * h) is a multiple of 4 and its address is 16-byte aligned; otherwise it takes a scalar loop. Every
size in test_heatmap.py (6x8, 12x16, 48x64, 72x96) takes the float4 path, so here: planes that are not a
multiple of 4 (odd, and 2 mod 4), a contiguous map at a misaligned address (a view at offset 1), maps
smaller than a warp, NaN / tie ordering of the block argmax on the scalar path, DarkPose's rare rescale
branch, and more maps than the kernels' grid (the block-stride loop). The CPU runs the same tests, so the
expectations are proven here even where no GPU is present.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hpefast
from hpefast._reference import heatmap as ref
from hpefast.ops import decode_heatmaps, encode_heatmaps

# (w, h) heatmap sizes whose plane is not a multiple of 4, and an input crop for each.
SCALAR_SIZES = [
    ((13, 7), (52, 28)),
    ((6, 7), (24, 28)),
    ((5, 3), (20, 12)),
    ((3, 3), (12, 12)),
    ((7, 9), (27, 37)),
]
DECODERS = ["argmax", "shift", "dark", "dark_udp"]


def assert_close(actual: torch.Tensor, expected: np.ndarray, atol: float = 1e-5) -> None:
    """|diff| <= max(atol, one float32 ulp of the expected value); identical NaN / infinity pattern."""
    a = actual.detach().cpu().numpy().astype(np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape
    assert (np.isnan(a) == np.isnan(e)).all(), "NaN pattern differs"
    assert (a[np.isinf(e)] == e[np.isinf(e)]).all(), "infinities differ"
    finite = np.isfinite(e)
    a, e = a[finite], e[finite]
    tol = np.maximum(atol, np.spacing(np.abs(e).astype(np.float32)).astype(np.float64))
    diff = np.abs(a - e)
    assert (diff <= tol).all(), f"max |diff| {diff.max():.3g}"


def gaussian_maps(rng, B, K, w, h, amplitude=1.0) -> np.ndarray:
    """Noisy Gaussian blobs at random sub-pixel centres (inside and on the border of the map)."""
    ys, xs = np.mgrid[0:h, 0:w]
    cx = rng.uniform(-0.5, w - 0.5, (B, K, 1, 1))
    cy = rng.uniform(-0.5, h - 0.5, (B, K, 1, 1))
    s = rng.uniform(0.8, 2.0, (B, K, 1, 1))
    hm = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * s**2)) + 0.01 * rng.random((B, K, h, w))
    return (amplitude * hm).astype(np.float32)


def misaligned(hm: np.ndarray, device: str) -> torch.Tensor:
    """A contiguous tensor holding `hm` 4 bytes past a 16-byte boundary (the float4 path is not allowed)."""
    buf = torch.zeros(hm.size + 1, dtype=torch.float32, device=device)
    out = buf[1:].view(hm.shape)
    out.copy_(torch.from_numpy(hm))
    assert out.is_contiguous() and out.data_ptr() % 16 != 0
    return out


@pytest.mark.parametrize("method", ["msra", "udp"])
def test_encode_planes_not_multiple_of_4(device, method, rng):
    for (w, h), inp in SCALAR_SIZES:
        assert (w * h) % 4 != 0
        B, K = 3, 17
        W, H = inp
        kp = np.stack([rng.uniform(-0.3 * W, 1.3 * W, (B, K)), rng.uniform(-0.3 * H, 1.3 * H, (B, K))], -1)
        kp = kp.astype(np.float32)
        vis = (rng.random((B, K)) > 0.2).astype(np.float32)
        hm, weight = encode_heatmaps(
            torch.from_numpy(kp).to(device), torch.from_numpy(vis).to(device), inp, (w, h), 1.5, method
        )
        rhm, rweight = ref.encode_heatmaps(kp, vis, inp, (w, h), 1.5, method)
        assert rhm.max() == pytest.approx(1.0, abs=0.5)  # real targets, not all zero
        assert_close(hm, rhm)
        assert_close(weight, rweight)


@pytest.mark.parametrize("method", DECODERS)
def test_decode_planes_not_multiple_of_4(device, method, rng):
    for (w, h), inp in SCALAR_SIZES:
        hm = gaussian_maps(rng, 2, 17, w, h)
        for k in (3, 11):
            kp, score = decode_heatmaps(torch.from_numpy(hm).to(device), inp, method, k)
            rkp, rscore = ref.decode_heatmaps(hm, inp, method, k)
            assert_close(score, rscore)
            assert_close(kp, rkp)


@pytest.mark.parametrize("method", DECODERS)
def test_decode_misaligned_maps(device, method, rng):
    hm = gaussian_maps(rng, 2, 17, 48, 64)  # plane 3072: only the address rules the float4 path out
    kp, score = decode_heatmaps(misaligned(hm, device), (192, 256), method, 11)
    rkp, rscore = ref.decode_heatmaps(hm, (192, 256), method, 11)
    assert_close(score, rscore)
    assert_close(kp, rkp)


def test_scalar_argmax_order(device):
    """np.argmax order on the scalar path: NaN first, then the first maximum (ties: lower index)."""
    w, h = 7, 5
    hm = np.zeros((1, 4, h, w), np.float32)
    hm[0, 0, 1, 2] = hm[0, 0, 3, 5] = 2.0  # tie: (2, 1) wins
    hm[0, 1, 4, 6] = 1.0
    hm[0, 1, 2, 3] = np.nan  # NaN wins
    hm[0, 2] = -np.inf  # all -inf: index 0
    hm[0, 3, 4, 6] = 3.0  # the last element
    for source in (torch.from_numpy(hm).to(device), misaligned(hm, device)):
        kp, score = decode_heatmaps(source, (28, 20), "argmax")
        rkp, rscore = ref.decode_heatmaps(hm, (28, 20), "argmax")
        assert_close(score, rscore)
        assert_close(kp, rkp)
    assert score[0, 0].item() == 2.0 and np.isnan(score[0, 1].item()) and score[0, 3].item() == 3.0


def test_dark_rescale_branch_on_scalar_maps(device, rng):
    """Tiny amplitudes push the blurred samples below DarkPose's fast-path threshold: the kernel then
    rescales by the maximum of the whole blurred map (a block-wide reduction on the scalar path)."""
    hm = gaussian_maps(rng, 2, 5, 13, 7, amplitude=1e-12)
    kp, score = decode_heatmaps(torch.from_numpy(hm).to(device), (52, 28), "dark", 3)
    rkp, rscore = ref.decode_heatmaps(hm, (52, 28), "dark", 3)
    assert_close(score, rscore, atol=0)
    assert_close(kp, rkp)


@pytest.mark.cuda
@pytest.mark.skipif(not hpefast.cuda_available(), reason="needs CUDA kernels and a CUDA device")
def test_more_maps_than_the_cuda_grid():
    """More than 2**20 maps: each block loops over several maps (the grid is capped at 2**20 blocks);
    scalar (5x3) and float4 (4x3) planes, against the CPU kernels (which the tests above tie to the
    reference)."""
    n = (1 << 20) + 37
    g = torch.Generator().manual_seed(0)
    for w, h in ((5, 3), (4, 3)):
        kp = torch.rand(n, 1, 2, generator=g) * torch.tensor([4.0 * w, 4.0 * h])
        vis = torch.ones(n, 1)
        hm_cpu, w_cpu = encode_heatmaps(kp, vis, (4 * w, 4 * h), (w, h), 1.0, "udp")
        hm_gpu, w_gpu = encode_heatmaps(kp.cuda(), vis.cuda(), (4 * w, 4 * h), (w, h), 1.0, "udp")
        torch.testing.assert_close(hm_gpu.cpu(), hm_cpu, rtol=0, atol=1e-6)
        torch.testing.assert_close(w_gpu.cpu(), w_cpu, rtol=0, atol=0)
        noisy = hm_cpu + 0.01 * torch.rand(hm_cpu.shape, generator=g)
        for method in ("argmax", "dark_udp"):
            kc, sc = decode_heatmaps(noisy, (4 * w, 4 * h), method, 3)
            kg, sg = decode_heatmaps(noisy.cuda(), (4 * w, 4 * h), method, 3)
            torch.testing.assert_close(sg.cpu(), sc, rtol=0, atol=0)
            torch.testing.assert_close(kg.cpu(), kc, rtol=0, atol=1e-4)
