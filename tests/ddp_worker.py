"""Run by tests/test_ddp.py under ``torchrun --nproc_per_node=2``: a few DC_GAN steps with gloo.

Each rank writes ``rank<r>.json`` with its parameter checksums (all and per network), step, data
draws and which networks are wrapped in ``DistributedDataParallel`` (and around which modules).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).parent))

from dcgan_helpers import tiny_domains, tiny_model_config, tiny_train_config  # noqa: E402

from napari_mpi_dl.dcgan.train import DCGANTrainer  # noqa: E402
from napari_mpi_dl.training import distributed  # noqa: E402


def main(out: str) -> None:
    torch.set_num_threads(1)
    ctx = distributed.init_from_env("cpu")
    try:
        trainer = DCGANTrainer(tiny_domains(), tiny_model_config(),
                               tiny_train_config(steps=3, checkpoint_every=2), dist=ctx,
                               checkpoint_dir=Path(out) / "ckpt")
        reports = [r for r in trainer.run() if r.losses]
        first_batch = trainer.sampler.domains.x.sum()  # same data on every rank
        params = torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()])
        m = trainer.model
        nets = {name: getattr(m, name) for name in ("G", "F", "D_X", "D_Y", "H_X", "H_Y")}
        # The gradient averaging is DDP's: each network has its own wrapper around the model's
        # own module (the generators behind GeneratorPaths, which routes G.encode via forward).
        ddp = sorted(name for name, w in trainer.ddp.items()
                     if isinstance(w, DistributedDataParallel)
                     and (w.module.generator if name in ("G", "F") else w.module) is nets[name])
        per_net = {name: float(sum(p.detach().double().abs().sum() for p in net.parameters()))
                   for name, net in nets.items()}
        record = {"rank": ctx.rank, "world_size": ctx.world_size, "backend": ctx.backend,
                  "step": trainer.step, "checksum": float(params.double().sum()),
                  "abs_checksum": float(params.double().abs().sum()), "per_net": per_net,
                  "ddp": ddp, "losses": reports[-1].losses, "data": float(first_batch)}
        (Path(out) / f"rank{ctx.rank}.json").write_text(json.dumps(record))
    finally:
        distributed.cleanup()


if __name__ == "__main__":
    main(sys.argv[1])
