"""Phantoms to put in a data set, with their provenance: :class:`PhantomSet` and its builders.

Every phantom of the two-tube and file sets is built by
:class:`napari_mpi_dl.phantoms.spec.PhantomSpec` (the same options as ``simulate`` and the
simulator dock); MNIST sets use the vectorised :func:`napari_mpi_dl.phantoms.mnist.mnist_phantoms`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from napari_mpi_dl.phantoms.spec import PhantomSpec
from napari_mpi_dl.phantoms.two_tube import DEFAULT_TUBE_DIAMETER_MM
from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.presets import DEFAULT_GRID


@dataclass(frozen=True)
class PhantomSet:
    """Phantoms to simulate plus their provenance.

    ``phantoms`` (n, ny, nx) >= 0; ``labels`` (n,) (-1 when not a digit); ``source_index`` (n,);
    ``source`` a short name ("mnist", "two-tube", "files", "array"); ``options`` a JSON-able record.
    """

    phantoms: np.ndarray
    labels: np.ndarray
    source_index: np.ndarray
    source: str = "array"
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from napari_mpi_dl.physics.native import validate_concentration

        ph = validate_concentration(self.phantoms, name="phantoms")
        if ph.ndim != 3:
            raise ValueError(f"phantoms must be a stack (n, ny, nx), got shape {ph.shape}")
        n = ph.shape[0]
        for name in ("labels", "source_index"):
            arr = np.asarray(getattr(self, name))
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
            object.__setattr__(self, name, arr.astype(np.int64))
        object.__setattr__(self, "phantoms", ph)

    def __len__(self) -> int:
        return int(self.phantoms.shape[0])


def mnist_phantom_set(
    *, split: str = "train", n: int | None = None, indices: Sequence[int] | None = None,
    grid: ImageGrid = DEFAULT_GRID, size_mm: float | None = None,
) -> PhantomSet:
    """MNIST phantoms of a split (``"train"``, ``"test"``, ``"all"``), its first ``n``, or
    explicit ``indices``; labels are the digits, ``source_index`` the MNIST indices."""
    from napari_mpi_dl.phantoms import mnist

    idx = mnist.mnist_indices(split) if indices is None else np.asarray(indices, dtype=np.int64)
    if n is not None:
        if n < 1 or n > idx.size:
            raise ValueError(f"n must be in [1, {idx.size}] for split {split!r}, got {n!r}")
        idx = idx[:n]
    phantoms = mnist.mnist_phantoms(idx, grid=grid, size_mm=size_mm)
    options = {"split": split if indices is None else "indices", "n": int(idx.size),
               "size_mm": float(min(grid.fov_mm) if size_mm is None else size_mm),
               "resource": mnist.MNIST_RESOURCE}
    return PhantomSet(phantoms, mnist.mnist_labels(idx), idx, "mnist", options)


def two_tube_phantom_set(
    *, gaps_mm: Sequence[float] | None = None, diameter_mm: float = DEFAULT_TUBE_DIAMETER_MM,
    orientation: str = "horizontal", grid: ImageGrid = DEFAULT_GRID,
) -> PhantomSet:
    """Two-tube phantoms, one per gap (default: the protocol gaps 1.0-3.4 mm)."""
    from napari_mpi_dl.phantoms.two_tube import PROTOCOL_GAPS_MM

    gaps = list(PROTOCOL_GAPS_MM if gaps_mm is None else gaps_mm)
    if not gaps:
        raise ValueError("gaps_mm must hold at least one gap")
    spec = PhantomSpec(source="two-tube", diameter_mm=diameter_mm, orientation=orientation)
    phantoms = np.stack([spec.replace(gap_mm=float(g)).build(grid) for g in gaps])
    options = {"gaps_mm": [float(g) for g in gaps], "diameter_mm": float(diameter_mm),
               "orientation": orientation}
    n = len(gaps)
    return PhantomSet(phantoms, np.full(n, -1), np.arange(n), "two-tube", options)


def file_phantom_set(
    paths: Sequence[str | os.PathLike], *, grid: ImageGrid = DEFAULT_GRID,
    clip_negative: bool = False, normalise: bool = False,
) -> PhantomSet:
    """Phantoms from image files (.tif/.npy), each resized to ``grid``."""
    if not paths:
        raise ValueError("paths must name at least one image file")
    phantoms = np.stack([
        PhantomSpec(source="file", file=str(p), clip_negative=clip_negative,
                    normalise=normalise).build(grid)
        for p in paths
    ])
    n = len(paths)
    options = {"files": [str(p) for p in paths], "clip_negative": clip_negative,
               "normalise": normalise}
    return PhantomSet(phantoms, np.full(n, -1), np.arange(n), "files", options)
