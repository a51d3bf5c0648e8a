"""White noise at a requested SNR (power over the whole image)."""

import numpy as np
import pytest

from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
from napari_mpi_dl.physics.native import simulate_native
from napari_mpi_dl.physics.noise import add_white_noise, measured_snr_db, noise_sigma_for_snr


@pytest.mark.parametrize("snr_db", [10.0, 20.0, 30.0, 40.0])
def test_noisy_native_has_requested_snr_within_half_a_db(snr_db):
    clean = simulate_native(two_tube_phantom(gap_mm=1.8))
    noisy = simulate_native(two_tube_phantom(gap_mm=1.8), snr_db=snr_db, seed=7)
    assert measured_snr_db(clean, noisy) == pytest.approx(snr_db, abs=0.5)


def test_noise_is_seeded_zero_mean_and_white():
    img = np.ones((128, 128))
    a = add_white_noise(img, 20.0, rng=1)
    np.testing.assert_array_equal(a, add_white_noise(img, 20.0, rng=1))
    assert not np.array_equal(a, add_white_noise(img, 20.0, rng=2))
    noise = (a - img).ravel()
    assert abs(noise.mean()) < 4 * noise.std() / np.sqrt(noise.size)
    lag1 = np.corrcoef(noise[:-1], noise[1:])[0, 1]
    assert abs(lag1) < 0.03
    assert noise.std() == pytest.approx(noise_sigma_for_snr(img, 20.0), rel=0.02)


def test_bad_snr_inputs():
    with pytest.raises(ValueError, match="snr_db"):
        add_white_noise(np.ones((4, 4)), float("nan"))
    with pytest.raises(ValueError, match="all-zero"):
        add_white_noise(np.zeros((4, 4)), 30.0)
