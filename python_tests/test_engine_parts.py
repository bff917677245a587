"""Engine parts: lr schedule, layer decay, resumable sampler, atomic checkpoints, RNG capture, EMA."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from hpefast.data.sampler import ResumableSampler, SeededDataset
from hpefast.engine.config import OptimConfig, ScheduleConfig
from hpefast.engine.ema import ModelEMA
from hpefast.engine.optim import build_optimizer, lr_factor
from hpefast.engine.state import atomic_save, capture_rng, load_state, restore_rng

# ---------------------------------------------------------------------------------------------------------
# schedule


def _mmcv_step_lr(step: int, steps_per_epoch: int, base: float = 5e-4) -> float:
    """mmcv StepLrUpdaterHook(warmup='linear', warmup_iters=500, warmup_ratio=0.001, step=[170, 200]),
    written out from mmcv/runner/hooks/lr_updater.py: regular lr by epoch, linear warmup by iteration."""
    epoch = step // steps_per_epoch
    exp = len([s for s in [170, 200] if epoch >= s])
    regular = base * 0.1**exp
    if step < 500:
        k = (1 - step / 500) * (1 - 0.001)
        return regular * (1 - k)
    return regular


@pytest.mark.parametrize(
    "step", [0, 1, 250, 499, 500, 501, 169 * 300 + 299, 170 * 300, 199 * 300, 200 * 300, 62999]
)
def test_lr_schedule_matches_mmcv_step_policy(step):
    got = 5e-4 * lr_factor(step, 300, ScheduleConfig())
    assert got == pytest.approx(_mmcv_step_lr(step, 300), rel=1e-12)


def test_lr_schedule_endpoints():
    cfg = ScheduleConfig()
    assert lr_factor(0, 100, cfg) == pytest.approx(0.001)
    assert lr_factor(500, 100, cfg) == 1.0
    assert lr_factor(170 * 100, 100, cfg) == pytest.approx(0.1)
    assert lr_factor(200 * 100, 100, cfg) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        lr_factor(0, 0, cfg)


# ---------------------------------------------------------------------------------------------------------
# layer decay


def test_optimizer_needs_the_models_own_layer_rules():
    with pytest.raises(TypeError, match="has no param_groups"):
        build_optimizer(torch.nn.Linear(2, 2), OptimConfig(lr=1.0, layer_decay=0.5))


def test_layer_decay_with_vitpose_model():
    from hpefast.models import build_model

    model = build_model("tiny", layout="coco", image_size=(48, 64))
    opt = build_optimizer(model, OptimConfig(lr=1e-3, weight_decay=0.05, layer_decay=0.9))
    depth = model.cfg.depth
    by_param = {id(p): g for g in opt.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    g = by_param[id(named["backbone.blocks.0.attn.qkv.weight"])]
    assert g["lr"] == pytest.approx(1e-3 * 0.9**depth) and g["weight_decay"] == 0.05
    assert by_param[id(named["backbone.pos_embed"])]["weight_decay"] == 0.0
    assert by_param[id(named["backbone.pos_embed"])]["lr_scale"] == pytest.approx(0.9 ** (depth + 1))
    head_w = [n for n in named if n.startswith("head.") and n.endswith("final_layer.weight")][0]
    assert by_param[id(named[head_w])]["lr_scale"] == 1.0
    assert sum(len(g["params"]) for g in opt.param_groups) == len(named)


# ---------------------------------------------------------------------------------------------------------
# sampler


def test_sampler_is_a_function_of_seed_and_epoch():
    a = ResumableSampler([50, 30], batch_size=8, seed=3)
    b = ResumableSampler([50, 30], batch_size=8, seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)
    b.set_epoch(3)
    assert list(a) != list(b)
    assert a.steps_per_epoch == 10 and len(list(a)) == 80
    # one pass covers every instance once
    assert sorted(i for i, _ in a) == list(range(80))


def test_sampler_resume_position_is_a_suffix():
    s = ResumableSampler([37], batch_size=4, seed=0)
    s.set_epoch(1)
    full = list(s)
    s.set_epoch(1, start_batch=5)
    assert list(s) == full[20:] and len(s) == len(full) - 20


def test_sampler_ranks_partition_the_epoch():
    parts = []
    for rank in range(2):
        s = ResumableSampler([40, 24], batch_size=4, seed=1, rank=rank, world_size=2)
        s.set_epoch(0)
        parts.append(list(s))
    assert len(parts[0]) == len(parts[1]) == 32
    assert sorted(i for p in parts for i, _ in p) == list(range(64))
    assert {sd for p in parts for _, sd in p}.__len__() > 60  # per-sample seeds differ


def test_sampler_ratios():
    s = ResumableSampler([100, 10], batch_size=10, ratios=[1.0, 1.0], seed=0)
    s.set_epoch(0)
    idx = np.array([i for i, _ in s])
    assert len(idx) == 110
    assert (idx >= 100).sum() == 55  # half the epoch from the small set, cycled without early repeats
    small = idx[idx >= 100] - 100
    assert np.bincount(small, minlength=10).min() >= 5


def test_sampler_rejects_too_little_data():
    with pytest.raises(ValueError, match="no full batch"):
        ResumableSampler([3], batch_size=4)
    with pytest.raises(ValueError, match="ratios has 1 entries for 2 datasets"):
        ResumableSampler([3, 4], batch_size=1, ratios=[1.0])


class _RandomItems(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, i):
        return (i, random.random(), float(np.random.rand()), float(torch.rand(())))


def test_seeded_dataset_reproducible_and_leaves_global_rng_alone():
    ds = SeededDataset(_RandomItems())
    torch.manual_seed(7)
    before = torch.get_rng_state().clone()
    a = ds[(3, 11)]
    assert torch.equal(torch.get_rng_state(), before)  # main process: RNGs restored
    assert a == ds[(3, 11)] and a != ds[(3, 12)]


# ---------------------------------------------------------------------------------------------------------
# state


def test_atomic_save_and_load(tmp_path):
    path = tmp_path / "ck" / "last.pt"
    state = {"format": "hpefast-train-state", "step": 3, "w": torch.arange(4.0), "rng": [capture_rng()]}
    atomic_save(state, path)
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left behind
    back = load_state(path)
    assert back["step"] == 3 and torch.equal(back["w"], state["w"])


def test_atomic_save_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "last.pt"
    atomic_save({"format": "hpefast-train-state", "step": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_save({"format": "hpefast-train-state", "x": Unpicklable()}, path)
    assert load_state(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_load_state_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_state(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable hpefast training checkpoint"):
        load_state(bad)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="not an hpefast training checkpoint"):
        load_state(tmp_path / "model.pt")


def test_rng_capture_restore_replays_all_generators(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    atomic_save({"format": "hpefast-train-state", "rng": capture_rng()}, tmp_path / "s.pt")
    first = (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(), np.random.randn())
    restore_rng(load_state(tmp_path / "s.pt")["rng"])
    second = (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(), np.random.randn())
    assert first == second


# ---------------------------------------------------------------------------------------------------------
# EMA


def test_ema_matches_closed_form():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = ModelEMA(model, decay=0.5)
    expected = 0.0
    for n, w in enumerate([1.0, 2.0, 3.0], start=1):
        with torch.no_grad():
            model.weight.fill_(w)
        ema.update(model)
        d = min(0.5, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * w
    assert ema.module.weight[0, 0].item() == pytest.approx(expected)
    state = ema.state_dict()
    other = ModelEMA(model, decay=0.9)
    other.load_state_dict(state)
    assert other.updates == 3 and other.decay == 0.5
    assert torch.equal(other.module.weight, ema.module.weight)


# ---------------------------------------------------------------------------------------------------------
# logs


def test_run_logger_jsonl_and_tensorboard_notice(tmp_path):
    import json

    from hpefast.engine.runlog import RunLogger, tensorboard_available

    log = RunLogger(tmp_path, tensorboard=True)
    log.log({"type": "train", "step": 1, "loss": 0.5, "arr": np.arange(2)}, step=1)
    log.close()
    assert [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()] == [
        {"type": "train", "step": 1, "loss": 0.5, "arr": [0, 1]}
    ]
    if tensorboard_available():
        assert any((tmp_path / "tensorboard").iterdir())
    else:  # not a dependency: skipped with a notice, never an ImportError
        assert "tensorboard is not installed" in log.tensorboard_note
        assert not (tmp_path / "tensorboard").exists()
