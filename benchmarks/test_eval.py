"""COCO keypoint evaluation: pycocotools vs faster-coco-eval vs hpefast, and the batched OKS / PCKh ops.

    pytest benchmarks/test_eval.py                        # ~5000 images / ~11000 annotations / ~20000 results
    pytest benchmarks/test_eval.py --benchmark-disable    # quick run (CI): 100 images

``evaluate() + accumulate()`` is timed; loading the json and building the COCO objects is not (each
tool's loading is its own setup). Every implementation must produce pycocotools' stats exactly (checked
after timing, to 1e-12). ``extra_info`` records the AP and the process CPU time per round.
"""

from __future__ import annotations

import contextlib
import copy
import io
import time

import numpy as np
import pytest
import torch

import hpefast
import hpefast.ops
from hpefast._reference import oks as ref
from hpefast.evaluation.synthetic import make_coco_keypoints

NUM_IMAGES = 5000
IMPLS = ["pycocotools", "faster_coco_eval", "hpefast"]


def _num_images(request) -> int:
    return 100 if request.config.getoption("benchmark_disable") else NUM_IMAGES


@pytest.fixture(scope="module")
def dataset(request):
    gt, res = make_coco_keypoints(num_images=_num_images(request), seed=2026)
    return gt, res


@pytest.fixture(scope="module")
def reference_stats(dataset):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, res = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        g = COCO()
        g.dataset = copy.deepcopy(gt)
        g.createIndex()
        E = COCOeval(g, g.loadRes(copy.deepcopy(res)), "keypoints")
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E.stats


def _loaded(impl: str, gt: dict, res: list):
    """(make_evaluator) for one implementation, with its COCO objects already built."""
    gt, res = copy.deepcopy(gt), copy.deepcopy(res)
    with contextlib.redirect_stdout(io.StringIO()):
        if impl == "pycocotools":
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval

            g = COCO()
            g.dataset = gt
            g.createIndex()
            d = g.loadRes(res)
            return lambda: COCOeval(g, d, "keypoints")
        if impl == "faster_coco_eval":
            from faster_coco_eval import COCO, COCOeval_faster

            g = COCO(gt)
            d = g.loadRes(res)
            return lambda: COCOeval_faster(g, d, "keypoints", print_function=lambda *a, **k: None)
        from hpefast.evaluation import COCO, COCOeval

        g = COCO(gt)
        d = g.loadRes(res)
        return lambda: COCOeval(g, d, "keypoints")


@pytest.mark.parametrize("impl", IMPLS)
def test_coco_keypoint_eval(benchmark, request, dataset, reference_stats, impl):
    gt, res = dataset
    benchmark.group = f"coco_eval_{len(gt['images'])}img_{len(gt['annotations'])}gt_{len(res)}dt"
    make = _loaded(impl, gt, res)
    cpu = []

    def setup():
        return (make(),), {}

    def run(E):
        t0 = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            E.evaluate()
            E.accumulate()
        cpu.append(time.process_time() - t0)
        run.last = E

    rounds = 1 if request.config.getoption("benchmark_disable") else (3 if impl == "pycocotools" else 10)
    benchmark.pedantic(run, setup=setup, rounds=rounds, iterations=1, warmup_rounds=0 if rounds == 1 else 1)
    E = run.last
    with contextlib.redirect_stdout(io.StringIO()):
        E.summarize()
    np.testing.assert_allclose(np.asarray(E.stats)[:10], reference_stats, rtol=0, atol=1e-12)
    benchmark.extra_info.update(
        AP=float(E.stats[0]),
        cpu_s_min=min(cpu),
        threads=hpefast._ext.lib().get_num_threads(),
        images=len(gt["images"]),
    )


# --------------------------------------------------------------------------------------------------
# Batched OKS / PCKh ops (validation during training)

OPS_IMPLS = ["numpy_reference", "hpefast_cpu"] + (["hpefast_cuda"] if hpefast.cuda_available() else [])


def _batch(request):
    n = 1000 if request.config.getoption("benchmark_disable") else 200_000
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 300, (n, 17, 2)).astype(np.float32)
    pred = (gt + rng.normal(0, 4, gt.shape)).astype(np.float32)
    vis = rng.random((n, 17)) > 0.2
    area = rng.uniform(500, 30000, n).astype(np.float32)
    sig = np.full(17, 0.05, np.float32)
    hb = np.stack([gt[:, 0] - 10, gt[:, 0] + 10], 1).astype(np.float32)
    return pred, gt, vis, area, sig, hb


@pytest.mark.parametrize("impl", OPS_IMPLS)
def test_oks_op(benchmark, request, impl):
    import importlib

    ops = importlib.import_module(hpefast.ops._OPS["oks"])
    pred, gt, vis, area, sig, _ = _batch(request)
    benchmark.group = f"oks_batched_{len(pred)}x17"
    expected = ref.oks(pred, gt, vis, area, sig)
    if impl == "numpy_reference":
        out = benchmark(ref.oks, pred, gt, vis, area, sig)
    else:
        dev = "cuda" if impl == "hpefast_cuda" else "cpu"
        args = [torch.as_tensor(x, device=dev) for x in (pred, gt, vis, area, sig)]

        def run():
            y = ops.oks(*args)
            if dev == "cuda":
                torch.cuda.synchronize()
            return y

        out = benchmark(run).cpu().numpy()
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-6)


@pytest.mark.parametrize("impl", OPS_IMPLS)
def test_pckh_op(benchmark, request, impl):
    import importlib

    ops = importlib.import_module(hpefast.ops._OPS["pckh"])
    pred, gt, vis, _, _, hb = _batch(request)
    benchmark.group = f"pckh_batched_{len(pred)}x17"
    expected = ref.pckh_hits(pred, gt, vis, hb)
    if impl == "numpy_reference":
        out = benchmark(ref.pckh_hits, pred, gt, vis, hb)
    else:
        dev = "cuda" if impl == "hpefast_cuda" else "cpu"
        args = [torch.as_tensor(x, device=dev) for x in (pred, gt, vis, hb)]

        def run():
            y = ops.pckh(*args)
            if dev == "cuda":
                torch.cuda.synchronize()
            return y

        out = benchmark(run).cpu().numpy()
    assert np.count_nonzero(out != expected) <= len(pred) * 17 * 1e-5  # float32 vs float64 at the boundary
