"""napari sample data: the two-tube resolution series and held-out MNIST digits, simulated.

Each function returns napari ``LayerData`` tuples ``(data, kwargs, "image")``: stacks
``(index, y, x)`` with ``scale``/``translate`` and ``units`` in mm (the stack axis has scale 1)
and the parameters in ``metadata``. Nothing here imports napari.
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl.napari_io.units import mm_units
from napari_mpi_dl.physics.presets import DEFAULT_GRID, LOW_GRADIENT_T_PER_M

N_MNIST_SAMPLES = 8


def _stack_kwargs(grid) -> dict:
    kw = grid.layer_kwargs()
    return {"scale": (1.0, *kw["scale"]), "translate": (0.0, *kw["translate"]),
            "units": mm_units(3), "axis_labels": ("index", "y", "x")}


def _native_low(phantoms: np.ndarray):
    from napari_mpi_dl.physics.native import NativeSimulator
    from napari_mpi_dl.physics.settings import XSpaceSettings

    settings = XSpaceSettings(gradient_t_per_m=LOW_GRADIENT_T_PER_M, grid=DEFAULT_GRID)
    return NativeSimulator(settings).simulate(phantoms).astype(np.float32), settings


def two_tube_series() -> list[tuple]:
    """Two-tube phantoms at the protocol gaps (1.0-3.4 mm) and their low-gradient native images."""
    from napari_mpi_dl.phantoms.two_tube import (
        DEFAULT_TUBE_DIAMETER_MM,
        PROTOCOL_GAPS_MM,
        two_tube_phantom,
    )

    gaps = list(PROTOCOL_GAPS_MM)
    phantoms = np.stack([two_tube_phantom(gap_mm=g, grid=DEFAULT_GRID) for g in gaps])
    native, settings = _native_low(phantoms)
    meta = {"gaps_mm": gaps, "diameter_mm": DEFAULT_TUBE_DIAMETER_MM,
            "orientation": "horizontal", "settings": settings.as_dict(), "method": "analytic"}
    kw = _stack_kwargs(DEFAULT_GRID)
    return [
        (phantoms.astype(np.float32),
         {**kw, "name": "two-tube phantoms", "colormap": "gray",
          "metadata": {"kind": "phantom", **meta}}, "image"),
        (native, {**kw, "name": "two-tube native (low gradient)", "colormap": "inferno",
                  "metadata": {"kind": "native", **meta}}, "image"),
    ]


def mnist_natives() -> list[tuple]:
    """The first 8 held-out test MNIST digits as phantoms and low-gradient native images."""
    from napari_mpi_dl.phantoms.mnist import TEST_INDICES, mnist_labels, mnist_phantoms

    idx = list(TEST_INDICES[:N_MNIST_SAMPLES])
    phantoms = mnist_phantoms(idx, grid=DEFAULT_GRID)
    native, settings = _native_low(phantoms)
    meta = {"mnist_indices": idx, "labels": mnist_labels(idx).tolist(),
            "settings": settings.as_dict(), "method": "analytic"}
    kw = _stack_kwargs(DEFAULT_GRID)
    return [
        (phantoms.astype(np.float32),
         {**kw, "name": "MNIST phantoms (test digits)", "colormap": "gray",
          "metadata": {"kind": "phantom", **meta}}, "image"),
        (native, {**kw, "name": "MNIST native (low gradient)", "colormap": "inferno",
                  "metadata": {"kind": "native", **meta}}, "image"),
    ]
