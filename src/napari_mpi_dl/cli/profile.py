"""``napari-mpi-dl profile``: line profile of an image with peaks, FWHM, separation and dip.

Coordinates are in mm (y x) on the image's grid: pixel size and origin from the .tif metadata that
this package writes, else ``--fov-mm`` (default 20 mm, centred on 0). ``--pixels`` takes pixel
indices instead; then every length is in pixels and the JSON keys say so (``separation_px``,
``fwhm_px``, ``peaks_px`` instead of ``*_mm``; ``unit`` is ``"px"``).

Examples::

    napari-mpi-dl profile native.tif --start 0 -5 --end 0 5 --width 3
    napari-mpi-dl profile native.npy --start 50 20 --end 50 80 --pixels --json
"""

from __future__ import annotations

import argparse
import json

from napari_mpi_dl.analysis.profiles import DEFAULT_DIP_THRESHOLD, DEFAULT_MIN_PROMINENCE


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "profile",
        help="line profile: peaks, FWHM, separation, dip, resolved",
        description="Width-averaged, bilinearly interpolated line profile of a 2D image, its "
                    "peaks and FWHM, and for two peaks their separation and the dip "
                    "1 - valley / min(peak1, peak2); resolved when the dip reaches the threshold.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("image", help="2D image (.tif, .tiff, .npy)")
    p.add_argument("--start", type=float, nargs=2, required=True, metavar=("Y", "X"))
    p.add_argument("--end", type=float, nargs=2, required=True, metavar=("Y", "X"))
    p.add_argument("--width", type=int, default=1, help="lines averaged across the segment (px)")
    p.add_argument("--pixels", action="store_true", help="coordinates are pixel indices, not mm")
    p.add_argument("--fov-mm", type=float, nargs="+", default=None, metavar="MM",
                   help="field of view (one value or y x) when the file has no pixel size "
                        "(default 20)")
    p.add_argument("--threshold", type=float, default=DEFAULT_DIP_THRESHOLD,
                   help="dip at which two peaks count as resolved")
    p.add_argument("--min-prominence", type=float, default=DEFAULT_MIN_PROMINENCE,
                   help="minimum peak prominence as a fraction of the profile's range")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--samples", action="store_true",
                   help="include the profile samples (distance_mm, value) in the JSON")
    p.set_defaults(func=run)


def layer_geometry(args: argparse.Namespace, shape: tuple[int, int],
                   metadata: dict) -> tuple[tuple[float, float], tuple[float, float], str]:
    """``(scale, translate, unit)`` of the image's pixels."""
    if args.pixels:
        return (1.0, 1.0), (0.0, 0.0), "px"
    if args.fov_mm is not None:
        fov = args.fov_mm * 2 if len(args.fov_mm) == 1 else args.fov_mm
        if len(fov) != 2:
            raise ValueError(f"--fov-mm takes one value or two (y x), got {len(args.fov_mm)}")
        pixel, origin = (fov[0] / shape[0], fov[1] / shape[1]), None
    else:
        pixel = metadata.get("pixel_mm") or (20.0 / shape[0], 20.0 / shape[1])
        origin = metadata.get("origin_mm")
    if origin is None:  # centred grid
        origin = tuple(-(n - 1) / 2.0 * p for n, p in zip(shape, pixel, strict=False))
    return tuple(map(float, pixel)), tuple(map(float, origin)), "mm"


def run(args: argparse.Namespace) -> int:
    from napari_mpi_dl.analysis.profiles import analyse_profile, sample_profile
    from napari_mpi_dl.io.images import read_image, read_image_metadata

    image = read_image(args.image)
    if image.ndim != 2:
        raise ValueError(f"{args.image} must hold one 2D image, got shape {image.shape}")
    scale, translate, unit = layer_geometry(args, image.shape, read_image_metadata(args.image))
    prof = sample_profile(image, args.start, args.end, width_px=args.width, scale=scale,
                          translate=translate)
    ana = analyse_profile(prof.distance_mm, prof.values, threshold=args.threshold,
                          min_prominence=args.min_prominence)
    record = {"image": str(args.image), "unit": unit, "start": list(prof.start_mm),
              "end": list(prof.end_mm), "length": prof.length_mm, "width_px": prof.width_px,
              **ana.as_dict(unit)}
    if args.json:
        if args.samples:
            record["distance"] = prof.distance_mm.tolist()
            record["values"] = prof.values.tolist()
        print(json.dumps(record))
        return 0

    print(f"profile of {args.image}: ({prof.start_mm[0]:g}, {prof.start_mm[1]:g}) -> "
          f"({prof.end_mm[0]:g}, {prof.end_mm[1]:g}) {unit}, length {prof.length_mm:.3f} {unit}, "
          f"width {prof.width_px} px")
    print(f"peaks found: {len(ana.peaks)}")
    for i, peak in enumerate(ana.main_peaks, 1):
        fwhm = "n/a (overlapping or cut off)" if peak.fwhm_mm is None else (
            f"{peak.fwhm_mm:.3f} {unit}")
        print(f"  peak {i}: {peak.position_mm:.3f} {unit} from start, value {peak.value:.4g}, "
              f"FWHM {fwhm}")
    sep = "n/a (fewer than two peaks)" if ana.separation_mm is None else (
        f"{ana.separation_mm:.3f} {unit}")
    print(f"separation: {sep}")
    print(f"dip: {ana.dip:.3f} ({ana.dip * 100:.1f} %)")
    print(f"resolved: {'yes' if ana.resolved else 'no'} (threshold {ana.threshold:g})")
    return 0
