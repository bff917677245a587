"""Process-group helpers for DDP through ``torchrun`` (NCCL on CUDA, gloo on CPU).

``torchrun --nproc_per_node N -m hpefast train CONFIG`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``;
:func:`init` reads them. A single process (no ``WORLD_SIZE``) runs without a process group.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init", "shutdown", "all_gather_objects", "mean_across", "barrier"]


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a ``torchrun`` job (the defaults describe a single process)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init(device: torch.device) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment (no-op for one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, local_rank=local, world_size=world)


def shutdown() -> None:
    """Leave the process group, if one was joined.

    All ranks meet at a barrier first: a rank that tears gloo down while another still has a collective
    (or checkpoint writing) in flight can abort the process ("terminate called without an active exception").
    """
    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def barrier() -> None:
    """Wait for all processes (no-op without a process group)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_gather_objects(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` (``[obj]`` without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def mean_across(value: torch.Tensor) -> torch.Tensor:
    """Mean of a scalar tensor over the processes (the tensor itself without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / dist.get_world_size()
