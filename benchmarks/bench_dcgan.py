"""Benchmark DC_GAN: inference of the shipped model and training steps per second.

* Inference: median wall time of :func:`napari_mpi_dl.dcgan.inference.deblur` on one 101 x 101
  native image (normalisation + generator + de-normalisation), and per image in a batch of 16.
  Goal (issue 4): median under 20 ms on the CPU with 2 threads.
* Physically aware inference (model card check, scan-axis transposition, intensity-conserving
  resampling to the model's pixel size and back): median per 101 x 101 image of each route
  beside the plain one, timed round-robin in the same run; goal (issue 12): under 20 ms with
  2 threads, resampling included.
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


#: Physically aware routes timed against the plain one (same image, same run, interleaved):
#: name -> (pixel size (dy, dx) in mm, scan mode) of the 101 x 101 input.
PHYSICAL_ROUTES = {
    "card check only (0.198 mm, x-scan)": ((20 / 101, 20 / 101), "x"),
    "transposed (0.198 mm, y-scan)": ((20 / 101, 20 / 101), "y"),
    "resampled (0.25 mm -> 128 x 128 and back)": ((0.25, 0.25), "x"),
    "resampled + transposed (0.15 mm, y-scan)": ((0.15, 0.15), "y"),
}


def bench_physical(threads: int, repeats: int, device: str = "cpu",
                   weights: str | None = None) -> dict:
    """Median ms per 101 x 101 image: plain :func:`deblur` (the reference) and each physically
    aware route of :data:`PHYSICAL_ROUTES`, timed in turns in the same loop (a loaded machine
    slows all of them alike), with their ratios to the plain route."""
    import torch

    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
    from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
    from napari_mpi_dl.physics.native import simulate_native

    torch.set_num_threads(threads)
    model = load_deblurrer(weights, device=device)
    image = simulate_native(two_tube_phantom(gap_mm=1.8))
    from napari_mpi_dl.dcgan.resample import resample

    calls = {"plain": lambda: deblur(image, model)}
    for name, (pixel, scan) in PHYSICAL_ROUTES.items():
        calls[name] = (lambda p=pixel, m=scan: deblur(image, model, pixel_mm=p, scan_mode=m))
    model_px = (20 / 101, 20 / 101)
    # the resampling alone (there and back, without the generator) for the 0.25 mm route
    calls["resampling alone (0.25 mm -> 128 x 128 -> 101 x 101)"] = lambda: resample(
        resample(image, (0.25, 0.25), model_px), (101 * 0.25 / 128,) * 2, (0.25, 0.25),
        shape=image.shape)
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(5):
        for f in calls.values():
            f()
    # blocks of BLOCK consecutive calls per route, the routes taking turns: the load is shared
    # fairly, and no call pays for the previous call's different image size (switching sizes on
    # every call slowed 2-thread inference several times here, a cost a user deblurring one
    # kind of image never sees)
    block = 10
    for _ in range(max(1, repeats // block)):
        for name, f in calls.items():
            for _ in range(block):
                t0 = time.perf_counter()
                f()
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - t0)
    med = {k: 1000 * statistics.median(v) for k, v in times.items()}
    return {"device": device, "threads": threads, "repeats": repeats, "median_ms": med,
            "ratio_to_plain": {k: v / med["plain"] for k, v in med.items()}}


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
        ph = bench_physical(args.threads, args.repeats, dev, args.weights)
        for name, ms in ph["median_ms"].items():
            print(f"  101x101 {name}: median {ms:.1f} ms ({ph['ratio_to_plain'][name]:.2f} x "
                  "plain)")
        results["runs"].append({"kind": "inference_physical", **ph})
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
