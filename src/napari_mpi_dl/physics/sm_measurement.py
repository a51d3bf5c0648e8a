"""Simulated MPI measurements of phantoms with a (simulated or measured) system matrix.

``u = S x + background + noise``: the noise-free SM applied to the concentration in units of
the calibration sample (``x = c / c_delta``), in the time domain, frame by frame. Background
frames (empty scanner) open and close the measurement; the scanner background drifts linearly
and white receive noise is added to every frame, as in the calibration scan
(:mod:`napari_mpi_dl.physics.system_matrix`).

With a simulated SM file the noise-free SM is simulated again from the settings the file records,
so the SM's own noise does not leak into the measurement; with a measured SM its
background-corrected columns serve as the operator (and their noise does).
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl.physics.system_matrix import (
    SystemMatrixSimulation,
    background_pattern,
    clean_system_matrix,
    mdf_acquisition,
    mdf_header,
    simulation_from_header,
)

PHANTOM_FIELD = "/_napari_mpi_dl/phantom_mol_per_l"


def _operator(sim: SystemMatrixSimulation | None, sm, clean, progress):
    """Noise-free (or best available) SM (C, K_full, O) and the calibration concentration."""
    if clean is not None and sim is not None:
        return np.asarray(clean), sim.tracer_concentration_mol_per_l, sim
    if sim is None and sm is not None:
        sim = simulation_from_header(sm.header)
    if sim is not None:
        return clean_system_matrix(sim, progress=progress), sim.tracer_concentration_mol_per_l, sim
    if sm is None:
        raise ValueError("simulate_measurement needs a SystemMatrixSimulation or a system matrix")
    full = np.zeros((sm.num_channels, sm.receiver.num_frequencies, sm.num_voxels), np.complex128)
    full[:, sm.frequency_indices] = sm.data[0]
    try:
        conc = float(np.atleast_1d(sm.header.tracer.get("concentration", [0.0]))[0])
    except (TypeError, ValueError):
        conc = 0.0
    return full, conc, None


def simulate_measurement(concentration_mol_per_l, *, sim: SystemMatrixSimulation | None = None,
                         sm=None, clean=None, num_frames: int = 10,
                         num_background_frames: int = 10, noise_std_v: float | None = None,
                         seed: int | None = 0, name: str = "phantom", progress=None):
    """An :class:`~napari_mpi_dl.io.mdf_model.MDFMeasurement` of a concentration map.

    Parameters
    ----------
    concentration_mol_per_l : array (ny, nx)
        Iron concentration on the SM grid (x along columns).
    sim, sm, clean
        The scanner: a :class:`SystemMatrixSimulation`, or an ``MDFSystemMatrix`` (simulated files
        carry their simulation settings), optionally with its precomputed noise-free SM ``clean``
        (C, K, O).
    num_frames, num_background_frames : int
        Foreground frames, and background frames (half before, half after the foreground).
    noise_std_v : float, optional
        Receive noise per time sample; default: the scanner's (``sim.noise_std_v``).
    """
    from napari_mpi_dl.io.mdf_model import MDFMeasurement

    if int(num_frames) < 1 or int(num_background_frames) < 0:
        raise ValueError("num_frames must be >= 1 and num_background_frames >= 0")
    operator, c_delta, sim = _operator(sim, sm, clean, progress)
    c = np.asarray(concentration_mol_per_l, dtype=np.float64)
    n_ch, n_freq, n_vox = operator.shape
    if c.size != n_vox:
        raise ValueError(f"the concentration has {c.size} pixels {c.shape} but the system matrix "
                         f"has {n_vox} voxels")
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ValueError("the concentration must be finite and >= 0")
    x = c.ravel() / (c_delta if c_delta > 0 else 1.0)
    if sim is not None:
        v = sim.scanner.samples_per_period
        drive, receiver, gradient = mdf_acquisition(sim.scanner, n_ch)
        header = mdf_header(sim, kind=f"measurement of {name}")
        noise = sim.noise_std_v if noise_std_v is None else float(noise_std_v)
        bg_scale, drift = sim.background_v, sim.background_drift
    else:
        v = sm.receiver.num_sampling_points
        drive, receiver, gradient = sm.drive_field, sm.receiver, sm.gradient_t_per_m
        from napari_mpi_dl.io.mdf_model import MDFHeader

        header = MDFHeader(tracer=dict(sm.header.tracer), scanner=dict(sm.header.scanner))
        noise = 0.0 if noise_std_v is None else float(noise_std_v)
        bg_scale, drift = 0.0, 0.0
    rng = np.random.default_rng(seed)
    signal = np.fft.irfft(operator @ x, n=v, axis=1)  # (C, V)
    n_before = int(num_background_frames) // 2
    n_total = int(num_frames) + int(num_background_frames)
    is_bg = np.ones(n_total, dtype=bool)
    is_bg[n_before : n_before + int(num_frames)] = False
    if sim is not None and bg_scale > 0:
        background = np.fft.irfft(background_pattern(sim, rng), n=v, axis=1)
    else:
        background = np.zeros((n_ch, v))
    tau = np.arange(n_total) / max(1, n_total - 1) - 0.5
    data = (background[None] * (1.0 + drift * tau)[:, None, None]
            + rng.normal(0.0, 1.0, (n_total, n_ch, v)) * noise)
    data[~is_bg] += signal[None]
    header.experiment["isSimulation"] = True
    header.extra[PHANTOM_FIELD] = c
    return MDFMeasurement(
        data=data[:, None], is_background_frame=is_bg, is_fourier_transformed=False,
        frequencies_hz=receiver.all_frequencies_hz(),
        frequency_indices=np.arange(receiver.num_frequencies), drive_field=drive,
        receiver=receiver, gradient_t_per_m=np.asarray(gradient), header=header)


def phantom_from_measurement(meas) -> np.ndarray | None:
    """The ground-truth concentration recorded in a simulated measurement, or None."""
    value = meas.header.extra.get(PHANTOM_FIELD)
    return None if value is None else np.asarray(value, dtype=np.float64)
