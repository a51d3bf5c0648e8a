"""DC_GAN training throughput: today's trainer beside candidate improvements, in one run.

Drives the trainer's public API (:class:`napari_mpi_dl.dcgan.train.DCGANTrainer`) with the
shipped architecture (ngf 16 / 4 blocks, ndf 32 / 3 layers, PatchNCE layers 0,2,3,5, 256
patches, LSGAN) on whole 101 x 101 images. Variants, timed round-robin (every repeat times each
variant once, so that load on a shared machine hits all alike):

* ``today``: batch 1, default (contiguous NCHW) memory format;
* ``batch4`` / ``batch8``: whole images batched (one update per step on 4 / 8 images);
  compare images per second, not steps;
* ``channels_last``: the six networks and the inputs in channels-last memory format;
* ``compile``: ``torch.compile`` of both generators (inductor, default mode; the compile time is
  reported separately and excluded from the steps);
* data: sampling a batch from precomputed domains (today) vs simulating a realistic native on
  the fly (:mod:`napari_mpi_dl.dcgan.realistic_data`, simulator cached) per image.

Reported: median seconds per step over the repeats, steps/s and images/s, ratios to ``today``;
also the process CPU time per step (all threads), which on a shared, loaded machine is the
steadier measure of the work a variant needs (wall time there mostly measures the other jobs).

    python benchmarks/bench_dcgan_throughput.py --threads 1 --steps 10 --repeats 5
    python benchmarks/bench_dcgan_throughput.py --threads 2 --variants today,batch4 --json r.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

VARIANTS = ("today", "batch4", "batch8", "channels_last", "compile")


def _domains(n: int = 32):
    from napari_mpi_dl.dcgan.data import Domains
    from napari_mpi_dl.phantoms.mnist import mnist_indices, mnist_phantoms
    from napari_mpi_dl.physics.native import simulate_native

    ph = mnist_phantoms(mnist_indices("train")[100 : 100 + 2 * n])
    x = simulate_native(ph[:n])
    return Domains.from_arrays(x, ph[n:], source="benchmark")


def _trainer(variant: str, domains, seed: int = 0):
    import torch

    from napari_mpi_dl.dcgan.config import (
        DiscriminatorConfig,
        GeneratorConfig,
        ModelConfig,
        NCEConfig,
        TrainConfig,
    )
    from napari_mpi_dl.dcgan.train import DCGANTrainer

    batch = {"batch4": 4, "batch8": 8}.get(variant, 1)
    mc = ModelConfig(generator=GeneratorConfig(ngf=16, n_blocks=4),
                     discriminator=DiscriminatorConfig(ndf=32, n_layers=3),
                     nce=NCEConfig(layers=(0, 2, 3, 5), num_patches=256), gan_mode="lsgan")
    tc = TrainConfig(steps=10**6, batch_size=batch, crop_size=None, device="cpu", seed=seed,
                     checkpoint_every=0, report_every=1000, preview_every=0)
    tr = DCGANTrainer(domains, mc, tc)
    compile_s = None
    if variant == "channels_last":
        tr.model.to(memory_format=torch.channels_last)
        sample = tr.sampler.sample

        def sample_cl():
            x, y = sample()
            return (torch.from_numpy(x).contiguous(memory_format=torch.channels_last).numpy(),
                    torch.from_numpy(y).contiguous(memory_format=torch.channels_last).numpy())

        tr.sampler.sample = sample_cl
    if variant == "compile":
        t0 = time.perf_counter()
        tr.model.G = torch.compile(tr.model.G)
        tr.model.F = torch.compile(tr.model.F)
        tr.train_step()  # compiles
        tr.train_step()
        compile_s = time.perf_counter() - t0
    return tr, batch, compile_s


def bench(threads: int, steps: int, repeats: int, variants) -> dict:
    import torch

    torch.set_num_threads(threads)
    domains = _domains()
    trainers = {}
    out = {"threads": threads, "steps_per_repeat": steps, "repeats": repeats, "variants": {}}
    for v in variants:
        try:
            trainers[v] = _trainer(v, domains)
            for _ in range(3):
                trainers[v][0].train_step()
        except Exception as exc:  # noqa: BLE001 - a variant that cannot run is reported
            out["variants"][v] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    times = {v: [] for v in trainers}
    cpu = {v: [] for v in trainers}
    for _ in range(repeats):
        for v, (tr, _, _) in trainers.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(steps):
                tr.train_step()
            times[v].append((time.perf_counter() - t0) / steps)
            cpu[v].append((time.process_time() - c0) / steps)
    base = statistics.median(times["today"]) if "today" in times else None
    base_cpu = statistics.median(cpu["today"]) if "today" in cpu else None
    for v, (_, batch, compile_s) in trainers.items():
        med = statistics.median(times[v])
        out["variants"][v] = {
            "batch_size": batch, "median_s_per_step": round(med, 4),
            "steps_per_s": round(1 / med, 2), "images_per_s": round(batch / med, 2),
            "images_per_s_vs_today": None if base is None else round(base * batch / med, 2),
            "median_cpu_s_per_step": round(statistics.median(cpu[v]), 4),
            "cpu_images_per_s_vs_today": None if base_cpu is None else round(
                base_cpu * batch / statistics.median(cpu[v]), 2),
            "compile_s": None if compile_s is None else round(compile_s, 1),
            "all_s_per_step": [round(t, 4) for t in times[v]]}
    out["data"] = bench_data(repeats=max(5, repeats), domains=domains)
    return out


def bench_data(repeats: int, domains) -> dict:
    """Median seconds per image: sampling precomputed domains vs simulating on the fly."""
    from napari_mpi_dl.dcgan.data import UnpairedSampler, normalise
    from napari_mpi_dl.dcgan.realistic_data import (
        RealisticConfig,
        _Physics,
        draw_image,
        training_digits,
    )
    from napari_mpi_dl.phantoms.mnist import mnist_phantoms

    sampler = UnpairedSampler(domains, batch_size=1, crop_size=None, seed=0)
    pre = []
    for _ in range(repeats * 10):
        t0 = time.perf_counter()
        sampler.sample()
        pre.append(time.perf_counter() - t0)
    cfg = RealisticConfig(n_x=200, n_y=10)
    ix, _ = training_digits(cfg)
    phys = _Physics(cfg)
    ph = mnist_phantoms(ix[:repeats * 4])
    fly, fly_relaxed = [], []
    for i in range(len(ph)):
        d = draw_image(cfg, "x", i)
        sim = phys.simulator(d)
        sim.simulate(ph[i])  # build the cached model first (not counted)
        t0 = time.perf_counter()
        normalise(sim.simulate(ph[i]))
        dt = time.perf_counter() - t0
        (fly_relaxed if sim.settings.particle.relaxation_time_s > 0 else fly).append(dt)
    return {"precomputed_sample_ms": round(1000 * statistics.median(pre), 3),
            "on_the_fly_adiabatic_ms": round(1000 * statistics.median(fly), 1) if fly else None,
            "on_the_fly_relaxed_ms": (round(1000 * statistics.median(fly_relaxed), 1)
                                      if fly_relaxed else None),
            "on_the_fly_model_builds": len(phys._sims)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    import os

    import torch

    variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        p.error(f"unknown variants {bad}; known: {VARIANTS}")
    res = {"torch": torch.__version__, "machine": platform.machine(),
           "cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0],
           "runs": [bench(t, args.steps, args.repeats, variants) for t in args.threads]}
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
