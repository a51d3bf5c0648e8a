"""Two-tube phantom geometry is exact to one pixel."""

import numpy as np
import pytest
from scipy import ndimage

from napari_mpi_dl.phantoms.two_tube import (
    PROTOCOL_GAPS_MM,
    two_tube_geometry,
    two_tube_phantom,
)
from napari_mpi_dl.physics.grid import ImageGrid


def test_protocol_gaps():
    assert PROTOCOL_GAPS_MM == (1.0, 1.4, 1.8, 2.2, 2.6, 3.0, 3.4)


@pytest.mark.parametrize("gap_mm", PROTOCOL_GAPS_MM)
@pytest.mark.parametrize("orientation", ["horizontal", "vertical"])
def test_tube_centres_gap_and_area_exact_to_one_pixel(gap_mm, orientation):
    grid = ImageGrid()
    ph = two_tube_phantom(gap_mm=gap_mm, orientation=orientation, grid=grid)
    pixel = grid.pixel_mm[0]
    labels, n = ndimage.label(ph > 0)
    assert n == 2
    Y, X = grid.coordinates_mm()
    centres = []
    for lab in (1, 2):
        w = ph * (labels == lab)
        centres.append((np.sum(w * Y) / w.sum(), np.sum(w * X) / w.sum()))
        # area of each disc (partial-volume weighted) = pi r^2
        assert w.sum() * pixel**2 == pytest.approx(np.pi * 0.6**2, rel=0.02)
    centres.sort(key=lambda c: c[1] if orientation == "horizontal" else c[0])
    geom = two_tube_geometry(gap_mm=gap_mm, orientation=orientation)
    for got, want in zip(centres, [geom.centre_a_mm, geom.centre_b_mm], strict=True):
        assert np.hypot(got[0] - want[0], got[1] - want[1]) < pixel
    distance = np.hypot(centres[1][0] - centres[0][0], centres[1][1] - centres[0][1])
    assert distance - 1.2 == pytest.approx(gap_mm, abs=pixel)
    # the binary extent along the tube axis: diameter within one pixel
    axis = 1 if orientation == "horizontal" else 0
    extent = np.any(labels == 1, axis=1 - axis).sum() * pixel
    assert extent == pytest.approx(1.2, abs=pixel)


def test_offset_and_bad_geometry():
    ph = two_tube_phantom(gap_mm=2.0, centre_mm=(3.0, -2.0))
    assert ph.max() == 1.0
    with pytest.raises(ValueError, match="gap_mm"):
        two_tube_phantom(gap_mm=-1.0)
    with pytest.raises(ValueError, match="diameter_mm"):
        two_tube_phantom(gap_mm=1.0, diameter_mm=0.0)
    with pytest.raises(ValueError, match="orientation"):
        two_tube_phantom(gap_mm=1.0, orientation="diagonal")
    with pytest.raises(ValueError, match="do not fit"):
        two_tube_phantom(gap_mm=25.0)
