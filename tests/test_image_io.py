"""Image files (.tif/.npy) round-trip atomically; user images become valid phantoms."""

import numpy as np
import pytest

from napari_mpi_dl.io.images import read_image, read_image_metadata, write_image
from napari_mpi_dl.phantoms.images import image_phantom
from napari_mpi_dl.physics.grid import ImageGrid


@pytest.mark.parametrize("suffix", [".tif", ".tiff", ".npy"])
def test_round_trip_keeps_values_and_dtype(tmp_path, suffix):
    arr = np.random.default_rng(0).random((7, 9)).astype(np.float32)
    path = write_image(tmp_path / f"img{suffix}", arr)
    out = read_image(path)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, arr)
    assert [p.name for p in tmp_path.iterdir()] == [f"img{suffix}"]  # no temporary left over


def test_tiff_stores_pixel_size_in_mm_as_resolution_and_metadata(tmp_path):
    import tifffile

    path = write_image(tmp_path / "n.tif", np.ones((4, 5), np.float32), pixel_mm=(0.2, 0.25),
                       metadata={"gradient_t_per_m": 1.35})
    meta = read_image_metadata(path)
    assert meta["pixel_mm"] == [0.2, 0.25] and meta["gradient_t_per_m"] == 1.35
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        x_res = tags["XResolution"].value
        y_res = tags["YResolution"].value
        assert x_res[0] / x_res[1] == pytest.approx(40.0)  # pixels per cm for 0.25 mm
        assert y_res[0] / y_res[1] == pytest.approx(50.0)
        assert tags["ResolutionUnit"].value == 3  # centimetre


def test_interrupted_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    import tifffile

    target = tmp_path / "x.tif"
    write_image(target, np.zeros((3, 3), np.float32))

    def half_written(path, *args, **kwargs):
        open(path, "wb").write(b"II*\0partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(tifffile, "imwrite", half_written)
    with pytest.raises(KeyboardInterrupt):
        write_image(target, np.ones((3, 3), np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["x.tif"]
    np.testing.assert_array_equal(read_image(target), 0)
    with pytest.raises(ValueError, match="JSON"):
        write_image(tmp_path / "y.tif", np.ones((3, 3)), metadata={"bad": object()})
    assert not (tmp_path / "y.tif").exists()


def test_bad_paths_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\.tif"):
        write_image(tmp_path / "x.png", np.ones((3, 3)))
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="pixel_mm"):
        write_image(tmp_path / "x.tif", np.ones((3, 3)), pixel_mm=(0, 1))


def test_image_phantom_checks_and_converts():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    ph = image_phantom(img)
    assert ph.dtype == np.float64 and ph.shape == (3, 4)
    np.testing.assert_array_equal(ph, img)
    assert image_phantom(img, normalise=True).max() == 1.0
    assert image_phantom(img[None]).shape == (3, 4)  # singleton leading axis dropped
    with pytest.raises(ValueError, match="2D"):
        image_phantom(np.ones((3, 4, 3)), name="rgb.tif")
    with pytest.raises(ValueError, match="NaN"):
        image_phantom(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="negative.*clip"):
        image_phantom(np.array([[1.0, -2.0]]))
    np.testing.assert_array_equal(image_phantom(np.array([[1.0, -2.0]]), clip_negative=True),
                                  [[1.0, 0.0]])


def test_image_phantom_resizes_to_the_grid_without_negative_values():
    rng = np.random.default_rng(1)
    img = rng.random((300, 200))
    img[img < 0.5] = 0  # sharp edges would make cubic interpolation ring below 0
    grid = ImageGrid(shape=(101, 101))
    ph = image_phantom(img, grid=grid)
    assert ph.shape == (101, 101) and ph.min() >= 0
    assert ph.mean() == pytest.approx(img.mean(), rel=0.05)
    with pytest.raises(ValueError, match="grid"):
        image_phantom(img, grid=grid, resize=False)
