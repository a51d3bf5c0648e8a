"""Make docs/images/simulator.png: napari with the simulator dock and a native MPI image.

Needs a display; headless:  xvfb-run -a python scripts/screenshot.py
(hidden windows render black, so the viewer is shown).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "images" / "simulator.png"


def main() -> int:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_mpi_dl.io.atomic import atomic_path
    from napari_mpi_dl.widgets.simulator import OUTPUT_NAME, SimulatorWidget

    viewer = napari.Viewer(show=True, title="napari-mpi-dl: MPI simulator")
    viewer.window._qt_window.resize(1400, 900)
    widget = SimulatorWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MPI simulator", area="right")
    widget.source.value = "MNIST digit"
    widget.mnist_index.value = 1503
    widget.gradient_preset.value = "low"
    worker = widget.run()
    app = QApplication.instance()
    while widget.worker is not None:  # wait for the thread worker, keeping Qt responsive
        app.processEvents()
    if worker is None or OUTPUT_NAME not in viewer.layers:
        print("simulation failed", file=sys.stderr)
        return 1
    viewer.layers["MPI phantom"].visible = True
    viewer.grid.enabled = True  # phantom and native side by side
    viewer.scale_bar.visible = True
    for layer in viewer.layers:
        layer.units = ("mm", "mm")
    for _ in range(20):  # let the window lay out before fitting the view
        app.processEvents()
    viewer.reset_view()
    for _ in range(20):
        app.processEvents()
    image = viewer.screenshot(canvas_only=False, flash=False)
    from skimage.io import imsave

    with atomic_path(TARGET) as tmp:
        imsave(tmp, image, check_contrast=False)
    print(f"wrote {TARGET} {image.shape}, mean grey {image[..., :3].mean():.1f}")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
