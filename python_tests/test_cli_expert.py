"""``--expert`` of ``hpefast export`` and ``hpefast eval``: official ViTPose+ ``.pth`` files from the CLI.

The checkpoint is a state dict with the official ViTPose+ key names and shapes (``test_checkpoint``'s
builder); the exported ONNX graph is checked against the official MoE forward of the chosen dataset.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from test_checkpoint import official_moe_forward, official_state_dict

from hpefast.cli import main as cli

C, PART = 128, 16  # embed 128 = the tiny variant's width, so its head count (4) is inferred


@pytest.fixture(scope="module")
def plus(tmp_path_factory):
    """A ViTPose+ checkpoint with experts coco (0), aic (1), mpii (2) and their heads."""
    sd = official_state_dict(c=C, depth=2, deconv=16, experts=3, part=PART, assoc_k=(14, 16), seed=7)
    path = tmp_path_factory.mktemp("plus") / "vitpose_plus.pth"
    torch.save({"meta": {"epoch": 100}, "state_dict": sd}, path)
    return path, sd


@pytest.mark.parametrize("expert,index,k", [("mpii", 2, 16), ("1", 1, 14)])
def test_export_onnx_with_expert_matches_the_official_forward(plus, tmp_path, capsys, expert, index, k):
    path, sd = plus
    out = tmp_path / "m.onnx"
    rc = cli(["export", str(path), "--expert", expert, "--output", str(out), "--batch", "1", "--no-verify"])
    assert rc == 0, capsys.readouterr().err
    assert out.is_file()
    x = torch.randn(1, 3, 256, 192, generator=torch.Generator().manual_seed(3))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        ref = official_moe_forward(sd, x, index, heads=4, part=PART)
    assert got.shape == (1, k, 64, 48)
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=2e-5)


def test_export_without_expert_is_a_clear_error(plus, tmp_path, capsys):
    path, _ = plus
    out = tmp_path / "m.onnx"
    assert cli(["export", str(path), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--expert" in err and "ViTPose+" in err and "0 coco, 1 aic, 2 mpii" in err
    assert not out.exists()
    assert cli(["export", str(path), "--expert", "horse", "--output", str(out)]) == 2
    assert "expert must be one of" in capsys.readouterr().err
    assert cli(["export", str(path), "--expert", "4", "--output", str(out)]) == 2  # not in this file
    assert "experts [0, 1, 2]" in capsys.readouterr().err


def test_eval_with_expert(plus, tmp_path, capsys):
    from hpefast.data.synthetic import write_dataset

    path, _ = plus
    ann = write_dataset(tmp_path / "mpii", "mpii", 2, seed=4, image_size=(128, 96))
    data = f"mpii:{ann}:{ann.parent / 'images'}"
    assert cli(["eval", str(path), "--data", data, "--no-flip"]) == 2
    assert "pass --expert" in capsys.readouterr().err
    # the coco expert gives a COCO-layout model, which cannot be scored on MPII's 16 joints
    assert cli(["eval", str(path), "--expert", "coco", "--data", data, "--no-flip"]) == 2
    assert "coco" in capsys.readouterr().err
    assert cli(["eval", str(path), "--expert", "mpii", "--data", data, "--no-flip"]) == 0
    assert "mpii: PCKh = " in capsys.readouterr().out


def test_expert_with_an_hpefast_checkpoint_is_refused(tmp_path, capsys):
    from hpefast.models import build_model, save_model

    folder = tmp_path / "model"
    save_model(build_model("tiny", image_size=(48, 64)), folder)
    data = f"coco:{tmp_path}:{tmp_path}"  # exists: the model is loaded (and refused) before data is read
    for cmd in (
        ["export", str(folder), "--output", str(tmp_path / "m.onnx")],
        ["eval", str(folder), "--data", data],
    ):
        assert cli([*cmd, "--expert", "coco"]) == 2
        assert "--expert coco: only for official ViTPose+" in capsys.readouterr().err
