"""The synthetic dataset writer: real formats (pycocotools / the loaders read them), determinism, and
annotations that agree with the pixels (each visible joint sits on a disc of its joint type's colour)."""

from __future__ import annotations

import contextlib
import io
import json

import cv2
import numpy as np
import pytest

from hpefast.data import CocoKeypointDataset, MpiiDataset, crop_to_image
from hpefast.data.synthetic import _MARKER, _TYPE_OF, write_dataset
from hpefast.keypoints import get_schema


@pytest.fixture(scope="module")
def coco_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn_coco")
    return write_dataset(root, "coco", num_images=40, seed=3)


@pytest.fixture(scope="module")
def mpii_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn_mpii")
    return write_dataset(root, "mpii", num_images=12, seed=4)


def _quiet(fn, *args, **kw):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kw)


def test_pycocotools_scores_ground_truth_at_one(coco_set):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = _quiet(COCO, str(coco_set))
    anns = [a for a in gt.dataset["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0} for a in anns
    ]
    dt = _quiet(gt.loadRes, results)
    ev = COCOeval(gt, dt, "keypoints")
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    _quiet(ev.summarize)
    assert all(v == 1.0 for v in ev.stats if v != -1) and ev.stats[0] == 1.0
    # a perturbed copy must score lower: the file is not trivially 1.0
    shifted = [
        dict(r, keypoints=[v + 4.0 if i % 3 == 0 else v for i, v in enumerate(r["keypoints"])])
        for r in results
    ]
    ev2 = COCOeval(gt, _quiet(gt.loadRes, shifted), "keypoints")
    _quiet(ev2.evaluate)
    _quiet(ev2.accumulate)
    _quiet(ev2.summarize)
    assert ev2.stats[0] < 0.95


def test_coco_file_contents(coco_set):
    data = json.loads(coco_set.read_text())
    schema = get_schema("coco")
    cat = data["categories"][0]
    assert cat["keypoints"] == list(schema.names) and len(cat["skeleton"]) == len(schema.skeleton)
    assert min(min(link) for link in cat["skeleton"]) == 1  # 1-based like COCO
    images = {im["id"]: im for im in data["images"]}
    assert len(images) == 40 and len({a["id"] for a in data["annotations"]}) == len(data["annotations"])
    vis_counts = np.zeros(3, int)
    crowd = 0
    from pycocotools import mask as mask_utils

    for a in data["annotations"]:
        for key in ("id", "image_id", "category_id", "bbox", "area", "iscrowd", "num_keypoints", "keypoints"):
            assert key in a
        im = images[a["image_id"]]
        x, y, w, h = a["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= im["width"] and y + h <= im["height"]
        kps = np.array(a["keypoints"], dtype=float).reshape(17, 3)
        if a["iscrowd"]:
            crowd += 1
            assert a["num_keypoints"] == 0 and np.all(kps == 0)
            rle = mask_utils.frPyObjects(a["segmentation"], im["height"], im["width"])
            assert mask_utils.area(rle) == a["area"]
            continue
        assert a["num_keypoints"] == int(np.sum(kps[:, 2] > 0))
        assert np.all(kps[kps[:, 2] == 0, :2] == 0)
        lab = kps[:, 2] > 0
        assert np.all(kps[lab, 0] >= 0) and np.all(kps[lab, 0] <= im["width"] - 1)
        assert np.all(kps[lab, 0] >= x - 1) and np.all(kps[lab, 0] <= x + w + 1)  # joints inside the box
        assert np.all(kps[lab, 1] >= y - 1) and np.all(kps[lab, 1] <= y + h + 1)
        vis_counts += np.bincount(kps[:, 2].astype(int), minlength=3)
        polys = mask_utils.frPyObjects(a["segmentation"], im["height"], im["width"])
        assert abs(mask_utils.area(mask_utils.merge(polys)) - a["area"]) < 0.25 * a["area"] + 20
    assert crowd >= 1, "expected at least one crowd region in 40 images"
    assert vis_counts[0] > 0 and vis_counts[1] > 0 and vis_counts[2] > 10 * vis_counts[1]
    areas = np.array([a["area"] for a in data["annotations"] if not a["iscrowd"]])
    assert np.any(areas < 32**2) and np.any(areas > 64**2)  # small and bigger people


def _nearest_marker(pixel, kinds):
    return min(kinds, key=lambda t: np.abs(pixel - np.array(_MARKER[t])).sum())


def test_visible_joints_sit_on_their_markers(coco_set):
    """The pixel under a visible joint (v=2) is closest to the colour of that joint type's marker (all but a
    few anti-aliased edge cases, where an overlapping marker's outline reaches the centre pixel)."""
    data = json.loads(coco_set.read_text())
    files = {im["id"]: im["file_name"] for im in data["images"]}
    names = get_schema("coco").names
    kinds = sorted({_TYPE_OF[n] for n in names})
    checked, wrong = 0, []
    for a in data["annotations"]:
        if a["iscrowd"]:
            continue
        img = cv2.imread(str(coco_set.parent / "images" / files[a["image_id"]]))
        kps = np.array(a["keypoints"], dtype=float).reshape(17, 3)
        for k, (x, y, v) in enumerate(kps):
            if v != 2:
                continue
            pixel = img[int(round(y)), int(round(x))].astype(int)
            if _nearest_marker(pixel, kinds) != _TYPE_OF[names[k]]:
                wrong.append((a["id"], names[k], pixel.tolist()))
            checked += 1
    assert checked > 1000 and len(wrong) <= 0.005 * checked, wrong


def test_deterministic(tmp_path):
    a = write_dataset(tmp_path / "a", "coco", num_images=3, seed=7)
    b = write_dataset(tmp_path / "b", "coco", num_images=3, seed=7)
    c = write_dataset(tmp_path / "c", "coco", num_images=3, seed=8)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    for name in sorted(p.name for p in (tmp_path / "a" / "images").iterdir()):
        assert (tmp_path / "a" / "images" / name).read_bytes() == (
            tmp_path / "b" / "images" / name
        ).read_bytes()
    # image i does not depend on how many images are drawn
    d = write_dataset(tmp_path / "d", "coco", num_images=1, seed=7)
    first = json.loads(a.read_text())
    assert json.loads(d.read_text())["annotations"] == [x for x in first["annotations"] if x["image_id"] == 1]


def test_loader_reads_synthetic_coco(coco_set):
    ds = CocoKeypointDataset(coco_set, coco_set.parent / "images")
    data = json.loads(coco_set.read_text())
    assert len(ds) == sum(1 for a in data["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0)
    item = ds[0]
    lab = item["labelled"].numpy() > 0
    back = crop_to_image(
        item["keypoints"].double().numpy(), item["meta"]["center"], item["meta"]["scale"], ds.input_size
    )
    np.testing.assert_allclose(back[lab], item["meta"]["keypoints_image"][lab, :2], atol=1e-3)


def test_mpii_layout(mpii_set):
    entries = json.loads(mpii_set.read_text())
    assert isinstance(entries, list) and len(entries) > 12
    for e in entries:
        assert set(e) == {"image", "center", "scale", "joints", "joints_vis", "headbox"}
        assert len(e["joints"]) == len(e["joints_vis"]) == 16 and e["scale"] > 0
        (x1, y1), (x2, y2) = e["headbox"]
        assert x2 > x1 and y2 > y1
        head_top = np.array(e["joints"][9])
        if e["joints_vis"][9]:  # head_top lies on the head box's top edge
            assert x1 <= head_top[0] <= x2 and head_top[1] == pytest.approx(y1, abs=1e-2)
    ds = MpiiDataset(mpii_set, mpii_set.parent / "images")
    assert len(ds) == len(entries)
    np.testing.assert_allclose(ds[0]["meta"]["headbox"], entries[0]["headbox"])
    # 1-based joints: the loader's 0-based joints sit on the marker colours
    names = get_schema("mpii").names
    kinds = sorted({_TYPE_OF[n] for n in names})
    hits = total = 0
    for inst in ds.instances[:6]:
        img = cv2.imread(inst.image_file)
        for k, (x, y, v) in enumerate(inst.keypoints):
            if v > 0:  # MPII joints_vis does not tell occluded from visible: most, not all, are on markers
                pixel = img[int(round(y)), int(round(x))].astype(int)
                hits += _nearest_marker(pixel, kinds) == _TYPE_OF[names[k]]
                total += 1
    assert hits > 0.85 * total


def test_aic_layout(tmp_path):
    path = write_dataset(tmp_path, "aic", num_images=4, seed=0, crowd_prob=0.0)
    data = json.loads(path.read_text())
    assert data["categories"][0]["keypoints"] == list(get_schema("aic").names)
    ds = CocoKeypointDataset(path, tmp_path / "images", schema="aic", layout="union23")
    item = ds[0]
    assert item["keypoints"].shape == (23, 2) and item["labelled"][21:].sum() > 0


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        write_dataset(tmp_path, "crowdpose", num_images=1)
    with pytest.raises(ValueError, match="num_images"):
        write_dataset(tmp_path, "coco", num_images=0)
