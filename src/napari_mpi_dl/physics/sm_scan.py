"""A simulated calibration scan's frames: acquisition order, receive noise, drifting background.

A simulated calibration scan adds, per frame, white receive noise (``noise_std_v`` per sample)
and a scanner background that drifts linearly over the acquisition; background (empty-scanner)
frames are interleaved, one block after every ``background_interval_voxels`` voxels (one grid row
by default) and at both ends, as OpenMPIData does.
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl.physics.sm_simulation import SystemMatrixSimulation


def acquisition_order(sim: SystemMatrixSimulation) -> tuple[np.ndarray, np.ndarray]:
    """Acquisition indices of the foreground (O,) and background (E,) frames.

    A background block opens the scan, follows every ``background_interval_voxels`` voxels
    (default: each grid row) and closes it.
    """
    n_vox = sim.num_voxels
    interval = int(sim.background_interval_voxels) or sim.grid.shape[1]
    nb = int(sim.background_block_frames)
    fg, bg = np.empty(n_vox, np.int64), []
    t = 0
    for o in range(n_vox):
        if nb and o % interval == 0:
            bg.extend(range(t, t + nb))
            t += nb
        fg[o] = t
        t += 1
    if nb:
        bg.extend(range(t, t + nb))
    return fg, np.asarray(bg, dtype=np.int64)


def background_pattern(sim: SystemMatrixSimulation, rng: np.random.Generator) -> np.ndarray:
    """A fixed scanner background spectrum (C, K): strongest at low frequencies and at the
    drive harmonics, ``background_v`` rms per time sample."""
    scanner = sim.scanner
    freqs = scanner.frequencies_hz()
    c, k, v = len(sim.receive_axes), freqs.size, scanner.samples_per_period
    shape = np.exp(-freqs / 200e3)
    for f0 in scanner.drive_frequencies_hz:
        shape = shape + 3.0 * np.exp(-0.5 * ((freqs % f0) / 2e3) ** 2) * np.exp(-freqs / 300e3)
    pattern = (rng.standard_normal((c, k)) + 1j * rng.standard_normal((c, k))) * shape[None, :]
    rms = np.sqrt(np.sum(np.abs(pattern) ** 2, axis=1, keepdims=True) * 2) / v
    return pattern * (sim.background_v / np.maximum(rms, 1e-300))


def spectral_noise(shape: tuple[int, ...], num_samples: int, std_v: float,
                   rng: np.random.Generator) -> np.ndarray:
    """rfft (along axis 1 of ``shape`` = (C, K, ...)) of white noise of ``std_v`` per sample."""
    noise = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * (
        std_v * np.sqrt(num_samples / 2.0))
    noise[:, 0] = noise[:, 0].real * np.sqrt(2.0)
    if num_samples % 2 == 0:
        noise[:, -1] = noise[:, -1].real * np.sqrt(2.0)
    return noise


def scan_frames(clean: np.ndarray, acq_fg: np.ndarray, acq_bg: np.ndarray,
                sim: SystemMatrixSimulation, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """Noisy foreground (C, K, O) and background (C, K, E) frames of a calibration scan."""
    v = sim.scanner.samples_per_period
    n_total = acq_fg.size + acq_bg.size
    pattern = background_pattern(sim, rng)

    def drifting(acq: np.ndarray) -> np.ndarray:
        tau = acq / max(1, n_total - 1) - 0.5
        return pattern[:, :, None] * (1.0 + sim.background_drift * tau)[None, None, :]

    fg = clean + drifting(acq_fg) + spectral_noise(clean.shape, v, sim.noise_std_v, rng)
    bg = drifting(acq_bg) + spectral_noise(pattern.shape + (acq_bg.size,), v, sim.noise_std_v,
                                           rng)
    return fg, bg
