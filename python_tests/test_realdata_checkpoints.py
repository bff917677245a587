"""Checkpoints as users have them:

- the files ViTPose's ``tools/model_split.py`` writes from a ViTPose+ checkpoint: ``coco.pth`` keeps every
  expert and associate head but has fc2 merged with expert 0; ``aic.pth`` ... are plain ViTPose files whose
  17-joint AP-10K head looks like COCO's (``--layout ap10k``);
- mmcv ``meta`` holding numpy scalars (read with ``weights_only=True``) and files that truly need pickle
  (``--trusted``);
- a stopped run's ``checkpoints/last.pt`` (``hpefast export`` / ``eval``).

The split below re-implements the official script's rules (read from ViTAE-Transformer/ViTPose
``tools/model_split.py``); the reference forward is ``test_checkpoint.official_moe_forward``.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from test_checkpoint import official_moe_forward, official_state_dict

from hpefast.cli import main as cli
from hpefast.commands._checkpoint import load_checkpoint_model

C, PART = 128, 16  # the tiny variant's width: its head count (4) is inferred
NAMES = ("aic", "mpii", "ap10k")  # associate heads 0, 1, 2 -> experts 1, 2, 3
ASSOC_K = (14, 16, 17)


def model_split(ckpt: dict, names=NAMES, ks=ASSOC_K) -> dict[str, dict]:
    """The per-dataset checkpoints of ``tools/model_split.py``: ``coco`` = the whole checkpoint with each
    fc2 concatenated with expert 0 (experts and associate heads left in); dataset i + 1 = fc2 concatenated
    with expert i + 1, ``keypoint_head`` replaced by ``associate_keypoint_heads.i`` (final layer cut to the
    dataset's joints), every associate head and every key containing 'expert' removed."""
    sd = ckpt["state_dict"]
    fc2 = [k for k in sd if "mlp.fc2" in k]
    out = {}
    coco = copy.deepcopy(ckpt)
    for k in fc2:
        coco["state_dict"][k] = torch.cat([sd[k], sd[k.replace("fc2.", "experts.0.")]], 0)
    out["coco"] = coco
    for i, (name, k_out) in enumerate(zip(names, ks)):
        new = copy.deepcopy(ckpt)
        nsd = new["state_dict"]
        for k in fc2:
            nsd[k] = torch.cat([sd[k], sd[k.replace("fc2.", f"experts.{i + 1}.")]], 0)
        for k in [k for k in nsd if k.startswith("keypoint_head.")]:
            nsd[k] = sd[k.replace("keypoint_head.", f"associate_keypoint_heads.{i}.")]
        for k in ("keypoint_head.final_layer.weight", "keypoint_head.final_layer.bias"):
            nsd[k] = nsd[k][:k_out]
        for k in [k for k in nsd if k.startswith("associate_keypoint_heads.") or "expert" in k]:
            del nsd[k]
        out[name] = new
    return out


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    sd = official_state_dict(c=C, depth=2, deconv=16, experts=4, part=PART, assoc_k=ASSOC_K, seed=11)
    root = tmp_path_factory.mktemp("split")
    paths = {}
    for name, ckpt in model_split({"meta": {"epoch": 210}, "state_dict": sd}).items():
        paths[name] = root / f"{name}.pth"
        torch.save(ckpt, paths[name])
    return paths, sd


X = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(5))


def _forward(model) -> torch.Tensor:
    with torch.no_grad():
        return model(X)


@pytest.mark.parametrize("expert,index", [("coco", 0), ("mpii", 2), ("3", 3)])
def test_split_coco_file_loads_with_any_expert(split, expert, index):
    """coco.pth has fc2 merged with expert 0 *and* every expert: each expert is recovered exactly."""
    paths, sd = split
    model = load_checkpoint_model(paths["coco"], expert)
    ref = official_moe_forward(sd, X, index, heads=4, part=PART)
    torch.testing.assert_close(_forward(model), ref, rtol=1e-4, atol=1e-5)


def test_split_coco_file_needs_expert_from_the_cli(split, tmp_path, capsys):
    paths, _ = split
    assert cli(["export", str(paths["coco"]), "--output", str(tmp_path / "m.onnx")]) == 2
    assert "--expert" in capsys.readouterr().err


@pytest.mark.slow
def test_split_ap10k_file_needs_layout(split, tmp_path, capsys):
    paths, sd = split
    guessed = load_checkpoint_model(paths["ap10k"])
    assert guessed.cfg.layout == "coco"  # 17 channels: the weights cannot tell
    model = load_checkpoint_model(paths["ap10k"], layout="ap10k")
    assert model.cfg.layout == "ap10k"
    torch.testing.assert_close(
        _forward(model), official_moe_forward(sd, X, 3, heads=4, part=PART), rtol=1e-4, atol=1e-5
    )
    with pytest.raises(ValueError, match="16"):
        load_checkpoint_model(paths["ap10k"], layout="mpii")  # 17 channels are not MPII's 16

    out = tmp_path / "ap10k.onnx"
    argv = ["export", str(paths["ap10k"]), "--layout", "ap10k", "--output", str(out), "--batch", "2"]
    assert cli([*argv, "--no-verify"]) == 0, capsys.readouterr().err
    from hpefast.deploy import TopDownPredictor

    assert TopDownPredictor(str(out)).layout == "ap10k"  # carried in the export metadata
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: X.numpy()})
    np.testing.assert_allclose(got, _forward(model).numpy(), rtol=1e-4, atol=2e-5)
    assert (
        cli(["export", str(paths["ap10k"]), "--layout", "horse", "--output", str(tmp_path / "h.onnx")]) == 2
    )
    assert "--layout horse" in capsys.readouterr().err


def test_eval_takes_layout(split, shared_data, capsys):
    paths, _ = split
    d = shared_data / "samples" / "ap10k"
    data = f"ap10k:{d / 'test_ap10k.json'}:{d}"
    assert cli(["eval", str(paths["ap10k"]), "--data", data, "--no-flip"]) == 2  # guessed coco
    capsys.readouterr()
    assert cli(["eval", str(paths["ap10k"]), "--layout", "ap10k", "--data", data, "--no-flip"]) == 0
    assert "ap10k: AP = " in capsys.readouterr().out


def test_split_coco_file_initialises_a_vitpose_plus_model(split):
    """load_pretrained keeps the file's own experts (not copies of the merged fc2's tail)."""
    from hpefast.models import build_model
    from hpefast.models.convert import load_pretrained

    paths, sd = split
    model = build_model(
        "tiny",
        layout="coco",
        image_size=(192, 256),
        num_experts=4,
        num_datasets=4,
        patch_size=16,
        part_features=PART,
        deconv_channels=16,
    )
    load_pretrained(model, paths["coco"])
    for e in range(4):
        torch.testing.assert_close(
            model.state_dict()[f"backbone.blocks.1.mlp.experts.{e}.weight"],
            sd[f"backbone.blocks.1.mlp.experts.{e}.weight"],
            rtol=0,
            atol=0,
        )
    torch.testing.assert_close(
        model.state_dict()["backbone.blocks.1.mlp.fc2.weight"], sd["backbone.blocks.1.mlp.fc2.weight"]
    )


# ----------------------------------------------------------------------------------------------------
# numpy scalars in meta; --trusted


def _as_numpy1_pickle(path: Path) -> None:
    """Rename numpy 2's pickled module ``numpy._core.multiarray`` to numpy 1.x's ``numpy.core.multiarray``
    (the name in checkpoints saved years ago; protocol-2 GLOBAL opcodes are newline-terminated text)."""
    src = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray" in data
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            dst.writestr(info, data)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("numpy1", [False, True])
def test_numpy_meta_loads_with_weights_only(split, tmp_path, numpy1):
    from hpefast.models.convert import read_state_dict

    paths, _ = split
    ckpt = torch.load(paths["ap10k"], weights_only=True)
    ckpt["meta"] = {
        "epoch": np.int64(210),
        "hook_msgs": {"best_score": np.float64(0.7563), "best_ckpt": "best_AP_epoch_210.pth"},
        "lr": np.float32(5e-6),
        "flags": np.array([1, 0, 1], dtype=np.uint8),
    }
    path = tmp_path / "numpy_meta.pth"
    torch.save(ckpt, path)
    if numpy1:
        _as_numpy1_pickle(path)
    with pytest.raises(Exception, match="(?i)weights only"):
        torch.load(path, weights_only=True)  # what a plain weights_only load says
    sd = read_state_dict(path)
    assert sd.keys() == ckpt["state_dict"].keys()
    for k, v in ckpt["state_dict"].items():
        assert torch.equal(sd[k], v), k
    model = load_checkpoint_model(path, layout="ap10k")
    assert model.cfg.layout == "ap10k"


def test_unsafe_pickle_needs_trusted(split, tmp_path, capsys):
    paths, _ = split
    ckpt = torch.load(paths["aic"], weights_only=True)
    ckpt["meta"] = {"args": argparse.Namespace(lr=5e-4)}  # pickled as a class: not allowlisted
    path = tmp_path / "needs_pickle.pth"
    torch.save(ckpt, path)
    out = tmp_path / "aic.onnx"
    assert cli(["export", str(path), "--output", str(out), "--no-verify"]) == 2
    err = capsys.readouterr().err
    assert "--trusted" in err and "argparse.Namespace" in err
    assert cli(["export", str(path), "--output", str(out), "--no-verify", "--trusted"]) == 0
    assert out.is_file()


# ----------------------------------------------------------------------------------------------------
# a stopped run's checkpoints/last.pt


@pytest.mark.slow
def test_stopped_run_last_pt_exports_and_evaluates(tmp_path, capsys):
    from hpefast.data.synthetic import write_dataset
    from hpefast.engine.config import load_config
    from hpefast.engine.trainer import train

    ann = write_dataset(tmp_path / "coco", "coco", 4, seed=3, image_size=(160, 120))
    images = ann.parent / "images"
    cfg = load_config(
        {
            "base": "tiny-synthetic",
            "output_dir": str(tmp_path / "run"),
            "progress": False,
            "ema": 0.9,
            "model": {"image_size": [48, 64], "layout": "coco"},
            "data": {
                "datasets": [
                    {"name": "coco", "train_ann": str(ann), "train_images": str(images)},
                ],
                "batch_size": 4,
            },
            "schedule": {"epochs": 5, "warmup_iters": 1, "milestones": [4]},
        },
        ["halt_after_steps=2"],
    )
    result = train(cfg)
    assert result.halted
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    assert last.is_file()

    out = tmp_path / "last.onnx"
    argv = ["export", str(last), "--output", str(out), "--batch", "1", "--no-verify"]
    assert cli(argv) == 0, capsys.readouterr().err
    state = torch.load(last, weights_only=True)
    model = load_checkpoint_model(last)
    ema = state["ema"]["weights"]
    for k, v in model.state_dict().items():  # the EMA weights of the stopped run
        assert torch.equal(v, ema[k]), k
    x = torch.randn(1, 3, 64, 48, generator=torch.Generator().manual_seed(1))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-4, atol=1e-5)

    data = f"coco:{ann}:{images}"
    assert cli(["eval", str(last), "--data", data, "--no-flip"]) == 0
    assert "coco: AP = " in capsys.readouterr().out
    assert cli(["export", str(last), "--expert", "coco", "--output", str(tmp_path / "e.onnx")]) == 2
    assert "training checkpoint" in capsys.readouterr().err

    # predict takes it too, and predicts with its (EMA) weights: the same keypoints as the exported model
    image = sorted(images.iterdir())[0]
    (tmp_path / "boxes.json").write_text("[[10.0, 8.0, 60.0, 90.0]]")
    kps = []
    for source in (last, out):
        argv = ["predict", str(image), "--boxes", str(tmp_path / "boxes.json"), "--model", str(source)]
        js = tmp_path / f"{source.suffix[1:]}.json"
        assert cli([*argv, "--out", str(tmp_path / f"{source.suffix[1:]}.png"), "--json", str(js)]) == 0
        kps.append(np.array(json.loads(js.read_text())["people"][0]["keypoints"]))
    np.testing.assert_allclose(kps[0], kps[1], atol=2e-3)


def test_split_wholebody_file_needs_layout(tmp_path):
    """The 133-joint COCO-WholeBody head has no default layout: refused with a message, loaded with
    ``layout="wholebody"`` (exportable; hpefast has no COCO-WholeBody schema to score or draw it yet)."""
    names, ks = ("aic", "mpii", "ap10k", "apt36k", "wholebody"), (14, 16, 17, 17, 133)
    sd = official_state_dict(c=C, depth=1, deconv=16, experts=6, part=PART, assoc_k=ks, seed=2)
    files = model_split({"state_dict": sd}, names, ks)
    for name in ("wholebody", "apt36k"):
        torch.save(files[name], tmp_path / f"{name}.pth")
    with pytest.raises(ValueError, match="133-channel head: pass layout"):
        load_checkpoint_model(tmp_path / "wholebody.pth")
    model = load_checkpoint_model(tmp_path / "wholebody.pth", layout="wholebody")
    assert (model.cfg.layout, model.cfg.num_keypoints) == ("wholebody", 133)
    torch.testing.assert_close(
        _forward(model), official_moe_forward(sd, X, 5, heads=4, part=PART), rtol=1e-4, atol=1e-5
    )
    assert load_checkpoint_model(tmp_path / "apt36k.pth", layout="apt36k").cfg.layout == "ap10k"
