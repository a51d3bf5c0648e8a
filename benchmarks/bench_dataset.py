"""Benchmark: the 1,600-digit MNIST data set (low + high gradient) end to end.

Times :func:`napari_mpi_dl.datasets.generate_dataset` (phantoms + simulation + HDF5 write) with
a thread pool, a process pool and serially, against a straightforward reference (one
``simulate_native`` call per image and gradient, then one HDF5 write), and prints medians and the
ratio. Goal (issue 2): under 60 s on 2 cores.

    python benchmarks/bench_dataset.py                 # n = 1600, 3 repeats
    python benchmarks/bench_dataset.py --n 400 --repeats 1

``--realistic TRACER`` instead times today's ideal data set against the same data set with a
realistic tracer (size distribution + Debye relaxation, e.g. ``resovist``), both end to end with
2 threads in the same run, and prints native images per second side by side (each run includes
building its models: the relaxation operator is built once per gradient).

    python benchmarks/bench_dataset.py --realistic resovist --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def run_ours(path: Path, n: int, *, workers: int, executor: str, snr_db: float | None,
             tracer: str | None = None) -> float:
    from napari_mpi_dl import datasets as ds
    from napari_mpi_dl.physics.presets import DEFAULT_PARTICLE
    from napari_mpi_dl.physics.tracers import tracer_preset

    t0 = time.perf_counter()
    phantoms = ds.mnist_phantom_set(split="all", n=n)
    particle = DEFAULT_PARTICLE if tracer is None else tracer_preset(tracer)
    config = ds.DatasetConfig(gradients=("low", "high"), workers=workers, executor=executor,
                              snr_db=snr_db, particle=particle)
    ds.generate_dataset(path, phantoms, config, overwrite=True)
    return time.perf_counter() - t0


def run_reference(path: Path, n: int, *, snr_db: float | None) -> float:
    """One image at a time through the public API, then a plain h5py write."""
    import h5py

    from napari_mpi_dl.phantoms.mnist import mnist_phantom
    from napari_mpi_dl.physics.native import simulate_native
    from napari_mpi_dl.physics.settings import XSpaceSettings

    t0 = time.perf_counter()
    phantoms = np.stack([mnist_phantom(i) for i in range(n)])
    out = {}
    for name, g in (("low", 1.35), ("high", 6.0)):
        settings = XSpaceSettings(gradient_t_per_m=g)
        out[name] = np.stack([simulate_native(p, settings, snr_db=snr_db, seed=i)
                              for i, p in enumerate(phantoms)])
    with h5py.File(path, "w") as h5:
        h5["phantom"] = phantoms.astype(np.float32)
        for name, stack in out.items():
            h5[f"native/{name}"] = stack.astype(np.float32)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--snr-db", type=float, default=None)
    parser.add_argument("--realistic", default=None, metavar="TRACER",
                        help="compare the ideal data set with this tracer preset's")
    args = parser.parse_args()
    if args.realistic is not None:
        compare_realistic(args)
        return
    print(f"n = {args.n} MNIST phantoms, gradients low + high, 101 x 101, "
          f"{os.cpu_count()} CPUs, snr_db = {args.snr_db}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5"
        runs = {
            "ours, 2 threads": lambda: run_ours(path, args.n, workers=2, executor="thread",
                                                snr_db=args.snr_db),
            "ours, 2 processes": lambda: run_ours(path, args.n, workers=2, executor="process",
                                                  snr_db=args.snr_db),
            "ours, serial": lambda: run_ours(path, args.n, workers=1, executor="thread",
                                             snr_db=args.snr_db),
            "reference, per image": lambda: run_reference(path, args.n, snr_db=args.snr_db),
        }
        medians = {}
        for name, fn in runs.items():
            times = [fn() for _ in range(args.repeats)]
            medians[name] = statistics.median(times)
            size_mb = path.stat().st_size / 1e6
            print(f"{name:24s} median {medians[name]:7.2f} s  "
                  f"(runs {', '.join(f'{t:.2f}' for t in times)}; file {size_mb:.0f} MB)")
    ref = medians["reference, per image"]
    for name, t in medians.items():
        print(f"reference / {name:24s} = {ref / t:5.2f}x")
    best = min(v for k, v in medians.items() if k.startswith("ours"))
    print(f"goal < 60 s for 1,600 images: {'met' if best < 60 else 'NOT met'} ({best:.1f} s)")


def compare_realistic(args) -> None:
    from napari_mpi_dl.physics.tracers import tracer_preset

    tracer = tracer_preset(args.realistic)
    print(f"n = {args.n} MNIST phantoms, gradients low + high, 101 x 101, {os.cpu_count()} CPUs, "
          f"2 threads; realistic = {args.realistic}: {tracer}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5"
        times = {"ideal": [], args.realistic: []}
        for _ in range(args.repeats):  # interleaved: both see the same machine load
            for name in times:
                tr = None if name == "ideal" else args.realistic
                times[name].append(run_ours(path, args.n, workers=2, executor="thread",
                                            snr_db=args.snr_db, tracer=tr))
    medians = {k: statistics.median(v) for k, v in times.items()}
    for name, t in medians.items():
        print(f"{name:10s} median {t:7.2f} s = {2 * args.n / t:7.1f} native images/s "
              f"(runs {', '.join(f'{x:.2f}' for x in times[name])})")
    print(f"realistic / ideal time = {medians[args.realistic] / medians['ideal']:.2f}x; "
          f"goal < 60 s for 1,600 images: "
          f"{'met' if medians[args.realistic] < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
