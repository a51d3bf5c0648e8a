"""Screenshots of every dock in use: docs/images/simulator.png and docs/images/docks/<dock>.png.

Each dock is opened in a shown napari window, given the input a user would choose (a sample, a
small simulated MDF file), run to its result (training docks: a few seconds, then Stop) and
photographed with its layers. Needs a display; headless:

    xvfb-run -a python scripts/screenshot.py                  # every dock
    xvfb-run -a python scripts/screenshot.py deblur profiles  # some of them

(hidden windows render black, so the viewer is shown).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
SIZE = (1300, 820)
TRAIN_STEPS = 16


def _wait(app, dock, limit_s: float = 300.0) -> None:
    """Keep Qt responsive until the dock's worker is done."""
    t0 = time.perf_counter()
    while dock.worker is not None and time.perf_counter() - t0 < limit_s:
        app.processEvents()
        time.sleep(0.01)


def _settle(app, n: int = 30) -> None:
    for _ in range(n):
        app.processEvents()
        time.sleep(0.01)


def _plots_drawn(app, dock, limit_s: float = 60.0) -> None:
    """Wait until the dock's plots (drawn in worker threads) have arrived."""
    from napari_mpi_dl.widgets._agg_canvas import AggCanvas

    t0 = time.perf_counter()
    widget = getattr(dock, "native", dock)  # magicgui containers wrap their Qt widget
    for canvas in widget.findChildren(AggCanvas):
        while canvas.busy and time.perf_counter() - t0 < limit_s:
            app.processEvents()
            time.sleep(0.01)


def _sample(viewer, index: int = 1):
    from napari_mpi_dl._sample_data import two_tube_series

    layers = [viewer.add_image(data, **kwargs) for data, kwargs, _ in two_tube_series()]
    return layers[index]


def _mdf(folder: Path) -> tuple[Path, Path]:
    """A 1 mm SM of the training scanner (9 x 19 voxels) and a measurement that names it."""
    from napari_mpi_dl.io.mdf_write import write_measurement, write_system_matrix
    from napari_mpi_dl.io.sm_measurement import simulate_measurement
    from napari_mpi_dl.io.sm_search import SYSTEM_MATRIX_FIELD
    from napari_mpi_dl.io.sm_simulation import simulate_system_matrix
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.sm_simulation import sm_preset

    sim = sm_preset("training", grid=ImageGrid((17, 19), (17.0, 19.0)), subpoints=(2, 2, 1))
    sm = simulate_system_matrix(sim, seed=0, workers=1)
    sm_path = write_system_matrix(folder / "sm_1mm.mdf", sm)
    conc = np.zeros(sim.grid.shape)
    conc[6:9, 5:8] = 0.1
    conc[10, 12:15] = 0.05
    meas = simulate_measurement(conc, sim=sim, sm=sm, num_frames=2, num_background_frames=2)
    meas.header.extra[SYSTEM_MATRIX_FIELD] = sm_path.name
    return sm_path, write_measurement(folder / "meas.mdf", meas)


def shoot_simulator(viewer, app, folder):
    from napari_mpi_dl.widgets.simulator import SimulatorWidget

    dock = SimulatorWidget(viewer)
    viewer.window.add_dock_widget(dock, name="MPI simulator", area="right")
    dock.source.value = "MNIST digit"
    dock.mnist_index.value = 1503
    dock.run()
    _wait(app, dock)
    viewer.grid.enabled = True  # phantom and native side by side
    return dock


def shoot_deblur(viewer, app, folder):
    from napari_mpi_dl.widgets.deblur import DeblurWidget

    native = _sample(viewer)
    viewer.dims.set_current_step(0, 3)
    dock = DeblurWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Deblur (DC_GAN)", area="right")
    dock.image.value = native
    dock.run()
    _wait(app, dock)
    viewer.layers[0].visible = False
    viewer.grid.enabled = True
    return dock


def shoot_deconvolution(viewer, app, folder):
    from napari_mpi_dl.widgets.deconvolution import DeconvolutionWidget

    native = _sample(viewer)
    viewer.dims.set_current_step(0, 4)
    dock = DeconvolutionWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Deconvolve", area="right")
    dock.image.value = native
    dock.method.value = "richardson-lucy"
    dock.run()
    _wait(app, dock)
    viewer.layers[0].visible = False
    viewer.grid.enabled = True
    return dock


def shoot_profiles(viewer, app, folder):
    from napari_mpi_dl.widgets.profile_widget import ProfileWidget

    _sample(viewer)
    viewer.dims.set_current_step(0, 3)  # gap 2.2 mm
    dock = ProfileWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Line profiles", area="right")
    lines = dock.lines_layer
    lines.add_lines(np.array([lines.world_to_data(p) for p in ([3, 0, -6], [3, 0, 6])]))
    _settle(app)
    dock.update_profiles()
    return dock


def shoot_mdf_reconstruction(viewer, app, folder):
    from napari_mpi_dl.widgets.reconstruction import ReconstructionWidget

    sm_path, meas_path = _mdf(folder)
    dock = ReconstructionWidget(viewer)
    viewer.window.add_dock_widget(dock, name="MDF reconstruction", area="right")
    dock.sm_file.value = str(sm_path)
    dock.meas_file.value = str(meas_path)
    dock.iterations.value = 20
    dock.run()
    _wait(app, dock)
    from napari_mpi_dl.io.mdf_read import read_system_matrix
    from napari_mpi_dl.napari_io.mdf_reader import system_matrix_layers

    data, kwargs, _ = system_matrix_layers(read_system_matrix(str(sm_path)), channels=[0])[0]
    sm_layer = viewer.add_image(data, **kwargs)
    sm_layer.translate = (sm_layer.translate[0], sm_layer.translate[1],
                          sm_layer.translate[2] + 22.0)  # beside the image
    viewer.dims.set_current_step(0, 60)
    return dock


def shoot_recover_sm(viewer, app, folder):
    from napari_mpi_dl.widgets.recover_sm import RecoverSMWidget

    sm_path, _ = _mdf(folder)
    for layer in viewer.open(str(sm_path), plugin="napari-mpi-dl")[1:]:
        viewer.layers.remove(layer)
    dock = RecoverSMWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Recover SM", area="right")
    dock.device.setCurrentText("cpu")
    dock.run()
    _wait(app, dock)
    viewer.layers[-1].visible = False
    viewer.grid.enabled = True
    viewer.dims.set_current_step(0, 60)
    return dock


def shoot_direct_reconstruction(viewer, app, folder):
    from napari_mpi_dl.widgets.direct_reconstruction import DirectReconstructionWidget

    _sm, meas_path = _mdf(folder)
    viewer.open(str(meas_path), plugin="napari-mpi-dl")
    dock = DirectReconstructionWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Direct reconstruction", area="right")
    dock.device.setCurrentText("cpu")
    dock.run()
    _wait(app, dock)
    viewer.grid.enabled = True
    return dock


def shoot_train_dcgan(viewer, app, folder):
    from napari_mpi_dl.widgets.train_dock import TrainDock

    _sample(viewer)
    dock = TrainDock(viewer)
    viewer.window.add_dock_widget(dock, name="Train DC_GAN", area="right")
    dock.n_phantoms.setValue(16)
    dock.device.setCurrentText("cpu")
    dock.start()
    t0 = time.perf_counter()  # train until a few previews came (at most 5 minutes), then Stop
    while dock.worker is not None and time.perf_counter() - t0 < 300:
        app.processEvents()
        time.sleep(0.01)
        if dock.trainer is not None and dock.trainer.step >= TRAIN_STEPS:
            dock.stop()
            break
    _wait(app, dock)
    viewer.layers[0].visible = False
    return dock


def shoot_train_contrastive(viewer, app, folder):
    from napari_mpi_dl.widgets.contrastive_training import ContrastiveTrainDock

    dock = ContrastiveTrainDock(viewer)
    viewer.window.add_dock_widget(dock, name="Train contrastive models", area="right")
    dock.task.setCurrentText("reconstruction")
    dock.mixtures.setValue(60)
    dock.pretrain_epochs.setValue(1)
    dock.epochs.setValue(3)
    dock.device.setCurrentText("cpu")
    dock.start()
    _wait(app, dock)
    return dock


SHOTS = {name[len("shoot_"):]: fn for name, fn in globals().items() if name.startswith("shoot_")}


def main(argv=None) -> int:
    import napari
    from qtpy.QtWidgets import QApplication
    from skimage.io import imsave

    from napari_mpi_dl.io.atomic import atomic_path

    names = list(argv if argv is not None else sys.argv[1:]) or list(SHOTS)
    unknown = set(names) - set(SHOTS)
    if unknown:
        print(f"unknown dock(s) {sorted(unknown)}; choose from {sorted(SHOTS)}", file=sys.stderr)
        return 2
    (IMAGES / "docks").mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp())
    for name in names:
        viewer = napari.Viewer(show=True, title=f"napari-mpi-dl: {name}")
        viewer.window._qt_window.resize(*SIZE)
        app = QApplication.instance()
        dock = SHOTS[name](viewer, app, folder)
        viewer.scale_bar.visible = True
        _settle(app)
        _plots_drawn(app, dock)
        _settle(app)
        viewer.reset_view()
        _settle(app)
        image = viewer.screenshot(canvas_only=False, flash=False)
        targets = [IMAGES / "docks" / f"{name}.png"]
        if name == "simulator":
            targets.append(IMAGES / "simulator.png")  # the README's first picture
        for target in targets:
            with atomic_path(target) as tmp:
                imsave(tmp, image, check_contrast=False)
        status = getattr(dock, "status", None) or getattr(dock, "_status", None)
        text = status.text() if callable(getattr(status, "text", None)) else \
            getattr(status, "value", "")
        print(f"{name}: wrote {targets[0].relative_to(ROOT)} {image.shape}; status: {text}")
        viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
