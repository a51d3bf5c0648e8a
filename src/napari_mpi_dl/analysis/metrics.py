"""Image-quality metrics against a reference (phantom), with ONE normalisation used everywhere.

Normalisation
    Each image (reference and test separately) is min-max scaled to [0, 1]:
    ``(x - min x) / (max x - min x)``. x-space images have an arbitrary intensity scale, and
    deconvolution results can be negative (ringing) or differently scaled, so only the shape is
    compared. A constant image has no range and raises ``ValueError``.
PSNR
    ``10 log10(1 / MSE)`` on the normalised images (``data_range = 1``), in dB.
SSIM
    ``skimage.metrics.structural_similarity`` on the normalised images with ``data_range = 1`` and
    the window of Wang et al. (2004): Gaussian weights with sigma 1.5 px (truncated at 3.5 sigma,
    an 11 x 11 window), population covariances (``use_sample_covariance=False``), K1 = 0.01,
    K2 = 0.03.
NRMSE
    ``||ref - img|| / ||ref||`` (Euclidean norms) on the normalised images.
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl._validation import real_finite_array

SSIM_SIGMA_PX = 1.5
NORMALISATION = "min-max to [0, 1] per image, data_range 1"
SSIM_WINDOW = "Gaussian sigma 1.5 px (11 x 11), population covariance"


def normalise_min_max(image, *, name: str = "image") -> np.ndarray:
    """Scale a 2D image to [0, 1] by its own minimum and maximum."""
    arr = real_finite_array(image, name=name, what="a 2D image")
    lo, hi = float(arr.min()), float(arr.max())
    if not hi > lo:
        raise ValueError(f"{name} is constant ({lo:g}): min-max normalisation needs a range")
    return (arr - lo) / (hi - lo)


def _pair(reference, image) -> tuple[np.ndarray, np.ndarray]:
    ref = normalise_min_max(reference, name="reference")
    img = normalise_min_max(image, name="image")
    if ref.shape != img.shape:
        raise ValueError(f"reference {ref.shape} and image {img.shape} must have the same shape")
    return ref, img


def psnr(reference, image) -> float:
    """Peak signal-to-noise ratio in dB after min-max normalisation (``inf`` if identical)."""
    ref, img = _pair(reference, image)
    mse = float(np.mean((ref - img) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def ssim(reference, image) -> float:
    """Structural similarity after min-max normalisation (Gaussian window, sigma 1.5 px)."""
    from skimage.metrics import structural_similarity

    ref, img = _pair(reference, image)
    if min(ref.shape) < 11:
        raise ValueError(f"SSIM needs images of at least 11 x 11 pixels, got {ref.shape}")
    return float(structural_similarity(ref, img, data_range=1.0, gaussian_weights=True,
                                       sigma=SSIM_SIGMA_PX, use_sample_covariance=False))


def nrmse(reference, image) -> float:
    """Normalised root-mean-square error ``||ref - img|| / ||ref||`` after normalisation."""
    ref, img = _pair(reference, image)
    return float(np.linalg.norm(ref - img) / np.linalg.norm(ref))


def image_metrics(reference, image) -> dict[str, float]:
    """``{"psnr_db": ..., "ssim": ..., "nrmse": ...}`` of ``image`` against ``reference``."""
    return {"psnr_db": psnr(reference, image), "ssim": ssim(reference, image),
            "nrmse": nrmse(reference, image)}
