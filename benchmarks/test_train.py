"""Training step: hpefast (targets made on the device by the encode kernel + the fused masked loss) against
a plain-torch baseline (targets made with per-joint numpy in the data workers, as mmpose/HRNet do, and the
masked MSE written eagerly in torch).

Groups:
- ``train-step-<model>``: one full optimisation step (targets, forward, loss, backward, AdamW) of a
  union21 model, both implementations. On a CPU-only machine the baseline's "worker" numpy target
  generation runs on the same cores as the model, so it is timed inline, which is what it costs there.
- ``targets+loss-B<batch>``: only target generation + loss forward + backward, both implementations.
- ``test_share_of_step``: the share of an hpefast step spent in target generation and loss (issue: < 5% on
  CPU), from medians of separately timed parts; reported in ``extra_info``.

Full sizes: ViTPose-S at 256x192, batch 8 on CPU (ViTPose-B, batch 64 on CUDA). Under
``--benchmark-disable`` (CI) everything shrinks to the tiny model so the file runs in seconds.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
import torch

from hpefast._reference.heatmap import encode_heatmaps as numpy_encode
from hpefast.keypoints import get_schema, mapping_index

K_UNION = 21


def _small(request) -> bool:
    return bool(request.config.getoption("benchmark_disable"))


def _setup(device: str, small: bool):
    """(variant, image_size (W, H), batch) for this run."""
    if small:
        return "tiny", (48, 64), 2
    if device == "cuda":
        return "b", (192, 256), 64
    return "s", (192, 256), 8


def _union_batch(batch: int, image_size, seed: int = 0):
    """Crops and union21 keypoints: even samples from COCO (MPII-only joints unlabelled), odd from MPII."""
    rng = np.random.default_rng(seed)
    w, h = image_size
    kp = np.stack([rng.uniform(0, w - 1, (batch, K_UNION)), rng.uniform(0, h - 1, (batch, K_UNION))], -1)
    lab = np.ones((batch, K_UNION), np.float32)
    from_mpii = mapping_index("mpii", "union21") >= 0
    mpii_in_union = np.zeros(K_UNION, bool)
    mpii_in_union[mapping_index("mpii", "union21")[from_mpii]] = True
    lab[0::2, 17:] = 0.0  # COCO samples: no MPII-only joints
    lab[1::2] = mpii_in_union.astype(np.float32)  # MPII samples: only the joints MPII labels
    lab *= rng.random((batch, K_UNION)) > 0.1  # some joints unannotated
    images = torch.from_numpy(rng.standard_normal((batch, 3, h, w)).astype(np.float32))
    return images, kp.astype(np.float32), lab.astype(np.float32)


def _eager_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Masked MSE over labelled joints, written eagerly (what a plain-torch trainer does)."""
    per_joint = ((pred - target) ** 2).mean(dim=(2, 3))
    mask = weight > 0
    return (per_joint * weight)[mask].sum() / mask.sum().clamp(min=1)


def _numpy_targets(kp: np.ndarray, lab: np.ndarray, image_size, heatmap_size):
    """Per-sample numpy targets (as in the workers) collated into tensors."""
    parts = [
        numpy_encode(kp[i : i + 1], lab[i : i + 1], image_size, heatmap_size, 2.0, "udp")
        for i in range(len(kp))
    ]
    return torch.from_numpy(np.concatenate([p[0] for p in parts])), torch.from_numpy(
        np.concatenate([p[1] for p in parts])
    )


class _Step:
    def __init__(self, impl: str, device: str, variant: str, image_size, batch: int):
        from hpefast.models import build_model

        torch.manual_seed(0)
        self.impl = impl
        self.device = torch.device(device)
        self.model = build_model(variant, layout="union21", image_size=image_size).to(self.device).train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.image_size = tuple(image_size)
        self.heatmap_size = tuple(self.model.cfg.heatmap_size)
        images, kp, lab = _union_batch(batch, image_size)
        self.images = images.to(self.device)
        self.kp_np, self.lab_np = kp, lab
        self.kp = torch.from_numpy(kp).to(self.device)
        self.lab = torch.from_numpy(lab).to(self.device)
        self.amp = self.device.type == "cuda"

    def targets(self):
        from hpefast.ops import encode_heatmaps

        if self.impl == "hpefast":
            return encode_heatmaps(self.kp, self.lab, self.image_size, self.heatmap_size, 2.0, "udp")
        t, w = _numpy_targets(self.kp_np, self.lab_np, self.image_size, self.heatmap_size)
        return t.to(self.device, non_blocking=True), w.to(self.device, non_blocking=True)

    def loss(self, pred, target, weight):
        from hpefast.ops import union_heatmap_loss

        if self.impl == "hpefast":
            return union_heatmap_loss(pred, target, weight)
        return _eager_loss(pred, target, weight)

    def __call__(self) -> float:
        with torch.no_grad():
            target, weight = self.targets()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            pred = self.model(self.images)
        loss = self.loss(pred.float().contiguous(), target, weight)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach())


@pytest.mark.parametrize("impl", ["hpefast", "baseline"])
def test_train_step(benchmark, request, device, impl):
    variant, size, batch = _setup(device, _small(request))
    step = _Step(impl, device, variant, size, batch)
    step()  # warm-up (allocations, kernels)
    benchmark.group = f"train-step-vitpose-{variant}-{size[0]}x{size[1]}-B{batch}-{device}"
    benchmark.extra_info.update(images_per_step=batch)
    loss = benchmark.pedantic(step, rounds=3 if not _small(request) else 1, iterations=1)
    assert np.isfinite(loss) and loss > 0


@pytest.mark.parametrize("impl", ["hpefast", "baseline"])
def test_targets_and_loss(benchmark, request, device, impl):
    batch = 4 if _small(request) else 64
    size = (192, 256)
    heat = (48, 64)
    _, kp, lab = _union_batch(batch, size)
    rng = np.random.default_rng(1)
    pred0 = torch.from_numpy(rng.random((batch, K_UNION, heat[1], heat[0]), dtype=np.float32)).to(device)
    kp_t, lab_t = torch.from_numpy(kp).to(device), torch.from_numpy(lab).to(device)

    def run():
        from hpefast.ops import encode_heatmaps, union_heatmap_loss

        pred = pred0.clone().requires_grad_(True)
        if impl == "hpefast":
            target, weight = encode_heatmaps(kp_t, lab_t, size, heat, 2.0, "udp")
            loss = union_heatmap_loss(pred, target, weight)
        else:
            target, weight = _numpy_targets(kp, lab, size, heat)
            loss = _eager_loss(pred, target.to(device), weight.to(device))
        loss.backward()
        if device == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach())

    benchmark.group = f"targets+loss-B{batch}-K{K_UNION}-{heat[0]}x{heat[1]}-{device}"
    loss = benchmark(run)
    assert np.isfinite(loss)


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def test_share_of_step(benchmark, request, device):
    """Share of an hpefast training step spent in target generation + loss (forward and backward)."""
    from hpefast.ops import union_heatmap_loss

    small = _small(request)
    variant, size, batch = _setup(device, small)
    step = _Step("hpefast", device, variant, size, batch)
    step()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with torch.no_grad():
        pred0 = step.model(step.images).float()
    target, weight = step.targets()

    def targets():
        step.targets()
        sync()

    def loss():
        pred = pred0.clone().requires_grad_(True)
        union_heatmap_loss(pred, target, weight).backward()
        sync()

    repeats = 3 if small else 20
    t_targets = _median_time(targets, repeats)
    t_loss = _median_time(loss, repeats)
    benchmark.group = f"share-of-step-vitpose-{variant}-B{batch}-{device}"
    benchmark.pedantic(step, rounds=1 if small else 3, iterations=1)
    t_step = benchmark.stats.stats.median if benchmark.stats is not None else _median_time(step, 1)
    share = (t_targets + t_loss) / t_step
    benchmark.extra_info.update(
        targets_ms=t_targets * 1e3, loss_fwd_bwd_ms=t_loss * 1e3, step_ms=t_step * 1e3, share=share
    )
    print(
        f"\n{variant} B{batch} {device}: targets {t_targets * 1e3:.3f} ms + loss {t_loss * 1e3:.3f} ms "
        f"of a {t_step * 1e3:.1f} ms step = {100 * share:.2f}%"
    )
    if not small:
        assert share < 0.05


def test_layout_sanity():
    # The synthetic union batches above rely on these facts of the union21 layout.
    assert get_schema("union21").num_keypoints == K_UNION
    assert (mapping_index("coco", "union21")[:17] == np.arange(17)).all()
