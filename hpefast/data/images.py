"""Reading dataset images safely: truncated or corrupt files and decompression bombs are refused with the
path instead of being decoded into gray rows or exhausting memory.

OpenCV decodes a truncated JPEG or PNG without an error (the missing rows come out gray) and allocates
whatever size a header claims. :func:`probe_image` reads only the header and the last bytes of a file:
the size (PNG, JPEG, BMP headers) is checked against a pixel limit before any decoding, and the end-of-image
marker (JPEG ``FFD9``, PNG ``IEND``) must be there. :func:`read_image` then decodes the checked bytes.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

__all__ = ["DEFAULT_MAX_IMAGE_PIXELS", "ImageProblem", "image_size", "probe_image", "read_image"]

# 2**28 pixels (16384 x 16384): far above any photo dataset, far below what would exhaust memory (1 GB as
# 8-bit BGR). Configurable per dataset (``max_image_pixels``); None turns the check off.
DEFAULT_MAX_IMAGE_PIXELS = 2**28

_PNG = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class ImageProblem(Exception):
    """Why an image file cannot be used (the caller adds path, image id and annotation ids)."""


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", head[i + 2 : i + 4])
        if marker in _JPEG_SOF:
            h, w = struct.unpack(">HH", head[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a PNG, JPEG or BMP file; None when not found there."""
    if head.startswith(_PNG) and len(head) >= 24 and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    if head.startswith(b"BM") and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return abs(w), abs(h)
    return None


def probe_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> None:
    """Raise :class:`ImageProblem` when ``path`` is empty, truncated (PNG / JPEG without their end marker)
    or larger than ``max_pixels`` by its header. Reads at most ~128 KiB."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise ImageProblem("empty file")
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        f.seek(max(0, size - 4096))
        tail = f.read()
    _check_bytes(head, tail, max_pixels)


def _check_bytes(head: bytes, tail: bytes, max_pixels: int | None) -> None:
    wh = image_size(head)
    if wh is not None:
        w, h = wh
        if w <= 0 or h <= 0:
            raise ImageProblem(f"header gives an empty image ({w}x{h})")
        if max_pixels is not None and w * h > max_pixels:
            raise ImageProblem(
                f"{w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} (max_image_pixels; a "
                "decompression bomb or a wrong file)"
            )
    if head.startswith(_PNG) and not tail.rstrip(b"\x00").endswith(_PNG_END):
        raise ImageProblem("truncated PNG (no IEND chunk at the end)")
    if head.startswith(b"\xff\xd8") and b"\xff\xd9" not in tail[-1024:]:
        raise ImageProblem("truncated JPEG (no end-of-image marker)")


def _check_png_chunks(raw: bytes) -> None:
    """Walk a PNG's chunks and check each CRC (libpng would print its own error and return nothing)."""
    at = len(_PNG)
    while at + 12 <= len(raw):
        (length,) = struct.unpack(">I", raw[at : at + 4])
        kind = raw[at + 4 : at + 8]
        end = at + 8 + length
        if end + 4 > len(raw):
            raise ImageProblem(f"truncated PNG (chunk {kind.decode('latin-1')!r} runs past the end)")
        (crc,) = struct.unpack(">I", raw[end : end + 4])
        if zlib.crc32(raw[at + 4 : end]) != crc:
            raise ImageProblem(f"corrupt PNG (CRC error in chunk {kind.decode('latin-1')!r})")
        if kind == b"IEND":
            return
        at = end + 4


def read_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode ``path`` as 8-bit BGR [H, W, 3] after the checks of :func:`probe_image`; raise
    :class:`ImageProblem` for anything OpenCV cannot decode."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ImageProblem(f"cannot read the file ({exc.strerror or exc})") from None
    if data.size == 0:
        raise ImageProblem("empty file")
    raw = data.tobytes()
    _check_bytes(raw[: 1 << 16], raw[-4096:], max_pixels)
    if raw.startswith(_PNG):
        _check_png_chunks(raw)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageProblem("not a decodable image (corrupt data or an unsupported format)")
    if max_pixels is not None and image.shape[0] * image.shape[1] > max_pixels:
        raise ImageProblem(f"{image.shape[1]}x{image.shape[0]} pixels exceeds the limit of {max_pixels}")
    return image
