"""The CPU kernels' persistent thread pool: it follows torch's thread count (HPEFAST_NUM_THREADS wins),
gives results identical for any thread count, leaks no thread, and survives fork and concurrent callers."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from hpefast._ext import lib
from hpefast.ops import decode_heatmaps, encode_heatmaps, oks, pckh, union_heatmap_loss

ROOT = Path(__file__).resolve().parents[1]


def _os_threads() -> int:
    """Threads of this process, as the kernel counts them."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads: line in /proc/self/status")


def _run(code: str, **env: str) -> str:
    """Run `code` in a fresh interpreter (its own pool and thread count) and return its stdout."""
    full_env = {k: v for k, v in os.environ.items() if k != "HPEFAST_NUM_THREADS"}
    full_env.update(env)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


_FOLLOW = """
    import torch
    from hpefast._ext import lib
    from hpefast.ops import decode_heatmaps
    hm = torch.rand(64, 17, 64, 48)
    seen = []
    for n in (1, 3, 2, 1):
        torch.set_num_threads(n)
        decode_heatmaps(hm, input_size=(192, 256))
        seen.append(f"{lib().get_num_threads()}:{lib().pool_workers()}")
    print(" ".join(seen))
"""


def test_thread_count_follows_torch():
    # (threads the kernels use):(pool workers alive): the caller is one of the threads, a smaller count
    # stops the extra workers at once.
    assert _run(_FOLLOW) == "1:0 3:2 2:1 1:0"


def test_env_var_wins_over_torch():
    assert _run(_FOLLOW, HPEFAST_NUM_THREADS="3") == "3:2 3:2 3:2 3:2"


def test_set_num_threads_rejects_bad_values():
    with pytest.raises(ValueError, match="set_num_threads"):
        lib().set_num_threads(0)


@pytest.fixture
def threads():
    """Set torch's (and so the kernels') thread count; restored afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _every_cpu_op(seed: int = 0) -> list[np.ndarray]:
    """Outputs of every compiled CPU op (and COCOeval) on inputs large enough to be split in chunks."""
    g = torch.Generator().manual_seed(seed)
    B, K = 24, 17
    kp = torch.rand(B, K, 2, generator=g) * torch.tensor([192.0, 256.0])
    vis = (torch.rand(B, K, generator=g) > 0.2).float()
    outs = []
    for method in ("msra", "udp"):
        hm, w = encode_heatmaps(kp, vis, input_size=(192, 256), heatmap_size=(48, 64), method=method)
        outs += [hm, w]
    noisy = hm + 0.05 * torch.rand(hm.shape, generator=g)
    for method in ("argmax", "shift", "dark", "dark_udp"):
        outs += list(decode_heatmaps(noisy, input_size=(192, 256), method=method))
    pred = noisy.clone().requires_grad_(True)
    loss = union_heatmap_loss(pred, hm, vis)
    loss.backward()
    outs += [loss.detach(), pred.grad]
    n = 5000
    p = torch.rand(n, K, 2, generator=g) * 100
    t = p + torch.randn(n, K, 2, generator=g) * 3
    v = (torch.rand(n, K, generator=g) > 0.3).float()
    area = torch.rand(n, generator=g) * 5000 + 100
    outs.append(oks(p, t, v, area, torch.full((K,), 0.05)))
    boxes = torch.stack([t.min(1).values, t.min(1).values + 30], 1)
    outs.append(pckh(p, t, v, boxes))
    return [o.detach().numpy().copy() for o in outs]


def test_results_identical_for_any_thread_count(threads):
    threads(1)
    one = _every_cpu_op()
    threads(4)  # more threads than this machine's cores: chunks still split
    four = _every_cpu_op()
    assert lib().get_num_threads() == 4
    for a, b in zip(one, four, strict=True):
        np.testing.assert_array_equal(a, b)


def test_cocoeval_identical_for_any_thread_count(threads):
    from hpefast.evaluation.coco import COCO
    from hpefast.evaluation.cocoeval import COCOeval

    rng = np.random.default_rng(0)
    images = [{"id": i, "width": 640, "height": 480} for i in range(60)]
    anns, dets = [], []
    for i in range(60):
        for _ in range(3):
            kps = rng.uniform(0, 400, (17, 3))
            kps[:, 2] = 2
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": 1,
                    "keypoints": kps.ravel().tolist(),
                    "num_keypoints": 17,
                    "area": float(rng.uniform(500, 20000)),
                    "iscrowd": 0,
                    "bbox": [0.0, 0.0, 100.0, 100.0],
                }
            )
            d = kps.copy()
            d[:, :2] += rng.normal(0, 8, (17, 2))
            dets.append(
                {
                    "image_id": i,
                    "category_id": 1,
                    "keypoints": d.ravel().tolist(),
                    "score": float(rng.uniform()),
                }
            )
    gt = COCO({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]})
    precision = []
    for n in (1, 4):
        threads(n)
        ev = COCOeval(gt, gt.loadRes(dets), "keypoints")
        ev.evaluate()
        ev.accumulate()
        precision.append(np.asarray(ev.eval["precision"]).copy())
    assert (precision[0] > 0).any()
    np.testing.assert_array_equal(precision[0], precision[1])


def test_no_thread_leak(threads):
    threads(2)
    hm = torch.rand(8, 17, 64, 48)

    def calls():
        decode_heatmaps(hm, input_size=(192, 256))
        encode_heatmaps(
            torch.rand(8, 17, 2) * 100, torch.ones(8, 17), input_size=(192, 256), heatmap_size=(48, 64)
        )

    calls()  # starts the pool (and whatever torch starts lazily)
    before = _os_threads()
    for _ in range(300):
        calls()
    assert _os_threads() == before
    assert lib().pool_workers() == 1


def test_concurrent_python_threads_get_serial_results(threads):
    """Callers from several Python threads (the GIL is released in the kernels) share the pool or run
    inline: every result equals the one-thread answer."""
    threads(2)
    maps = [torch.rand(16, 17, 64, 48, generator=torch.Generator().manual_seed(i)) for i in range(8)]
    want = [decode_heatmaps(m, input_size=(192, 256))[0] for m in maps]
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda m: decode_heatmaps(m, input_size=(192, 256))[0], maps * 3))
    for i, g in enumerate(got):
        torch.testing.assert_close(g, want[i % 8], rtol=0, atol=0)


def _decode_in_child(queue):
    hm = torch.rand(32, 17, 64, 48, generator=torch.Generator().manual_seed(1))
    queue.put(decode_heatmaps(hm, input_size=(192, 256))[0].sum().item())


def test_forked_child_has_a_working_pool(threads):
    """DataLoader workers fork: the child must not wait on the parent's workers (it has none)."""
    threads(2)
    hm = torch.rand(32, 17, 64, 48, generator=torch.Generator().manual_seed(1))
    want = decode_heatmaps(hm, input_size=(192, 256))[0].sum().item()
    assert lib().pool_workers() == 1
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_decode_in_child, args=(queue,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0, "the forked child hung or crashed"
    assert queue.get(timeout=5) == want
