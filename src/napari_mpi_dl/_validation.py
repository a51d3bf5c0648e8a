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
