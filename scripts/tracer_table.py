"""Table of the tracer presets: PSF FWHM and forward/reverse asymmetry (docs/tracers.md).

For each preset and gradient (x-scan, 20 mm FOV, 25 kHz drive covering the FOV with a 10 %
margin) a point source at the FOV centre is imaged with the exact image-domain operator of the
signal-level scan; the profile along the scan axis through the point gives

* the FWHM of the adiabatic PSF (size distribution only, no relaxation),
* the FWHM of the native image (forward and reverse sweeps averaged, with relaxation),
* the peak positions of the forward and reverse sweep images (their difference: asymmetry), half
  the difference of their centroids, and the Debye prediction of that centroid shift,
  tau_mean x FFP speed at the centre (2 pi f A, A the drive amplitude in mm).

    python scripts/tracer_table.py                       # prints Markdown
    python scripts/tracer_table.py --out docs/results/tracer_table.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.presets import HIGH_GRADIENT_T_PER_M, LOW_GRADIENT_T_PER_M
from napari_mpi_dl.physics.relaxation import SweepImagingOperator
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.physics.tracers import TRACER_PRESETS

FOV_MM = 20.0
NX = 801  # 0.025 mm pixels along the scan axis
NY = 3  # only the row of the point matters (the operator is exact per slow-axis offset)


def _fwhm_mm(line: np.ndarray, x: np.ndarray) -> float:
    half = line.max() / 2
    above = np.flatnonzero(line >= half)
    lo, hi = above[0], above[-1]
    left = np.interp(half, [line[lo - 1], line[lo]], [x[lo - 1], x[lo]])
    right = np.interp(half, [line[hi + 1], line[hi]], [x[hi + 1], x[hi]])
    return float(right - left)


def _peak_mm(line: np.ndarray, x: np.ndarray) -> float:
    i = int(np.argmax(line))
    y0, y1, y2 = line[i - 1 : i + 2]
    return float(x[i] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) * (x[1] - x[0]))


def _centroid_mm(line: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(line * x) / np.sum(line))


def tracer_rows() -> list[dict]:
    grid = ImageGrid(shape=(NY, NX), fov_mm=(FOV_MM * NY / NX, FOV_MM))
    x = grid.axis_mm(1)
    point = np.zeros(grid.shape)
    point[NY // 2, NX // 2] = 1.0
    rows = []
    for name, tracer in TRACER_PRESETS.items():
        for g_name, g in (("low", LOW_GRADIENT_T_PER_M), ("high", HIGH_GRADIENT_T_PER_M)):
            settings = XSpaceSettings(particle=tracer, gradient_t_per_m=g, grid=grid)
            adiabatic = settings.replace(particle=tracer.replace(relaxation_time_s=0.0,
                                                                 relaxation_time_max_s=0.0))
            f0, r0 = SweepImagingOperator(adiabatic).sweep_images(point)
            f, r = SweepImagingOperator(settings).sweep_images(point)
            taus, w = tracer.relaxation_times_s()
            speed_mm_per_s = (2 * np.pi * settings.drive_frequency_hz
                              * 0.5 * FOV_MM * (1 + settings.drive_margin))
            rows.append({
                "tracer": name, "gradient": f"{g_name} ({g:g} T/m)",
                "tau_us": (f"{tracer.relaxation_time_s * 1e6:g}" if tracer.relaxation_time_max_s
                           <= tracer.relaxation_time_s else
                           f"{tracer.relaxation_time_s * 1e6:g}-"
                           f"{tracer.relaxation_time_max_s * 1e6:g}"),
                "fwhm_adiabatic_mm": _fwhm_mm(0.5 * (f0 + r0)[NY // 2], x),
                "fwhm_native_mm": _fwhm_mm(0.5 * (f + r)[NY // 2], x),
                "peak_fwd_mm": _peak_mm(f[NY // 2], x),
                "peak_rev_mm": _peak_mm(r[NY // 2], x),
                "centroid_shift_mm": 0.5 * (_centroid_mm(f[NY // 2], x)
                                            - _centroid_mm(r[NY // 2], x)),
                "drive_mt": g * 0.5 * FOV_MM * (1 + settings.drive_margin),
                "debye_shift_mm": float(taus @ w) * speed_mm_per_s,
            })
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| tracer | gradient (drive) | tau (us) | FWHM adiabatic (mm) | FWHM native (mm) | "
        "fwd peak (mm) | rev peak (mm) | centroid shift (mm) | tau v (mm) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tracer']} | {r['gradient']}, {r['drive_mt']:.1f} mT | {r['tau_us']} | "
            f"{r['fwhm_adiabatic_mm']:.2f} | {r['fwhm_native_mm']:.2f} | "
            f"{r['peak_fwd_mm']:+.2f} | {r['peak_rev_mm']:+.2f} | "
            f"{r['centroid_shift_mm']:+.2f} | {r['debye_shift_mm']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="also write the Markdown table here")
    args = parser.parse_args()
    table = markdown(tracer_rows())
    print(table)
    if args.out:
        Path(args.out).write_text(table)


if __name__ == "__main__":
    main()
