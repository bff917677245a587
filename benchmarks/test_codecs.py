"""Heatmap codec benchmarks: the per-joint numpy way (HRNet / mmpose style, the reference with OpenCV's
blur), a vectorised torch version, hpefast's CPU kernel and hpefast's CUDA kernel (when present).

One pytest-benchmark group per op and size, the implementation as a parameter:

    pytest benchmarks/test_codecs.py                        # full sizes, comparison tables
    pytest benchmarks/test_codecs.py --benchmark-disable    # quick run (CI): sizes scaled down

Every implementation is first checked against the reference on the benchmark input, so the timings
compare equal work. On CUDA, ``extra_info`` also holds the device time per call measured by replaying a
CUDA graph of the op, the bytes it must move (each byte read or written once), the achieved bandwidth
and its fraction of the device's copy bandwidth measured in the same run (``copy_gbps``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import hpefast
from hpefast._reference import heatmap as ref
from hpefast.ops import decode_heatmaps, encode_heatmaps

INPUT, HEATMAP, SIGMA, KERNEL = (192, 256), (48, 64), 2.0, 11
BATCHES = [64, 256]
IMPLS = ["numpy_per_joint", "torch_vectorised", "hpefast_cpu"] + (
    ["hpefast_cuda"] if hpefast.cuda_available() else []
)


def _batch(request, B: int) -> int:
    return 2 if request.config.getoption("benchmark_disable") else B


def _keypoints(B: int, K: int = 17, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    W, H = INPUT
    kp = np.stack([rng.uniform(-0.1 * W, 1.1 * W, (B, K)), rng.uniform(-0.1 * H, 1.1 * H, (B, K))], -1)
    vis = (rng.random((B, K)) > 0.1).astype(np.float32)
    return kp.astype(np.float32), vis


def _predictions(B: int, K: int = 17, seed: int = 0) -> np.ndarray:
    """Network-like heatmaps: UDP targets of jittered keypoints plus small noise."""
    kp, vis = _keypoints(B, K, seed)
    hm, _ = ref.encode_heatmaps(kp, np.ones_like(vis), INPUT, HEATMAP, SIGMA, "udp")
    rng = np.random.default_rng(seed + 1)
    return (hm + 0.02 * rng.random(hm.shape, dtype=np.float32)).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Vectorised torch versions (what a careful user writes without a kernel)


def torch_encode_udp(
    kp: torch.Tensor, vis: torch.Tensor, sigma: float = SIGMA
) -> tuple[torch.Tensor, torch.Tensor]:
    (W, H), (w, h) = INPUT, HEATMAP
    stride = torch.tensor([(W - 1) / (w - 1), (H - 1) / (h - 1)], dtype=torch.float64, device=kp.device)
    f = kp.double() / stride
    mu = torch.trunc(f + 0.5)
    left, right = torch.floor(mu - 3 * sigma), torch.floor(mu + 3 * sigma + 1)
    size = torch.tensor([w, h], dtype=torch.float64, device=kp.device)
    valid = (vis > 0.5) & torch.isfinite(f).all(-1) & ((left < size) & (right > 0)).all(-1)
    xs = torch.arange(w, dtype=torch.float64, device=kp.device)
    ys = torch.arange(h, dtype=torch.float64, device=kp.device)
    gx = torch.exp(-((xs - f[..., 0:1]) ** 2) / (2 * sigma**2))
    gx = gx * ((xs >= left[..., 0:1]) & (xs < right[..., 0:1]))
    gy = torch.exp(-((ys - f[..., 1:2]) ** 2) / (2 * sigma**2))
    gy = gy * ((ys >= left[..., 1:2]) & (ys < right[..., 1:2]) & valid[..., None])
    return (gy.float()[..., :, None] * gx.float()[..., None, :]), valid.float()


def _blur_torch(hm: torch.Tensor, border: str) -> torch.Tensor:
    B, K, h, w = hm.shape
    kw = torch.as_tensor(ref.gaussian_kernel(KERNEL), dtype=hm.dtype, device=hm.device)
    r = KERNEL // 2
    x = hm.reshape(B * K, 1, h, w)
    x = F.pad(x, (r, r, r, r), mode="constant" if border == "zero" else "reflect")
    x = F.conv2d(x, kw.view(1, 1, 1, -1))
    x = F.conv2d(x, kw.view(1, 1, -1, 1))
    return x.reshape(B, K, h, w)


def _argmax_torch(hm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    w = hm.shape[-1]
    score, idx = hm.flatten(2).max(-1)
    return idx % w, idx // w, score


def _gather(L: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    h, w = L.shape[-2:]
    x, y = x.clamp(0, w - 1), y.clamp(0, h - 1)
    return L.flatten(2).gather(-1, (y * w + x)[..., None])[..., 0]


def torch_decode(hm: torch.Tensor, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    (W, H), (h, w) = INPUT, hm.shape[-2:]
    px, py, score = _argmax_torch(hm)
    x, y = px.double(), py.double()
    if method == "dark":
        b = _blur_torch(hm, "zero")
        b = b * (hm.flatten(2).amax(-1) / b.flatten(2).amax(-1))[..., None, None]
        L = torch.log(torch.clamp_min(b, 1e-10)).double()

        def at(dx, dy):
            return _gather(L, px + dx, py + dy)

        dx, dy = 0.5 * (at(1, 0) - at(-1, 0)), 0.5 * (at(0, 1) - at(0, -1))
        dxx = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
        dyy = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
        dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
        det = dxx * dyy - dxy * dxy
        ok = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2) & (det != 0)
        det = torch.where(ok, det, torch.ones_like(det))
        x = torch.where(ok, x - (dyy * dx - dxy * dy) / det, x)
        y = torch.where(ok, y - (dxx * dy - dxy * dx) / det, y)
        stride = (W / w, H / h)
    else:  # dark_udp
        L = torch.log(torch.clamp(_blur_torch(hm, "reflect101"), 1e-3, 50)).double()

        def at(dx, dy):
            return _gather(L, px + dx, py + dy)

        i_ = at(0, 0)
        dx, dy = 0.5 * (at(1, 0) - at(-1, 0)), 0.5 * (at(0, 1) - at(0, -1))
        dxx, dyy = at(1, 0) - 2 * i_ + at(-1, 0), at(0, 1) - 2 * i_ + at(0, -1)
        dxy = 0.5 * (at(1, 1) - at(1, 0) - at(0, 1) + 2 * i_ - at(-1, 0) - at(0, -1) + at(-1, -1))
        eps = float(np.finfo(np.float32).eps)
        a, d = dxx + eps, dyy + eps
        det = a * d - dxy * dxy
        x, y = x - (d * dx - dxy * dy) / det, y - (a * dy - dxy * dx) / det
        stride = ((W - 1) / (w - 1), (H - 1) / (h - 1))
    bad = ~(score > 0)
    x, y = torch.where(bad, -1.0, x), torch.where(bad, -1.0, y)
    return torch.stack([x * stride[0], y * stride[1]], -1).float(), score


# --------------------------------------------------------------------------------------------------
# CUDA device time through CUDA graphs (no Python or launch overhead), and the copy bandwidth.


def _graph_time_ms(fn, reps: int = 20, replays: int = 10) -> float:
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(reps):
            fn()
    graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    best = float("inf")
    for _ in range(replays):
        start.record()
        graph.replay()
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / reps)
    return best


_COPY_GBPS: dict[int, float] = {}


def _copy_gbps(nbytes: int) -> float:
    """Device copy bandwidth (bytes read + written per second) on a buffer of ``nbytes``, in GB/s."""
    if nbytes not in _COPY_GBPS:
        src = torch.empty(nbytes // 4, device="cuda")
        dst = torch.empty_like(src)
        ms = _graph_time_ms(lambda: dst.copy_(src))
        _COPY_GBPS[nbytes] = 2 * nbytes / (ms * 1e-3) / 1e9
    return _COPY_GBPS[nbytes]


def _record_bandwidth(benchmark, fn, nbytes: int) -> None:
    ms = _graph_time_ms(fn)
    gbps = nbytes / (ms * 1e-3) / 1e9
    copy = _copy_gbps(nbytes)
    benchmark.extra_info.update(
        device_ms=round(ms, 5),
        bytes=nbytes,
        gbps=round(gbps, 1),
        copy_gbps=round(copy, 1),
        fraction=round(gbps / copy, 3),
    )


# --------------------------------------------------------------------------------------------------
# Benchmarks


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("B", BATCHES)
def test_encode(benchmark, request, impl, B):
    B = _batch(request, B)
    benchmark.group = f"encode udp {B}x17x64x48"
    kp, vis = _keypoints(B)
    expected, expected_w = ref.encode_heatmaps(kp, vis, INPUT, HEATMAP, SIGMA, "udp")
    if impl == "numpy_per_joint":
        fn = lambda: ref.encode_heatmaps(kp, vis, INPUT, HEATMAP, SIGMA, "udp")  # noqa: E731
    else:
        device = "cuda" if impl == "hpefast_cuda" else "cpu"
        tkp, tvis = torch.from_numpy(kp).to(device), torch.from_numpy(vis).to(device)
        if impl == "torch_vectorised":
            fn = lambda: torch_encode_udp(tkp, tvis)  # noqa: E731
        else:
            fn = lambda: encode_heatmaps(tkp, tvis, INPUT, HEATMAP, SIGMA, "udp")  # noqa: E731
    hm, w = fn()
    np.testing.assert_allclose(np.asarray(hm.cpu() if torch.is_tensor(hm) else hm), expected, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(w.cpu() if torch.is_tensor(w) else w), expected_w)
    if impl == "hpefast_cuda":
        benchmark(lambda: (fn(), torch.cuda.synchronize()))
        _record_bandwidth(benchmark, fn, nbytes=expected.nbytes + kp.nbytes + vis.nbytes + expected_w.nbytes)
    else:
        benchmark(fn)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("method", ["dark", "dark_udp"])
@pytest.mark.parametrize("B", BATCHES)
def test_decode(benchmark, request, impl, method, B):
    B = _batch(request, B)
    benchmark.group = f"decode {method} {B}x17x64x48"
    hm = _predictions(B)
    expected, expected_s = ref.decode_heatmaps(hm, INPUT, method, KERNEL)
    if impl == "numpy_per_joint":
        fn = lambda: ref.decode_heatmaps(hm, INPUT, method, KERNEL, backend="cv2")  # noqa: E731
    else:
        device = "cuda" if impl == "hpefast_cuda" else "cpu"
        thm = torch.from_numpy(hm).to(device)
        if impl == "torch_vectorised":
            fn = lambda: torch_decode(thm, method)  # noqa: E731
        else:
            fn = lambda: decode_heatmaps(thm, INPUT, method, KERNEL)  # noqa: E731
    kp, s = fn()
    diff = np.abs(np.asarray(kp.cpu() if torch.is_tensor(kp) else kp) - expected).max(-1)
    if impl.startswith("hpefast"):
        assert diff.max() <= 1e-5 + 1e-6 * np.abs(expected).max()
    else:  # float32 blur: equal up to float32 rounding, which ill-conditioned noisy maps amplify
        assert np.median(diff) < 1e-4 and (diff < 2e-3).mean() > 0.99
    np.testing.assert_array_equal(np.asarray(s.cpu() if torch.is_tensor(s) else s), expected_s)
    if impl == "hpefast_cuda":
        benchmark(lambda: (fn(), torch.cuda.synchronize()))
        _record_bandwidth(benchmark, fn, nbytes=hm.nbytes + expected.nbytes + expected_s.nbytes)
    else:
        benchmark(fn)
