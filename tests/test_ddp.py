"""DC_GAN data-parallel training under torchrun (DDP): 2 CPU processes, gloo, 3 steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


def test_two_gloo_processes_train_in_lockstep(tmp_path):
    worker = Path(__file__).parent / "ddp_worker.py"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(worker), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in records] == [0, 1]
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" and r["step"] == 3
               for r in records)
    # Every network is trained through its own DistributedDataParallel wrapper ...
    assert all(r["ddp"] == ["D_X", "D_Y", "F", "G", "H_X", "H_Y"] for r in records)
    # ... which averaged the gradients: both ranks hold the same weights after 3 steps ...
    assert records[0]["per_net"] == records[1]["per_net"]
    assert records[0]["checksum"] == records[1]["checksum"]
    assert records[0]["abs_checksum"] == records[1]["abs_checksum"]
    # ... and report the same (all-reduced) losses, although each drew its own batches.
    assert records[0]["losses"] == records[1]["losses"]
    # Only rank 0 wrote the checkpoint, atomically (no temporary files left).
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == ["dcgan_last.pt"]
    ck = torch.load(tmp_path / "ckpt" / "dcgan_last.pt", weights_only=True)
    assert ck["step"] == 3
