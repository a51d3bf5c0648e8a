"""Benchmark DC_GAN: inference of the shipped model and training steps per second.

* Inference: median wall time of :func:`napari_mpi_dl.dcgan.inference.deblur` on one 101 x 101
  native image (normalisation + generator + de-normalisation), and per image in a batch of 16.
  Goal (issue 4): median under 20 ms on the CPU with 2 threads.
* Training: steps per second of the shipped configuration (ngf 16, 4 blocks, ndf 32, whole
  101 x 101 images, batch 1: one D and one G update per step) on the CPU, and on CUDA if
  available.

    python benchmarks/bench_dcgan.py                       # 2 threads
    python benchmarks/bench_dcgan.py --threads 1 --train-steps 30
    python benchmarks/bench_dcgan.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np


def bench_inference(threads: int, repeats: int, device: str = "cpu",
                    weights: str | None = None) -> dict:
    import torch

    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
    from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
    from napari_mpi_dl.physics.native import simulate_native

    torch.set_num_threads(threads)
    model = load_deblurrer(weights, device=device)
    image = simulate_native(two_tube_phantom(gap_mm=1.8))
    batch = np.stack([image] * 16)
    for _ in range(5):
        deblur(image, model)
    single = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        deblur(image, model)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        single.append(time.perf_counter() - t0)
    batched = []
    for _ in range(max(3, repeats // 10)):
        t0 = time.perf_counter()
        deblur(batch, model, batch_size=16)
        batched.append(time.perf_counter() - t0)
    return {"device": device, "threads": threads,
            "single_median_ms": 1000 * statistics.median(single),
            "single_p90_ms": 1000 * float(np.percentile(single, 90)),
            "batch16_median_ms": 1000 * statistics.median(batched),
            "batch16_per_image_ms": 1000 * statistics.median(batched) / 16}


def bench_training(threads: int, steps: int, device: str = "cpu") -> dict:
    import torch

    from napari_mpi_dl.dcgan.config import ModelConfig, TrainConfig
    from napari_mpi_dl.dcgan.data import Domains
    from napari_mpi_dl.dcgan.train import DCGANTrainer

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    domains = Domains.from_arrays(rng.random((16, 101, 101)), rng.random((16, 101, 101)))
    trainer = DCGANTrainer(domains, ModelConfig(), TrainConfig(
        steps=steps + 3, crop_size=None, batch_size=1, device=device, checkpoint_every=0))
    for _ in range(3):
        trainer.train_step()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"device": device, "threads": threads, "steps": steps, "amp": trainer.amp,
            "steps_per_s": steps / dt, "s_per_step": dt / steps}


def main(argv=None) -> int:
    import os

    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--train-steps", type=int, default=50)
    p.add_argument("--json", default=None)
    p.add_argument("--weights", default=None, help="default: the shipped weights")
    p.add_argument("--skip-training", action="store_true")
    args = p.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results = {"torch": str(torch.__version__), "machine": platform.machine(),
               "cpu_count": os.cpu_count(), "load_average_1min": load, "runs": []}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        r = bench_inference(args.threads, args.repeats, dev, args.weights)
        print(f"inference {dev} ({args.threads} threads): one 101x101 image median "
              f"{r['single_median_ms']:.1f} ms (p90 {r['single_p90_ms']:.1f}); batch of 16 "
              f"{r['batch16_median_ms']:.1f} ms = {r['batch16_per_image_ms']:.2f} ms/image")
        results["runs"].append({"kind": "inference", **r})
        if args.skip_training:
            continue
        t = bench_training(args.threads, args.train_steps, dev)
        print(f"training {dev} ({args.threads} threads): {t['steps_per_s']:.2f} steps/s "
              f"({t['s_per_step'] * 1000:.0f} ms/step, amp={t['amp']})")
        results["runs"].append({"kind": "training", **t})
    print(f"1-min load average during the run: {load:.2f}")
    if args.json:
        from napari_mpi_dl.io.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
