"""Per-call cost of the CPU kernels' parallel_for, old build against new (benchmarks/RESULTS.md).

A process holds one ``hpefast._C``, so each build is timed in its own interpreter:

    python scripts/bench_parallel_for.py OLD_C.so NEW_C.so [repeats]

OLD is a build of a commit before the persistent pool (threads started at every call; its entry points
are ``decode_heatmaps_cpu`` / ``encode_heatmaps_cpu``), NEW one with it (``decode_heatmaps(cuda, stream,
...)``). Both get 2 threads. Prints a markdown table: min wall and min CPU (all threads) microseconds per call
over ``repeats`` alternating runs of 7 x N calls, for DARK-UDP decode and UDP encode of K=17 64x48 maps.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time


def _measure(path: str) -> dict[str, list[float]]:
    import torch

    spec = importlib.util.spec_from_file_location("hpefast._C", path)
    C = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(C)
    if hasattr(C, "set_num_threads"):
        C.set_num_threads(2)
        dec = lambda *a: C.decode_heatmaps(False, 0, *a)  # noqa: E731
        enc = lambda *a: C.encode_heatmaps(False, 0, *a)  # noqa: E731
    else:
        dec, enc = C.decode_heatmaps_cpu, C.encode_heatmaps_cpu

    def bench(fn, reps):
        for _ in range(50):
            fn()
        wall, cpu = [], []
        for _ in range(7):
            t, c = time.perf_counter(), time.process_time()
            for _ in range(reps):
                fn()
            wall.append((time.perf_counter() - t) / reps * 1e6)
            cpu.append((time.process_time() - c) / reps * 1e6)
        return [min(wall), min(cpu)]

    res = {}
    K, h, w = 17, 64, 48
    for B in (1, 2, 8, 32):
        g = torch.Generator().manual_seed(0)
        hm = torch.rand(B, K, h, w, generator=g)
        kp, sc = torch.empty(B, K, 2), torch.empty(B, K)
        args = (hm.data_ptr(), kp.data_ptr(), sc.data_ptr(), B * K, w, h, 192, 256, 3, 11)
        res[f"decode dark_udp|{B}"] = bench(lambda a=args: dec(*a), 1000)
        kpi = torch.rand(B, K, 2, generator=g) * torch.tensor([192.0, 256.0])
        vis, out, wts = torch.ones(B, K), torch.empty(B, K, h, w), torch.empty(B, K)
        eargs = (
            kpi.data_ptr(),
            vis.data_ptr(),
            0,
            out.data_ptr(),
            wts.data_ptr(),
            B * K,
            K,
            192,
            256,
            w,
            h,
            2.0,
            1,
        )
        res[f"encode udp|{B}"] = bench(lambda a=eargs: enc(*a), 300)
    return res


def main() -> None:
    if sys.argv[1] == "--measure":
        print(json.dumps(_measure(sys.argv[2])))
        return
    old, new = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(repeats):
        for name, path in (("old", old), ("new", new)):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", path], capture_output=True, text=True
            )
            out.check_returncode()
            runs[name].append(json.loads(out.stdout))
    print("| op | B (K=17, 64x48 maps) | old wall µs | new wall µs | old CPU µs | new CPU µs |")
    print("|---|---|---|---|---|---|")
    for key in runs["old"][0]:
        ow, nw = (min(r[key][0] for r in runs[s]) for s in ("old", "new"))
        oc, nc = (min(r[key][1] for r in runs[s]) for s in ("old", "new"))
        op, b = key.split("|")
        print(f"| {op} | {b} | {ow:.1f} | {nw:.1f} | {oc:.1f} | {nc:.1f} |")


if __name__ == "__main__":
    main()
