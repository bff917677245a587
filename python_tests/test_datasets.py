"""Datasets on the real sample files (COCO, MPII, AIC, AP-10K, CrowdPose): what the loader returns is
checked against the json itself and against the warp geometry, item by item."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hpefast.data import CocoKeypointDataset, MpiiDataset, collate, crop_to_image
from hpefast.data.transforms import box_to_center_scale, image_to_crop
from hpefast.keypoints import get_schema, mapping_index

COCO_FILES = {  # folder -> schema
    "coco": "coco",
    "aic": "aic",
    "ap10k": "ap10k",
    "crowdpose": "crowdpose",
}


def _coco(shared_data, folder, **kw):
    root = shared_data / "samples" / folder
    return CocoKeypointDataset(root / f"test_{folder}.json", root, schema=COCO_FILES[folder], **kw)


def _expected_annotations(shared_data, folder):
    data = json.loads((shared_data / "samples" / folder / f"test_{folder}.json").read_text())
    return data, [a for a in data["annotations"] if not a.get("iscrowd", 0) and max(a["keypoints"][2::3]) > 0]


@pytest.mark.parametrize("folder", list(COCO_FILES))
def test_coco_format_samples_load(shared_data, folder):
    ds = _coco(shared_data, folder)
    data, anns = _expected_annotations(shared_data, folder)
    images = {im["id"]: im for im in data["images"]}
    assert len(ds) == len(anns) > 0
    assert ds.schema.name == COCO_FILES[folder] and ds.layout is ds.schema
    for inst, ann in zip(ds.instances, anns, strict=True):
        assert inst.ann_id == ann["id"] and inst.image_id == ann["image_id"]
        kps = np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        lab = kps[:, 2] > 0
        np.testing.assert_array_equal(inst.keypoints[lab], kps[lab])
        assert np.all(inst.keypoints[~lab] == 0)
        img = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]  # mmpose 1.x clipping to the image
        x1, y1 = np.clip(x, 0, img["width"] - 1), np.clip(y, 0, img["height"] - 1)
        x2, y2 = np.clip(x + w, 0, img["width"] - 1), np.clip(y + h, 0, img["height"] - 1)
        np.testing.assert_allclose(inst.bbox, [x1, y1, x2 - x1, y2 - y1])
        c, s = box_to_center_scale(inst.bbox, 192 / 256)
        np.testing.assert_allclose(inst.center, c)
        np.testing.assert_allclose(inst.scale, s)
        assert inst.area == pytest.approx(ann.get("area", (x2 - x1) * (y2 - y1)))
        assert inst.image_file.endswith(img["file_name"])


@pytest.mark.parametrize("folder", list(COCO_FILES))
def test_items_round_trip_to_the_json(shared_data, folder):
    """Crop keypoints mapped back with the item's own meta land on the annotation (the eval path)."""
    ds = _coco(shared_data, folder)
    for i in range(len(ds)):
        item = ds[i]
        meta = item["meta"]
        k = ds.schema.num_keypoints
        assert item["image"].shape == (3, 256, 192) and item["image"].dtype == torch.float32
        assert item["keypoints"].shape == (k, 2) and item["labelled"].shape == (k,)
        lab = item["labelled"].numpy() > 0
        np.testing.assert_array_equal(lab, meta["keypoints_image"][:, 2] > 0)
        back = crop_to_image(item["keypoints"].double().numpy(), meta["center"], meta["scale"], ds.input_size)
        assert np.abs(back[lab] - meta["keypoints_image"][lab, :2]).max() < 1e-3
        assert meta["rotation"] == 0 and not meta["flip"] and meta["score"] == 1.0
        assert item["dataset_id"] == 0


def test_image_tensor_is_the_warped_normalised_image(shared_data):
    import cv2

    from hpefast.data.transforms import IMAGENET_MEAN, IMAGENET_STD, get_udp_warp_matrix

    ds = _coco(shared_data, "coco")
    item = ds[0]
    meta = item["meta"]
    img = cv2.imread(meta["image_file"])
    crop = cv2.warpAffine(
        img,
        get_udp_warp_matrix(meta["center"], meta["scale"], 0, (192, 256)),
        (192, 256),
        flags=cv2.INTER_LINEAR,
    )
    ref = (crop[..., ::-1] / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(item["image"].numpy(), ref.transpose(2, 0, 1), atol=1e-5)


def test_detection_boxes(shared_data):
    root = shared_data / "samples" / "coco"
    dets = json.loads((root / "test_coco_det_AP_H_56.json").read_text())
    ds = CocoKeypointDataset(root / "test_coco.json", root, boxes=root / "test_coco_det_AP_H_56.json")
    assert len(ds) == len(dets)
    ds5 = CocoKeypointDataset(
        root / "test_coco.json", root, boxes=root / "test_coco_det_AP_H_56.json", score_threshold=0.5
    )
    assert len(ds5) == sum(d["score"] >= 0.5 for d in dets) < len(dets)
    item = ds5[3]
    det = [d for d in dets if d["score"] >= 0.5][3]
    assert item["meta"]["ann_id"] == -1 and item["meta"]["score"] == pytest.approx(det["score"])
    assert item["labelled"].sum() == 0
    c, s = box_to_center_scale(det["bbox"], 0.75)
    np.testing.assert_allclose(item["meta"]["center"], c)
    np.testing.assert_allclose(item["meta"]["scale"], s)
    cp = shared_data / "samples" / "crowdpose"
    ds = CocoKeypointDataset(
        cp / "test_crowdpose.json", cp, schema="crowdpose", boxes=cp / "test_crowdpose_det_AP_40.json"
    )
    assert len(ds) == len(json.loads((cp / "test_crowdpose_det_AP_40.json").read_text()))


def test_mpii_sample(shared_data):
    root = shared_data / "samples" / "mpii"
    entries = json.loads((root / "test_mpii.json").read_text())
    ds = MpiiDataset(root / "test_mpii.json", root)
    assert len(ds) == len(entries) == 5 and ds.schema.name == "mpii"
    for i, (inst, e) in enumerate(zip(ds.instances, entries, strict=True)):
        assert inst.ann_id == i and inst.image_id == int(e["image"].split(".")[0])
        s = e["scale"]
        # HRNet/mmpose: centre + 15 * s in y, then 1-based -> 0-based; box side 200 * s * 1.25
        np.testing.assert_allclose(inst.center, [e["center"][0] - 1, e["center"][1] + 15 * s - 1])
        assert max(inst.scale) == pytest.approx(200 * s * 1.25 / 0.75)  # widened to 3:4 -> height grows
        assert inst.scale[0] / inst.scale[1] == pytest.approx(0.75)
        vis = np.array(e["joints_vis"]) > 0
        np.testing.assert_allclose(inst.keypoints[vis, :2], np.array(e["joints"])[vis] - 1)
        item = ds[i]
        back = crop_to_image(
            item["keypoints"].double().numpy(), item["meta"]["center"], item["meta"]["scale"], ds.input_size
        )
        assert np.abs(back[vis] - inst.keypoints[vis, :2]).max() < 1e-3
        assert np.all(np.isnan(item["meta"]["headbox"]))  # the sample json carries no head boxes


def test_mpii_headbox_file(shared_data, tmp_path):
    root = shared_data / "samples" / "mpii"
    boxes = [[[10.0 * i, 20.0], [10.0 * i + 30, 60.0]] for i in range(5)]
    (tmp_path / "hb.json").write_text(json.dumps(boxes))
    ds = MpiiDataset(root / "test_mpii.json", root, headbox_file=tmp_path / "hb.json")
    np.testing.assert_array_equal(ds[2]["meta"]["headbox"], boxes[2])
    (tmp_path / "hb4.json").write_text(json.dumps(boxes[:4]))
    with pytest.raises(ValueError, match="4 head boxes, 5 entries"):
        MpiiDataset(root / "test_mpii.json", root, headbox_file=tmp_path / "hb4.json")


@pytest.mark.parametrize(("folder", "layout"), [("coco", "union21"), ("aic", "union23"), ("aic", "coco")])
def test_layout_mapping(shared_data, folder, layout):
    plain = _coco(shared_data, folder)
    mapped = _coco(shared_data, folder, layout=layout, dataset_id=3)
    idx = mapping_index(plain.schema, layout)
    assert mapped.layout.name == layout
    for i in range(len(plain)):
        a, b = plain[i], mapped[i]
        assert b["keypoints"].shape == (get_schema(layout).num_keypoints, 2) and b["dataset_id"] == 3
        for d, s in enumerate(idx):
            if s < 0:
                assert b["labelled"][d] == 0 and torch.all(b["keypoints"][d] == 0)
            else:
                assert b["labelled"][d] == a["labelled"][s]
                torch.testing.assert_close(b["keypoints"][d], a["keypoints"][s])


def test_mpii_into_union21(shared_data):
    root = shared_data / "samples" / "mpii"
    item = MpiiDataset(root / "test_mpii.json", root, layout="union21")[0]
    assert item["labelled"][:5].sum() == 0  # MPII has no face joints
    assert item["labelled"][5:].sum() == 16  # every MPII joint has a union21 slot


def test_train_items_are_seeded_and_augmented(shared_data):
    ds = _coco(shared_data, "coco", train=True)
    torch.manual_seed(1)
    a = [ds[0]["meta"] for _ in range(8)]
    torch.manual_seed(1)
    b = [ds[0]["meta"] for _ in range(8)]
    assert [m["rotation"] for m in a] == [m["rotation"] for m in b]
    assert len({round(m["scale"][0], 6) for m in a}) > 1 and any(m["flip"] for m in a)
    # the geometry still holds for un-flipped training items
    torch.manual_seed(2)
    for _ in range(10):
        item = ds[1]
        m = item["meta"]
        lab = item["labelled"].numpy() > 0
        crop = image_to_crop(m["keypoints_image"][:, :2], m["center"], m["scale"], (192, 256), m["rotation"])
        if m["flip"]:
            crop[:, 0] = 191 - crop[:, 0]
            crop = crop[list(ds.schema.flip_index)]
        np.testing.assert_allclose(item["keypoints"].numpy()[lab], crop[lab], atol=1e-3)


def test_collate_and_dataloader(shared_data):
    ds = _coco(shared_data, "coco", layout="union21", dataset_id=2)
    loader = torch.utils.data.DataLoader(ds, batch_size=5, collate_fn=collate, num_workers=0)
    batch = next(iter(loader))
    assert batch["image"].shape == (5, 3, 256, 192) and batch["image"].dtype == torch.float32
    assert batch["keypoints"].shape == (5, 21, 2) and batch["labelled"].shape == (5, 21)
    assert batch["dataset_id"].dtype == torch.int64 and batch["dataset_id"].tolist() == [2] * 5
    assert len(batch["meta"]) == 5 and batch["meta"][0]["ann_id"] == ds.instances[0].ann_id
    torch.testing.assert_close(batch["keypoints"][1], ds[1]["keypoints"])
    mpii = MpiiDataset(shared_data / "samples" / "mpii" / "test_mpii.json", shared_data / "samples" / "mpii")
    with pytest.raises(ValueError, match="different keypoint shapes"):
        collate([ds[0], mpii[0]])
    with pytest.raises(ValueError, match="empty"):
        collate([])


def test_input_size(shared_data):
    ds = _coco(shared_data, "coco", input_size=(96, 128))
    item = ds[0]
    assert item["image"].shape == (3, 128, 96) and ds.input_size == (96, 128)
    assert item["meta"]["scale"][0] / item["meta"]["scale"][1] == pytest.approx(96 / 128)


def test_category_filter(shared_data):
    ds = _coco(shared_data, "ap10k")
    cats = [inst.extra["category_id"] for inst in ds.instances]
    assert sorted(cats) == [1, 26]  # an antelope and a jaguar
    only = _coco(shared_data, "ap10k", category_ids=[26])
    assert len(only) == 1 and only.instances[0].extra["category_id"] == 26


def test_load_headboxes_from_official_mat(shared_data):
    """``headboxes_src`` [2, 2, N] of the official MPII validation .mat -> [N, 2, 2] ((x1, y1), (x2, y2))."""
    from scipy.io import loadmat

    from hpefast.data import load_headboxes

    path = shared_data / "eval" / "mpii" / "detections_our_format.mat"
    boxes = load_headboxes(path)
    raw = loadmat(str(path))["headboxes_src"]
    assert boxes.shape == (2958, 2, 2)
    np.testing.assert_array_equal(boxes[17], raw[:, :, 17])
    size = boxes[:, 1] - boxes[:, 0]
    assert np.all(size > 0)  # top-left then bottom-right
