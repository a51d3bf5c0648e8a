"""The package's one table writer (:func:`write_csv`) and the protocol's tables.

:func:`write_csv` / :func:`csv_text` write any rows (dicts, dataclasses or objects with
``as_dict()``) as CSV: a header of ``fields`` (default: the first row's keys), floats with full
precision, ``None`` as an empty cell; :func:`read_typed_csv` reads such a file back with types.
Protocol results are CSV (one row per gap and method, :data:`CSV_FIELDS`) and a Markdown table.

The Markdown table follows Table 1 of the deblurring paper: one row per gap ("resolution"), one
column per method, each cell ``PSNR / SSIM / dip`` with a check mark when the tubes are resolved;
a second table gives the smallest resolved gap per method. For the mismatch protocol
(:mod:`.scenarios`) :func:`summary_rows` / :func:`summary_markdown` put every scenario side by side
(method x scenario).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_mpi_dl.analysis.metrics import NORMALISATION, SSIM_WINDOW
from napari_mpi_dl.io.atomic import write_text_atomic

if TYPE_CHECKING:  # the protocol imports the physics; writing a CSV must not
    from napari_mpi_dl.analysis.protocol import ProtocolResult

#: Columns of the two-tube protocol CSV (:class:`~.protocol.ProtocolRow`).
CSV_FIELDS = ("gap_mm", "method", "label", "psnr_db", "ssim", "nrmse", "dip", "resolved",
              "peaks_at_tubes", "separation_mm", "n_peaks", "runtime_s")
#: Columns of the held-out MNIST CSV (:class:`~.protocol.MnistRow`).
MNIST_FIELDS = ("method", "label", "n_digits", "psnr_db_mean", "psnr_db_std", "ssim_mean",
                "ssim_std")


def _record(row) -> Mapping:
    if isinstance(row, Mapping):
        return row
    if hasattr(row, "as_dict"):
        return row.as_dict()
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return asdict(row)
    raise TypeError(f"rows must be mappings, dataclasses or have as_dict(), got {type(row)}")


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, float) else value


def csv_text(rows: Iterable, fields: Sequence[str] | None = None) -> str:
    """CSV text of ``rows`` (see the module docstring).

    Parameters
    ----------
    rows : iterable of mapping, dataclass or object with ``as_dict()``
        One record per line. Keys not in ``fields`` are left out.
    fields : sequence of str, optional
        The columns, in order (default: the keys of the first row; then ``rows`` must not be
        empty). A row without one of them is a ``ValueError`` naming the column.
    """
    records = [_record(r) for r in rows]
    if fields is None:
        if not records:
            raise ValueError("rows is empty: pass fields= to write a header-only CSV")
        fields = list(records[0])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    for i, rec in enumerate(records):
        missing = [k for k in fields if k not in rec]
        if missing:
            raise ValueError(f"row {i} has no column(s) {missing}")
        writer.writerow([_cell(rec[k]) for k in fields])
    return buf.getvalue()


def write_csv(path: str | os.PathLike, rows: Iterable,
              fields: Sequence[str] | None = None) -> Path:
    """Write :func:`csv_text` of ``rows`` to ``path`` atomically (replacing it) and return it.

    Example
    -------
    >>> write_csv("out.csv", [{"gap_mm": 1.4, "dip": 0.25}])          # doctest: +SKIP
    >>> write_csv("rows.csv", result.rows, fields=CSV_FIELDS)        # doctest: +SKIP
    """
    return write_text_atomic(path, csv_text(rows, fields))


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
    noise = ("no noise" if cfg.noise_db is None
             else f"white noise at {cfg.noise_db:g} dB (seed {cfg.seed})")
    settings = cfg.settings()
    if cfg.scenario is None:
        head = [f"Two-tube protocol: tubes {cfg.diameter_mm:g} mm, gradient "
                f"{settings.gradient_t_per_m:g} T/m, {settings.scan_mode}-scan, {noise}; "
                f"wrong PSF = {cfg.wrong_psf.describe()}."]
    else:
        sc = cfg.scenario
        head = [f"Scenario `{sc.name}`: {sc.description}",
                f"Two-tube protocol: tubes {cfg.diameter_mm:g} mm ({sc.tube_orientation}), "
                f"nominal gradient {settings.gradient_t_per_m:g} T/m (true: "
                f"{_true_gradient_text(settings)}), {settings.scan_mode}-scan, {noise}; "
                f"measured PSF: point source at {sc.psf_snr_db:g} dB."]
        head += [tuning_text(result.tuning)] if result.tuning else []
    lines = [
        *head,
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


def _true_gradient_text(settings) -> str:
    g = settings.true_gradient_yx_t_per_m
    return "the same" if g is None else f"Gx {g[1]:.4g}, Gy {g[0]:.4g} T/m"


def tuning_text(tuning) -> str:
    """One sentence listing the tuned options (:class:`~.scenarios.TunedSetting` list)."""
    parts = []
    for t in tuning:
        value = (f"balance {t.options['balance']:g}" if t.algorithm == "wiener"
                 else f"{t.options['iterations']} iterations")
        parts.append(f"{t.algorithm} / {t.psf} PSF: {value} "
                     f"(validation {t.validation_psnr_db:.2f} dB)")
    return ("Tuned on the validation set (tube gaps 1.2, 2.0, 2.8 mm and MNIST training digits, "
            "scenario physics and noise; best mean PSNR): " + "; ".join(parts) + ".")


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


# --------------------------------------------------------------------------------------------
# mismatch protocol: one summary across scenarios
# --------------------------------------------------------------------------------------------
SUMMARY_FIELDS = ("scenario", "method", "label", "tube_psnr_db_mean", "tube_ssim_mean",
                  "smallest_resolved_gap_mm", "n_gaps_resolved", "n_gaps", "digits_psnr_db_mean",
                  "digits_ssim_mean", "n_digits")


@dataclass(frozen=True)
class SummaryRow:
    """One (scenario, method) cell of the summary: two-tube means, resolution, digit means."""

    scenario: str
    method: str
    label: str
    tube_psnr_db_mean: float
    tube_ssim_mean: float
    smallest_resolved_gap_mm: float | None
    n_gaps_resolved: int
    n_gaps: int
    digits_psnr_db_mean: float | None = None
    digits_ssim_mean: float | None = None
    n_digits: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def summary_rows(scenario: str, result: ProtocolResult, mnist_rows=()) -> list[SummaryRow]:
    """Summary rows of one scenario's protocol result and (optional) MNIST rows."""
    digits = {r.method: r for r in mnist_rows}
    out = []
    for m, label in result.labels.items():
        rows = [r for r in result.rows if r.method == m]
        d = digits.get(m)
        out.append(SummaryRow(
            scenario=scenario, method=m, label=label,
            tube_psnr_db_mean=float(sum(r.psnr_db for r in rows) / len(rows)),
            tube_ssim_mean=float(sum(r.ssim for r in rows) / len(rows)),
            smallest_resolved_gap_mm=result.smallest_resolved_gap(m),
            n_gaps_resolved=sum(r.resolved for r in rows), n_gaps=len(rows),
            digits_psnr_db_mean=None if d is None else d.psnr_db_mean,
            digits_ssim_mean=None if d is None else d.ssim_mean,
            n_digits=0 if d is None else d.n_digits))
    return out


def read_summary_csv(path: str | os.PathLike) -> list[dict]:
    """Read a summary CSV (:data:`SUMMARY_FIELDS`) back (typed)."""
    return read_typed_csv(path, text=("scenario", "method", "label"), booleans=(),
                          integers=("n_gaps_resolved", "n_gaps", "n_digits"))


def summary_score(row: SummaryRow) -> float:
    """The number a summary cell is ranked by: digit PSNR when there are digits, else tubes."""
    return row.digits_psnr_db_mean if row.n_digits else row.tube_psnr_db_mean


def summary_markdown(rows: list[SummaryRow], titles: dict[str, str] | None = None) -> str:
    """Method x scenario table; the best method per scenario (by :func:`summary_score`) in bold.

    Cells: mean digit PSNR (dB) / mean digit SSIM / smallest resolved tube gap (mm); with no
    digits, the two-tube means instead.
    """
    if not rows:
        return ""
    scenarios = list(dict.fromkeys(r.scenario for r in rows))
    methods = list(dict.fromkeys(r.method for r in rows))
    labels = {r.method: r.label for r in rows}
    cell = {(r.scenario, r.method): r for r in rows}
    titles = titles or {}
    with_digits = all(r.n_digits for r in rows)
    what = (f"mean PSNR (dB) / mean SSIM over {rows[0].n_digits} held-out MNIST digits"
            if with_digits else "mean PSNR (dB) / mean SSIM over the two-tube series")
    lines = [f"Cells: {what} / smallest resolved two-tube gap (mm; '-' = none). Bold: the best "
             f"PSNR of the scenario. n/a: the method does not exist there (no exact PSF with "
             f"relaxation).", "",
             "| Method | " + " | ".join(titles.get(s, s) for s in scenarios) + " |",
             "|---|" + "---:|" * len(scenarios)]
    best = {}
    for s in scenarios:
        in_s = [r for r in rows if r.scenario == s]
        best[s] = max(in_s, key=summary_score).method
    for m in methods:
        cells = []
        for s in scenarios:
            r = cell.get((s, m))
            if r is None:
                cells.append("n/a")
                continue
            p, q = ((r.digits_psnr_db_mean, r.digits_ssim_mean) if with_digits
                    else (r.tube_psnr_db_mean, r.tube_ssim_mean))
            gap = "-" if r.smallest_resolved_gap_mm is None else f"{r.smallest_resolved_gap_mm:.1f}"
            text = f"{p:.2f} / {q:.3f} / {gap}"
            cells.append(f"**{text}**" if best[s] == m else text)
        lines.append(f"| {labels[m]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# a Markdown table of already formatted cells (any evaluation's typed rows)
# --------------------------------------------------------------------------------------------
def markdown_grid(header: list[str], rows: list[list[str]], *, first_left: bool = True) -> str:
    """A Markdown table of already formatted cells (first column left-, the rest right-aligned)."""
    align = ["---"] + ["---:"] * (len(header) - 1) if first_left else ["---:"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
