"""Training on several datasets at once under one keypoint layout.

:class:`MultiDataset` concatenates sources that were all mapped into the same layout (``layout=`` of each
dataset); :class:`MultiDatasetSampler` draws each sample's source with the given ratios, so a small
dataset can be seen as often as a large one regardless of their sizes. Within a source, indices are
drawn without replacement from a fresh permutation each time the source is used up.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["MultiDataset", "MultiDatasetSampler"]


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

    def __len__(self) -> int:
        return int(self.lengths.sum())

    def locate(self, index: int) -> tuple[int, int]:
        """(source, index within the source) of a global index."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a MultiDataset of {len(self)} items")
        source = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return source, int(index - self.offsets[source])

    def __getitem__(self, index: int) -> dict[str, Any]:
        source, local = self.locate(int(index))
        return self.datasets[source][local]

    def sampler(self, num_samples: int | None = None, **kwargs: Any) -> MultiDatasetSampler:
        """A :class:`MultiDatasetSampler` over this dataset with its ratios."""
        return MultiDatasetSampler(self, num_samples=num_samples, **kwargs)


class MultiDatasetSampler(torch.utils.data.Sampler[int]):
    """Global indices of a MultiDataset, each drawn from source ``s`` with probability ``ratios[s]``.

    Args:
        dataset: the MultiDataset.
        num_samples: indices per epoch over all ranks (default ``len(dataset)``).
        ratios: override the dataset's ratios.
        seed: base seed; epoch ``e`` uses ``seed + e`` (call :meth:`set_epoch`), so runs are reproducible.
        rank, world_size: for distributed training every rank builds the same sequence and takes
            ``sequence[rank::world_size]`` (padded to equal lengths).
    """

    def __init__(
        self,
        dataset: MultiDataset,
        num_samples: int | None = None,
        ratios: Sequence[float] | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        if not isinstance(dataset, MultiDataset):
            raise TypeError(f"MultiDatasetSampler needs a MultiDataset, got {type(dataset).__name__}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} must be in [0, world_size={world_size})")
        self.dataset = dataset
        self.num_samples = len(dataset) if num_samples is None else int(num_samples)
        if self.num_samples <= 0:
            raise ValueError(f"num_samples must be > 0, got {num_samples}")
        if ratios is None:
            self.ratios = dataset.ratios
        else:
            r = np.asarray(ratios, dtype=np.float64)
            if r.shape != dataset.ratios.shape or np.any(r < 0) or r.sum() <= 0:
                raise ValueError(f"ratios must be {len(dataset.datasets)} non-negative numbers, got {ratios}")
            self.ratios = r / r.sum()
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _sequence(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed + self.epoch)
        total = -(-self.num_samples // self.world_size) * self.world_size
        sources = rng.choice(len(self.ratios), size=total, p=self.ratios)
        out = np.empty(total, dtype=np.int64)
        for s in range(len(self.ratios)):
            where = np.flatnonzero(sources == s)
            if where.size == 0:
                continue
            n = int(self.dataset.lengths[s])
            reps = -(-where.size // n)
            local = np.concatenate([rng.permutation(n) for _ in range(reps)])[: where.size]
            out[where] = local + self.dataset.offsets[s]
        return out

    def __iter__(self) -> Iterator[int]:
        seq = self._sequence()[self.rank :: self.world_size]
        return iter(seq.tolist())

    def __len__(self) -> int:
        return -(-self.num_samples // self.world_size)
