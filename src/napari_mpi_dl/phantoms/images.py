"""Turn any user image (a napari layer's data, a .tif/.npy file) into a concentration phantom.

A phantom is a finite, non-negative 2D map on the simulation grid. Negative values are an error
unless ``clip_negative=True`` sets them to 0; NaN/inf are always an error. Images of another shape
are resized to the grid (bilinear, anti-aliased when shrinking, clipped at 0) when ``resize=True``.
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl._validation import real_finite_array
from napari_mpi_dl.physics.grid import ImageGrid


def image_phantom(
    image,
    *,
    grid: ImageGrid | None = None,
    resize: bool = True,
    clip_negative: bool = False,
    normalise: bool = False,
    name: str = "image",
) -> np.ndarray:
    """Return a float64 phantom ``(ny, nx)`` from a 2D image.

    Parameters
    ----------
    image : array-like
        2D real image; singleton leading axes (e.g. ``(1, ny, nx)``) are dropped.
    grid : ImageGrid, optional
        Target grid; ``None`` keeps the image's shape.
    resize : bool
        Resize to ``grid.shape`` when the shapes differ; if False a mismatch is an error.
    clip_negative : bool
        Set negative values to 0 instead of raising.
    normalise : bool
        Scale so the maximum is 1 (e.g. for 8-bit images); an all-zero image stays zero.
    name : str
        What to call the input in error messages (e.g. the file name or layer name).
    """
    arr = np.asarray(image)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    arr = real_finite_array(
        arr, name=name,
        what="a 2D image (ny, nx); RGB and multi-plane images are not concentration maps",
    )
    if np.any(arr < 0):
        if not clip_negative:
            raise ValueError(
                f"{name} has negative values (min {arr.min():g}); a concentration must be >= 0 "
                "(use clip_negative / --clip-negative to set them to 0)"
            )
        arr = np.clip(arr, 0.0, None)
    if grid is not None and arr.shape != grid.shape:
        if not resize:
            raise ValueError(f"{name} has shape {arr.shape} but the grid is {grid.shape}")
        from skimage.transform import resize as sk_resize

        shrink = grid.shape[0] < arr.shape[0] or grid.shape[1] < arr.shape[1]
        arr = np.clip(
            sk_resize(arr, grid.shape, order=1, mode="constant", cval=0.0,
                      anti_aliasing=shrink, preserve_range=True),
            0.0, None,
        )
    if normalise:
        peak = float(arr.max())
        if peak > 0:
            arr = arr / peak
    return arr
