"""Datasets, top-down transforms, multi-dataset sampling and the synthetic dataset writer.

>>> from hpefast.data import CocoKeypointDataset, collate
>>> ds = CocoKeypointDataset("person_keypoints_val2017.json", "val2017/", layout="union21")  # doctest: +SKIP
>>> batch = collate([ds[0], ds[1]])  # doctest: +SKIP
"""

from hpefast.data.base import AnnotationError, Instance, TopDownDataset
from hpefast.data.coco import CocoKeypointDataset
from hpefast.data.collate import collate
from hpefast.data.mpii import MpiiDataset, load_headboxes
from hpefast.data.multi import MultiDataset
from hpefast.data.sampler import ResumableSampler, SeededDataset
from hpefast.data.transforms import (
    TopDownAugment,
    box_to_center_scale,
    crop_to_image,
    get_udp_warp_matrix,
    image_to_crop,
)

__all__ = [
    "AnnotationError",
    "CocoKeypointDataset",
    "Instance",
    "MpiiDataset",
    "MultiDataset",
    "ResumableSampler",
    "SeededDataset",
    "TopDownAugment",
    "TopDownDataset",
    "box_to_center_scale",
    "collate",
    "crop_to_image",
    "get_udp_warp_matrix",
    "image_to_crop",
    "load_headboxes",
]
