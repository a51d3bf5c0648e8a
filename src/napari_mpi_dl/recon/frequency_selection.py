"""Which system-matrix rows (period, receive channel, frequency) take part in a reconstruction.

Rows are kept by frequency band (``min_frequency_hz <= f <= max_frequency_hz``), receive channel
and SNR (``snr > snr_threshold``), as MPIReco.jl's ``filterFrequencies`` does. They are ordered
period-major, then channel, then ascending frequency (the reference tools' row order; Kaczmarz
results depend on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrequencySelection:
    """Row filter. ``channels=None`` keeps every receive channel; ``snr_threshold=None`` (or 0)
    disables the SNR criterion; ``max_frequency_hz=None`` keeps everything up to the bandwidth."""

    min_frequency_hz: float = 80e3
    max_frequency_hz: float | None = None
    snr_threshold: float | None = 1.5
    channels: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.min_frequency_hz) and self.min_frequency_hz >= 0):
            raise ValueError(f"min_frequency_hz must be >= 0, got {self.min_frequency_hz!r}")
        if self.max_frequency_hz is not None and not (
            np.isfinite(self.max_frequency_hz) and self.max_frequency_hz >= self.min_frequency_hz
        ):
            raise ValueError(f"max_frequency_hz must be >= min_frequency_hz "
                             f"({self.min_frequency_hz:g}), got {self.max_frequency_hz!r}")
        if self.snr_threshold is not None and not (
            np.isfinite(self.snr_threshold) and self.snr_threshold >= 0
        ):
            raise ValueError(f"snr_threshold must be >= 0, got {self.snr_threshold!r}")
        if self.channels is not None:
            channels = tuple(int(c) for c in self.channels)
            if not channels or min(channels) < 0 or len(set(channels)) != len(channels):
                raise ValueError(f"channels must be distinct indices >= 0, got {self.channels!r}")
            object.__setattr__(self, "channels", channels)


@dataclass(frozen=True)
class RowSelection:
    """Selected rows: ``period``, ``channel`` and ``frequency`` (index into the SM's K axis)."""

    period: np.ndarray
    channel: np.ndarray
    frequency: np.ndarray
    frequencies_hz: np.ndarray

    def __len__(self) -> int:
        return int(self.frequency.size)


def select_rows(frequencies_hz: np.ndarray, snr: np.ndarray | None, num_channels: int,
                selection: FrequencySelection, *, num_periods: int = 1) -> RowSelection:
    """Rows of a (J, C, K) system matrix that pass ``selection``.

    ``snr`` is (J, C, K) or None; an SNR threshold without SNR values is an error (the user asked
    for a criterion that cannot be applied).
    """
    f = np.asarray(frequencies_hz, dtype=np.float64)
    channels = selection.channels if selection.channels is not None else tuple(range(num_channels))
    if max(channels) >= num_channels:
        raise ValueError(f"receive channel {max(channels)} does not exist; the system matrix has "
                         f"{num_channels} channel(s) (0..{num_channels - 1})")
    band = f >= selection.min_frequency_hz
    if selection.max_frequency_hz is not None:
        band &= f <= selection.max_frequency_hz
    use_snr = selection.snr_threshold is not None and selection.snr_threshold > 0
    if use_snr and snr is None:
        raise ValueError("an SNR threshold was given but the system matrix has no SNR (no "
                         "/calibration/snr and fewer than 2 background frames); use "
                         "snr_threshold=None / --snr-threshold 0")
    periods, chans, freqs = [], [], []
    for j in range(num_periods):
        for c in channels:
            keep = band.copy()
            if use_snr:
                keep &= np.asarray(snr)[j, c] > selection.snr_threshold
            idx = np.flatnonzero(keep)
            periods.append(np.full(idx.size, j))
            chans.append(np.full(idx.size, c))
            freqs.append(idx)
    period = np.concatenate(periods).astype(np.int64)
    channel = np.concatenate(chans).astype(np.int64)
    frequency = np.concatenate(freqs).astype(np.int64)
    return RowSelection(period, channel, frequency, f[frequency])
