"""Kaczmarz on the simulated 37 x 37 test SM: this package against the reference row loop.

Run:  python benchmarks/bench_kaczmarz.py [--repeats 5] [--iterations 10] [--frames 32]

Input, identical for both: the OpenMPIData-like 37 x 37 test system matrix (seed 1), background-
corrected, rows with f >= 80 kHz and SNR > 1.5 on all 3 receive channels (complex128), and a
measurement of the resolution phantom (background-corrected, averaged); lambda = 0.01 relative,
real and non-negative projections after each sweep.

* reference: ``kaczmarz_reference``, the MDF repository's Python example algorithm (one Python
  iteration per row, row energies in a Python loop), timed whole.
* fast: ``kaczmarz`` (blocked, BLAS, single thread), timed whole (its set-up included), and
  its sweeps alone on a prepared ``KaczmarzOperator`` (the set-up is made once per system matrix
  and lambda, e.g. for a series of measurements).
* frames: the same for ``--frames`` frames: the reference frame after frame, the fast solver all
  frames at once (``--frames each`` in ``napari-mpi-dl reco``).

Prints the medians over ``--repeats`` (runs interleaved), their ratio, and the largest relative
difference of the outputs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _time(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def build_problem(iterations_frames: int, seed: int = 1):
    from napari_mpi_dl.io.mdf_background import subtract_background
    from napari_mpi_dl.phantoms.openmpi import openmpi_phantom
    from napari_mpi_dl.physics.sm_measurement import simulate_measurement
    from napari_mpi_dl.physics.system_matrix import (
        clean_system_matrix,
        simulate_system_matrix,
        sm_preset,
    )
    from napari_mpi_dl.recon.frequency_selection import FrequencySelection, select_rows

    sim = sm_preset("test")
    sm = simulate_system_matrix(sim, seed=seed)
    data = subtract_background(sm.data, sm.frame_order, sm.background, sm.background_order)
    rows = select_rows(sm.frequencies_hz, sm.snr, sm.num_channels,
                       FrequencySelection(min_frequency_hz=80e3, snr_threshold=1.5))
    matrix = np.ascontiguousarray(data[rows.period, rows.channel, rows.frequency],
                                  dtype=np.complex128)
    truth = openmpi_phantom("resolution", sim.grid, slice_thickness_mm=sim.slice_thickness_mm)
    meas = simulate_measurement(truth, sim=sim, clean=clean_system_matrix(sim),
                                num_frames=iterations_frames, num_background_frames=10, seed=2)
    spectra = meas.spectra()[:, 0][:, rows.channel, rows.frequency]  # (N, M)
    fg, bg = meas.foreground_frames, meas.background_frames
    frames = subtract_background(spectra[fg].T, fg, spectra[bg].T, bg)  # (M, F)
    return matrix, frames, rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--lam", type=float, default=0.01)
    parser.add_argument("--frames", type=int, default=32)
    args = parser.parse_args(argv)

    from napari_mpi_dl.recon.kaczmarz import KaczmarzOperator, kaczmarz, relative_lambda
    from napari_mpi_dl.references.kaczmarz import kaczmarz_reference

    matrix, frames, rows = build_problem(args.frames)
    lam = relative_lambda(matrix, args.lam)
    u = frames.mean(axis=1)
    kw = {"iterations": args.iterations, "lam": lam, "enforce_real": True,
          "enforce_positive": True}
    per_channel = np.bincount(rows.channel, minlength=3).tolist()
    print(f"system matrix: {matrix.shape[0]} rows (per channel {per_channel}) x "
          f"{matrix.shape[1]} voxels, complex128; {args.iterations} sweeps, lambda "
          f"{args.lam} relative = {lam:.4g}")

    op = KaczmarzOperator(matrix, lam)
    sweep_kw = {k: v for k, v in kw.items() if k != "lam"}
    ref_t, fast_t, sweep_t = [], [], []
    for _ in range(args.repeats):  # interleaved
        t, x_ref = _time(lambda: kaczmarz_reference(matrix, u, **kw))
        ref_t.append(t)
        t, x_fast = _time(lambda: kaczmarz(matrix, u, **kw))
        fast_t.append(t)
        t, x_sweeps = _time(lambda: op.solve(u, **sweep_kw))
        sweep_t.append(t)
    diff = max(np.linalg.norm(x - x_ref) / np.linalg.norm(x_ref) for x in (x_fast, x_sweeps))
    r, f, w = (statistics.median(v) for v in (ref_t, fast_t, sweep_t))
    print(f"one frame:   reference {1e3 * r:8.1f} ms   fast {1e3 * f:7.2f} ms   "
          f"speed-up {r / f:5.1f}x   (sweeps alone {1e3 * w:.2f} ms: {r / w:.1f}x)   "
          f"max rel. difference {diff:.1e}")

    ref_t, fast_t = [], []
    n_frames = frames.shape[1]
    for _ in range(max(1, args.repeats // 2)):
        t, xs_ref = _time(lambda: np.stack([kaczmarz_reference(matrix, frames[:, i], **kw)
                                            for i in range(n_frames)], axis=1))
        ref_t.append(t)
        t, xs_fast = _time(lambda: kaczmarz(matrix, frames, **kw))
        fast_t.append(t)
    diff = np.max(np.linalg.norm(xs_fast - xs_ref, axis=0) / np.linalg.norm(xs_ref, axis=0))
    r, f = statistics.median(ref_t), statistics.median(fast_t)
    print(f"{n_frames} frames:  reference {1e3 * r:8.1f} ms   fast {1e3 * f:7.2f} ms   "
          f"speed-up {r / f:5.1f}x   max rel. difference {diff:.1e}")


if __name__ == "__main__":
    main()
