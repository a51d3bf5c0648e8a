"""Image metrics: one normalisation (min-max per image), hand-computed values, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_mpi_dl.analysis.metrics import image_metrics, normalise_min_max, nrmse, psnr, ssim

REF = np.array([[0.0, 1.0], [2.0, 4.0]])  # normalised: 0, 1/4, 1/2, 1
IMG = np.array([[0.0, 1.0], [2.0, 3.0]])  # normalised: 0, 1/3, 2/3, 1


def test_min_max_normalisation():
    np.testing.assert_allclose(normalise_min_max(REF), [[0, 0.25], [0.5, 1.0]])


def test_psnr_and_nrmse_match_hand_computed_values():
    # squared differences: 0, (1/12)^2, (1/6)^2, 0 -> MSE = 5/576
    assert psnr(REF, IMG) == pytest.approx(10 * np.log10(576 / 5), rel=1e-12)  # 20.614 dB
    assert nrmse(REF, IMG) == pytest.approx(np.sqrt(5 / 144) / np.sqrt(21 / 16), rel=1e-12)


def test_metrics_ignore_offset_and_scale_of_either_image():
    assert psnr(REF, 3 * IMG + 7) == pytest.approx(psnr(REF, IMG), rel=1e-12)
    assert psnr(10 * REF - 2, IMG) == pytest.approx(psnr(REF, IMG), rel=1e-12)
    assert psnr(REF, REF * 2) == float("inf")


def _ssim_wang(x, y):
    """SSIM written out: Gaussian sigma 1.5 (truncate 3.5), population statistics, K = .01/.03."""
    def f(a):
        return gaussian_filter(a, 1.5, truncate=3.5, mode="reflect")

    c1, c2 = 0.01**2, 0.03**2
    mx, my = f(x), f(y)
    vx, vy, cxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s[5:-5, 5:-5].mean()  # skimage crops (win - 1) / 2 = 5 pixels


def test_ssim_uses_the_stated_window():
    rng = np.random.default_rng(3)
    ref = gaussian_filter(rng.random((32, 32)), 2)
    img = ref + 0.05 * rng.standard_normal(ref.shape)
    expected = _ssim_wang(normalise_min_max(ref), normalise_min_max(img))
    assert ssim(ref, img) == pytest.approx(expected, rel=1e-6)
    assert ssim(ref, ref) == pytest.approx(1.0)
    assert ssim(ref, img) < 0.99


def test_image_metrics_bundle():
    rng = np.random.default_rng(0)
    ref = rng.random((16, 16))
    img = ref + 0.1 * rng.random((16, 16))
    m = image_metrics(ref, img)
    assert m == {"psnr_db": psnr(ref, img), "ssim": ssim(ref, img), "nrmse": nrmse(ref, img)}


@pytest.mark.parametrize(
    ("ref", "img", "match"),
    [
        (np.ones((12, 12)), np.eye(12), "constant"),
        (np.eye(12), np.zeros((12, 12)), "constant"),
        (np.eye(12), np.eye(13), "same shape"),
        (np.eye(12), np.full((12, 12), np.nan), "NaN"),
        (np.zeros((2, 12, 12)), np.zeros((2, 12, 12)), "2D"),
    ],
)
def test_bad_input_raises_clear_errors(ref, img, match):
    with pytest.raises(ValueError, match=match):
        psnr(ref, img)


def test_ssim_needs_a_whole_window():
    with pytest.raises(ValueError, match="11 x 11"):
        ssim(REF, IMG)
