"""Time the deconvolution baselines on a 101 x 101 native image against scikit-image's versions.

Ours: padded Wiener (3x canvas), exact-model Richardson-Lucy (FFT on an n + k/2 canvas),
unsupervised Wiener (skimage's sampler on our padded canvas). Reference: skimage.restoration.wiener
(circular boundary, kernel cropped to the image) and skimage.restoration.richardson_lucy (direct
scipy convolution with the full 201 x 201 kernel). Prints medians and the ratio.

Run: python benchmarks/bench_deconvolution.py
"""

from __future__ import annotations

import time

import numpy as np
from skimage import restoration

from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
from napari_mpi_dl.physics.native import NativeSimulator
from napari_mpi_dl.recon.deconvolution import deconvolve


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    sim = NativeSimulator()
    native = sim.simulate(two_tube_phantom(gap_mm=1.8))
    kernel = sim.kernel
    small = kernel[50:151, 50:151]
    scale = native.max()
    rows = [
        ("wiener (ours, padded)", lambda: deconvolve(native, kernel, method="wiener"),
         "skimage wiener (circular)",
         lambda: restoration.wiener(native / scale, small / small.sum(), 3e-4, clip=False), 20),
        ("richardson-lucy 50 it (ours)",
         lambda: deconvolve(native, kernel, method="richardson-lucy", iterations=50, tol=0),
         "skimage richardson_lucy 50 it",
         lambda: restoration.richardson_lucy(native / scale, kernel / kernel.sum(), 50,
                                             clip=False), 3),
        ("unsupervised wiener (ours)",
         lambda: deconvolve(native, kernel, method="unsupervised-wiener"),
         "skimage unsupervised_wiener",
         lambda: restoration.unsupervised_wiener(native / scale, small / small.sum(),
                                                 clip=False, rng=0), 3),
    ]
    for ours_name, ours, ref_name, ref, repeats in rows:
        t_ours, t_ref = median_time(ours, repeats), median_time(ref, repeats)
        print(f"{ours_name:32s} {t_ours * 1e3:9.1f} ms | {ref_name:32s} {t_ref * 1e3:9.1f} ms | "
              f"ratio ref/ours {t_ref / t_ours:6.2f}")


if __name__ == "__main__":
    main()
