"""Training on several datasets at once under one keypoint layout.

:class:`MultiDataset` concatenates sources that were all mapped into the same layout (``layout=`` of each
dataset); its :meth:`~MultiDataset.sampler` is the one multi-dataset sampler of hpefast
(:class:`hpefast.data.sampler.ResumableSampler`, also the trainer's): each epoch splits its samples between
the sources by the ratios, so a small dataset can be seen as often as a large one; within a source,
indices are drawn without replacement from a fresh permutation each time the source is used up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hpefast.data.sampler import ResumableSampler, SeededDataset

__all__ = ["MultiDataset"]


class _Unseeded(torch.utils.data.Dataset):
    def __init__(self, multi: MultiDataset) -> None:
        self.multi = multi

    def __len__(self) -> int:
        return len(self.multi)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.multi[int(index)]


class MultiDataset(torch.utils.data.Dataset):
    """Concatenation of top-down datasets that share one output layout.

    Args:
        datasets: the sources; each must expose ``layout`` (a KeypointSchema) with the same name.
        ratios: sampling weight of each source (normalised; default: proportional to length).

    Item ``i`` is item ``i - offsets[s]`` of source ``s``; its ``dataset_id`` is that source's own id.
    """

    def __init__(self, datasets: Sequence[Any], ratios: Sequence[float] | None = None):
        if len(datasets) == 0:
            raise ValueError("MultiDataset: no datasets given")
        layouts = {getattr(getattr(d, "layout", None), "name", None) for d in datasets}
        if len(layouts) != 1 or None in layouts:
            raise ValueError(
                "MultiDataset: every dataset must be mapped into one layout (layout=...), got "
                f"{sorted(map(str, layouts))}"
            )
        self.datasets = list(datasets)
        self.layout = self.datasets[0].layout
        lengths = np.array([len(d) for d in self.datasets], dtype=np.int64)
        if np.any(lengths == 0):
            empty = np.flatnonzero(lengths == 0).tolist()
            raise ValueError(f"MultiDataset: empty source(s) at positions {empty}")
        self.lengths = lengths
        self.offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        if ratios is None:
            ratios = lengths.astype(np.float64)
        r = np.asarray(ratios, dtype=np.float64)
        if r.shape != (len(self.datasets),) or np.any(~np.isfinite(r)) or np.any(r < 0) or r.sum() <= 0:
            raise ValueError(
                f"MultiDataset: ratios must be {len(self.datasets)} non-negative numbers, positive sum; "
                f"got {ratios}"
            )
        self.ratios = r / r.sum()
        self._seeded = SeededDataset(_Unseeded(self))

    def __len__(self) -> int:
        return int(self.lengths.sum())

    def locate(self, index: int) -> tuple[int, int]:
        """(source, index within the source) of a global index."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a MultiDataset of {len(self)} items")
        source = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return source, int(index - self.offsets[source])

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        if isinstance(index, tuple):  # (index, sample_seed) from sampler(): seeded augmentation
            return self._seeded[index]
        source, local = self.locate(int(index))
        return self.datasets[source][local]

    def sampler(self, batch_size: int, **kwargs: Any) -> ResumableSampler:
        """A :class:`~hpefast.data.sampler.ResumableSampler` over the sources with this dataset's ratios
        (the sampler the trainer uses: deterministic per ``(seed, epoch)``, resumable, rank-sharded).
        It yields ``(index, sample_seed)`` pairs, which :meth:`__getitem__` accepts: augmentations are then
        seeded per sample. ``kwargs``: ``seed``, ``rank``, ``world_size``, ``shuffle``."""
        return ResumableSampler(self.lengths.tolist(), batch_size, ratios=self.ratios.tolist(), **kwargs)
