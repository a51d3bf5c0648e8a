"""Hostile inputs that used to give tracebacks or silently wrong results (exit 0 with NaN, zero or
meaningless output) now give one clear error naming the file or argument."""

import numpy as np
import pytest

from napari_mpi_dl.cli.main import main


@pytest.fixture
def native(tmp_path):
    path = tmp_path / "native.npy"
    assert main(["simulate", "two-tube", "--gap-mm", "1.4", "-o", str(path)]) == 0
    return path


def _err(capsys) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_damaged_image_files_are_named(tmp_path, native, capsys):
    good = native.read_bytes()
    files = {"empty.npy": b"", "text.npy": b"not an array\n", "random.npy":
             np.random.default_rng(0).bytes(2000), "cut.npy": good[: len(good) // 2],
             "cut.tif": b"II*\x00" + b"\x00" * 20}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    np.save(tmp_path / "objects.npy", np.array([{}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "zerosize.npy", np.zeros((0, 0)))
    for name in [*files, "objects.npy", "zerosize.npy"]:
        path = str(tmp_path / name)
        for argv in (["profile", path, "--start", "0", "-5", "--end", "0", "5"],
                     ["deconvolve", path, "-o", str(tmp_path / "o.npy")],
                     ["simulate", "--phantom-file", path, "-o", str(tmp_path / "o.npy")]):
            assert main(argv) == 2, argv
            err = _err(capsys)
            assert name in err and "pickle" not in err, err


def test_simulate_refuses_overflow_and_empty_grids(tmp_path, capsys):
    huge = tmp_path / "huge.npy"
    np.save(huge, np.full((101, 101), 1e37, dtype=np.float32))
    out = tmp_path / "o.npy"
    assert main(["simulate", "--phantom-file", str(huge), "-o", str(out)]) == 2
    assert "beyond the float32 range" in _err(capsys)
    for flags in (["--size", "1"], ["--fov-mm", "1e9"]):
        assert main(["simulate", "two-tube", *flags, "-o", str(out)]) == 2
        assert "phantom is all zero" in _err(capsys)
    assert not out.exists()


def test_negative_and_infinite_numbers_reach_the_validation(tmp_path, capsys):
    out = str(tmp_path / "o.npy")
    assert main(["simulate", "two-tube", "--relaxation-time-s", "-1e-6", "-o", out]) == 2
    assert "relaxation_time_s must be >= 0" in _err(capsys)
    assert main(["simulate", "two-tube", "--snr-db", "-inf", "-o", out]) == 2
    assert "snr_db must be a finite number" in _err(capsys)


def test_output_path_problems_name_the_users_path(tmp_path, capsys):
    (tmp_path / "adir.npy").mkdir()
    assert main(["simulate", "two-tube", "-o", str(tmp_path / "adir.npy")]) == 1
    assert f"{tmp_path / 'adir.npy'} is a directory" in _err(capsys)
    assert main(["simulate", "two-tube", "-o", "/proc/p.npy"]) == 2
    err = _err(capsys)
    assert "cannot write /proc/p.npy" in err and ".part" not in err


def test_deconvolve_refuses_an_all_negative_image(tmp_path, native, capsys):
    neg = tmp_path / "neg.npy"
    np.save(neg, -np.load(native) - 1.0)
    assert main(["deconvolve", str(neg), "-o", str(tmp_path / "d.npy")]) == 2
    err = _err(capsys)
    assert "neg.npy" in err and "no positive values" in err
    assert not (tmp_path / "d.npy").exists()


def test_profile_peaks_and_fwhm_do_not_depend_on_the_intensity_scale(native):
    from napari_mpi_dl.analysis.profiles import analyse_profile, sample_profile

    image = np.load(native)
    pixel = 20.0 / 101
    results = []
    for factor in (1e-3, 1.0, 1e3):
        prof = sample_profile(image * factor, (0, -6), (0, 6), scale=(pixel, pixel),
                              translate=(-50 * pixel, -50 * pixel))
        results.append(analyse_profile(prof.distance_mm, prof.values))
    counts = [len(r.peaks) for r in results]
    assert counts == [counts[0]] * 3
    for r in results[1:]:
        for a, b in zip(r.main_peaks, results[0].main_peaks, strict=True):
            assert a.position_mm == pytest.approx(b.position_mm, rel=1e-6)
            assert (a.fwhm_mm is None) == (b.fwhm_mm is None)
            if a.fwhm_mm is not None:
                assert a.fwhm_mm == pytest.approx(b.fwhm_mm, rel=1e-6)
    # the symmetric double-peaked top of two unresolved tubes is one peak with a FWHM
    assert counts[0] == 1 and results[0].main_peaks[0].fwhm_mm is not None


def test_memory_limit_is_read_from_the_address_space_limit():
    import subprocess
    import sys

    code = ("import resource\nresource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))\n"
            "from napari_mpi_dl.physics.memory import available_memory_bytes\n"
            "print(available_memory_bytes())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert 0 < int(out) < 2**31


def test_deblur_refuses_zero_weights_contrastive_models_colour_images_and_too_big_images(
        tmp_path, native, capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    from napari_mpi_dl._resources import resource_path
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
    from napari_mpi_dl.dcgan.weights import shipped_weights_path
    from napari_mpi_dl.physics import memory

    out = str(tmp_path / "d.npy")
    payload = torch.load(shipped_weights_path(), map_location="cpu", weights_only=True)
    payload["state_dict"] = {k: torch.zeros_like(v) for k, v in payload["state_dict"].items()}
    zero = tmp_path / "zero.pt"
    torch.save(payload, zero)
    assert main(["deblur", str(native), "--out", out, "--weights", str(zero)]) == 2
    assert "weights are all zero" in _err(capsys)
    contrastive = resource_path("contrastive_recovery_cl.pt")
    assert main(["deblur", str(native), "--out", out, "--weights", str(contrastive)]) == 2
    err = _err(capsys)
    assert "is a contrastive model" in err and "Unpickling" not in err
    import tifffile

    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((40, 50, 3), np.uint8), photometric="rgb")
    assert main(["deblur", str(rgb), "--out", out]) == 2
    assert "rgb.tif looks like a colour (RGB/RGBA) image" in _err(capsys)
    # memory is estimated before anything large is allocated
    model = load_deblurrer(device="cpu")
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 100_000_000)
    with pytest.raises(ValueError, match=r"4000 x 4000 pixels needs about 9\.6 GB of memory "
                                         r"on cpu, only 100 MB"):
        deblur(np.zeros((4000, 4000), np.float32), model)
    assert deblur(np.ones((64, 64), np.float32), model).shape == (64, 64)
    assert not (tmp_path / "d.npy").exists()
