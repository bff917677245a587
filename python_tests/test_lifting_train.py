"""Lifting models, config, training (beats the mean pose), checkpoints and the ``hpefast lift`` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from hpefast.cli import main
from hpefast.lifting.config import LiftConfigError, dump_yaml, load_lift_config
from hpefast.lifting.dataset import load_positions_2d, save_positions_2d
from hpefast.lifting.models import LinearModel, TemporalModel
from hpefast.lifting.synthetic import write_h36m
from hpefast.lifting.train import (
    _flip,
    load_lifter,
    load_split,
    mean_pose_baseline,
    predict_sequence,
    train_lifter,
)

ACTIONS = ("Walking", "Sitting", "Phoning", "Directions", "Greeting")


@pytest.mark.parametrize(
    "widths,rf", [((3, 3, 3), 27), ((3, 3, 3, 3), 81), ((3, 3, 3, 3, 3), 243), ((5, 3), 15)]
)
def test_temporal_receptive_field_is_exact(widths, rf):
    torch.manual_seed(0)
    m = TemporalModel(filter_widths=widths, channels=16, dropout=0.0).eval()
    assert m.receptive_field == rf
    x = torch.randn(1, rf + 10, 17, 2)
    y = m(x)
    assert y.shape == (1, 11, 17, 3)
    # output frame i sees exactly input frames i .. i + rf - 1
    x2 = x.clone()
    x2[0, rf + 4] += 1.0  # inside the windows of outputs 5..10, outside those of 0..4
    d = (m(x2) - y).abs().amax((0, 2, 3))
    assert torch.all(d[:5] == 0) and torch.all(d[5:] > 0)


def test_full_sequence_equals_sliding_windows():
    torch.manual_seed(0)
    m = TemporalModel(filter_widths=(3, 3), channels=16, dropout=0.0).eval()
    x = torch.randn(1, 30, 17, 2)
    full = m(x)[0]
    windows = torch.stack([m(x[:, i : i + 9])[0, 0] for i in range(0, 22, 3)])
    torch.testing.assert_close(full[::3], windows, rtol=1e-5, atol=1e-6)
    mlp = LinearModel(channels=32, dropout=0.0).eval()
    torch.testing.assert_close(mlp(x)[0, 7], mlp(x[:, 7:8])[0, 0], rtol=1e-5, atol=1e-6)


def test_flip_swaps_sides_and_mirrors():
    x = torch.randn(4, 17, 3)
    f = _flip(x)
    torch.testing.assert_close(_flip(f), x)
    torch.testing.assert_close(f[:, 13, 0], -x[:, 16, 0])  # left wrist <- mirrored right wrist
    torch.testing.assert_close(f[:, 13, 1:], x[:, 16, 1:])
    torch.testing.assert_close(f[:, 0], x[:, 0] * torch.tensor([-1.0, 1, 1]))


def test_model_bad_input():
    with pytest.raises(ValueError, match=r"input must be \[B, T, 17, 2\]"):
        TemporalModel(channels=8)(torch.zeros(1, 27, 16, 2))
    with pytest.raises(ValueError, match="at least 27 frames"):
        TemporalModel(channels=8)(torch.zeros(1, 20, 17, 2))
    with pytest.raises(ValueError, match="odd positive widths"):
        TemporalModel(filter_widths=(3, 4))


def test_config_presets_yaml_and_errors(tmp_path):
    cfg = load_lift_config("videopose3d-243")
    assert cfg.model.receptive_field == 243 and cfg.model.arch == "temporal"
    assert load_lift_config("martinez-mlp").model.receptive_field == 1
    y = tmp_path / "c.yaml"
    y.write_text("base: tiny-synthetic\noptim:\n  lr: 5.0e-4\n")
    cfg = load_lift_config(str(y), ["data.cameras=[0, 1]"])
    assert cfg.optim.lr == 5e-4 and cfg.data.cameras == [0, 1] and cfg.model.channels == 128
    assert load_lift_config(yaml.safe_load(dump_yaml(cfg))) == cfg
    with pytest.raises(LiftConfigError, match=r"unknown config key 'model.chanels'.*did you mean 'channels'"):
        load_lift_config("tiny-synthetic", ["model.chanels=3"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: tiny-synthetic\noptim:\n  lrr: 1.0\n")
    with pytest.raises(LiftConfigError, match=r"bad\.yaml: unknown config key 'optim\.lrr'.*mean 'lr'"):
        load_lift_config(str(bad))
    with pytest.raises(LiftConfigError, match="optim.lr"):
        load_lift_config("tiny-synthetic", ["optim.lr=-1"])
    with pytest.raises(LiftConfigError, match="cameras must be indices in 0..3"):
        load_lift_config("tiny-synthetic", ["data.cameras=[4]"])
    with pytest.raises(LiftConfigError, match="did you mean 'tiny-synthetic'"):
        load_lift_config("tiny-synthetik")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("h36m_train")
    write_h36m(root, subjects=("S1", "S5", "S9"), actions=ACTIONS, num_frames=60, seed=3)
    return root


def _cfg(data_root, out, preset="tiny-synthetic", *extra):
    return load_lift_config(
        preset,
        [
            f"data.root={data_root}",
            f"output_dir={out}",
            "data.train_subjects=[S1, S5]",
            "data.test_subjects=[S9]",
            "optim.batch_size=128",
            "halt_after_steps=250",
            "optim.epochs=50",
            "log_interval=20",
            *extra,
        ],
    )


@pytest.mark.parametrize(
    "preset", [pytest.param("tiny-synthetic", marks=pytest.mark.slow), "tiny-synthetic-mlp"]
)
def test_training_beats_the_mean_pose(data_root, tmp_path, preset):
    cfg = _cfg(data_root, tmp_path / "run", preset)
    train, test = load_split(cfg)
    base = mean_pose_baseline(train, test)
    result = train_lifter(cfg)
    assert result.halted and result.step == 250
    m = result.metrics
    # a trained lifter is far better than the mean pose, on both protocols and in every action
    assert m["mpjpe"]["Average"] < 0.7 * base["mpjpe"]["Average"], (m["mpjpe"], base["mpjpe"])
    assert m["p_mpjpe"]["Average"] < 0.8 * base["p_mpjpe"]["Average"]
    assert set(m["mpjpe"]) == set(ACTIONS) | {"Average"}
    assert m["frames"] == 5 * 4 * 60 and len(m["per_joint_mpjpe"]) == 17
    # outputs: checkpoint that reloads to the same predictions, metrics file, log, resumable state
    out = tmp_path / "run"
    assert json.loads((out / "metrics.json").read_text())["mpjpe"] == m["mpjpe"]
    assert (out / "log.jsonl").read_text().count('"loss_mm"') == 12
    model, cfg2, meta = load_lifter(out)
    assert cfg2 == cfg and meta["step"] == 250
    seq = test[0]
    a = predict_sequence(model, seq.poses_2d)
    assert a.shape == seq.poses_3d.shape and np.all(a[:, 0] == 0)
    assert load_lift_config(yaml.safe_load((out / "config.yaml").read_text())) == cfg


def test_resume_continues(data_root, tmp_path):
    out = tmp_path / "run"
    first = train_lifter(_cfg(data_root, out, "tiny-synthetic", "halt_after_steps=20"))
    assert first.step == 20 and (out / "checkpoints" / "last.pt").is_file()
    second = train_lifter(_cfg(data_root, out, "tiny-synthetic", "halt_after_steps=30", "resume=auto"))
    assert second.step == 30  # continued from step 20, not from 0
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_lifter(_cfg(data_root, tmp_path / "x", "tiny-synthetic", f"resume={tmp_path / 'nope.pt'}"))


def test_predict_bad_input():
    m = LinearModel(channels=8)
    with pytest.raises(ValueError, match=r"poses_2d must be \[T, J, 2\]"):
        predict_sequence(m, np.zeros((5, 17, 3)))
    bad = np.zeros((5, 17, 2))
    bad[2, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        predict_sequence(m, bad)


def test_cli_train_eval_synth(tmp_path, capsys):
    root = tmp_path / "syn"
    assert main(["lift", "synth", "--out", str(root), "--frames", "30", "--subjects", "S1,S9"]) == 0
    capsys.readouterr()
    out = tmp_path / "run"
    args = [f"data.root={root}", f"output_dir={out}", "data.train_subjects=[S1]", "data.test_subjects=[S9]"]
    assert (
        main(["lift", "train", "tiny-synthetic", *args, "halt_after_steps=5", "data.actions=[Walking]"]) == 0
    )
    text = capsys.readouterr().out
    assert "| Protocol #1 (MPJPE, mm) |" in text and "halted at step 5" in text
    assert main(["lift", "eval", str(out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    saved = json.loads((out / "metrics.json").read_text())  # eval of the saved model = the run's own eval
    for key in ("mpjpe", "p_mpjpe"):
        assert metrics[key] == pytest.approx(saved[key], rel=1e-6)
    assert set(metrics["mpjpe"]) == {"Walking", "Average"}
    # a detector's 2D file by name in the data folder: worse than ground truth, still scored per action
    p2, meta = load_positions_2d(root / "data_2d_h36m_gt.npz")
    noisy = {s: {a: [k + 15.0 for k in cams] for a, cams in acts.items()} for s, acts in p2.items()}
    save_positions_2d(root / "data_2d_h36m_det.npz", noisy, meta)
    assert main(["lift", "eval", str(out), "--data-2d", "data_2d_h36m_det.npz", "--json"]) == 0
    det = json.loads(capsys.readouterr().out)
    assert det["mpjpe"]["Walking"] != pytest.approx(metrics["mpjpe"]["Walking"], rel=1e-3)
    assert main(["lift", "eval", str(out), "--subjects", "S7"]) == 2
    assert "subject 'S7' is not in the 3D data" in capsys.readouterr().err
    assert main(["lift", "train", "tiny-synthetic", "optim.lrr=1"]) == 2
    assert "did you mean 'lr'" in capsys.readouterr().err
    assert main(["lift", "train", "--list-presets"]) == 0
    assert "videopose3d-243" in capsys.readouterr().out


def test_temporal_model_takes_videopose3d_state_dicts():
    """VideoPose3D's released checkpoints (``model_pos``) use these names and shapes (243 frames, 1024 ch)."""
    widths, ch = (3, 3, 3, 3, 3), 1024
    official = {"expand_conv.weight": (ch, 34, 3), "shrink.weight": (51, ch, 1), "shrink.bias": (51,)}
    bn = {
        "weight": (ch,),
        "bias": (ch,),
        "running_mean": (ch,),
        "running_var": (ch,),
        "num_batches_tracked": (),
    }
    for k, shape in bn.items():
        official[f"expand_bn.{k}"] = shape
    for i in range(2 * (len(widths) - 1)):
        official[f"layers_conv.{i}.weight"] = (ch, ch, 3 if i % 2 == 0 else 1)
        for k, shape in bn.items():
            official[f"layers_bn.{i}.{k}"] = shape
    model = TemporalModel(filter_widths=widths, channels=ch)
    state = {
        k: torch.zeros(s, dtype=torch.long if k.endswith("tracked") else torch.float32)
        for k, s in official.items()
    }
    model.load_state_dict(state, strict=True)  # same keys, same shapes
    assert model.receptive_field == 243
