"""MPII as users have it: the real ``mpii_{train,val}.json`` (mmpose / HRNet) carry no head boxes; PCKh takes
them from the official ``mpii_gt_val.mat`` (``headboxes_src`` [2,2,N], ``pos_gt_src`` [16,2,N] 1-based,
``jnt_missing`` [16,N], ``dataset_joints``; the layout of ../shared/data/eval/mpii/detections_our_format.mat).

The five real sample entries of ../shared/data/samples/mpii are the first five people of the MPII validation
split (their joints equal ``pos_gt_src[..., :5]`` to 1e-4 px), so a real-format ``mpii_val.json`` with its
``mpii_gt_val.mat`` can be built from the shared files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import loadmat, savemat

from hpefast.data import MpiiDataset
from hpefast.engine.validation import pckh_metrics, require_headboxes, score_records
from hpefast.errors import AnnotationError, HpefastError

GT_MAT = Path("eval") / "mpii" / "detections_our_format.mat"

# ../shared/data/README.md: Tompson et al. on the 2958 validation people (HRNet / bearpaw table; Head =
# head_top alone).
TOMPSON = {
    "Head": 95.6003, "Shoulder": 92.7140, "Elbow": 83.3646, "Wrist": 76.7357, "Hip": 81.9283,
    "Knee": 73.3628, "Ankle": 65.4462, "Mean": 82.3367,
}  # fmt: skip


def _write_official_mat(path: Path, mat: dict, columns) -> Path:
    """An ``mpii_gt_val.mat`` (official key layout) holding ``columns`` of the shared ground truth."""
    savemat(
        str(path),
        {
            "dataset_joints": mat["dataset_joints"],
            "jnt_missing": mat["jnt_missing"][:, columns],
            "pos_gt_src": mat["pos_gt_src"][:, :, columns],
            "headboxes_src": mat["headboxes_src"][:, :, columns],
        },
    )
    return path


@pytest.fixture
def real_mpii(shared_data, tmp_path):
    """(mpii_val.json without head boxes, image folder, mpii_gt_val.mat, the full shared .mat dict)."""
    mat = loadmat(str(shared_data / GT_MAT))
    entries = json.loads((shared_data / "samples" / "mpii" / "test_mpii.json").read_text())
    assert all("headbox" not in e for e in entries)  # as the real files
    ann = tmp_path / "mpii_val.json"
    ann.write_text(json.dumps(entries))
    gt = _write_official_mat(tmp_path / "mpii_gt_val.mat", mat, slice(0, len(entries)))
    return ann, shared_data / "samples" / "mpii", gt, mat


def _oracle_records(ds, layout: str = "mpii") -> list[dict]:
    """Records whose predictions are the ground truth (image pixels), as :func:`predict` returns them."""
    from hpefast.keypoints import mapping_index

    idx = mapping_index("mpii", layout)
    out = []
    for i in range(len(ds)):
        meta = ds[i]["meta"]
        kp = np.asarray(meta["keypoints_image"], np.float64)
        pred = np.zeros((len(idx), 2))
        pred[idx >= 0] = kp[idx[idx >= 0], :2]
        out.append({"keypoints": pred, "scores": np.ones(len(idx)), "meta": meta})
    return out


def test_official_headbox_file_feeds_the_real_json(real_mpii):
    ann, images, gt, mat = real_mpii
    bare = MpiiDataset(ann, images, input_size=(192, 256))
    assert bare.missing_headboxes == 5
    with pytest.raises(AnnotationError, match="mpii_gt"):
        require_headboxes(bare, "dataset 'mpii'")
    ds = MpiiDataset(ann, images, input_size=(192, 256), headbox_file=gt)
    assert ds.missing_headboxes == 0
    want = np.transpose(mat["headboxes_src"][:, :, :5], (2, 0, 1))
    for i, inst in enumerate(ds.instances):
        np.testing.assert_array_equal(inst.extra["headbox"], want[inst.ann_id])
        assert inst.ann_id == i
    records = _oracle_records(ds)
    metrics = score_records(records, ds, "pckh", "mpii")
    assert metrics["PCKh"] == pytest.approx(100.0, abs=1e-9)
    # the same predictions moved by 0.6 head sizes miss every joint: the head boxes are really used
    size = 0.6 * np.linalg.norm(want[:, 1] - want[:, 0], axis=-1)
    for r in records:
        r["keypoints"] = r["keypoints"] + np.array([0.6, 0.0]) * size[r["meta"]["ann_id"]]
    assert score_records(records, ds, "pckh", "mpii")["PCKh"] == pytest.approx(0.0, abs=1e-9)


def test_without_head_boxes_pckh_fails_with_a_clear_message(real_mpii):
    ann, images, _, _ = real_mpii
    bare = MpiiDataset(ann, images, input_size=(192, 256))
    with pytest.raises(HpefastError, match="mpii_gt_val.mat"):
        pckh_metrics(_oracle_records(bare), "mpii")


def test_headbox_file_of_another_split_is_refused(real_mpii, tmp_path):
    ann, images, _, mat = real_mpii
    other = _write_official_mat(tmp_path / "shifted.mat", mat, slice(1, 6))  # right size, wrong people
    with pytest.raises(AnnotationError, match="entry 0"):
        MpiiDataset(ann, images, headbox_file=other)
    short = _write_official_mat(tmp_path / "short.mat", mat, slice(0, 4))
    with pytest.raises(AnnotationError, match="4 head boxes, 5 entries"):
        MpiiDataset(ann, images, headbox_file=short)
    junk = tmp_path / "junk.mat"
    savemat(str(junk), {"something": np.zeros(3)})
    with pytest.raises(AnnotationError, match="headboxes_src"):
        MpiiDataset(ann, images, headbox_file=junk)


def test_table_both_ways_on_the_real_validation_set(shared_data):
    """pckh_metrics on Tompson et al.'s 2958 validation predictions: HRNet's table (published numbers) and
    the official toolkit's Head column (mean of upper_neck and head_top), computed here independently."""
    mat = loadmat(str(shared_data / GT_MAT))
    gt = np.transpose(mat["pos_gt_src"], (2, 0, 1))  # [N, 16, 2] 1-based
    pred = np.transpose(mat["pos_pred_src"], (2, 0, 1))
    vis = mat["jnt_missing"].T == 0
    boxes = np.transpose(mat["headboxes_src"], (2, 0, 1))
    records = [
        {
            "keypoints": pred[i],
            "scores": np.ones(16),
            "meta": {"keypoints_image": np.c_[gt[i], vis[i]], "headbox": boxes[i], "ann_id": i},
        }
        for i in range(len(gt))
    ]
    m = pckh_metrics(records, "mpii")
    for part, value in TOMPSON.items():
        assert m[part] == pytest.approx(value, abs=5e-5), part
    assert m["PCKh"] == m["Mean"]
    # official toolkit: per-joint PCKh of upper_neck (8) and head_top (9), then their mean
    head = 0.6 * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=-1)
    hit = np.linalg.norm(pred - gt, axis=-1) / head[:, None] <= 0.5
    per_joint = 100.0 * (hit & vis).sum(0) / vis.sum(0)
    assert m["Head_toolkit"] == pytest.approx((per_joint[8] + per_joint[9]) / 2, abs=1e-9)
    assert m["Head"] == pytest.approx(per_joint[9], abs=1e-9)
    assert abs(m["Head_toolkit"] - m["Head"]) > 0.1  # the two conventions really differ here


# ----------------------------------------------------------------------------------------------------
# hpefast eval --mpii-gt


@pytest.fixture
def tiny_mpii_model(tmp_path):
    from hpefast.models import build_model
    from hpefast.models.checkpoint import save_model

    model = build_model("tiny", layout="mpii", image_size=(48, 64))
    save_model(model, tmp_path / "model")
    return tmp_path / "model"


def test_eval_cli_takes_the_official_headbox_file(real_mpii, tiny_mpii_model, tmp_path, capsys):
    from hpefast.cli import main

    ann, images, gt, mat = real_mpii
    data = f"mpii:{ann}:{images}"
    assert main(["eval", str(tiny_mpii_model), "--data", data, "--no-flip"]) == 2
    assert "--mpii-gt" in capsys.readouterr().err
    out = tmp_path / "metrics.json"
    argv = ["eval", str(tiny_mpii_model), "--data", data, "--mpii-gt", str(gt), "--no-flip"]
    assert main([*argv, "--out", str(out), "--results-dir", str(tmp_path / "res")]) == 0
    printed = capsys.readouterr().out
    assert "Head_toolkit" in printed and "upper_neck" in printed
    metrics = json.loads(out.read_text())["mpii"]
    # independent PCKh of the written predictions against the .mat (1-based: results are 0-based pixels)
    res = json.loads((tmp_path / "res" / "mpii_results.json").read_text())
    pred = np.array([r["keypoints"] for r in res]).reshape(len(res), 16, 3)[..., :2] + 1.0
    gt_kp = np.transpose(mat["pos_gt_src"][:, :, :5], (2, 0, 1))
    vis = mat["jnt_missing"][:, :5].T == 0
    boxes = np.transpose(mat["headboxes_src"][:, :, :5], (2, 0, 1))
    head = 0.6 * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=-1)
    hit = (np.linalg.norm(pred - gt_kp, axis=-1) / head[:, None] <= 0.5) & vis
    per_joint = 100.0 * hit.sum(0) / vis.sum(0)
    assert metrics["Head"] == pytest.approx(per_joint[9], abs=1e-6)
    assert metrics["Head_toolkit"] == pytest.approx((per_joint[8] + per_joint[9]) / 2, abs=1e-6)
    weights = vis.sum(0).astype(float)
    weights[[6, 7]] = 0
    assert metrics["PCKh"] == pytest.approx(float((per_joint * weights).sum() / weights.sum()), abs=1e-6)
    # --mpii-gt with a dataset that is not MPII is refused
    assert main(["eval", str(tiny_mpii_model), "--data", f"coco:{ann}:{images}", "--mpii-gt", str(gt)]) == 2


# ----------------------------------------------------------------------------------------------------
# training on real-format MPII (json without head boxes + the official .mat)


def _real_format(json_path: Path, mat_path: Path | None = None) -> Path:
    """Strip the synthetic writer's ``headbox`` keys (the real json has none); optionally write them to an
    official-layout ``.mat`` with the ground truth (``pos_gt_src`` 1-based, ``jnt_missing``)."""
    entries = json.loads(json_path.read_text())
    boxes = np.array([e.pop("headbox") for e in entries], np.float64)  # [N, 2, 2]
    json_path.write_text(json.dumps(entries))
    if mat_path is not None:
        savemat(
            str(mat_path),
            {
                "headboxes_src": np.transpose(boxes, (1, 2, 0)),
                "pos_gt_src": np.transpose(np.array([e["joints"] for e in entries], np.float64), (1, 2, 0)),
                "jnt_missing": 1 - np.array([e["joints_vis"] for e in entries], np.uint8).T,
            },
        )
    return json_path


@pytest.fixture(scope="module")
def real_format_synth(tmp_path_factory):
    from hpefast.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("mpii_real_format")
    train = _real_format(write_dataset(root / "train", "mpii", 6, seed=2, image_size=(160, 120)))
    val = write_dataset(root / "val", "mpii", 3, seed=12, image_size=(160, 120))
    keep = root / "val_with_boxes.json"
    keep.write_text(val.read_text())
    _real_format(val, root / "mpii_gt_val.mat")
    return {"train": train, "val": val, "mat": root / "mpii_gt_val.mat", "val_with_boxes": keep}


def _mpii_config(paths, out: Path, *overrides: str, mpii_gt: bool = True, val_ann: Path | None = None):
    from hpefast.engine.config import load_config

    d = {
        "name": "mpii",
        "format": "mpii",
        "schema": "mpii",
        "train_ann": str(paths["train"]),
        "train_images": str(paths["train"].parent / "images"),
        "val_ann": str(val_ann or paths["val"]),
        "val_images": str(paths["val"].parent / "images"),
        "metric": "pckh",
    }
    if mpii_gt:
        d["mpii_gt"] = str(paths["mat"])
    return load_config(
        {
            "base": "tiny-synthetic",
            "output_dir": str(out),
            "progress": False,
            "model": {"image_size": [48, 64], "layout": "mpii"},
            "data": {"datasets": [d], "batch_size": 4, "val_batch_size": 8},
            "schedule": {"epochs": 1, "warmup_iters": 1, "milestones": []},
        },
        list(overrides),
    )


def test_training_on_real_format_mpii_validates(real_format_synth, tmp_path):
    """Before: the run crashed at its first validation (no head boxes) and wrote no model. Now the official
    .mat (``mpii_gt``) feeds validation, and the PCKh equals the one of the same json with its head boxes
    inline."""
    from hpefast.engine.trainer import Trainer, train

    result = train(_mpii_config(real_format_synth, tmp_path / "run"))
    assert (tmp_path / "run" / "model").exists()
    pckh = result.metrics["mpii"]
    assert set(pckh) >= {"PCKh", "Head", "Head_toolkit"}
    inline = Trainer(
        _mpii_config(
            real_format_synth, tmp_path / "inline", mpii_gt=False, val_ann=real_format_synth["val_with_boxes"]
        )
    )
    inline.model.load_state_dict(
        torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["model"]
    )
    assert inline.validate()["mpii"] == pytest.approx(pckh, abs=1e-9)


def test_training_without_head_boxes_fails_before_the_first_step(real_format_synth, tmp_path):
    from hpefast.engine.trainer import Trainer

    with pytest.raises(HpefastError, match="mpii_gt"):
        Trainer(_mpii_config(real_format_synth, tmp_path / "run", mpii_gt=False))
    assert not (tmp_path / "run" / "checkpoints").exists()
