"""The training shell both learning methods share: what every trainer does the same way.

:class:`Trainer` is the base of :class:`~napari_mpi_dl.dcgan.train.DCGANTrainer` and
:class:`~napari_mpi_dl.contrastive.train.ContrastiveTrainer` (like CUT's ``BaseModel``, without
its options namespace: each method passes the few values the shell needs). The shell holds

* the device (``"auto"``/``"cpu"``/``"cuda:N"``; under torchrun each rank its ``cuda:LOCAL_RANK``)
  and the data-parallel context, the seed of the weights;
* stopping: :meth:`~Trainer.request_stop` (thread-safe), a wall-time limit
  (:attr:`~Trainer.time_limit_s`), both agreed on by every rank (:meth:`~Trainer.stop_due`);
* the NaN / inf guard of each step's losses (:meth:`~Trainer.check_losses`);
* checkpoints: the path, when one is due (every ``checkpoint_every`` *steps* and at the end),
  rank 0 writes then every rank waits (:meth:`~Trainer.save_checkpoint`), and resumption's common
  part (models, optimisers and their state moved to the device, schedulers, scalers, RNG states);
* the export of inference weights on rank 0 only (:meth:`~Trainer.export_weights`).

A method implements ``checkpoint_name``, ``checkpoint_state`` (what goes into its checkpoint),
``_write_weights`` and its own steps, losses, data and loop (``run``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from napari_mpi_dl.training import checkpoint as ckpt
from napari_mpi_dl.training.device import choose_device
from napari_mpi_dl.training.distributed import DistributedContext, barrier
from napari_mpi_dl.training.guard import check_finite


def rank_device(device: str | torch.device | None, dist: DistributedContext) -> torch.device:
    """The device of this process: ``device`` resolved, and under torchrun with CUDA the rank's
    own GPU (``cuda:LOCAL_RANK``)."""
    dev = choose_device(device)
    if dist.enabled and dev.type == "cuda":
        return torch.device("cuda", dist.local_rank)
    return dev


def steps_for_epochs(epochs: float, samples: int, batch_size: int, world_size: int = 1, *,
                     name: str = "epochs") -> int:
    """Optimisation steps for ``epochs`` passes over ``samples`` training samples with
    ``batch_size`` samples per process and step and ``world_size`` processes (at least 1).

    Raises
    ------
    ValueError
        If ``epochs`` (called ``name`` in the message) is not > 0.
    """
    import math

    if not epochs > 0:
        raise ValueError(f"{name} must be > 0, got {epochs}")
    return max(1, math.ceil(epochs * samples / (batch_size * world_size)))


def config_differences(saved: Mapping[str, Any], mine: Mapping[str, Any],
                       free: set[str] = frozenset()) -> list[str]:
    """Keys (``"section.key"`` for nested dicts) whose values differ, except those in ``free``
    (plain or dotted names)."""
    diffs = []
    for key, value in mine.items():
        other = saved.get(key) if isinstance(saved, Mapping) else None
        if isinstance(value, Mapping):
            sub_free = {f.split(".", 1)[1] for f in free if f.startswith(f"{key}.")}
            diffs += [f"{key}.{d}" for d in config_differences(other or {}, value, sub_free)]
        elif key not in free and other != value:
            diffs.append(key)
    return diffs


def optimizer_state_to(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Move an optimiser's loaded state (Adam moments) to ``device`` (step counters stay)."""
    for state in optimizer.state.values():
        for k, v in state.items():
            if torch.is_tensor(v) and k != "step":
                state[k] = v.to(device)


class Trainer:
    """Scaffolding of a resumable, data-parallel-aware training loop.

    Parameters
    ----------
    kind : str
        The checkpoint ``kind`` (checked when resuming).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    seed : int
        Seeds torch's global RNG before the subclass builds its networks.
    checkpoint_dir : path-like, optional
        Where :meth:`checkpoint_name` is written; None writes no checkpoints.
    dist : DistributedContext, optional
        From :func:`napari_mpi_dl.training.distributed.init_from_env` under torchrun.
    """

    def __init__(self, *, kind: str, device: str, seed: int,
                 checkpoint_dir: str | os.PathLike | None = None,
                 dist: DistributedContext | None = None) -> None:
        self.kind = kind
        self.dist = dist or DistributedContext()
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.device = rank_device(device, self.dist)
        #: Optimisation steps completed.
        self.step = 0
        #: Stop cleanly (checkpoint, final report) once a run has lasted this many seconds.
        self.time_limit_s: float | None = None
        #: True once a run stopped because of :attr:`time_limit_s`.
        self.stopped_by_time_limit = False
        self._stop = threading.Event()
        self._run_started = time.perf_counter()
        torch.manual_seed(seed)

    # -- stopping -------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the run to stop after the current step (thread-safe; e.g. from a signal handler or
        the GUI's Stop button). A checkpoint is written if a folder was given."""
        self._stop.set()

    def _start_clock(self) -> float:
        """Mark the start of a run (for the time limit); returns the ``perf_counter`` value."""
        self._run_started = time.perf_counter()
        return self._run_started

    def stop_due(self) -> bool:
        """Whether the run stops after this step: a stop was requested or the time limit passed.

        Under torchrun every rank asks at the same step and they agree (any rank's request stops
        all), so no rank waits in a collective for another that stopped.
        """
        requested = self._stop.is_set()
        timed_out = (self.time_limit_s is not None
                     and time.perf_counter() - self._run_started > self.time_limit_s)
        if self.dist.enabled:
            import torch.distributed as tdist

            flags = torch.tensor([int(requested), int(timed_out)],
                                 device=self.device if self.dist.backend == "nccl" else "cpu")
            tdist.all_reduce(flags, op=tdist.ReduceOp.MAX)
            requested, timed_out = bool(flags[0]), bool(flags[1])
        if requested:
            self._stop.set()
        elif timed_out:
            self.stopped_by_time_limit = True
        return requested or timed_out

    def stop_message(self) -> str:
        """``"stopped"`` or ``"stopped (time limit)"``."""
        return "stopped (time limit)" if self.stopped_by_time_limit else "stopped"

    # -- divergence -----------------------------------------------------------------------------
    def check_losses(self, losses: Mapping[str, float]) -> None:
        """Raise :class:`~napari_mpi_dl.training.guard.TrainingDivergedError` if a loss of the
        step being made (``self.step + 1``) is NaN or infinite."""
        check_finite(losses, step=self.step + 1)

    # -- checkpoints ----------------------------------------------------------------------------
    def checkpoint_name(self) -> str:
        """File name of the run's checkpoint in :attr:`checkpoint_dir`."""
        raise NotImplementedError

    def checkpoint_path(self) -> Path:
        if self.checkpoint_dir is None:
            raise ValueError("checkpoint_dir was not given")
        return self.checkpoint_dir / self.checkpoint_name()

    def checkpoint_due(self, last: bool, every: int) -> bool:
        """A checkpoint is written at the end (``last``) and every ``every`` steps (0: end only),
        if a folder was given."""
        return self.checkpoint_dir is not None and (
            last or bool(every and self.step % every == 0))

    def checkpoint_state(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~napari_mpi_dl.training.checkpoint.save_checkpoint`
        besides ``kind`` and ``step``: ``config``, ``models``, ``optimizers``, ... ."""
        raise NotImplementedError

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write the whole training state atomically (rank 0 only; the other ranks wait)."""
        target = Path(path) if path is not None else self.checkpoint_path()
        if self.dist.is_main:
            ckpt.save_checkpoint(target, kind=self.kind, step=self.step,
                                 **self.checkpoint_state())
        barrier(self.dist)
        return target

    def load_checkpoint(self, path: str | os.PathLike) -> dict[str, Any]:
        """Read and validate a checkpoint of this trainer's ``kind`` (tensors on the CPU)."""
        return ckpt.load_checkpoint(path, kind=self.kind)

    def restore_state(self, payload: Mapping[str, Any], path: str | os.PathLike, *,
                      models: Mapping[str, torch.nn.Module],
                      optimizers: Mapping[str, torch.optim.Optimizer],
                      schedulers: Mapping[str, Any] | None = None,
                      scalers: Mapping[str, Any] | None = None) -> None:
        """Load the networks (strictly, with clear errors), the optimisers (their state moved to
        this device), schedulers, scalers, the global RNG states and the step of a checkpoint.

        Raises
        ------
        napari_mpi_dl.training.checkpoint.CheckpointError
            If a network does not fit or a training state entry is missing or damaged.
        """
        for name, module in models.items():
            ckpt.load_state_dict_checked(module, payload["models"].get(name), name=name,
                                         source=str(path))
        try:
            for name, opt in optimizers.items():
                opt.load_state_dict(payload["optimizers"][name])
            for name, sched in (schedulers or {}).items():
                sched.load_state_dict(payload["schedulers"][name])
            if payload.get("scalers"):
                for name, scaler in (scalers or {}).items():
                    scaler.load_state_dict(payload["scalers"][name])
        except (KeyError, ValueError, RuntimeError) as exc:
            raise ckpt.CheckpointError(
                f"checkpoint {str(path)!r} has an incomplete training state: {exc}") from exc
        if payload.get("rng"):
            ckpt.set_rng_state(payload["rng"])
        for opt in optimizers.values():
            optimizer_state_to(opt, self.device)
        self.step = int(payload["step"])

    # -- inference weights ----------------------------------------------------------------------
    def export_weights(self, path: str | os.PathLike, *, info: dict[str, Any] | None = None,
                       half: bool = True, **options: Any) -> Path:
        """Write the inference weights (float16 by default) on rank 0; the other ranks write
        nothing and get the same path back."""
        if not self.dist.is_main:
            return Path(path)
        return self._write_weights(Path(path), info=info, half=half, **options)

    def _write_weights(self, path: Path, *, info: dict[str, Any] | None, half: bool,
                       **options: Any) -> Path:
        raise NotImplementedError
