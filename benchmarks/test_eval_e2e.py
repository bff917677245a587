"""COCO keypoint evaluation end to end: pycocotools vs faster-coco-eval vs hpefast, loading included.

    pytest benchmarks/test_eval_e2e.py                        # full COCO val2017 scale (see below)
    pytest benchmarks/test_eval_e2e.py --benchmark-disable    # quick run (CI): 100 images

What a user times is the whole command: read the ground-truth and results json files, build the
index, evaluate, accumulate and summarize. That is what is timed here, from the json files on disk,
for each tool's ``COCO(gt_path)`` / ``loadRes(res_path)`` / ``COCOeval`` (in process, warm page
cache). The data are COCO val2017's keypoint scale: 5000 images, ~11k people, 100k results (a top-down
detector's ~20 boxes per image), generated with ``hpefast.evaluation.synthetic`` and written with
Python's ``json``. Every tool must give pycocotools' stats to 1e-12 (checked after timing).

``extra_info`` also records, per tool, one run of the whole command in a fresh Python process: its
wall time including interpreter start and imports (``process_wall_s``) and its peak resident memory
(``peak_rss_mib``: VmHWM, and ``peak_rss_over_imports_mib`` above the resident set after the imports);
for hpefast, the ``hpefast eval-coco GT RES --json`` command as well.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from hpefast.evaluation.synthetic import make_coco_keypoints

NUM_IMAGES = 5000
NUM_RESULTS = 100_000
IMPLS = ["pycocotools", "faster_coco_eval", "hpefast"]


def _quick(request) -> bool:
    return bool(request.config.getoption("benchmark_disable"))


def _padded_results(gt: dict, res: list, total: int, seed: int) -> list:
    """``res`` plus low-scoring false positives up to ``total`` results (a detector's extra boxes)."""
    extra = total - len(res)
    if extra <= 0:
        return res
    rng = np.random.default_rng(seed)
    ids = np.array([img["id"] for img in gt["images"]])
    img = rng.choice(ids, extra)
    k = len(res[0]["keypoints"]) // 3 if res else 17
    x0, y0 = rng.uniform(0, 600, (2, extra, 1))
    side = rng.uniform(12, 300, (extra, 1))
    xs = np.round(x0 + rng.random((extra, k)) * side, 3)
    ys = np.round(y0 + rng.random((extra, k)) * side * 1.5, 3)
    conf = np.round(rng.uniform(0.05, 1.0, (extra, k)), 3)
    kps = np.stack([xs, ys, conf], 2).reshape(extra, 3 * k)
    scores = np.round(rng.uniform(0.0, 0.6, extra), 2)
    res = list(res)
    for i, kp, s in zip(img.tolist(), kps.tolist(), scores.tolist()):
        res.append({"image_id": i, "category_id": 1, "keypoints": kp, "score": s})
    return res


@pytest.fixture(scope="module")
def files(request, tmp_path_factory):
    quick = _quick(request)
    gt, res = make_coco_keypoints(num_images=100 if quick else NUM_IMAGES, seed=2026)
    res = _padded_results(gt, res, 2000 if quick else NUM_RESULTS, seed=7)
    folder = tmp_path_factory.mktemp("eval_e2e")
    gt_path, res_path = folder / "gt.json", folder / "res.json"
    gt_path.write_text(json.dumps(gt))
    res_path.write_text(json.dumps(res))
    return gt, res, str(gt_path), str(res_path)


@pytest.fixture(scope="module")
def reference_stats(files):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, res, _, _ = files
    with contextlib.redirect_stdout(io.StringIO()):
        g = COCO()
        g.dataset = copy.deepcopy(gt)
        g.createIndex()
        E = COCOeval(g, g.loadRes(copy.deepcopy(res)), "keypoints")
        E.evaluate()
        E.accumulate()
        E.summarize()
    return np.asarray(E.stats)


def whole_command(impl: str, gt_path: str, res_path: str) -> np.ndarray:
    """Read both json files, index, evaluate, accumulate, summarize with one tool; its stats."""
    with contextlib.redirect_stdout(io.StringIO()):
        if impl == "pycocotools":
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval

            g = COCO(gt_path)
            E = COCOeval(g, g.loadRes(res_path), "keypoints")
        elif impl == "faster_coco_eval":
            from faster_coco_eval import COCO, COCOeval_faster

            g = COCO(gt_path)
            E = COCOeval_faster(g, g.loadRes(res_path), "keypoints", print_function=lambda *a, **k: None)
        else:
            from hpefast.evaluation import COCO, COCOeval

            g = COCO(gt_path)
            E = COCOeval(g, g.loadRes(res_path), "keypoints")
        E.evaluate()
        E.accumulate()
        E.summarize()
    return np.asarray(E.stats)


_CHILD = """
import json, sys, time
t0 = time.perf_counter()
impl, gt, res = sys.argv[1:4]
if impl == "hpefast_cli":
    import hpefast.cli, hpefast.commands.eval_coco
elif impl == "pycocotools":
    import pycocotools.coco, pycocotools.cocoeval
elif impl == "faster_coco_eval":
    import faster_coco_eval
else:
    import hpefast.evaluation.coco, hpefast.evaluation.cocoeval
sys.path.insert(0, sys.argv[4])
import test_eval_e2e as bench

def status_kib(key):  # this process's memory (VmHWM: peak resident set since exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

base = status_kib("VmRSS")
t1 = time.perf_counter()
if impl == "hpefast_cli":
    import contextlib, io
    with contextlib.redirect_stdout(io.StringIO()) as out:
        rc = hpefast.cli.main(["eval-coco", gt, res, "--json"])
    stats = list(json.loads(out.getvalue())["stats"].values())
else:
    stats = bench.whole_command(impl, gt, res).tolist()
t2 = time.perf_counter()
info = {"stats": stats, "command_s": t2 - t1, "peak_kib": status_kib("VmHWM"), "base_kib": base}
print(json.dumps(info))
"""


def _fresh_process(impl: str, gt_path: str, res_path: str) -> dict:
    """One run of the whole command in a new Python process: wall (with start-up), peak RSS, stats."""
    from pathlib import Path

    here = str(Path(__file__).resolve().parent)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, impl, gt_path, res_path, here],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    info = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "process_wall_s": wall,
        "command_s": info["command_s"],
        "peak_rss_mib": info["peak_kib"] / 1024,
        "peak_rss_over_imports_mib": (info["peak_kib"] - info["base_kib"]) / 1024,
        "stats": info["stats"],
    }


@pytest.mark.parametrize("impl", IMPLS)
def test_coco_eval_end_to_end(benchmark, request, files, reference_stats, impl):
    gt, res, gt_path, res_path = files
    benchmark.group = f"coco_eval_e2e_{len(gt['images'])}img_{len(gt['annotations'])}gt_{len(res)}dt"
    quick = _quick(request)
    cpu = []

    def run():
        t0 = time.process_time()
        stats = whole_command(impl, gt_path, res_path)
        cpu.append(time.process_time() - t0)
        return stats

    rounds = 1 if quick else {"pycocotools": 3, "faster_coco_eval": 5, "hpefast": 10}[impl]
    stats = benchmark.pedantic(run, rounds=rounds, iterations=1, warmup_rounds=0 if quick else 1)
    np.testing.assert_allclose(stats, reference_stats, rtol=0, atol=1e-12)
    fresh = {impl: _fresh_process(impl, gt_path, res_path)}
    if impl == "hpefast":
        fresh["hpefast_cli"] = _fresh_process("hpefast_cli", gt_path, res_path)
    for name, info in fresh.items():
        np.testing.assert_allclose(info.pop("stats"), reference_stats, rtol=0, atol=1e-12, err_msg=name)
    benchmark.extra_info.update(
        AP=float(stats[0]),
        cpu_s_min=min(cpu),
        images=len(gt["images"]),
        results=len(res),
        fresh_process={k: {n: round(v, 4) for n, v in info.items()} for k, info in fresh.items()},
    )


def _hrnet_reference():
    """HRNet's evaluate (with its .mat loading), kept beside its parity test in python_tests."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "python_tests" / "test_eval_e2e_loading.py"
    spec = importlib.util.spec_from_file_location("_hpefast_eval_e2e_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.hrnet_from_files


@pytest.mark.parametrize("impl", ["hrnet", "hpefast"])
def test_mpii_pckh_end_to_end(benchmark, shared_data, impl):
    """MPII PCKh from the official .mat files, load + evaluate: HRNet's evaluate vs hpefast."""
    from hpefast.evaluation import pckh_from_mat

    gt_mat = shared_data / "eval" / "mpii" / "detections_our_format.mat"
    pred_mat = shared_data / "eval" / "mpii" / "hg_s2_b1_preds.mat"
    benchmark.group = "mpii_pckh_e2e_2958"
    run = _hrnet_reference() if impl == "hrnet" else pckh_from_mat
    table = benchmark(run, pred_mat, gt_mat)
    assert round(float(table["Mean"]), 2) == 87.30
