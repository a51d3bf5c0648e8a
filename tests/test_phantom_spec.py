"""PhantomSpec: the one place that turns phantom options into a phantom and its record."""

import numpy as np
import pytest

from napari_mpi_dl.phantoms.mnist import mnist_phantom
from napari_mpi_dl.phantoms.spec import PhantomSpec
from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
from napari_mpi_dl.physics.grid import ImageGrid

GRID = ImageGrid(shape=(40, 40), fov_mm=(20.0, 20.0))


def test_each_source_builds_the_phantom_of_its_module_and_records_its_options(tmp_path):
    spec = PhantomSpec(source="two-tube", gap_mm=2.2, orientation="vertical")
    np.testing.assert_array_equal(
        spec.build(GRID), two_tube_phantom(gap_mm=2.2, orientation="vertical", grid=GRID))
    assert spec.description() == {"phantom": "two-tube", "gap_mm": 2.2, "diameter_mm": 1.2,
                                  "orientation": "vertical"}
    digit = PhantomSpec(source="mnist", mnist_index=1503, digit_size_mm=15.0)
    np.testing.assert_array_equal(digit.build(GRID), mnist_phantom(1503, grid=GRID, size_mm=15.0))
    assert digit.description()["label"] == 9 and digit.description()["index"] == 1503
    image = np.arange(64, dtype=float).reshape(8, 8) - 1.0
    np.save(tmp_path / "p.npy", image)
    from_file = PhantomSpec(source="file", file=str(tmp_path / "p.npy"), clip_negative=True,
                            normalise=True).build(GRID)
    assert from_file.shape == (40, 40) and from_file.min() == 0 and from_file.max() == 1
    as_layer = PhantomSpec(source="image", image=image, image_name="mine", clip_negative=True)
    assert as_layer.build(None).shape == (8, 8)  # an array keeps its own pixels without a grid
    assert as_layer.description()["layer"] == "mine"


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="phantom source must be one of"):
        PhantomSpec(source="three-tube")
    with pytest.raises(ValueError, match="orientation"):
        PhantomSpec(orientation="diagonal")
    with pytest.raises(ValueError, match="needs file="):
        PhantomSpec(source="file")
    with pytest.raises(ValueError, match=r"unknown phantom options \['gap'\]"):
        PhantomSpec.from_options("two-tube", {"gap": 2.0})
    assert PhantomSpec.from_options("two-tube", {"gap_mm": 2.0}).gap_mm == 2.0
    with pytest.raises(ValueError, match="layer 'x'"):  # negative values name the layer
        PhantomSpec(source="image", image=-np.ones((4, 4)), image_name="x").build(None)
