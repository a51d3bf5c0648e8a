"""Step and inference times of the contrastive framework (CPU or CUDA).

    python benchmarks/bench_contrastive.py --threads 1 --device cpu

Prints the mean time of one Adam step (batch 32, forward + backward) for NT-Xent pretraining
(two views), recovery and reconstruction, and the inference time of the shipped models on one SM
(recovery: 10 x 19 given columns -> 19 x 19; reconstruction: 361 single-voxel inputs).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def _time(fn, repeat: int) -> float:
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from napari_mpi_dl.contrastive.augment import two_views
    from napari_mpi_dl.contrastive.config import ModelConfig
    from napari_mpi_dl.contrastive.data import SignalSet
    from napari_mpi_dl.contrastive.inference import (
        load_model,
        reconstruct_signals,
        recover_signal_set,
    )
    from napari_mpi_dl.contrastive.losses import nt_xent
    from napari_mpi_dl.contrastive.models import ContrastiveModel, TaskModel
    from napari_mpi_dl.training.device import choose_device, describe_device

    dev = choose_device(args.device)
    cfg = ModelConfig()
    x = torch.randn(32, 2, 1632, device=dev)
    out = {"device": describe_device(dev), "threads": torch.get_num_threads()}
    for task in ("recovery", "reconstruction"):
        m = TaskModel(task, cfg).to(dev)
        opt = torch.optim.Adam(m.parameters(), 1e-4)
        y = m(x).detach()

        def step(m=m, opt=opt, y=y):
            loss = (m(x) - y).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        out[f"{task}_step_s"] = _time(step, args.repeat)
    c = ContrastiveModel(TaskModel("recovery", cfg).encoder, cfg).to(dev)
    opt = torch.optim.Adam(c.parameters(), 1e-4)

    def pre_step():
        v1, v2 = two_views(x.cpu())
        z = c(torch.cat([v1, v2]).to(dev))
        loss = nt_xent(*z.chunk(2))
        opt.zero_grad()
        loss.backward()
        opt.step()

    out["pretrain_step_s"] = _time(pre_step, args.repeat)
    rec = load_model(task="recovery", setting="cl", device=str(dev))
    rng = np.random.default_rng(0)
    ss = SignalSet(rng.standard_normal((190, 2, 1632)).astype(np.float32) * 1e-10, (10, 19),
                   (4.0, 2.0), (-18.0, -18.0), 2.5e6, (0, 1), (80e3, 600e3))
    out["recover_one_sm_s"] = _time(lambda: recover_signal_set(rec, ss), args.repeat)
    con = load_model(task="reconstruction", setting="cl", device=str(dev))
    sig = rng.standard_normal((361, 2, 1632)).astype(np.float32) * 1e-10
    out["reconstruct_361_inputs_s"] = _time(lambda: reconstruct_signals(con, sig), args.repeat)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
