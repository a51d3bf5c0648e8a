"""The protocol figure in the layout of Figure 2 of the deblurring paper (matplotlib, Agg).

Columns are the gaps. Rows: the phantom, then each method (native first), each image in mm with the
profile line in red; the last row overlays the min-max normalised profiles of the phantom and every
method along that line.
"""

from __future__ import annotations

import os
from pathlib import Path

from napari_mpi_dl.analysis.profiles import sample_profile
from napari_mpi_dl.analysis.protocol import ProtocolResult
from napari_mpi_dl.io.atomic import atomic_path


def protocol_figure(result: ProtocolResult, *, zoom_mm: float | None = 8.0):
    """Build the figure (a ``matplotlib.figure.Figure`` with an Agg canvas, no pyplot state).

    ``zoom_mm`` crops every image to a centred square of that half-width (None: whole FOV).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cfg = result.config
    gaps = list(cfg.gaps_mm)
    methods = list(result.labels)
    grid = cfg.settings().grid
    kw = grid.layer_kwargs()
    (y0, x0), (py, px) = grid.origin_mm, grid.pixel_mm
    extent = (x0 - px / 2, x0 + (grid.shape[1] - 0.5) * px,
              y0 + (grid.shape[0] - 0.5) * py, y0 - py / 2)
    n_rows = len(methods) + 2
    fig = Figure(figsize=(1.7 * len(gaps) + 1.6, 1.7 * n_rows), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, len(gaps), squeeze=False)
    row_labels = (["Phantom"] + [result.labels[m].replace(" (", "\n(") for m in methods]
                  + ["Profiles"])
    colours = ["black"] + [f"C{i}" for i in range(len(methods))]
    for j, gap in enumerate(gaps):
        line = result.lines_mm[gap]
        images = [result.phantoms[gap]] + [result.images[(gap, m)] for m in methods]
        for i, img in enumerate(images):
            ax = axes[i, j]
            ax.imshow(img, cmap="gray", extent=extent, interpolation="nearest")
            ax.plot([line[0][1], line[1][1]], [line[0][0], line[1][0]], color="red", lw=0.8)
            if zoom_mm is not None:
                ax.set_xlim(-zoom_mm, zoom_mm)
                ax.set_ylim(zoom_mm, -zoom_mm)
            ax.set_xticks([])
            ax.set_yticks([])
            if i > 0:
                ana = result.analyses[(gap, methods[i - 1])]
                row = result.row(gap, methods[i - 1])
                mark = " ✓" if row.resolved else (" *" if ana.resolved else "")
                ax.text(0.03, 0.97, f"dip {ana.dip:.2f}" + mark,
                        transform=ax.transAxes, va="top", ha="left", fontsize=6, color="yellow")
        ax = axes[-1, j]
        ph_prof = sample_profile(result.phantoms[gap], *line, scale=kw["scale"],
                                 translate=kw["translate"])
        centre = ph_prof.length_mm / 2
        ax.plot(ph_prof.distance_mm - centre, ph_prof.normalised(), color=colours[0], lw=1.0,
                label="Phantom")
        for i, m in enumerate(methods):
            prof = result.profiles[(gap, m)]
            ax.plot(prof.distance_mm - centre, prof.normalised(), color=colours[i + 1], lw=0.9,
                    label=result.labels[m])
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("mm", fontsize=7)
        ax.tick_params(labelsize=6)
        axes[0, j].set_title(f"gap {gap:.1f} mm", fontsize=8)
    for i, label in enumerate(row_labels):
        axes[i, 0].set_ylabel(label, fontsize=7)
    handles, labels = axes[-1, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=7,
               frameon=False)
    noise = "no noise" if cfg.noise_db is None else f"{cfg.noise_db:g} dB noise"
    if cfg.scenario is None:
        fig.suptitle(f"Two-tube protocol ({cfg.gradient_t_per_m:g} T/m, {noise}; "
                     f"{cfg.wrong_psf.describe()})", fontsize=9)
    else:
        fig.suptitle(f"Two-tube protocol, scenario {cfg.scenario.name} "
                     f"({cfg.settings().gradient_t_per_m:g} T/m, {noise})", fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 0.98))
    return fig


def write_protocol_figure(result: ProtocolResult, path: str | os.PathLike, *,
                          dpi: int = 110) -> Path:
    """Render :func:`protocol_figure` to a PNG file atomically."""
    fig = protocol_figure(result)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return Path(path)


def profile_colours(n: int) -> list[str]:
    """Matplotlib cycle colours for ``n`` curves (shared with the napari widget)."""
    return [f"C{i % 10}" for i in range(n)]



def summary_figure(rows, titles: dict[str, str] | None = None):
    """Method x scenario heat map of the summary score, annotated with the smallest resolved gap.

    ``rows`` are :class:`~napari_mpi_dl.analysis.tables.SummaryRow`; the colour is the mean digit
    PSNR (two-tube PSNR without digits), the text ``PSNR`` and the smallest resolved gap in mm.
    Missing (scenario, method) pairs are blank.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from napari_mpi_dl.analysis.tables import summary_score

    titles = titles or {}
    scenarios = list(dict.fromkeys(r.scenario for r in rows))
    methods = list(dict.fromkeys(r.method for r in rows))
    labels = {r.method: r.label for r in rows}
    values = np.full((len(methods), len(scenarios)), np.nan)
    cells = {}
    for r in rows:
        i, j = methods.index(r.method), scenarios.index(r.scenario)
        values[i, j] = summary_score(r)
        cells[(i, j)] = r
    fig = Figure(figsize=(1.15 * len(scenarios) + 3.2, 0.42 * len(methods) + 2.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
    for (i, j), r in cells.items():
        gap = "-" if r.smallest_resolved_gap_mm is None else f"{r.smallest_resolved_gap_mm:.1f}"
        best = np.nanargmax(values[:, j]) == i
        ax.text(j, i, f"{values[i, j]:.1f}\n{gap}", ha="center", va="center", fontsize=6.5,
                color="black" if values[i, j] > np.nanmean(values) else "white",
                fontweight="bold" if best else "normal")
    ax.set_xticks(range(len(scenarios)))
    ax.set_xticklabels([titles.get(s, s) for s in scenarios], rotation=35, ha="right",
                       fontsize=7)
    ax.set_yticks(range(len(methods)))
    ax.set_yticklabels([labels[m] for m in methods], fontsize=7)
    digits = all(r.n_digits for r in rows)
    what = (f"mean PSNR (dB) over {rows[0].n_digits} held-out digits" if digits
            else "mean PSNR (dB) over the two-tube series")
    cbar = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    cbar.set_label(what, fontsize=7)
    cbar.ax.tick_params(labelsize=6)
    ax.set_title(f"Mismatch protocol: {what}; second line: smallest resolved tube gap (mm)",
                 fontsize=8)
    fig.tight_layout()
    return fig


def write_summary_figure(rows, path: str | os.PathLike, *, titles: dict[str, str] | None = None,
                         dpi: int = 110) -> Path:
    """Render :func:`summary_figure` to a PNG file atomically."""
    fig = summary_figure(rows, titles)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return Path(path)
