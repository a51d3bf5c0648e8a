"""Physics flags shared by ``simulate`` and ``dataset`` (units in every flag name)."""

from __future__ import annotations

import argparse
import shlex
import sys

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.partial_fov import PartialFOV
from napari_mpi_dl.physics.particle import Particle
from napari_mpi_dl.physics.presets import DEFAULT_PARTICLE
from napari_mpi_dl.physics.psf import SCAN_MODES
from napari_mpi_dl.physics.tracers import TRACER_NAMES, LognormalSize, Tracer, tracer_preset


def add_physics_arguments(parser: argparse.ArgumentParser) -> None:
    """Particle, grid, scan and noise flags (the gradient flag is command-specific)."""
    p = DEFAULT_PARTICLE
    g = parser.add_argument_group("particle and scanner (units in the flag names)")
    g.add_argument("--diameter-nm", type=float, default=p.diameter_nm,
                   help="magnetic core diameter in nm (default %(default)s)")
    g.add_argument("--saturation-magnetisation-a-per-m", type=float,
                   default=p.saturation_magnetisation_a_per_m,
                   help="saturation magnetisation Ms in A/m (default %(default).4g = 0.6 T/mu0)")
    g.add_argument("--temperature-k", type=float, default=p.temperature_k,
                   help="temperature in K (default %(default)s)")
    g.add_argument("--relaxation-time-s", type=float, default=None,
                   help="Debye relaxation time in s (default: the tracer's; 0 for one core "
                        "size)")
    g.add_argument("--relaxation-time-max-s", type=float, default=0.0,
                   help="upper end of a log-uniform range of Debye times starting at "
                        "--relaxation-time-s (0: a single time)")
    g.add_argument("--relaxation-size-exponent", type=float, default=0.0,
                   help="size-dependent Debye time tau(d) = tau (d / d_ref)^p for a size "
                        "distribution (--size-sigma or --tracer); 0 = the same tau for all sizes")
    g.add_argument("--tracer", choices=TRACER_NAMES, default=None,
                   help="tracer preset with a size distribution, Ms and relaxation "
                        "(docs/tracers.md); overrides --diameter-nm, --size-sigma, Ms and T")
    g.add_argument("--size-sigma", type=float, default=0.0,
                   help="lognormal spread (std of ln d) of the core size around --diameter-nm "
                        "(the median); 0 = one core size")
    s = parser.add_argument_group("scanner imperfections")
    s.add_argument("--gradient-error", type=float, default=0.0,
                   help="relative gradient calibration error: true = nominal x (1 + error)")
    s.add_argument("--gradient-anisotropy", type=float, default=0.0,
                   help="true Gy = true Gx x (1 + anisotropy)")
    s.add_argument("--partial-fov-mm", type=float, default=None,
                   help="partial-FOV drive of this width in mm along the scan axis (default: "
                        "drive the whole FOV)")
    s.add_argument("--partial-fov-overlap", type=float, default=0.5,
                   help="minimum overlap of neighbouring partial FOVs (fraction of the width)")
    s.add_argument("--keep-fundamental", action="store_true",
                   help="partial FOV: do not filter the drive fundamental (no DC loss)")
    s.add_argument("--no-dc-recovery", action="store_true",
                   help="partial FOV: keep the DC loss (no continuity recovery)")
    g.add_argument("--scan-mode", choices=SCAN_MODES, default="x",
                   help="fast scan axis; isotropic averages an x and a y scan (default x)")
    g.add_argument("--method", choices=("analytic", "signal"), default="analytic",
                   help="analytic PSF convolution (fast) or signal-level simulation "
                        "(slower; the analytic path images relaxation exactly too); default "
                        "analytic")
    g.add_argument("--fov-mm", type=float, nargs="+", default=[20.0], metavar="MM",
                   help="field of view in mm: one value (square) or two (y x); default 20")
    g.add_argument("--size", type=int, nargs="+", default=[101], metavar="PIXELS",
                   help="image size in pixels: one value (square) or two (ny nx); default 101")
    n = parser.add_argument_group("noise")
    n.add_argument("--snr-db", type=float, default=None,
                   help="add white Gaussian noise at this SNR in dB (mean image power / noise "
                        "variance over the whole image); default: no noise")
    n.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")


def _pair(values: list, flag: str, cast) -> tuple:
    if len(values) == 1:
        return (cast(values[0]), cast(values[0]))
    if len(values) == 2:
        return (cast(values[0]), cast(values[1]))
    raise ValueError(f"{flag} takes one value or two (y x), got {len(values)}")


def grid_from_args(args: argparse.Namespace) -> ImageGrid:
    return ImageGrid(shape=_pair(args.size, "--size", int),
                     fov_mm=_pair(args.fov_mm, "--fov-mm", float))


def particle_from_args(args: argparse.Namespace) -> Particle | Tracer:
    """A :class:`Particle` (one size) or a :class:`Tracer` (preset or lognormal sizes)."""
    tau = getattr(args, "relaxation_time_s", None)
    tau_max = getattr(args, "relaxation_time_max_s", 0.0) or 0.0
    name = getattr(args, "tracer", None)
    sigma = getattr(args, "size_sigma", 0.0) or 0.0
    exponent = getattr(args, "relaxation_size_exponent", 0.0) or 0.0
    if name is not None:
        tracer = tracer_preset(name)
        if tau is not None or tau_max or exponent:
            tracer = tracer.replace(
                relaxation_time_s=tracer.relaxation_time_s if tau is None else tau,
                relaxation_time_max_s=tau_max, relaxation_size_exponent=exponent)
        return tracer
    if sigma or tau_max or exponent:
        return Tracer(sizes=(LognormalSize(args.diameter_nm, sigma),),
                      saturation_magnetisation_a_per_m=args.saturation_magnetisation_a_per_m,
                      temperature_k=args.temperature_k, relaxation_time_s=tau or 0.0,
                      relaxation_time_max_s=tau_max, relaxation_size_exponent=exponent)
    return Particle(
        diameter_nm=args.diameter_nm,
        saturation_magnetisation_a_per_m=args.saturation_magnetisation_a_per_m,
        temperature_k=args.temperature_k,
        relaxation_time_s=tau or 0.0,
    )


def scanner_from_args(args: argparse.Namespace) -> dict:
    """Scanner-imperfection keywords of :class:`XSpaceSettings` / ``DatasetConfig``."""
    partial = None
    if args.partial_fov_mm is not None:
        partial = PartialFOV(width_mm=args.partial_fov_mm, overlap=args.partial_fov_overlap,
                             filter_fundamental=not args.keep_fundamental,
                             recover_dc=not args.no_dc_recovery)
    return {"gradient_error": args.gradient_error,
            "gradient_anisotropy": args.gradient_anisotropy, "partial_fov": partial}


def command_line(argv: list[str] | None = None) -> str:
    """The command line as typed (for provenance attributes)."""
    words = sys.argv[1:] if argv is None else argv
    return "napari-mpi-dl " + shlex.join(words)
