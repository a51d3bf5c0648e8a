"""``napari-mpi-dl simulate``: one phantom -> one native image file with its parameters."""

import numpy as np
import pytest

from napari_mpi_dl.cli.main import main
from napari_mpi_dl.io.images import read_image, read_image_metadata
from napari_mpi_dl.phantoms.mnist import mnist_phantom
from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
from napari_mpi_dl.physics.native import simulate_native
from napari_mpi_dl.physics.particle import Particle
from napari_mpi_dl.physics.settings import XSpaceSettings


def test_two_tube_native_tif_matches_the_library_and_records_parameters(tmp_path):
    out, ph_out = tmp_path / "native.tif", tmp_path / "phantom.npy"
    rc = main(["simulate", "two-tube", "--gap-mm", "2.2", "--orientation", "vertical",
               "--gradient-t-per-m", "high", "--diameter-nm", "20", "-o", str(out),
               "--phantom-out", str(ph_out)])
    assert rc == 0
    phantom = two_tube_phantom(gap_mm=2.2, orientation="vertical")
    settings = XSpaceSettings(particle=Particle(diameter_nm=20.0), gradient_t_per_m=6.0)
    expected = simulate_native(phantom, settings)
    native = read_image(out)
    assert native.dtype == np.float32 and native.shape == (101, 101)
    np.testing.assert_allclose(native, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(read_image(ph_out), phantom, atol=1e-7)
    meta = read_image_metadata(out)
    assert meta["pixel_mm"] == pytest.approx([20 / 101, 20 / 101])
    assert meta["settings"]["gradient_t_per_m"] == 6.0
    assert meta["settings"]["particle"]["diameter_nm"] == 20.0
    assert meta["gap_mm"] == 2.2 and meta["orientation"] == "vertical"
    assert meta["command"].startswith("napari-mpi-dl ")


def test_mnist_with_noise_is_seeded_and_grid_options_apply(tmp_path):
    args = ["simulate", "mnist", "--index", "1503", "--snr-db", "20", "--size", "64",
            "--fov-mm", "16", "--scan-mode", "isotropic"]
    main([*args, "--seed", "4", "-o", str(tmp_path / "a.npy")])
    main([*args, "--seed", "4", "-o", str(tmp_path / "b.npy")])
    main([*args, "--seed", "5", "-o", str(tmp_path / "c.npy")])
    a, b, c = (read_image(tmp_path / f"{n}.npy") for n in "abc")
    assert a.shape == (64, 64)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    from napari_mpi_dl.physics.grid import ImageGrid

    grid = ImageGrid(shape=(64, 64), fov_mm=(16.0, 16.0))
    clean = simulate_native(mnist_phantom(1503, grid=grid),
                            XSpaceSettings(grid=grid, scan_mode="isotropic"))
    snr = 10 * np.log10(np.mean(clean**2) / np.mean((a - clean) ** 2))
    assert snr == pytest.approx(20.0, abs=0.5)


def test_phantom_file_negative_values_need_clip_negative(tmp_path, capsys):
    img = np.zeros((50, 50))
    img[25, 25], img[0, 0] = 1.0, -0.5
    np.save(tmp_path / "ph.npy", img)
    out = tmp_path / "n.tif"
    rc = main(["simulate", "--phantom-file", str(tmp_path / "ph.npy"), "-o", str(out)])
    assert rc == 2 and not out.exists()
    assert "negative" in capsys.readouterr().err
    rc = main(["simulate", "--phantom-file", str(tmp_path / "ph.npy"), "--clip-negative",
               "--size", "50", "-o", str(out)])
    assert rc == 0
    native = read_image(out)
    assert native.min() >= 0 and np.unravel_index(native.argmax(), native.shape) == (25, 25)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "-o", "x.tif"], "exactly one phantom"),
        (["simulate", "mnist", "--phantom-file", "f.npy", "-o", "x.tif"], "exactly one phantom"),
        (["simulate", "mnist", "-o", "x.png"], "--output"),
        (["simulate", "mnist", "--gradient-t-per-m", "medium", "-o", "x.tif"], "gradient"),
        (["simulate", "mnist", "--index", "1600", "-o", "x.tif"], "MNIST indices"),
        (["simulate", "mnist", "--relaxation-time-s", "3e-5", "-o", "x.tif"],
         "longer than one sweep"),
        (["simulate", "two-tube", "--gap-mm", "30", "-o", "x.tif"], "do not fit"),
        (["simulate", "mnist", "--fov-mm", "1", "2", "3", "-o", "x.tif"], "--fov-mm"),
    ],
)
def test_bad_input_is_one_clear_error_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_signal_method_matches_analytic_and_supports_relaxation(tmp_path):
    common = ["simulate", "two-tube", "--gap-mm", "2.2", "--size", "48"]
    assert main([*common, "-o", str(tmp_path / "a.npy")]) == 0
    assert main([*common, "--method", "signal", "-o", str(tmp_path / "s.npy")]) == 0
    assert main([*common, "--method", "signal", "--relaxation-time-s", "2e-6",
                 "-o", str(tmp_path / "r.npy")]) == 0
    analytic, signal, relaxed = (read_image(tmp_path / f"{n}.npy") for n in "asr")
    assert np.abs(signal - analytic).max() < 0.01 * analytic.max()
    assert np.abs(relaxed - analytic).max() > 0.02 * analytic.max()  # relaxation blurs
    assert relaxed.max() < signal.max()
    with pytest.raises(SystemExit):
        main(["simulate", "mnist", "--method", "magic", "-o", str(tmp_path / "x.tif")])
