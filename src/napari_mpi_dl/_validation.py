"""Input checks shared by the library: one wording for every "bad array" error."""

from __future__ import annotations

import numpy as np


def real_finite_array(value, *, name: str, ndim: tuple[int, ...] = (2,),
                      what: str = "a 2D image (ny, nx)") -> np.ndarray:
    """Return ``value`` as a float64 array after checking dimensions, dtype and finiteness.

    Raises ``ValueError`` naming ``name`` for: a number of dimensions not in ``ndim`` (the message
    says it must be ``what``), an empty array, a non-numeric or complex dtype, NaN or infinity.
    Booleans count as numbers (0/1).
    """
    arr = np.asarray(value)
    if arr.ndim not in ndim:
        raise ValueError(f"{name} must be {what}, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype != bool and (not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


FLOAT32_MAX = float(np.finfo(np.float32).max)


def checked_result(value, *, name: str, source=None, allow_zero: bool = False,
                   float32: bool = False) -> np.ndarray:
    """Return a computed array after checking it is fit to be written or shown.

    Raises ``ValueError`` naming ``name`` for NaN or infinite values, values beyond the float32
    range when ``float32`` (the array is about to be stored as float32), and an all-zero
    result from an input ``source`` that is not all zero (unless ``allow_zero``).
    """
    arr = np.asarray(value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values (the computation "
                         "overflowed); scale the input down")
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    if float32 and peak > FLOAT32_MAX:
        raise ValueError(f"{name} has values up to {peak:.3g}, beyond the float32 range "
                         f"({FLOAT32_MAX:.3g}) of the output; scale the input down")
    if not allow_zero and peak == 0 and source is not None and np.any(np.asarray(source)):
        raise ValueError(f"{name} is all zero although its input is not")
    return arr
