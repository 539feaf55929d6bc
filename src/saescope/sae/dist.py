"""Data-parallel helpers of the trainer (torchrun: one process per device, gloo or NCCL)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass
class Dist:
    """This process's place in the data-parallel group (world 1: a single process)."""

    rank: int = 0
    world: int = 1
    owns_group: bool = False
    """True when the trainer created the process group (and so destroys it)."""

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(t)
        return t

    def all_reduce_mean(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(t)
            t.div_(self.world)
        return t

    def all_reduce_max(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return t

    def broadcast(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.broadcast(t, 0)
        return t

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def close(self) -> None:
        if self.owns_group:
            torch.distributed.destroy_process_group()


def init_dist(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the torchrun group when WORLD_SIZE > 1 (each rank on its LOCAL_RANK GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    import torch.distributed as dist

    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return Dist(rank, dist.get_world_size(), owns), device
