"""DC_GAN model card and physically aware deblurring: card round-trip, intensity-conserving
resampling, scan-axis transposition, and mismatched inputs failing in the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_mpi_dl.dcgan.card import (
    ModelCard,
    ModelCardMismatch,
    card_from_info,
    input_physics,
    shipped_card,
)
from napari_mpi_dl.dcgan.resample import deblur_on_model_grid, resample
from napari_mpi_dl.dcgan.weights import read_card

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def shipped():
    from napari_mpi_dl.dcgan.inference import load_deblurrer

    return load_deblurrer(device="cpu")


def _tubes_y_scan(shape=(101, 101), sigma_along=(2.0, 4.6)):
    """Two vertical tubes blurred as a y-scan would (wider along y, the scan axis)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    img = np.zeros(shape)
    for cx in (0.42 * shape[1], 0.58 * shape[1]):
        img += np.exp(-((xx - cx) ** 2) / (2 * sigma_along[0] ** 2)
                      - ((yy - shape[0] / 2) ** 2) / (2 * (shape[0] / 5) ** 2))
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img, (sigma_along[1], 0.5))


# ---- card ------------------------------------------------------------------------------------
def test_card_round_trips_through_json_and_a_weights_file(tmp_path):
    from napari_mpi_dl.dcgan.config import ModelConfig
    from napari_mpi_dl.dcgan.networks import ResnetGenerator
    from napari_mpi_dl.dcgan.weights import save_generator_weights

    card = ModelCard(pixel_mm=(0.25, 0.2), pixel_mm_range=(0.1, 0.6), image_shape=(64, 80),
                     fov_mm=(16, 16), scan_modes=("x", "isotropic"),
                     gradient_t_per_m=(1.0, 2.5), tracer="lognormal 20 nm", core_diameter_nm=(
                         18, 30), relaxation_time_s=(0, 3e-6), noise="white", snr_db=(20, 40),
                     data="test data", provenance="a test")
    assert ModelCard.from_dict(json.loads(json.dumps(card.to_dict()))) == card
    cfg = ModelConfig()
    gen = ResnetGenerator(cfg.generator)
    path = save_generator_weights(tmp_path / "w.pt", gen, cfg, card=card)
    source, back = read_card(path)
    assert back == card and source == str(path)
    text = back.format_text()
    assert "0.25 x 0.2 mm" in text and "x, isotropic" in text and "0 - 3 us" in text


def test_old_weights_without_card_load_with_a_derived_card(tmp_path):
    from napari_mpi_dl.dcgan.config import ModelConfig
    from napari_mpi_dl.dcgan.inference import load_deblurrer
    from napari_mpi_dl.dcgan.networks import ResnetGenerator

    cfg = ModelConfig()
    gen = ResnetGenerator(cfg.generator)
    payload = {"format": "napari-mpi-dl/dcgan-generator", "format_version": 1,
               "generator": cfg.to_dict()["generator"], "step": 3,
               "state_dict": gen.state_dict(),
               "info": {"data": {"source": "my data", "snr_db": 30.0,
                                 "pixel_mm": [0.2, 0.2]}}}
    torch.save(payload, tmp_path / "v1.pt")
    model = load_deblurrer(tmp_path / "v1.pt", device="cpu")
    from napari_mpi_dl.dcgan.card import model_card

    card = model_card(model)
    assert card.pixel_mm == (0.2, 0.2) and card.data == "my data" and card.snr_db == (30, 30)
    assert card.scan_modes is None and card.gradient_t_per_m is None
    assert "scan modes:                unknown" in card.format_text()
    # what is unknown cannot be checked: the scan mode is a problem, not a silent pass
    cov = card.check_input(pixel_mm=(0.2, 0.2), scan_mode="x")
    assert not cov.covered and "does not say which scan modes" in cov.message()
    assert card_from_info(None) == ModelCard()


def test_shipped_weights_carry_their_card(capsys):
    from napari_mpi_dl.cli.main import main

    source, card = read_card(None)
    assert card == shipped_card()
    assert card.pixel_mm == pytest.approx((20 / 101, 20 / 101))
    assert card.scan_modes == ("x",) and card.gradient_t_per_m == (1.35, 1.35)
    assert card.relaxation_time_s == (0.0, 0.0) and card.image_shape == (101, 101)
    assert main(["deblur", "--info"]) == 0
    out = capsys.readouterr().out
    assert "0.198 x 0.198 mm" in out and "1.35 T/m" in out and "scan modes:" in out


def test_input_physics_reads_the_simulator_record():
    from napari_mpi_dl.physics.settings import XSpaceSettings

    s = XSpaceSettings(scan_mode="y", gradient_t_per_m=2.0).as_dict()
    facts = input_physics({"settings": s, "pixel_mm": [0.5, 0.4]})
    assert facts == {"pixel_mm": (0.5, 0.4), "scan_mode": "y", "gradient_t_per_m": 2.0,
                     "core_diameter_nm": 25.0, "relaxation_time_s": 0.0}
    assert input_physics({}) == {}
    from napari_mpi_dl.physics.tracers import TRACER_PRESETS

    resovist = XSpaceSettings(particle=TRACER_PRESETS["resovist"]).as_dict()
    facts = input_physics({"settings": resovist})
    assert facts["core_sizes"] == ((6.0, 0.3), (22.0, 0.15))
    assert facts["relaxation_time_s"] == 4e-6          # the tracer's largest
    cov = shipped_card().check_input(pixel_mm=(0.198, 0.198), scan_mode="x",
                                     **{k: v for k, v in facts.items()
                                        if k not in ("pixel_mm", "scan_mode")})
    assert "tracer differs: the input's cores are 6 nm (sigma 0.3)" in cov.message()
    assert "relaxation differs: the input has 4 us" in cov.message()
    ideal = input_physics({"settings": XSpaceSettings(particle=TRACER_PRESETS["ideal"]).as_dict()})
    assert ideal["core_diameter_nm"] == 25.0 and "core_sizes" not in ideal


# ---- resampling ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["cubic", "area"])
@pytest.mark.parametrize("src,dst", [((0.5, 0.5), (0.198, 0.198)), ((0.1, 0.3), (0.198, 0.198)),
                                     ((0.198, 0.198), (0.6, 0.45))])
def test_resampling_conserves_total_intensity(method, src, dst):
    a = np.random.default_rng(1).random((3, 64, 80))
    b = resample(a, src, dst, method=method)
    eff = (64 * src[0] / b.shape[-2], 80 * src[1] / b.shape[-1])   # same extent
    assert b.shape[0] == 3
    assert eff == pytest.approx(dst, rel=0.02)
    np.testing.assert_allclose(b.sum(axis=(-2, -1)) * eff[0] * eff[1],
                               a.sum(axis=(-2, -1)) * src[0] * src[1], rtol=1e-10)
    c = resample(b, eff, src, method=method, shape=a.shape[-2:])
    assert c.shape == a.shape
    np.testing.assert_allclose(c.sum(axis=(-2, -1)), a.sum(axis=(-2, -1)), rtol=1e-10)
    # a density stays a density: a constant image stays the same constant
    np.testing.assert_allclose(resample(np.full((30, 40), 2.5), src, dst, method=method), 2.5)


def test_round_trip_returns_the_input_grid():
    """Through the model grid and back with an identity 'generator': same shape, same integral,
    and a smooth image comes back close to itself (the input grid, not a shifted one)."""
    img = _tubes_y_scan((64, 80))
    card = shipped_card()
    cov = card.check_input(pixel_mm=(0.5, 0.5), scan_mode="y")
    assert cov.covered and cov.transpose
    seen = []
    out = deblur_on_model_grid(img, None, card, cov,
                               deblur_plain=lambda a: seen.append(a.shape) or a)
    assert seen == [(202, 162)]                 # transposed, then 0.5 -> ~0.198 mm
    assert out.shape == img.shape and out.dtype == np.float32
    assert out.sum() == pytest.approx(img.sum(), rel=1e-5)
    assert np.abs(out - img).max() < 0.02 * img.max()


# ---- deblurring through the card -------------------------------------------------------------
def test_y_scan_through_an_x_scan_model_equals_the_transposed_route(shipped):
    from napari_mpi_dl.dcgan.inference import deblur

    img = _tubes_y_scan()
    p = (20 / 101, 20 / 101)
    y_route = deblur(img, shipped, pixel_mm=p, scan_mode="y")
    by_hand = deblur(np.ascontiguousarray(img.T), shipped, pixel_mm=p, scan_mode="x").T
    np.testing.assert_allclose(y_route, by_hand, atol=1e-6)
    as_if_x = deblur(img, shipped, pixel_mm=p, scan_mode="x")
    assert np.abs(as_if_x - y_route).max() > 0.05 * img.max()   # the transposition matters


def test_deblur_on_another_pixel_size_resamples_and_keeps_the_grid(shipped):
    from napari_mpi_dl.dcgan.inference import deblur

    img = _tubes_y_scan((64, 80)).T.copy()       # an x-scan-like image, 0.5 mm pixels
    out = deblur(img, shipped, pixel_mm=(0.5, 0.5), scan_mode="x")
    assert out.shape == img.shape and np.all(np.isfinite(out))
    plain = deblur(img, shipped)                 # at its own pixels: a different result
    assert np.abs(out - plain).max() > 0.05 * img.max()


def test_api_mismatch_raises_naming_what_differs(shipped):
    from napari_mpi_dl.dcgan.card import CardWarning
    from napari_mpi_dl.dcgan.inference import deblur

    img = _tubes_y_scan()
    with pytest.raises(ModelCardMismatch, match="isotropic scan.*x-scans only"):
        deblur(img, shipped, pixel_mm=(0.198, 0.198), scan_mode="isotropic")
    with pytest.raises(ModelCardMismatch, match=r"pixel size differs.*2 x 2 mm"):
        deblur(img, shipped, pixel_mm=(2.0, 2.0), scan_mode="x")
    with pytest.raises(ModelCardMismatch, match=r"gradient differs.*6 T/m.*1.35"):
        deblur(img, shipped, pixel_mm=(0.198, 0.198), scan_mode="x",
               physics={"gradient_t_per_m": 6.0})
    with pytest.raises(ModelCardMismatch, match="pixel size is unknown"):
        deblur(img, shipped, physical=True)
    with pytest.warns(CardWarning, match="isotropic"):
        out = deblur(img, shipped, pixel_mm=(0.198, 0.198), scan_mode="isotropic", force=True)
    assert out.shape == img.shape
    with pytest.raises(ValueError, match="only 5 x 5 pixels"):      # 20 px of 0.05 mm
        deblur(img[:20, :20], shipped, pixel_mm=(0.05, 0.05), scan_mode="x", force=True)


# ---- CLI -----------------------------------------------------------------------------------
def test_cli_fails_on_inputs_the_card_does_not_cover(tmp_path, capsys, monkeypatch):
    from dcgan_helpers import ship_isotropic_model

    from napari_mpi_dl.cli.main import main

    ship_isotropic_model(monkeypatch, None)     # the x-scan model for every input

    np.save(tmp_path / "in.npy", _tubes_y_scan().astype(np.float32))
    out = tmp_path / "out.npy"
    base = ["deblur", str(tmp_path / "in.npy"), "--out", str(out), "--device", "cpu"]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "pixel size is unknown" in err and "scan mode is unknown" in err and "--force" in err
    assert main(base + ["--pixel-mm", "0.198", "--scan-mode", "isotropic"]) == 2
    err = capsys.readouterr().err
    assert "scan mode differs: the input is an isotropic scan" in err
    assert main(base + ["--pixel-mm", "1.5", "1.5", "--scan-mode", "x"]) == 2
    assert "pixel size differs: the input has 1.5 x 1.5 mm" in capsys.readouterr().err
    assert not out.exists()
    assert main(base + ["--pixel-mm", "0.198", "--scan-mode", "isotropic", "--force"]) == 0
    assert "warning: deblurring anyway (forced): scan mode differs" in capsys.readouterr().err
    assert np.load(out).shape == (101, 101)


def test_cli_reads_pixel_size_and_scan_mode_from_tiff_metadata(tmp_path, shipped):
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.dcgan.inference import deblur
    from napari_mpi_dl.io.images import read_image, read_image_metadata, write_image
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.settings import XSpaceSettings

    img = _tubes_y_scan((64, 80)).astype(np.float32)
    settings = XSpaceSettings(scan_mode="y", grid=ImageGrid(shape=(64, 80), fov_mm=(32, 40)))
    write_image(tmp_path / "native.tif", img, pixel_mm=(0.5, 0.5),
                metadata={"kind": "native", "settings": settings.as_dict()})
    assert main(["deblur", str(tmp_path / "native.tif"), "--out", str(tmp_path / "o.tif"),
                 "--device", "cpu"]) == 0
    got = read_image(tmp_path / "o.tif")
    np.testing.assert_allclose(got, deblur(img, shipped, pixel_mm=(0.5, 0.5), scan_mode="y"),
                               atol=1e-5)
    meta = read_image_metadata(tmp_path / "o.tif")
    assert meta["pixel_mm"] == [0.5, 0.5] and meta["input_scan_mode"] == "y"


# ---- Deblur dock ---------------------------------------------------------------------------
def _click(qtbot, button) -> None:
    from qtpy.QtCore import Qt

    qtbot.mouseClick(getattr(button, "native", button), Qt.MouseButton.LeftButton)


def test_dock_shows_the_card_and_warns_on_a_layer_it_does_not_cover(make_napari_viewer,
                                                                     qtbot, monkeypatch):
    from dcgan_helpers import ship_isotropic_model

    from napari_mpi_dl.physics.settings import XSpaceSettings
    from napari_mpi_dl.widgets.deblur import DeblurWidget

    ship_isotropic_model(monkeypatch, None)     # the x-scan model for every layer
    viewer = make_napari_viewer()
    img = _tubes_y_scan().astype(np.float32)
    iso = XSpaceSettings(scan_mode="isotropic").as_dict()
    layer = viewer.add_image(img, name="iso", scale=(0.198, 0.198), units=("mm", "mm"),
                             metadata={"settings": iso})
    dock = DeblurWidget(viewer)
    viewer.window.add_dock_widget(dock)
    qtbot.waitUntil(lambda: dock.card_worker is None, timeout=60_000)
    assert "0.198 mm pixels" in dock.card.value and "x-scan" in dock.card.value
    assert "1.35 T/m" in dock.card.tooltip and "provenance" in dock.card.tooltip
    _click(qtbot, dock.run_button)
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)
    assert "scan mode differs: the input is an isotropic scan" in dock.card_warning.value
    out = viewer.layers["iso deblurred (DC_GAN)"]        # warned, not refused
    assert out.data.shape == layer.data.shape
    assert out.metadata["card_warning"].startswith("warning: scan mode differs")

    # the same image declared a y-scan (the dock's choice): no warning, the transposed route
    dock.scan_mode.value = "y"
    _click(qtbot, dock.run_button)
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)
    assert dock.card_warning.value == ""
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer

    expected = deblur(img, load_deblurrer(device="cpu"), pixel_mm=(0.198, 0.198), scan_mode="y")
    np.testing.assert_allclose(viewer.layers[-1].data, expected, atol=1e-5)
