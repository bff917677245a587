"""Issue 11, item 6: bad data names itself.

Truncated and corrupt images are found (not trained on as gray rows); errors name the annotation file,
the image / annotation id and the field; non-UTF-8 and non-JSON files name their path; ``strict=False``
skips bad annotations and images with ONE summary warning, ``strict=True`` stops at the first; a worker's
error reaches the command line as one line; images over a configurable pixel limit are refused before
decoding."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from hpefast.data import CocoKeypointDataset
from hpefast.errors import AnnotationError


@pytest.fixture
def coco_copy(rel_coco, tmp_path) -> tuple[Path, Path, dict]:
    """A private copy of the tiny COCO set: (annotation file, image folder, parsed json)."""
    images = tmp_path / "images"
    shutil.copytree(rel_coco.parent / "images", images)
    data = json.loads(rel_coco.read_text())
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(data))
    return ann, images, data


def _annotated_images(data: dict) -> list[dict]:
    used = {a["image_id"] for a in data["annotations"] if a.get("num_keypoints", 1)}
    return [im for im in data["images"] if im["id"] in used]


def _truncate(path: Path) -> None:
    b = path.read_bytes()
    path.write_bytes(b[: len(b) // 2])


def test_truncated_image_is_refused_naming_file_image_and_field(coco_copy):
    ann, images, data = coco_copy
    first = _annotated_images(data)[0]
    img = images / first["file_name"]
    # what cv2 does with it: decodes without an error, the missing rows gray (this is what got trained on)
    _truncate(img)
    assert cv2.imread(str(img)) is not None
    with pytest.raises(AnnotationError) as info:
        CocoKeypointDataset(ann, images)
    msg = str(info.value)
    assert str(ann) in msg and f"image id {first['id']}" in msg and "'file_name'" in msg
    assert first["file_name"] in msg and "truncated" in msg


def test_strict_false_skips_with_one_summary_warning(coco_copy):
    ann, images, data = coco_copy
    bad_images = _annotated_images(data)[:2]
    for im in bad_images:
        _truncate(images / im["file_name"])
    bad_ann = data["annotations"][-1]
    bad_ann["bbox"] = "wide"
    ann.write_text(json.dumps(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = CocoKeypointDataset(ann, images, strict=False)
    ours = [w for w in caught if "strict=False" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    text = str(ours[0].message)
    assert "1 annotation(s) and 2 image(s)" in text
    assert f"annotation id {bad_ann['id']}" in text and "'bbox'" in text
    assert all(f"image id {im['id']}" in text for im in bad_images)
    assert {inst.image_id for inst in ds.instances}.isdisjoint({im["id"] for im in bad_images})
    assert len(ds) > 0 and np.isfinite(ds[0]["image"].numpy()).all()
    # strict (the default) stops at the first problem
    with pytest.raises(AnnotationError):
        CocoKeypointDataset(ann, images, strict=True)


def test_non_utf8_and_non_json_files_name_their_path(tmp_path, coco_copy):
    _, images, _ = coco_copy
    binary = tmp_path / "ann_latin1.json"
    binary.write_bytes('{"images": [{"file_name": "caf\u00e9.jpg"}]}'.encode("latin-1"))
    with pytest.raises(AnnotationError, match=rf"{binary}: not UTF-8 text"):
        CocoKeypointDataset(binary, images)
    text = tmp_path / "notes.json"
    text.write_text("images: none\n")
    with pytest.raises(AnnotationError, match=rf"{text}: malformed json"):
        CocoKeypointDataset(text, images)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression bomb's header), complete chunk structure."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def test_pixel_limit_is_checked_before_decoding_and_configurable(coco_copy):
    ann, images, data = coco_copy
    first = _annotated_images(data)[0]
    (images / first["file_name"]).write_bytes(_png_header_only(100_000, 100_000))
    with pytest.raises(AnnotationError, match=r"100000x100000 = 10000000000 pixels exceeds the limit"):
        CocoKeypointDataset(ann, images)
    shutil.copytree(images, images.parent / "ok")
    (images.parent / "ok" / first["file_name"]).unlink()
    cv2.imwrite(str(images.parent / "ok" / first["file_name"]), np.zeros((120, 160, 3), np.uint8))
    assert len(CocoKeypointDataset(ann, images.parent / "ok")) > 0
    with pytest.raises(AnnotationError, match=r"160x120 = 19200 pixels exceeds the limit of 1000"):
        CocoKeypointDataset(ann, images.parent / "ok", max_image_pixels=1000)
    assert len(CocoKeypointDataset(ann, images.parent / "ok", max_image_pixels=None)) > 0
    with pytest.raises(ValueError, match="max_image_pixels"):
        CocoKeypointDataset(ann, images.parent / "ok", max_image_pixels=0)


def _damage_png_data(path: Path) -> None:
    """Flip bytes inside the IDAT chunk: the header and IEND stay, decoding fails."""
    ok, buf = cv2.imencode(".png", (np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8))
    data = bytearray(buf.tobytes())
    at = data.find(b"IDAT") + 40
    for i in range(at, at + 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.slow
def test_worker_error_reaches_the_command_line_as_one_line(coco_copy, tmp_path):
    ann, images, data = coco_copy
    first = _annotated_images(data)[0]
    png = first["file_name"].rsplit(".", 1)[0] + ".png"
    _damage_png_data(images / png)
    for im in data["images"]:
        if im["id"] == first["id"]:
            im["file_name"] = png
    ann.write_text(json.dumps(data))
    ds = {
        "name": "coco",
        "format": "coco",
        "schema": "coco",
        "train_ann": str(ann),
        "train_images": str(images),
        "metric": "coco_ap",
    }
    cfg = {
        "base": "tiny-synthetic",
        "output_dir": str(tmp_path / "run"),
        "progress": False,
        "tensorboard": False,
        "model": {"image_size": [48, 64], "layout": "coco"},
        "data": {"datasets": [ds], "batch_size": 2, "workers": 1},
        "schedule": {"epochs": 1, "milestones": []},
    }
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(json.dumps(cfg))  # json is yaml
    proc = subprocess.run(
        [sys.executable, "-m", "hpefast", "train", str(cfg_file)], capture_output=True, text=True, timeout=300
    )
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert png in err[0] and f"image id {first['id']}" in err[0] and "DataLoader worker" in err[0]


def test_annotation_error_names_file_annotation_image_and_field(coco_copy):
    ann, images, data = coco_copy
    bad = data["annotations"][0]
    bad["keypoints"] = bad["keypoints"][:-3]  # 16 joints for a 17-joint schema
    ann.write_text(json.dumps(data))
    with pytest.raises(AnnotationError) as info:
        CocoKeypointDataset(ann, images)
    msg = str(info.value)
    assert msg.startswith(f"{ann}: annotation id {bad['id']} (image id {bad['image_id']}): 'keypoints'"), msg


def test_config_strict_option_reaches_the_dataset(coco_copy):
    """``data.datasets[*].strict`` in a training config: false skips the truncated image with the summary
    warning, true (the default) stops at it."""
    from hpefast.engine.builders import build_datasets
    from hpefast.engine.config import load_config

    ann, images, data = coco_copy
    _truncate(images / _annotated_images(data)[0]["file_name"])

    def cfg(strict: bool):
        ds = {"name": "coco", "format": "coco", "schema": "coco", "train_ann": str(ann)}
        ds.update(train_images=str(images), metric="coco_ap", strict=strict)
        return load_config(
            {"base": "tiny-synthetic", "model": {"layout": "coco"}, "data": {"datasets": [ds]}}, []
        )

    with pytest.warns(UserWarning, match=r"skipped 1 image\(s\) \(strict=False\)"):
        (entry,) = build_datasets(cfg(False), train=True, val=False)
    assert len(entry.train) > 0
    with pytest.raises(AnnotationError, match="truncated"):
        build_datasets(cfg(True), train=True, val=False)
