"""Figures of the contrastive evaluation in the layout of the paper's Figures 2 and 3 (matplotlib,
Agg backend, written atomically)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

TITLES = {"inp": "inp", "wo-cl": "wo-CL", "cl": "CL", "gt": "gt", "classic": "classic",
          "kaczmarz": "Kaczmarz"}


def _save(fig, path: str | os.PathLike) -> Path:
    from napari_mpi_dl.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        fmt = Path(path).suffix.lstrip(".") or "png"
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format=fmt)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return Path(path)


def figure_recovery(fig2: dict[str, Any], path: str | os.PathLike) -> Path:
    """Top: SM slices at one time step (inp, wo-CL, CL, gt); bottom: Kaczmarz images of the
    resolution phantom with each SM and their NRMSE (%)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    keys = fig2["keys"]
    fig, axes = plt.subplots(2, len(keys), figsize=(3.0 * len(keys), 6.2))
    slices = fig2["slices"]
    finite = np.concatenate([np.ravel(v[np.isfinite(v)]) for v in slices.values()])
    vmax = float(np.max(np.abs(finite))) if finite.size else 1.0
    nrmse_by_key = fig2["image_nrmse"]
    for j, k in enumerate(keys):
        ax = axes[0, j]
        ax.imshow(slices[k], cmap="RdBu_r", vmin=-vmax, vmax=vmax, origin="lower",
                  extent=fig2["extent_mm"])
        ax.set_title(TITLES.get(k, k))
        ax.set_xticks([])
        ax.set_yticks([])
        ax = axes[1, j]
        img = fig2["images"][k]
        ax.imshow(img, cmap="gray", origin="lower", extent=fig2["extent_mm"])
        ax.text(0.03, 0.95, f"{nrmse_by_key[k]:.1f} %", color="yellow", transform=ax.transAxes,
                va="top", fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel(f"SM, time step {fig2['time_step']}")
    axes[1, 0].set_ylabel(f"Kaczmarz ({fig2.get('kaczmarz', '')})", fontsize=8)
    fig.suptitle(fig2.get("title", "SM recovery (channel x)"))
    return _save(fig, path)


def figure_reconstruction(fig3: dict[str, Any], phantoms: dict[str, Any] | None,
                          path: str | os.PathLike) -> Path:
    """Top row: one SM voxel (gt), wo-CL, CL, classic, with NRMSE (%); further rows: multi-voxel
    phantoms (truth, direct wo-CL, direct CL, Kaczmarz)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    keys = fig3["keys"]
    n_rows = 1 + (len(phantoms["names"]) if phantoms else 0)
    n_cols = max(len(keys), 1 + len(phantoms["keys"]) if phantoms else 0)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.8 * n_cols, 2.8 * n_rows),
                             squeeze=False)
    for j in range(len(keys), n_cols):
        axes[0, j].axis("off")
    iy, ix = fig3["voxel"]
    ext = fig3["extent_mm"]
    dy = (ext[3] - ext[2]) / fig3["gt"].shape[0]
    dx = (ext[1] - ext[0]) / fig3["gt"].shape[1]
    for j, k in enumerate(keys):
        ax = axes[0, j]
        img = fig3["gt"] if k == "gt" else fig3["images"][k]
        ax.imshow(img, cmap="gray", origin="lower", extent=ext)
        ax.add_patch(plt.Rectangle((ext[0] + ix * dx, ext[2] + iy * dy), dx, dy, fill=False,
                                   edgecolor="red", lw=1.5))
        ax.set_title(TITLES.get(k, k) if k != "gt" else "gt (SM voxel)")
        if k != "gt":
            ax.text(0.03, 0.95, f"{fig3['nrmse'][k]:.1f} %", color="yellow",
                    transform=ax.transAxes, va="top", fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    if phantoms:
        from napari_mpi_dl.analysis.metrics import nrmse

        pkeys = ["truth", *phantoms["keys"]]
        for i, name in enumerate(phantoms["names"]):
            truth = phantoms["truth"][i]
            for j in range(n_cols):
                ax = axes[1 + i, j]
                ax.set_xticks([])
                ax.set_yticks([])
                if j >= len(pkeys):
                    ax.axis("off")
                    continue
                k = pkeys[j]
                img = truth if k == "truth" else phantoms["images"][k][i]
                ax.imshow(img, cmap="gray", origin="lower", extent=ext)
                if k == "truth":
                    ax.set_ylabel(name)
                else:
                    ax.text(0.03, 0.95, f"{100 * nrmse(truth, img):.1f} %", color="yellow",
                            transform=ax.transAxes, va="top", fontsize=10)
                if i == 0:
                    ax.set_title({"truth": "phantom", "kaczmarz": "Kaczmarz, training SM",
                                  "kaczmarz_true": "Kaczmarz, true SM"}.get(
                        k, f"direct {TITLES.get(k, k)}"), fontsize=9)
    fig.suptitle(fig3.get("title", "Direct reconstruction"))
    return _save(fig, path)
