"""DC_GAN in the evaluation protocol and the shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dcgan_helpers import tiny_model_config  # noqa: E402

from napari_mpi_dl.dcgan.networks import ResnetGenerator  # noqa: E402
from napari_mpi_dl.dcgan.weights import save_generator_weights  # noqa: E402


def test_protocol_provider_registers_dc_gan(tmp_path, monkeypatch):
    from napari_mpi_dl.analysis import methods, protocol
    from napari_mpi_dl.dcgan.evaluation_adapter import METHOD_NAME, WEIGHTS_ENV, register_dcgan

    cfg = tiny_model_config()
    weights = save_generator_weights(tmp_path / "w.pt", ResnetGenerator(cfg.generator), cfg)
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    with methods.REGISTRY.restored():
        assert methods.load_providers([register_dcgan]) == []
        assert methods.get(METHOD_NAME).label == "DC_GAN (no PSF)"
        result = protocol.run_protocol(protocol.ProtocolConfig(gaps_mm=(2.2,),
                                                               methods=("native", METHOD_NAME)))
    assert METHOD_NAME not in methods.available()
    row = [r for r in result.rows if r.method == METHOD_NAME][0]
    assert np.isfinite(row.psnr_db) and np.isfinite(row.ssim)
    assert result.images[(2.2, METHOD_NAME)].shape == (101, 101)


def test_protocol_provider_is_skipped_with_a_message_for_bad_weights(tmp_path, monkeypatch):
    from napari_mpi_dl.analysis import methods
    from napari_mpi_dl.dcgan.evaluation_adapter import WEIGHTS_ENV, register_dcgan

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"xx")
    monkeypatch.setenv(WEIGHTS_ENV, str(bad))
    with methods.REGISTRY.restored():
        messages = methods.load_providers([register_dcgan])
    assert len(messages) == 1 and "corrupted" in messages[0]


def test_shipped_weights_are_small_documented_and_load_offline():
    from napari_mpi_dl._resources import resource_path
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer

    weights = resource_path("dcgan_weights.pt")
    assert weights.stat().st_size < 10 * 2**20
    meta = json.loads(resource_path("dcgan_weights.json").read_text())
    for key in ("command", "model", "train", "data", "seed", "hardware", "wall_time_s",
                "torch_version", "steps"):
        assert key in meta, key
    model = load_deblurrer(device="cpu")  # no argument: the shipped file
    assert model.info["steps"] == meta["steps"]
    from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
    from napari_mpi_dl.physics.native import simulate_native

    native = simulate_native(two_tube_phantom(gap_mm=2.2))
    out = deblur(native, model)
    assert out.shape == (101, 101) and np.all(np.isfinite(out))


def _carded_weights(tmp_path, scan_modes=("x",)):
    """Tiny random generator whose card says: x-scan, 0.198 mm pixels (the shipped grid)."""
    from napari_mpi_dl.dcgan.card import ModelCard

    cfg = tiny_model_config()
    torch.manual_seed(0)
    px = 20.0 / 101
    card = ModelCard(pixel_mm=(px, px), pixel_mm_range=(px / 3, px * 3), scan_modes=scan_modes)
    return save_generator_weights(tmp_path / "w.pt", ResnetGenerator(cfg.generator), cfg,
                                  card=card)


def test_protocol_dc_gan_takes_the_card_route_like_deblur(tmp_path, monkeypatch):
    """evaluate --scenario measures what a user gets: a y-scan image is transposed into the
    x-scan model's axis, a 0.25 mm image is resampled to the model's 0.198 mm and back."""
    from napari_mpi_dl.analysis import methods, protocol
    from napari_mpi_dl.analysis.scenarios import get_scenario
    from napari_mpi_dl.dcgan.card import CardWarning
    from napari_mpi_dl.dcgan.evaluation_adapter import (
        METHOD_NAME,
        WEIGHTS_ENV,
        card_problems,
        register_dcgan,
    )
    from napari_mpi_dl.dcgan.inference import deblur

    monkeypatch.setenv(WEIGHTS_ENV, str(_carded_weights(tmp_path)))
    with methods.REGISTRY.restored():
        assert methods.load_providers([register_dcgan]) == []
        fn = methods.get(METHOD_NAME).fn
        _card_route_checks(protocol, fn, METHOD_NAME, get_scenario, deblur, CardWarning,
                           card_problems)


def _card_route_checks(protocol, fn, METHOD_NAME, get_scenario, deblur, CardWarning,
                       card_problems):
    import warnings

    model = fn.model
    for name in ("y-scan", "fov-32mm"):
        cfg = protocol.ProtocolConfig(gaps_mm=(2.2,), methods=("native", METHOD_NAME),
                                      scenario=get_scenario(name))
        with warnings.catch_warnings():
            warnings.simplefilter("error", CardWarning)  # covered: no warning
            result = protocol.run_protocol(cfg)
        native = result.images[(2.2, "native")]
        got = result.images[(2.2, METHOD_NAME)]
        plain = deblur(native, model)  # the image's own pixels, as before
        assert not np.allclose(got, plain, atol=1e-4), name
        if name == "y-scan":  # same pixel size: exactly the transposed route
            np.testing.assert_allclose(got, deblur(native.T, model).T, rtol=1e-4)
        else:
            grid = get_scenario(name).grid
            np.testing.assert_allclose(
                got, deblur(native, model, pixel_mm=grid.pixel_mm, scan_mode="x"), rtol=1e-4)
    assert card_problems(fn) == []
    # an isotropic scan is outside an x-scan card: deblurred as --force would, warned, recorded
    cfg = protocol.ProtocolConfig(gaps_mm=(2.2,), methods=(METHOD_NAME,),
                                  scenario=get_scenario("isotropic"))
    with pytest.warns(CardWarning, match="isotropic"):
        result = protocol.run_protocol(cfg)
    assert np.all(np.isfinite(result.images[(2.2, METHOD_NAME)]))
    assert len(card_problems(fn)) == 1 and "scan mode differs" in card_problems(fn)[0]
