"""Run by tests/test_contrastive_train.py under ``torchrun --nproc_per_node=2`` (gloo on CPU)."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).parent))

from contrastive_helpers import small_sm, tiny_config  # noqa: E402

from napari_mpi_dl.contrastive.data import build_task_data, signals_from_system_matrix  # noqa: E402
from napari_mpi_dl.contrastive.train import ContrastiveTrainer  # noqa: E402
from napari_mpi_dl.training.distributed import cleanup, init_from_env  # noqa: E402

torch.set_num_threads(1)
ctx = init_from_env("cpu")
ss = signals_from_system_matrix(small_sm(), channels=(0, 1))
cfg = tiny_config("recovery", setting="cl", epochs=2, pretrain_epochs=1)
tr = ContrastiveTrainer(build_task_data(ss, "recovery", cfg.data), cfg,
                        checkpoint_dir=sys.argv[1], dist=ctx)
wrapped = set()  # the phases whose module was trained through DistributedDataParallel
for _ in tr.run():
    if isinstance(tr.ddp, DistributedDataParallel):
        wrapped.add("pretrain" if tr.ddp.module is tr.contrastive else
                    "main" if tr.ddp.module is tr.model else "other")
w = tr.model.encoder.net[0].weight.detach().clone()
mean = w.clone()
dist.all_reduce(mean)
print(f"rank={ctx.rank} world={ctx.world_size} steps={tr.step} "
      f"equal={torch.allclose(mean / ctx.world_size, w)} ddp=[{'+'.join(sorted(wrapped))}]",
      flush=True)
del tr  # release the DDP wrappers before the process group goes
cleanup()
