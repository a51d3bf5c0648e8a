"""napari reader for the TIFF images this package writes (``simulate``, ``deblur``,
``deconvolve``): they reopen with their pixel size and position in mm and their metadata.

A TIFF is recognised by the JSON record :func:`napari_mpi_dl.io.images.write_image` stores
(``software = napari-mpi-dl``, or, in files written before that marker, a known ``kind`` with a
``pixel_mm``); any other TIFF returns None, so napari's own reader opens it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from napari_mpi_dl.io.images import SOFTWARE, TIFF_SUFFIXES
from napari_mpi_dl.napari_io.units import mm_units

KNOWN_KINDS = ("native", "phantom", "deblurred", "deconvolved")


def plugin_tiff_metadata(path) -> dict | None:
    """The metadata record of one of this package's TIFFs, or None for any other file."""
    p = str(path)
    if not p.lower().endswith(TIFF_SUFFIXES) or not os.path.isfile(p):
        return None
    from napari_mpi_dl.io.images import read_image_metadata

    try:
        record = read_image_metadata(p)
    except Exception:  # noqa: BLE001 - not a TIFF tifffile can read: not ours
        return None
    if record.get("software") == SOFTWARE:
        return record
    if record.get("kind") in KNOWN_KINDS and record.get("pixel_mm"):
        return record
    return None


def get_reader(path):
    """npe2 reader contribution: a function for this package's TIFFs, None otherwise."""
    paths = path if isinstance(path, list | tuple) else [path]
    if not paths or not all(plugin_tiff_metadata(p) is not None for p in paths):
        return None
    return read_tiff_layers


def read_tiff_layers(path) -> list[tuple]:
    """Layer data tuples: the image with ``scale``/``translate``/``units`` in mm."""
    from napari_mpi_dl.io.images import read_image

    layers = []
    for p in path if isinstance(path, list | tuple) else [path]:
        record = plugin_tiff_metadata(p) or {}
        data = read_image(p)
        kwargs = {"name": Path(p).stem, "metadata": record,
                  "colormap": "gray" if record.get("kind") == "phantom" else "inferno"}
        pixel = record.get("pixel_mm")
        if pixel and data.ndim >= 2:
            pixel = tuple(float(v) for v in pixel)
            origin = record.get("origin_mm")
            if origin is None:  # the package's grids are centred on the origin
                origin = [q * (1 - n) / 2 for q, n in zip(pixel, data.shape[-2:], strict=True)]
            lead = data.ndim - 2
            kwargs.update(scale=(1.0,) * lead + pixel,
                          translate=(0.0,) * lead + tuple(float(v) for v in origin),
                          units=mm_units(data.ndim))
        layers.append((np.asarray(data), kwargs, "image"))
    return layers
