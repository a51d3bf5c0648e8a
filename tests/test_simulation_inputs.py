"""Bad inputs to the simulator raise clear errors naming the argument."""

import numpy as np
import pytest

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.native import NativeSimulator, simulate_native
from napari_mpi_dl.physics.settings import XSpaceSettings


@pytest.mark.parametrize(
    ("concentration", "message"),
    [
        (np.zeros(10), "2D image"),
        (np.zeros((2, 2, 3, 3)), "2D image"),
        (np.full((5, 5), np.nan), "NaN"),
        (-np.ones((5, 5)), ">= 0"),
        (np.zeros((0, 5)), "empty"),
        (np.ones((5, 5), dtype=complex), "real numbers"),
    ],
)
def test_bad_concentration(concentration, message):
    with pytest.raises(ValueError, match=message):
        simulate_native(concentration)


def test_shape_mismatch_with_grid():
    sim = NativeSimulator(XSpaceSettings())
    with pytest.raises(ValueError, match="grid is"):
        sim.simulate(np.zeros((50, 50)))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"gradient_t_per_m": 0.0}, "gradient_t_per_m"),
        ({"gradient_t_per_m": -2.0}, "gradient_t_per_m"),
        ({"scan_mode": "diagonal"}, "scan_mode"),
        ({"drive_frequency_hz": 0.0}, "drive_frequency_hz"),
        ({"samples_per_period": -3}, "samples_per_period"),
        ({"drive_margin": 2.0}, "drive_margin"),
    ],
)
def test_bad_settings(kwargs, name):
    with pytest.raises(ValueError, match=name):
        XSpaceSettings(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"shape": (0, 5)}, "shape"), ({"fov_mm": (-1.0, 2.0)}, "fov_mm"),
     ({"fov_mm": (0.0, 2.0)}, "fov_mm"), ({"centre_mm": (np.nan, 0)}, "centre_mm")],
)
def test_bad_grid(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ImageGrid(**kwargs)


def test_bad_method():
    with pytest.raises(ValueError, match="method"):
        simulate_native(np.zeros((5, 5)), method="magic")
