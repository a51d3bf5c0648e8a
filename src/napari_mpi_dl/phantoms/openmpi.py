"""OpenMPIData-like phantoms as 2D slices (mol/L of iron) on a system-matrix grid.

After the OpenMPIData descriptions (Knopp et al., Data in Brief 28, 2020); exact dimensions and
positions are ours and are parameters:

* ``resolution``: five tubes from a common origin: one along y, two tilted in the xy plane (20 and
  30 degrees) and two tilted out of it, in the yz plane (10 and 15 degrees), so their distance to
  the first grows along y. Only the part inside the slice shows.
* ``shape``: a cone (apex towards +y); its slice through the axis is a triangle.
* ``concentration``: 8 cubes of 2 mm with 100, 66.6, 44.4, 29.6, 19.7, 13.1, 8.77 and 5.85 mmol/L
  on a ring around the centre.

Each voxel holds the mean concentration over ``supersample`` (x, y, z) points of its volume
(partial-volume weighting). The slice is the grid's (ny, nx) pixels at ``slice_z_mm`` with
thickness ``slice_thickness_mm``.
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl.physics.grid import ImageGrid

CONCENTRATION_CUBES_MMOL_PER_L = (100.0, 66.6, 44.4, 29.6, 19.7, 13.1, 8.77, 5.85)
OPENMPI_PHANTOMS = ("resolution", "shape", "concentration")


def _sample_points(grid: ImageGrid, slice_z_mm: float, slice_thickness_mm: float,
                   supersample: tuple[int, int, int]) -> tuple[np.ndarray, ...]:
    """Sub-voxel points: x, y, z arrays of shape (ny, nx, S) in mm."""
    sx, sy, sz = (int(s) for s in supersample)
    if min(sx, sy, sz) < 1:
        raise ValueError(f"supersample must be >= 1 per axis, got {supersample!r}")
    py, px = grid.pixel_mm
    ox = ((np.arange(sx) + 0.5) / sx - 0.5) * px
    oy = ((np.arange(sy) + 0.5) / sy - 0.5) * py
    oz = ((np.arange(sz) + 0.5) / sz - 0.5) * slice_thickness_mm + slice_z_mm
    ys, xs = grid.coordinates_mm()
    gz, gy, gx = np.meshgrid(oz, oy, ox, indexing="ij")
    x = xs[..., None] + gx.ravel()[None, None, :]
    y = ys[..., None] + gy.ravel()[None, None, :]
    z = np.broadcast_to(gz.ravel()[None, None, :], x.shape)
    return x, y, z


def _tube(x, y, z, origin, direction, length_mm, diameter_mm) -> np.ndarray:
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    px, py, pz = x - origin[0], y - origin[1], z - origin[2]
    t = px * d[0] + py * d[1] + pz * d[2]
    r2 = (px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 + (pz - t * d[2]) ** 2
    return (t >= 0) & (t <= length_mm) & (r2 <= (diameter_mm / 2) ** 2)


def resolution_phantom(grid: ImageGrid, *, slice_z_mm: float = 0.0, slice_thickness_mm: float = 1.0,
                       origin_mm: tuple[float, float, float] = (0.0, -10.0, 0.0),
                       length_mm: float = 20.0, tube_diameter_mm: float = 1.0,
                       xy_angles_deg: tuple[float, ...] = (20.0, 30.0),
                       yz_angles_deg: tuple[float, ...] = (10.0, 15.0),
                       concentration_mol_per_l: float = 0.1,
                       supersample: tuple[int, int, int] = (5, 5, 3)) -> np.ndarray:
    """Five tubes from ``origin_mm`` (x, y, z): along +y, tilted towards +x by ``xy_angles_deg``
    and towards +z by ``yz_angles_deg``."""
    x, y, z = _sample_points(grid, slice_z_mm, slice_thickness_mm, supersample)
    inside = np.zeros(x.shape, dtype=bool)
    directions = [(0.0, 1.0, 0.0)]
    directions += [(np.sin(np.radians(a)), np.cos(np.radians(a)), 0.0) for a in xy_angles_deg]
    directions += [(0.0, np.cos(np.radians(a)), np.sin(np.radians(a))) for a in yz_angles_deg]
    for d in directions:
        inside |= _tube(x, y, z, origin_mm, d, length_mm, tube_diameter_mm)
    return concentration_mol_per_l * inside.mean(axis=-1)


def shape_phantom(grid: ImageGrid, *, slice_z_mm: float = 0.0, slice_thickness_mm: float = 1.0,
                  apex_mm: tuple[float, float, float] = (0.0, 8.0, 0.0), height_mm: float = 16.0,
                  base_radius_mm: float = 6.0, concentration_mol_per_l: float = 0.1,
                  supersample: tuple[int, int, int] = (5, 5, 3)) -> np.ndarray:
    """A cone with its apex at ``apex_mm`` and its axis along -y."""
    x, y, z = _sample_points(grid, slice_z_mm, slice_thickness_mm, supersample)
    t = apex_mm[1] - y  # distance from the apex along the axis
    r = np.sqrt((x - apex_mm[0]) ** 2 + (z - apex_mm[2]) ** 2)
    inside = (t >= 0) & (t <= height_mm) & (r <= base_radius_mm * t / height_mm)
    return concentration_mol_per_l * inside.mean(axis=-1)


def concentration_phantom(grid: ImageGrid, *, slice_z_mm: float = 0.0,
                          slice_thickness_mm: float = 1.0, ring_radius_mm: float = 7.0,
                          cube_mm: float = 2.0,
                          concentrations_mmol_per_l=CONCENTRATION_CUBES_MMOL_PER_L,
                          supersample: tuple[int, int, int] = (5, 5, 3)) -> np.ndarray:
    """Cubes of ``cube_mm`` on a ring (first at +x, counter-clockwise), one per concentration."""
    x, y, z = _sample_points(grid, slice_z_mm, slice_thickness_mm, supersample)
    out = np.zeros(x.shape)
    n = len(concentrations_mmol_per_l)
    for i, c in enumerate(concentrations_mmol_per_l):
        angle = 2 * np.pi * i / n
        cx, cy = ring_radius_mm * np.cos(angle), ring_radius_mm * np.sin(angle)
        inside = (np.abs(x - cx) <= cube_mm / 2) & (np.abs(y - cy) <= cube_mm / 2) & (
            np.abs(z) <= cube_mm / 2)
        out = np.where(inside, c * 1e-3, out)
    return out.mean(axis=-1)


def openmpi_phantom(name: str, grid: ImageGrid, **kwargs) -> np.ndarray:
    """``"resolution"``, ``"shape"`` or ``"concentration"`` on ``grid`` (mol/L)."""
    makers = {"resolution": resolution_phantom, "shape": shape_phantom,
              "concentration": concentration_phantom}
    try:
        return makers[name](grid, **kwargs)
    except KeyError:
        raise ValueError(f"unknown phantom {name!r}; choose one of {OPENMPI_PHANTOMS}") from None
