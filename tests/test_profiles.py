"""Line profiles: interpolated, width-averaged sampling in mm; peaks, FWHM, separation, dip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_mpi_dl.analysis.profiles import analyse_profile, profile_report, sample_profile
from napari_mpi_dl.cli.main import main
from napari_mpi_dl.io.images import write_image

FWHM_PER_SIGMA = 2 * np.sqrt(2 * np.log(2))


def _double_gaussian(x, separation, sigma=1.0):
    return (np.exp(-0.5 * ((x + separation / 2) / sigma) ** 2)
            + np.exp(-0.5 * ((x - separation / 2) / sigma) ** 2))


def _expected_dip(separation, sigma=1.0):
    """Hand computation: valley at 0 by symmetry, peaks located on a 1e-5 grid."""
    x = np.arange(0, separation, 1e-5)
    peak = _double_gaussian(x, separation, sigma).max()
    return 1 - _double_gaussian(np.array([0.0]), separation, sigma)[0] / peak


def test_bilinear_sampling_in_mm_is_exact_on_a_ramp():
    img = np.add.outer(np.zeros(10), 2.0 * np.arange(12))  # value = 2 * column
    scale, translate = (0.5, 0.25), (-2.0, -1.0)  # x_mm = 0.25 * col - 1
    prof = sample_profile(img, (0.0, -1.0), (0.0, 1.5), scale=scale, translate=translate)
    np.testing.assert_allclose(prof.distance_mm[-1], 2.5)
    # column = (x_mm + 1) / 0.25, value = 2 * column: linear in distance
    np.testing.assert_allclose(prof.values, 2 * prof.distance_mm / 0.25, atol=1e-12)


def test_width_averages_parallel_lines():
    img = np.zeros((21, 21))
    img[10, :] = 3.0  # one bright row; a width-3 profile along it averages rows 9, 10, 11
    one = sample_profile(img, (10, 2), (10, 18))
    three = sample_profile(img, (10, 2), (10, 18), width_px=3)
    np.testing.assert_allclose(one.values, 3.0)
    np.testing.assert_allclose(three.values, 1.0)


@pytest.mark.parametrize("separation", [3.0, 5.0])
def test_synthetic_double_peak_gives_fwhm_separation_and_dip_within_1_percent(separation):
    x = np.arange(-10, 10.0001, 0.1)  # 10 samples per sigma
    res = analyse_profile(x, _double_gaussian(x, separation))
    assert len(res.peaks) == 2
    assert res.dip == pytest.approx(_expected_dip(separation), rel=0.01)
    assert res.resolved
    if separation == 5.0:  # well apart: each peak is its own Gaussian
        assert res.separation_mm == pytest.approx(separation, rel=0.01)
        for peak in res.main_peaks:
            assert peak.fwhm_mm == pytest.approx(FWHM_PER_SIGMA, rel=0.01)
    else:  # close: peaks pulled together, the hand-computed maxima say where
        xs = np.arange(0, separation, 1e-5)
        true_peak = xs[np.argmax(_double_gaussian(xs, separation))]
        assert res.separation_mm == pytest.approx(2 * true_peak, rel=0.01)


def test_double_peak_image_through_profile_in_mm():
    pixel_mm, sigma_mm, sep_mm = 0.2, 1.0, 6.0  # 6 sigma apart: no overlap at half maximum
    y, x = np.mgrid[0:101, 0:101] * pixel_mm - 10.0
    img = _double_gaussian(x, sep_mm, sigma_mm) * np.exp(-0.5 * (y / 3.0) ** 2)
    prof, res = profile_report(img, (0.0, -7.0), (0.0, 7.0), scale=(pixel_mm, pixel_mm),
                               translate=(-10.0, -10.0), width_px=1)
    assert res.separation_mm == pytest.approx(sep_mm, rel=0.01)
    assert res.dip == pytest.approx(_expected_dip(sep_mm, sigma_mm), rel=0.01)
    assert res.main_peaks[0].fwhm_mm == pytest.approx(FWHM_PER_SIGMA * sigma_mm, rel=0.01)


def test_threshold_is_configurable_and_dip_always_reported():
    x = np.arange(-10, 10.0001, 0.05)
    y = _double_gaussian(x, 2.6)  # dip ~ 0.13
    low, high = analyse_profile(x, y, threshold=0.1), analyse_profile(x, y)
    assert low.dip == high.dip == pytest.approx(_expected_dip(2.6), rel=0.01)
    assert low.resolved and not high.resolved
    assert high.as_dict()["dip"] == high.dip


def test_merged_peaks_have_zero_dip_and_no_separation():
    x = np.arange(-10, 10.0001, 0.05)
    res = analyse_profile(x, _double_gaussian(x, 1.5))  # below the Sparrow limit: one peak
    assert len(res.peaks) == 1
    assert res.dip == 0.0 and res.separation_mm is None and not res.resolved
    assert res.main_peaks[0].fwhm_mm > FWHM_PER_SIGMA


@pytest.mark.parametrize(
    ("image", "start", "end", "match"),
    [
        (np.ones((10, 10)) + np.eye(10), (2, 2), (2, 20), "leaves the image"),
        (np.ones((10, 10)) + np.eye(10), (-3, 2), (5, 5), "leaves the image"),
        (np.ones((10, 10)) + np.eye(10), (4, 4), (4, 4), "zero length"),
        (np.ones((3, 10, 10)), (2, 2), (2, 8), "2D"),
    ],
)
def test_bad_lines_and_layers_raise(image, start, end, match):
    with pytest.raises(ValueError, match=match):
        sample_profile(image, start, end)


def test_constant_image_raises():
    with pytest.raises(ValueError, match="constant"):
        profile_report(np.full((10, 10), 2.0), (5, 1), (5, 8))


def test_cli_profile_json_and_errors(tmp_path, capsys):
    pixel_mm, sep_mm = 0.2, 6.0
    y, x = np.mgrid[0:101, 0:101] * pixel_mm - 10.0 + pixel_mm / 2
    img = _double_gaussian(x, sep_mm) * np.exp(-0.5 * (y / 3.0) ** 2)
    path = write_image(tmp_path / "two.tif", img.astype("float32"), pixel_mm=(0.2, 0.2),
                       metadata={"origin_mm": [-9.9, -9.9]})
    assert main(["profile", str(path), "--start", "0", "-7", "--end", "0", "7", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["unit"] == "mm"
    assert record["separation_mm"] == pytest.approx(sep_mm, rel=0.01)
    assert record["dip"] == pytest.approx(_expected_dip(sep_mm), rel=0.01)
    assert record["resolved"] is True
    # on pixel indices every length is in pixels, and the keys say so
    assert main(["profile", str(path), "--start", "50", "15", "--end", "50", "85", "--pixels",
                 "--json"]) == 0
    pixels = json.loads(capsys.readouterr().out)
    assert pixels["unit"] == "px" and "separation_mm" not in pixels and "fwhm_mm" not in pixels
    assert pixels["separation_px"] == pytest.approx(sep_mm / pixel_mm, rel=0.01)
    assert pixels["fwhm_px"][0] == pytest.approx(record["fwhm_mm"][0] / pixel_mm, rel=0.02)
    assert main(["profile", str(path), "--start", "0", "-7", "--end", "0", "7"]) == 0
    text = capsys.readouterr().out
    assert "dip:" in text and "resolved: yes" in text and "FWHM" in text
    assert main(["profile", str(path), "--start", "1", "1", "--end", "1", "1"]) == 2
    assert "zero length" in capsys.readouterr().err
    assert main(["profile", str(path), "--start", "0", "0", "--end", "0", "30"]) == 2
    assert "leaves the image" in capsys.readouterr().err


def test_zero_valley_between_flat_tubes_gives_dip_exactly_one():
    x = np.arange(0, 10.0001, 0.1)
    y = ((np.abs(x - 3) < 1) | (np.abs(x - 7) < 1)).astype(float)  # two discs' profile
    res = analyse_profile(x, y)
    assert res.dip == 1.0 and res.valley_value == 0.0
    assert res.separation_mm == pytest.approx(4.0, abs=0.1)
