"""A deterministic, resumable, rank-sharded sampler over one or several datasets.

Every epoch's order is a pure function of ``(seed, epoch)``, and each yielded item carries its own
augmentation seed, so a run restarted from a checkpoint at batch ``b`` of epoch ``e`` sees exactly the
samples *and augmentations* the uninterrupted run would have seen. Items are ``(index, sample_seed)``
pairs; :class:`SeededDataset` unpacks them and seeds ``random``, ``numpy`` and ``torch`` before calling the
wrapped dataset (augmentations drawn from the global generators become reproducible whatever the number of
workers).

Multi-dataset epochs: with ``ratios`` None an epoch is one pass over the concatenation; otherwise an epoch
has ``sum(sizes)`` samples split between datasets in proportion to ``ratios``, each dataset cycled through
its own shuffled order (no repeats before the whole dataset has been seen).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

__all__ = ["ResumableSampler", "SeededDataset"]


class ResumableSampler(Sampler):
    """Yields ``(global_index, sample_seed)`` for this rank; ``global_index`` indexes the concatenation.

    Args:
        sizes: number of instances of each dataset.
        batch_size: per-process batch size; epochs are cut to whole global batches (drop last).
        ratios: sampling weights per dataset, or None for a plain pass over all instances.
        seed: base seed of the run.
        rank, world_size: this process and the number of processes.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        batch_size: int,
        ratios: Sequence[float] | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        if not sizes or any(int(s) < 0 for s in sizes):
            raise ValueError(f"sizes must be non-negative dataset lengths, got {list(sizes)}")
        if ratios is not None and len(ratios) != len(sizes):
            raise ValueError(f"ratios has {len(ratios)} entries for {len(sizes)} datasets")
        self.sizes = [int(s) for s in sizes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.ratios = None if ratios is None else [float(r) for r in ratios]
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.shuffle = shuffle
        self.epoch = 0
        self.start_batch = 0
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"an epoch of {sum(self.sizes)} instances has no full batch of {self.batch_size} x "
                f"{self.world_size} processes: lower data.batch_size or add data"
            )

    @property
    def steps_per_epoch(self) -> int:
        return sum(self.sizes) // (self.batch_size * self.world_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch and the batch (of this epoch) to start from, e.g. when resuming."""
        if not 0 <= start_batch <= self.steps_per_epoch:
            raise ValueError(f"start_batch {start_batch} outside [0, {self.steps_per_epoch}]")
        self.epoch = int(epoch)
        self.start_batch = int(start_batch)

    def _cycle(self, rng: np.random.Generator, d: int, count: int) -> np.ndarray:
        n = self.sizes[d]
        if n == 0 or count == 0:
            return np.zeros(0, np.int64)
        reps = -(-count // n)
        parts = [rng.permutation(n) if self.shuffle else np.arange(n) for _ in range(reps)]
        return np.concatenate(parts)[:count] + self.offsets[d]

    def epoch_order(self, epoch: int) -> np.ndarray:
        """All ranks' global indices of ``epoch`` (length a multiple of the global batch)."""
        rng = np.random.default_rng([self.seed, epoch])
        total = sum(self.sizes)
        if self.ratios is None:
            order = rng.permutation(total) if self.shuffle else np.arange(total)
        else:
            w = np.asarray(self.ratios) * (np.asarray(self.sizes) > 0)
            counts = np.floor(total * w / w.sum()).astype(np.int64)
            counts[int(np.argmax(w))] += total - counts.sum()
            order = np.concatenate([self._cycle(rng, d, int(c)) for d, c in enumerate(counts)])
            if self.shuffle:
                order = order[rng.permutation(len(order))]
        return order[: self.steps_per_epoch * self.batch_size * self.world_size].astype(np.int64)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self.epoch_order(self.epoch)
        mine = order[self.rank :: self.world_size]
        seeds = np.random.default_rng([self.seed, self.epoch, 1 << 20]).integers(0, 2**31 - 1, len(order))
        seeds = seeds[self.rank :: self.world_size]
        start = self.start_batch * self.batch_size
        for i in range(start, len(mine)):
            yield int(mine[i]), int(seeds[i])

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.start_batch) * self.batch_size


class SeededDataset(Dataset):
    """Wraps a dataset so that item ``(index, seed)`` is produced with the global RNGs seeded by ``seed``.

    In the main process (``workers=0``) the previous RNG states are restored afterwards so that the
    training step's own randomness (drop path) does not depend on data loading.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            index, seed = key
        else:
            return self.dataset[key]
        in_main = get_worker_info() is None
        if in_main:
            saved = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        random.seed(seed)
        np.random.seed(seed)
        torch.default_generator.manual_seed(seed)  # CPU only: the CUDA generator drives drop path
        try:
            return self.dataset[index]
        finally:
            if in_main:
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])
