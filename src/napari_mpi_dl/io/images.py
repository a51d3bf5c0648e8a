"""Read and write single images (.tif/.tiff via tifffile, .npy via numpy), atomically.

TIFF files written here carry the pixel size as the standard X/Y resolution tags (pixels per
centimetre, ``ResolutionUnit = CENTIMETER``) and, when given, a JSON metadata record in the
ImageDescription tag (tifffile's "shaped" description, marked ``software = napari-mpi-dl``),
which :func:`read_image_metadata` returns and napari's reader of this package recognises.
``.npy`` files hold the array only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from napari_mpi_dl.io.atomic import atomic_path

TIFF_SUFFIXES = (".tif", ".tiff")
NPY_SUFFIXES = (".npy",)
IMAGE_SUFFIXES = TIFF_SUFFIXES + NPY_SUFFIXES
SOFTWARE = "napari-mpi-dl"  # marks the TIFF metadata record (the napari reader looks for it)


def image_suffix(path: str | os.PathLike, *, name: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{name} must end with one of {IMAGE_SUFFIXES}, got {str(path)!r}")
    return suffix


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a .tif/.tiff or .npy image into a numpy array (any shape, original dtype)."""
    suffix = image_suffix(path, name="path")
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{path} is a directory, expected an image file (.tif/.npy)")
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if p.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes); expected a {suffix} image")
    if suffix in NPY_SUFFIXES:
        arr = _load_npy(p)
    else:
        arr = _load_tiff(p)
    arr = np.asarray(arr)
    if arr.size == 0:
        raise ValueError(f"{path} holds an empty array (shape {arr.shape})")
    if arr.dtype != bool and (not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr)):
        raise ValueError(f"{path} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _load_npy(path: Path) -> np.ndarray:
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            header = read_header(fh)
    except (ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{path} is not a NumPy .npy file (bad header: {exc})") from None
    shape, _, dtype = header
    if dtype.hasobject:
        raise ValueError(f"{path} holds Python objects (dtype {dtype}), not numbers; it is not "
                         "an image")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        expected = int(np.prod(shape)) * dtype.itemsize
        raise ValueError(f"{path} is truncated or damaged: the header announces {shape} "
                         f"{dtype} ({expected} bytes of data) ({exc})") from None


def _load_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        return tifffile.imread(path)
    except (ValueError, EOFError, OSError, tifffile.TiffFileError) as exc:
        raise ValueError(f"{path} cannot be read as a TIFF image: it is truncated, damaged "
                         f"or not a TIFF file ({exc})") from None


def read_image_metadata(path: str | os.PathLike) -> dict:
    """Metadata stored by :func:`write_image` in a TIFF file (``{}`` for .npy or foreign files).

    The record contains ``pixel_mm`` (dy, dx) when the file was written with a pixel size.
    """
    suffix = image_suffix(path, name="path")
    if suffix in NPY_SUFFIXES:
        return {}
    import tifffile

    with tifffile.TiffFile(path) as tif:
        meta = tif.shaped_metadata
        if not meta:
            return {}
        record = dict(meta[0])
    record.pop("shape", None)
    return record


def write_image(
    path: str | os.PathLike,
    array,
    *,
    pixel_mm: tuple[float, float] | None = None,
    metadata: dict | None = None,
) -> Path:
    """Write ``array`` to ``path`` (.tif/.tiff or .npy) atomically and return the path.

    Parameters
    ----------
    path : path-like
        Target file; the extension picks the format.
    array : array-like
        Image data (saved with its dtype).
    pixel_mm : (float, float), optional
        Pixel size (dy, dx) in mm; TIFF only (resolution tags and metadata).
    metadata : dict, optional
        JSON-serialisable record stored in the TIFF description (ignored for .npy).
    """
    suffix = image_suffix(path, name="path")
    arr = np.asarray(array)
    if arr.size == 0:
        raise ValueError(f"array is empty (shape {arr.shape})")
    record = {"software": SOFTWARE, **dict(metadata or {})}
    if pixel_mm is not None:
        dy, dx = (float(p) for p in pixel_mm)
        if not (np.isfinite(dy) and np.isfinite(dx) and dy > 0 and dx > 0):
            raise ValueError(f"pixel_mm must be two positive lengths in mm, got {pixel_mm!r}")
        record["pixel_mm"] = [dy, dx]
    try:
        json.dumps(record)
    except TypeError as exc:
        raise ValueError(f"metadata must be JSON-serialisable: {exc}") from None
    with atomic_path(path) as tmp:
        if suffix in NPY_SUFFIXES:
            np.save(tmp, arr, allow_pickle=False)
        else:
            import tifffile

            kwargs = {}
            if pixel_mm is not None:
                # pixels per centimetre (the unit every TIFF reader understands)
                kwargs = {"resolution": (10.0 / dx, 10.0 / dy), "resolutionunit": "CENTIMETER"}
            tifffile.imwrite(tmp, arr, metadata=record, **kwargs)
    return Path(path)
