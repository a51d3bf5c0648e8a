"""``napari-mpi-dl demo``: the headless end-to-end demo (simulate, deblur, evaluate).

1. Simulates the two-tube series and held-out MNIST digits at the low and the high gradient, on
   both simulation paths (signal-level and analytic), checks they agree, and writes
   ``simulation.png`` and ``simulation.csv``.
2. Runs ``napari-mpi-dl evaluate`` (native, deconvolution baselines with exact and wrong PSF, and
   every optional method such as DC_GAN when its weights are shipped) and writes its table
   (CSV + Markdown) and figure into the same folder.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEMO_DIGITS = (1500, 1503, 1507, 1512)  # held-out test digits (never used for training)
DEMO_GAPS_MM = (1.0, 2.2, 3.4)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="headless end-to-end demo: simulate, deblur and evaluate (figure + table)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", "--out", dest="out",
                   default="demo_out", help="output directory")
    p.add_argument("--mnist", type=int, default=20,
                   help="held-out MNIST digits in the evaluation (0 = skip)")
    p.add_argument("--snr-db", type=float, default=None, help="noise for the evaluation")
    p.set_defaults(func=run)


def simulate_overview(out: Path) -> list[dict]:
    """Simulate demo phantoms on both paths; write ``simulation.png`` and ``.csv``."""
    import numpy as np

    from napari_mpi_dl.phantoms.mnist import mnist_phantom
    from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
    from napari_mpi_dl.physics.native import NativeSimulator
    from napari_mpi_dl.physics.presets import HIGH_GRADIENT_T_PER_M, LOW_GRADIENT_T_PER_M
    from napari_mpi_dl.physics.settings import XSpaceSettings

    phantoms = [(f"tubes, gap {g} mm", two_tube_phantom(gap_mm=g)) for g in DEMO_GAPS_MM]
    phantoms += [(f"MNIST #{i}", mnist_phantom(i)) for i in DEMO_DIGITS]
    stack = np.stack([p for _, p in phantoms])
    rows, images = [], {}
    for name, gradient in (("low", LOW_GRADIENT_T_PER_M), ("high", HIGH_GRADIENT_T_PER_M)):
        sim = NativeSimulator(XSpaceSettings(gradient_t_per_m=gradient))
        t0 = time.perf_counter()
        analytic = sim.simulate(stack)
        t_analytic = time.perf_counter() - t0
        t0 = time.perf_counter()
        signal = sim.simulate(stack, method="signal")
        t_signal = time.perf_counter() - t0
        images[name] = signal
        for (label, _), a, s in zip(phantoms, analytic, signal, strict=True):
            err = float(np.sqrt(np.mean((a - s) ** 2)) / (a.max() - a.min()))
            rows.append({"phantom": label, "gradient": name, "gradient_t_per_m": gradient,
                         "nrmse_signal_vs_analytic": err,
                         "seconds_analytic": t_analytic / len(stack),
                         "seconds_signal": t_signal / len(stack)})
    _write_overview_figure(out / "simulation.png", phantoms, images)
    from napari_mpi_dl.io.atomic import write_text_atomic

    header = list(rows[0])
    lines = [",".join(header)] + [",".join(str(r[k]) for k in header) for r in rows]
    write_text_atomic(out / "simulation.csv", "\n".join(lines) + "\n")
    return rows


def _write_overview_figure(path: Path, phantoms, images) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_mpi_dl.io.atomic import atomic_path
    from napari_mpi_dl.physics.presets import DEFAULT_GRID

    extent = _extent_mm(DEFAULT_GRID)
    n = len(phantoms)
    fig, axes = plt.subplots(3, n, figsize=(1.9 * n, 6.0), constrained_layout=True)
    titles = ("phantom", "native, low gradient (1.35 T/m)", "native, high gradient (6 T/m)")
    for col, (label, phantom) in enumerate(phantoms):
        for row, img in enumerate((phantom, images["low"][col], images["high"][col])):
            ax = axes[row, col]
            ax.imshow(img, cmap="inferno" if row else "gray", extent=extent, origin="upper")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(label, fontsize=8)
            if col == 0:
                ax.set_ylabel(titles[row], fontsize=8)
    fig.suptitle("Signal-level x-space simulation (20 mm FOV, 25 nm particles, x-scan)",
                 fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _extent_mm(grid):
    (y0, x0), (py, px) = grid.origin_mm, grid.pixel_mm
    ny, nx = grid.shape
    return (x0 - px / 2, x0 + px * (nx - 0.5), y0 + py * (ny - 0.5), y0 - py / 2)


def run(args: argparse.Namespace) -> int:
    from napari_mpi_dl.cli.main import main as cli_main

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print("1/2 simulating the demo phantoms (signal-level and analytic paths)", file=sys.stderr)
    rows = simulate_overview(out)
    worst = max(r["nrmse_signal_vs_analytic"] for r in rows)
    print(f"    signal vs analytic: worst NRMSE {worst:.2e} over {len(rows)} images; "
          f"wrote {out / 'simulation.png'}", file=sys.stderr)
    print("2/2 two-tube protocol: native, deconvolution, learned methods", file=sys.stderr)
    argv = ["evaluate", "--out", str(out), "--mnist", str(args.mnist)]
    if args.snr_db is not None:
        argv += ["--snr-db", str(args.snr_db)]
    code = cli_main(argv)
    print(f"demo finished in {time.perf_counter() - t0:.1f} s; results in {out}/",
          file=sys.stderr)
    return code
