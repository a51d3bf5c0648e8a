"""White Gaussian noise at a requested signal-to-noise ratio.

SNR definition used everywhere in this package: ``SNR_dB = 10 log10(P_signal / sigma^2)`` with
``P_signal = mean(image**2)``, the mean signal power over the *whole* image (background pixels
included), and ``sigma`` the standard deviation of the zero-mean Gaussian noise added to every
pixel.
"""

from __future__ import annotations

import numpy as np


def noise_sigma_for_snr(image: np.ndarray, snr_db: float) -> float:
    """Noise standard deviation that gives ``snr_db`` for ``image`` (see module docstring)."""
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be a finite number of decibels, got {snr_db!r}")
    power = float(np.mean(np.square(np.asarray(image, dtype=np.float64))))
    if power <= 0:
        raise ValueError("cannot set an SNR for an all-zero image (signal power is 0)")
    return float(np.sqrt(power / 10.0 ** (snr_db / 10.0)))


def add_white_noise(
    image: np.ndarray, snr_db: float, *, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """Return ``image`` plus white Gaussian noise at ``snr_db`` (power over the whole image).

    ``rng`` is a numpy Generator or an integer seed; the same seed gives the same noise.
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    img = np.asarray(image, dtype=np.float64)
    sigma = noise_sigma_for_snr(img, snr_db)
    return img + gen.normal(0.0, sigma, size=img.shape)


def measured_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """SNR in dB of ``noisy`` against ``clean`` with this module's definition."""
    clean = np.asarray(clean, dtype=np.float64)
    noise = np.asarray(noisy, dtype=np.float64) - clean
    return float(10.0 * np.log10(np.mean(clean**2) / np.mean(noise**2)))
