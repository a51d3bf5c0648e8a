"""``napari-mpi-dl sm``: simulate OpenMPIData-like system matrices, describe MDF files.

Examples::

    napari-mpi-dl sm simulate --preset test -o sm_test.mdf
    napari-mpi-dl sm simulate --preset training --diameter-nm 20 --seed 3 -o sm_train.mdf
    napari-mpi-dl sm simulate --size 25 25 --fov-mm 30 30 --relaxation-time-s 2e-6 -o sm.mdf
    napari-mpi-dl sm info sm_test.mdf
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sm", help="simulate or describe MDF system matrices",
        description="Simulate OpenMPIData-like 2D Lissajous system matrices (MDF 2.1.0) or "
                    "describe any MDF file.")
    sub = p.add_subparsers(dest="sm_command", metavar="SM_COMMAND")
    s = sub.add_parser(
        "simulate", help="simulate a calibration scan and write it as an MDF system matrix",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Simulate a 2D Lissajous calibration scan (OpenMPIData sequence: 2.5 MHz / "
                    "102, 96; 12 mT; (-1, -1, 2) T/m; 1632 samples; 3 receive channels) with "
                    "the full-tensor Langevin model, receive noise and interleaved background "
                    "frames, and write it as an MDF 2.1.0 system matrix.")
    s.add_argument("-o", "--output", "--out", dest="output",
                   required=True, help="system matrix file (.mdf)")
    s.add_argument("--preset", choices=("training", "test", "training-perimag", "test-perimag"),
                   default="test",
                   help="training: 19x19 voxels over 38x38 mm; test: 37x37 over 37x37 mm (ideal "
                        "25 nm particle, 2x2x1 mm delta sample); *-perimag: the perimag-like "
                        "tracer, the test one a separate calibration (1 mm delta sample, robot "
                        "positioning error +-0.1 mm, tracer drift; docs/contrastive.md)")
    s.add_argument("--size", type=int, nargs=2, metavar=("NY", "NX"), default=None,
                   help="voxels (y x) instead of the preset's")
    s.add_argument("--fov-mm", type=float, nargs=2, metavar=("FY", "FX"), default=None,
                   help="calibration FOV (y x) in mm instead of the preset's")
    s.add_argument("--diameter-nm", type=float, default=None, help="core diameter in nm (25)")
    s.add_argument("--relaxation-time-s", type=float, default=0.0,
                   help="Debye relaxation time in s (0: none)")
    s.add_argument("--noise-std-v", type=float, default=None,
                   help="receive noise per time sample in V (preset: 1e-12)")
    s.add_argument("--seed", type=int, default=0, help="seed of the noise")
    s.add_argument("--threads", "--workers", dest="workers", type=int, default=None,
                   help="threads (default: all cores)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=run_simulate)
    i = sub.add_parser("info", help="describe an MDF file (kind, shapes, grid, SNR, metadata)")
    i.add_argument("path", help="MDF file (.mdf/.h5)")
    i.add_argument("--no-background-correction", action="store_true",
                   help="read a system matrix without subtracting its background frames")
    i.set_defaults(func=run_info)
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])


def simulation_from_args(args: argparse.Namespace):
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.particle import Particle
    from napari_mpi_dl.physics.sm_simulation import sm_preset

    sim = sm_preset(args.preset)
    changes = {}
    if args.size is not None or args.fov_mm is not None:
        shape = tuple(args.size) if args.size is not None else sim.grid.shape
        fov = tuple(args.fov_mm) if args.fov_mm is not None else sim.grid.fov_mm
        changes["grid"] = ImageGrid(shape=shape, fov_mm=fov)
        changes["name"] = f"custom-{shape[0]}x{shape[1]}"
    particle = sim.particle
    if args.diameter_nm is not None or args.relaxation_time_s:
        if not isinstance(particle, Particle):
            raise ValueError(f"--diameter-nm and --relaxation-time-s set the single core of the "
                             f"ideal-particle presets; preset {args.preset!r} simulates the "
                             f"tracer {particle.name!r} (a size distribution)")
        particle = Particle(
            diameter_nm=args.diameter_nm if args.diameter_nm is not None else particle.diameter_nm,
            saturation_magnetisation_a_per_m=particle.saturation_magnetisation_a_per_m,
            temperature_k=particle.temperature_k, relaxation_time_s=args.relaxation_time_s)
        changes["particle"] = particle
    if args.noise_std_v is not None:
        changes["noise_std_v"] = args.noise_std_v
    return sim.replace(**changes) if changes else sim


def run_simulate(args: argparse.Namespace) -> int:
    import time

    from napari_mpi_dl.io.mdf_write import write_system_matrix
    from napari_mpi_dl.io.sm_simulation import simulate_system_matrix

    sim = simulation_from_args(args)
    bar = None
    if not args.no_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=1, unit="row", desc=f"simulating {sim.name} SM", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    t0 = time.perf_counter()
    try:
        sm = simulate_system_matrix(sim, seed=args.seed, progress=progress, workers=args.workers)
    finally:
        if bar is not None:
            bar.close()
    path = write_system_matrix(args.output, sm)
    print(f"wrote {path}: {describe_system_matrix(sm)} ({time.perf_counter() - t0:.1f} s)")
    return 0


def describe_system_matrix(sm) -> str:
    ny, nx = sm.size_xyz[1], sm.size_xyz[0]
    fov = np.round(1e3 * np.asarray(sm.fov_m), 3).tolist()
    dfov = np.round(1e3 * sm.drive_fov_m, 3).tolist()
    return (f"system matrix {sm.sizes} ({nx} x {ny} x {sm.size_xyz[2]} voxels over {fov} mm, "
            f"drive FOV {dfov} mm, {sm.num_background_frames} background frames)")


def run_info(args: argparse.Namespace) -> int:
    from napari_mpi_dl.io.mdf_read import mdf_kind, read_mdf
    from napari_mpi_dl.io.mdf_spec import validate_mdf

    kind = mdf_kind(args.path)
    if kind is None:
        from napari_mpi_dl.io.mdf_read import MDFFormatError, read_measurement

        try:  # raises a precise MDFFormatError (or FileNotFoundError)
            read_measurement(args.path)
        except MDFFormatError:
            raise
        raise ValueError(f"{args.path}: not an MDF file")
    kwargs = {"background_correction": not args.no_background_correction} \
        if kind == "system_matrix" else {}
    obj = read_mdf(args.path, **kwargs)
    print(f"{args.path}: MDF {obj.header.version} {kind.replace('_', ' ')}")
    if kind == "reconstruction":
        print(f"  data (Q, P, S) = {obj.data.shape}, grid {obj.size_xyz}, "
              f"FOV {np.round(1e3 * obj.fov_m, 3).tolist()} mm")
        return 0
    d = obj.drive_field
    print(f"  drive: base {d.base_frequency_hz:g} Hz, dividers {d.dividers.ravel().tolist()}, "
          f"strength {np.round(d.strength_t[0].ravel() * 1e3, 4).tolist()} mT, "
          f"cycle {d.cycle_s * 1e6:.2f} us")
    print(f"  gradient diagonal {np.diag(obj.gradient_t_per_m).tolist()} T/m, drive FOV "
          f"{np.round(1e3 * obj.drive_fov_m, 3).tolist()} mm")
    r = obj.receiver
    print(f"  receiver: {r.num_channels} channel(s), {r.num_sampling_points} samples/period, "
          f"bandwidth {r.bandwidth_hz:g} Hz, {obj.frequencies_hz.size} frequencies")
    if obj.conversion_applied is not None:
        print(f"  dataConversionFactor applied: {obj.conversion_applied.tolist()}")
    if kind == "system_matrix":
        print(f"  {describe_system_matrix(obj)}")
        print(f"  FOV centre {np.round(1e3 * obj.centre_m, 3).tolist()} mm, "
              f"background corrected: {obj.background_corrected}, SNR: {obj.snr_source}")
        if obj.snr is not None:
            for c in range(obj.num_channels):
                snr = obj.snr[0, c]
                print(f"    channel {c}: max SNR {np.max(snr):.3g}, "
                      f"{int(np.sum(snr > 1.5))} frequencies with SNR > 1.5")
    else:
        print(f"  measurement {obj.sizes}: {obj.foreground_frames.size} foreground, "
              f"{obj.background_frames.size} background frames, "
              f"{'frequency' if obj.is_fourier_transformed else 'time'} domain")
    problems = validate_mdf(args.path)
    if problems:
        print(f"  deviations from MDF 2.1.0 ({len(problems)}; tolerated on reading):")
        for problem in problems[:12]:
            print(f"    - {problem}")
    return 0
