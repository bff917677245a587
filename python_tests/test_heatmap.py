"""Heatmap codecs: compiled CPU/CUDA kernels against the numpy reference (hpefast._reference.heatmap),
the reference against the original code (HRNet / mmpose transcriptions below, OpenCV's blur), and the
decoders against known sub-pixel centres.

Tolerance: max |diff| <= 1e-5. Decoded coordinates are float32 values up to a few hundred pixels, where
one float32 ulp is up to 3e-5; both sides compute in float64 and round once, so they agree to the bit in
practice, and the comparison allows one ulp where that is larger than 1e-5.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

import hpefast
from hpefast._reference import heatmap as ref
from hpefast.ops import decode_heatmaps, encode_heatmaps, flip_heatmaps

# Heatmap (w, h) from 6 x 8 to 72 x 96 (H x W 8x6 .. 96x72) and the input crop (W, H) of each.
SIZES = [((6, 8), (24, 32)), ((12, 16), (50, 61)), ((48, 64), (192, 256)), ((72, 96), (288, 384))]


def assert_close(actual: torch.Tensor, expected: np.ndarray, atol: float = 1e-5) -> None:
    a = actual.detach().cpu().numpy().astype(np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    assert (nan_a == nan_e).all(), "NaN pattern differs"
    e = np.where(nan_e, 0.0, e)
    tol = np.maximum(atol, np.spacing(np.abs(e).astype(np.float32)).astype(np.float64))
    diff = np.abs(np.where(nan_e, 0.0, a - e))
    worst = np.unravel_index(np.argmax(diff - tol), diff.shape)
    assert (diff <= tol).all(), f"max |diff| {diff.max():.3g} at {worst}: {a[worst]} vs {e[worst]}"


def random_keypoints(rng, B, K, input_size):
    """Keypoints inside, outside and on the border of the crop, some unlabelled, some NaN."""
    W, H = input_size
    kp = np.stack([rng.uniform(-0.4 * W, 1.4 * W, (B, K)), rng.uniform(-0.4 * H, 1.4 * H, (B, K))], -1)
    border = rng.random((B, K)) < 0.15
    kp[border] = rng.choice([0.0, -0.5, W - 1.0, float(W), W + 0.5], (border.sum(), 2))
    vis = rng.choice([0.0, 1.0, 2.0, 0.5], (B, K), p=[0.2, 0.5, 0.2, 0.1])
    nan = rng.random((B, K)) < 0.05
    kp[nan, rng.integers(0, 2)] = np.nan
    return kp.astype(np.float32), vis.astype(np.float32)


# --------------------------------------------------------------------------------------------------
# The reference against the original code


def hrnet_generate_target(joints, joints_vis, image_size, heatmap_size, sigma, udp):
    """HRNet lib/dataset/JointsDataset.py generate_target (and mmpose's _udp_generate_target when udp),
    transcribed for one sample: joints [K, 2], joints_vis [K]."""
    K = joints.shape[0]
    image_size, heatmap_size = np.array(image_size), np.array(heatmap_size)
    target_weight = (joints_vis > 0.5).astype(np.float32)
    target = np.zeros((K, heatmap_size[1], heatmap_size[0]), dtype=np.float32)
    tmp_size = sigma * 3
    for joint_id in range(K):
        feat_stride = (image_size - 1.0) / (heatmap_size - 1.0) if udp else image_size / heatmap_size
        mu_x = int(joints[joint_id][0] / feat_stride[0] + 0.5)
        mu_y = int(joints[joint_id][1] / feat_stride[1] + 0.5)
        ul = [int(mu_x - tmp_size), int(mu_y - tmp_size)]
        br = [int(mu_x + tmp_size + 1), int(mu_y + tmp_size + 1)]
        if ul[0] >= heatmap_size[0] or ul[1] >= heatmap_size[1] or br[0] < 0 or br[1] < 0:
            target_weight[joint_id] = 0
            continue
        size = 2 * tmp_size + 1
        x = np.arange(0, size, 1, np.float32)
        y = x[:, np.newaxis]
        x0 = y0 = size // 2
        if udp:
            x0 += joints[joint_id][0] / feat_stride[0] - mu_x
            y0 += joints[joint_id][1] / feat_stride[1] - mu_y
        g = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))
        g_x = max(0, -ul[0]), min(br[0], heatmap_size[0]) - ul[0]
        g_y = max(0, -ul[1]), min(br[1], heatmap_size[1]) - ul[1]
        img_x = max(0, ul[0]), min(br[0], heatmap_size[0])
        img_y = max(0, ul[1]), min(br[1], heatmap_size[1])
        if target_weight[joint_id] > 0.5:
            target[joint_id][img_y[0] : img_y[1], img_x[0] : img_x[1]] = g[g_y[0] : g_y[1], g_x[0] : g_x[1]]
    return target, target_weight


@pytest.mark.parametrize("method", ["msra", "udp"])
@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0, 4 / 3])
def test_reference_encode_is_hrnet(method, sigma, rng):
    """Where HRNet's window arithmetic is well defined (integer 3 sigma, window not ending exactly at
    the left/top border), the reference is HRNet's / mmpose-UDP's generate_target."""
    (w, h), inp = (48, 64), (192, 256)
    kp, vis = random_keypoints(rng, 1, 200, inp)
    kp, vis = kp[0], vis[0]
    keep = ~np.isnan(kp).any(1)
    kp, vis = kp[keep], vis[keep]
    target, weight = hrnet_generate_target(kp, vis, inp, (w, h), sigma, method == "udp")
    mine, my_weight = ref.encode_heatmaps(kp[None], vis[None], inp, (w, h), sigma, method)
    stride = (np.array(inp) - 1) / (np.array([w, h]) - 1) if method == "udp" else np.array(inp) / [w, h]
    mu = np.trunc(kp / stride + 0.5)
    edge = (mu + 3 * sigma + 1 >= 0) & (mu + 3 * sigma + 1 < 1)  # HRNet's br == 0: weight 1, empty map
    agree = ~edge.any(1)
    assert agree.sum() > 150
    np.testing.assert_allclose(mine[0][agree], target[agree], atol=2e-7)
    np.testing.assert_array_equal(my_weight[0][agree], weight[agree])
    # the documented difference: HRNet keeps weight 1 but draws nothing there
    assert (target[~agree & (vis > 0.5)] == 0).all()
    assert (my_weight[0][~agree] == 0).all()


@pytest.mark.parametrize("k", [1, 3, 5, 7, 9, 11, 13, 17, 25])
def test_reference_gaussian_kernel_is_opencv(k):
    np.testing.assert_allclose(
        ref.gaussian_kernel(k), cv2.getGaussianKernel(k, 0).ravel(), rtol=1e-7, atol=1e-9
    )


@pytest.mark.parametrize("k", [1, 3, 5, 11, 17])
@pytest.mark.parametrize("border", ["zero", "reflect101"])
@pytest.mark.parametrize("hw", [(8, 6), (17, 13), (64, 48)])
def test_reference_blur_is_opencv(k, border, hw, rng):
    m = rng.random(hw).astype(np.float32)
    np.testing.assert_allclose(ref.blur(m, k, border), ref._blur_cv2(m, k, border), rtol=2e-6, atol=1e-7)


def gaussian_maps(rng, B, K, w, h, noise=0.02):
    """Realistic predictions: a Gaussian bump (random centre in/near the map, sigma 1..3, peak 0.1..1)
    plus noise, and some special maps: all zero, all negative, a NaN, a flat plateau, a corner peak."""
    cx = rng.uniform(-2, w + 1, (B, K, 1, 1))
    cy = rng.uniform(-2, h + 1, (B, K, 1, 1))
    sig = rng.uniform(1, 3, (B, K, 1, 1))
    amp = rng.uniform(0.1, 1, (B, K, 1, 1))
    xs, ys = np.arange(w), np.arange(h)[:, None]
    hm = amp * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sig**2))
    hm = hm + noise * rng.uniform(-1, 1, hm.shape)
    flat = hm.reshape(B * K, h, w)
    special = rng.permutation(B * K)[: min(B * K, 6)]
    for i, s in enumerate(special):
        if i == 0:
            flat[s] = 0
        elif i == 1:
            flat[s] = -np.abs(flat[s]) - 0.01
        elif i == 2:
            flat[s, rng.integers(h), rng.integers(w)] = np.nan
        elif i == 3:
            flat[s] = 0.25
        elif i == 4:
            flat[s] = 0
            flat[s, 0, w - 1] = 0.8
        else:
            flat[s] = np.where(flat[s] > 0.5 * flat[s].max(), flat[s], -0.5)  # clamp region in DARK's log
    return flat.reshape(B, K, h, w).astype(np.float32)


@pytest.mark.parametrize("method", ["dark", "dark_udp"])
def test_reference_decode_cv2_backend(method, rng):
    """The float64 reference decodes like the original code (cv2 float32 blur) to float32 accuracy."""
    hm = gaussian_maps(rng, 4, 17, 48, 64, noise=0.0)
    kp64, s64 = ref.decode_heatmaps(hm, (192, 256), method, 11)
    kp32, s32 = ref.decode_heatmaps(hm, (192, 256), method, 11, backend="cv2")
    np.testing.assert_array_equal(s64, s32)
    np.testing.assert_allclose(kp64, kp32, atol=2e-3)


# --------------------------------------------------------------------------------------------------
# Kernels against the reference


@pytest.mark.parametrize("method", ["msra", "udp"])
@pytest.mark.parametrize("K", [1, 17, 133])
def test_encode_matches_reference(device, method, K, rng):
    for (w, h), inp in SIZES:
        B = max(1, 64 // K)
        kp, vis = random_keypoints(rng, B, K, inp)
        sigma = float(rng.choice([1.0, 2.0, 3.0, rng.uniform(1, 3)]))
        jw = rng.uniform(0.5, 1.5, K).astype(np.float32) if K > 1 else None
        hm, weight = encode_heatmaps(
            torch.from_numpy(kp).to(device), torch.from_numpy(vis).to(device), inp, (w, h), sigma, method, jw
        )
        rhm, rweight = ref.encode_heatmaps(kp, vis, inp, (w, h), sigma, method, jw)
        assert hm.shape == (B, K, h, w) and hm.dtype == torch.float32 and hm.device.type == device
        assert_close(hm, rhm)
        assert_close(weight, rweight)
        assert ((weight.cpu() == 0) == torch.from_numpy(rhm.reshape(B, K, -1).max(-1) == 0)).all()


def test_encode_properties(device):
    """Peak 1 at the (rounded) joint, weight 0 and zero map for unlabelled / NaN / far outside."""
    kp = torch.tensor([[[96.0, 128.0], [95.0, 127.0], [1e6, 5.0], [float("nan"), 3.0], [10.0, 10.0]]])
    vis = torch.tensor([[True, True, True, True, False]])
    hm, w = encode_heatmaps(kp.to(device), vis.to(device), (192, 256), (48, 64), 2.0, "udp")
    hm, w = hm.cpu(), w.cpu()
    assert w.tolist() == [[1.0, 1.0, 0.0, 0.0, 0.0]]
    assert hm[0, 2:].abs().sum() == 0
    # UDP: x / ((192-1)/(48-1)) is the float centre; the map peaks next to it and is symmetric about it
    cx, cy = 96.0 * 47 / 191, 128.0 * 63 / 255
    iy, ix = divmod(int(hm[0, 0].argmax()), 48)
    assert abs(ix - cx) <= 0.5 and abs(iy - cy) <= 0.5
    hm_m, _ = encode_heatmaps(kp.to(device), vis.to(device), (192, 256), (48, 64), 2.0, "msra")
    assert hm_m[0, 0, 32, 24].item() == 1.0  # msra: int(96/4 + 0.5) = 24, int(128/4 + 0.5) = 32


@pytest.mark.parametrize("method", ["argmax", "shift", "dark", "dark_udp"])
@pytest.mark.parametrize("K", [1, 17, 133])
def test_decode_matches_reference(device, method, K, rng):
    for (w, h), inp in SIZES:
        B = max(1, 32 // K)
        hm = gaussian_maps(rng, B, K, w, h)
        for k in [11] if K > 1 else [3, 11, 17]:
            kp, score = decode_heatmaps(torch.from_numpy(hm).to(device), inp, method, k)
            rkp, rscore = ref.decode_heatmaps(hm, inp, method, k)
            assert kp.shape == (B, K, 2) and score.shape == (B, K) and kp.device.type == device
            assert_close(score, rscore)
            assert_close(kp, rkp)


def test_decode_special_maps(device):
    """Zero / negative / NaN maps decode to -1 heatmap px (mmpose) with score = max; ties take the
    first maximum (np.argmax)."""
    hm = torch.zeros(1, 4, 8, 6)
    hm[0, 1] = -1.0
    hm[0, 2, 3, 2] = float("nan")
    hm[0, 3, 2, 4] = hm[0, 3, 5, 1] = 0.7
    kp, s = decode_heatmaps(hm.to(device), (24, 32), "argmax")
    assert kp.cpu()[0, :3].tolist() == [[-4.0, -4.0]] * 3
    assert kp.cpu()[0, 3].tolist() == [16.0, 8.0]
    assert s.cpu()[0, 0] == 0 and s.cpu()[0, 1] == -1 and math.isnan(s.cpu()[0, 2]) and s.cpu()[0, 3] == 0.7


@pytest.mark.parametrize("method", ["dark", "dark_udp"])
def test_dark_recovers_subpixel_centres(device, method, rng):
    """Clean Gaussians (sigma 2, blur 11) at random sub-pixel centres: mean error < 0.01 heatmap px."""
    B, K, w, h, sigma = 8, 17, 48, 64, 2.0
    cx, cy = rng.uniform(4, w - 5, (B, K)), rng.uniform(4, h - 5, (B, K))
    xs, ys = np.arange(w), np.arange(h)[:, None]
    hm = np.exp(-((xs - cx[..., None, None]) ** 2 + (ys - cy[..., None, None]) ** 2) / (2 * sigma**2))
    inp = (w * 4, h * 4)
    kp, _ = decode_heatmaps(torch.from_numpy(hm.astype(np.float32)).to(device), inp, method, 11)
    stride = (
        np.array([(inp[0] - 1) / (w - 1), (inp[1] - 1) / (h - 1)])
        if method == "dark_udp"
        else np.array([4, 4])
    )
    err = np.linalg.norm(kp.cpu().numpy() / stride - np.stack([cx, cy], -1), axis=-1)
    assert err.mean() < 0.01, err.mean()
    argmax_err = np.linalg.norm(np.round(np.stack([cx, cy], -1)) - np.stack([cx, cy], -1), axis=-1)
    assert err.mean() < 0.05 * argmax_err.mean()


def test_udp_round_trip(device, rng):
    """encode(udp) -> decode(dark_udp) returns the keypoints in input pixels (< 0.01 heatmap px)."""
    inp, size = (192, 256), (48, 64)
    kp = np.stack([rng.uniform(20, 172, (16, 17)), rng.uniform(20, 236, (16, 17))], -1).astype(np.float32)
    hm, w = encode_heatmaps(
        torch.from_numpy(kp).to(device), torch.ones(16, 17, device=device), inp, size, 2.0
    )
    out, score = decode_heatmaps(hm, inp, "dark_udp")
    err = np.abs(out.cpu().numpy() - kp) / (191 / 47)
    assert err.mean() < 0.01 and (w == 1).all() and (score > 0.8).all()


def test_flip_heatmaps(device, rng):
    hm = torch.from_numpy(rng.random((2, 5, 8, 6)).astype(np.float32)).to(device)
    flip_index = [0, 2, 1, 4, 3]
    for shift in (False, True):
        out = flip_heatmaps(hm, flip_index, shift=shift)
        np.testing.assert_array_equal(
            out.cpu().numpy(), ref.flip_heatmaps(hm.cpu().numpy(), flip_index, shift)
        )
    assert torch.equal(flip_heatmaps(flip_heatmaps(hm, flip_index), flip_index), hm)
    # a left joint at x in the flipped image lands as the right joint at w-1-x
    one = torch.zeros(1, 5, 8, 6, device=device)
    one[0, 1, 3, 1] = 1
    assert flip_heatmaps(one, flip_index)[0, 2, 3, 4] == 1


def test_flip_heatmaps_autograd():
    """out[k, y, x] = hm[flip[k], y, w-1-x] (then the shift copies column 0): the gradient of sum(out * g)
    is g moved back through the same permutation and mirror, with column 0's two uses added up."""
    hm = torch.rand(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    g = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    (flip_heatmaps(hm, [0, 2, 1], shift=False) * g).sum().backward()
    torch.testing.assert_close(hm.grad, g[:, [0, 2, 1]].flip(-1), rtol=0, atol=0)
    hm.grad = None
    (flip_heatmaps(hm, [0, 2, 1], shift=True) * g).sum().backward()
    shifted = torch.zeros_like(g)
    shifted[..., :-1] = g[..., 1:]  # flipped[x] feeds out[x + 1]
    shifted[..., 0] += g[..., 0]  # and flipped[0] also feeds out[0]
    torch.testing.assert_close(hm.grad, shifted[:, [0, 2, 1]].flip(-1), rtol=0, atol=0)
    assert torch.autograd.gradcheck(lambda x: flip_heatmaps(x, [0, 2, 1], shift=True), (hm,))


# --------------------------------------------------------------------------------------------------
# torch.library registration


def test_opcheck():
    kp = torch.rand(2, 3, 2) * 100
    vis = torch.ones(2, 3)
    torch.library.opcheck(
        torch.ops.hpefast.encode_heatmaps.default, (kp, vis, None, 96, 128, 24, 32, 2.0, "udp")
    )
    torch.library.opcheck(
        torch.ops.hpefast.encode_heatmaps.default, (kp, vis, torch.rand(3), 96, 128, 24, 32, 1.5, "msra")
    )
    hm = torch.rand(2, 3, 32, 24)
    for method in ("argmax", "dark", "dark_udp"):
        torch.library.opcheck(torch.ops.hpefast.decode_heatmaps.default, (hm, 96, 128, method, 11))


def _codec_roundtrip(kp, vis):
    hm, w = encode_heatmaps(kp, vis, (192, 256), (48, 64), sigma=2.0, method="udp")
    hm = flip_heatmaps(flip_heatmaps(hm, [0, 2, 1]), [0, 2, 1])
    out, score = decode_heatmaps(hm, (192, 256), method="dark_udp")
    return out * w[..., None], score


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_torch_compile_fullgraph(backend):
    """fullgraph=True: the wrappers' checks trace, the custom ops' fake kernels give the shapes."""
    torch._dynamo.reset()
    kp = torch.rand(4, 3, 2) * torch.tensor([150.0, 200.0]) + 20
    vis = torch.ones(4, 3, dtype=torch.bool)
    compiled = torch.compile(_codec_roundtrip, fullgraph=True, backend=backend)
    out, score = compiled(kp, vis)
    ref_out, ref_score = _codec_roundtrip(kp, vis)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-5)
    torch.testing.assert_close(score, ref_score)
    assert (out - kp).abs().max() < 0.05


def test_torch_export():
    class M(torch.nn.Module):
        def forward(self, hm):
            return decode_heatmaps(hm, (192, 256), "dark_udp")

    hm = torch.rand(2, 3, 64, 48)
    ep = torch.export.export(M(), (hm,))
    assert any("hpefast.decode_heatmaps" in str(n.target) for n in ep.graph.nodes)
    out = ep.module()(hm)
    torch.testing.assert_close(out[0], decode_heatmaps(hm, (192, 256))[0])


def test_encode_decode_are_not_differentiable_but_accept_grad_inputs():
    hm = torch.rand(1, 2, 16, 12, requires_grad=True)
    kp, s = decode_heatmaps(hm, (48, 64))
    assert not kp.requires_grad and not s.requires_grad


@pytest.mark.cuda
@pytest.mark.skipif(not hpefast.cuda_available(), reason="needs CUDA kernels and a CUDA device")
def test_cuda_current_stream_and_graph_capture():
    """The CUDA kernels run on torch's current stream (so they order with other work on it) and can be
    captured in a CUDA graph (no host synchronisation inside)."""
    kp = (torch.rand(8, 17, 2) * torch.tensor([192.0, 256.0])).cuda()
    vis = torch.ones(8, 17, device="cuda")
    expected_hm, _ = encode_heatmaps(kp, vis, (192, 256), (48, 64))
    expected_kp, _ = decode_heatmaps(expected_hm, (192, 256))
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        hm, _ = encode_heatmaps(kp, vis, (192, 256), (48, 64))
        out, _ = decode_heatmaps(hm, (192, 256))
    torch.cuda.current_stream().wait_stream(stream)
    assert torch.equal(hm, expected_hm) and torch.equal(out, expected_kp)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        g_hm, _ = encode_heatmaps(kp, vis, (192, 256), (48, 64))
        g_out, _ = decode_heatmaps(g_hm, (192, 256))
    kp.add_(1.0)
    graph.replay()
    torch.cuda.synchronize()
    ref_hm, _ = encode_heatmaps(kp, vis, (192, 256), (48, 64))
    assert torch.equal(g_hm, ref_hm)
    assert torch.equal(g_out, decode_heatmaps(ref_hm, (192, 256))[0])
