"""``torchrun`` support: process group set-up, per-rank device, and which rank writes files.

Under ``torchrun --nproc_per_node N`` every process trains on its shard of each epoch
(``DistributedSampler``) and DDP averages gradients; rank 0 alone logs and saves. NCCL on GPUs, gloo
on CPUs (so the same code path is testable without a GPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a (possibly single-process) run."""

    enabled: bool = False
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs and checkpoints."""
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1); otherwise a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return DistInfo(True, dist.get_rank(), dist.get_world_size(), local_rank)


def device_for(info: DistInfo, requested: str) -> torch.device:
    """The device this rank trains on (``auto`` picks CUDA when available)."""
    use_cuda = requested == "cuda" or (requested == "auto" and torch.cuda.is_available())
    if use_cuda:
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


def shutdown(info: DistInfo) -> None:
    """Leave the process group (so torchrun exits cleanly)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
