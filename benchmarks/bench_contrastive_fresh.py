"""Training throughput with one fixed mixture draw (the old trainer) vs fresh mixtures every
epoch (the new one), side by side in one process.

    python benchmarks/bench_contrastive_fresh.py --threads 1 --epochs 3

For each task it builds the shipped models' data (simulated training SM of the independent pair;
recovery: 300 pair mixtures; reconstruction: 1500 mixtures, half single voxels, a quarter MNIST
digits), then trains the full-size model for ``--epochs`` main-task epochs (wo-CL) with
``fresh_mixtures`` False and True, alternating, ``--repeats`` times, and prints the median
steps/s of each and their ratio (new / old). The new trainer draws and mixes a new training
set at the start of every epoch; the ratio says what that costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--tasks", nargs="+", default=["recovery", "reconstruction"])
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from napari_mpi_dl.contrastive.config import DataConfig, RunConfig, TrainConfig
    from napari_mpi_dl.contrastive.data import build_task_data, simulated_signal_set
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    shipped = {"recovery": DataConfig(mixtures=300, recovery_mixtures=300),
               "reconstruction": DataConfig(mixtures=1500, p_single=0.5, p_blob=0.1,
                                            p_digit=0.25)}
    ss = simulated_signal_set("training", config=DataConfig(), seed=0)
    out = {"threads": args.threads, "epochs": args.epochs}
    for task in args.tasks:
        rates: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for fresh in (False, True):
                data_cfg = dataclasses.replace(shipped[task], fresh_mixtures=fresh)
                cfg = RunConfig(data=data_cfg, train=TrainConfig(
                    task=task, setting="wo-cl", epochs=args.epochs, device="cpu",
                    loss="relative", lr=3e-4, lr_schedule="cosine"))
                data = build_task_data(ss, task, data_cfg)
                tr = ContrastiveTrainer(data, cfg)
                t = time.perf_counter()
                for _ in tr.run():
                    pass
                rates[fresh].append(tr.step / (time.perf_counter() - t))
        old, new = statistics.median(rates[False]), statistics.median(rates[True])
        out[task] = {"fixed_steps_per_s": round(old, 3), "fresh_steps_per_s": round(new, 3),
                     "ratio_fresh_over_fixed": round(new / old, 3),
                     "steps_per_epoch": tr.steps_per_epoch("main")}
        print(f"{task}: fixed mixtures {old:.3f} steps/s, fresh mixtures {new:.3f} steps/s "
              f"(ratio {new / old:.2f}; medians of {args.repeats}, {args.epochs} epochs each)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
