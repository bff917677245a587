"""Reading COCO json at the speed of the disk.

- :func:`read_json`: a json file with orjson when it is installed (an optional dependency, several times
  faster than the standard library), the standard library otherwise. Files orjson refuses but Python's
  ``json`` (which pycocotools uses) accepts, such as ``NaN`` literals or integers beyond 64 bits, are read
  by the standard library, so both give the same objects.
- :func:`read_results_columns`: a keypoint results file straight into numpy columns by the compiled
  reader (csrc/cocojson), with no Python object per number; None when the file is not in the plain
  results shape (another key, string or float ids, ...) or the compiled reader is absent, and the
  caller then reads it with :func:`read_json`.
- :func:`read_ground_truth_columns`: the same for a ground-truth file (annotations' evaluation fields,
  image ids, where the categories are); the json objects are parsed only if someone asks for them.
"""

from __future__ import annotations

import json
import mmap
import os
from pathlib import Path
from typing import Any

import numpy as np

try:  # optional dependency
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised when orjson is not installed
    _orjson = None


def read_bytes(path: str | os.PathLike, what: str) -> bytes:
    """The bytes of a file, or FileNotFoundError naming ``what`` and the path."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what}: no such file {str(p)!r}")
    return p.read_bytes()


def parse_json(data: bytes, path: str | os.PathLike, what: str) -> Any:
    """Parse json bytes as Python's ``json`` does (orjson when it agrees), ValueError naming the path."""
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass  # NaN / Infinity literals, integers beyond 64 bits, or a real error: the stdlib decides
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what}: {str(path)!r} is not UTF-8 text ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: {str(path)!r} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{what}: {str(path)!r} nests lists / objects too deeply to read") from None


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Load a json file (orjson if installed, else the standard library) with errors naming the path."""
    return parse_json(read_bytes(path, what), path, what)


def read_results_file(path: str | os.PathLike, what: str = "loadRes") -> dict[str, np.ndarray] | None:
    """:func:`read_results_columns` of a file, read through a memory map (no copy of the text)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what}: no such file {str(p)!r}")
    with open(p, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return read_results_columns(b"")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return read_results_columns(view)


def read_results_columns(data: bytes | mmap.mmap) -> dict[str, np.ndarray] | None:
    """Columns of a keypoint results json, or None when the general json path must read it.

    Returns:
        {"image_id": [N] int64, "category_id": [N] int64, "score": [N] float64, "keypoints": [N, L]
        float64, "bbox": [N, 4] float64 (NaN where a result has none), "has_bbox": [N] uint8, "extent":
        [N, 4] float64 x0, y0, x1, y1 of the keypoints (min / max of [0::3] and [1::3])}; the numbers are
        those Python's ``json`` gives (correctly rounded doubles).
    """
    try:
        from hpefast._ext import lib

        parse = lib().cocojson_results
    except (ImportError, AttributeError):  # no compiled core, or one built before the reader existed
        return None
    out = parse(data)
    if out["status"] != 0:
        return None
    return {k: v for k, v in out.items() if isinstance(v, np.ndarray)}


def read_ground_truth_columns(data: bytes) -> dict[str, Any] | None:
    """Columns of a COCO ground-truth json, or None when the general json path must read it.

    Returns:
        {"id", "image_id", "category_id": [N] int64, "keypoints": [N, L] float64, "area": [N],
        "bbox": [N, 4], "num_keypoints": [N] float64 (NaN where absent or null), "iscrowd": [N] uint8,
        "image_ids": [I] int64 (the images' ids in file order), "categories": (begin, end) byte range of
        the categories list or None}. Annotations' other fields (segmentation, ...) are only checked.
    """
    try:
        from hpefast._ext import lib

        parse = lib().cocojson_ground_truth
    except (ImportError, AttributeError):
        return None
    out = parse(data)
    if out["status"] != 0:
        return None
    return out
