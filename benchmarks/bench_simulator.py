"""Speed and memory of the two simulation paths, beside the per-sample reference loop.

Run:  python benchmarks/bench_simulator.py [--repeats 7] [--reference-lines 8] [--threads 2]
                                           [--sizes 101 201 401] [--before-src DIR]

Part 1, per image at 101 x 101 (package defaults):

* analytic: FFT convolution with the projected PSF (one image; a batch of 64).
* signal:   the signal-level operator (voltages of the samples, velocity compensation,
            gridding): model build once, then one image and a batch of 64.
* reference: one Python iteration per time sample evaluating the Langevin tensor over the whole
            grid (references.xspace_signal), the way published Python x-space frameworks do it.
            Its cost is the same for every line, so it is timed on ``--reference-lines`` lines and
            scaled to the full image. The fast voltages are checked against it on those lines.

Part 2, a one-off signal-level image with new settings (model build + first image, the operator
cache cleared before every repeat) at the package defaults and at MPIRF's default x-space case
(119 x 119 pixels over 12 mm, 2 T/m, 30 nm cores), then the per-image time of the built model;
beside ``--before-src`` if given. MPIRF itself (the Python peer) is not on the package index; its
figure, 1.82 s per image with scalar physics on its default case, is quoted for the ratio.

Part 3, build time, first image, per-image time and peak memory vs image size (``--sizes``), each
size in a fresh process: this source tree ("after"), optionally an older source tree given by
``--before-src`` (e.g. ``git archive <commit> src | tar -x -C /tmp/before``, then
``--before-src /tmp/before/src``; skipped where its model would not fit in memory), and the
reference loop (timed on a few lines, scaled). Peak memory = the most memory numpy held during
the build and the first image (tracemalloc, a second run; for the reference: one line).

Medians over ``--repeats``; speed-ups are ratios of medians measured in this one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
SRC = HERE.parents[1] / "src"


def _median_time(fn, repeats: int, setup=None) -> float:
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _settings_for(size: int):
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.settings import XSpaceSettings

    return XSpaceSettings(grid=ImageGrid(shape=(size, size), fov_mm=(20.0, 20.0)))


def _mpirf_settings():
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.particle import Particle
    from napari_mpi_dl.physics.settings import XSpaceSettings

    return XSpaceSettings(grid=ImageGrid(shape=(119, 119), fov_mm=(12.0, 12.0)),
                          gradient_t_per_m=2.0, particle=Particle(diameter_nm=30.0))


def _phantom(shape):
    from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
    from napari_mpi_dl.physics.grid import ImageGrid

    return two_tube_phantom(gap_mm=1.8, grid=ImageGrid(shape=shape, fov_mm=(20.0, 20.0)))


def _clear_cache() -> None:
    from napari_mpi_dl.physics import xspace_signal

    getattr(xspace_signal, "clear_operator_cache", lambda: None)()  # absent in older trees


def _traced_peak_bytes(fn) -> int:
    """Peak of the memory numpy allocates while ``fn`` runs (tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def child(kind: str, size: int, reference_lines: int) -> dict:
    """One measurement in this (fresh) process; ``kind`` is "model" or "reference"."""
    import numpy as np

    from napari_mpi_dl.physics.xspace_signal import CartesianXSpaceModel

    settings = _settings_for(size or 101)
    phantom = _phantom(settings.grid.shape)
    if kind == "oneoff":  # size 0: MPIRF's default case
        settings = _mpirf_settings() if size == 0 else settings
        phantom = _phantom(settings.grid.shape)
        CartesianXSpaceModel(_settings_for(16)).image(np.ones((16, 16)))  # imports, thread pools
        models = []

        def one_off():
            models.append(CartesianXSpaceModel(settings))
            models[-1].image(phantom)

        t = _median_time(one_off, reference_lines, setup=_clear_cache)
        per_image = _median_time(lambda: models[-1].image(phantom), 5)
        return {"one_off_s": t, "per_image_s": per_image}
    if kind == "reference":
        from napari_mpi_dl.references.xspace_signal import reference_voltages

        t0 = time.perf_counter()
        reference_voltages(phantom, settings, lines=reference_lines)
        per_image = (time.perf_counter() - t0) * size / reference_lines
        peak = _traced_peak_bytes(lambda: reference_voltages(phantom, settings, lines=1))
        return {"per_image_s": per_image, "peak_bytes": peak}
    CartesianXSpaceModel(_settings_for(16)).image(np.ones((16, 16)))  # imports, thread pools
    _clear_cache()
    t0 = time.perf_counter()
    model = CartesianXSpaceModel(settings)
    t1 = time.perf_counter()
    model.image(phantom)
    t2 = time.perf_counter()
    per_image = _median_time(lambda: model.image(phantom), 5)
    model = None
    _clear_cache()
    peak = _traced_peak_bytes(lambda: CartesianXSpaceModel(settings).image(phantom))
    return {"build_s": t1 - t0, "first_image_s": t2 - t1, "per_image_s": per_image,
            "peak_bytes": peak}


def _old_model_bytes(size: int) -> float:
    """Peak of the former build (float64 offset buffer, its complex spectrum, complex64 copy)."""
    from scipy import fft as sfft

    nfft = sfft.next_fast_len(3 * size - 2, real=True)
    samples, per = 8 * size, size
    return 8.0 * nfft * samples * per + 16.0 * (nfft // 2 + 1) * samples * per * 1.5


def _run_child(src: Path, kind: str, size: int, lines: int, threads: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, str(HERE), "--child", kind, "--child-size", str(size),
           "--reference-lines", str(lines)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def per_image_part(args) -> None:
    import numpy as np

    from napari_mpi_dl.physics.native import NativeSimulator
    from napari_mpi_dl.physics.settings import XSpaceSettings
    from napari_mpi_dl.physics.xspace_signal import CartesianXSpaceModel
    from napari_mpi_dl.references.xspace_signal import reference_voltages

    settings = XSpaceSettings()  # 101 x 101, 20 mm, 25 nm, 1.35 T/m, x-scan, 808 samples/line
    phantom = _phantom((101, 101))
    rng = np.random.default_rng(0)
    stack = np.clip(phantom[None] + 0.1 * rng.random((args.batch, 101, 101)), 0, None)

    sim = NativeSimulator(settings)
    sim.simulate(phantom)  # kernel cached
    t_analytic = _median_time(lambda: sim.simulate(phantom), args.repeats)
    t_analytic_batch = _median_time(lambda: sim.simulate(stack), max(3, args.repeats // 2))

    CartesianXSpaceModel(_settings_for(16)).image(np.ones((16, 16)))  # warm imports
    _clear_cache()
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
    print(f"Part 1. 101 x 101 pixels over 20 x 20 mm, x-scan, {samples} samples per line, "
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


def one_off_part(args) -> None:
    print("\nPart 2. One-off signal-level image with new settings: build + first image (operator "
          f"cache cleared each time; median of {args.repeats}, 'before': of 1), and the per-image "
          "time once built (median of 5); fresh process per entry")
    mpirf_s = 1.82  # MPIRF's own default case, scalar physics (measured in the session)
    print(f"  {'case':<50}{'code':<8}{'one-off s':>11}{'per image s':>13}")
    for size, name in ((101, "package defaults, 101 x 101 over 20 mm"),
                       (0, "MPIRF case, 119 x 119 over 12 mm, 2 T/m, 30 nm")):
        entries = [("after", SRC, args.repeats)]
        if args.before_src:
            entries.append(("before", Path(args.before_src), 1))
        for label, src, repeats in entries:
            r = _run_child(src, "oneoff", size, repeats, args.threads)
            extra = f"   MPIRF 1.82 s / this = {mpirf_s / r['one_off_s']:.1f}x" if size == 0 else ""
            print(f"  {name:<50}{label:<8}{r['one_off_s']:>11.3f}{r['per_image_s']:>13.4f}{extra}")


def sizes_part(args) -> None:
    from napari_mpi_dl.physics.memory import available_memory_bytes

    print(f"\nPart 3. Signal-level model vs image size (fresh process per entry; peak = numpy's "
          f"peak during build + first image), threads={args.threads}")
    print(f"{'size':>6} {'code':<10}{'build s':>10}{'1st image s':>13}{'per image s':>13}"
          f"{'peak MB':>10}")
    for size in args.sizes:
        entries = [("after", SRC)]
        if args.before_src:
            entries.append(("before", Path(args.before_src)))
        for label, src in entries:
            if label == "before" and _old_model_bytes(size) > 0.8 * available_memory_bytes():
                print(f"{size:>6} {label:<10}  not run: needs ~{_old_model_bytes(size) / 1e9:.0f} "
                      f"GB, more than this machine has free")
                continue
            r = _run_child(src, "model", size, 1, args.threads)
            print(f"{size:>6} {label:<10}{r['build_s']:>10.3f}{r['first_image_s']:>13.4f}"
                  f"{r['per_image_s']:>13.4f}{r['peak_bytes'] / 1e6:>10.0f}")
        lines = max(1, min(args.reference_lines, int(800 / size)))
        r = _run_child(SRC, "reference", size, lines, args.threads)
        print(f"{size:>6} {'reference':<10}{'':>10}{'':>13}{r['per_image_s']:>13.1f}"
              f"{r['peak_bytes'] / 1e6:>10.0f}   ({lines} lines timed, scaled)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--reference-lines", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--sizes", type=int, nargs="*", default=[101, 201, 401])
    parser.add_argument("--before-src", default=None,
                        help="an older source tree (its src/ folder) to measure beside this one")
    parser.add_argument("--child", choices=("model", "reference", "oneoff"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--child-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.child:
        print(json.dumps(child(args.child, args.child_size, args.reference_lines)))
        return
    per_image_part(args)
    one_off_part(args)
    if args.sizes:
        sizes_part(args)


if __name__ == "__main__":
    main()
