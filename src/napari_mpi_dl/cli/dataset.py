"""``napari-mpi-dl dataset``: many phantoms -> one HDF5 data set (layout: docs/simulator.md).

Examples::

    napari-mpi-dl dataset mnist --split train -o mnist_train.h5
    napari-mpi-dl dataset mnist --split test --snr-db 30 --deconvolve wiener -o mnist_test.h5
    napari-mpi-dl dataset two-tube --gradients low high -o tubes.h5
    napari-mpi-dl dataset files a.tif b.npy -o mine.h5
    napari-mpi-dl dataset mnist --split all --tracer resovist -o realistic.h5
    napari-mpi-dl dataset mnist --draw-tracers ideal resovist --draw-gradient-errors -0.1 0 0.1 \
        -o varied.h5
"""

from __future__ import annotations

import argparse
import sys
import time

from napari_mpi_dl.cli._physics_options import (
    add_physics_arguments,
    command_line,
    grid_from_args,
    particle_from_args,
    scanner_from_args,
)
from napari_mpi_dl.phantoms.spec import PhantomSpec


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "dataset",
        help="simulate many phantoms into one HDF5 data set",
        description="Simulate native MPI images of many phantoms (MNIST digits, the two-tube "
                    "series or image files) at one or more gradients and write one HDF5 file "
                    "(atomically) with the phantoms, native images, optional noisy and "
                    "deconvolved images and every parameter.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("phantoms", choices=("mnist", "two-tube", "files"), help="phantom source")
    p.add_argument("files", nargs="*", help="image files (.tif/.npy) for 'files'")
    p.add_argument("-o", "--output", "--out", dest="output",
                   required=True, help="HDF5 file to write (.h5)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    m = p.add_argument_group("MNIST")
    m.add_argument("--split", choices=("train", "test", "all"), default="train",
                   help="train = digits 0-1499, test = the held-out 1500-1599, all = 1600")
    m.add_argument("-n", "--n", type=int, default=None, help="use only the first N digits")
    m.add_argument("--digit-size-mm", type=float, default=None,
                   help="side of the 28x28 MNIST frame in mm (default: the FOV)")
    t = p.add_argument_group("two-tube")
    t.add_argument("--gaps-mm", type=float, nargs="+", default=None,
                   help="gaps between the tube edges in mm (default: 1.0 1.4 ... 3.4)")
    t.add_argument("--diameter-mm", type=float, default=PhantomSpec().diameter_mm,
                   help="tube diameter, mm")
    t.add_argument("--orientation", choices=("horizontal", "vertical"), default="horizontal")
    f = p.add_argument_group("files")
    f.add_argument("--clip-negative", action="store_true", help="set negative values to 0")
    f.add_argument("--normalise", action="store_true", help="scale each phantom's maximum to 1")
    p.add_argument("--gradients", nargs="+", default=["low", "high"], metavar="G",
                   help="gradients: low (1.35 T/m), high (6.0 T/m) or numbers in T/m; one "
                        "/native/<name> stack each (numbers are named g<value>)")
    p.add_argument("--deconvolve", default=None, metavar="METHOD",
                   help="also store /deconvolved/<name> made with this deconvolution method")
    d = p.add_argument_group(
        "physics drawn per image (seeded with --seed; each combination of bins is one cached "
        "model)")
    d.add_argument("--draw-tracers", nargs="+", default=None, metavar="NAME",
                   help="tracer presets to draw from")
    d.add_argument("--draw-relaxation-times-s", nargs="+", type=float, default=None,
                   metavar="TAU", help="Debye times (s) to draw from")
    d.add_argument("--draw-gradient-errors", nargs="+", type=float, default=None,
                   metavar="E", help="relative gradient errors to draw from")
    x = p.add_argument_group("execution")
    x.add_argument("--workers", type=int, default=2, help="parallel workers")
    x.add_argument("--executor", choices=("thread", "process"), default="thread",
                   help="thread pool (FFTs release the GIL) or process pool")
    x.add_argument("--chunk-size", type=int, default=25, help="phantoms per task")
    x.add_argument("--compression", choices=("none", "gzip"), default="none",
                   help="HDF5 compression of the image stacks")
    x.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_physics_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_mpi_dl import datasets as ds

    grid = grid_from_args(args)
    draws = None
    if args.draw_tracers or args.draw_relaxation_times_s or args.draw_gradient_errors:
        draws = ds.PhysicsDraws(tracers=tuple(args.draw_tracers or ()),
                                relaxation_times_s=tuple(args.draw_relaxation_times_s or ()),
                                gradient_errors=tuple(args.draw_gradient_errors or ()))
    if args.files and args.phantoms != "files":
        raise ValueError(f"file arguments are only used with 'files', not {args.phantoms!r}")
    config = ds.DatasetConfig(
        gradients=tuple(args.gradients), particle=particle_from_args(args),
        scan_mode=args.scan_mode, grid=grid, method=args.method, snr_db=args.snr_db,
        seed=args.seed, deconvolve=args.deconvolve, workers=args.workers,
        chunk_size=args.chunk_size, executor=args.executor,
        compression=None if args.compression == "none" else args.compression,
        draws=draws, **scanner_from_args(args),
    )
    if not args.output.endswith((".h5", ".hdf5")):
        raise ValueError(f"--output must end with .h5 or .hdf5, got {args.output!r}")
    t0 = time.perf_counter()
    if args.phantoms == "mnist":
        phantoms = ds.mnist_phantom_set(split=args.split, n=args.n, grid=grid,
                                        size_mm=args.digit_size_mm)
    elif args.phantoms == "two-tube":
        phantoms = ds.two_tube_phantom_set(gaps_mm=args.gaps_mm, diameter_mm=args.diameter_mm,
                                           orientation=args.orientation, grid=grid)
    else:
        if not args.files:
            raise ValueError("'files' needs at least one image file (.tif/.npy)")
        phantoms = ds.file_phantom_set(args.files, grid=grid, clip_negative=args.clip_negative,
                                       normalise=args.normalise)
    ds.generate_dataset(args.output, phantoms, config, command=command_line(),
                        progress=not args.no_progress, overwrite=args.overwrite)
    print(f"wrote {args.output}: {len(phantoms)} phantoms x gradients "
          f"{config.gradient_names} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0
