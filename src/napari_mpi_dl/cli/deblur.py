"""``napari-mpi-dl deblur IN --out OUT``: deblur native image(s) with DC_GAN."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "deblur", help="deblur native MPI images with DC_GAN (shipped or given weights)",
        description="Deblur a native x-space image (.tif/.tiff/.npy, 2D or a stack of 2D) with "
                    "a DC_GAN generator. The output has the input's shape and intensity range.",
    )
    p.add_argument("input", nargs="?", help="native image (.tif, .tiff or .npy)")
    p.add_argument("-o", "--output", "--out", dest="out",
                   help="output image (.tif, .tiff or .npy); required unless --info")
    p.add_argument("--weights", default=None,
                   help="weights file or training checkpoint (default: the shipped weights for "
                        "the input's scan mode: the isotropic model for an isotropic scan when "
                        "shipped, else the x-scan model)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--batch-size", type=int, default=16)
    add_card_options(p)
    p.set_defaults(func=run)


def add_card_options(p) -> None:
    """--info, --pixel-mm, --scan-mode, --force (the model card and physically aware route)."""
    g = p.add_argument_group(
        "model card", "The input is resampled (intensity-conserving) to the pixel size the model "
        "was trained at and transposed when its scan axis is the model's other axis. Pixel size "
        "and scan mode come from these flags or the TIFF metadata written by napari-mpi-dl; an "
        "input the model's card does not cover is an error unless --force.")
    g.add_argument("--info", nargs="?", const="", default=None, metavar="WEIGHTS",
                   help="print the model card of WEIGHTS (default: every shipped model), "
                        "exit")
    g.add_argument("--pixel-mm", type=float, nargs="+", default=None, metavar="MM",
                   help="input pixel size in mm: one value (square) or two (dy dx)")
    g.add_argument("--scan-mode", choices=("x", "y", "isotropic"), default=None,
                   help="scan mode of the input")
    g.add_argument("--force", action="store_true",
                   help="deblur an input the model's card does not cover (with a warning)")


def print_card(weights: str | None) -> int:
    """The card of ``weights``, or of every shipped model (with the inputs each is used for)."""
    from napari_mpi_dl.dcgan.weights import read_card, shipped_weights_files
    from napari_mpi_dl.training.checkpoint import CheckpointError

    used_for = {"x": "x- and y-scan inputs (y-scans transposed), and every input without "
                     "a shipped model of its own scan mode",
                "isotropic": "isotropic-scan inputs"}
    try:
        if weights:
            cards = [(None, *read_card(weights))]
        else:
            cards = [(mode, *read_card(None, scan_mode=mode))
                     for mode in shipped_weights_files()]
    except CheckpointError as exc:
        print(f"napari-mpi-dl deblur: error: {exc}", file=sys.stderr)
        return 2
    blocks = []
    for mode, source, card in cards:
        head = f"DC_GAN model card of {source}"
        if mode is not None:
            head += f"\nshipped model used for {used_for.get(mode, f'{mode}-scan inputs')}"
        blocks.append(f"{head}\n{card.format_text()}")
    print("\n\n".join(blocks))
    return 0


def input_facts(args: argparse.Namespace, meta: dict) -> tuple:
    """(pixel_mm, scan_mode, physics) of the input: flags first, then the file's metadata."""
    from napari_mpi_dl.dcgan.card import input_physics

    physics = input_physics(meta)
    pixel = physics.pop("pixel_mm", None)
    scan = physics.pop("scan_mode", None)
    if args.pixel_mm is not None:
        if len(args.pixel_mm) not in (1, 2) or not all(v > 0 for v in args.pixel_mm):
            raise ValueError(f"--pixel-mm takes one or two positive lengths in mm (dy dx), got "
                             f"{args.pixel_mm}")
        pixel = tuple(args.pixel_mm) * (2 // len(args.pixel_mm))
    return pixel, args.scan_mode or scan, physics


def run(args: argparse.Namespace) -> int:
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
    from napari_mpi_dl.io.images import read_image, read_image_metadata, write_image
    from napari_mpi_dl.training.checkpoint import CheckpointError

    if args.info is not None:
        return print_card(args.info)
    if args.input is None or args.out is None:
        print("napari-mpi-dl deblur: error: give an input image and --out OUTPUT (or --info "
              "[WEIGHTS] to print a model card)", file=sys.stderr)
        return 2
    image = read_image(args.input)
    if image.ndim == 3 and image.shape[-1] in (3, 4) and min(image.shape[:2]) > 4:
        raise ValueError(f"{args.input} looks like a colour (RGB/RGBA) image of shape "
                         f"{image.shape}; deblur takes grayscale native images (h, w) or a "
                         "stack (n, h, w): convert it to one channel first")
    meta = read_image_metadata(args.input)
    pixel_in, scan_mode, physics = input_facts(args, meta)
    try:  # without --weights: the shipped model for the input's scan mode
        model = load_deblurrer(args.weights, device=args.device, scan_mode=scan_mode)
    except CheckpointError as exc:
        print(f"napari-mpi-dl deblur: error: {exc}", file=sys.stderr)
        return 2
    import warnings

    from napari_mpi_dl.dcgan.card import CardWarning, ModelCardMismatch, model_card

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = deblur(image, model, batch_size=args.batch_size, num_threads=args.threads,
                         pixel_mm=pixel_in, scan_mode=scan_mode, physics=physics,
                         force=args.force, physical=True)
    except ModelCardMismatch as exc:
        print(f"napari-mpi-dl deblur: error: {args.input}: {exc}. Give the input's facts with "
              "--pixel-mm / --scan-mode, use weights trained for it, or --force to deblur "
              "anyway", file=sys.stderr)
        return 2
    except ValueError as exc:
        raise ValueError(f"{args.input}: {exc}") from None
    caught = [w for w in caught if issubclass(w.category, CardWarning)]
    for w in caught:
        print(f"napari-mpi-dl deblur: warning: {w.message}", file=sys.stderr)
    dt = time.perf_counter() - t0
    pixel = meta.get("pixel_mm")
    if pixel is None and pixel_in is not None and image.ndim in (2, 3):
        pixel = list(pixel_in)
    card = model_card(model)
    record = {k: v for k, v in meta.items() if k != "pixel_mm"}
    record.update({"kind": "deblurred", "deblurred_by": "DC_GAN", "weights": model.source,
                   "source": str(args.input), "model_card": card.summary(),
                   "input_pixel_mm": list(pixel_in) if pixel_in else None,
                   "input_scan_mode": scan_mode,
                   "forced": [str(w.message) for w in caught] or None})
    write_image(args.out, out, pixel_mm=tuple(pixel) if pixel else None, metadata=record)
    print(f"deblurred {image.shape} with {Path(model.source).name} on {model.device} in "
          f"{dt * 1000:.0f} ms -> {args.out}")
    return 0
