"""DC_GAN training: a resumable, data-parallel-aware loop that yields progress reports.

:class:`DCGANTrainer` owns the model, the optimisers, the learning-rate schedules and the data
sampler. :meth:`DCGANTrainer.run` is a generator of
:class:`~napari_mpi_dl.training.reports.TrainingReport`: the CLI renders them with tqdm, the
napari dock with a progress bar, loss curves and a preview layer. Stopping:

* a consumer may simply stop iterating (napari's ``worker.quit()``): the checkpoint written last
  stays on disk (checkpoints are atomic);
* :meth:`DCGANTrainer.request_stop` (thread-safe) ends the loop after the current step, writes a
  checkpoint and yields a final report;
* Ctrl-C in the CLI leaves the last checkpoint intact.

One step = one discriminator update (D_X, D_Y) then one generator update (G, F, H_X, H_Y), each
with its own Adam optimiser; the learning rates decay linearly to 0 after ``decay_start``.

Under ``torchrun`` (world size > 1) each network G, F, D_X, D_Y, H_X, H_Y is wrapped in its own
:class:`~torch.nn.parallel.DistributedDataParallel` (``find_unused_parameters=False``), which
averages its gradients during ``backward()``:

* every call of a trained network goes through its DDP wrapper's ``forward``, including a
  generator's encoder path for PatchNCE (``G.encode(x, layers)`` is ``ddp(x, layers)``, see
  :class:`GeneratorPaths`); a generator is called several times (on x, on y for the identity loss,
  through its encoder) before the one backward of the generator update, which DDP allows;
* in the generator update the discriminators are frozen (``requires_grad=False`` on every rank)
  and called as plain modules: they get no gradient there, so there is nothing to reduce;
* the projection heads are wrapped only when the contrastive loss is on (otherwise they never get
  a gradient and are not trained).

Checkpoints hold the plain networks' state dicts (the same file format as a single-process run).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from napari_mpi_dl.dcgan.config import ModelConfig, TrainConfig
from napari_mpi_dl.dcgan.data import Domains, UnpairedSampler
from napari_mpi_dl.dcgan.model import DCGAN
from napari_mpi_dl.dcgan.weights import CHECKPOINT_KIND, save_generator_weights
from napari_mpi_dl.training import checkpoint as ckpt
from napari_mpi_dl.training import device as devmod
from napari_mpi_dl.training.distributed import DistributedContext, all_reduce_mean, data_parallel
from napari_mpi_dl.training.reports import TrainingReport
from napari_mpi_dl.training.trainer import Trainer, config_differences

LAST_CHECKPOINT = "dcgan_last.pt"


def _set_requires_grad(modules, flag: bool) -> None:
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(flag)


class GeneratorPaths(nn.Module):
    """A generator's two entry points behind one ``forward``, so that DDP sees every call.

    ``forward(x)`` is ``generator(x)``; ``forward(x, layers)`` is ``generator.encode(x, layers)``
    (the encoder features used by PatchNCE). Holds no parameters of its own.
    """

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor, layers: tuple[int, ...] | None = None):
        if layers is None:
            return self.generator(x)
        return self.generator.encode(x, layers)


class GeneratorDDP(DistributedDataParallel):
    """DDP over :class:`GeneratorPaths`, with the generator's interface (call and ``encode``)."""

    def encode(self, x: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        return self(x, layers)


class _Routed:
    """DC_GAN's loss code (the methods of :class:`~napari_mpi_dl.dcgan.model.DCGAN`) run with
    some networks replaced by their DDP wrappers; the others are the model's plain modules."""

    NETWORKS = ("G", "F", "D_X", "D_Y", "H_X", "H_Y")
    generate = DCGAN.generate
    discriminator_loss = DCGAN.discriminator_loss
    generator_loss = DCGAN.generator_loss
    _nce = DCGAN._nce

    def __init__(self, model: DCGAN, nets: dict[str, nn.Module]) -> None:
        self.config = model.config
        self.nce = model.nce
        for name in self.NETWORKS:
            setattr(self, name, nets.get(name, getattr(model, name)))


class DCGANTrainer(Trainer):
    """Train DC_GAN on unpaired domains ; the shared shell is
    :class:`~napari_mpi_dl.training.trainer.Trainer`.

    Parameters
    ----------
    domains : Domains
        Normalised X and Y images (see :mod:`napari_mpi_dl.dcgan.data`).
    model_config : ModelConfig, optional
        Architecture and losses (defaults documented in :mod:`napari_mpi_dl.dcgan.config`).
    train_config : TrainConfig, optional
        Optimisation settings.
    checkpoint_dir : path-like, optional
        Where ``dcgan_last.pt`` is written (every ``checkpoint_every`` steps and at the end);
        None writes no checkpoints.
    dist : DistributedContext, optional
        Data-parallel context from :func:`napari_mpi_dl.training.distributed.init_from_env`.
    """

    def __init__(
        self,
        domains: Domains,
        model_config: ModelConfig | None = None,
        train_config: TrainConfig | None = None,
        *,
        checkpoint_dir: str | os.PathLike | None = None,
        dist: DistributedContext | None = None,
    ) -> None:
        self.domains = domains
        self.model_config = model_config or ModelConfig()
        self.config = c = train_config or TrainConfig()
        super().__init__(kind=CHECKPOINT_KIND, device=c.device, seed=c.seed,
                         checkpoint_dir=checkpoint_dir, dist=dist)
        self.amp = devmod.amp_enabled(self.device, c.amp)
        self.model = DCGAN(self.model_config).to(self.device)
        #: The DDP wrappers by network name (empty for a single process); building them copies
        #: rank 0's weights to every rank.
        self.ddp: dict[str, DistributedDataParallel] = {}
        # What the discriminator update and the generator update (and the fakes) call.
        self._d_nets: DCGAN | _Routed = self.model
        self._g_nets: DCGAN | _Routed = self.model
        if self.dist.enabled:
            m = self.model
            for name in ("G", "F"):
                self.ddp[name] = data_parallel(GeneratorPaths(getattr(m, name)), self.dist,
                                               wrapper=GeneratorDDP)
            heads = ("H_X", "H_Y") if self.model_config.weights.con > 0 else ()
            for name in ("D_X", "D_Y", *heads):
                self.ddp[name] = data_parallel(getattr(m, name), self.dist)
            self._d_nets = _Routed(m, {k: self.ddp[k] for k in ("D_X", "D_Y")})
            self._g_nets = _Routed(m, {k: v for k, v in self.ddp.items()
                                       if k not in ("D_X", "D_Y")})
        gen_params = [p for m in self.model.generator_modules() for p in m.parameters()]
        dis_params = [p for m in self.model.discriminator_modules() for p in m.parameters()]
        self.opt_g = torch.optim.Adam(gen_params, lr=c.lr, betas=c.betas)
        self.opt_d = torch.optim.Adam(dis_params, lr=c.lr, betas=c.betas)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, self._lr_factor)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, self._lr_factor)
        self.scaler_g = devmod.grad_scaler(self.device, self.amp)
        self.scaler_d = devmod.grad_scaler(self.device, self.amp)
        self.sampler = UnpairedSampler(
            domains, batch_size=c.batch_size, crop_size=c.crop_size, flips=c.flips,
            rot90=c.rot90, seed=c.seed, rank=self.dist.rank,
        )
        self.history: list[dict[str, float]] = []
        self._preview_input = torch.from_numpy(domains.x[:1, None].copy())

    # -- schedule ------------------------------------------------------------------------------
    def _lr_factor(self, step: int) -> float:
        total = self.config.steps
        start = int(self.config.decay_start * total)
        if step < start or total <= start:
            return 1.0
        return max(0.0, (total - step) / (total - start))

    # -- one step ------------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        """One discriminator and one generator update; returns this step's losses."""
        m = self.model
        m.train()
        xb, yb = self.sampler.sample()
        x = torch.from_numpy(xb).to(self.device)
        y = torch.from_numpy(yb).to(self.device)
        step = self.step + 1

        with devmod.autocast(self.device, self.amp):
            fakes = self._g_nets.generate(x, y)
        # Discriminators.
        _set_requires_grad(m.discriminator_modules(), True)
        self.opt_d.zero_grad(set_to_none=True)
        with devmod.autocast(self.device, self.amp):
            loss_d, parts_d = self._d_nets.discriminator_loss(x, y, fakes)
        self.check_losses(parts_d)
        self.scaler_d.scale(loss_d).backward()  # DDP averages D_X's and D_Y's gradients here
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        # Generators and heads (discriminators frozen).
        _set_requires_grad(m.discriminator_modules(), False)
        self.opt_g.zero_grad(set_to_none=True)
        with devmod.autocast(self.device, self.amp):
            loss_g, parts_g = self._g_nets.generator_loss(x, y, fakes)
        self.check_losses(parts_g)
        self.scaler_g.scale(loss_g).backward()  # ... and G's, F's, H_X's, H_Y's here
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        _set_requires_grad(m.discriminator_modules(), True)
        self.sched_g.step()
        self.sched_d.step()
        self.step = step
        losses = {**parts_g, **parts_d}
        self.history.append({"step": step, **losses})
        return losses

    # -- the loop ------------------------------------------------------------------------------
    @property
    def epoch(self) -> float:
        n = self.config.batch_size * self.dist.world_size * self.step
        return n / max(1, min(len(self.domains.x), len(self.domains.y)))

    def preview(self) -> np.ndarray:
        """G applied to the first X image, in [0, 1] (normalised units), as float32 (h, w)."""
        self.model.G.eval()
        with torch.no_grad():
            out = self.model.G(self._preview_input.to(self.device)).float().cpu().numpy()[0, 0]
        self.model.G.train()
        return ((out + 1.0) * 0.5).astype(np.float32)

    def run(self) -> Iterator[TrainingReport]:
        """Train until ``config.steps`` (or a stop request), yielding progress reports.

        A report is yielded every ``report_every`` steps, when a checkpoint is written, and at the
        end; every ``preview_every`` steps (and at the end) it carries a preview image.
        """
        c = self.config
        t0 = self._start_clock()
        yield TrainingReport(step=self.step, epoch=self.epoch, total_steps=c.steps,
                             message=f"training on {devmod.describe_device(self.device)}"
                                     + (" with mixed precision" if self.amp else ""))
        while self.step < c.steps:
            losses = self.train_step()
            stopping = self.stop_due()
            last = self.step >= c.steps or stopping
            written = None
            if self.checkpoint_due(last, c.checkpoint_every):
                written = str(self.save_checkpoint())
            if last or written or self.step % c.report_every == 0:
                if self.dist.enabled:
                    losses = {k: all_reduce_mean(v, self.dist) for k, v in losses.items()}
                want_preview = last or (c.preview_every and self.step % c.preview_every == 0)
                msg = self.stop_message() if stopping else ("finished" if last else "")
                if written:
                    msg = (msg + "; " if msg else "") + f"checkpoint {written}"
                yield TrainingReport(
                    step=self.step, epoch=self.epoch, total_steps=c.steps, losses=losses,
                    preview=self.preview() if want_preview else None,
                    elapsed_s=time.perf_counter() - t0, message=msg, checkpoint=written,
                )
            if stopping:
                break

    # -- persistence -----------------------------------------------------------------------------
    def state_config(self) -> dict[str, Any]:
        return {"model": self.model_config.to_dict(), "train": self.config.to_dict(),
                "data": {k: v for k, v in self.domains.info.items() if k != "mnist_indices"}}

    def checkpoint_name(self) -> str:
        return LAST_CHECKPOINT

    def checkpoint_state(self) -> dict[str, Any]:
        m = self.model
        return {"config": self.state_config(),
                "models": {"G": m.G, "F": m.F, "D_X": m.D_X, "D_Y": m.D_Y, "H_X": m.H_X,
                           "H_Y": m.H_Y},
                "optimizers": {"G": self.opt_g, "D": self.opt_d},
                "schedulers": {"G": self.sched_g, "D": self.sched_d},
                "scalers": {"G": self.scaler_g, "D": self.scaler_d},
                "extra": {"sampler": self.sampler.state_dict()}}

    def resume(self, path: str | os.PathLike) -> int:
        """Load a checkpoint of the same model configuration; returns the step reached.

        The training configuration may differ only in ``steps``, ``checkpoint_every``,
        ``report_every``, ``preview_every`` and ``device`` (e.g. to extend a run).
        """
        payload = self.load_checkpoint(path)
        saved = payload["config"].get("model")
        if saved != self.model_config.to_dict():
            raise ckpt.CheckpointError(
                f"checkpoint {str(path)!r} was trained with model configuration {saved}, "
                f"not {self.model_config.to_dict()}"
            )
        saved_train = dict(payload["config"].get("train", {}))
        mine = self.config.to_dict()
        free = {"steps", "checkpoint_every", "report_every", "preview_every", "device", "amp"}
        diff = sorted(config_differences(saved_train, mine, free))
        if diff:
            raise ckpt.CheckpointError(
                f"checkpoint {str(path)!r} used other training settings for {diff}: "
                + ", ".join(f"{k}={saved_train.get(k)!r} (now {mine[k]!r})" for k in diff)
            )
        state = self.checkpoint_state()
        self.restore_state(payload, path, models=state["models"],
                           optimizers=state["optimizers"], schedulers=state["schedulers"],
                           scalers=state["scalers"])
        if self.dist.world_size == 1 or self.dist.is_main:
            try:
                self.sampler.load_state_dict(payload["extra"]["sampler"])
            except (KeyError, ValueError, RuntimeError) as exc:
                raise ckpt.CheckpointError(
                    f"checkpoint {str(path)!r} has an incomplete training state: {exc}"
                ) from exc
        return self.step

    def _write_weights(self, path: Path, *, info: dict[str, Any] | None, half: bool,
                       card=None) -> Path:
        """The deblurring generator G alone (see :mod:`napari_mpi_dl.dcgan.weights`); ``card``:
        the model card written into the file (default: the one ``info`` implies)."""
        return save_generator_weights(path, self.model.G, self.model_config, step=self.step,
                                      info=info, half=half, card=card)
