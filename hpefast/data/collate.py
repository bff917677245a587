"""Batching items of the top-down datasets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["collate"]


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack dataset items into a batch for on-device target generation.

    Returns:
        image [B, 3, H, W] float32, keypoints [B, K, 2] float32 (crop pixels), labelled [B, K] float32,
        dataset_id [B] int64, meta: list of the items' meta dicts.
    """
    if len(batch) == 0:
        raise ValueError("collate: empty batch")
    shapes = {tuple(item["keypoints"].shape) for item in batch}
    if len(shapes) != 1:
        raise ValueError(
            f"collate: items have different keypoint shapes {sorted(shapes)}; map every source into one "
            "layout (layout=...) before mixing datasets"
        )
    return {
        "image": torch.stack([item["image"] for item in batch]),
        "keypoints": torch.stack([item["keypoints"] for item in batch]),
        "labelled": torch.stack([item["labelled"] for item in batch]),
        "dataset_id": torch.tensor([int(item["dataset_id"]) for item in batch], dtype=torch.int64),
        "meta": [item["meta"] for item in batch],
    }
