"""Data-parallel training under ``torchrun`` with PyTorch's DDP (gloo on CPU, NCCL on CUDA).

``torchrun --standalone --nproc_per_node=N ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
``MASTER_ADDR``/``MASTER_PORT``; :func:`init_from_env` reads them and opens the process group.
Without them everything here is a no-op (one process, rank 0) and the trainers use their plain
modules.

Gradient averaging is :class:`torch.nn.parallel.DistributedDataParallel`'s: :func:`data_parallel`
wraps a module in DDP (``device_ids=[LOCAL_RANK]`` for a CUDA module, none on CPU). DDP copies
rank 0's parameters and buffers to every rank when it is built, all-reduces (averages) the
gradients bucket by bucket during ``backward()`` and, before each forward, copies rank 0's buffers
(BatchNorm running statistics) to the other ranks. Every parameter of a wrapped module must get a
gradient in every backward (``find_unused_parameters=False``); a module may be called several
times before one backward. The trainers save and load the wrapped ``.module`` (the plain
network), so checkpoints are the same with and without DDP. Only rank 0 writes checkpoints and
logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in a data-parallel run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes checkpoints, logs and progress bars."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True if the torchrun environment variables are present with more than one process."""
    return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device_type: str = "cpu") -> DistributedContext:
    """Open the process group from torchrun's environment (no-op for a single process).

    Parameters
    ----------
    device_type : {"cpu", "cuda"}
        Picks the backend: gloo for CPU, NCCL for CUDA (each rank then uses ``cuda:LOCAL_RANK``).
    """
    if not launched_by_torchrun():
        return DistributedContext()
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    backend = "nccl" if device_type == "cuda" else "gloo"
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistributedContext(rank=rank, world_size=world, local_rank=local, backend=backend)


def cleanup() -> None:
    """Close the process group if one is open.

    Every rank first waits at a barrier and unreferenced DDP wrappers are collected, so no rank
    tears down gloo/NCCL while another still has collective work (or a reducer thread) in flight.
    Drop your references to DDP-wrapped models before calling this.
    """
    if dist.is_available() and dist.is_initialized():
        import gc

        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


def data_parallel(
    module: torch.nn.Module,
    ctx: DistributedContext,
    *,
    wrapper: type[DistributedDataParallel] = DistributedDataParallel,
    **kwargs: Any,
) -> DistributedDataParallel:
    """Wrap ``module`` (already on its device) in DDP for this data-parallel run.

    Parameters
    ----------
    module : torch.nn.Module
        The network to train; its parameters must all be on one device.
    ctx : DistributedContext
        Must be enabled (world size > 1, process group open).
    wrapper : type, optional
        :class:`~torch.nn.parallel.DistributedDataParallel` or a subclass (e.g. one that adds
        methods routing other entry points through ``forward``).
    **kwargs
        Passed on to the wrapper (``find_unused_parameters``, ``static_graph``, ...).
    """
    if not ctx.enabled:
        raise ValueError("data_parallel needs a distributed run (world size > 1)")
    device = next(module.parameters()).device
    if device.type == "cuda":
        index = device.index if device.index is not None else ctx.local_rank
        kwargs.setdefault("device_ids", [index])
        kwargs.setdefault("output_device", index)
    return wrapper(module, **kwargs)


def barrier(ctx: DistributedContext) -> None:
    """Wait for every rank (no-op for one process)."""
    if ctx.enabled:
        dist.barrier()


def all_reduce_mean(value: float, ctx: DistributedContext) -> float:
    """Mean of a Python float over ranks (for logging the same losses everywhere)."""
    if not ctx.enabled:
        return float(value)
    device = torch.device("cuda", torch.cuda.current_device()) if ctx.backend == "nccl" else None
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)  # NCCL: CUDA tensors
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / ctx.world_size
