"""Intensity-conserving resampling and scan-axis orientation for physically aware deblurring.

An MPI image's pixel values are a density (signal per area). Resampling here keeps the field of
view exactly and conserves the integral ``sum(image) * pixel_area``:

* the new grid covers the same extent: ``n_out = round(n_in * d_in / d_target)`` pixels of
  ``d_out = n_in * d_in / n_out`` (within half a pixel of the target size over the image);
* each new pixel is the mean of a continuous reconstruction of the image over its footprint,
  computed from the cumulative integral ``C`` at the old pixel edges: ``(C(b) - C(a)) / (b - a)``.
  ``method="area"`` interpolates ``C`` linearly (piecewise-constant pixels, pure area
  weighting); ``method="cubic"`` (default) with a cubic spline (a smooth, still exactly
  conservative reconstruction; no blocky steps when upsampling by 2-3x).

Both are linear maps, applied separably as ``Wy @ image @ Wx.T`` with small cached matrices (a
101 x 101 image costs tens of microseconds).

:func:`deblur_on_model_grid` is the physically aware route of
:func:`napari_mpi_dl.dcgan.inference.deblur`: orient the scan axis as the model's (transpose),
resample to the model's pixel size, deblur, resample back to the input grid, transpose back.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from napari_mpi_dl._blas import single_blas_thread

METHODS = ("cubic", "area")


def resampled_size(n_in: int, pixel_in: float, pixel_target: float) -> int:
    """Pixels of the same extent at (about) ``pixel_target``: ``max(1, round(n_in d_in / d_t))``."""
    if not (pixel_in > 0 and pixel_target > 0):
        raise ValueError(f"pixel sizes must be > 0, got {pixel_in!r} and {pixel_target!r}")
    return max(1, int(round(n_in * pixel_in / pixel_target)))


@lru_cache(maxsize=64)
def _matrix(n_in: int, n_out: int, method: str) -> np.ndarray:
    """(n_out, n_in) conservative resampling of a row of ``n_in`` unit pixels onto ``n_out``
    pixels of the same extent (values are densities: a constant row stays constant)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    edges_in = np.arange(n_in + 1, dtype=np.float64)          # old pixel edges (unit pixels)
    edges_out = np.linspace(0.0, float(n_in), n_out + 1)       # new pixel edges, same extent
    # cumulative integral at the old edges is linear in the pixel values: C = L @ v
    lower = np.tril(np.ones((n_in + 1, n_in)), k=-1)           # C_k = sum_{j<k} v_j
    if method == "area" or n_in < 3:
        interp = np.empty((n_out + 1, n_in + 1))
        eye = np.eye(n_in + 1)
        for k in range(n_in + 1):
            interp[:, k] = np.interp(edges_out, edges_in, eye[k])
    else:
        from scipy.interpolate import CubicSpline

        interp = CubicSpline(edges_in, np.eye(n_in + 1), axis=0)(edges_out)
    cum_out = interp @ lower                                  # C at the new edges
    width = np.diff(edges_out)[:, None]
    m = np.diff(cum_out, axis=0) / width
    m.setflags(write=False)
    return m


def resample(image, pixel_mm, target_pixel_mm, *, method: str = "cubic",
             shape: tuple[int, int] | None = None) -> np.ndarray:
    """Resample the last two axes of ``image`` from ``pixel_mm`` to about ``target_pixel_mm``.

    Parameters
    ----------
    image : array-like (..., h, w)
        Image(s) whose values are densities (intensity per area).
    pixel_mm, target_pixel_mm : (float, float)
        Pixel sizes (dy, dx) in mm of the input and of the wanted grid.
    method : {"cubic", "area"}
        Reconstruction of the cumulative integral (see the module docstring).
    shape : (int, int), optional
        Output size; default :func:`resampled_size` per axis. The extent is kept either way, so
        ``resample(resample(a, p, q), q', p, shape=a.shape[-2:])`` returns to ``a``'s grid.

    Returns
    -------
    numpy.ndarray (float64)
        ``(..., h_out, w_out)``; ``sum * pixel area`` equals the input's.
    """
    a = np.asarray(image, dtype=np.float64)
    if a.ndim < 2:
        raise ValueError(f"image must be at least 2D, got shape {a.shape}")
    (dy, dx), (ty, tx) = (tuple(map(float, pixel_mm)), tuple(map(float, target_pixel_mm)))
    h, w = a.shape[-2:]
    if shape is None:
        shape = (resampled_size(h, dy, ty), resampled_size(w, dx, tx))
    ho, wo = (int(s) for s in shape)
    if ho < 1 or wo < 1:
        raise ValueError(f"shape must be positive, got {shape!r}")
    out = a
    # small products: one BLAS thread is faster than waking a pool (much so on a busy machine)
    with single_blas_thread():
        if ho != h:
            out = np.matmul(_matrix(h, ho, method), out)
        if wo != w:
            out = out @ _matrix(w, wo, method).T
    return np.array(out, dtype=np.float64, copy=True) if out is a else out


def deblur_on_model_grid(arr: np.ndarray, model, card, coverage, *, deblur_plain,
                         method: str = "cubic") -> np.ndarray:
    """Transpose / resample ``arr`` (..., h, w) to the model's grid, deblur, and come back.

    ``coverage`` is :meth:`ModelCard.check_input`'s result (its ``transpose`` and the input
    pixel size in the model's orientation); ``deblur_plain(images) -> images`` runs the
    generator on the model grid. Returns float32 of ``arr``'s shape on ``arr``'s grid.
    """
    x = np.swapaxes(arr, -1, -2) if coverage.transpose else arr
    if coverage.pixel_mm is not None and card.pixel_mm is not None:
        grid = x.shape[-2:]
        on_model = resample(x, coverage.pixel_mm, card.pixel_mm, method=method)
        from napari_mpi_dl.dcgan.networks import MIN_SIZE

        if min(on_model.shape[-2:]) < MIN_SIZE:
            raise ValueError(
                f"resampled to the model's {card.pixel_mm[1]:.4g} mm pixels the image is only "
                f"{on_model.shape[-2]} x {on_model.shape[-1]} pixels; the generator needs at "
                f"least {MIN_SIZE} x {MIN_SIZE}")
        eff = (coverage.pixel_mm[0] * grid[0] / on_model.shape[-2],
               coverage.pixel_mm[1] * grid[1] / on_model.shape[-1])
        y = resample(deblur_plain(on_model.astype(np.float32)), eff, coverage.pixel_mm,
                     method=method, shape=grid)
    else:
        y = deblur_plain(x)
    y = np.swapaxes(y, -1, -2) if coverage.transpose else y
    return np.ascontiguousarray(y, dtype=np.float32)


def deblur_checked(arr: np.ndarray, model, *, pixel_mm, scan_mode, physics=None,
                   force: bool = False, run, method: str = "cubic") -> np.ndarray:
    """Check ``arr`` against the model's card, then :func:`deblur_on_model_grid`.

    Raises :class:`~napari_mpi_dl.dcgan.card.ModelCardMismatch` (naming what differs) when the
    card does not cover the input, unless ``force``: then a ``CardWarning`` says the same and the
    image is deblurred as well as the known facts allow (resampled when both pixel sizes are
    known, transposed when the scan modes say so).
    """
    import warnings

    from napari_mpi_dl.dcgan.card import CardWarning, ModelCardMismatch, model_card

    card = model_card(model)
    coverage = card.check_input(pixel_mm=pixel_mm, scan_mode=scan_mode, **dict(physics or {}))
    if not coverage.covered:
        if not force:
            raise ModelCardMismatch(coverage)
        warnings.warn(f"deblurring anyway (forced): {coverage.message()}", CardWarning,
                      stacklevel=3)
    return deblur_on_model_grid(arr, model, card, coverage, deblur_plain=run, method=method)
