"""Distillation step overhead: one training step of a student with the plain loss against the same step
with a frozen teacher computed on the fly (its forward, the mapping and the second loss term), in one run.

Full size: the distill study's pair (teacher: tiny ViTPose, 128 wide, 4 blocks; student: 48 wide, 2 blocks),
crops 64x96, batch 16, union21. Under ``--benchmark-disable`` (CI) batch 2 and one check that the distilled
step's loss differs from the plain one (the teacher term is there).
"""

from __future__ import annotations

import pytest
import torch

from hpefast.engine.distill import Distiller
from hpefast.models import build_model
from hpefast.ops import union_heatmap_loss


def _pair(device):
    torch.manual_seed(0)
    teacher = build_model("tiny", layout="union21", image_size=(64, 96)).to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = build_model(
        "tiny", layout="union21", image_size=(64, 96), embed_dim=48, depth=2, num_heads=2, deconv_channels=32
    ).to(device)
    return teacher, student


@pytest.mark.parametrize("mode", ["plain", "distill"])
def test_distill_step_overhead(benchmark, request, device, mode):
    small = bool(request.config.getoption("benchmark_disable"))
    b = 2 if small else (128 if device == "cuda" else 16)
    teacher, student = _pair(device)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    images = torch.randn(b, 3, 96, 64, generator=g).to(device)
    target = torch.rand(b, 21, 24, 16, generator=g).to(device)
    weight = torch.ones(b, 21, device=device)
    d = Distiller(teacher, student, alpha=0.5) if mode == "distill" else None
    benchmark.group = f"distill-step-B{b}-{device}"
    losses = []

    def step():
        heat = student(images)
        if d is None:
            loss = union_heatmap_loss(heat, target, weight)
        else:
            loss = d.loss(heat, target, weight, images, None, 0, 100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))

    benchmark(step)
    if d is not None:
        benchmark.extra_info["teacher_ms"] = d.log_record().get("teacher_ms")
        with torch.no_grad():
            heat = student(images)
            assert float(d.loss(heat, target, weight, images, None, 0, 100)) != float(
                union_heatmap_loss(heat, target, weight)
            )
