"""Equilibrium Langevin particle model (with optional Debye relaxation time).

Formulas (Goodwill & Conolly, IEEE TMI 2010):

* magnetic moment ``m = Ms * pi * d**3 / 6``
* ``k = mu0 * m / (kB * T)`` [m/A], argument ``xi = k * |H|``
* ``L(xi) = coth(xi) - 1/xi`` and ``Ldot(xi) = 1/xi**2 - 1/sinh(xi)**2``

``L``, ``Ldot`` and ``L/xi`` are evaluated with Taylor series below ``|xi| < 1e-2``: the closed
forms cancel catastrophically there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MU0_T_M_PER_A = 4e-7 * math.pi  # vacuum permeability (the classic value; SI 2019 differs by 1e-10)
KB_J_PER_K = 1.380649e-23  # Boltzmann constant

_SERIES_BELOW = 1e-2
_LARGE_XI = 350.0  # beyond this sinh overflows; Ldot = 1/xi^2 to machine precision


def _as_float_array(xi) -> np.ndarray:
    arr = np.asarray(xi, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("xi must be finite (got NaN or inf)")
    return arr


def langevin(xi) -> np.ndarray:
    """Langevin function ``L(xi) = coth(xi) - 1/xi``, odd, ``L(0) = 0``, ``L(inf) = 1``."""
    x = _as_float_array(xi)
    out = np.empty_like(x)
    small = np.abs(x) < _SERIES_BELOW
    xs = x[small]
    out[small] = xs / 3.0 - xs**3 / 45.0 + 2.0 * xs**5 / 945.0
    xl = x[~small]
    out[~small] = 1.0 / np.tanh(xl) - 1.0 / xl
    return out


def langevin_over_xi(xi) -> np.ndarray:
    """``L(xi) / xi``: the normal (perpendicular) PSF envelope, even, equal to 1/3 at 0."""
    x = _as_float_array(xi)
    out = np.empty_like(x)
    small = np.abs(x) < _SERIES_BELOW
    xs = x[small]
    out[small] = 1.0 / 3.0 - xs**2 / 45.0 + 2.0 * xs**4 / 945.0
    xl = x[~small]
    out[~small] = (1.0 / np.tanh(xl) - 1.0 / xl) / xl
    return out


def langevin_derivative(xi) -> np.ndarray:
    """``dL/dxi = 1/xi**2 - 1/sinh(xi)**2``: the tangential PSF envelope, even, 1/3 at 0."""
    x = _as_float_array(xi)
    out = np.empty_like(x)
    ax = np.abs(x)
    small = ax < _SERIES_BELOW
    large = ax > _LARGE_XI
    mid = ~(small | large)
    xs = x[small]
    out[small] = 1.0 / 3.0 - xs**2 / 15.0 + 2.0 * xs**4 / 189.0
    out[large] = 1.0 / x[large] ** 2
    xm = x[mid]
    out[mid] = 1.0 / xm**2 - 1.0 / np.sinh(xm) ** 2
    return out


@dataclass(frozen=True)
class Particle:
    """A superparamagnetic tracer core.

    Parameters
    ----------
    diameter_nm : float
        Magnetic core diameter in nanometres (default 25 nm).
    saturation_magnetisation_a_per_m : float
        Saturation magnetisation Ms in A/m (default 0.6 T / mu0, magnetite-like).
    temperature_k : float
        Temperature in kelvin (default 300 K).
    relaxation_time_s : float
        Debye relaxation time constant tau in seconds; 0 means adiabatic (no relaxation).
    """

    diameter_nm: float = 25.0
    saturation_magnetisation_a_per_m: float = 0.6 / MU0_T_M_PER_A
    temperature_k: float = 300.0
    relaxation_time_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("diameter_nm", "saturation_magnetisation_a_per_m", "temperature_k"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if not (np.isfinite(self.relaxation_time_s) and self.relaxation_time_s >= 0):
            raise ValueError(
                f"relaxation_time_s must be >= 0 and finite, got {self.relaxation_time_s!r}"
            )

    @property
    def diameter_m(self) -> float:
        return self.diameter_nm * 1e-9

    @property
    def moment_a_m2(self) -> float:
        """Magnetic moment m = Ms * pi * d^3 / 6 in A m^2."""
        return self.saturation_magnetisation_a_per_m * math.pi * self.diameter_m**3 / 6.0

    @property
    def k_m_per_a(self) -> float:
        """Langevin argument per field strength, k = mu0 m / (kB T), in m/A."""
        return MU0_T_M_PER_A * self.moment_a_m2 / (KB_J_PER_K * self.temperature_k)

    def xi(self, field_a_per_m) -> np.ndarray:
        """Langevin argument xi = k |H| for a field magnitude in A/m."""
        return self.k_m_per_a * np.asarray(field_a_per_m, dtype=np.float64)

    def tangential_fwhm_m(self, gradient_t_per_m: float) -> float:
        """FWHM of the tangential PSF envelope, 4.16 / (k G), in metres (G in T/m)."""
        return TANGENTIAL_FWHM_XI / (self.k_m_per_a * gradient_a_per_m2(gradient_t_per_m))

    def normal_fwhm_m(self, gradient_t_per_m: float) -> float:
        """FWHM of the normal PSF envelope L(xi)/xi, 9.47 / (k G), in metres."""
        return NORMAL_FWHM_XI / (self.k_m_per_a * gradient_a_per_m2(gradient_t_per_m))


def gradient_a_per_m2(gradient_t_per_m: float) -> float:
    """Convert a selection-field gradient from T/m (mu0 H per metre) to A/m^2."""
    if not np.isfinite(gradient_t_per_m) or gradient_t_per_m <= 0:
        raise ValueError(
            f"gradient_t_per_m must be a positive finite number, got {gradient_t_per_m!r}"
        )
    return gradient_t_per_m / MU0_T_M_PER_A


def _fwhm_in_xi(func) -> float:
    """Full width at half maximum (in xi) of an even envelope with maximum 1/3 at 0.

    Bisection on [1e-3, 50] (the envelope falls monotonically there) to 1e-14: as exact as a
    root finder, without importing scipy.optimize (0.3 s) whenever the physics is imported.
    """
    half = 1.0 / 6.0
    lo, hi = 1e-3, 50.0
    while hi - lo > 1e-14:
        mid = 0.5 * (lo + hi)
        if float(func(np.array([mid]))[0]) > half:
            lo = mid
        else:
            hi = mid
    return lo + hi


TANGENTIAL_FWHM_XI = _fwhm_in_xi(langevin_derivative)  # 4.16...
NORMAL_FWHM_XI = _fwhm_in_xi(langevin_over_xi)  # 9.47...


def psf_envelopes(xi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tangential ``3 Ldot(xi)`` and normal ``3 L(xi)/xi`` envelopes, both 1 at xi = 0."""
    return 3.0 * langevin_derivative(xi), 3.0 * langevin_over_xi(xi)
