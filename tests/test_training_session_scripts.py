"""The scripts of a prepared training session (a GPU machine without an install): the package
as ``python -m napari_mpi_dl``, parallel realistic data, and the generator snapshots that the
checkpoint selection scores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_python_dash_m_runs_the_command_line():
    out = subprocess.run([sys.executable, "-m", "napari_mpi_dl", "train", "deblur", "--help"],
                         capture_output=True, text=True, env=_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--workers" in out.stdout and "napari-mpi-dl train deblur" in out.stdout


def test_snapshots_keep_each_checkpoints_generator_with_the_datas_card(tmp_path):
    """A 4-step run checkpointing every 2 steps: the watcher's files are weights files (the
    generator of that step, the data's card) that deblur loads; a stop file ends the watcher."""
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.dcgan.data import Domains, save_domains
    from napari_mpi_dl.dcgan.realistic_data import RealisticConfig, realistic_card
    from napari_mpi_dl.dcgan.weights import read_card, read_generator_state

    rng = np.random.default_rng(0)
    card = realistic_card(RealisticConfig(n_x=3, n_y=2)).to_dict()
    data = save_domains(tmp_path / "d.npz", Domains.from_arrays(
        rng.random((3, 101, 101)), rng.random((2, 101, 101)), card=card, source="test"))
    ck = tmp_path / "run"
    assert main(["train", "deblur", "--data", str(data), "--steps", "4", "--ngf", "4",
                 "--n-blocks", "1", "--ndf", "4", "--d-layers", "1", "--nce-layers", "0,2",
                 "--num-patches", "8", "--checkpoint-every", "2", "--checkpoint-dir", str(ck),
                 "--no-progress", "--threads", "1"]) == 0
    (tmp_path / "stop").touch()  # one look, then exit
    out = subprocess.run([sys.executable, str(ROOT / "scripts/snapshot_dcgan_checkpoints.py"),
                          "--domains", str(data), "--stop-file", str(tmp_path / "stop"),
                          str(ck)], capture_output=True, text=True, env=_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    snap = ck / "g_step4.pt"
    assert snap.exists() and "run: step 4" in out.stdout
    cfg, state, info = read_generator_state(snap)
    _, last, _ = read_generator_state(ck / "dcgan_last.pt")
    assert cfg.ngf == 4 and not info.get("checkpoint")
    for k, v in last.items():  # the checkpoint's generator, in float16
        np.testing.assert_allclose(state[k].float().numpy(), v.float().numpy(), atol=2e-3)
    _, got = read_card(snap)
    assert got.to_dict() == card
    assert not list(ck.glob(".g_snapshot*"))  # no litter
    # a weights file converts too (its card replaced by the one given)
    from napari_mpi_dl.dcgan.weights import export_generator

    assert export_generator(ck / "dcgan_weights.pt", tmp_path / "w.pt", card=card) == 4
    assert read_generator_state(tmp_path / "w.pt")[0] == cfg
