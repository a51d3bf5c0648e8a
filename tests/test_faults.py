"""Real faults against real processes: kill -9, SIGTERM, SIGINT, a second writer, a file that
appears during a run, a full disk (a small tmpfs; skipped where it cannot be mounted)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from napari_mpi_dl.io.atomic import (
    OutputBusyError,
    OutputExistsError,
    atomic_path,
    remove_stale_part_files,
    write_text_atomic,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="signals, flock, prctl and tmpfs: Linux only")

SRC = str(Path(__file__).resolve().parents[1] / "src")
CLI = [sys.executable, "-m", "napari_mpi_dl.cli.main"]
# slow enough (many small chunks) to be caught in the middle
LONG_DATASET = ["dataset", "mnist", "--split", "all", "--size", "151", "--chunk-size", "5",
                "--no-progress"]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _start(args, *, ignore_sigint: bool = False, cwd=None) -> subprocess.Popen:
    """Start the CLI in its own session (like ``cmd &`` in a script)."""
    def pre():
        if ignore_sigint:  # what a non-interactive shell does to background jobs
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True, preexec_fn=pre, cwd=cwd)


def _wait_for(cond, timeout: float = 90.0) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def _parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(v) for v in out.split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _finish(proc: subprocess.Popen, sig) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def test_second_writer_is_refused_and_sigterm_cleans_up(tmp_path):
    out = tmp_path / "set.h5"
    first = _start([*LONG_DATASET, "-o", out])
    try:
        _wait_for(lambda: _parts(tmp_path))
        second = subprocess.run([*CLI, "dataset", "two-tube", "--no-progress", "-o", str(out)],
                                capture_output=True, text=True, env=_env(), timeout=120)
        assert second.returncode == 1
        err = second.stderr.strip().splitlines()
        assert len(err) == 1 and "being written by another process" in err[0]
        assert str(out) in err[0] and f"pid {first.pid}" in err[0]
        assert not out.exists()
        rc, err = _finish(first, signal.SIGTERM)
    finally:
        if first.poll() is None:
            first.kill()
    assert rc == 143 and "stopped by SIGTERM" in err and "Traceback" not in err
    assert not out.exists() and _parts(tmp_path) == []


def test_kill_9_of_process_executor_takes_its_workers_and_the_next_run_removes_the_part(
        tmp_path):
    out = tmp_path / "set.h5"
    proc = _start([*LONG_DATASET, "--executor", "process", "--workers", "2", "-o", out])
    try:
        _wait_for(lambda: _parts(tmp_path) and len(_children(proc.pid)) >= 2)
        workers = _children(proc.pid)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    _wait_for(lambda: not any(_alive(w) for w in workers), timeout=10)
    stale = _parts(tmp_path)
    assert len(stale) == 1 and f".{proc.pid}." in stale[0]
    write_text_atomic(tmp_path / "other.txt", "a later run in the same folder")
    assert _parts(tmp_path) == []


def test_sigint_stops_a_background_run_and_its_workers_cleanly(tmp_path):
    """Started with SIGINT ignored (``cmd &`` in a script), ``kill -INT`` still stops it.
    (The thread executor is stopped by SIGTERM in the test above.)"""
    out = tmp_path / "set.h5"
    proc = _start([*LONG_DATASET, "--executor", "process", "-o", out], ignore_sigint=True)
    try:
        _wait_for(lambda: _parts(tmp_path))
        workers = _children(proc.pid)
        rc, err = _finish(proc, signal.SIGINT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 130 and "interrupted" in err and "Traceback" not in err
    _wait_for(lambda: not any(_alive(w) for w in workers), timeout=10)
    assert not out.exists() and _parts(tmp_path) == []


def test_a_file_appearing_during_the_write_is_never_replaced(tmp_path):
    target = tmp_path / "result.txt"
    with pytest.raises(OutputExistsError, match="appeared while this run was writing"):
        with atomic_path(target, overwrite=False) as tmp:
            tmp.write_text("ours")
            target.write_text("the user's")
    assert target.read_text() == "the user's" and _parts(tmp_path) == []
    # overwrite=True replaces the file that was there at the start, not a new one
    with pytest.raises(OutputExistsError, match="changed by someone else"):
        with atomic_path(target, overwrite=True) as tmp:
            tmp.write_text("ours")
            target.unlink()
            target.write_text("swapped in")
    assert target.read_text() == "swapped in"
    with atomic_path(target, overwrite=True) as tmp:
        tmp.write_text("ours")
    assert target.read_text() == "ours"
    with pytest.raises(OutputExistsError, match="exists"):
        with atomic_path(target, overwrite=False):
            pass


def test_lock_refuses_a_second_writer_in_another_process(tmp_path):
    target = tmp_path / "x.h5"
    code = ("import sys, time\nfrom napari_mpi_dl.io.atomic import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n    print('in', flush=True)\n"
            "    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(target)], env=_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "in"
        with pytest.raises(OutputBusyError, match=f"pid {holder.pid}"):
            with atomic_path(target):
                pass
        assert remove_stale_part_files(tmp_path) == []  # its part file is alive: kept
        holder.kill()
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
    with atomic_path(target) as tmp:  # the dead holder's lock and part file are gone
        tmp.write_text("mine")
    assert target.read_text() == "mine" and _parts(tmp_path) == []


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small file system to fill")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_gives_one_line_and_keeps_the_previous_file(small_tmpfs):
    previous = small_tmpfs / "native.npy"
    np.save(previous, np.arange(4.0))
    before = previous.read_bytes()
    res = subprocess.run([*CLI, "simulate", "two-tube", "--size", "900", "-o", str(previous)],
                         capture_output=True, text=True, env=_env(), timeout=300)
    assert res.returncode == 1
    err = res.stderr.strip().splitlines()
    assert err == [f"napari-mpi-dl simulate: error: no space left on device while writing "
                   f"{previous}; nothing was written, the previous file is intact"]
    assert previous.read_bytes() == before and _parts(small_tmpfs) == []
    # HDF5 (h5py) writes from a thread pool: same line, no traceback, no segfault
    res = subprocess.run([*CLI, "dataset", "two-tube", "--size", "401", "--no-progress", "-o",
                          str(small_tmpfs / "set.h5")], capture_output=True, text=True,
                         env=_env(), timeout=300)
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"napari-mpi-dl dataset: error: no space left on device while writing "
        f"{small_tmpfs / 'set.h5'}; nothing was written, no file was left there"]
    assert _parts(small_tmpfs) == [] and not (small_tmpfs / "set.h5").exists()


TRAIN = ["train", "deblur", "--generate", "8", "--rl-iterations", "5", "--ngf", "4",
         "--n-blocks", "1", "--nce-layers", "0,2,4", "--ndf", "4", "--d-layers", "1",
         "--num-patches", "16", "--no-progress", "--threads", "1", "--device", "cpu",
         "--crop-size", "32", "--steps", "100000"]


def test_training_sigterm_stops_with_a_status_and_leaves_no_part_file(tmp_path):
    """(kill -9 leaves a part file like any writer; the next write removes it: tested above.)"""
    ck = tmp_path / "run"
    proc = _start([*TRAIN, "--checkpoint-every", "1", "--checkpoint-dir", ck])
    try:
        _wait_for(lambda: proc.poll() is not None or (ck / "dcgan_last.pt").exists(),
                  timeout=180)
        time.sleep(1.0)
        rc, err = _finish(proc, signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 143, err
    assert "stopped by SIGTERM at step" in err and "Traceback" not in err
    assert (ck / "dcgan_weights.pt").exists()
    assert _parts(ck) == []

