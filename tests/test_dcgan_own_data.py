"""DC_GAN on the user's own images: plain npz / tif folders train from the CLI, crops,
per-image normalisation, validation split, the card written from the data's metadata."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dcgan_helpers import blobs  # noqa: E402

from napari_mpi_dl.dcgan.own_data import build_domains, read_planes  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["--ngf", "8", "--n-blocks", "2", "--ndf", "8", "--d-layers", "2", "--num-patches",
        "32", "--device", "cpu", "--no-progress"]


def test_build_domains_crops_normalises_and_splits():
    xs = list(blobs(5, 90, 4.0, 1) * 40.0 + 3.0)        # raw intensities, larger than a crop
    ys = list(blobs(4, 70, 1.5, 2))
    d = build_domains(xs, ys, crop_size=64, val_fraction=0.25, seed=3)
    assert d.x.shape[1:] == d.y.shape[1:] == (64, 64)
    assert d.x.min() >= -1.0 and d.x.max() <= 1.0      # normalised, whole image then crop
    assert d.info["x_images"] == 4 and d.info["x_validation_images"] == 1
    assert d.info["y_images"] == 3 and d.info["y_validation_images"] == 1
    assert d.validation is not None and d.validation.x.shape[1:] == (64, 64)
    # no validation image is among the training crops' sources: crops of the held-out X image
    # do not appear in the training set
    assert not any(np.array_equal(v, t) for v in d.validation.x for t in d.x)
    again = build_domains(xs, ys, crop_size=64, val_fraction=0.25, seed=3)
    np.testing.assert_array_equal(again.x, d.x)        # seeded
    with pytest.raises(ValueError, match="too small to hold the point-spread function"):
        build_domains(xs, ys, crop_size=32)
    with pytest.raises(ValueError, match="larger than the smallest image"):
        build_domains(xs, ys, crop_size=80)


def test_read_planes_reads_folders_stacks_and_metadata(tmp_path):
    from napari_mpi_dl.io.images import write_image

    (tmp_path / "x").mkdir()
    write_image(tmp_path / "x" / "a.tif", np.ones((2, 20, 20), np.float32), pixel_mm=(0.3, 0.3),
                metadata={"settings": {"scan_mode": "y"}})
    np.save(tmp_path / "x" / "b.npy", np.ones((20, 24)))
    planes, facts = read_planes([tmp_path / "x"])
    assert [p.shape for p in planes] == [(20, 20), (20, 20), (20, 24)]
    assert facts["pixel_mm"] == (0.3, 0.3) and facts["scan_mode"] == "y"
    np.save(tmp_path / "bad.npy", np.full((20, 20), np.nan))
    with pytest.raises(ValueError, match="bad.npy.*NaN"):
        read_planes([tmp_path / "bad.npy"], name="--x")


def test_plain_npz_pair_trains_from_the_cli_and_the_result_deblurs(tmp_path):
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer

    np.savez(tmp_path / "mine.npz", x=blobs(6, 40, 4.0, 3) * 7.0, y=blobs(6, 40, 1.5, 4))
    out = tmp_path / "w.pt"
    assert main(["train", "deblur", "--data", str(tmp_path / "mine.npz"), "--steps", "3",
                 "--checkpoint-dir", str(tmp_path / "run"), "--out", str(out), *TINY]) == 0
    model = load_deblurrer(out, device="cpu")
    sharp = deblur(blobs(1, 40, 4.0, 9)[0] * 5.0, model)
    assert sharp.shape == (40, 40) and np.all(np.isfinite(sharp)) and np.ptp(sharp) > 0
    np.savez(tmp_path / "nox.npz", a=np.ones((3, 20, 20)))
    assert main(["train", "deblur", "--data", str(tmp_path / "nox.npz"), "--steps", "1",
                 "--checkpoint-dir", str(tmp_path / "run2"), *TINY]) == 2


def test_tif_folder_and_npy_train_with_crops_and_write_the_card(tmp_path, capsys):
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.dcgan.weights import read_card
    from napari_mpi_dl.io.images import read_image, write_image

    (tmp_path / "x").mkdir()
    for i, im in enumerate(blobs(4, 80, 4.0, 1) * 50.0):
        write_image(tmp_path / "x" / f"n{i}.tif", im.astype(np.float32), pixel_mm=(0.25, 0.25),
                    metadata={"settings": {"scan_mode": "x"}})
    np.save(tmp_path / "refs.npy", blobs(3, 70, 1.5, 2))
    out = tmp_path / "mine.pt"
    assert main(["train", "deblur", "--x", str(tmp_path / "x"), "--y", str(tmp_path / "refs.npy"),
                 "--steps", "3", "--checkpoint-dir", str(tmp_path / "run"), "--out", str(out),
                 *TINY]) == 0
    log = capsys.readouterr().out
    assert "crops of 70 px" in log and "validation losses" in log
    _, card = read_card(out)
    assert card.pixel_mm == (0.25, 0.25) and card.scan_modes == ("x",)
    assert card.image_shape == (70, 70) and "own images" in card.data
    # the TIFF's metadata matches the card: deblurs from the CLI without any flag
    assert main(["deblur", str(tmp_path / "x" / "n0.tif"), "--out", str(tmp_path / "o.tif"),
                 "--weights", str(out), "--device", "cpu"]) == 0
    assert read_image(tmp_path / "o.tif").shape == (80, 80)


def test_training_dock_trains_from_the_users_layers_and_the_result_deblurs(
        make_napari_viewer, qtbot, tmp_path):
    from dcgan_helpers import tiny_model_config

    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
    from napari_mpi_dl.dcgan.weights import read_card
    from napari_mpi_dl.widgets.train_dock import LAYERS_SOURCE, TrainDock

    viewer = make_napari_viewer()
    dock = TrainDock(viewer)
    viewer.window.add_dock_widget(dock)
    # layers a user adds after opening the dock: a stack of natives in mm, a 2D reference set
    viewer.add_image(blobs(3, 72, 4.0, 1) * 9.0, name="my natives", scale=(1, 0.3, 0.3),
                     units=("pixel", "mm", "mm"), metadata={"settings": {"scan_mode": "x"}})
    viewer.add_image(blobs(3, 72, 1.5, 2), name="my references")
    dock.model_config = tiny_model_config()
    dock.source.setCurrentText(LAYERS_SOURCE)
    dock.x_layer.setCurrentText("my natives")
    dock.y_layer.setCurrentText("my references")
    dock.epochs.setValue(1)
    dock.device.setCurrentText("cpu")
    dock.start_button.click()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)
    trainer = dock.trainer
    assert trainer is not None and trainer.step == trainer.config.steps >= 1
    assert trainer.domains.info["x_validation_images"] == 1
    assert trainer.domains.x.shape[1:] == (72, 72)
    w = dock.save_weights(tmp_path / "mine.pt")
    _, card = read_card(w)
    assert card.pixel_mm == (0.3, 0.3) and card.scan_modes == ("x",)
    assert "napari layers" in card.data
    out = deblur(viewer.layers["my natives"].data, load_deblurrer(w, device="cpu"),
                 pixel_mm=(0.3, 0.3), scan_mode="x")
    assert out.shape == (3, 72, 72) and np.all(np.isfinite(out))
