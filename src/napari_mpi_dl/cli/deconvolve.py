"""``napari-mpi-dl deconvolve``: one native image -> one deconvolved image (.tif or .npy).

The PSF is the simulator's model for the image's acquisition settings (read from the metadata that
``napari-mpi-dl simulate`` writes into .tif files, overridable by flags), optionally deliberately
wrong or "measured" (a simulated noisy point source).

Examples::

    napari-mpi-dl deconvolve native.tif --method wiener --out wiener.tif
    napari-mpi-dl deconvolve native.tif --method richardson-lucy --iterations 200 \\
        --psf wrong --psf-gradient-error -0.2 --out rl_wrong.tif
"""

from __future__ import annotations

import argparse
import sys

from napari_mpi_dl.recon.deconvolution import (
    DEFAULT_RL_ITERATIONS,
    DEFAULT_RL_TOL,
    DEFAULT_WIENER_BALANCE,
    DEFAULT_WIENER_REGULARISER,
    METHODS,
    REGULARISERS,
)
from napari_mpi_dl.recon.psf_models import PSF_KINDS


def add_psf_arguments(p: argparse.ArgumentParser) -> None:
    """PSF flags shared with ``evaluate``-like commands."""
    g = p.add_argument_group("PSF (default: from the image's metadata, else the package presets)")
    g.add_argument("--gradient-t-per-m", default=None,
                   help="gradient in T/m or a preset (low = 1.35, high = 6.0)")
    g.add_argument("--diameter-nm", type=float, default=None, help="particle core diameter, nm")
    g.add_argument("--scan-mode", choices=("x", "y", "isotropic"), default=None,
                   help="fast scan axis of the acquisition")
    g.add_argument("--fov-mm", type=float, nargs="+", default=None, metavar="MM",
                   help="field of view (one value or y x) when the file has no pixel size; "
                        "default 20")
    g.add_argument("--psf", choices=PSF_KINDS, default="exact",
                   help="exact model, deliberately wrong model, or measured point source")
    g.add_argument("--psf-diameter-error", type=float, default=0.0,
                   help="relative diameter error of the wrong PSF (0.2 = +20 %%)")
    g.add_argument("--psf-gradient-error", type=float, default=0.0,
                   help="relative gradient error of the wrong PSF (-0.2 = -20 %%)")
    g.add_argument("--psf-snr-db", type=float, default=30.0,
                   help="noise of the measured point source, dB")
    g.add_argument("--psf-seed", type=int, default=0, help="seed of that noise")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "deconvolve",
        help="deconvolve a native MPI image (Wiener, Richardson-Lucy, unsupervised Wiener)",
        description="Deconvolve a native x-space image with the simulator's PSF (exact, wrong or "
                    "measured). Boundaries are handled by padding (no wrap-around); nothing is "
                    "clipped; intensities keep their physical scale.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("input", help="native image (.tif, .tiff, .npy; 2D)")
    p.add_argument("-o", "--output", "--out", dest="out",
                   required=True, help="output image (.tif, .tiff, .npy)")
    p.add_argument("--method", choices=METHODS, default="wiener")
    a = p.add_argument_group("algorithm options")
    a.add_argument("--balance", type=float, default=DEFAULT_WIENER_BALANCE,
                   help="Wiener: relative regularisation (tuned default)")
    a.add_argument("--regulariser", choices=REGULARISERS, default=DEFAULT_WIENER_REGULARISER,
                   help="Wiener: penalty on the image energy or its Laplacian")
    a.add_argument("--iterations", type=int, default=DEFAULT_RL_ITERATIONS,
                   help="Richardson-Lucy: maximum iterations (tuned default)")
    a.add_argument("--tol", type=float, default=DEFAULT_RL_TOL,
                   help="Richardson-Lucy: stop when the relative change falls below this")
    a.add_argument("--seed", type=int, default=0, help="unsupervised Wiener: sampler seed")
    add_psf_arguments(p)
    p.set_defaults(func=run)


def settings_for_image(args: argparse.Namespace, image, metadata: dict):
    """Acquisition settings for ``image``: metadata first, then explicit flags override."""
    from napari_mpi_dl.physics.presets import gradient_from_preset
    from napari_mpi_dl.recon.psf_models import settings_from_dict

    pixel = metadata.get("pixel_mm")
    if args.fov_mm is not None:
        fov = args.fov_mm * 2 if len(args.fov_mm) == 1 else args.fov_mm
        if len(fov) != 2:
            raise ValueError(f"--fov-mm takes one value or two (y x), got {len(args.fov_mm)}")
        pixel = (fov[0] / image.shape[0], fov[1] / image.shape[1])
    settings = settings_from_dict(metadata.get("settings"), shape=image.shape[-2:],
                                  pixel_mm=tuple(pixel) if pixel is not None else None)
    changes = {}
    if args.gradient_t_per_m is not None:
        changes["gradient_t_per_m"] = gradient_from_preset(args.gradient_t_per_m)
    if args.scan_mode is not None:
        changes["scan_mode"] = args.scan_mode
    if args.diameter_nm is not None:
        from dataclasses import replace

        changes["particle"] = replace(settings.particle, diameter_nm=args.diameter_nm)
    return settings.replace(**changes) if changes else settings


def psf_model_from_args(args: argparse.Namespace):
    from napari_mpi_dl.recon.psf_models import PSFModel

    return PSFModel(args.psf, diameter_error=args.psf_diameter_error,
                    gradient_error=args.psf_gradient_error, snr_db=args.psf_snr_db,
                    seed=args.psf_seed)


def run(args: argparse.Namespace) -> int:
    import time

    from napari_mpi_dl.io.images import image_suffix, read_image, read_image_metadata, write_image
    from napari_mpi_dl.recon.deconvolution import deconvolve
    from napari_mpi_dl.recon.psf_models import build_psf

    image_suffix(args.out, name="--output")
    image = read_image(args.input)
    if image.ndim != 2:
        raise ValueError(f"{args.input} must hold one 2D image, got shape {image.shape}")
    metadata = read_image_metadata(args.input)
    settings = settings_for_image(args, image, metadata)
    model = psf_model_from_args(args)
    psf = build_psf(settings, model)
    options = {
        "wiener": {"balance": args.balance, "regulariser": args.regulariser},
        "richardson-lucy": {"iterations": args.iterations, "tol": args.tol},
        "unsupervised-wiener": {"seed": args.seed},
    }[args.method]
    t0 = time.perf_counter()
    try:
        result = deconvolve(image, psf, method=args.method, **options)
    except ValueError as exc:
        raise ValueError(f"{args.input}: {exc}") from None
    elapsed = time.perf_counter() - t0
    write_image(args.out, result.astype("float32"), pixel_mm=settings.grid.pixel_mm,
                metadata={"kind": "deconvolved", "method": args.method, "options": options,
                          "psf": model.as_dict(), "settings": settings.as_dict(),
                          "source": str(args.input),
                          "origin_mm": metadata.get("origin_mm", list(settings.grid.origin_mm))})
    print(f"wrote {args.out} ({args.method}, {model.describe()}, {elapsed:.2f} s, "
          f"range {float(result.min()):.4g} .. {float(result.max()):.4g})", file=sys.stderr)
    return 0
