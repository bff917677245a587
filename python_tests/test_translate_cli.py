"""``hpefast translate {simulate,fit,eval}`` end to end on the synthetic writer's datasets, both ways."""

from __future__ import annotations

import json

import pytest

from hpefast.cli import main as cli


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    from hpefast.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("translate_cli")
    out = {}
    for layout in ("coco", "mpii"):
        for split, seed, n in (("train", 0, 120), ("val", 1, 50)):
            out[layout, split] = write_dataset(
                root / f"{layout}_{split}", layout=layout, num_images=n, seed=seed, image_size=(96, 96)
            )
    return root, out


@pytest.mark.parametrize("src,dst", [("coco", "mpii"), ("mpii", "coco")])
def test_fit_and_eval_both_directions(src, dst, datasets, capsys):
    root, files = datasets
    preds = {}
    for split, seed in (("train", 0), ("val", 1)):
        preds[split] = root / f"{src}_on_{dst}_{split}.json"
        assert (
            cli(
                [
                    "translate",
                    "simulate",
                    "--gt",
                    str(files[dst, split]),
                    "--src",
                    src,
                    "--out",
                    str(preds[split]),
                    "--seed",
                    str(seed),
                ]
            )
            == 0
        )
    model = root / f"{src}2{dst}"
    rc = cli(
        [
            "translate",
            "fit",
            "--pred",
            str(preds["train"]),
            "--gt",
            str(files[dst, "train"]),
            "--src",
            src,
            "--out",
            str(model),
            "--steps",
            "300",
            "--hidden",
            "128",
        ]
    )
    assert rc == 0
    assert (model / "translator.json").is_file() and (model / "translator.safetensors").is_file()
    cfg = json.loads((model / "translator.json").read_text())
    assert (cfg["src"], cfg["dst"], cfg["meta"]["box_mode"]) == (src, dst, "bbox")
    val = cfg["meta"]["fit"]["val"]
    assert val["translator_shared"] < val["mapping_shared"]

    metrics = root / f"{src}2{dst}.json"
    capsys.readouterr()
    rc = cli(
        [
            "translate",
            "eval",
            "--pred",
            str(preds["val"]),
            "--gt",
            str(files[dst, "val"]),
            "--model",
            str(model),
            "--out",
            str(metrics),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "mapping" in printed and "translator" in printed
    result = json.loads(metrics.read_text())  # strict JSON: NaN written as null
    rows = {(r["method"], r["joints"]): r for r in result["rows"]}
    key = "Mean" if dst == "mpii" else "AP"
    assert result["protocol"] == ("PCKh@0.5" if dst == "mpii" else "OKS AP")
    assert rows["translator", "shared"][key] > rows["mapping", "shared"][key]
    assert ("translator", "all") in rows
    assert result["matched"] == result["gt_people"]


def test_cross_dataset_eval_without_a_translator(datasets, capsys):
    """A union model scored on each source over the joints it shares with it (all of them here)."""
    root, files = datasets
    for dst in ("coco", "mpii"):
        pred = root / f"union_on_{dst}.json"
        assert (
            cli(
                [
                    "translate",
                    "simulate",
                    "--gt",
                    str(files[dst, "val"]),
                    "--src",
                    "union21",
                    "--out",
                    str(pred),
                ]
            )
            == 0
        )
        capsys.readouterr()
        assert (
            cli(
                ["translate", "eval", "--pred", str(pred), "--gt", str(files[dst, "val"]), "--src", "union21"]
            )
            == 0
        )
        out = capsys.readouterr().out
        n = 17 if dst == "coco" else 16
        assert f"mapping     all ({n})" in out and "translator" not in out


def test_cli_errors_are_clear(datasets, capsys, tmp_path):
    root, files = datasets
    pred = root / "coco_on_mpii_train.json"
    if not pred.exists():
        cli(
            [
                "translate",
                "simulate",
                "--gt",
                str(files["mpii", "train"]),
                "--src",
                "coco",
                "--out",
                str(pred),
            ]
        )
    capsys.readouterr()
    # the wrong --src: 17-joint results read as MPII
    rc = cli(
        [
            "translate",
            "fit",
            "--pred",
            str(pred),
            "--gt",
            str(files["mpii", "train"]),
            "--src",
            "mpii",
            "--out",
            str(tmp_path / "m"),
        ]
    )
    assert rc == 2 and "is --src right?" in capsys.readouterr().err
    rc = cli(["translate", "eval", "--pred", str(pred), "--gt", str(files["mpii", "train"])])
    err = capsys.readouterr().err  # 17 joints: coco or ap10k, so --src cannot be inferred
    assert rc == 2 and "--src not given and cannot be inferred" in err and "['ap10k', 'coco', 'h36m']" in err
    rc = cli(["translate", "eval", "--pred", str(pred), "--gt", str(tmp_path / "none.json"), "--src", "coco"])
    assert rc == 2 and "does not exist" in capsys.readouterr().err
