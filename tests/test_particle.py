"""Langevin particle model: values, numerically safe limits, moments."""

import math

import numpy as np
import pytest

from napari_mpi_dl.physics.particle import (
    KB_J_PER_K,
    MU0_T_M_PER_A,
    NORMAL_FWHM_XI,
    TANGENTIAL_FWHM_XI,
    Particle,
    langevin,
    langevin_derivative,
    langevin_over_xi,
)


def test_langevin_matches_closed_form_away_from_zero():
    xi = np.array([-7.0, -1.5, 0.3, 1.0, 4.0, 30.0])
    np.testing.assert_allclose(langevin(xi), 1 / np.tanh(xi) - 1 / xi, rtol=1e-13)
    np.testing.assert_allclose(
        langevin_derivative(xi), 1 / xi**2 - 1 / np.sinh(xi) ** 2, rtol=1e-12
    )


@pytest.mark.parametrize("xi", [1e-12, 1e-8, 1e-5, 9.9e-3, 1.01e-2])
def test_series_near_zero_keeps_all_digits(xi):
    # Exact values from the series to O(xi^7), far below float64 resolution at these xi.
    lang = xi / 3 - xi**3 / 45 + 2 * xi**5 / 945
    assert langevin(xi) == pytest.approx(lang, rel=1e-12)
    assert langevin_over_xi(xi) == pytest.approx(lang / xi, rel=1e-12)
    assert langevin_derivative(xi) == pytest.approx(
        1 / 3 - xi**2 / 15 + 2 * xi**4 / 189, rel=1e-10
    )


def test_limits_and_symmetry():
    assert langevin(0.0) == 0.0
    assert langevin_derivative(0.0) == pytest.approx(1 / 3)
    assert langevin_over_xi(0.0) == pytest.approx(1 / 3)
    assert langevin(1e4) == pytest.approx(1 - 1e-4)
    assert langevin_derivative(1e3) == pytest.approx(1e-6)  # no overflow in sinh
    xi = np.linspace(-20, 20, 41)
    np.testing.assert_allclose(langevin(-xi), -langevin(xi))
    np.testing.assert_allclose(langevin_derivative(-xi), langevin_derivative(xi))


def test_derivative_is_the_derivative():
    xi = np.linspace(-6, 6, 121)
    h = 1e-5
    numeric = (langevin(xi + h) - langevin(xi - h)) / (2 * h)
    np.testing.assert_allclose(langevin_derivative(xi), numeric, atol=1e-9)


def test_fwhm_constants_match_theory():
    assert TANGENTIAL_FWHM_XI == pytest.approx(4.16, abs=0.005)
    assert NORMAL_FWHM_XI == pytest.approx(9.47, abs=0.005)
    assert NORMAL_FWHM_XI / TANGENTIAL_FWHM_XI == pytest.approx(2.28, abs=0.01)


def test_particle_moment_and_k():
    p = Particle(diameter_nm=25.0)
    m = p.saturation_magnetisation_a_per_m * math.pi * (25e-9) ** 3 / 6
    assert p.moment_a_m2 == pytest.approx(m)
    assert p.k_m_per_a == pytest.approx(MU0_T_M_PER_A * m / (KB_J_PER_K * 300.0))


@pytest.mark.parametrize(
    ("diameter_nm", "gradient", "fwhm_mm"), [(25, 2.0, 2.21), (25, 5.7, 0.77), (20, 2.0, 4.31)]
)
def test_worked_resolution_values_from_the_guide(diameter_nm, gradient, fwhm_mm):
    p = Particle(diameter_nm=diameter_nm)
    assert p.tangential_fwhm_m(gradient) * 1e3 == pytest.approx(fwhm_mm, abs=0.01)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"diameter_nm": 0},
        {"diameter_nm": -5},
        {"temperature_k": float("nan")},
        {"saturation_magnetisation_a_per_m": 0},
        {"relaxation_time_s": -1e-6},
    ],
)
def test_bad_particle_parameters_raise(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        Particle(**kwargs)


def test_nan_argument_raises():
    with pytest.raises(ValueError, match="finite"):
        langevin(np.array([0.1, np.nan]))
