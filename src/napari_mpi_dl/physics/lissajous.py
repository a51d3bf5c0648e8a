"""Lissajous field-free-point (FFP) scanners: drive fields, FFP trajectory, sampling.

A 2D (or 3D) Lissajous scanner drives each active axis ``d`` with a homogeneous sinusoidal field

    H_D,d(t) = A_d sin(2 pi f_d t + phi_d),   f_d = base_frequency / divider_d,

``A_d`` the amplitude (given in mT, i.e. mu0 H, as MDF stores it). With the selection field
``H_S(r) = -G r`` (G = diag(Gx, Gy, Gz) in A/m^2; a gradient quoted in T/m is divided by mu0) the
total field is ``H(r, t) = H_D(t) - G r`` and the FFP sits at ``r_s(t) = G^-1 H_D(t)``. The
trajectory repeats after the cycle ``lcm(dividers) / base_frequency``; the receiver takes
``samples_per_period`` equidistant samples per cycle.

Defaults are those of the OpenMPIData 2D sequences (Knopp et al., Data in Brief 28, 2020):
2.5 MHz base frequency, dividers 102 (x) and 96 (y), 12 mT, gradient (-1, -1, 2) T/m,
1632 samples per 652.8 us cycle, i.e. 817 frequencies up to 1.25 MHz and a 24 x 24 mm drive FOV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from napari_mpi_dl.physics.particle import MU0_T_M_PER_A

AXIS_NAMES = ("x", "y", "z")


def _tuple_of(value, n: int, name: str, cast=float) -> tuple:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.size == 1 and n > 1:
        arr = np.repeat(arr, n)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"{name} must have {n} entries (one per drive channel), got {value!r}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return tuple(cast(v) for v in arr)


@dataclass(frozen=True)
class LissajousScanner:
    """A sinusoidal multi-axis FFP scanner (the OpenMPIData 2D sequence by default).

    Parameters
    ----------
    base_frequency_hz : float
        Base (clock) frequency; drive frequencies are ``base_frequency_hz / dividers``.
    dividers : tuple of int
        One divider per drive channel.
    drive_amplitude_mt : float or tuple of float
        Drive-field amplitude per channel in mT (mu0 H).
    gradient_t_per_m : (float, float, float)
        Diagonal of the selection-field gradient (x, y, z) in T/m; each must be non-zero.
    samples_per_period : int
        Receive samples per trajectory cycle.
    drive_axes : tuple of int
        Spatial axis (0 = x, 1 = y, 2 = z) driven by each channel.
    drive_phase_rad : float or tuple of float
        Phase of each channel's sine.
    """

    base_frequency_hz: float = 2.5e6
    dividers: tuple[int, ...] = (102, 96)
    drive_amplitude_mt: float | tuple[float, ...] = 12.0
    gradient_t_per_m: tuple[float, float, float] = (-1.0, -1.0, 2.0)
    samples_per_period: int = 1632
    drive_axes: tuple[int, ...] = (0, 1)
    drive_phase_rad: float | tuple[float, ...] = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.base_frequency_hz) and self.base_frequency_hz > 0):
            raise ValueError(f"base_frequency_hz must be > 0, got {self.base_frequency_hz!r}")
        dividers = tuple(int(d) for d in np.atleast_1d(self.dividers))
        if not dividers or min(dividers) < 1:
            raise ValueError(f"dividers must be positive integers, got {self.dividers!r}")
        n = len(dividers)
        axes = tuple(int(a) for a in np.atleast_1d(self.drive_axes))
        if len(axes) != n or len(set(axes)) != n or not all(0 <= a <= 2 for a in axes):
            raise ValueError(
                f"drive_axes must name {n} distinct axes in 0..2 (one per divider), "
                f"got {self.drive_axes!r}"
            )
        amplitude = _tuple_of(self.drive_amplitude_mt, n, "drive_amplitude_mt")
        if min(amplitude) <= 0:
            raise ValueError(f"drive_amplitude_mt must be > 0, got {self.drive_amplitude_mt!r}")
        phase = _tuple_of(self.drive_phase_rad, n, "drive_phase_rad")
        gradient = _tuple_of(self.gradient_t_per_m, 3, "gradient_t_per_m")
        if any(g == 0 for g in gradient):
            raise ValueError(
                f"gradient_t_per_m must be non-zero on every axis, got {self.gradient_t_per_m!r}"
            )
        if int(self.samples_per_period) < 4:
            raise ValueError(f"samples_per_period must be >= 4, got {self.samples_per_period!r}")
        object.__setattr__(self, "dividers", dividers)
        object.__setattr__(self, "drive_axes", axes)
        object.__setattr__(self, "drive_amplitude_mt", amplitude)
        object.__setattr__(self, "drive_phase_rad", phase)
        object.__setattr__(self, "gradient_t_per_m", gradient)
        object.__setattr__(self, "samples_per_period", int(self.samples_per_period))

    # --- timing -------------------------------------------------------------------------------
    @property
    def num_drive_channels(self) -> int:
        return len(self.dividers)

    @property
    def cycle_s(self) -> float:
        """Trajectory cycle ``lcm(dividers) / base_frequency_hz`` in seconds."""
        return math.lcm(*self.dividers) / self.base_frequency_hz

    @property
    def sampling_rate_hz(self) -> float:
        return self.samples_per_period / self.cycle_s

    @property
    def bandwidth_hz(self) -> float:
        """Receive bandwidth, half the sampling rate (MDF ``receiver/bandwidth``)."""
        return 0.5 * self.sampling_rate_hz

    @property
    def num_frequencies(self) -> int:
        return self.samples_per_period // 2 + 1

    @property
    def drive_frequencies_hz(self) -> np.ndarray:
        return self.base_frequency_hz / np.asarray(self.dividers, dtype=np.float64)

    def frequencies_hz(self) -> np.ndarray:
        """Frequencies of the rfft of one cycle (``num_frequencies`` values, 0 .. bandwidth)."""
        return np.fft.rfftfreq(self.samples_per_period, d=1.0 / self.sampling_rate_hz)

    def times_s(self) -> np.ndarray:
        """Sample times within one cycle (s)."""
        return np.arange(self.samples_per_period) / self.sampling_rate_hz

    # --- fields -------------------------------------------------------------------------------
    @property
    def gradient_a_per_m2(self) -> np.ndarray:
        """Diagonal of G in A/m^2 (x, y, z)."""
        return np.asarray(self.gradient_t_per_m) / MU0_T_M_PER_A

    def _phases(self, times_s) -> np.ndarray:
        t = self.times_s() if times_s is None else np.asarray(times_s, dtype=np.float64)
        return 2 * np.pi * t[:, None] * self.drive_frequencies_hz[None, :] + np.asarray(
            self.drive_phase_rad
        )[None, :]

    def drive_field_a_per_m(self, times_s=None) -> np.ndarray:
        """Homogeneous drive field H_D(t), shape ``(n_times, 3)`` in A/m."""
        phases = self._phases(times_s)
        amp = np.asarray(self.drive_amplitude_mt) * 1e-3 / MU0_T_M_PER_A
        out = np.zeros((phases.shape[0], 3))
        out[:, list(self.drive_axes)] = amp[None, :] * np.sin(phases)
        return out

    def drive_field_derivative(self, times_s=None) -> np.ndarray:
        """dH_D/dt, shape ``(n_times, 3)`` in A/(m s)."""
        phases = self._phases(times_s)
        amp = np.asarray(self.drive_amplitude_mt) * 1e-3 / MU0_T_M_PER_A
        omega = 2 * np.pi * self.drive_frequencies_hz
        out = np.zeros((phases.shape[0], 3))
        out[:, list(self.drive_axes)] = (amp * omega)[None, :] * np.cos(phases)
        return out

    def ffp_position_m(self, times_s=None) -> np.ndarray:
        """FFP position ``r_s = G^-1 H_D(t)``, shape ``(n_times, 3)`` in metres."""
        return self.drive_field_a_per_m(times_s) / self.gradient_a_per_m2[None, :]

    @property
    def drive_fov_mm(self) -> np.ndarray:
        """Extent of the FFP trajectory per axis (x, y, z) in mm: ``2 A / |G|`` (0: not driven)."""
        fov = np.zeros(3)
        for axis, amp in zip(self.drive_axes, self.drive_amplitude_mt, strict=True):
            fov[axis] = 2.0 * amp / abs(self.gradient_t_per_m[axis])  # mT / (T/m) = mm
        return fov

    def as_dict(self) -> dict:
        return {
            "base_frequency_hz": self.base_frequency_hz,
            "dividers": list(self.dividers),
            "drive_amplitude_mt": list(self.drive_amplitude_mt),
            "gradient_t_per_m": list(self.gradient_t_per_m),
            "samples_per_period": self.samples_per_period,
            "drive_axes": list(self.drive_axes),
            "drive_phase_rad": list(self.drive_phase_rad),
        }


OPENMPI_SCANNER = LissajousScanner()
