"""Protocol results as CSV (one row per gap and method) and as a Markdown table.

The Markdown table follows Table 1 of the deblurring paper: one row per gap ("resolution"), one
column per method, each cell ``PSNR / SSIM / dip`` with a check mark when the tubes are resolved;
a second table gives the smallest resolved gap per method.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from napari_mpi_dl.analysis.metrics import NORMALISATION, SSIM_WINDOW
from napari_mpi_dl.analysis.protocol import ProtocolResult, ProtocolRow
from napari_mpi_dl.io.atomic import write_text_atomic

CSV_FIELDS = ("gap_mm", "method", "label", "psnr_db", "ssim", "nrmse", "dip", "resolved",
              "peaks_at_tubes", "separation_mm", "n_peaks", "runtime_s")


def rows_to_csv(rows: list[ProtocolRow]) -> str:
    """CSV text with a header of :data:`CSV_FIELDS`; floats with full precision."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        d = row.as_dict()
        d["separation_mm"] = "" if d["separation_mm"] is None else d["separation_mm"]
        writer.writerow({k: d[k] for k in CSV_FIELDS})
    return buf.getvalue()


def write_csv(rows: list[ProtocolRow], path: str | os.PathLike) -> Path:
    """Write :func:`rows_to_csv` atomically."""
    return write_text_atomic(path, rows_to_csv(rows))


def read_typed_csv(path: str | os.PathLike, *, text: tuple[str, ...],
                   booleans: tuple[str, ...] = ("resolved",),
                   integers: tuple[str, ...] = ("n_peaks",)) -> list[dict]:
    """Read a CSV written by this package back into typed rows.

    Columns in ``text`` stay strings; other empty cells become ``None``; ``booleans`` are
    ``"True"``/``"False"``, ``integers`` ints and everything else floats.
    """
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            row: dict = {}
            for k, v in rec.items():
                if k in text:
                    row[k] = v
                elif v == "":
                    row[k] = None
                elif k in booleans:
                    row[k] = v == "True"
                elif k in integers:
                    row[k] = int(v)
                else:
                    row[k] = float(v)
            out.append(row)
    return out


def read_csv(path: str | os.PathLike) -> list[dict]:
    """Read a protocol CSV back (numbers as floats, ``resolved`` as bool, empty as ``None``)."""
    return read_typed_csv(path, text=("method", "label"),
                          booleans=("resolved", "peaks_at_tubes"))


def markdown_table(result: ProtocolResult) -> str:
    """Table 1 layout: gaps as rows, methods as columns, ``PSNR / SSIM / dip`` cells."""
    cfg = result.config
    methods = list(result.labels)
    by_key = {(r.gap_mm, r.method): r for r in result.rows}
    noise = ("no noise" if cfg.snr_db is None
             else f"white noise at {cfg.snr_db:g} dB (seed {cfg.seed})")
    lines = [
        f"Two-tube protocol: tubes {cfg.diameter_mm:g} mm, gradient {cfg.gradient_t_per_m:g} T/m, "
        f"x-scan, {noise}; wrong PSF = {cfg.wrong_psf.describe()}.",
        f"Cells: PSNR (dB) / SSIM / dip; a check mark means resolved (dip >= "
        f"{cfg.dip_threshold:g} with both peaks on the tubes; a dip between peaks elsewhere is "
        f"marked *). Metrics: {NORMALISATION}; SSIM window {SSIM_WINDOW}.",
        "",
        "| Gap (mm) | " + " | ".join(result.labels[m] for m in methods) + " |",
        "|---:|" + "---:|" * len(methods),
    ]
    for gap in cfg.gaps_mm:
        cells = []
        for m in methods:
            r = by_key.get((gap, m))
            if r is None:
                cells.append("")
                continue
            mark = " ✓" if r.resolved else ("" if r.peaks_at_tubes or r.dip < cfg.dip_threshold
                                             else " *")
            cells.append(f"{r.psnr_db:.2f} / {r.ssim:.3f} / {r.dip:.2f}{mark}")
        lines.append(f"| {gap:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "| Method | Smallest resolved gap (mm) | Mean PSNR (dB) | Mean SSIM |",
              "|---|---:|---:|---:|"]
    for m in methods:
        rows = [r for r in result.rows if r.method == m]
        gap = result.smallest_resolved_gap(m)
        mean_p = sum(r.psnr_db for r in rows) / len(rows)
        mean_s = sum(r.ssim for r in rows) / len(rows)
        lines.append(f"| {result.labels[m]} | {'none' if gap is None else f'{gap:.1f}'} | "
                     f"{mean_p:.2f} | {mean_s:.3f} |")
    return "\n".join(lines) + "\n"


def write_markdown(result: ProtocolResult, path: str | os.PathLike) -> Path:
    """Write :func:`markdown_table` atomically."""
    return write_text_atomic(path, markdown_table(result))


def mnist_markdown(rows) -> str:
    """Markdown table of :class:`~napari_mpi_dl.analysis.protocol.MnistRow` (mean +- std)."""
    if not rows:
        return ""
    lines = [f"Held-out MNIST digits (n = {rows[0].n_digits}): PSNR and SSIM, mean +- std.", "",
             "| Method | PSNR (dB) | SSIM |", "|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.label} | {r.psnr_db_mean:.2f} +- {r.psnr_db_std:.2f} | "
                     f"{r.ssim_mean:.3f} +- {r.ssim_std:.3f} |")
    return "\n".join(lines) + "\n"


def mnist_csv(rows) -> str:
    """CSV text of MNIST rows."""
    buf = io.StringIO()
    fields = ("method", "label", "n_digits", "psnr_db_mean", "psnr_db_std", "ssim_mean",
              "ssim_std")
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r.as_dict())
    return buf.getvalue()
