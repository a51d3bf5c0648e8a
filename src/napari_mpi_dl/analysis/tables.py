"""Protocol results as CSV (one row per gap and method) and as a Markdown table.

The Markdown table follows Table 1 of the deblurring paper: one row per gap ("resolution"), one
column per method, each cell ``PSNR / SSIM / dip`` with a check mark when the tubes are resolved;
a second table gives the smallest resolved gap per method. For the mismatch protocol
(:mod:`.scenarios`) :func:`summary_rows` / :func:`summary_markdown` put every scenario side by side
(method x scenario).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import asdict, dataclass
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


def summary_csv(rows: list[SummaryRow]) -> str:
    """CSV text of summary rows (empty cells for missing values)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in r.as_dict().items()})
    return buf.getvalue()


def read_summary_csv(path: str | os.PathLike) -> list[dict]:
    """Read :func:`summary_csv` back (typed)."""
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
# generic rows (any evaluation's typed rows, flattened to dicts)
# --------------------------------------------------------------------------------------------
def dicts_to_csv(rows: list[dict], fields: tuple[str, ...] | None = None) -> str:
    """CSV text of flat dict rows (keys of the first row unless ``fields``); None -> empty."""
    if not rows:
        return ""
    names = tuple(fields or rows[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in names})
    return buf.getvalue()


def markdown_grid(header: list[str], rows: list[list[str]], *, first_left: bool = True) -> str:
    """A Markdown table of already formatted cells (first column left-, the rest right-aligned)."""
    align = ["---"] + ["---:"] * (len(header) - 1) if first_left else ["---:"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
