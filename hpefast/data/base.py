"""The top-down dataset shared by every annotation format.

A dataset is a list of :class:`Instance` (one person / animal box with its keypoints in the dataset's own
schema, image pixels). ``ds[i]`` decodes the image, runs :class:`~hpefast.data.transforms.TopDownAugment`
(the UDP warp, plus random augmentation when ``train``), maps the keypoints into the output layout and
returns the item dict of the team contract (see :meth:`TopDownDataset.__getitem__`). Heatmap targets are
NOT made here: they are generated on the device from ``keypoints`` and ``labelled``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hpefast.data.images import DEFAULT_MAX_IMAGE_PIXELS, ImageProblem, probe_image, read_image
from hpefast.data.transforms import TopDownAugment, box_to_center_scale, to_tensor
from hpefast.errors import AnnotationError
from hpefast.keypoints import KeypointSchema, get_schema, map_keypoints

__all__ = ["Instance", "TopDownDataset", "AnnotationError", "load_json"]


@dataclass
class Instance:
    """One box to crop. Coordinates are image pixels (0-based, pixel centres at integers)."""

    image_file: str  # full path
    image_id: int
    ann_id: int  # -1 for detector boxes
    bbox: np.ndarray  # [4] x, y, w, h (after clipping to the image)
    center: np.ndarray  # [2] pixels
    scale: np.ndarray  # [2] pixels, padded and aspect-fixed
    keypoints: np.ndarray  # [Ks, 3] x, y, v in the dataset's schema (v = 0 unlabelled)
    score: float = 1.0
    area: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # format-specific meta (headbox, category_id, ...)


def load_json(path: str | os.PathLike) -> Any:
    """Read a json file with errors that name it (missing, not UTF-8 text, not json)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"{path}: malformed json ({exc})") from None
    except UnicodeDecodeError as exc:
        raise AnnotationError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); is it a "
            "json file?"
        ) from None


class _Issues:
    """Collects skipped annotations and images when ``strict=False`` (one summary warning at the end);
    raises at the first one when strict."""

    def __init__(self, source: str, strict: bool):
        self.source, self.strict = source, strict
        self.skipped: list[tuple[int, str]] = []
        self.skipped_images: list[tuple[Any, str]] = []  # (image id, message)

    def report(self, ann_id: int, message: str, exc_type: type[Exception] = AnnotationError) -> None:
        where = f"annotation id {ann_id}"
        if self.image_id is not None:
            where += f" (image id {self.image_id})"
        if self.strict:
            raise exc_type(f"{self.source}: {where}: {message}")
        self.skipped.append((ann_id, message))

    image_id: Any = None  # set on the view of :meth:`with_image`

    def with_image(self, image_id: Any) -> _Issues:
        """A view that adds ``image id`` to the messages of one annotation; same lists, same mode."""
        view = object.__new__(_Issues)
        view.__dict__.update(self.__dict__)  # shares skipped / skipped_images (the same list objects)
        view.image_id = image_id
        return view

    def report_image(self, image_id: Any, message: str, exc_type: type[Exception] = AnnotationError) -> None:
        """A bad image (missing, truncated, too large): the message names the file and its annotations."""
        text = f"{self.source}: image id {image_id}: {message}"
        if self.strict:
            raise exc_type(text)
        self.skipped_images.append((image_id, message))

    def finish(self) -> None:
        parts = []
        if self.skipped:
            parts.append(f"{len(self.skipped)} annotation(s)")
        if self.skipped_images:
            parts.append(f"{len(self.skipped_images)} image(s)")
        if parts:
            items = [f"annotation id {a}: {m}" for a, m in self.skipped[:3]]
            items += [f"image id {i}: {m}" for i, m in self.skipped_images[:3]]
            total = len(self.skipped) + len(self.skipped_images)
            more = f" (and {total - len(items)} more)" if total > len(items) else ""
            warnings.warn(
                f"{self.source}: skipped {' and '.join(parts)} (strict=False): {'; '.join(items)}{more}",
                stacklevel=3,
            )


class TopDownDataset(torch.utils.data.Dataset):
    """Base of the top-down datasets. Subclasses fill ``self.instances`` and call ``_finish_init``.

    Args:
        schema: the dataset's own keypoint schema (name or KeypointSchema).
        input_size: crop (W, H).
        train: random flip / half-body / scale / rotation.
        layout: schema to map keypoints into (e.g. "union21"); None = the dataset's schema.
        dataset_id: integer id returned with every item (selects the head in multi-head models).
        strict: raise at the first malformed annotation or missing / truncated / corrupt / oversized image;
            False skips them with one summary warning (counts and the first ids).
        padding: box padding (1.25).
        augment: a configured :class:`TopDownAugment` overriding the defaults (its input_size/train win).
        max_image_pixels: images whose header gives more pixels are refused before decoding (decompression
            bombs); None: no limit.
    """

    def __init__(
        self,
        schema: str | KeypointSchema,
        input_size: Sequence[int] = (192, 256),
        train: bool = False,
        layout: str | KeypointSchema | None = None,
        dataset_id: int = 0,
        strict: bool = True,
        padding: float = 1.25,
        augment: TopDownAugment | None = None,
        *,
        max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    ):
        self.schema = get_schema(schema)
        if max_image_pixels is not None and (
            isinstance(max_image_pixels, bool)
            or not isinstance(max_image_pixels, int)
            or max_image_pixels < 1
        ):
            raise ValueError(f"max_image_pixels must be a positive int or None, got {max_image_pixels!r}")
        self.max_image_pixels = max_image_pixels
        self.layout = self.schema if layout is None else get_schema(layout)
        if augment is None:
            augment = TopDownAugment(input_size=tuple(input_size), train=train)
        self.augment = augment
        self.input_size: tuple[int, int] = augment.input_size
        self.train = bool(augment.train)
        self.dataset_id = int(dataset_id)
        self.strict = bool(strict)
        self.padding = float(padding)
        self.instances: list[Instance] = []
        self.skipped: list[tuple[int, str]] = []
        self.skipped_images: list[tuple[Any, str]] = []
        self._bad_images: set[str] = set()

    @property
    def aspect_ratio(self) -> float:
        return self.input_size[0] / self.input_size[1]

    def _center_scale(self, bbox: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return box_to_center_scale(bbox, self.aspect_ratio, self.padding)

    def _check_images(self, issues: _Issues) -> None:
        """Every referenced image must exist, be complete (PNG / JPEG end marker) and within
        ``max_image_pixels`` by its header: one open and two small reads per image file, no decoding."""
        by_file: dict[str, list[Instance]] = {}
        for inst in self.instances:
            by_file.setdefault(inst.image_file, []).append(inst)
        bad = set()
        for f in sorted(by_file):
            insts = by_file[f]
            more = f" and {len(insts) - 1} more" if len(insts) > 1 else ""
            where = f"'file_name' {f} (annotation id {insts[0].ann_id}{more})"
            if not os.path.isfile(f):
                bad.add(f)
                issues.report_image(insts[0].image_id, f"image file not found: {where}", FileNotFoundError)
                continue
            try:
                probe_image(f, self.max_image_pixels)
            except (ImageProblem, OSError) as exc:
                bad.add(f)
                issues.report_image(insts[0].image_id, f"{exc}: {where}")
        if bad:
            self.instances = [inst for inst in self.instances if inst.image_file not in bad]

    def _finish_init(self, issues: _Issues, check_images: bool = True) -> None:
        if check_images:
            self._check_images(issues)
        issues.finish()
        self.skipped = issues.skipped
        self.skipped_images = issues.skipped_images

    def __len__(self) -> int:
        return len(self.instances)

    def _read_image(self, inst: Instance) -> np.ndarray | None:
        try:
            image = read_image(inst.image_file, self.max_image_pixels)
        except ImageProblem as exc:
            image = None
            source = getattr(self, "ann_file", None)
            message = f"{inst.image_file}: {exc} (image id {inst.image_id}, annotation id {inst.ann_id}" + (
                f", in {source})" if source is not None else ")"
            )
            if self.strict:
                raise AnnotationError(message) from None
            if inst.image_file not in self._bad_images:
                self._bad_images.add(inst.image_file)
                warnings.warn(message + "; skipped (strict=False)", stacklevel=3)
        return image

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One instance.

        Returns:
            image: float32 [3, H, W] RGB, ImageNet-normalised.
            keypoints: float32 [K, 2] crop pixels (K of ``layout``).
            labelled: float32 [K] 1 = annotated joint, 0 = unlabelled or absent from this dataset.
            dataset_id: int.
            meta: image_id, ann_id, image_file, center [2], scale [2] (pixels), rotation (deg), flip, score,
                area, bbox [4], keypoints_image [Ks, 3] (own schema, image pixels), plus format extras
                (headbox [2, 2] for MPII, category_id for COCO files).
        """
        n = len(self.instances)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n} instances")
        inst = self.instances[index]
        image = self._read_image(inst)
        tries = 0
        while image is None:  # strict=False: fall through to the next readable instance
            tries += 1
            if tries >= min(n, 64):
                raise ValueError(f"no readable image among {tries} instances starting at index {index}")
            inst = self.instances[(index + tries) % n]
            image = self._read_image(inst)
        return self._make_item(image, inst)

    def _rng(self) -> np.random.Generator | None:
        if not self.train:
            return None
        # Seeded from torch's generator so torch.manual_seed and DataLoader worker seeding apply.
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))

    def _make_item(self, image: np.ndarray, inst: Instance) -> dict[str, Any]:
        kp_img = inst.keypoints
        labelled = (kp_img[:, 2] > 0).astype(np.float32)
        sample = self.augment(
            image,
            inst.center,
            inst.scale,
            kp_img[:, :2],
            labelled,
            flip_index=self.schema.flip_index,
            upper_body=self.schema.upper_body,
            rng=self._rng(),
        )
        kp, lab = sample.keypoints.astype(np.float32), sample.labelled.astype(np.float32)
        if self.layout is not self.schema:
            kp, lab = map_keypoints(kp, lab, self.schema, self.layout)
        kp = np.where(lab[:, None] > 0, kp, np.float32(0.0))
        meta = {
            "image_id": inst.image_id,
            "ann_id": inst.ann_id,
            "image_file": inst.image_file,
            "center": sample.center,
            "scale": sample.scale,
            "rotation": sample.rotation,
            "flip": sample.flipped,
            "score": float(inst.score),
            "area": float(inst.area),
            "bbox": inst.bbox,
            "keypoints_image": kp_img,
            "dataset_id": self.dataset_id,
        }
        meta.update(inst.extra)
        return {
            "image": to_tensor(sample.crop),
            "keypoints": torch.from_numpy(np.ascontiguousarray(kp, dtype=np.float32)),
            "labelled": torch.from_numpy(np.ascontiguousarray(lab, dtype=np.float32)),
            "dataset_id": self.dataset_id,
            "meta": meta,
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(instances={len(self)}, schema={self.schema.name!r}, "
            f"layout={self.layout.name!r}, input_size={self.input_size}, train={self.train})"
        )
