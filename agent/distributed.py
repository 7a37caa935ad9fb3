"""Data-parallel training under ``torchrun`` or ``accelerate launch`` (``agent.training``).

Both launchers start one process per device and tell each its place in the environment variables
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` (with ``MASTER_ADDR``/``MASTER_PORT`` for the
rendezvous); ``launch_from_env`` reads them, so ``accelerate`` itself is never imported. Without
them, or with ``WORLD_SIZE=1``, training is the single-process run (no process group). With more
processes ``process_group`` joins the group (NCCL on CUDA, gloo on the CPU) and leaves it at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Launch:
    """This process's place in a launch: ``rank`` of ``world_size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there are other processes to synchronise with."""
        return self.world_size > 1


SINGLE = Launch()
"""The single-process run."""


def launch_from_env(env: Mapping[str, str] | None = None) -> Launch:
    """The launch described by ``RANK``/``LOCAL_RANK``/``WORLD_SIZE`` (torchrun, accelerate launch); ``SINGLE`` without them."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return SINGLE
    try:
        world = int(env["WORLD_SIZE"])
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ValueError(f"bad launcher environment (RANK/LOCAL_RANK/WORLD_SIZE must be integers): {exc}") from exc
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"bad launcher environment: RANK={rank}, LOCAL_RANK={local}, WORLD_SIZE={world}")
    return Launch(rank, local, world)


def launch_device(launch: Launch, device: torch.device) -> torch.device:
    """The device of this process: a CUDA device without an index becomes ``cuda:LOCAL_RANK``."""
    if device.type != "cuda" or not launch.distributed or device.index is not None:
        return device
    if launch.local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"LOCAL_RANK {launch.local_rank} has no GPU ({torch.cuda.device_count()} visible); "
            f"start at most one process per GPU (torchrun --nproc_per_node)"
        )
    return torch.device("cuda", launch.local_rank)


@contextmanager
def process_group(launch: Launch, device: torch.device) -> Iterator[None]:
    """Join the launch's process group for the block (nothing for a single process); a group the
    caller already started is used as it is and left open."""
    if not launch.distributed:
        yield
        return
    if dist.is_initialized():
        if dist.get_world_size() != launch.world_size:
            raise ValueError(f"the process group has {dist.get_world_size()} processes but WORLD_SIZE is {launch.world_size}")
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=launch.rank, world_size=launch.world_size)
    try:
        yield
    finally:
        dist.destroy_process_group()


def barrier(launch: Launch) -> None:
    """Wait for every process (nothing for a single process)."""
    if launch.distributed:
        dist.barrier()


def all_reduce_sum(values: Sequence[float], launch: Launch, device: torch.device) -> list[float]:
    """``values`` summed over the processes (float64; the values themselves for a single process)."""
    if not launch.distributed:
        return list(values)
    tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def rank_part(items: Sequence[int], launch: Launch) -> list[int]:
    """This process's contiguous share of ``items`` (sizes differ by at most one; all of it for a single process)."""
    per, extra = divmod(len(items), launch.world_size)
    start = launch.rank * per + min(launch.rank, extra)
    return list(items[start : start + per + (launch.rank < extra)])
