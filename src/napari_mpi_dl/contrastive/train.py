"""Training of the contrastive framework: a resumable generator of progress reports.

:class:`ContrastiveTrainer` runs one task (``recovery`` or ``reconstruction``) in one setting:

* ``"wo-cl"``: the main task (encoder + head, MSE) from scratch;
* ``"cl"``: first ``pretrain_epochs`` of NT-Xent on encoder + projector (two augmented views of
  every batch of the unlabelled pretraining set), the best pretraining epoch on the validation
  split is restored, then the main task trains the pretrained encoder with its head (all
  weights trainable, as in the paper's Figure 1). A pretrained encoder (another run's
  checkpoint or weights file) may be given instead of pretraining again.

In each phase the weights of the epoch with the lowest validation loss are kept and restored at
the end of the phase. :meth:`ContrastiveTrainer.run` yields
:class:`~napari_mpi_dl.training.reports.TrainingReport` every ``report_every`` steps and at each
epoch end (losses ``train``, ``val`` and ``best_val``); the CLI renders them with tqdm, the napari
dock as live curves. Stop by :meth:`request_stop` (thread-safe: a checkpoint is written after the
current step, so :meth:`resume` continues exactly there) or by abandoning the generator (the last
checkpoint stays). A NaN/inf loss raises
:class:`~napari_mpi_dl.training.guard.TrainingDivergedError`.

Under ``torchrun`` (world size > 1) each rank trains on its shard of every epoch and the module of
the current phase (encoder + projector while pretraining, encoder + head for the main task) is
wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` (gloo on CPU; NCCL with
``device_ids=[LOCAL_RANK]`` on CUDA), which averages the gradients; a phase's wrapper is built at
its first step. The encoder keeps plain BatchNorm (per-rank batch statistics; DDP copies rank 0's
running statistics to the other ranks before each forward), on CPU and CUDA alike. Every rank
validates on the whole validation split and the mean over ranks picks the best epoch, so all
ranks restore the same epoch. Checkpoints hold the plain modules; only rank 0 writes files.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from napari_mpi_dl.contrastive.augment import two_views
from napari_mpi_dl.contrastive.config import RunConfig
from napari_mpi_dl.contrastive.data import (
    EpochMixtures,
    EpochSource,
    FixedTrainSet,
    TaskData,
    TrainSet,
)
from napari_mpi_dl.contrastive.losses import nt_xent
from napari_mpi_dl.contrastive.models import ContrastiveModel, TaskModel
from napari_mpi_dl.contrastive.weights import (
    CHECKPOINT_KIND,
    read_weights_payload,
    save_task_weights,
)
from napari_mpi_dl.training import checkpoint as ckpt
from napari_mpi_dl.training import device as devmod
from napari_mpi_dl.training.distributed import DistributedContext, all_reduce_mean, data_parallel
from napari_mpi_dl.training.reports import TrainingReport
from napari_mpi_dl.training.trainer import Trainer, config_differences

_FREE_TRAIN_KEYS = {"epochs", "pretrain_epochs", "checkpoint_every", "report_every", "device"}


def checkpoint_name(task: str, setting: str) -> str:
    return f"contrastive_{task}_{setting}_last.pt"


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


class ContrastiveTrainer(Trainer):
    """Train one task in one setting (the shared shell is
    :class:`~napari_mpi_dl.training.trainer.Trainer`).

    Parameters
    ----------
    data : TaskData
        Normalised, split data from :func:`napari_mpi_dl.contrastive.data.build_task_data`.
    config : RunConfig
        Data, augmentation, model and training configuration (``config.train.task`` must equal
        ``data.task``).
    checkpoint_dir : path-like, optional
        Where ``contrastive_<task>_<setting>_last.pt`` is written; None writes none.
    dist : DistributedContext, optional
        From :func:`napari_mpi_dl.training.distributed.init_from_env` under torchrun.
    pretrained_encoder : path-like, optional
        A checkpoint or weights file whose encoder (and projector, if present) initialises this
        run; the CL pretraining phase is then skipped.
    epochs_from : EpochSource, optional
        Gives each epoch's training samples; default: fresh mixtures per epoch
        (:class:`~napari_mpi_dl.contrastive.data.EpochMixtures`) when
        ``config.data.fresh_mixtures``, else :class:`FixedTrainSet` (``data``'s training split
        every epoch).
    """

    def __init__(self, data: TaskData, config: RunConfig | None = None, *,
                 checkpoint_dir: str | os.PathLike | None = None,
                 dist: DistributedContext | None = None,
                 pretrained_encoder: str | os.PathLike | None = None,
                 epochs_from: EpochSource | None = None) -> None:
        self.config = config or RunConfig()
        t = self.config.train
        if data.task != t.task:
            raise ValueError(f"data were built for task {data.task!r} but the training "
                             f"configuration asks for {t.task!r}")
        m = self.config.model
        if data.inputs.shape[1:] != (m.in_channels, m.signal_length):
            raise ValueError(f"the data's signals are {data.inputs.shape[1:]} (channels, samples) "
                             f"but the model expects ({m.in_channels}, {m.signal_length})")
        if t.task == "reconstruction" and tuple(data.targets.shape[1:]) != m.image_shape:
            raise ValueError(f"reconstruction targets are {data.targets.shape[1:]} images but "
                             f"the model's image_shape is {m.image_shape}: the SM grid must match")
        self.data = data
        if epochs_from is None and self.config.data.fresh_mixtures:
            epochs_from = EpochMixtures(data, self.config.data)
        self.epochs_from: EpochSource = epochs_from or FixedTrainSet(data)
        self._epoch_set: tuple[str, int, TrainSet] | None = None
        self._train_sizes: dict[str, int] = {}
        super().__init__(kind=CHECKPOINT_KIND, device=t.device, seed=t.seed,
                         checkpoint_dir=checkpoint_dir, dist=dist)
        self.model = TaskModel(t.task, m).to(self.device)
        self.contrastive = ContrastiveModel(self.model.encoder, m).to(self.device)
        self.pretrained_from = None
        if pretrained_encoder is not None:
            self._load_pretrained(pretrained_encoder)
        self.opt_pre = torch.optim.Adam(self.contrastive.parameters(), lr=t.lr, betas=t.betas)
        self.opt_main = torch.optim.Adam(self.model.parameters(), lr=t.lr, betas=t.betas)
        self._rng = np.random.default_rng(t.seed)
        self._aug = torch.Generator().manual_seed(t.seed + 12345)
        self.phase = "pretrain" if (t.pretrains and self.pretrained_from is None) else "main"
        self.epoch = 0  # epochs completed in the current phase
        self._perm: np.ndarray | None = None
        self._batch_pos = 0
        self._loss_sum = 0.0
        self._loss_n = 0
        self.best_val = math.inf
        self.best_epoch = 0
        self._best_state: dict[str, Any] | None = None
        self.pretrain_best: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self.wall_s = 0.0
        #: The current phase's DistributedDataParallel wrapper (None for a single process and
        #: before the phase's first step).
        self.ddp: torch.nn.parallel.DistributedDataParallel | None = None

    # -- data -------------------------------------------------------------------------------------
    def _validation(self, phase: str) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, indices) of the phase's validation split."""
        d = self.data
        return (d.pretrain, d.pretrain_val) if phase == "pretrain" else (d.inputs, d.val)

    def train_set(self) -> TrainSet:
        """The current epoch's training samples (asked from :attr:`epochs_from` once per
        epoch)."""
        key = (self.phase, self.epoch)
        if self._epoch_set is None or self._epoch_set[:2] != key:
            self._epoch_set = (*key, self.epochs_from.train_set(*key))
        return self._epoch_set[2]

    def _train_size(self, phase: str) -> int:
        if phase not in self._train_sizes:
            if phase == self.phase:
                self._train_sizes[phase] = len(self.train_set().indices)
            else:
                self._train_sizes[phase] = len(self.epochs_from.train_set(phase, 0).indices)
        return self._train_sizes[phase]

    def steps_per_epoch(self, phase: str) -> int:
        n = self._train_size(phase) // self.dist.world_size
        bs = self.config.train.batch_size
        full, rest = divmod(n, bs)
        return full + (1 if rest >= 2 else 0)  # a batch of one breaks BatchNorm / NT-Xent

    @property
    def total_steps(self) -> int:
        t = self.config.train
        pre = t.pretrain_epochs * self.steps_per_epoch("pretrain") \
            if (t.pretrains and self.pretrained_from is None) else 0
        return pre + t.epochs * self.steps_per_epoch("main")

    def _phase_epochs(self, phase: str) -> int:
        t = self.config.train
        return t.pretrain_epochs if phase == "pretrain" else t.epochs

    def _epoch_batches(self) -> list[np.ndarray]:
        ws, rank = self.dist.world_size, self.dist.rank
        n = len(self._perm) // ws
        shard = self._perm[rank * n:(rank + 1) * n]
        bs = self.config.train.batch_size
        return [b for b in (shard[i:i + bs] for i in range(0, n, bs)) if len(b) >= 2]

    # -- steps ------------------------------------------------------------------------------------
    def _tensor(self, arr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).to(self.device)

    def _pretrain_loss(self, x: torch.Tensor, generator: torch.Generator,
                       net: torch.nn.Module | None = None) -> torch.Tensor:
        v1, v2 = two_views(x, self.config.augment, generator=generator)
        z = (self.contrastive if net is None else net)(torch.cat([v1, v2], dim=0))
        z1, z2 = z.chunk(2, dim=0)
        return nt_xent(z1, z2, self.config.train.temperature)

    def _main_loss(self, x: torch.Tensor, y: torch.Tensor,
                   net: torch.nn.Module | None = None) -> torch.Tensor:
        out = (self.model if net is None else net)(x)
        if self.config.train.loss == "mse":
            return F.mse_loss(out, y)
        dims = tuple(range(1, y.dim()))
        power = y.pow(2).mean(dim=dims).clamp_min(1e-12)
        return ((out - y).pow(2).mean(dim=dims) / power).mean()

    def _set_lr(self, opt: torch.optim.Optimizer) -> None:
        """Learning rate of the next step: constant, or cosine decay over the phase's steps."""
        t = self.config.train
        lr = t.lr
        if t.lr_schedule == "cosine":
            per_epoch = self.steps_per_epoch(self.phase)
            total = max(1, self._phase_epochs(self.phase) * per_epoch)
            done = min(total, self.epoch * per_epoch + self._batch_pos)
            lr = 0.5 * t.lr * (1.0 + math.cos(math.pi * done / total))
        for group in opt.param_groups:
            group["lr"] = lr

    def _trained(self) -> torch.nn.Module:
        """The module trained in the current phase, in DDP under torchrun (one wrapper per phase).

        The wrapper is built (collectively, copying rank 0's weights to every rank) at the
        phase's first step; the previous phase's wrapper is dropped first.
        """
        module = self.contrastive if self.phase == "pretrain" else self.model
        if not self.dist.enabled:
            return module
        if self.ddp is None or self.ddp.module is not module:
            self.ddp = None
            self.ddp = data_parallel(module, self.dist)
        return self.ddp

    def train_step(self, batch: np.ndarray) -> float:
        """One optimisation step of the current phase on the sample indices ``batch``."""
        current = self.train_set()
        x = self._tensor(current.inputs[batch])
        step = self.step + 1
        net = self._trained()
        net.train()
        if self.phase == "pretrain":
            loss = self._pretrain_loss(x, self._aug, net)
            opt = self.opt_pre
        else:
            loss = self._main_loss(x, self._tensor(current.targets[batch]), net)
            opt = self.opt_main
        value = float(loss.detach())
        self.check_losses({f"{self.phase}_loss": value})
        self._set_lr(opt)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # under torchrun DDP averages the gradients here
        opt.step()
        self.step = step
        return value

    @torch.no_grad()
    def validate(self) -> float:
        """Mean loss of the current phase over the validation split (eval mode).

        The pretraining validation uses augmentations from a fixed seed, so its values are
        comparable between epochs.
        """
        arrays, val = self._validation(self.phase)
        bs = max(2, self.config.train.batch_size)
        total, count = 0.0, 0
        gen = torch.Generator().manual_seed(self.config.train.seed + 999)
        self.model.eval()
        self.contrastive.eval()
        for i in range(0, len(val), bs):
            idx = val[i:i + bs]
            if len(idx) < 2 and self.phase == "pretrain":
                continue
            x = self._tensor(arrays[idx])
            if self.phase == "pretrain":
                loss = self._pretrain_loss(x, gen)
            else:
                loss = self._main_loss(x, self._tensor(self.data.targets[idx]))
            total += float(loss) * len(idx)
            count += len(idx)
        return total / max(1, count)

    def _phase_state(self) -> dict[str, Any]:
        if self.phase == "pretrain":
            return {"encoder": _cpu_state(self.model.encoder),
                    "projector": _cpu_state(self.contrastive.projector)}
        return {"encoder": _cpu_state(self.model.encoder), "head": _cpu_state(self.model.head)}

    def _restore_best(self) -> None:
        if self._best_state is None:
            return
        self.model.encoder.load_state_dict(self._best_state["encoder"])
        if "projector" in self._best_state:
            self.contrastive.projector.load_state_dict(self._best_state["projector"])
        if "head" in self._best_state:
            self.model.head.load_state_dict(self._best_state["head"])

    # -- the loop ---------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.phase == "done"

    def preview(self) -> np.ndarray | None:
        """Reconstruction of the first validation sample (ny, nx), or None for recovery."""
        if self.data.task != "reconstruction" or not len(self.data.val):
            return None
        self.model.eval()
        with torch.no_grad():
            x = self._tensor(self.data.inputs[self.data.val[:1]])
            return self.model(x)[0].float().cpu().numpy()

    def run(self) -> Iterator[TrainingReport]:
        """Train both phases to the end (or a stop request), yielding progress reports."""
        t = self.config.train
        t0 = self._start_clock()
        wall0 = self.wall_s
        total = self.total_steps
        start = "pretraining with NT-Xent" if self.phase == "pretrain" else (
            f"training the {t.task} task" + (" (encoder pretrained)" if t.setting == "cl" else ""))
        yield TrainingReport(step=self.step, epoch=self._global_epoch(), total_steps=total,
                             message=f"{t.task} / {t.setting}: {start} on "
                                     f"{devmod.describe_device(self.device)}")
        while self.phase != "done":
            if self.epoch >= self._phase_epochs(self.phase):
                self._end_phase()
                if self.phase != "done":
                    yield TrainingReport(step=self.step, epoch=self._global_epoch(),
                                         total_steps=total, elapsed_s=time.perf_counter() - t0,
                                         message="pretraining done (best epoch "
                                                 f"{self.pretrain_best.get('epoch')}); training "
                                                 f"the {t.task} task")
                continue
            if self._perm is None:
                self._perm = self._rng.permutation(self.train_set().indices)
                self._batch_pos = 0
                self._loss_sum, self._loss_n = 0.0, 0
            batches = self._epoch_batches()
            while self._batch_pos < len(batches):
                loss = self.train_step(batches[self._batch_pos])
                self._batch_pos += 1
                self._loss_sum += loss
                self._loss_n += 1
                if self.stop_due():
                    written = self._save_if(True, t0, wall0)
                    yield TrainingReport(step=self.step, epoch=self._global_epoch(),
                                         total_steps=total, losses={"train": loss},
                                         elapsed_s=time.perf_counter() - t0,
                                         message=self.stop_message()
                                         + (f"; checkpoint {written}" if written else ""),
                                         checkpoint=written)
                    return
                # (a checkpoint due at an epoch's last step is written after the epoch's end)
                written = self._save_if(self._batch_pos < len(batches) and self.checkpoint_due(
                    False, t.checkpoint_every), t0, wall0)
                if written or (self.step % t.report_every == 0
                               and self._batch_pos < len(batches)):
                    yield TrainingReport(step=self.step, epoch=self._global_epoch(),
                                         total_steps=total, losses={"train": loss},
                                         elapsed_s=time.perf_counter() - t0,
                                         message=f"checkpoint {written}" if written else "",
                                         checkpoint=written)
            # epoch end
            train_loss = all_reduce_mean(self._loss_sum / max(1, self._loss_n), self.dist)
            # Ranks differ only in BatchNorm running statistics (each updated its own since DDP's
            # last copy from rank 0); the mean makes them all pick the same best epoch.
            val = all_reduce_mean(self.validate(), self.dist)
            self.epoch += 1
            self._perm = None
            improved = val < self.best_val
            if improved:
                self.best_val, self.best_epoch = val, self.epoch
                self._best_state = self._phase_state()
            self.history.append({"phase": self.phase, "epoch": self.epoch, "step": self.step,
                                 "train": train_loss, "val": val})
            n_epochs = self._phase_epochs(self.phase)
            best_val, best_epoch = self.best_val, self.best_epoch
            last_epoch = self.epoch >= n_epochs
            if last_epoch:
                self._end_phase()
            written = self._save_if(self.checkpoint_due(self.phase == "done",
                                                        t.checkpoint_every), t0, wall0)
            label = self.history[-1]["phase"]
            msg = f"{label} epoch {self.history[-1]['epoch']}/{n_epochs}" + (
                " (best)" if improved else "")
            if self.phase == "done":
                msg += f"; finished, best epoch {best_epoch} (val {best_val:.4g})"
            if written:
                msg += f"; checkpoint {written}"
            yield TrainingReport(
                step=self.step, epoch=self._global_epoch(), total_steps=total,
                losses={"train": train_loss, "val": val, "best_val": best_val},
                preview=self.preview() if label == "main" else None,
                elapsed_s=time.perf_counter() - t0, message=msg, checkpoint=written)
        self.wall_s = wall0 + time.perf_counter() - t0

    def _global_epoch(self) -> float:
        frac = self._batch_pos / max(1, self.steps_per_epoch(self.phase)) \
            if self._perm is not None else 0.0
        if self.phase == "done":
            return float(self.config.train.epochs)
        return self.epoch + frac

    def _end_phase(self) -> None:
        """Restore the best epoch of the phase that just ended and move to the next one."""
        self._restore_best()
        if self.phase == "pretrain":
            self.pretrain_best = {"epoch": self.best_epoch, "val": self.best_val}
            self.phase = "main"
        else:
            self.phase = "done"
            return
        self.epoch = 0
        self._perm = None
        self.best_val, self.best_epoch, self._best_state = math.inf, 0, None

    # -- persistence ------------------------------------------------------------------------------
    def _save_if(self, due: bool, t0: float, wall0: float) -> str | None:
        if not due or self.checkpoint_dir is None:
            return None
        self.wall_s = wall0 + time.perf_counter() - t0
        return str(self.save_checkpoint())

    def checkpoint_name(self) -> str:
        t = self.config.train
        return checkpoint_name(t.task, t.setting)

    def checkpoint_state(self) -> dict[str, Any]:
        extra = {
            "phase": self.phase, "epoch": self.epoch, "batch_pos": self._batch_pos,
            "perm": None if self._perm is None else torch.from_numpy(self._perm.copy()),
            "loss_sum": self._loss_sum, "loss_n": self._loss_n,
            "best_val": self.best_val, "best_epoch": self.best_epoch,
            "best_state": self._best_state, "pretrain_best": dict(self.pretrain_best),
            "history": json.dumps(self.history),
            "numpy_rng": json.dumps(self._rng.bit_generator.state),
            "aug_rng": self._aug.get_state(), "wall_s": self.wall_s,
            "pretrained_from": self.pretrained_from, "data_info": json.dumps(self.data.info),
        }
        return {"config": self.config.to_dict(),
                "models": {"encoder": self.model.encoder, "head": self.model.head,
                           "projector": self.contrastive.projector},
                "optimizers": {"pretrain": self.opt_pre, "main": self.opt_main},
                "extra": extra}

    def resume(self, path: str | os.PathLike) -> int:
        """Continue a run from its checkpoint; returns the step reached.

        The configuration must match except ``epochs``, ``pretrain_epochs``,
        ``checkpoint_every``, ``report_every`` and ``device`` (so a run can be extended).
        """
        payload = self.load_checkpoint(path)
        saved = RunConfig.from_dict(payload["config"]).to_dict()
        mine = self.config.to_dict()
        diffs = config_differences(saved, mine, {f"train.{k}" for k in _FREE_TRAIN_KEYS})
        if diffs:
            raise ckpt.CheckpointError(
                f"checkpoint {str(path)!r} was made with other settings for {diffs}: "
                + ", ".join(f"{d}={saved[d.split('.')[0]][d.split('.')[1]]!r}" for d in diffs))
        state = self.checkpoint_state()
        self.restore_state(payload, path, models=state["models"],
                           optimizers=state["optimizers"])
        try:
            e = payload["extra"]
            self.phase, self.epoch = str(e["phase"]), int(e["epoch"])
            self._batch_pos = int(e["batch_pos"])
            self._perm = None if e["perm"] is None else e["perm"].numpy().astype(np.int64)
            self._loss_sum, self._loss_n = float(e["loss_sum"]), int(e["loss_n"])
            self.best_val, self.best_epoch = float(e["best_val"]), int(e["best_epoch"])
            self._best_state = e["best_state"]
            self.pretrain_best = dict(e["pretrain_best"])
            self.history = json.loads(e["history"])
            self._rng.bit_generator.state = json.loads(e["numpy_rng"])
            self._aug.set_state(e["aug_rng"])
            self.wall_s = float(e.get("wall_s", 0.0))
            self.pretrained_from = e.get("pretrained_from")
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise ckpt.CheckpointError(
                f"checkpoint {str(path)!r} has an incomplete training state: {exc}") from exc
        if self.phase == "done" and self.epoch < self.config.train.epochs:
            self.phase = "main"  # extended run: continue the main phase
        return self.step

    def _load_pretrained(self, path: str | os.PathLike) -> None:
        payload = read_weights_payload(path)
        models = payload.get("models") if isinstance(payload, dict) else None
        if models is None and isinstance(payload, dict) and "state_dict" in payload:
            sd = payload["state_dict"]
            models = {"encoder": {k[len("encoder."):]: v for k, v in sd.items()
                                  if k.startswith("encoder.")}}
            if payload.get("projector"):
                models["projector"] = payload["projector"]
        if not models or "encoder" not in models:
            raise ckpt.CheckpointError(f"{str(path)!r} holds no encoder weights")
        ckpt.load_state_dict_checked(self.model.encoder, models["encoder"], name="encoder",
                                     source=str(path))
        if models.get("projector"):
            ckpt.load_state_dict_checked(self.contrastive.projector, models["projector"],
                                         name="projector", source=str(path))
        self.pretrained_from = str(path)

    def _write_weights(self, path: Path, *, info: dict[str, Any] | None, half: bool) -> Path:
        """The (best) task model for inference (see :mod:`napari_mpi_dl.contrastive.weights`)."""
        model = self.model
        if self.phase == "main" and self._best_state is not None:
            # Stopped mid-phase: the live weights are the last step's, not the best epoch's.
            model = copy.deepcopy(self.model)
            model.encoder.load_state_dict(self._best_state["encoder"])
            model.head.load_state_dict(self._best_state["head"])
        meta = {"best_epoch": self.best_epoch, "best_val": self.best_val,
                "pretrain_best": self.pretrain_best, "steps": self.step,
                "history": self.history, "train_wall_s": self.wall_s,
                "pretrained_from": self.pretrained_from, **(info or {})}
        return save_task_weights(path, model, self.config, self.data.info, info=meta,
                                 half=half)
