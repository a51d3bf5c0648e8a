"""Physical units of the layers this plugin makes (napari's per-axis layer ``units``).

Every spatial axis is in millimetres (``scale`` and ``translate`` are in mm), so napari's scale
bar and cursor readout show mm. Leading non-spatial axes (stack index, frequency index) keep
napari's "pixel". Nothing here imports napari.
"""

from __future__ import annotations

MM = "mm"
INDEX = "pixel"


def mm_units(ndim: int, spatial: int = 2) -> tuple[str, ...]:
    """Units for a layer of ``ndim`` axes whose last ``spatial`` axes are in mm."""
    if ndim < 1 or spatial < 1:
        raise ValueError(f"ndim and spatial must be >= 1, got {ndim} and {spatial}")
    spatial = min(spatial, ndim)
    return (INDEX,) * (ndim - spatial) + (MM,) * spatial


def with_mm_units(kwargs: dict, ndim: int, spatial: int = 2) -> dict:
    """``kwargs`` (napari layer keyword arguments) with ``units`` in mm added (a new dict)."""
    return {**kwargs, "units": mm_units(ndim, spatial)}
