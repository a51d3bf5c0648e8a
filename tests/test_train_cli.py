"""The three training commands share one runner: the same options, stopping, resuming, errors
and provenance for ``train deblur``, ``train recover`` and ``train reconstruct``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from dcgan_helpers import tiny_domains  # noqa: E402

from napari_mpi_dl.cli.main import build_parser, main  # noqa: E402
from napari_mpi_dl.dcgan.data import save_domains  # noqa: E402
from napari_mpi_dl.training.checkpoint import load_checkpoint  # noqa: E402
from napari_mpi_dl.training.guard import TrainingDivergedError  # noqa: E402
from napari_mpi_dl.training.trainer import Trainer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

COMMANDS = ("deblur", "recover", "reconstruct")
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _argv(command: str, tmp_path: Path, *extra) -> list[str]:
    """A tiny, fast run of ``command`` writing to ``tmp_path``."""
    common = ["--threads", "1", "--device", "cpu", "--no-progress",
              "--checkpoint-dir", str(tmp_path / "ck"), "--out", str(tmp_path / "w.pt")]
    if command == "deblur":
        data = tmp_path / "d.npz"
        if not data.exists():
            save_domains(data, tiny_domains())
        return ["train", "deblur", "--data", str(data), "--ngf", "4", "--n-blocks", "1",
                "--ndf", "4", "--d-layers", "1", "--nce-layers", "0,2,4", "--num-patches", "16",
                "--steps", "3", *common, *extra]
    return ["train", command, "--setting", "wo-cl", "--epochs", "1", "--mixtures", "10",
            "--batch-size", "64", *common, *extra]


@pytest.mark.parametrize("command", COMMANDS)
def test_one_spelling_of_the_run_options_for_every_command(command):
    parser = build_parser()
    args = parser.parse_args(["train", command, "--quiet", "--resume", "--out", "x.pt",
                              "--time-limit-min", "2", "--checkpoint-every", "7",
                              *(["--generate", "4"] if command == "deblur" else [])])
    assert args.no_progress and args.resume == "last" and args.time_limit_min == 2.0
    assert args.checkpoint_every == 7
    args = parser.parse_args(["train", command, "--no-progress", "--resume", "ck.pt", "--out",
                              "x.pt", *(["--generate", "4"] if command == "deblur" else [])])
    assert args.no_progress and args.resume == "ck.pt"


@pytest.mark.parametrize("command", COMMANDS)
def test_time_limit_stops_cleanly_with_weights_checkpoint_and_provenance(command, tmp_path,
                                                                         capsys):
    """(The contrastive commands had no --time-limit-min.)"""
    rc = main(_argv(command, tmp_path, "--time-limit-min", "1e-6", "--checkpoint-every", "0"))
    assert rc == 0, capsys.readouterr().err
    assert "stopped (time limit)" in capsys.readouterr().out
    meta = json.loads((tmp_path / "w.pt.json").read_text())  # one provenance name: x.pt.json
    assert meta["stopped_by_time_limit"] is True and "torch_version" in meta
    assert (tmp_path / "w.pt").is_file() and not (tmp_path / "w.json").exists()
    ckpt = next((tmp_path / "ck").glob("*_last.pt"))
    assert load_checkpoint(ckpt)["step"] == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_a_diverged_run_ends_with_one_error_line_and_status_3(command, tmp_path, capsys,
                                                              monkeypatch):
    """(The contrastive commands died with a traceback.)"""
    real = Trainer.check_losses

    def diverge_at_step_2(self, losses):
        if self.step + 1 == 2:
            raise TrainingDivergedError("training diverged at step 2: non-finite loss (x=nan)")
        return real(self, losses)

    monkeypatch.setattr(Trainer, "check_losses", diverge_at_step_2)
    small = [] if command == "deblur" else ["--batch-size", "4"]  # two steps or more
    assert main(_argv(command, tmp_path, "--checkpoint-every", "1", *small)) == 3
    err = capsys.readouterr().err
    assert f"napari-mpi-dl train {command}: error: training diverged at step 2" in err
    assert "Traceback" not in err and not (tmp_path / "w.pt").exists()
    assert load_checkpoint(next((tmp_path / "ck").glob("*_last.pt")))["step"] == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_resume_takes_a_path_or_the_last_checkpoint_and_refuses_a_missing_one(
        command, tmp_path, capsys):
    """(``--resume`` was a path for DC_GAN but a switch that silently started over for the
    contrastive commands.)"""
    missing = tmp_path / "nothing.pt"
    assert main(_argv(command, tmp_path, "--resume", str(missing))) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and str(missing) in err and not (tmp_path / "w.pt").exists()
    assert main(_argv(command, tmp_path, "--resume")) == 2  # no checkpoint in --checkpoint-dir
    assert "does not exist" in capsys.readouterr().err
    assert main(_argv(command, tmp_path, "--time-limit-min", "1e-6")) == 0
    ckpt = next((tmp_path / "ck").glob("*_last.pt"))
    moved = tmp_path / "elsewhere.pt"
    ckpt.rename(moved)
    capsys.readouterr()
    assert main(_argv(command, tmp_path, "--resume", str(moved))) == 0
    assert f"resumed from {moved} at step 1" in capsys.readouterr().out


def test_checkpoint_every_counts_steps_for_the_contrastive_commands(tmp_path, capsys):
    assert main(_argv("recover", tmp_path, "--checkpoint-every", "1", "--batch-size", "8",
                      "--epochs", "2")) == 0
    out = capsys.readouterr().out
    ckpt = next((tmp_path / "ck").glob("*_last.pt"))
    steps = load_checkpoint(ckpt)["step"]
    assert steps > 2  # more than one step per epoch ...
    assert out.count("checkpoint ") == steps  # ... and a checkpoint after every step


def test_contrastive_sigterm_stops_with_weights_a_checkpoint_and_status_143(tmp_path):
    """A real process: SIGTERM finishes the step, writes the checkpoint and the weights."""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = _argv("recover", tmp_path, "--checkpoint-every", "1", "--epochs", "100000",
                 "--batch-size", "8")
    proc = subprocess.Popen([sys.executable, "-m", "napari_mpi_dl.cli.main", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    ck = tmp_path / "ck" / "contrastive_recovery_wo-cl_last.pt"
    try:
        deadline = time.monotonic() + 180
        while not ck.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ck.exists(), proc.communicate(timeout=10)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "napari-mpi-dl train recover: stopped by SIGTERM at step" in err
    assert "Traceback" not in err
    assert (tmp_path / "w.pt").is_file() and (tmp_path / "w.pt.json").is_file()
    assert not [p for p in (tmp_path / "ck").iterdir() if ".part" in p.name]
    step = load_checkpoint(ck)["step"]
    assert f"at step {step} " in err
