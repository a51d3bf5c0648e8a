"""Projected x-space PSF: FWHM against theory, scaling laws, tensor structure."""

import numpy as np
import pytest

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.particle import KB_J_PER_K, MU0_T_M_PER_A, Particle
from napari_mpi_dl.physics.psf import convolve_same, projected_psf, psf_kernel


def measured_fwhm_mm(profile: np.ndarray, positions_mm: np.ndarray) -> float:
    """FWHM of a single centred peak by linear interpolation of the half-maximum crossings."""
    half = profile.max() / 2
    above = np.flatnonzero(profile >= half)
    i0, i1 = above[0], above[-1]
    left = np.interp(half, [profile[i0 - 1], profile[i0]], positions_mm[i0 - 1 : i0 + 1])
    right = np.interp(half, [profile[i1 + 1], profile[i1]], [positions_mm[i1 + 1],
                                                                 positions_mm[i1]])
    return right - left


def theory_tangential_fwhm_mm(particle: Particle, gradient_t_per_m: float) -> float:
    # 4.16 kB T / (mu0 m G) with G in A/m^2 = (T/m) / mu0
    g = gradient_t_per_m / MU0_T_M_PER_A
    return 1e3 * 4.16 * KB_J_PER_K * particle.temperature_k / (
        MU0_T_M_PER_A * particle.moment_a_m2 * g
    )


def psf_profiles(particle, gradient):
    r = np.linspace(-40, 40, 40001)  # mm, 2 um steps
    zero = np.zeros_like(r)
    along = projected_psf(zero, r, particle=particle, gradient_t_per_m=gradient, scan_mode="x")
    across = projected_psf(r, zero, particle=particle, gradient_t_per_m=gradient, scan_mode="x")
    return r, along, across


@pytest.mark.parametrize(("d_nm", "g"), [(25, 1.35), (25, 6.0), (20, 2.0), (30, 3.0)])
def test_tangential_and_normal_fwhm_match_theory(d_nm, g):
    p = Particle(diameter_nm=d_nm)
    r, along, across = psf_profiles(p, g)
    expected = theory_tangential_fwhm_mm(p, g)
    assert measured_fwhm_mm(along, r) == pytest.approx(expected, rel=0.02)
    assert measured_fwhm_mm(across, r) / measured_fwhm_mm(along, r) == pytest.approx(
        2.28, rel=0.02
    )


def test_fwhm_scales_as_inverse_gradient_and_inverse_cube_of_diameter():
    r_ref, along_ref, _ = psf_profiles(Particle(diameter_nm=20), 2.0)
    ref = measured_fwhm_mm(along_ref, r_ref)
    r, along, _ = psf_profiles(Particle(diameter_nm=20), 4.0)
    assert measured_fwhm_mm(along, r) == pytest.approx(ref / 2, rel=0.01)
    r, along, _ = psf_profiles(Particle(diameter_nm=40), 0.25)  # (2 d)^3 and G / 8 cancel
    assert measured_fwhm_mm(along, r) == pytest.approx(ref, rel=0.01)
    r, along, _ = psf_profiles(Particle(diameter_nm=40), 2.0)
    assert measured_fwhm_mm(along, r) == pytest.approx(ref / 8, rel=0.01)


def test_psf_is_not_the_scalar_shortcut():
    # Across the scan direction the PSF is the broad normal envelope L/xi, not Ldot.
    p = Particle()
    r, along, across = psf_profiles(p, 2.0)
    assert np.all(across >= along - 1e-12)
    assert across[np.searchsorted(r, 3.0)] > 2 * along[np.searchsorted(r, 3.0)]


def test_isotropic_is_mean_of_x_and_y_and_rotationally_symmetric():
    p = Particle()
    dy, dx = np.meshgrid(np.linspace(-5, 5, 21), np.linspace(-5, 5, 21), indexing="ij")
    hx = projected_psf(dy, dx, particle=p, gradient_t_per_m=2, scan_mode="x")
    hy = projected_psf(dy, dx, particle=p, gradient_t_per_m=2, scan_mode="y")
    hi = projected_psf(dy, dx, particle=p, gradient_t_per_m=2, scan_mode="isotropic")
    np.testing.assert_allclose(hi, (hx + hy) / 2, atol=1e-12)
    np.testing.assert_allclose(hy, hx.T, atol=1e-12)
    np.testing.assert_allclose(hi, hi.T, atol=1e-12)
    assert hx[10, 10] == pytest.approx(1.0)


def test_kernel_covers_whole_grid_and_convolution_has_no_wraparound():
    grid = ImageGrid(shape=(31, 41), fov_mm=(6.2, 8.2))
    k = psf_kernel(grid, particle=Particle(), gradient_t_per_m=2.0)
    assert k.shape == (61, 81)
    img = np.zeros(grid.shape)
    img[0, 0] = 1.0  # a corner source: wrap-around would light the opposite corner
    out = convolve_same(img, k)
    assert out[0, 0] == pytest.approx(1.0)
    assert out[-1, -1] == pytest.approx(k[30 + 30, 40 + 40], rel=1e-9)
    # linear convolution equals a direct sum
    rng = np.random.default_rng(1)
    c = rng.random(grid.shape)
    j, i = 7, 33
    direct = sum(c[a, b] * k[j - a + 30, i - b + 40] for a in range(31) for b in range(41))
    assert out.shape == grid.shape
    assert convolve_same(c, k)[j, i] == pytest.approx(direct, rel=1e-9)


def test_bad_scan_mode_and_gradient():
    with pytest.raises(ValueError, match="scan_mode"):
        projected_psf(0.0, 0.0, particle=Particle(), gradient_t_per_m=1.0, scan_mode="z")
    with pytest.raises(ValueError, match="gradient_t_per_m"):
        projected_psf(0.0, 0.0, particle=Particle(), gradient_t_per_m=0.0)
