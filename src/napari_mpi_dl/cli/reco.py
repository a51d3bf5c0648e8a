"""``napari-mpi-dl reco``: system-matrix reconstruction (regularised Kaczmarz) of a measurement.

Examples::

    napari-mpi-dl reco --sm sm_test.mdf --meas meas.mdf --out reco.tif
    napari-mpi-dl reco --sm sm.mdf --meas meas.mdf --iterations 3 --lambda 0.01 \\
        --min-freq-khz 80 --max-freq-khz 600 --snr-threshold 1.5 --channels 0 1 --out reco.mdf
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reco", help="reconstruct an MDF measurement with an MDF system matrix (Kaczmarz)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Regularised Kaczmarz reconstruction (the reference algorithm of "
                    "MPIReco.jl / OpenMPIData) with frequency selection by band, SNR and receive "
                    "channel, background correction and real/positive projections. Writes the "
                    "image as .tif/.npy (centre slice, pixel size in mm) or .mdf "
                    "(/reconstruction).")
    p.add_argument("--sm", required=True, help="system matrix (.mdf)")
    p.add_argument("--meas", required=True, help="measurement (.mdf)")
    p.add_argument("-o", "--output", "--out", dest="out",
                   required=True, help="image file (.tif, .tiff, .npy, .mdf)")
    p.add_argument("--iterations", type=int, default=10, help="Kaczmarz sweeps")
    p.add_argument("--lambda", dest="lam", type=float, default=0.01, help="Tikhonov lambda")
    p.add_argument("--lambda-mode", choices=("relative", "absolute"), default="relative",
                   help="relative: lambda * trace(S S^H) / voxels (MPIReco's convention)")
    p.add_argument("--min-freq-khz", type=float, default=80.0, help="lowest frequency kept")
    p.add_argument("--max-freq-khz", type=float, default=None, help="highest frequency kept")
    p.add_argument("--snr-threshold", type=float, default=1.5,
                   help="keep rows with SNR above this (0: no SNR criterion)")
    p.add_argument("--channels", type=int, nargs="+", default=None,
                   help="receive channels (0-based; default: all)")
    p.add_argument("--frames", choices=("average", "each"), default="average",
                   help="average the foreground frames or reconstruct each one")
    p.add_argument("--no-background-correction", action="store_true",
                   help="use neither the SM's nor the measurement's background frames")
    p.add_argument("--no-real", action="store_true", help="do not project onto real values")
    p.add_argument("--no-positive", action="store_true", help="do not clamp negative values")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace):
    from napari_mpi_dl.recon.frequency_selection import FrequencySelection
    from napari_mpi_dl.recon.sm_reconstruction import ReconstructionSettings

    selection = FrequencySelection(
        min_frequency_hz=1e3 * args.min_freq_khz,
        max_frequency_hz=None if args.max_freq_khz is None else 1e3 * args.max_freq_khz,
        snr_threshold=args.snr_threshold if args.snr_threshold > 0 else None,
        channels=tuple(args.channels) if args.channels else None)
    return ReconstructionSettings(
        iterations=args.iterations, lam=args.lam, lambda_mode=args.lambda_mode,
        selection=selection, background_correction=not args.no_background_correction,
        enforce_real=not args.no_real, enforce_positive=not args.no_positive, frames=args.frames)


def run(args: argparse.Namespace) -> int:
    import time

    from napari_mpi_dl.io.mdf_read import read_measurement, read_system_matrix
    from napari_mpi_dl.io.sm_measurement import phantom_from_measurement
    from napari_mpi_dl.recon.sm_reconstruction import reconstruct, save_reconstruction

    settings = settings_from_args(args)
    sm = read_system_matrix(args.sm, background_correction=settings.background_correction)
    meas = read_measurement(args.meas)
    bar = None
    if not args.no_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=settings.iterations, unit="sweep", desc="Kaczmarz", file=sys.stderr)

    def callback(_sweep: int, _x) -> None:
        if bar is not None:
            bar.update(1)

    t0 = time.perf_counter()
    try:
        result = reconstruct(sm, meas, settings, callback=callback)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    path = save_reconstruction(args.out, result, sm)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {path}: image {result.images.shape[2:]} ({result.unit}), {len(result.rows)} "
          f"rows, lambda {result.lambda_absolute:.4g} (absolute), {elapsed:.2f} s")
    truth = phantom_from_measurement(meas)
    if truth is not None and truth.shape == result.image.shape and truth.max() > truth.min():
        span = float(truth.max() - truth.min())
        nrmse = float(np.sqrt(np.mean((result.image - truth) ** 2)) / span)
        print(f"NRMSE against the simulated phantom: {nrmse:.4f}")
    return 0
