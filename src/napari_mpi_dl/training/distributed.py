"""Data-parallel training under ``torchrun`` (gloo on CPU, NCCL on CUDA).

``torchrun --standalone --nproc_per_node=N ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
``MASTER_ADDR``/``MASTER_PORT``; :func:`init_from_env` reads them and opens the process group.
Without them everything here is a no-op (one process, rank 0).

Gradient averaging: :func:`average_gradients` all-reduces the gradients of a list of modules after
``backward()``, which is exactly what :class:`torch.nn.parallel.DistributedDataParallel` does, but
it also works for models that call one network several times per step or through a method other
than ``forward`` (a GAN's generator is called on x, on y for the identity loss, and through its
encoder for the contrastive loss) and that toggle ``requires_grad`` between the discriminator and
generator updates, which the DDP wrapper does not support. :func:`broadcast_parameters` makes every
rank start from rank 0's weights. Only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist


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
    """Close the process group if one is open."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _params(modules: Iterable[torch.nn.Module]) -> list[torch.nn.Parameter]:
    return [p for m in modules for p in m.parameters()]


def broadcast_parameters(modules: Iterable[torch.nn.Module], ctx: DistributedContext) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not ctx.enabled:
        return
    with torch.no_grad():
        for m in modules:
            for t in list(m.parameters()) + list(m.buffers()):
                dist.broadcast(t.data, src=0)


def average_gradients(modules: Iterable[torch.nn.Module], ctx: DistributedContext) -> None:
    """All-reduce (mean) the gradients of ``modules`` in one flat buffer (DDP semantics).

    Parameters without a gradient get a zero gradient first, so every rank reduces the same
    buffer layout.
    """
    if not ctx.enabled:
        return
    params = [p for p in _params(modules) if p.requires_grad]
    if not params:
        return
    grads = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad.reshape(-1))
    flat = torch.cat(grads)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world_size
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def barrier(ctx: DistributedContext) -> None:
    """Wait for every rank (no-op for one process)."""
    if ctx.enabled:
        dist.barrier()


def all_reduce_mean(value: float, ctx: DistributedContext) -> float:
    """Mean of a Python float over ranks (for logging the same losses everywhere)."""
    if not ctx.enabled:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / ctx.world_size
