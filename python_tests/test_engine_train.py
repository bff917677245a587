"""The training engine end to end on small synthetic datasets: exact resume, validation in each dataset's
protocol (an oracle model scores AP 1 / PCKh 100, an untrained one about 0), and bad input refused before
any training step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hpefast.data.synthetic import write_dataset
from hpefast.engine.config import ConfigError, load_config
from hpefast.engine.trainer import Trainer, train

IMAGE = (48, 64)  # model input (W, H): tiny ViT, patch 8 -> 6 x 8 tokens, 12 x 16 heatmaps
# The oracle runs no network, so it uses the recipe's 256x192 crops: there DARK-UDP recovers a UDP target's
# centre to ~1e-4 px. (On 12x16 maps a joint near the crop edge has its 3-sigma window clipped and the decode
# is off by up to a heatmap pixel, which is a property of the codec, not of the evaluation path.)
ORACLE_IMAGE = (192, 256)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth")
    out = {}
    for layout, seed in (("coco", 1), ("mpii", 2)):
        out[f"{layout}_train"] = write_dataset(
            root / f"{layout}_train", layout, 6, seed=seed, image_size=(160, 120)
        )
        out[f"{layout}_val"] = write_dataset(
            root / f"{layout}_val", layout, 3, seed=seed + 10, image_size=(160, 120)
        )
    return out


def _ds(synth, name: str, fmt: str, metric: str, val: bool = True) -> dict:
    tr, va = synth[f"{name}_train"], synth[f"{name}_val"]
    d = {
        "name": name,
        "format": fmt,
        "schema": name,
        "train_ann": str(tr),
        "train_images": str(tr.parent / "images"),
        "metric": metric,
    }
    if val:
        d.update(val_ann=str(va), val_images=str(va.parent / "images"))
    return d


def _config(synth, out: Path, *overrides: str, layout: str = "union21", val: bool = False):
    datasets = [_ds(synth, "coco", "coco", "coco_ap", val)]
    if layout == "union21":
        datasets.append(_ds(synth, "mpii", "mpii", "pckh", val))
    return load_config(
        {
            "base": "tiny-synthetic",
            "output_dir": str(out),
            "progress": False,
            "log_interval": 1,
            "model": {"image_size": list(IMAGE), "layout": layout},
            "data": {"datasets": datasets, "batch_size": 4, "val_batch_size": 8},
            "schedule": {"epochs": 2, "warmup_iters": 3, "milestones": [1]},
        },
        list(overrides),
    )


def _train_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------------------------------------------------
# training and exact resume


def test_train_then_resume_repeats_the_loss_sequence(synth, tmp_path):
    full = train(_config(synth, tmp_path / "full", "ema=0.9"))
    spe = full.step // 2
    assert full.step == 2 * spe and spe >= 3 and not full.halted
    assert [s for s, _ in full.losses] == list(range(1, full.step + 1))
    assert all(np.isfinite(v) and v > 0 for _, v in full.losses)
    assert (tmp_path / "full" / "model").exists() and (
        tmp_path / "full" / "checkpoints" / "last.pt"
    ).is_file()
    records = _train_log(tmp_path / "full")
    assert records[0]["type"] == "start" and records[-1]["type"] == "end"
    lrs = [r["lr"] for r in records if r["type"] == "train"]
    assert lrs[0] == pytest.approx(2e-3 * (1 - (1 - 0 / 3) * (1 - 0.01)))  # warmup from step 0
    assert lrs[-1] == pytest.approx(2e-4)  # after the milestone at epoch 1

    # stop in the middle of epoch 0, then resume twice (the second resume crosses the epoch boundary)
    out = tmp_path / "resumed"
    first = train(_config(synth, out, "halt_after_steps=2", "ema=0.9"))
    assert first.halted and first.step == 2
    second = train(_config(synth, out, "resume=auto", f"halt_after_steps={spe + 1}", "ema=0.9"))
    third = train(_config(synth, out, "resume=auto", "ema=0.9"))
    assert third.step == full.step and not third.halted
    resumed = first.losses + second.losses + third.losses
    assert resumed == full.losses  # bit-identical: same samples, augmentations, dropout, optimizer state

    # `hpefast eval` reads either the training checkpoint or the exported model: the same weights
    from hpefast.commands.evaluate import load_any_model

    from_state = load_any_model(str(out / "checkpoints" / "last.pt")).state_dict()
    from_model = load_any_model(str(out / "model")).state_dict()
    uninterrupted = load_any_model(str(tmp_path / "full" / "model")).state_dict()
    assert from_state.keys() == from_model.keys() == uninterrupted.keys()
    for k in from_state:  # the EMA weights too survive the restarts exactly
        assert torch.equal(from_state[k], from_model[k]) and torch.equal(from_model[k], uninterrupted[k]), k


def test_resume_refuses_another_layout(synth, tmp_path):
    out = tmp_path / "coco_run"
    train(_config(synth, out, "halt_after_steps=1", layout="coco"))
    ckpt = out / "checkpoints" / "last.pt"
    with pytest.raises(ValueError, match=r"trained for layout 'coco', the config trains 'union21'"):
        Trainer(_config(synth, tmp_path / "other", f"resume={ckpt}"))


def test_pretrained_model_of_another_layout_is_refused(synth, tmp_path):
    from hpefast.models import build_model
    from hpefast.models.checkpoint import save_model

    path = tmp_path / "coco_model"
    save_model(build_model("tiny", layout="coco", image_size=IMAGE), str(path))
    with pytest.raises(ValueError, match=r"layout 'coco' \(17 keypoints\).*trains layout 'union21' \(21"):
        Trainer(_config(synth, tmp_path / "o", f"model.pretrained={path}"))


def test_dataset_keypoint_count_mismatch_fails_before_training(synth, tmp_path):
    data = json.loads(synth["coco_train"].read_text())
    for ann in data["annotations"]:
        ann["keypoints"] = ann["keypoints"][: 3 * 14]  # 14 joints in a file declared as COCO-17
    data["categories"][0]["keypoints"] = data["categories"][0]["keypoints"][:14]
    bad = synth["coco_train"].parent / "bad14.json"
    bad.write_text(json.dumps(data))
    cfg = _config(synth, tmp_path / "o", f"data.datasets.coco.train_ann={bad}")
    with pytest.raises(ValueError, match=r"bad14\.json.*14.*17|bad14\.json.*17.*14"):
        Trainer(cfg)
    assert not (tmp_path / "o" / "log.jsonl").exists()  # nothing started


def test_missing_files_name_the_dataset(synth, tmp_path):
    cfg = _config(synth, tmp_path / "o", "data.datasets.mpii.train_ann=/nonexistent/mpii.json")
    with pytest.raises(FileNotFoundError, match=r"dataset 'mpii': train_ann '/nonexistent/mpii.json'"):
        Trainer(cfg)


def test_validation_schema_the_layout_cannot_predict(synth, tmp_path):
    cfg = _config(synth, tmp_path / "o", layout="coco")
    tree = {"data": {"datasets": [_ds(synth, "coco", "coco", "coco_ap"), _ds(synth, "mpii", "mpii", "pckh")]}}
    from hpefast.engine.config import to_dict

    cfg = load_config({**to_dict(cfg), "data": {**to_dict(cfg)["data"], **tree["data"]}})
    with pytest.raises(ValueError, match=r"layout 'coco' does not predict joints .*head_top"):
        Trainer(cfg)


def test_unknown_override_fails_before_anything(synth, tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'clip_grad'"):
        _config(synth, tmp_path / "o", "optim.clip_gard=1.0")


# ---------------------------------------------------------------------------------------------------------
# validation in each dataset's own protocol


class _Oracle(torch.nn.Module):
    """Returns the ground-truth heatmaps of the batches in loader order (the flipped call gets them mirrored):
    a perfect model, so the whole evaluation path (flip test, DARK-UDP, inverse warp, union -> dataset
    schema, COCOeval / PCKh) must give AP 1 and PCKh 100."""

    def __init__(self, dataset, model_cfg) -> None:
        super().__init__()
        from hpefast.data import collate
        from hpefast.keypoints import get_schema
        from hpefast.ops import encode_heatmaps, flip_heatmaps

        self.cfg = model_cfg
        self.uses_dataset_id = False
        self.maps = []
        for start in range(0, len(dataset), 8):
            b = collate([dataset[i] for i in range(start, min(start + 8, len(dataset)))])
            hm, _ = encode_heatmaps(
                b["keypoints"], b["labelled"], model_cfg.image_size, model_cfg.heatmap_size
            )
            flip = get_schema(model_cfg.layout).flip_index
            self.maps += [hm, flip_heatmaps(hm, flip)]
        self.calls = 0

    def forward(self, images, dataset_id=None):
        out = self.maps[self.calls]
        assert out.shape[0] == images.shape[0]
        self.calls += 1
        return out


def _val_dataset(synth, name: str, layout: str, size=ORACLE_IMAGE):
    from hpefast.data import CocoKeypointDataset, MpiiDataset

    ann = synth[f"{name}_val"]
    if name == "mpii":
        return MpiiDataset(ann, ann.parent / "images", input_size=size, layout=layout)
    return CocoKeypointDataset(ann, ann.parent / "images", input_size=size, layout=layout)


@pytest.mark.parametrize("layout", ["union21", "coco"])
def test_oracle_scores_perfect_coco_ap(synth, layout):
    from hpefast.engine.validation import evaluate_dataset
    from hpefast.models import build_model

    ds = _val_dataset(synth, "coco", layout)
    oracle = _Oracle(ds, build_model("tiny", layout=layout, image_size=ORACLE_IMAGE).cfg)
    m = evaluate_dataset(
        oracle, ds, "coco_ap", torch.device("cpu"), ann_file=str(synth["coco_val"]), batch_size=8
    )
    assert oracle.calls == len(oracle.maps)  # flip test ran on every batch
    assert m["AP"] > 0.99 and m["AR"] > 0.99


def test_oracle_scores_perfect_pckh_through_union(synth):
    from hpefast.engine.validation import evaluate_dataset
    from hpefast.models import build_model

    ds = _val_dataset(synth, "mpii", "union21")
    oracle = _Oracle(ds, build_model("tiny", layout="union21", image_size=ORACLE_IMAGE).cfg)
    m = evaluate_dataset(oracle, ds, "pckh", torch.device("cpu"), batch_size=8)
    assert m["PCKh"] == pytest.approx(100.0)


def test_untrained_model_scores_about_zero(synth):
    from hpefast.engine.validation import evaluate_dataset
    from hpefast.models import build_model

    ds = _val_dataset(synth, "coco", "union21", IMAGE)
    model = build_model("tiny", layout="union21", image_size=IMAGE)
    m = evaluate_dataset(model, ds, "coco_ap", torch.device("cpu"), ann_file=str(synth["coco_val"]))
    assert m["AP"] < 0.05


def test_layout_index_refuses_uncovered_schema():
    from hpefast.engine.validation import layout_index

    assert layout_index("union21", "coco").tolist() == list(range(17))
    assert sorted(layout_index("union23", "mpii").tolist()) == sorted(
        set(layout_index("union23", "mpii").tolist())
    )
    with pytest.raises(ValueError, match=r"'coco' does not predict joints \[.*'head_top'"):
        layout_index("coco", "mpii")


def test_library_load_model_reads_a_training_checkpoint(synth, tmp_path):
    """``hpefast.load_model`` (not only the commands) takes a run's checkpoints/last.pt: same weights as
    the model folder the run wrote, and the layout check applies."""
    import hpefast

    out = tmp_path / "run"
    train(_config(synth, out, "halt_after_steps=2", layout="coco"))
    from_state = hpefast.load_model(str(out / "checkpoints" / "last.pt"))
    assert from_state.cfg.layout == "coco" and not from_state.training
    from hpefast.engine.state import load_state

    saved = load_state(out / "checkpoints" / "last.pt")["model"]
    got = from_state.state_dict()
    assert saved.keys() == got.keys() and all(torch.equal(saved[k], got[k]) for k in saved)
    from hpefast.models.checkpoint import load_model

    with pytest.raises(ValueError, match="trained for layout 'coco', not 'mpii'"):
        load_model(out / "checkpoints" / "last.pt", layout="mpii")
