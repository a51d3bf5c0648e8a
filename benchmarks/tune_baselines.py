"""Tune the deconvolution baselines' defaults on a tuning set that excludes the protocol gaps.

Tuning set: two-tube phantoms with gaps 1.2, 2.0 and 2.8 mm (between the protocol's 1.0 ... 3.4 mm
steps, so never a test gap) and 8 MNIST *training* digits (the held-out test digits are never used),
native images at the default low gradient, without noise and at 30 dB (seed 1).
Criterion: mean PSNR against the phantom (min-max normalisation, napari_mpi_dl.analysis.metrics)
over all tuning images and both noise levels; the mean dip over the two-tube images is printed too.

Run: python benchmarks/tune_baselines.py  (about a minute on 2 CPU cores)
"""

from __future__ import annotations

import time

import numpy as np

from napari_mpi_dl.analysis.metrics import psnr
from napari_mpi_dl.analysis.profiles import analyse_profile, sample_profile
from napari_mpi_dl.phantoms.mnist import mnist_indices, mnist_phantoms
from napari_mpi_dl.phantoms.two_tube import two_tube_geometry, two_tube_phantom
from napari_mpi_dl.physics.native import NativeSimulator
from napari_mpi_dl.physics.presets import DEFAULT_GRID
from napari_mpi_dl.recon.deconvolution import iterate_richardson_lucy, wiener

TUNING_GAPS_MM = (1.2, 2.0, 2.8)


def tuning_set(sim: NativeSimulator):
    phantoms = [two_tube_phantom(gap_mm=g) for g in TUNING_GAPS_MM]
    phantoms += list(mnist_phantoms(mnist_indices("train")[:8]))
    natives = []
    for snr in (None, 30.0):
        natives.append([sim.simulate(p, snr_db=snr, seed=1) for p in phantoms])
    return phantoms, natives


def dip(image, gap):
    line = two_tube_geometry(gap_mm=gap).profile_line_mm
    kw = DEFAULT_GRID.layer_kwargs()
    prof = sample_profile(image, *line, scale=kw["scale"], translate=kw["translate"])
    return analyse_profile(prof.distance_mm, prof.values).dip


def score(phantoms, natives, restore):
    ps, dips = [], []
    for nat_set in natives:
        for i, (ph, nat) in enumerate(zip(phantoms, nat_set, strict=False)):
            out = restore(nat)
            ps.append(psnr(ph, out))
            if i < len(TUNING_GAPS_MM):
                dips.append(dip(out, TUNING_GAPS_MM[i]))
    return float(np.mean(ps)), float(np.mean(dips))


def main() -> None:
    sim = NativeSimulator()
    kernel = sim.kernel
    phantoms, natives = tuning_set(sim)
    p, d = score(phantoms, natives, lambda x: x)
    print(f"native: mean PSNR {p:.2f} dB, mean dip {d:.3f}")
    t0 = time.perf_counter()
    for reg in ("identity", "laplacian"):
        for balance in (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4):
            p, d = score(phantoms, natives,
                         lambda x, b=balance, r=reg: wiener(x, kernel, balance=b, regulariser=r))
            print(f"wiener {reg:9s} balance {balance:g}: mean PSNR {p:.2f} dB, mean dip {d:.3f}")
    checkpoints = (25, 50, 100, 200, 400, 800, 1600)
    per_iter = {k: ([], []) for k in checkpoints}
    for nat_set in natives:
        for i, (ph, nat) in enumerate(zip(phantoms, nat_set, strict=False)):
            for step in iterate_richardson_lucy(nat, kernel, iterations=max(checkpoints), tol=0):
                if step.iteration in per_iter:
                    per_iter[step.iteration][0].append(psnr(ph, step.estimate))
                    if i < len(TUNING_GAPS_MM):
                        per_iter[step.iteration][1].append(dip(step.estimate, TUNING_GAPS_MM[i]))
    for k, (ps, ds) in per_iter.items():
        print(f"richardson-lucy {k:4d} iterations: mean PSNR {np.mean(ps):.2f} dB, "
              f"mean dip {np.mean(ds):.3f}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
