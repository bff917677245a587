"""Bad input: clear errors naming the file and the annotation id, or (strict=False) skipped and counted in
one warning; never a crash or a silent wrong item."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from hpefast.data import AnnotationError, CocoKeypointDataset, MpiiDataset
from hpefast.data.synthetic import write_dataset


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    path = write_dataset(root, "coco", num_images=3, seed=0, crowd_prob=0.0, image_size=(96, 96))
    return path, json.loads(path.read_text())


def _write(tmp_path, data, name="ann.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _first_person(data):
    return next(a for a in data["annotations"] if a["num_keypoints"] > 0)


def _load(path, small_set, **kw):
    return CocoKeypointDataset(path, small_set[0].parent / "images", **kw)


def test_valid_file_loads(small_set):
    ds = _load(small_set[0], small_set)
    assert len(ds) > 0 and ds.skipped == []


def test_malformed_json(tmp_path, small_set):
    path = tmp_path / "broken.json"
    path.write_text('{"images": [')
    with pytest.raises(AnnotationError, match=r"broken\.json: malformed json"):
        _load(path, small_set)
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        _load(tmp_path / "nothere.json", small_set)
    with pytest.raises(AnnotationError, match="needs a list 'images'"):
        _load(_write(tmp_path, {"annotations": []}), small_set)
    with pytest.raises(AnnotationError, match="needs a list 'annotations'"):
        _load(_write(tmp_path, {"images": []}), small_set)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda a: a.__setitem__("keypoints", a["keypoints"][:-3]), r"must hold 51 finite numbers .* got 48"),
        (lambda a: a.__setitem__("keypoints", [*a["keypoints"][:-1], "x"]), "finite numbers"),
        (lambda a: a.__setitem__("bbox", [1, 2, 0, 5]), r"non-positive box width/height"),
        (lambda a: a.__setitem__("bbox", [1, 2, 10, -5]), r"non-positive box width/height"),
        (lambda a: a.__setitem__("bbox", [1, 2, 3]), "'bbox' must be 4 finite numbers"),
        (lambda a: a.__setitem__("bbox", [500, 500, 10, 10]), "lies outside the 96x96 image"),
        (lambda a: a.pop("bbox"), r"missing key\(s\) \['bbox'\]"),
        (lambda a: a.__setitem__("image_id", 99999), "image_id 99999 is not in 'images'"),
        (lambda a: a["keypoints"].__setitem__(2, -1), "negative keypoint visibility"),
    ],
)
def test_bad_annotation_strict_and_lenient(tmp_path, small_set, mutate, match):
    data = copy.deepcopy(small_set[1])
    bad = _first_person(data)
    mutate(bad)
    path = _write(tmp_path, data)
    with pytest.raises(AnnotationError, match=match) as info:
        _load(path, small_set)
    assert str(path) in str(info.value) and f"annotation id {bad['id']}" in str(info.value)
    with pytest.warns(UserWarning, match=r"skipped 1 annotation\(s\)"):
        ds = _load(path, small_set, strict=False)
    good = _load(small_set[0], small_set)
    assert len(ds) == len(good) - 1 and ds.skipped[0][0] == bad["id"]
    assert bad["id"] not in [inst.ann_id for inst in ds.instances]


def test_category_keypoint_count_mismatch(tmp_path, small_set):
    data = copy.deepcopy(small_set[1])
    data["categories"][0]["keypoints"] = data["categories"][0]["keypoints"][:14]
    with pytest.raises(AnnotationError, match="has 14 keypoints, schema 'coco' has 17"):
        _load(_write(tmp_path, data), small_set)


def test_missing_image(tmp_path, small_set):
    data = copy.deepcopy(small_set[1])
    data["images"][0]["file_name"] = "missing.jpg"
    ids = [
        a["id"]
        for a in data["annotations"]
        if a["image_id"] == data["images"][0]["id"] and a["num_keypoints"]
    ]
    path = _write(tmp_path, data)
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg") as info:
        _load(path, small_set)
    assert f"annotation id {ids[0]}" in str(info.value) and str(path) in str(info.value)
    with pytest.warns(UserWarning, match="skipped 1 image"):
        ds = _load(path, small_set, strict=False)
    assert len(ds) == len(_load(small_set[0], small_set)) - len(ids)


def test_corrupt_image(tmp_path, small_set):
    images = tmp_path / "images"
    images.mkdir()
    src = small_set[0].parent / "images"
    data = copy.deepcopy(small_set[1])
    for im in data["images"]:
        (images / im["file_name"]).write_bytes((src / im["file_name"]).read_bytes())
    first = data["images"][0]
    (images / first["file_name"]).write_bytes(b"\xff\xd8 not really a jpeg")
    path = _write(tmp_path, data)
    # found when the dataset is built (header and end marker), not decoded into gray rows later
    with pytest.raises(AnnotationError, match=r"truncated JPEG") as info:
        CocoKeypointDataset(path, images)
    assert first["file_name"] in str(info.value) and f"image id {first['id']}" in str(info.value)
    assert str(path) in str(info.value)
    with pytest.warns(UserWarning, match="skipped 1 image"):
        lenient = CocoKeypointDataset(path, images, strict=False)
    assert len(lenient) > 0 and all(inst.image_id != first["id"] for inst in lenient.instances)
    assert np.isfinite(lenient[0]["image"].numpy()).all()


def test_bad_detections(tmp_path, small_set):
    dets = [
        {"image_id": 1, "bbox": [1, 1, 10, 10], "score": 0.9},
        {"image_id": 1, "bbox": [1, 1, 0, 10], "score": 0.9},
    ]
    det_path = _write(tmp_path, dets, "dets.json")
    with pytest.raises(AnnotationError, match=r"dets\.json: annotation id 1: bad detection box"):
        _load(small_set[0], small_set, boxes=det_path)
    with pytest.warns(UserWarning, match="skipped 1"):
        ds = _load(small_set[0], small_set, boxes=det_path, strict=False)
    assert len(ds) == 1
    with pytest.raises(AnnotationError, match="must be a json list"):
        _load(small_set[0], small_set, boxes=_write(tmp_path, {"a": 1}, "d2.json"))


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda e: e.__setitem__("scale", 0), "non-positive or non-finite 'scale'"),
        (lambda e: e.__setitem__("joints", e["joints"][:15]), r"'joints' must be \[16, 2\]"),
        (lambda e: e.pop("center"), r"missing key\(s\) \['center'\]"),
        (lambda e: e.__setitem__("headbox", [1, 2, 3]), "'headbox' must be"),
    ],
)
def test_bad_mpii(tmp_path, shared_data, mutate, match):
    root = shared_data / "samples" / "mpii"
    entries = json.loads((root / "test_mpii.json").read_text())
    mutate(entries[2])
    path = _write(tmp_path, entries)
    with pytest.raises(AnnotationError, match=match) as info:
        MpiiDataset(path, root)
    assert "annotation id 2" in str(info.value) and str(path) in str(info.value)
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(MpiiDataset(path, root, strict=False)) == 4
    with pytest.raises(AnnotationError, match="must be a list"):
        MpiiDataset(_write(tmp_path, {"a": 1}, "m.json"), root)
