"""``napari-mpi-dl simulate``: one phantom -> one native image file (.tif or .npy).

Examples::

    napari-mpi-dl simulate two-tube --gap-mm 1.4 -o native.tif
    napari-mpi-dl simulate mnist --index 7 --gradient-t-per-m high --snr-db 30 -o digit.npy
    napari-mpi-dl simulate --phantom-file my.tif --clip-negative --phantom-out p.tif -o n.tif
    napari-mpi-dl simulate two-tube --tracer resovist --gradient-error 0.1 -o real.tif
"""

from __future__ import annotations

import argparse
import sys

from napari_mpi_dl.cli._physics_options import (
    add_physics_arguments,
    grid_from_args,
    particle_from_args,
    scanner_from_args,
)
from napari_mpi_dl.phantoms.spec import PhantomSpec

PHANTOMS = ("two-tube", "mnist")
DEFAULTS = PhantomSpec()


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulate the native MPI image of one phantom",
        description="Simulate the native x-space MPI image of one phantom (built-in or a "
                    ".tif/.npy file) and write it as .tif (with pixel size in mm and the "
                    "parameters as metadata) or .npy.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("phantom", nargs="?", choices=PHANTOMS,
                   help="built-in phantom (or give --phantom-file)")
    p.add_argument("-o", "--output", "--out", dest="output",
                   required=True, help="native image file (.tif, .tiff, .npy)")
    p.add_argument("--phantom-out", default=None, help="also write the phantom (.tif/.npy)")
    t = p.add_argument_group("two-tube phantom")
    t.add_argument("--gap-mm", type=float, default=DEFAULTS.gap_mm,
                   help="gap between the tube edges, mm")
    t.add_argument("--diameter-mm", type=float, default=DEFAULTS.diameter_mm,
                   help="tube diameter, mm")
    t.add_argument("--orientation", choices=("horizontal", "vertical"), default="horizontal",
                   help="tubes side by side along x (horizontal) or along y (vertical)")
    m = p.add_argument_group("MNIST phantom")
    m.add_argument("--index", type=int, default=DEFAULTS.mnist_index,
                   help="digit index 0-1599 (1500-1599 are the held-out test digits)")
    m.add_argument("--digit-size-mm", type=float, default=None,
                   help="side of the 28x28 MNIST frame in mm (default: the FOV)")
    f = p.add_argument_group("phantom from a file")
    f.add_argument("--phantom-file", default=None, help="2D .tif/.npy concentration map")
    f.add_argument("--clip-negative", action="store_true",
                   help="set negative values to 0 instead of failing")
    f.add_argument("--normalise", action="store_true", help="scale the phantom's maximum to 1")
    p.add_argument("--gradient-t-per-m", default="low",
                   help="selection-field gradient in T/m, or a preset: low (1.35) / high (6.0)")
    add_physics_arguments(p)
    p.set_defaults(func=run)


def phantom_spec(args: argparse.Namespace) -> PhantomSpec:
    """The :class:`~napari_mpi_dl.phantoms.spec.PhantomSpec` of the parsed arguments."""
    if (args.phantom is None) == (args.phantom_file is None):
        raise ValueError("give exactly one phantom: 'two-tube', 'mnist' or --phantom-file FILE")
    return PhantomSpec(
        source="file" if args.phantom is None else args.phantom, gap_mm=args.gap_mm,
        diameter_mm=args.diameter_mm, orientation=args.orientation, mnist_index=args.index,
        digit_size_mm=args.digit_size_mm, file=args.phantom_file,
        clip_negative=args.clip_negative, normalise=args.normalise)


def run(args: argparse.Namespace) -> int:
    from napari_mpi_dl.io.images import image_suffix, write_image
    from napari_mpi_dl.physics.memory import check_simulation_memory
    from napari_mpi_dl.physics.native import simulate_native
    from napari_mpi_dl.physics.presets import gradient_from_preset
    from napari_mpi_dl.physics.settings import XSpaceSettings

    image_suffix(args.output, name="--output")
    if args.phantom_out is not None:
        image_suffix(args.phantom_out, name="--phantom-out")
    grid = grid_from_args(args)
    settings = XSpaceSettings(particle=particle_from_args(args),
                              gradient_t_per_m=gradient_from_preset(args.gradient_t_per_m),
                              scan_mode=args.scan_mode, grid=grid, **scanner_from_args(args))
    spec = phantom_spec(args)
    check_simulation_memory(settings, args.method, snr_db=args.snr_db)  # before the phantom
    phantom, description = spec.build(grid), spec.description()
    if not phantom.any():
        raise ValueError(
            f"the phantom is all zero on a grid of {grid.shape[0]} x {grid.shape[1]} pixels over "
            f"{grid.fov_mm[0]:g} x {grid.fov_mm[1]:g} mm (pixel {grid.pixel_mm[0]:.4g} mm): "
            "nothing to simulate; use more pixels (--size) or a smaller field of view "
            "(--fov-mm)")
    native = simulate_native(phantom, settings, method=args.method, snr_db=args.snr_db,
                             seed=args.seed)
    from napari_mpi_dl._validation import checked_result

    try:
        checked_result(native, name="the simulated image", source=phantom, float32=True)
    except ValueError as exc:
        if "all zero" not in str(exc):
            raise
        raise ValueError(
            f"{exc}: a pixel of {grid.pixel_mm[0]:.4g} x {grid.pixel_mm[1]:.4g} mm "
            f"({grid.shape[0]} x {grid.shape[1]} pixels over {grid.fov_mm[0]:g} x "
            f"{grid.fov_mm[1]:g} mm) cannot sample the point-spread function; use more pixels "
            "(--size) or a smaller field of view (--fov-mm)") from None
    from napari_mpi_dl.cli._physics_options import command_line

    meta = {"settings": settings.as_dict(), "method": args.method, "snr_db": args.snr_db,
            "seed": args.seed, "origin_mm": list(grid.origin_mm), **description,
            "command": command_line()}
    write_image(args.output, native.astype("float32"), pixel_mm=grid.pixel_mm,
                metadata={"kind": "native", **meta})
    if args.phantom_out is not None:
        write_image(args.phantom_out, phantom.astype("float32"), pixel_mm=grid.pixel_mm,
                    metadata={"kind": "phantom", **meta})
    print(f"wrote {args.output} ({native.shape[0]}x{native.shape[1]} px, "
          f"pixel {grid.pixel_mm[0]:.4g} mm, gradient {settings.gradient_t_per_m:g} T/m, "
          f"peak {float(native.max()):.4g})", file=sys.stderr)
    return 0
