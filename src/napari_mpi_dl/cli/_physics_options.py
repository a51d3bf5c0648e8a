"""Physics flags shared by ``simulate`` and ``dataset`` (units in every flag name)."""

from __future__ import annotations

import argparse
import shlex
import sys

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.particle import Particle
from napari_mpi_dl.physics.presets import DEFAULT_PARTICLE
from napari_mpi_dl.physics.psf import SCAN_MODES


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
    g.add_argument("--relaxation-time-s", type=float, default=p.relaxation_time_s,
                   help="Debye relaxation time in s (default 0: adiabatic)")
    g.add_argument("--scan-mode", choices=SCAN_MODES, default="x",
                   help="fast scan axis; isotropic averages an x and a y scan (default x)")
    g.add_argument("--method", choices=("analytic", "signal"), default="analytic",
                   help="analytic PSF convolution (fast) or signal-level simulation "
                        "(slower; the analytic path handles relaxation exactly too); default analytic")
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


def particle_from_args(args: argparse.Namespace) -> Particle:
    return Particle(
        diameter_nm=args.diameter_nm,
        saturation_magnetisation_a_per_m=args.saturation_magnetisation_a_per_m,
        temperature_k=args.temperature_k,
        relaxation_time_s=args.relaxation_time_s,
    )


def command_line(argv: list[str] | None = None) -> str:
    """The command line as typed (for provenance attributes)."""
    words = sys.argv[1:] if argv is None else argv
    return "napari-mpi-dl " + shlex.join(words)
