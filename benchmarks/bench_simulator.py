"""Images per second of the two simulation paths at 101 x 101, beside the per-sample reference.

Run:  python benchmarks/bench_simulator.py [--repeats 7] [--reference-lines 8] [--threads 2]

* analytic: FFT convolution with the projected PSF (one image; a batch of 64).
* signal:   the exact signal-level operator (voltages of every time sample, velocity compensation,
            gridding): model build once, then one image and a batch of 64.
* reference: one Python iteration per time sample evaluating the Langevin tensor over the whole
            grid (physics.xspace_reference), the way published Python x-space frameworks do it.
            Its cost is the same for every line, so it is timed on ``--reference-lines`` lines and
            scaled to the full image (``--reference-lines 101`` times all of it). The fast voltages
            are checked against it on those lines.
Medians over ``--repeats``; speed-ups are ratios of medians measured in this one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--reference-lines", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import numpy as np

    from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
    from napari_mpi_dl.physics.native import NativeSimulator
    from napari_mpi_dl.physics.settings import XSpaceSettings
    from napari_mpi_dl.physics.xspace_reference import reference_voltages
    from napari_mpi_dl.physics.xspace_signal import CartesianXSpaceModel

    settings = XSpaceSettings()  # 101 x 101, 20 mm, 25 nm, 1.35 T/m, x-scan, 808 samples/line
    phantom = two_tube_phantom(gap_mm=1.8)
    rng = np.random.default_rng(0)
    stack = np.clip(phantom[None] + 0.1 * rng.random((args.batch, 101, 101)), 0, None)

    sim = NativeSimulator(settings)
    sim.simulate(phantom)  # kernel cached
    t_analytic = _median_time(lambda: sim.simulate(phantom), args.repeats)
    t_analytic_batch = _median_time(lambda: sim.simulate(stack), max(3, args.repeats // 2))

    t0 = time.perf_counter()
    model = CartesianXSpaceModel(settings)
    t_build = time.perf_counter() - t0
    t_signal = _median_time(lambda: model.image(phantom), args.repeats)
    t_signal_batch = _median_time(lambda: model.image(stack), max(3, args.repeats // 2))

    n_lines = min(args.reference_lines, 101)
    t0 = time.perf_counter()
    ref = reference_voltages(phantom, settings, lines=n_lines)
    t_ref = (time.perf_counter() - t0) * 101 / n_lines
    fast = model.voltages(phantom)[: ref.shape[0]]
    err = float(np.abs(fast - ref).max() / np.abs(ref).max())

    samples = model.operator("x").trajectory.samples_per_period
    print(f"settings: 101 x 101 pixels over 20 x 20 mm, x-scan, {samples} samples per line, "
          f"{101 * samples} time samples per image, threads={args.threads}")
    print(f"{'path':<34}{'median s/image':>16}{'images/s':>12}")
    rows = [
        ("analytic (single image)", t_analytic),
        (f"analytic (batch of {args.batch})", t_analytic_batch / args.batch),
        ("signal (single image)", t_signal),
        (f"signal (batch of {args.batch})", t_signal_batch / args.batch),
        ("signal (build + first image)", t_build + t_signal),
        (f"reference loop ({n_lines} lines, scaled)", t_ref),
    ]
    for name, t in rows:
        print(f"{name:<34}{t:>16.5f}{1.0 / t:>12.1f}")
    print(f"speed-up signal vs reference: single image {t_ref / t_signal:.0f}x, "
          f"batch {t_ref / (t_signal_batch / args.batch):.0f}x, "
          f"including the one-off model build {t_ref / (t_build + t_signal):.0f}x")
    print(f"max |fast - reference| / max |reference| over the timed lines: {err:.2e}")


if __name__ == "__main__":
    main()
