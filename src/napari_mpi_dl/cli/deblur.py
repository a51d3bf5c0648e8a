"""``napari-mpi-dl deblur IN --out OUT``: deblur native image(s) with DC_GAN."""

from __future__ import annotations

import argparse
import sys
import time


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "deblur", help="deblur native MPI images with DC_GAN (shipped or given weights)",
        description="Deblur a native x-space image (.tif/.tiff/.npy, 2D or a stack of 2D) with "
                    "a DC_GAN generator. The output has the input's shape and intensity range.",
    )
    p.add_argument("input", help="native image (.tif, .tiff or .npy)")
    p.add_argument("-o", "--output", "--out", dest="out",
                   required=True, help="output image (.tif, .tiff or .npy)")
    p.add_argument("--weights", default=None,
                   help="weights file or training checkpoint (default: the shipped weights)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--batch-size", type=int, default=16)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
    from napari_mpi_dl.io.images import read_image, read_image_metadata, write_image
    from napari_mpi_dl.training.checkpoint import CheckpointError

    image = read_image(args.input)
    if image.ndim == 3 and image.shape[-1] in (3, 4) and min(image.shape[:2]) > 4:
        raise ValueError(f"{args.input} looks like a colour (RGB/RGBA) image of shape "
                         f"{image.shape}; deblur takes grayscale native images (h, w) or a "
                         "stack (n, h, w): convert it to one channel first")
    meta = read_image_metadata(args.input)
    try:
        model = load_deblurrer(args.weights, device=args.device)
    except CheckpointError as exc:
        print(f"napari-mpi-dl deblur: error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        out = deblur(image, model, batch_size=args.batch_size, num_threads=args.threads)
    except ValueError as exc:
        raise ValueError(f"{args.input}: {exc}") from None
    dt = time.perf_counter() - t0
    pixel = meta.get("pixel_mm")
    record = {k: v for k, v in meta.items() if k != "pixel_mm"}
    record.update({"kind": "deblurred", "deblurred_by": "DC_GAN", "weights": model.source,
                   "source": str(args.input)})
    write_image(args.out, out, pixel_mm=tuple(pixel) if pixel else None, metadata=record)
    print(f"deblurred {image.shape} on {model.device} in {dt * 1000:.0f} ms -> {args.out}")
    return 0
