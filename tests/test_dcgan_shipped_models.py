"""The shipped DC_GAN model chosen by the input's scan mode: an isotropic model
(``resources/dcgan_weights_isotropic.pt``) for isotropic scans when it is shipped, else the
x-scan model; in the API, the CLI, ``evaluate`` and the Deblur dock. An explicit weights file is
always used as given. Tiny generated weights stand in for the isotropic model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dcgan_helpers import carded_weights, ship_isotropic_model  # noqa: E402

from napari_mpi_dl.dcgan.card import CardWarning, ModelCardMismatch  # noqa: E402

PX = 20.0 / 101
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def iso_weights(tmp_path, monkeypatch):
    """A tiny isotropic-card generator, shipped as the isotropic model for this test."""
    path = carded_weights(tmp_path / "iso.pt", scan_modes=("isotropic",), seed=1)
    ship_isotropic_model(monkeypatch, path)
    return path


@pytest.fixture
def no_iso(monkeypatch):
    ship_isotropic_model(monkeypatch, None)


def _x_path():
    from napari_mpi_dl._resources import resource_path

    return resource_path("dcgan_weights.pt")


def _image():
    from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
    from napari_mpi_dl.physics.native import simulate_native
    from napari_mpi_dl.physics.settings import XSpaceSettings

    return simulate_native(two_tube_phantom(gap_mm=2.6),
                           XSpaceSettings(scan_mode="isotropic")).astype(np.float32)


# ---- API -------------------------------------------------------------------------------------
def test_api_chooses_the_isotropic_model_for_isotropic_inputs(iso_weights):
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
    from napari_mpi_dl.dcgan.weights import read_card, shipped_weights_files, shipped_weights_path

    assert shipped_weights_path("isotropic") == iso_weights
    for mode in ("x", "y", None):
        assert shipped_weights_path(mode) == _x_path()
    assert shipped_weights_files() == {"x": _x_path(), "isotropic": iso_weights}
    assert read_card(None, scan_mode="isotropic")[1].scan_modes == ("isotropic",)
    assert read_card(None)[1].scan_modes == ("x",)
    assert load_deblurrer(device="cpu", scan_mode="isotropic").source == str(iso_weights)
    assert load_deblurrer(device="cpu", scan_mode="y").source == str(_x_path())
    # an explicit file is used as given, whatever the scan mode
    assert load_deblurrer(_x_path(), device="cpu", scan_mode="isotropic").source == str(_x_path())
    img = _image()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CardWarning)      # covered by the isotropic card
        got = deblur(img, pixel_mm=(PX, PX), scan_mode="isotropic")   # no model given
    iso = load_deblurrer(iso_weights, device="cpu")
    np.testing.assert_allclose(got, deblur(img, iso, pixel_mm=(PX, PX),
                                           scan_mode="isotropic"), atol=1e-6)
    x_model = load_deblurrer(device="cpu")
    with pytest.warns(CardWarning, match="scan mode differs"):
        forced = deblur(img, x_model, pixel_mm=(PX, PX), scan_mode="isotropic", force=True)
    assert not np.allclose(got, forced, atol=1e-3)
    with pytest.raises(ValueError, match="scan_mode must be one of"):
        shipped_weights_path("diagonal")


def test_without_the_isotropic_file_everything_takes_the_x_model(no_iso):
    from napari_mpi_dl.dcgan.inference import deblur
    from napari_mpi_dl.dcgan.weights import shipped_weights_files, shipped_weights_path

    assert shipped_weights_files() == {"x": _x_path()}
    assert shipped_weights_path("isotropic") == _x_path()
    with pytest.raises(ModelCardMismatch, match="isotropic scan.*x-scans only"):
        deblur(_image(), pixel_mm=(PX, PX), scan_mode="isotropic")


# ---- CLI -------------------------------------------------------------------------------------
def _write_isotropic_tiff(path):
    from napari_mpi_dl.io.images import write_image
    from napari_mpi_dl.physics.settings import XSpaceSettings

    settings = XSpaceSettings(scan_mode="isotropic").as_dict()
    write_image(path, _image(), pixel_mm=(PX, PX),
                metadata={"kind": "native", "settings": settings})
    return path


def test_cli_deblurs_an_isotropic_tiff_with_the_isotropic_model(tmp_path, iso_weights, capsys):
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
    from napari_mpi_dl.io.images import read_image, read_image_metadata

    src = _write_isotropic_tiff(tmp_path / "iso.tif")
    assert main(["deblur", str(src), "--out", str(tmp_path / "o.tif"), "--device", "cpu"]) == 0
    out = capsys.readouterr()
    assert "iso.pt" in out.out and "warning" not in out.err     # covered: no --force needed
    meta = read_image_metadata(tmp_path / "o.tif")
    assert meta["weights"] == str(iso_weights) and meta["input_scan_mode"] == "isotropic"
    expected = deblur(read_image(src), load_deblurrer(iso_weights, device="cpu"),
                      pixel_mm=(PX, PX), scan_mode="isotropic")
    np.testing.assert_allclose(read_image(tmp_path / "o.tif"), expected, atol=1e-5)
    # --scan-mode x on the same file: the x-scan model; --weights: that file, as given
    assert main(["deblur", str(src), "--out", str(tmp_path / "x.tif"), "--device", "cpu",
                 "--scan-mode", "x"]) == 0
    assert read_image_metadata(tmp_path / "x.tif")["weights"] == str(_x_path())
    assert main(["deblur", str(src), "--out", str(tmp_path / "w.tif"), "--device", "cpu",
                 "--weights", str(_x_path())]) == 2
    assert "scan mode differs: the input is an isotropic scan" in capsys.readouterr().err


def test_cli_without_the_isotropic_file_refuses_an_isotropic_input_as_before(tmp_path, no_iso,
                                                                            capsys):
    from napari_mpi_dl.cli.main import main

    src = _write_isotropic_tiff(tmp_path / "iso.tif")
    assert main(["deblur", str(src), "--out", str(tmp_path / "o.tif"), "--device", "cpu"]) == 2
    assert "scan mode differs: the input is an isotropic scan" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


def test_deblur_info_lists_every_shipped_card(tmp_path, monkeypatch, capsys):
    from napari_mpi_dl.cli.main import main

    ship_isotropic_model(monkeypatch, None)
    assert main(["deblur", "--info"]) == 0
    out = capsys.readouterr().out
    assert out.count("DC_GAN model card of") == 1 and "dcgan_weights.pt" in out
    iso = carded_weights(tmp_path / "iso.pt", scan_modes=("isotropic",))
    ship_isotropic_model(monkeypatch, iso)
    assert main(["deblur", "--info"]) == 0
    out = capsys.readouterr().out
    assert out.count("DC_GAN model card of") == 2
    x_part, iso_part = out.split("\n\n")
    assert "dcgan_weights.pt" in x_part and "scan modes:                x\n" in x_part
    assert str(iso) in iso_part and "used for isotropic-scan inputs" in iso_part
    assert "scan modes:                isotropic" in iso_part
    assert main(["deblur", "--info", str(iso)]) == 0          # a given file: only its card
    assert capsys.readouterr().out.count("DC_GAN model card of") == 1


# ---- evaluate --------------------------------------------------------------------------------
def test_evaluate_takes_the_shipped_model_per_scenario_scan_mode(iso_weights, monkeypatch):
    from napari_mpi_dl.analysis import methods, protocol
    from napari_mpi_dl.analysis.scenarios import get_scenario
    from napari_mpi_dl.dcgan.evaluation_adapter import (
        METHOD_NAME,
        WEIGHTS_ENV,
        card_problems,
        register_dcgan,
    )
    from napari_mpi_dl.dcgan.inference import deblur

    monkeypatch.delenv(WEIGHTS_ENV, raising=False)        # no file given: the shipped models
    first_iso = None
    with methods.REGISTRY.restored():
        assert methods.load_providers([register_dcgan]) == []
        fn = methods.get(METHOD_NAME).fn
        assert list(fn.models) == [str(_x_path())]        # the isotropic one when needed
        with warnings.catch_warnings():
            warnings.simplefilter("error", CardWarning)   # each scenario inside its card
            for name, weights in (("isotropic", iso_weights), ("y-scan", _x_path()),
                                  ("isotropic", iso_weights)):
                scenario = get_scenario(name)
                cfg = protocol.ProtocolConfig(gaps_mm=(2.2,), methods=("native", METHOD_NAME),
                                              scenario=scenario)
                result = protocol.run_protocol(cfg)
                model = fn.models[str(weights)][0]
                expected = deblur(result.images[(2.2, "native")], model,
                                  pixel_mm=scenario.settings.grid.pixel_mm,
                                  scan_mode=scenario.settings.scan_mode)
                np.testing.assert_allclose(result.images[(2.2, METHOD_NAME)], expected,
                                           atol=1e-5)
                if name == "isotropic":                # loaded once, then kept
                    first_iso = first_iso if first_iso is not None else model
                    assert model is first_iso
    assert card_problems(fn) == []
    assert sorted(fn.models) == sorted([str(_x_path()), str(iso_weights)])


def test_evaluate_without_the_isotropic_file_warns_as_before(no_iso):
    from napari_mpi_dl.dcgan.evaluation_adapter import card_problems, make_method

    fn = make_method(None, device="cpu", num_threads=1)

    class Context:
        from napari_mpi_dl.physics.settings import XSpaceSettings

        settings = XSpaceSettings(scan_mode="isotropic")

    with pytest.warns(CardWarning, match="isotropic"):
        out = fn(_image(), Context())
    assert np.all(np.isfinite(out)) and list(fn.models) == [str(_x_path())]
    assert "scan mode differs" in card_problems(fn)[0]


# ---- Deblur dock -----------------------------------------------------------------------------
def test_deblur_dock_defaults_use_the_isotropic_model_for_an_isotropic_layer(
        make_napari_viewer, qtbot, iso_weights):
    pytest.importorskip("napari")
    from qtpy.QtCore import Qt

    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
    from napari_mpi_dl.physics.settings import XSpaceSettings
    from napari_mpi_dl.widgets._model_card import SCAN_FROM_METADATA
    from napari_mpi_dl.widgets.deblur import DeblurWidget

    viewer = make_napari_viewer()
    img = _image()
    layer = viewer.add_image(img, name="iso", scale=(PX, PX), units=("mm", "mm"),
                             metadata={"settings": XSpaceSettings(scan_mode="isotropic")
                                       .as_dict()})
    dock = DeblurWidget(viewer)
    viewer.window.add_dock_widget(dock)
    assert dock.weights_path is None and dock.image.value is layer

    def card_reads(text):
        qtbot.waitUntil(lambda: dock.card_worker is None and text in dock.card.value,
                        timeout=60_000)

    card_reads("iso.pt")
    assert "isotropic-scan" in dock.card.value and str(iso_weights) in dock.card.tooltip
    qtbot.mouseClick(dock.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)
    assert dock.card_warning.value == ""                  # covered: no warning
    out = viewer.layers["iso deblurred (DC_GAN)"]
    assert out.metadata["weights"] == str(iso_weights)
    assert "isotropic-scan" in out.metadata["model_card"]
    expected = deblur(img, load_deblurrer(iso_weights, device="cpu"), pixel_mm=(PX, PX),
                      scan_mode="isotropic")
    np.testing.assert_allclose(out.data, expected, atol=1e-5)
    # the user declares the layer an x-scan: the card line follows, naming the x-scan model
    dock.scan_mode.value = "x"
    card_reads("dcgan_weights.pt")
    assert "x-scan" in dock.card.value
    dock.scan_mode.value = SCAN_FROM_METADATA
    card_reads("iso.pt")
    # an x-scan layer the user adds and chooses: the x-scan model
    x_layer = viewer.add_image(img, name="x", scale=(PX, PX), units=("mm", "mm"),
                               metadata={"settings": XSpaceSettings(scan_mode="x").as_dict()})
    dock.image.value = x_layer
    card_reads("dcgan_weights.pt")


# ---- fine-tuning -----------------------------------------------------------------------------
def test_finetune_without_a_file_starts_from_the_shipped_model_of_the_datas_scan_mode(
        tmp_path, iso_weights, capsys):
    from dcgan_helpers import blobs

    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.dcgan.weights import read_card

    np.save(tmp_path / "x.npy", blobs(4, 40, 4.0, 3) * 7.0)
    np.save(tmp_path / "y.npy", blobs(4, 40, 1.5, 4))
    out = tmp_path / "mine.pt"
    assert main(["train", "deblur", "--x", str(tmp_path / "x.npy"), "--y", str(tmp_path / "y.npy"),
                 "--pixel-mm", "0.2", "--scan-mode", "isotropic", "--finetune", "--steps", "1",
                 "--ndf", "4", "--d-layers", "1", "--num-patches", "8", "--threads", "1",
                 "--checkpoint-dir", str(tmp_path / "run"), "--out", str(out),
                 "--no-progress"]) == 0
    assert "fine-tuning G from the shipped DC_GAN weights (resources/iso.pt" \
        in capsys.readouterr().out
    _, card = read_card(out)
    assert card.scan_modes == ("isotropic",)
    assert "resources/iso.pt" in card.provenance and "isotropic-scan" in card.provenance
