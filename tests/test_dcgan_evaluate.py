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
