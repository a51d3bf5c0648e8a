"""Two-tube resolution phantom: two parallel tubes seen in cross-section (two discs).

The deblurring paper's protocol: tube diameter 1.2 mm, gap between the tube *edges*
1.0 to 3.4 mm in 0.4 mm steps, profile through both tube centres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.presets import DEFAULT_GRID

Orientation = Literal["horizontal", "vertical"]
PROTOCOL_GAPS_MM: tuple[float, ...] = tuple(round(1.0 + 0.4 * i, 1) for i in range(7))
DEFAULT_TUBE_DIAMETER_MM = 1.2


@dataclass(frozen=True)
class TwoTubeGeometry:
    """Where the two tubes are: centres in mm (y, x) and the diameter in mm."""

    centre_a_mm: tuple[float, float]
    centre_b_mm: tuple[float, float]
    diameter_mm: float

    @property
    def profile_line_mm(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """A line through both tube centres extended by one diameter + gap on each side."""
        a = np.asarray(self.centre_a_mm)
        b = np.asarray(self.centre_b_mm)
        direction = (b - a) / np.linalg.norm(b - a)
        reach = np.linalg.norm(b - a)
        return tuple(map(float, a - reach * direction)), tuple(map(float, b + reach * direction))


def two_tube_geometry(
    *,
    gap_mm: float,
    diameter_mm: float = DEFAULT_TUBE_DIAMETER_MM,
    orientation: Orientation = "horizontal",
    centre_mm: tuple[float, float] = (0.0, 0.0),
) -> TwoTubeGeometry:
    """Tube centres for a gap between the tube edges of ``gap_mm``.

    ``orientation="horizontal"`` puts the tubes side by side along x (the profile runs along x);
    ``"vertical"`` stacks them along y.
    """
    if not (np.isfinite(gap_mm) and gap_mm >= 0):
        raise ValueError(f"gap_mm must be a non-negative length in mm, got {gap_mm!r}")
    if not (np.isfinite(diameter_mm) and diameter_mm > 0):
        raise ValueError(f"diameter_mm must be a positive length in mm, got {diameter_mm!r}")
    if orientation not in ("horizontal", "vertical"):
        raise ValueError(f"orientation must be 'horizontal' or 'vertical', got {orientation!r}")
    half = (gap_mm + diameter_mm) / 2.0
    cy, cx = (float(c) for c in centre_mm)
    if orientation == "horizontal":
        return TwoTubeGeometry((cy, cx - half), (cy, cx + half), float(diameter_mm))
    return TwoTubeGeometry((cy - half, cx), (cy + half, cx), float(diameter_mm))


def disc_phantom(
    grid: ImageGrid, centres_mm, diameter_mm: float, *, concentration: float = 1.0,
    supersample: int = 8,
) -> np.ndarray:
    """Discs of ``diameter_mm`` at ``centres_mm`` [(y, x), ...]; pixels hold the covered fraction.

    Each pixel is the mean over ``supersample**2`` sub-pixel points of the disc indicator, so the
    phantom's integral equals the discs' area (in pixel units) to within the sub-sampling error and
    edge pixels are partial-volume weighted rather than all-or-nothing.
    """
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample!r}")
    if not (np.isfinite(concentration) and concentration >= 0):
        raise ValueError(f"concentration must be >= 0, got {concentration!r}")
    py, px = grid.pixel_mm
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    y = grid.axis_mm(0)[:, None] + py * sub[None, :]  # (ny, s)
    x = grid.axis_mm(1)[:, None] + px * sub[None, :]  # (nx, s)
    r2 = (diameter_mm / 2.0) ** 2
    out = np.zeros(grid.shape, dtype=np.float64)
    for cy, cx in centres_mm:
        dy2 = (y - cy) ** 2  # (ny, s)
        dx2 = (x - cx) ** 2  # (nx, s)
        inside = dy2[:, None, :, None] + dx2[None, :, None, :] <= r2  # (ny, nx, s, s)
        out = np.maximum(out, inside.mean(axis=(2, 3)))
    return concentration * out


def two_tube_phantom(
    *,
    gap_mm: float,
    diameter_mm: float = DEFAULT_TUBE_DIAMETER_MM,
    orientation: Orientation = "horizontal",
    centre_mm: tuple[float, float] = (0.0, 0.0),
    grid: ImageGrid = DEFAULT_GRID,
    concentration: float = 1.0,
) -> np.ndarray:
    """Two-tube phantom on ``grid`` (default 101 x 101 over 20 x 20 mm), values in [0, c].

    ``c`` is ``concentration``; edge pixels hold the covered fraction of ``c``.

    Examples
    --------
    >>> ph = two_tube_phantom(gap_mm=1.4)
    >>> ph.shape, float(ph.max())
    ((101, 101), 1.0)
    """
    geom = two_tube_geometry(
        gap_mm=gap_mm, diameter_mm=diameter_mm, orientation=orientation, centre_mm=centre_mm
    )
    half_fov = np.asarray(grid.fov_mm) / 2
    for c in (geom.centre_a_mm, geom.centre_b_mm):
        off = np.abs(np.asarray(c) - np.asarray(grid.centre_mm)) + diameter_mm / 2
        if np.any(off > half_fov):
            raise ValueError(
                f"tubes (gap {gap_mm} mm, diameter {diameter_mm} mm, centre {centre_mm}) "
                f"do not fit in the FOV {grid.fov_mm} mm"
            )
    return disc_phantom(
        grid, [geom.centre_a_mm, geom.centre_b_mm], diameter_mm, concentration=concentration
    )
