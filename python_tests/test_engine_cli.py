"""``hpefast train`` and ``hpefast eval`` command lines."""

from __future__ import annotations

import json

import pytest
import yaml

from hpefast.cli import main


def test_list_presets(capsys):
    assert main(["train", "--list-presets"]) == 0
    names = capsys.readouterr().out.split()
    for v in "sblh":
        for task in ("coco", "mpii", "aic", "union21", "union23", "coco+mpii", "coco+mpii+aic"):
            assert f"vitpose-{v}-{task}" in names
    assert "tiny-synthetic" in names


def test_print_config_applies_overrides(capsys):
    assert main(["train", "vitpose-b-coco", "optim.lr=1e-3", "data.batch_size=16", "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert (
        cfg["optim"]["lr"] == 1e-3 and cfg["data"]["batch_size"] == 16 and cfg["optim"]["layer_decay"] == 0.75
    )


def test_unknown_key_is_a_clean_error(capsys):
    assert main(["train", "vitpose-b-coco", "optim.lrr=1e-3"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'optim.lrr'" in err and "did you mean 'lr'" in err


def test_train_without_config_is_a_clean_error(capsys):
    assert main(["train"]) == 2
    assert "give a CONFIG" in capsys.readouterr().err


@pytest.fixture(scope="module")
def coco_val(tmp_path_factory):
    from hpefast.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("cli")
    return write_dataset(root / "coco", "coco", 2, seed=3, image_size=(160, 120)), root


def test_eval_checkpoint_for_another_layout(coco_val, capsys):
    from hpefast.data.synthetic import write_dataset
    from hpefast.models import build_model
    from hpefast.models.checkpoint import save_model

    _, root = coco_val
    mpii = write_dataset(root / "mpii", "mpii", 1, seed=4, image_size=(160, 120))
    save_model(build_model("tiny", layout="coco", image_size=(48, 64)), str(root / "coco_model"))
    rc = main(["eval", str(root / "coco_model"), "--data", f"mpii:{mpii}:{mpii.parent / 'images'}"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "layout 'coco' does not predict joints" in err and "head_top" in err


def test_eval_bad_data_spec(coco_val, capsys):
    _, root = coco_val
    assert main(["eval", str(root), "--data", "coco:only-two"]) == 2
    assert "SCHEMA:ANN_FILE:IMAGE_DIR" in capsys.readouterr().err


def test_eval_writes_metrics(coco_val, capsys):
    from hpefast.models import build_model
    from hpefast.models.checkpoint import save_model

    ann, root = coco_val
    save_model(build_model("tiny", layout="union21", image_size=(48, 64)), str(root / "u21"))
    out = root / "metrics.json"
    spec = f"coco:{ann}:{ann.parent / 'images'}"
    assert main(["eval", str(root / "u21"), "--data", spec, "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"coco"} and 0.0 <= metrics["coco"]["AP"] <= 1.0
    assert "coco: AP =" in capsys.readouterr().out
