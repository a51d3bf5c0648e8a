"""Two-tube check of the physically aware DC_GAN route on images the shipped model was not
trained on: a y-scan (tubes along the scan axis, y) and an x-scan at 0.5 mm pixels (64 x 80).

For each gap: the native, DC_GAN on the image's own pixels (``deblur(native, model)``, the old
behaviour) and DC_GAN through the model card (``deblur(native, model, pixel_mm=...,
scan_mode=...)``: transposed and/or resampled to 0.198 mm and back). Dip and "resolved" are the
two-tube protocol's (``napari_mpi_dl.analysis.protocol``: width-averaged profile through both
tube centres, dip = 1 - valley / smaller peak, resolved = dip >= threshold with both peaks on
the tubes); PSNR / SSIM against the phantom as in the protocol. Noise-free, ideal 25 nm
particle, 1.35 T/m, the shipped weights, CPU.

    python scripts/dcgan_card_routes.py
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl.analysis.metrics import image_metrics
from napari_mpi_dl.analysis.profiles import sample_profile
from napari_mpi_dl.analysis.protocol import ProtocolConfig, peaks_at_tubes, profile_verdict
from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
from napari_mpi_dl.phantoms.two_tube import two_tube_geometry, two_tube_phantom
from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.native import simulate_native
from napari_mpi_dl.physics.settings import XSpaceSettings

CASES = (
    ("y-scan, 101 x 101, 0.198 mm, tubes along y", "y", ImageGrid(), "vertical",
     (2.2, 2.6, 3.0)),
    ("x-scan, 64 x 80, 0.5 mm, tubes along x", "x", ImageGrid(shape=(64, 80),
                                                               fov_mm=(32.0, 40.0)),
     "horizontal", (2.6, 3.0, 4.0)),
)


def score(image, phantom, grid, gap, orientation, config) -> str:
    line = two_tube_geometry(gap_mm=gap, diameter_mm=config.diameter_mm,
                             orientation=orientation).profile_line_mm
    layer = grid.layer_kwargs()
    prof = sample_profile(image, *line, width_px=config.profile_width_px,
                          scale=layer["scale"], translate=layer["translate"])
    ana = profile_verdict(prof, threshold=config.dip_threshold)
    ok = ana.resolved and peaks_at_tubes(ana, gap_mm=gap, diameter_mm=config.diameter_mm)
    m = image_metrics(phantom, np.asarray(image, dtype=np.float64))
    return f"{ana.dip:.2f} {'yes' if ok else 'no '} {m['psnr_db']:.1f} dB / {m['ssim']:.2f}"


def main() -> int:
    config = ProtocolConfig()
    model = load_deblurrer(device="cpu")
    print("| Case | Gap (mm) | Native: dip, resolved, PSNR / SSIM | DC_GAN own pixels | "
          "DC_GAN via the card |")
    print("|---|---:|---|---|---|")
    for label, scan, grid, orientation, gaps in CASES:
        settings = XSpaceSettings(scan_mode=scan, grid=grid)
        for gap in gaps:
            phantom = two_tube_phantom(gap_mm=gap, diameter_mm=config.diameter_mm, grid=grid,
                                       orientation=orientation)
            native = simulate_native(phantom, settings)
            plain = deblur(native, model)
            aware = deblur(native, model, pixel_mm=grid.pixel_mm, scan_mode=scan)
            cells = [score(im, phantom, grid, gap, orientation, config)
                     for im in (native, plain, aware)]
            print(f"| {label} | {gap:g} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
