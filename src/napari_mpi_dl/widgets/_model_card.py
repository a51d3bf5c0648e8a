"""The Deblur dock's model-card parts: what a layer says about itself (pixel size, scan mode,
physics) and the card of the chosen weights, read in a worker thread (reading a weights file
needs torch, which the main thread never imports).

Nothing here imports napari, Qt or torch at module import.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SCAN_FROM_METADATA = "from layer metadata"
SCAN_CHOICES = (SCAN_FROM_METADATA, "x", "y", "isotropic")
MM_UNITS = ("mm", "millimeter", "millimetre")


class CardProblems(NamedTuple):
    """Yielded by the deblur job when the card does not cover the layer (shown as a warning)."""

    message: str


def layer_input_facts(layer, scan_choice: str = SCAN_FROM_METADATA) -> dict:
    """``pixel_mm``, ``scan_mode`` and ``physics`` of an image layer for the model card check.

    Pixel size: the layer's scale when its last two axes are in mm, else the metadata's
    ``pixel_mm`` or simulator record; scan mode: ``scan_choice`` unless it is
    :data:`SCAN_FROM_METADATA`, then the metadata's simulator record. Unknown facts are None.
    """
    from napari_mpi_dl.dcgan.card import input_physics

    physics = input_physics(dict(getattr(layer, "metadata", None) or {}))
    pixel = physics.pop("pixel_mm", None)
    scan = physics.pop("scan_mode", None)
    units = tuple(str(u).lower() for u in getattr(layer, "units", ()))[-2:]
    if len(units) == 2 and all(u in MM_UNITS for u in units):
        scale = tuple(float(s) for s in np.asarray(layer.scale)[-2:])
        if all(np.isfinite(s) and s > 0 for s in scale):
            pixel = scale
    if scan_choice != SCAN_FROM_METADATA:
        scan = scan_choice
    return {"pixel_mm": pixel, "scan_mode": scan, "physics": physics}


def read_card_job(weights: str | None, scan_mode: str | None = None):
    """Worker job: ``(summary line, full text)`` of the weights' card (errors as text).

    ``weights`` None: the shipped model for a layer of ``scan_mode``
    (:func:`napari_mpi_dl.dcgan.weights.shipped_weights_path`), named in the summary.
    """
    from napari_mpi_dl._torch_libraries import import_torch

    # torch first, its libraries loaded without the GIL (dcgan.weights imports torch)
    import_torch()
    from pathlib import Path

    from napari_mpi_dl.dcgan.weights import read_card

    try:
        source, card = read_card(weights or None, scan_mode=scan_mode)
    except Exception as exc:  # noqa: BLE001 - shown in the dock, the run reports it properly
        return f"model card: cannot read the weights ({type(exc).__name__})", str(exc)
    which = f"shipped {Path(source).name}: " if not weights else ""
    return f"model: {which}{card.summary()}", f"{source}\n{card.format_text()}"


def start_card_reader(weights: str | None, on_done, scan_mode: str | None = None):
    """Read the card of ``weights`` (None: the shipped model for ``scan_mode``) in a worker;
    ``on_done((summary, text))`` in the main thread. Returns the worker."""
    from napari.qt.threading import create_worker

    worker = create_worker(read_card_job, weights, scan_mode, _start_thread=False,
                           _ignore_errors=True)
    worker.returned.connect(on_done)
    worker.start()
    return worker
