"""The line-profile table: one record per (line, layer), and its two CSV files.

A record holds :data:`TABLE_COLUMNS` (``None`` where not available): the number of peaks, the
positions and FWHM of the two main peaks and their separation in mm along the line, the dip and
the verdict, or the reason there is no analysis (``error``). :func:`write_profile_csvs` writes the
table and the samples (``line, layer, distance_mm, value, normalised``) with the package's one
table writer (:func:`napari_mpi_dl.analysis.tables.write_csv`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from napari_mpi_dl.analysis.profiles import LineProfile, ProfileAnalysis
from napari_mpi_dl.analysis.tables import read_typed_csv, write_csv

TABLE_COLUMNS = ("line", "layer", "n_peaks", "peak1_mm", "peak2_mm", "fwhm1_mm", "fwhm2_mm",
                 "separation_mm", "dip", "resolved", "error")
SAMPLE_COLUMNS = ("line", "layer", "distance_mm", "value", "normalised")


def profile_record(line: str, layer: str, analysis: ProfileAnalysis | None = None,
                   error: str = "") -> dict:
    """Table row of one (line, layer) as plain values (``None`` where not available)."""
    rec = dict.fromkeys(TABLE_COLUMNS)
    rec.update(line=line, layer=layer, error=error)
    if analysis is not None:
        rec.update(n_peaks=len(analysis.peaks), separation_mm=analysis.separation_mm,
                   dip=analysis.dip, resolved=analysis.resolved)
        for i, peak in enumerate(analysis.main_peaks[:2], 1):
            rec[f"peak{i}_mm"] = peak.position_mm
            rec[f"fwhm{i}_mm"] = peak.fwhm_mm
    return rec


def sample_rows(line: str, layer: str, profile: LineProfile) -> list[dict]:
    """One row per sample of ``profile``: distance along the line (mm), value, normalised."""
    return [{"line": line, "layer": layer, "distance_mm": float(d), "value": float(v),
             "normalised": float(n)}
            for d, v, n in zip(profile.distance_mm, profile.values, profile.normalised(),
                               strict=True)]


def write_profile_csvs(path: str | os.PathLike, records: Iterable[dict],
                       samples: Iterable[dict]) -> tuple[Path, Path]:
    """Write the table to ``path`` and the samples to ``<stem>_samples.csv`` (atomically);
    return both paths."""
    path = Path(path)
    samples_path = path.with_name(path.stem + "_samples.csv")
    write_csv(path, records, TABLE_COLUMNS)
    write_csv(samples_path, samples, SAMPLE_COLUMNS)
    return path, samples_path


def read_profile_table_csv(path: str | os.PathLike) -> list[dict]:
    """Read a profile table CSV back (numbers as float, ``resolved`` as bool, empty as None)."""
    return read_typed_csv(path, text=("line", "layer", "error"))
