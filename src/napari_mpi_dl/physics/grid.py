"""Regular 2D image grids in physical units (millimetres), napari-compatible.

Pixel ``(i, j)`` (row i along y, column j along x) has its centre at
``centre_mm - fov_mm / 2 + (index + 0.5) * pixel_mm`` with ``pixel_mm = fov_mm / shape``: the same
convention as MDF voxel centres. napari layers use ``scale = pixel_mm`` and
``translate = first pixel centre``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageGrid:
    """A 2D grid: ``shape`` (ny, nx) pixels covering ``fov_mm`` (fy, fx) around ``centre_mm``."""

    shape: tuple[int, int] = (101, 101)
    fov_mm: tuple[float, float] = (20.0, 20.0)
    centre_mm: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        fov = tuple(float(f) for f in self.fov_mm)
        centre = tuple(float(c) for c in self.centre_mm)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"shape must be two positive integers (ny, nx), got {self.shape!r}")
        if len(fov) != 2 or not all(np.isfinite(f) and f > 0 for f in fov):
            raise ValueError(f"fov_mm must be two positive lengths (fy, fx), got {self.fov_mm!r}")
        if len(centre) != 2 or not all(np.isfinite(c) for c in centre):
            raise ValueError(f"centre_mm must be two finite numbers, got {self.centre_mm!r}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "fov_mm", fov)
        object.__setattr__(self, "centre_mm", centre)

    @classmethod
    def for_image(cls, image: np.ndarray, fov_mm=(20.0, 20.0), centre_mm=(0.0, 0.0)) -> ImageGrid:
        return cls(shape=tuple(np.shape(image)[-2:]), fov_mm=fov_mm, centre_mm=centre_mm)

    @property
    def pixel_mm(self) -> tuple[float, float]:
        """Pixel pitch (dy, dx) in millimetres."""
        return (self.fov_mm[0] / self.shape[0], self.fov_mm[1] / self.shape[1])

    @property
    def origin_mm(self) -> tuple[float, float]:
        """Centre of pixel (0, 0) in millimetres (napari ``translate``)."""
        parts = zip(self.centre_mm, self.fov_mm, self.pixel_mm, strict=True)
        return tuple(c - f / 2 + 0.5 * p for c, f, p in parts)

    def axis_mm(self, axis: int) -> np.ndarray:
        """Pixel-centre coordinates along ``axis`` (0 = y, 1 = x) in millimetres."""
        return self.origin_mm[axis] + self.pixel_mm[axis] * np.arange(self.shape[axis])

    def coordinates_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinate arrays (y, x), each of ``shape``, in millimetres."""
        return np.meshgrid(self.axis_mm(0), self.axis_mm(1), indexing="ij")

    def layer_kwargs(self) -> dict:
        """``scale`` and ``translate`` for a napari layer on this grid (mm)."""
        return {"scale": self.pixel_mm, "translate": self.origin_mm}

    def as_dict(self) -> dict:
        return {"shape": list(self.shape), "fov_mm": list(self.fov_mm),
                "centre_mm": list(self.centre_mm)}
