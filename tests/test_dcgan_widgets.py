"""DC_GAN napari widgets under Xvfb: deblur layer in/out, training dock start/stop/save."""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dcgan_helpers import blobs, tiny_domains, tiny_model_config  # noqa: E402

from napari_mpi_dl.dcgan.data import save_domains  # noqa: E402
from napari_mpi_dl.dcgan.networks import ResnetGenerator  # noqa: E402
from napari_mpi_dl.dcgan.weights import save_generator_weights  # noqa: E402

TIMEOUT_MS = 60_000


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def tiny_weights(tmp_path):
    cfg = tiny_model_config()
    return save_generator_weights(tmp_path / "w.pt", ResnetGenerator(cfg.generator), cfg)


def test_deblur_widget_adds_a_layer_with_the_same_scale(make_napari_viewer, qtbot, tiny_weights):
    from napari_mpi_dl.widgets.deblur import DeblurWidget

    viewer = make_napari_viewer()
    other = viewer.add_image(np.zeros((5, 5)), name="other")
    native = viewer.add_image(blobs(2, 41, 4.0, 0), name="native", scale=(1, 0.2, 0.2),
                              translate=(0, -4, -4), metadata={"gap_mm": 1.4})
    widget = DeblurWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.image.value = native
    widget.weights.value = str(tiny_weights)
    widget.device.value = "cpu"
    worker = widget.run()
    assert worker is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    out = viewer.layers["native deblurred (DC_GAN)"]
    assert out.data.shape == native.data.shape
    np.testing.assert_allclose(out.scale, native.scale)
    np.testing.assert_allclose(out.translate, native.translate)
    assert out.metadata["gap_mm"] == 1.4 and out.metadata["deblurred_by"] == "DC_GAN"
    assert "other" in viewer.layers and "native" in viewer.layers and other.data.shape == (5, 5)


def test_deblur_widget_reports_bad_weights(make_napari_viewer, qtbot, tmp_path):
    from napari_mpi_dl.widgets.deblur import DeblurWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.ones((20, 20)), name="native")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    widget = DeblurWidget(viewer)
    widget.weights.value = str(bad)
    widget.device.value = "cpu"
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert "corrupted" in widget.status.value
    assert [layer.name for layer in viewer.layers] == ["native"]


def test_training_dock_runs_stops_mid_run_and_saves(make_napari_viewer, qtbot, tmp_path):
    from qtpy.QtCore import QTimer

    from napari_mpi_dl.dcgan.inference import load_deblurrer
    from napari_mpi_dl.widgets.train_dock import PREVIEW_LAYER, TrainDock

    viewer = make_napari_viewer()
    viewer.add_image(np.ones((8, 8)), name="user layer")
    data = save_domains(tmp_path / "d.npz", tiny_domains())
    dock = TrainDock(viewer)
    viewer.window.add_dock_widget(dock)
    dock.model_config = tiny_model_config()
    dock.source.setCurrentText("file")
    dock.path.setText(str(data))
    dock.epochs.setValue(200)  # 6 images, batch 1 -> 1200 steps: far more than we let it run
    dock.crop.setValue(0)
    dock.device.setCurrentText("cpu")
    dock.checkpoint_dir.setText(str(tmp_path / "ckpt"))

    # Event-loop stall probe: a 10 ms timer; the longest gap between its ticks is the stall.
    ticks: list[float] = []
    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    probe.start()

    dock.start_button.click()
    assert dock.start_button.text() == "Stop"
    qtbot.waitUntil(lambda: len(dock.history) >= 6 and dock.preview_updates >= 1,
                    timeout=TIMEOUT_MS)
    # no saving while the weights change under the file
    assert not dock.save_button.isEnabled()
    with pytest.raises(RuntimeError, match="press Stop"):
        dock.save_weights(tmp_path / "early.pt")
    dock.start_button.click()  # Stop
    qtbot.waitUntil(lambda: dock.worker is None, timeout=TIMEOUT_MS)
    probe.stop()

    stall = float(np.max(np.diff(ticks)))
    print(f"longest event-loop stall during training: {stall * 1000:.0f} ms")
    assert stall < 1.0  # measured: 0.09-0.2 s on the shared 2-core machine (load 8)
    trainer = dock.trainer
    assert 6 <= trainer.step < trainer.config.steps
    assert dock.start_button.text() == "Start"
    assert "user layer" in viewer.layers and PREVIEW_LAYER in viewer.layers
    assert viewer.layers[PREVIEW_LAYER].data.shape == (37, 37)
    assert dock.history[-1][0] == trainer.step
    assert (tmp_path / "ckpt" / "dcgan_last.pt").exists()  # written on stop
    assert dock.save_button.isEnabled()
    w = dock.save_weights(tmp_path / "dock.pt")
    assert load_deblurrer(w, device="cpu").info["step"] == trainer.step
    # A second run starts cleanly after the stop.
    dock.epochs.setValue(0.5)
    dock.start_button.click()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=TIMEOUT_MS)
    assert dock.trainer.step == dock.trainer.config.steps == 3


def test_training_dock_without_file_reports_an_error(make_napari_viewer):
    from napari_mpi_dl.widgets.train_dock import TrainDock

    viewer = make_napari_viewer()
    dock = TrainDock(viewer)
    dock.source.setCurrentText("file")
    assert dock.start() is None
    assert "choose a data file" in dock.status.text()
    assert dock.start_button.text() == "Start"


def test_manifest_lists_the_dcgan_widgets():
    from pathlib import Path

    import yaml

    import napari_mpi_dl

    manifest = yaml.safe_load((Path(napari_mpi_dl.__file__).parent / "napari.yaml").read_text())
    commands = {c["id"]: c["python_name"] for c in manifest["contributions"]["commands"]}
    widgets = {w["command"] for w in manifest["contributions"]["widgets"]}
    for cid in ("napari-mpi-dl.dcgan_deblur_widget", "napari-mpi-dl.dcgan_train_dock"):
        assert cid in commands and cid in widgets
        module, attr = commands[cid].split(":")
        import importlib

        assert callable(getattr(importlib.import_module(module), attr))


def test_training_docks_start_with_the_documented_learning_rates(make_napari_viewer):
    """The spin box must not round 2e-4 / 1e-4 away (Qt's default is 2 decimals)."""
    from napari_mpi_dl.widgets.contrastive_training import ContrastiveTrainDock
    from napari_mpi_dl.widgets.train_dock import TrainDock

    viewer = make_napari_viewer()
    dcgan, contrastive = TrainDock(viewer), ContrastiveTrainDock(viewer)
    assert dcgan.lr.value() == pytest.approx(2e-4)
    assert contrastive.lr.value() == pytest.approx(1e-4)
