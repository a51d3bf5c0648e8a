"""DC_GAN training loop: losses decrease, checkpoints resume exactly, NaN guard, CLI."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dcgan_helpers import tiny_domains, tiny_model_config, tiny_train_config  # noqa: E402

from napari_mpi_dl.dcgan.data import save_domains  # noqa: E402
from napari_mpi_dl.dcgan.train import LAST_CHECKPOINT, DCGANTrainer  # noqa: E402
from napari_mpi_dl.training.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from napari_mpi_dl.training.guard import TrainingDivergedError  # noqa: E402

LOSSES = ("G", "GAN", "NCE1", "NCE2", "idt", "D", "D_X", "D_Y")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_loss_is_finite_and_decreases_over_a_few_steps():
    trainer = DCGANTrainer(tiny_domains(), tiny_model_config(),
                           tiny_train_config(steps=12, lr=1e-3))
    reports = [r for r in trainer.run() if r.losses]
    assert [r.step for r in reports] == list(range(1, 13))
    hist = {k: np.array([r.losses[k] for r in reports]) for k in LOSSES}
    for name, values in hist.items():
        assert np.all(np.isfinite(values)), name
        assert values[-3:].mean() < values[:3].mean(), f"{name} did not decrease: {values}"
    assert reports[-1].done and reports[-1].message.startswith("finished")
    assert reports[-1].preview is not None and reports[-1].preview.shape == (37, 37)


def test_resume_gives_identical_next_step_losses(tmp_path):
    domains = tiny_domains()
    cfg = tiny_train_config(steps=4, crop_size=24, checkpoint_every=2)
    full = DCGANTrainer(domains, tiny_model_config(), cfg, checkpoint_dir=tmp_path / "a")
    losses = {r.step: r.losses for r in full.run() if r.losses}
    # A fresh trainer (different global RNG state) resumed from the step-2 checkpoint.
    ck = tmp_path / "step2.pt"
    first = DCGANTrainer(domains, tiny_model_config(), cfg, checkpoint_dir=tmp_path / "b")
    first.train_step()
    first.train_step()
    first.save_checkpoint(ck)
    torch.manual_seed(12345)
    resumed = DCGANTrainer(domains, tiny_model_config(), cfg, checkpoint_dir=tmp_path / "c")
    assert resumed.resume(ck) == 2
    assert resumed.train_step() == losses[3]
    assert resumed.train_step() == losses[4]
    assert load_checkpoint(tmp_path / "a" / LAST_CHECKPOINT)["step"] == 4


def test_resume_rejects_other_architecture_and_settings(tmp_path):
    domains = tiny_domains()
    t = DCGANTrainer(domains, tiny_model_config(), tiny_train_config(steps=1),
                     checkpoint_dir=tmp_path)
    list(t.run())
    ck = tmp_path / LAST_CHECKPOINT
    other = DCGANTrainer(domains, tiny_model_config(gan_mode="hinge"), tiny_train_config())
    with pytest.raises(CheckpointError, match="model configuration"):
        other.resume(ck)
    other = DCGANTrainer(domains, tiny_model_config(), tiny_train_config(lr=1e-3))
    with pytest.raises(CheckpointError, match="lr"):
        other.resume(ck)
    longer = DCGANTrainer(domains, tiny_model_config(), tiny_train_config(steps=3))
    assert longer.resume(ck) == 1  # more steps is allowed
    assert [r.step for r in longer.run() if r.losses] == [2, 3]


def test_nan_guard_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path):
    domains = tiny_domains()
    t = DCGANTrainer(domains, tiny_model_config(), tiny_train_config(steps=10, checkpoint_every=2,
                                                                     batch_size=6),
                     checkpoint_dir=tmp_path)
    gen = t.run()
    for r in gen:
        if r.step == 2:
            break
    t.domains.x[:] = np.nan  # corrupt the data mid-run
    with pytest.raises(TrainingDivergedError, match="step 3.*non-finite loss"):
        next(gen)
    assert load_checkpoint(tmp_path / LAST_CHECKPOINT)["step"] == 2


def test_request_stop_ends_after_the_current_step_with_a_checkpoint(tmp_path):
    t = DCGANTrainer(tiny_domains(), tiny_model_config(), tiny_train_config(steps=50),
                     checkpoint_dir=tmp_path)
    seen = []
    for r in t.run():
        seen.append(r)
        if r.step == 2:
            t.request_stop()
    assert seen[-1].step == 3 and seen[-1].message.startswith("stopped")
    assert load_checkpoint(tmp_path / LAST_CHECKPOINT)["step"] == 3


def _cli_args(data, tmp_path, *extra):
    return ["train", "deblur", "--data", str(data), "--ngf", "8", "--n-blocks", "2", "--ndf", "8",
            "--d-layers", "2", "--num-patches", "32", "--crop-size", "0", "--threads", "1",
            "--checkpoint-dir", str(tmp_path / "run"), "--no-progress", *extra]


def test_cli_train_resume_and_export(tmp_path, capsys):
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.dcgan.inference import load_deblurrer

    data = save_domains(tmp_path / "d.npz", tiny_domains())
    assert main(_cli_args(data, tmp_path, "--steps", "2", "--checkpoint-every", "1")) == 0
    assert main(_cli_args(data, tmp_path, "--steps", "3", "--resume")) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "at step 2" in out
    weights = tmp_path / "run" / "dcgan_weights.pt"
    assert load_deblurrer(weights, device="cpu").info["step"] == 3
    import json

    info = json.loads((tmp_path / "run" / "dcgan_weights.pt.json").read_text())
    assert info["steps"] == 3 and info["seed"] == 0 and "torch_version" in info
    # --steps below the checkpoint's step: an error, and the weights are not rewritten
    before = weights.read_bytes()
    assert main(_cli_args(data, tmp_path, "--steps", "1", "--resume")) == 2
    err = capsys.readouterr().err
    assert "is at step 3, beyond the 1 steps asked for" in err and "nothing was changed" in err
    assert weights.read_bytes() == before


def test_cli_ctrl_c_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    from napari_mpi_dl.cli.main import main

    data = save_domains(tmp_path / "d.npz", tiny_domains())
    real_step = DCGANTrainer.train_step

    def interrupted(self):
        if self.step == 3:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(DCGANTrainer, "train_step", interrupted)
    rc = main(_cli_args(data, tmp_path, "--steps", "10", "--checkpoint-every", "2"))
    assert rc == 130
    assert "last checkpoint kept" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "run" / LAST_CHECKPOINT)["step"] == 2


def test_cli_epochs_and_bad_input(tmp_path, capsys):
    from napari_mpi_dl.cli.main import main

    data = save_domains(tmp_path / "d.npz", tiny_domains(n=4))
    assert main(_cli_args(data, tmp_path, "--epochs", "1", "--batch-size", "2")) == 0
    assert "trained 2 steps" in capsys.readouterr().out  # 4 images / batch 2
    assert main(_cli_args(tmp_path / "missing.h5", tmp_path, "--steps", "1")) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_process_ctrl_c_keeps_checkpoint_even_when_started_in_background(tmp_path):
    """A real process, started the way a shell script starts `cmd &` (SIGINT ignored)."""
    import signal
    import subprocess
    import sys
    import time

    data = save_domains(tmp_path / "d.npz", tiny_domains())
    args = _cli_args(data, tmp_path, "--steps", "100000", "--checkpoint-every", "2")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from napari_mpi_dl.cli.main import main; "
                               "sys.exit(main(sys.argv[1:]))", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    ckpt = tmp_path / "run" / LAST_CHECKPOINT
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert ckpt.exists(), proc.communicate(timeout=10)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "last checkpoint kept" in err
    assert load_checkpoint(ckpt)["step"] >= 2
