"""``napari-mpi-dl measure``: simulate an MPI measurement of a phantom with a system matrix.

Examples::

    napari-mpi-dl measure --sm sm_test.mdf --phantom resolution -o meas_resolution.mdf
    napari-mpi-dl measure --sm sm_test.mdf --phantom concentration --frames 20 -o meas_conc.mdf
    napari-mpi-dl measure --sm sm_train.mdf --phantom mnist --index 1503 -o meas_digit.mdf
    napari-mpi-dl measure --sm sm_test.mdf --phantom image --image my.tif -o meas.mdf
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

PHANTOMS = ("resolution", "shape", "concentration", "mnist", "image")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "measure", help="simulate a measurement of a phantom (MDF) with a system matrix",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Simulate an MPI measurement u = S c + background + noise of a phantom on "
                    "the grid of a system matrix and write it as an MDF 2.1.0 measurement. "
                    "A simulated SM file is simulated again without noise; a measured one is "
                    "used as it is.")
    p.add_argument("--sm", required=True, help="system matrix (.mdf)")
    p.add_argument("--phantom", choices=PHANTOMS, default="resolution",
                   help="OpenMPIData-like phantom, an MNIST digit or any image")
    p.add_argument("-o", "--output", "--out", dest="output",
                   required=True, help="measurement file (.mdf)")
    p.add_argument("--concentration-mol-per-l", type=float, default=0.1,
                   help="iron concentration of full tracer (tubes, cone, digit strokes, image "
                        "maximum); the concentration phantom has its own 100..5.85 mmol/L")
    p.add_argument("--index", type=int, default=1500, help="MNIST digit index 0-1599")
    p.add_argument("--image", default=None, help="2D .tif/.npy image for --phantom image")
    p.add_argument("--frames", type=int, default=10, help="foreground frames")
    p.add_argument("--background-frames", type=int, default=10,
                   help="background frames (half before, half after)")
    p.add_argument("--noise-std-v", type=float, default=None,
                   help="receive noise per sample in V (default: the SM simulation's)")
    p.add_argument("--seed", type=int, default=1, help="seed of the noise")
    p.add_argument("--phantom-out", default=None, help="also write the phantom (.tif/.npy)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def phantom_for(args: argparse.Namespace, sm) -> np.ndarray:
    """The phantom (ny, nx) in mol/L on the SM's centre slice."""
    from napari_mpi_dl.physics.grid import ImageGrid

    nx, ny, nz = sm.size_xyz
    fov = 1e3 * np.asarray(sm.fov_m)
    centre = 1e3 * np.asarray(sm.centre_m)
    if not np.all(np.isfinite(fov[:2])):
        raise ValueError(f"{args.sm}: the system matrix has no calibration field of view")
    grid = ImageGrid(shape=(ny, nx), fov_mm=(fov[1], fov[0]), centre_mm=(centre[1], centre[0]))
    c = float(args.concentration_mol_per_l)
    if args.phantom in ("resolution", "shape", "concentration"):
        from napari_mpi_dl.phantoms.openmpi import openmpi_phantom

        kwargs = {"slice_z_mm": float(centre[2]), "slice_thickness_mm": float(fov[2] / nz)}
        if args.phantom != "concentration":
            kwargs["concentration_mol_per_l"] = c
        return openmpi_phantom(args.phantom, grid, **kwargs)
    if args.phantom == "mnist":
        from napari_mpi_dl.phantoms.mnist import mnist_phantom

        return mnist_phantom(args.index, grid=grid, concentration=c)
    if args.image is None:
        raise ValueError("--phantom image needs --image FILE (.tif/.npy)")
    from napari_mpi_dl.io.images import read_image
    from napari_mpi_dl.phantoms.images import image_phantom

    return c * image_phantom(read_image(args.image), grid=grid, normalise=True,
                             name=os.path.basename(args.image))


def run(args: argparse.Namespace) -> int:
    from napari_mpi_dl.io.mdf_read import read_system_matrix
    from napari_mpi_dl.io.mdf_write import write_measurement
    from napari_mpi_dl.io.sm_search import SYSTEM_MATRIX_FIELD
    from napari_mpi_dl.physics.sm_measurement import simulate_measurement
    from napari_mpi_dl.physics.system_matrix import simulation_from_header

    sm = read_system_matrix(args.sm)
    phantom = phantom_for(args, sm)
    if not np.any(phantom > 0):
        raise ValueError(f"the {args.phantom} phantom does not reach into the system matrix's "
                         f"field of view ({np.round(1e3 * sm.fov_m, 3).tolist()} mm around "
                         f"{np.round(1e3 * sm.centre_m, 3).tolist()} mm): nothing to measure")
    sim = simulation_from_header(sm.header)
    if sim is None:
        print(f"note: {args.sm} is not a napari-mpi-dl simulation; its background-corrected "
              "columns (with their noise) are the forward model", file=sys.stderr)
    bar = None
    if not args.no_progress and sim is not None:
        from tqdm.auto import tqdm

        bar = tqdm(total=1, unit="row", desc="noise-free system matrix", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total, bar.n = total, done
            bar.refresh()

    try:
        meas = simulate_measurement(phantom, sim=sim, sm=sm, num_frames=args.frames,
                                    num_background_frames=args.background_frames,
                                    noise_std_v=args.noise_std_v, seed=args.seed,
                                    name=args.phantom, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    out_dir = os.path.dirname(os.path.abspath(args.output))
    meas.header.extra[SYSTEM_MATRIX_FIELD] = os.path.relpath(os.path.abspath(args.sm), out_dir)
    path = write_measurement(args.output, meas)
    if args.phantom_out:
        from napari_mpi_dl.io.images import write_image

        write_image(args.phantom_out, phantom.astype(np.float32),
                    pixel_mm=(1e3 * sm.voxel_size_m[1], 1e3 * sm.voxel_size_m[0]),
                    metadata={"unit": "mol/L", "phantom": args.phantom})
    print(f"wrote {path}: measurement {meas.sizes} of the {args.phantom} phantom "
          f"(max {phantom.max():.4g} mol/L) with {args.sm}")
    return 0
