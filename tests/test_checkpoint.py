"""Checkpoints and weights files: atomic writes, clear errors for corrupted or mismatched files."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from dcgan_helpers import tiny_model_config  # noqa: E402

from napari_mpi_dl.dcgan.config import GeneratorConfig  # noqa: E402
from napari_mpi_dl.dcgan.inference import load_deblurrer  # noqa: E402
from napari_mpi_dl.dcgan.networks import ResnetGenerator  # noqa: E402
from napari_mpi_dl.dcgan.weights import save_generator_weights  # noqa: E402
from napari_mpi_dl.training.checkpoint import (  # noqa: E402
    CheckpointError,
    load_checkpoint,
    load_state_dict_checked,
    save_checkpoint,
)


@pytest.fixture
def weights(tmp_path):
    cfg = tiny_model_config()
    return save_generator_weights(tmp_path / "w.pt", ResnetGenerator(cfg.generator), cfg)


def test_weights_round_trip_in_float16_and_small(weights):
    model = load_deblurrer(weights, device="cpu")
    assert model.generator.config == GeneratorConfig(ngf=8, n_blocks=2)
    assert next(model.generator.parameters()).dtype == torch.float32  # converted on load
    raw = torch.load(weights, weights_only=True)
    assert all(v.dtype == torch.float16 for v in raw["state_dict"].values()
               if v.is_floating_point())


@pytest.mark.parametrize("content", [b"", b"not a torch file at all", b"PK\x03\x04garbage"])
def test_corrupted_weights_give_a_clear_error(tmp_path, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match="corrupted, truncated or not a torch file"):
        load_deblurrer(bad, device="cpu")


def test_truncated_weights_give_a_clear_error(tmp_path, weights):
    data = weights.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt"):
        load_deblurrer(cut, device="cpu")


def test_missing_file_and_foreign_torch_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_deblurrer(tmp_path / "nope.pt", device="cpu")
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {"w": torch.zeros(3)}}, foreign)
    with pytest.raises(CheckpointError, match="not a DC_GAN weights file"):
        load_deblurrer(foreign, device="cpu")
    with pytest.raises(CheckpointError, match="not a napari-mpi-dl checkpoint"):
        load_checkpoint(foreign)


def test_wrong_architecture_state_dict_is_reported(tmp_path, weights):
    raw = torch.load(weights, weights_only=True)
    raw["generator"] = {"ngf": 16, "n_blocks": 2}  # header says 16, tensors are for 8
    mismatched = tmp_path / "mismatch.pt"
    torch.save(raw, mismatched)
    with pytest.raises(CheckpointError, match="do not fit the model.*other shapes"):
        load_deblurrer(mismatched, device="cpu")
    with pytest.raises(CheckpointError, match="expected"):
        load_deblurrer(weights, device="cpu", generator_config=GeneratorConfig(16, 4))


def test_missing_keys_and_nan_weights_are_reported():
    g = ResnetGenerator(GeneratorConfig(ngf=4, n_blocks=2))
    state = dict(ResnetGenerator(GeneratorConfig(ngf=4, n_blocks=1)).state_dict())
    with pytest.raises(CheckpointError, match="missing"):
        load_state_dict_checked(g, state, name="G")
    state = {k: v.clone() for k, v in g.state_dict().items()}
    state["head.1.weight"][:] = float("nan")
    with pytest.raises(CheckpointError, match="NaN"):
        load_state_dict_checked(g, state, name="G")


def test_checkpoint_kind_and_future_version_checked(tmp_path):
    p = save_checkpoint(tmp_path / "c.pt", kind="other", step=3, config={},
                        models={"m": torch.nn.Linear(2, 2)})
    assert load_checkpoint(p)["step"] == 3
    with pytest.raises(CheckpointError, match="'other' checkpoint, expected 'dcgan'"):
        load_checkpoint(p, kind="dcgan")
    raw = torch.load(p, weights_only=True)
    raw["format_version"] = 99
    torch.save(raw, p)
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(p)


def test_failed_write_leaves_previous_checkpoint(tmp_path, monkeypatch):
    p = save_checkpoint(tmp_path / "c.pt", kind="dcgan", step=1, config={},
                        models={"m": torch.nn.Linear(2, 2)})

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(p, kind="dcgan", step=2, config={}, models={"m": torch.nn.Linear(2, 2)})
    monkeypatch.undo()
    assert load_checkpoint(p)["step"] == 1
    assert sorted(x.name for x in tmp_path.iterdir()) == ["c.pt"]


def test_cli_deblur_with_corrupted_weights_fails_cleanly(tmp_path, capsys):
    import numpy as np

    from napari_mpi_dl.cli.main import main

    np.save(tmp_path / "in.npy", np.random.default_rng(0).random((21, 21)))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    rc = main(["deblur", str(tmp_path / "in.npy"), "--out", str(tmp_path / "o.npy"),
               "--weights", str(bad)])
    assert rc == 2
    assert "corrupted" in capsys.readouterr().err
    assert not (tmp_path / "o.npy").exists()


def test_cli_deblur_writes_same_shape(tmp_path, weights):
    import numpy as np

    from napari_mpi_dl.cli.main import main

    img = np.random.default_rng(0).random((3, 25, 31))
    np.save(tmp_path / "in.npy", img)
    assert main(["deblur", str(tmp_path / "in.npy"), "--out", str(tmp_path / "o.npy"),
                 "--weights", str(weights), "--device", "cpu", "--force"]) == 0
    assert np.load(tmp_path / "o.npy").shape == img.shape
