"""End-to-end predictor benchmarks: image + N person boxes -> keypoints [N, K, 3] with flip test
(2N crops through the network), for the tiny model and ViTPose-B (random weights: timing only).

One pytest-benchmark group per (device, model, batch N); implementations as the parameter:
``torch_eager``, ``torch_compile`` (``torch.compile`` of the model), ``torch_cudagraphs`` (GPU only:
``torch.compile(mode="reduce-overhead")``, CUDA graph replay) and ``onnxruntime`` (the exported file).

    pytest benchmarks/test_deploy.py                        # full: N = 1, 8, 32 for tiny and ViTPose-B
    pytest benchmarks/test_deploy.py --benchmark-disable    # quick run (CI): tiny at N = 1 only
    HPEFAST_BENCH_THREADS=1 pytest benchmarks/test_deploy.py  # torch and ONNX Runtime on one thread

On a machine shared with other jobs, multi-threaded runs measure mostly waiting (a parallel region
ends when its slowest thread does): compare implementations at one thread there.

``extra_info`` holds people per second and the time of each stage measured separately after the
benchmark (``preprocess``: validation + crops + normalisation; ``infer``: network incl. flip and
flip-back; ``postprocess``: DARK-UDP decode + inverse warp) and the pre+post share of their sum.
Every implementation's heatmaps are first checked against eager torch on the same crops.
"""

from __future__ import annotations

import json
import os
import time

import cv2
import numpy as np
import pytest
import torch

from hpefast.deploy import TopDownPredictor
from hpefast.export import to_onnx
from hpefast.models import build_model

MODELS = {"tiny": "tiny", "vitpose_b": "b"}
BATCHES = {"tiny": [1, 8, 32], "vitpose_b": [1, 8, 32]}
IMPLS = ["torch_eager", "torch_compile", "torch_cudagraphs", "onnxruntime"]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
# rounds per (model, N): enough for a stable mean on a 2-core machine without taking all afternoon
ROUNDS = {
    ("tiny", 1): 20,
    ("tiny", 8): 6,
    ("tiny", 32): 3,
    ("vitpose_b", 1): 4,
    ("vitpose_b", 8): 2,
    ("vitpose_b", 32): 1,  # ~20 s a call on a 2-core CPU: one round (more on a GPU would be cheap)
}

CASES = [(d, m, n) for d in DEVICES for m in MODELS for n in BATCHES[m]]

THREADS = int(os.environ.get("HPEFAST_BENCH_THREADS", "0")) or None  # None: libraries' defaults

_cache: dict = {}


@pytest.fixture(autouse=True, scope="module")
def _threads():
    if THREADS is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


def _model(name: str) -> torch.nn.Module:
    if ("model", name) not in _cache:
        torch.manual_seed(0)
        _cache[("model", name)] = build_model(MODELS[name]).eval()  # 192 x 256 input, 17 COCO joints
    return _cache[("model", name)]


def _predictor(impl: str, name: str, device: str, tmp_path_factory) -> TopDownPredictor:
    key = ("pred", impl, name, device)
    if key not in _cache:
        model = _model(name)
        if impl == "onnxruntime":
            path = to_onnx(model, tmp_path_factory.mktemp("bench") / f"{name}.onnx")
            _cache[key] = TopDownPredictor(path, device=device, onnx_threads=THREADS)
        else:
            compile = {"torch_compile": True, "torch_cudagraphs": "reduce-overhead"}.get(impl, False)
            _cache[key] = TopDownPredictor(model, device=device, compile=compile)
    return _cache[key]


def _inputs(shared_data, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A real COCO image and n person boxes: its five annotated people, jittered and repeated."""
    coco = shared_data / "samples" / "coco"
    image = cv2.imread(str(coco / "000000196141.jpg"))
    ann = json.loads((coco / "test_coco.json").read_text())
    base = np.array([a["bbox"] for a in ann["annotations"] if a["image_id"] == 196141], dtype=np.float64)
    rng = np.random.default_rng(n)
    boxes = base[np.arange(n) % len(base)].copy()
    boxes[:, :2] += rng.uniform(-5, 5, (n, 2))
    boxes[:, 2:] *= rng.uniform(0.95, 1.05, (n, 2))
    return image, boxes


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _stage_times(pred: TopDownPredictor, image, boxes, device: str, reps: int) -> dict[str, float]:
    """Mean seconds of preprocess / infer / postprocess, each timed alone (synchronised on CUDA)."""
    acc = {"preprocess": 0.0, "infer": 0.0, "postprocess": 0.0}
    for _ in range(reps):
        t0 = time.perf_counter()
        crops, c, s = pred.preprocess(image, boxes)
        _sync(device)
        t1 = time.perf_counter()
        hm = pred.infer(crops)
        _sync(device)
        t2 = time.perf_counter()
        pred.postprocess(hm, c, s).cpu()
        _sync(device)
        t3 = time.perf_counter()
        acc["preprocess"] += t1 - t0
        acc["infer"] += t2 - t1
        acc["postprocess"] += t3 - t2
    return {k: v / reps for k, v in acc.items()}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("device, name, n", CASES, ids=[f"{d}-{m}-N{n}" for d, m, n in CASES])
def test_predictor_end_to_end(benchmark, request, tmp_path_factory, shared_data, device, name, n, impl):
    quick = request.config.getoption("benchmark_disable")
    if quick and (name != "tiny" or n != 1):
        pytest.skip("quick mode (--benchmark-disable): tiny model at N = 1 only")
    if impl == "torch_cudagraphs" and device != "cuda":
        pytest.skip("CUDA graphs (torch.compile mode='reduce-overhead') need a GPU")
    if impl == "onnxruntime" and device == "cuda":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            pytest.skip("this onnxruntime has no CUDA execution provider")
    image, boxes = _inputs(shared_data, n)
    pred = _predictor(impl, name, device, tmp_path_factory)

    # Same work: this implementation's heatmaps equal eager torch's on the same crops.
    eager = _predictor("torch_eager", name, device, tmp_path_factory)
    crops, _, _ = eager.preprocess(image, boxes)
    ref = eager.infer(crops)
    got = pred.infer(crops)
    assert (got - ref).abs().max() <= 1e-3 * max(1.0, float(ref.abs().max())) + 1e-5
    out = pred.predict(image, boxes)  # warm-up (torch.compile compiles here)
    assert out.shape == (n, 17, 3) and np.isfinite(out).all()

    benchmark.group = f"predictor {device} {name} N={n} (flip test: {2 * n} crops)"
    benchmark.pedantic(pred.predict, args=(image, boxes), rounds=ROUNDS[(name, n)], iterations=1)
    if quick:
        return
    stages = _stage_times(pred, image, boxes, device, reps=max(1, ROUNDS[(name, n)] // 2))
    total = sum(stages.values())
    mean = benchmark.stats.stats.mean
    benchmark.extra_info.update(
        {
            "people_per_s": round(n / mean, 2),
            "ms_per_person": round(1e3 * mean / n, 3),
            **{f"{k}_ms": round(1e3 * v, 3) for k, v in stages.items()},
            "pre_post_share": round((stages["preprocess"] + stages["postprocess"]) / total, 4),
            "torch_threads": torch.get_num_threads(),
            "onnx_threads": THREADS or "default",
        }
    )


INTERLEAVED_ROUNDS = {
    ("tiny", 1): 15,
    ("tiny", 8): 6,
    ("tiny", 32): 3,
    ("vitpose_b", 1): 4,
    ("vitpose_b", 8): 2,
    ("vitpose_b", 32): 1,
}


@pytest.mark.parametrize("device, name, n", CASES, ids=[f"{d}-{m}-N{n}" for d, m, n in CASES])
def test_predictor_interleaved(benchmark, request, tmp_path_factory, shared_data, device, name, n):
    """The three implementations run in turn within each round, so that load from other processes on a
    shared machine hits them alike; ``extra_info`` holds each one's median seconds and its speed-up over
    eager torch. The benchmarked time is that of a whole round (all three)."""
    quick = request.config.getoption("benchmark_disable")
    if quick and (name != "tiny" or n != 1):
        pytest.skip("quick mode (--benchmark-disable): tiny model at N = 1 only")
    impls = [i for i in IMPLS if not (i == "onnxruntime" and device == "cuda")]
    if device != "cuda":
        impls.remove("torch_cudagraphs")
    image, boxes = _inputs(shared_data, n)
    preds = {i: _predictor(i, name, device, tmp_path_factory) for i in impls}
    for p in preds.values():
        p.predict(image, boxes)  # warm-up / compile for this shape
    times: dict[str, list[float]] = {i: [] for i in impls}
    state = {"round": 0}

    def one_round() -> None:
        k = state["round"]
        state["round"] += 1
        for j in range(len(impls)):  # rotate the order every round
            impl = impls[(j + k) % len(impls)]
            t0 = time.perf_counter()
            preds[impl].predict(image, boxes)
            _sync(device)
            times[impl].append(time.perf_counter() - t0)

    benchmark.group = f"interleaved {device} {name} N={n}"
    benchmark.pedantic(one_round, rounds=INTERLEAVED_ROUNDS[(name, n)], iterations=1)
    med = {i: float(np.median(v)) for i, v in times.items()}
    benchmark.extra_info.update({f"{i}_median_ms": round(1e3 * t, 2) for i, t in med.items()})
    benchmark.extra_info.update(
        {f"{i}_speedup_vs_eager": round(med["torch_eager"] / t, 3) for i, t in med.items()}
    )
    benchmark.extra_info.update({f"{i}_people_per_s": round(n / t, 2) for i, t in med.items()})
    benchmark.extra_info.update(
        {"torch_threads": torch.get_num_threads(), "onnx_threads": THREADS or "default"}
    )
