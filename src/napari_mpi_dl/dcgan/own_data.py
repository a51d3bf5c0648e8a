"""Train DC_GAN on the user's own unpaired images: read files/folders, crop, split, normalise.

* :func:`read_planes` reads .tif/.tiff/.npy images (any stack is split into 2D planes), every
  numeric array of an .npz and every numeric dataset of an .h5/.hdf5 file, from files or
  folders (non-recursive, sorted by name), and the pixel size and scan mode that this package's
  TIFF metadata states.
* :func:`build_domains` normalises every image on its own (min-max to [-1, 1], what
  :func:`~napari_mpi_dl.dcgan.inference.deblur` does to a whole image), holds out a seeded
  validation part of each domain, and cuts seeded random square crops of one size from images
  larger than it (default: the model's training size, 101 px, or the smallest image side), so
  images of any size train together. A crop smaller than an image must be at least
  :data:`MIN_CROP` px: crops have to hold the point-spread function with room around it (64 px
  crops of 0.198 mm already train worse than whole 101 x 101 images at 1.35 T/m,
  docs/dcgan.md).

Nothing here imports torch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from napari_mpi_dl.dcgan.data import Domains, normalise

SUFFIXES = (".tif", ".tiff", ".npy", ".npz", ".h5", ".hdf5")
MIN_CROP = 64
MIN_SIDE = 16
#: Default crop: the shipped model's image size.
DEFAULT_CROP = 101


def _files(paths, name: str) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in SUFFIXES)
            if not found:
                raise ValueError(f"{name}: folder {str(p)!r} holds no image files {SUFFIXES}")
            out.extend(found)
        elif p.is_file():
            if p.suffix.lower() not in SUFFIXES:
                raise ValueError(f"{name}: {str(p)!r} is not one of {SUFFIXES}")
            out.append(p)
        else:
            raise FileNotFoundError(f"{name}: {str(p)!r} does not exist")
    return out


def _arrays(path: Path) -> tuple[list[np.ndarray], dict]:
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff", ".npy"):
        from napari_mpi_dl.io.images import read_image, read_image_metadata

        return [read_image(path)], read_image_metadata(path)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as d:
                arrays = [np.asarray(d[k]) for k in d.files]
        except (OSError, ValueError) as exc:
            raise ValueError(f"{str(path)!r} is not a readable .npz file: {exc}") from None
        return [a for a in arrays if a.ndim >= 2 and a.dtype.kind in "fiu"], {}
    import h5py

    arrays: list[np.ndarray] = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda n, o: arrays.append(np.asarray(o)) if hasattr(o, "shape")
                         and len(o.shape) >= 2 and o.dtype.kind in "fiu" else None)
    except OSError as exc:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file: {exc}") from None
    return arrays, {}


def read_planes(paths, *, name: str = "images") -> tuple[list[np.ndarray], dict[str, Any]]:
    """All 2D planes (float64) in ``paths`` and what their metadata says.

    Returns ``(planes, facts)`` with ``facts = {"files": [...], "pixel_mm": (dy, dx) or None,
    "scan_mode": str or None}`` (pixel size and scan mode only when the files that state them
    agree). Raises ValueError naming the file for non-finite values, images smaller than
    16 x 16 or files without images.
    """
    from napari_mpi_dl.dcgan.card import input_physics

    planes: list[np.ndarray] = []
    pixels, scans = set(), set()
    files = _files(paths if isinstance(paths, list | tuple) else [paths], name)
    for f in files:
        arrays, meta = _arrays(f)
        if not arrays:
            raise ValueError(f"{name}: {str(f)!r} holds no numeric 2D images")
        facts = input_physics(meta)
        if "pixel_mm" in facts:
            pixels.add(tuple(round(v, 9) for v in facts["pixel_mm"]))
        if "scan_mode" in facts:
            scans.add(facts["scan_mode"])
        for a in arrays:
            a = np.asarray(a, dtype=np.float64)
            if a.ndim < 2 or min(a.shape[-2:]) < MIN_SIDE:
                raise ValueError(f"{name}: {str(f)!r} holds an array of shape {a.shape}; "
                                 f"images must be at least {MIN_SIDE} x {MIN_SIDE} pixels")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name}: {str(f)!r} contains NaN or infinite values")
            planes.extend(a.reshape((-1,) + a.shape[-2:]))
    return planes, {"files": [str(f) for f in files],
                    "pixel_mm": next(iter(pixels)) if len(pixels) == 1 else None,
                    "scan_mode": next(iter(scans)) if len(scans) == 1 else None}


def _split(n: int, fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    n_val = int(round(fraction * n))
    if fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    else:
        n_val = 0
    perm = rng.permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _crops(planes, idx, c: int, rng) -> np.ndarray:
    out = []
    for i in idx:
        im = normalise(planes[i])[0]               # whole image, as deblur sees it
        h, w = im.shape
        if (h, w) == (c, c):
            out.append(im)
            continue
        # enough crops to cover the image about twice
        for _ in range(2 * math.ceil(h * w / (c * c))):
            r0 = int(rng.integers(0, h - c + 1))
            c0 = int(rng.integers(0, w - c + 1))
            out.append(im[r0 : r0 + c, c0 : c0 + c])
    return np.stack(out).astype(np.float32) if out else np.zeros((0, c, c), np.float32)


def build_domains(x_planes, y_planes, *, crop_size: int | None = None,
                  val_fraction: float = 0.1, seed: int = 0,
                  info: dict[str, Any] | None = None) -> Domains:
    """Unpaired training domains (with ``.validation``) from the user's X and Y planes.

    Parameters
    ----------
    x_planes, y_planes : sequences of 2D arrays
        Native (blurred) images and deblurred references, any sizes, raw intensities.
    crop_size : int, optional
        Square crop size (px); default ``min(101, smallest image side)``.
    val_fraction : float
        Fraction of each domain's images held out for validation (at least one image when a
        domain has two or more; none with a single image).
    seed : int
        Seeds the split and the crop positions.
    """
    if not len(x_planes) or not len(y_planes):
        raise ValueError("both domains need at least one image (X: natives, Y: deblurred)")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    smallest = min(min(p.shape) for p in list(x_planes) + list(y_planes))
    c = int(crop_size) if crop_size else min(DEFAULT_CROP, smallest)
    if c > smallest:
        raise ValueError(f"crop size {c} px is larger than the smallest image ({smallest} px)")
    largest = max(max(p.shape) for p in list(x_planes) + list(y_planes))
    if c < MIN_CROP and largest > c:
        raise ValueError(
            f"crops of {c} px are too small to hold the point-spread function with room around "
            f"it; use at least {MIN_CROP} px (or images of one size, trained whole)")
    rng = np.random.default_rng(seed)
    tx, vx = _split(len(x_planes), float(val_fraction), rng)
    ty, vy = _split(len(y_planes), float(val_fraction), rng)
    x, y = _crops(x_planes, tx, c, rng), _crops(y_planes, ty, c, rng)
    record = {**dict(info or {}), "x_images": len(tx), "y_images": len(ty),
              "x_validation_images": len(vx), "y_validation_images": len(vy),
              "crop_size": c, "image_shape": [c, c], "split_seed": seed,
              "normalisation": "each whole image min-max to [-1, 1], then cropped"}
    domains = Domains(x, y, record)
    if len(vx) and len(vy):
        domains.validation = Domains(_crops(x_planes, vx, c, rng), _crops(y_planes, vy, c, rng),
                                     {"validation": True})
    return domains
