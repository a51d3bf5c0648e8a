"""The contrastive docks under Xvfb: Recover SM, Direct reconstruction, training (start/stop)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("napari")

from contrastive_helpers import TINY, small_sm, tiny_weights  # noqa: E402

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 9 x 9 training SM (MDF), a 3 x 9 SM of 4 mm pitch (MDF) and tiny weights."""
    from napari_mpi_dl.contrastive.data import signals_from_system_matrix
    from napari_mpi_dl.io.mdf_write import write_system_matrix

    folder = tmp_path_factory.mktemp("cl")
    sm = small_sm()
    write_system_matrix(folder / "train.mdf", sm)
    write_system_matrix(folder / "sparse.mdf", small_sm((3, 9), (12.0, 18.0), seed=3))
    ss = signals_from_system_matrix(sm, channels=(0, 1))
    rec, _ = tiny_weights(ss, folder, "recovery")
    con, _ = tiny_weights(ss, folder, "reconstruction")
    return {"folder": folder, "signals": ss.signals, "recovery": rec, "reconstruction": con}


def test_recover_sm_widget_turns_an_sm_layer_into_denser_layers(make_napari_viewer, qtbot,
                                                                  files):
    from napari_mpi_dl.io.mdf_read import read_system_matrix
    from napari_mpi_dl.io.mdf_read import read_system_matrix as rsm
    from napari_mpi_dl.napari_io.mdf_reader import system_matrix_layers
    from napari_mpi_dl.widgets.recover_sm import RecoverSMWidget

    viewer = make_napari_viewer()
    for data, kwargs, _ in system_matrix_layers(read_system_matrix(files["folder"] /
                                                                   "sparse.mdf")):
        viewer.add_image(data, **kwargs)
    w = RecoverSMWidget(viewer)
    assert w.layer_box.count() == 3  # one |S| layer per receive channel
    w.setting.setCurrentText("file")
    w.weights.setText(str(files["recovery"]))
    w.device.setCurrentText("cpu")
    out = files["folder"] / "dense.mdf"
    w.save.setText(str(out))
    assert w.run() is not None
    # the job ends when its last layer (one per channel) is in
    qtbot.waitUntil(lambda: w.worker is None, timeout=TIMEOUT_MS)
    dense_layers = [ly for ly in viewer.layers if "recovered" in ly.name]
    assert len(dense_layers) == 2  # the model's two receive channels
    assert dense_layers[0].data.shape[1:] == (5, 9)
    mask = dense_layers[0].metadata["recovered_rows"]
    assert mask[1::2].all() and not mask[0::2].any()
    assert tuple(rsm(out).size_xyz) == (9, 5, 1)
    assert "5 x 9 voxels" in w.status.text()


def test_recover_sm_widget_subsamples_a_denser_sm_and_reports_bad_steps(make_napari_viewer,
                                                                        qtbot, files):
    from napari_mpi_dl.widgets.recover_sm import RecoverSMWidget

    w = RecoverSMWidget(make_napari_viewer())
    assert w.run() is None and "open a system matrix" in w.status.text()
    assert "y pitch of 4 mm" in w.needs.text()  # the shipped model's need, shown at once
    w.file.setText(str(files["folder"] / "train.mdf"))  # the plugin's own 2 mm SM
    w.setting.setCurrentText("file")
    w.weights.setText(str(files["recovery"]))
    assert w.run() is not None
    # the job ends when its last layer (one per channel) is in
    qtbot.waitUntil(lambda: w.worker is None, timeout=TIMEOUT_MS)
    # auto: every 2nd row of the 9 x 9 grid (5 rows of 4 mm) -> 9 rows of 2 mm again
    assert "9 x 9 voxels (36 recovered) from every 2 in y, 1 in x" in w.status.text()
    w.step_y.setValue(1)  # the user insists on the 2 mm pitch: the model cannot serve it
    assert w.run() is not None
    qtbot.waitUntil(lambda: w.worker is None, timeout=TIMEOUT_MS)
    assert "y voxel pitch is 2 mm" in w.status.text()


def test_direct_reconstruction_widget_from_a_signal_layer(make_napari_viewer, qtbot, files):
    from napari_mpi_dl.widgets.direct_reconstruction import DIRECT_LAYER, DirectReconstructionWidget

    viewer = make_napari_viewer()
    viewer.add_image(files["signals"][:4], name="signals")
    w = DirectReconstructionWidget(viewer)
    w.layer_box.setCurrentText("signals")
    w.setting.setCurrentText("file")
    w.weights.setText(str(files["reconstruction"]))
    assert w.run() is not None
    # the job's state: a fast job's finished signal can fire before waitSignal connects
    qtbot.waitUntil(lambda: w.worker is None, timeout=TIMEOUT_MS)
    layer = viewer.layers[DIRECT_LAYER]
    assert layer.data.shape == (4, 9, 9)
    assert tuple(layer.scale[1:]) == pytest.approx((2.0, 2.0))
    assert np.all(np.isfinite(layer.data))


def test_training_dock_runs_plots_saves_and_stops(make_napari_viewer, qtbot, files, tmp_path):
    from napari_mpi_dl.widgets.contrastive_training import ContrastiveTrainDock

    dock = ContrastiveTrainDock(make_napari_viewer())
    dock.task.setCurrentText("recovery")
    dock.pretrain.setChecked(True)
    dock.pretrain_epochs.setValue(1)
    dock.epochs.setValue(2)
    dock.mixtures.setValue(10)
    dock.batch.setValue(16)
    dock.device.setCurrentText("cpu")
    dock.sm_path.setText(str(files["folder"] / "train.mdf"))
    dock.model_config = TINY  # a small encoder keeps the test fast
    worker = dock.start()
    assert dock.start_button.text() == "Stop"
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        pass
    assert dock.start_button.text() == "Start"
    assert dock.trainer.finished and len(dock.curves) == 3  # 1 pretraining + 2 main epochs
    # the run is the command line's (contrastive.run): the SM's path is the data's source
    assert dock.trainer.data.info["source"] == str(files["folder"] / "train.mdf")
    assert dock.trainer.config.model.filters == TINY.filters
    assert dock.progress.value() == 100
    assert dock.save_weights(tmp_path / "w.pt").is_file()

    dock.epochs.setValue(500)
    worker = dock.start()
    stopped: list[int] = []

    def stop_soon(item):
        if item[0] == "report" and item[1].step >= 2 and not stopped:
            stopped.append(item[1].step)
            dock.stop()

    worker.yielded.connect(stop_soon)
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        pass
    assert stopped and dock.trainer.step < dock.trainer.total_steps
    assert dock.status.text() == "stopped"


def test_training_docks_draw_their_loss_curves_off_the_gui_thread(make_napari_viewer, qtbot):
    """matplotlib renders in the canvas's worker thread (the GUI thread never imports it for
    the docks); the picture arrives in the dock; the contrastive axis names the chosen losses."""
    import threading

    from napari_mpi_dl.widgets.contrastive_training import ContrastiveTrainDock
    from napari_mpi_dl.widgets.train_dock import TrainDock

    viewer = make_napari_viewer()
    for cls in (TrainDock, ContrastiveTrainDock):
        dock = cls(viewer)
        canvas = dock.loss_canvas
        assert canvas.pixmap() is None or canvas.pixmap().isNull()
        dock.plot_losses()
        qtbot.waitUntil(lambda c=canvas: c.renders >= 1 or c.last_error is not None,
                        timeout=TIMEOUT_MS)
        assert canvas.last_error is None
        assert canvas.render_thread not in (None, threading.main_thread().name)
        assert not canvas.pixmap().isNull() and canvas.pixmap().width() > 100
    dock.pretrain.setChecked(True)
    dock.loss.setCurrentText("relative")
    dock.steps.extend([(1, 0.5), (2, 0.25)])
    dock.plot_losses()
    qtbot.waitUntil(lambda: dock.loss_canvas.renders >= 2, timeout=TIMEOUT_MS)
    assert dock.loss_canvas.ax.get_ylabel() == "loss (NT-Xent, then relative MSE)"
    assert list(dock.loss_canvas.ax.lines[0].get_xdata()) == [1, 2]
    dock.pretrain.setChecked(False)
    dock.loss.setCurrentText("mse")
    dock.plot_losses()
    qtbot.waitUntil(lambda: dock.loss_canvas.renders >= 3, timeout=TIMEOUT_MS)
    assert dock.loss_canvas.ax.get_ylabel() == "loss (MSE)"


def test_a_plot_canvas_shorter_than_its_aspect_renders_at_its_height_not_cropped(qtbot):
    """In a dock the loss plot's label is often shorter than the figure's aspect ratio asks for
    (its width x 2.2 / 3.5): the picture is rendered at the label's height, so its top (the
    legend) and bottom (the axis label) are not cut off by a centred, taller pixmap."""
    from napari_mpi_dl.widgets._agg_canvas import AggCanvas

    def setup(figure, ax):
        return None

    canvas = AggCanvas(setup)
    qtbot.addWidget(canvas)
    canvas.resize(400, 180)  # the aspect ratio would ask for 400 x 251
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.draw(lambda ax, state: ax.plot([0, 1], [0, 1]))
    qtbot.waitUntil(lambda: canvas.renders >= 1 and not canvas.busy, timeout=TIMEOUT_MS)
    pm = canvas.pixmap()
    rect = canvas.contentsRect()
    assert abs(pm.width() - rect.width()) <= 4
    assert pm.height() <= rect.height() + 1
    # a wide enough, tall label keeps the configured aspect ratio
    canvas.resize(400, 600)
    qtbot.waitUntil(lambda: canvas.renders >= 2 and not canvas.busy, timeout=TIMEOUT_MS)
    assert abs(canvas.pixmap().height() - round(canvas.contentsRect().width() * 2.2 / 3.5)) <= 4
