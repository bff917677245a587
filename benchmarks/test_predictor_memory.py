"""Peak memory of the predictor against the number of boxes (issue 11, item 7).

``TopDownPredictor.predict`` crops, runs and decodes ``batch_size`` boxes at a time, so its memory does
not grow with the number of boxes. ``all_at_once`` is the previous behaviour, kept as the comparison: the
public stages ``preprocess`` -> ``infer`` -> ``postprocess`` on every box in one go (all crops, their
flipped copies and all heatmaps alive together).

Each measurement runs in a fresh process (the allocator's cached memory of one run would hide the next
one's growth): the model is loaded and warmed up on 4 boxes, then a thread samples the resident set size
every 0.5 ms during the call; ``extra_info["peak_growth_mib"]`` is its peak minus its value before.

    pytest benchmarks/test_predictor_memory.py                      # N = 8, 96, 512; torch and ORT
    pytest benchmarks/test_predictor_memory.py --benchmark-disable  # quick (CI): torch, N = 8 and 48
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

IMAGE_SIZE = (96, 128)  # small crops keep the quick run short; memory per box still dominates
BATCH = 8


def _quick(config) -> bool:
    return bool(config.getoption("benchmark_disable", default=False))


_SCRIPT = r"""
import json, os, sys, threading, time
import numpy as np, torch
torch.set_num_threads(2)
from hpefast.deploy import TopDownPredictor

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


src, backend, impl, n, bs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
p = TopDownPredictor(src, backend=backend, batch_size=bs)
rng = np.random.default_rng(0)
image = (rng.random((480, 640, 3)) * 255).astype(np.uint8)
xy = rng.random((n, 2)) * [500, 300]
boxes = np.concatenate([xy, np.full((n, 2), [100.0, 160.0])], 1)
p.predict(image, boxes[:4])  # warm-up: libraries loaded, first allocations made
peak, done = [0], threading.Event()


def sample() -> None:  # the kernels release the GIL: this thread sees the resident set as it grows
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.0005)


before = rss()
thread = threading.Thread(target=sample)
thread.start()
t0 = time.perf_counter()
if impl == "chunked":
    out = p.predict(image, boxes)
else:
    crops, c, s = p.preprocess(image, boxes)
    out = p.postprocess(p.infer(crops), c, s).numpy()
dt = time.perf_counter() - t0
done.set()
thread.join()
assert out.shape[0] == n and np.isfinite(out).all()
print(json.dumps({"growth_mib": (max(peak[0], rss()) - before) / 2**20, "seconds": dt}))
"""

_results: dict = {}


@pytest.fixture(scope="module")
def sources(tmp_path_factory, request):
    from hpefast.models import build_model
    from hpefast.models.checkpoint import save_model

    root = tmp_path_factory.mktemp("predmem")
    model = build_model("tiny", layout="coco", image_size=IMAGE_SIZE).eval()
    from hpefast.export import to_onnx

    out = {"torch": str(save_model(model, root / "model"))}
    if not _quick(request.config):  # the quick run measures torch only
        out["onnxruntime"] = str(to_onnx(model, root / "model.onnx"))
    return out


def _measure(src: str, backend: str, impl: str, n: int) -> dict:
    key = (backend, impl, n)
    if key not in _results:
        proc = subprocess.run(
            [sys.executable, "-c", _SCRIPT, src, backend, impl, str(n), str(BATCH)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        _results[key] = json.loads(proc.stdout.strip().splitlines()[-1])
    return _results[key]


def _cases(quick: bool):
    backends = ["torch"] if quick else ["torch", "onnxruntime"]
    ns = [8, 48] if quick else [8, 96, 512]
    return [(b, n, impl) for b in backends for n in ns for impl in ("chunked", "all_at_once")]


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        cases = _cases(_quick(metafunc.config))
        metafunc.parametrize("case", cases, ids=[f"{b}-N{n}-{i}" for b, n, i in cases])


def test_peak_memory(benchmark, sources, case):
    backend, n, impl = case
    benchmark.group = f"predictor memory {backend} N={n}"
    result = benchmark.pedantic(_measure, args=(sources[backend], backend, impl, n), rounds=1, iterations=1)
    benchmark.extra_info.update(peak_growth_mib=round(result["growth_mib"], 1), seconds=result["seconds"])


def test_chunked_memory_does_not_grow_with_boxes(sources):
    """The property itself: from 8 to 48 boxes (6 chunks) the chunked predictor grows by less than a
    chunk's worth, while all-at-once grows with the boxes (~0.8 MiB per box at 128x96 with flip test)."""
    src = sources["torch"]
    small, large = _measure(src, "torch", "chunked", 8), _measure(src, "torch", "chunked", 48)
    whole = _measure(src, "torch", "all_at_once", 48)
    assert large["growth_mib"] <= small["growth_mib"] + 16, (small, large)
    assert whole["growth_mib"] > large["growth_mib"] + 20, (whole, large)
