"""PoseIG integrated gradients: hpefast's batched implementation against the template's per-joint loop
(``hpefast._reference.attribution.poseig_loop``: one forward, then J + 1 full backward passes per step,
parameter gradients included, as QY-H00/PoseIG-Template's ``compute_poseig``), on the same model.

Implementations: ``hpefast`` (all J gradients of a step from one batched backward, input gradients only),
``hpefast-joint-loop`` (``batched=False``: one input-only backward per joint), ``template-loop``.

Sizes: ``full`` = ViTPose-S, 256x192, 17 joints, 50 blur-path steps, batch 8 (the issue's figure; one
round, minutes per implementation on a 2-core CPU: run it on purpose with ``HPEFAST_BENCH_FULL=1``;
``HPEFAST_BENCH_STEPS=N`` runs N steps instead: every step costs the same, so the ratios hold);
``small`` = the tiny ViTPose, 64x48, 17 joints, 2 steps, batch 2 (CI, ``--benchmark-disable``).
"""

from __future__ import annotations

import os

import pytest
import torch

from hpefast._reference.attribution import poseig_loop
from hpefast.attribution import integrated_gradients
from hpefast.models import build_model

SIZES = {
    "small": dict(variant="tiny", size=(48, 64), steps=2, batch=2),
    "full": dict(variant="s", size=(192, 256), steps=50, batch=8),
}
IMPLS = ("hpefast", "hpefast-joint-loop", "template-loop")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("size", list(SIZES))
def test_integrated_gradients(benchmark, request, device, size, impl):
    disabled = bool(request.config.getoption("benchmark_disable"))
    if size == "full" and (disabled or os.environ.get("HPEFAST_BENCH_FULL") != "1"):
        pytest.skip("full size: set HPEFAST_BENCH_FULL=1 (minutes per implementation on a CPU)")
    cfg = SIZES[size]
    torch.manual_seed(0)
    model = build_model(cfg["variant"], layout="coco", image_size=cfg["size"]).to(device).eval()
    for p in model.head.parameters():  # peaky heatmaps (the head's init is near zero)
        torch.nn.init.normal_(p, std=0.05)
    w, h = cfg["size"]
    g = torch.Generator().manual_seed(0)
    images = torch.randn(cfg["batch"], 3, h, w, generator=g).to(device)
    gt = (torch.rand(cfg["batch"], 17, 2, generator=g) * torch.tensor([w - 1.0, h - 1.0])).to(device)
    steps = int(os.environ.get("HPEFAST_BENCH_STEPS", cfg["steps"])) if size == "full" else cfg["steps"]
    benchmark.group = f"poseig-ig-{cfg['variant']}-{w}x{h}-J17-steps{steps}-B{cfg['batch']}-{device}"

    def run():
        if impl == "template-loop":
            out = poseig_loop(model, images, gt, steps=steps)
            model.zero_grad(set_to_none=True)
        else:
            out = integrated_gradients(model, images, gt, steps=steps, batched=impl == "hpefast")
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    if size == "full":
        maps = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    else:
        maps = benchmark(run)
    assert maps.shape == (cfg["batch"], 17, h, w)
    assert torch.isfinite(maps).all() and float(maps.amax()) == 1.0
