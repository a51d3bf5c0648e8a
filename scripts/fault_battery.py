"""Fault battery: hostile inputs and real faults against the ``napari-mpi-dl`` command.

Every case runs the CLI as a real subprocess (kills, signals, a full tmpfs, concurrent writers,
malformed files) and is classified as

* ``ok``      expected success, finite output of the right shape;
* ``clear``   expected failure: non-zero exit, no traceback, a short message with the hint;
* ``unclear`` failure without a traceback but the message misses the file/argument/hint;
* ``crash``   traceback, death by a signal, or a leak (orphaned workers, temp files left);
* ``silent``  exit 0 where an error was due, or NaN/Inf/all-zero/wrong-shape output;
* ``lost``    a file the user did not ask to replace was replaced or a result silently vanished.

Usage (9 minutes on 2 idle cores, up to 40 when they are shared)::

    PYTHONPATH=src python scripts/fault_battery.py [--only WORD] [-v]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CLI = [sys.executable, "-m", "napari_mpi_dl.cli.main"]
RESULTS: list[tuple[str, str, str]] = []


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("OMP_NUM_THREADS", "1")
    return e


def run(args, *, timeout=180, cwd=None):
    p = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=env(), cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def record(name: str, verdict: str, detail: str = "") -> None:
    RESULTS.append((name, verdict, detail))
    if VERBOSE or verdict not in ("ok", "clear"):
        print(f"  {verdict:8s} {name}: {detail[:200]}", flush=True)


def judge_error(name, rc, err, hint="", forbid=()):
    """A case that must fail."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    if "Traceback" in err or rc < 0 or rc >= 128 and rc not in (130, 143):
        return record(name, "crash", f"rc {rc}: {last}")
    if rc == 0:
        return record(name, "silent", "exit 0")
    missing = [h for h in (hint if isinstance(hint, list | tuple) else [hint]) if h
               and h.lower() not in err.lower()]
    bad = [f for f in forbid if f.lower() in err.lower()]
    if missing or bad or len(lines) > 3:
        return record(name, "unclear", f"rc {rc}: {last} (missing {missing}, has {bad})")
    return record(name, "clear", last)


def judge_output(name, rc, err, out_path, shape=None):
    """A case that may succeed, but then the output must be finite, non-zero, right shape."""
    if "Traceback" in err or rc < 0 or rc >= 128:
        return record(name, "crash", f"rc {rc}: {err.strip().splitlines()[-1:]}")
    if rc != 0:
        return record(name, "clear", err.strip().splitlines()[-1] if err.strip() else "")
    try:
        arr = read_any(out_path)
    except Exception as exc:  # noqa: BLE001
        return record(name, "silent", f"exit 0 but output unreadable: {exc}")
    if not np.all(np.isfinite(arr)):
        return record(name, "silent", "exit 0 with NaN/Inf output")
    if not np.any(arr):
        return record(name, "silent", "exit 0 with an all-zero output")
    if np.ptp(arr) == 0:
        return record(name, "silent", "exit 0 with a constant output")
    if shape is not None and arr.shape != tuple(shape):
        return record(name, "silent", f"exit 0 with shape {arr.shape}, expected {shape}")
    return record(name, "ok", f"shape {arr.shape}")


def read_any(path):
    path = str(path)
    if path.endswith(".npy"):
        return np.load(path)
    import tifffile

    return tifffile.imread(path)


# ---------------------------------------------------------------- image-file inputs


def image_cases(tmp: Path) -> None:
    good = tmp / "good.npy"
    rc, _, err = run(["simulate", "two-tube", "-o", good])
    assert rc == 0, err
    img = np.load(good)
    bad = {}
    (tmp / "empty.npy").write_bytes(b"")
    bad["empty.npy"] = tmp / "empty.npy"
    (tmp / "text.npy").write_text("hello, this is not an array\n")
    bad["text.npy"] = tmp / "text.npy"
    (tmp / "random.npy").write_bytes(np.random.default_rng(0).bytes(4000))
    bad["random.npy"] = tmp / "random.npy"
    data = good.read_bytes()
    (tmp / "truncated.npy").write_bytes(data[: len(data) // 2])
    bad["truncated.npy"] = tmp / "truncated.npy"
    import tifffile

    tifffile.imwrite(tmp / "good.tif", img.astype(np.float32))
    tdata = (tmp / "good.tif").read_bytes()
    (tmp / "truncated.tif").write_bytes(tdata[: len(tdata) // 2])
    bad["truncated.tif"] = tmp / "truncated.tif"
    (tmp / "empty.tif").write_bytes(b"")
    bad["empty.tif"] = tmp / "empty.tif"
    np.save(tmp / "zerosize.npy", np.zeros((0, 0)))
    bad["zerosize.npy"] = tmp / "zerosize.npy"
    for label, path in bad.items():
        stem = path.name
        judge_error(f"simulate --phantom-file {label}",
                    *run(["simulate", "--phantom-file", path, "-o", tmp / "o1.npy"])[::2],
                    hint=stem, forbid=("allow_pickle", "pickled"))
        judge_error(f"deconvolve {label}",
                    *run(["deconvolve", path, "--out", tmp / "o2.npy"])[::2], hint=stem,
                    forbid=("allow_pickle", "pickled"))
        judge_error(f"profile {label}",
                    *run(["profile", path, "--start", 0, -5, "--end", 0, 5])[::2], hint=stem,
                    forbid=("allow_pickle", "pickled"))
        judge_error(f"dataset files {label}",
                    *run(["dataset", "files", path, "-o", tmp / "o3.h5", "--no-progress"])[::2],
                    hint=stem, forbid=("allow_pickle", "pickled"))
    for label in ("empty.npy", "text.npy", "truncated.tif"):
        judge_error(f"deblur {label}",
                    *run(["deblur", bad[label], "--out", tmp / "o4.npy"])[::2], hint=label,
                    forbid=("allow_pickle", "pickled"))
    rgb = np.stack([img] * 3, axis=-1).astype(np.float32)
    tifffile.imwrite(tmp / "rgb.tif", rgb, photometric="rgb")
    judge_error("deblur RGB tif", *run(["deblur", tmp / "rgb.tif", "--out", tmp / "o5.npy"])[::2],
                hint="rgb.tif", forbid=("(101, 3)",))
    neg = tmp / "negative.npy"
    np.save(neg, -np.abs(img) - 1.0)
    judge_error("deconvolve all-negative image",
                *run(["deconvolve", neg, "--out", tmp / "o6.npy"])[::2], hint="negative")
    # output path problems
    (tmp / "adir.npy").mkdir(exist_ok=True)
    judge_error("simulate -o DIRECTORY",
                *run(["simulate", "two-tube", "-o", tmp / "adir.npy"])[::2],
                hint="adir.npy")
    judge_error("simulate -o /proc/p.npy", *run(["simulate", "two-tube", "-o", "/proc/p.npy"])[::2],
                hint="/proc/p.npy", forbid=(".part",))
    judge_error("simulate -o missing-dir/x.npy (read-only parent)",
                *run(["simulate", "two-tube", "-o", "/proc/nodir/x.npy"])[::2], hint="/proc/nodir")


def profile_cases(tmp: Path) -> None:
    good = tmp / "p.npy"
    run(["simulate", "two-tube", "--gap-mm", "1.4", "-o", good])
    img = np.load(good)
    results = {}
    for factor in (1e-3, 1.0, 1e3):
        path = tmp / f"p_{factor:g}.npy"
        np.save(path, img * factor)
        rc, out, err = run(["profile", path, "--start", 0, -6, "--end", 0, 6, "--json"])
        if rc != 0:
            results[factor] = ("error", err.strip()[-100:])
            continue
        rec = json.loads(out)
        fwhm = [None if f is None else round(f, 6) for f in rec["fwhm_mm"]]
        results[factor] = (rec["n_peaks"], [round(p, 6) for p in rec["peaks_mm"]], fwhm)
    same = len({json.dumps(v) for v in results.values()}) == 1
    record("profile scale invariance x1e-3/x1/x1e3", "ok" if same else "silent",
           json.dumps({str(k): v for k, v in results.items()}))


def simulate_cases(tmp: Path) -> None:
    big = tmp / "huge_values.npy"
    np.save(big, np.full((101, 101), 1e37, dtype=np.float32))
    judge_output("simulate phantom of 1e37", *run(["simulate", "--phantom-file", big, "-o",
                                                   tmp / "s1.npy"])[::2], tmp / "s1.npy")
    judge_output("simulate --size 1", *run(["simulate", "two-tube", "--size", 1, "-o",
                                            tmp / "s2.npy"])[::2], tmp / "s2.npy")
    judge_output("simulate --fov-mm 1e9", *run(["simulate", "two-tube", "--fov-mm", "1e9", "-o",
                                                tmp / "s3.npy"])[::2], tmp / "s3.npy")
    judge_error("simulate --size 100000", *run(["simulate", "two-tube", "--size", 100000, "-o",
                                                tmp / "s4.npy"])[::2], hint="memory")
    judge_error("simulate --relaxation-time-s -1e-6",
                *run(["simulate", "two-tube", "--relaxation-time-s", "-1e-6", "-o",
                      tmp / "s5.npy"])[::2], hint="relaxation", forbid=("expected one argument",))
    judge_error("simulate --snr-db -inf",
                *run(["simulate", "two-tube", "--snr-db", "-inf", "-o", tmp / "s6.npy"])[::2],
                hint="snr", forbid=("expected one argument",))
    judge_error("simulate --snr-db nan",
                *run(["simulate", "two-tube", "--snr-db", "nan", "-o", tmp / "s7.npy"])[::2],
                hint="snr")
    judge_error("simulate --fov-mm 0",
                *run(["simulate", "two-tube", "--fov-mm", "0", "-o", tmp / "s8.npy"])[::2],
                hint="fov")
    judge_error("simulate --gradient-t-per-m -1",
                *run(["simulate", "two-tube", "--gradient-t-per-m=-1", "-o", tmp / "s9.npy"])[::2],
                hint="gradient")
    judge_error("dataset --overwrite absent -o x.txt",
                *run(["dataset", "two-tube", "-o", tmp / "x.txt", "--no-progress"])[::2],
                hint=".h5")


# ---------------------------------------------------------------- models


def model_cases(tmp: Path) -> None:
    import torch

    from napari_mpi_dl.dcgan.weights import read_generator_state, shipped_weights_path

    img = tmp / "native.npy"
    run(["simulate", "two-tube", "-o", img])
    payload = torch.load(shipped_weights_path(), map_location="cpu", weights_only=False)
    payload["state_dict"] = {k: torch.zeros_like(v) if v.is_floating_point() else v
                             for k, v in payload["state_dict"].items()}
    zero = tmp / "zero_weights.pt"
    torch.save(payload, zero)
    read_generator_state(zero)
    judge_error("deblur with all-zero weights",
                *run(["deblur", img, "--out", tmp / "d1.npy", "--weights", zero])[::2],
                hint="zero")
    contrastive = sorted((ROOT / "src/napari_mpi_dl/resources").glob("contrastive*.pt"))
    if contrastive:
        judge_error("deblur --weights CONTRASTIVE_MODEL",
                    *run(["deblur", img, "--out", tmp / "d2.npy", "--weights",
                          contrastive[0]])[::2], hint="contrastive",
                    forbid=("UnpicklingError",))
    (tmp / "garbage.pt").write_bytes(b"\x00" * 100)
    judge_error("deblur --weights garbage.pt",
                *run(["deblur", img, "--out", tmp / "d3.npy", "--weights",
                      tmp / "garbage.pt"])[::2], hint="garbage.pt")
    huge = tmp / "huge.npy"
    np.lib.format.open_memmap(huge, mode="w+", dtype=np.float32, shape=(4000, 4000))[:] = 1.0
    arr = np.load(huge, mmap_mode="r+")
    arr[2000, 2000] = 5.0
    del arr
    p = subprocess.run(
        [*CLI, "deblur", huge, "--out", tmp / "d4.npy"], capture_output=True, text=True,
        env={**env()}, timeout=300,
        preexec_fn=lambda: _limit_memory(3 * 1024**3))
    judge_error("deblur 4000x4000 under a 3 GiB address-space limit", p.returncode, p.stderr,
                hint="memory")


def _limit_memory(nbytes: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))


TRAIN = ["train", "deblur", "--generate", 8, "--rl-iterations", 5, "--ngf", 4, "--n-blocks", 1,
         "--nce-layers", "0,2,4",
         "--ndf", 4, "--d-layers", 1, "--num-patches", 16, "--no-progress", "--threads", 1,
         "--device", "cpu", "--crop-size", 32]


def training_cases(tmp: Path) -> None:
    ck = tmp / "run"
    rc, out, err = run([*TRAIN, "--steps", 6, "--checkpoint-every", 3, "--checkpoint-dir", ck])
    if rc != 0:
        return record("train deblur (setup)", "crash", err.strip()[-200:])
    weights = ck / "dcgan_weights.pt"
    before = weights.stat().st_mtime_ns
    rc, out, err = run([*TRAIN, "--steps", 2, "--checkpoint-dir", ck, "--resume"])
    if rc == 0:
        changed = weights.stat().st_mtime_ns != before
        record("train deblur --resume --steps 2 on a step-6 checkpoint", "silent",
               f"exit 0 ({'weights rewritten' if changed else 'weights kept'}): "
               f"{out.strip()[-80:]}")
    else:
        judge_error("train deblur --resume --steps 2 on a step-6 checkpoint", rc, err,
                    hint="step")
    # SIGTERM during training
    ck2 = tmp / "run2"
    proc = subprocess.Popen([*CLI, *map(str, [*TRAIN, "--steps", 100000, "--checkpoint-every", 5,
                             "--checkpoint-dir", ck2])], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())
    _wait_for(lambda: (ck2 / "dcgan_last.pt").exists(), 120)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        record("train deblur SIGTERM", "silent", f"exit 0: {out.strip()[-80:]}")
    elif "Traceback" in err or proc.returncode < 0:
        record("train deblur SIGTERM", "crash", f"rc {proc.returncode}")
    elif "stopped" in (out + err).lower():
        record("train deblur SIGTERM", "clear", f"rc {proc.returncode}")
    else:
        record("train deblur SIGTERM", "unclear", f"rc {proc.returncode}: {err[-100:]}")
    # kill -9 during training: no part files may remain after the next run
    ck3 = tmp / "run3"
    proc = subprocess.Popen([*CLI, *map(str, [*TRAIN, "--steps", 100000, "--checkpoint-every", 1,
                             "--checkpoint-dir", ck3])], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env())
    _wait_for(lambda: (ck3 / "dcgan_last.pt").exists(), 120)
    time.sleep(1.0)
    proc.kill()
    proc.wait()
    rc, out, err = run([*TRAIN, "--steps", 1, "--checkpoint-dir", ck3, "--out",
                        ck3 / "w.pt"])
    parts = [p.name for p in ck3.iterdir() if ".part" in p.name]
    record("train deblur kill -9 then a new run: part files", "crash" if parts else "ok",
           f"left: {parts}")


def _wait_for(cond, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------- dataset faults


DATASET = ["dataset", "mnist", "--split", "all", "-n", 800, "--size", 151, "--no-progress",
           "--chunk-size", 10]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(v) for v in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def dataset_cases(tmp: Path) -> None:
    # a file put at the output path during the run
    out = tmp / "user.h5"
    proc = subprocess.Popen([*CLI, *map(str, DATASET), "-o", out], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())
    _wait_for(lambda: any(".part" in p.name for p in tmp.iterdir()), 60)
    out.write_text("the user's precious file\n")
    _, err = proc.communicate(timeout=300)
    kept = out.read_text(errors="replace") == "the user's precious file\n"
    if not kept:
        record("dataset: file created at -o during the run", "lost",
               f"rc {proc.returncode}, user's file replaced")
    else:
        judge_error("dataset: file created at -o during the run", proc.returncode, err,
                    hint="user.h5")
    # two concurrent writers
    out2 = tmp / "both.h5"
    procs = [subprocess.Popen([*CLI, *map(str, DATASET), "--seed", str(i), "-o",
                               out2], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env()) for i in range(2)]
    res = [p.communicate(timeout=300) for p in procs]
    rcs = [p.returncode for p in procs]
    if rcs.count(0) == 2:
        record("dataset: two concurrent writers", "lost", "both exit 0, one result gone")
    elif rcs.count(0) == 1:
        loser = res[rcs.index(next(r for r in rcs if r != 0))][1]
        judge_error("dataset: two concurrent writers", max(rcs), loser, hint="both.h5")
    else:
        record("dataset: two concurrent writers", "crash", f"rcs {rcs}")
    # --overwrite while another file appears: replace only what existed at the start
    out3 = tmp / "old.h5"
    out3.write_text("old")
    proc = subprocess.Popen([*CLI, *map(str, DATASET), "-o", out3, "--overwrite"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    _wait_for(lambda: any(".part" in p.name and "old.h5" in p.name for p in tmp.iterdir()), 60)
    out3.unlink()
    out3.write_text("new user file")
    _, err = proc.communicate(timeout=300)
    if out3.read_text(errors="replace") != "new user file":
        record("dataset --overwrite: file replaced by the user during the run", "lost",
               f"rc {proc.returncode}")
    else:
        judge_error("dataset --overwrite: file replaced by the user during the run",
                    proc.returncode, err, hint="old.h5")
    # kills
    for executor in ("thread", "process"):
        for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            kill_case(tmp, executor, sig)


def kill_case(tmp: Path, executor: str, sig) -> None:
    d = tmp / f"kill_{executor}_{sig.name}"
    d.mkdir()
    out = d / "k.h5"
    # start_new_session: like a script's "cmd &" the child has its own process group
    # stderr to a file: orphaned workers would hold a pipe open and block communicate()
    errfile = open(d / "stderr.txt", "w+")  # noqa: SIM115
    proc = subprocess.Popen([*CLI, *map(str, DATASET), "--executor", executor, "--workers", "2",
                             "-o", out], stdout=subprocess.DEVNULL, stderr=errfile,
                            text=True, env=env(), start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    _wait_for(lambda: any(".part" in p.name for p in d.iterdir()), 60)
    time.sleep(1.5)
    workers = _children(proc.pid) if executor == "process" else []
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        record(f"dataset {executor} {sig.name}", "crash", "ignored the signal for 30 s")
        return
    errfile.seek(0)
    err = errfile.read()
    errfile.close()
    time.sleep(3.0)
    alive = [w for w in workers if _alive(w)]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    parts = [p.name for p in d.iterdir() if ".part" in p.name]
    name = f"dataset {executor} {sig.name}"
    if alive:
        return record(name, "crash", f"{len(alive)} worker(s) alive 3 s after the parent died")
    if sig == signal.SIGKILL:
        # the next run must remove the dead process's part file
        subprocess.run([*CLI, "dataset", "two-tube", "--no-progress", "-o", d / "other.h5"],
                       capture_output=True, env=env())
        subprocess.run([*CLI, "dataset", "two-tube", "--no-progress", "-o", out],
                       capture_output=True, env=env())
        parts = [p.name for p in d.iterdir() if ".part" in p.name]
        return record(name, "crash" if parts else "ok",
                      f"part files after the next run: {parts}" if parts else "cleaned")
    if parts:
        return record(name, "crash", f"part files left: {parts}")
    if "Traceback" in err:
        return record(name, "crash", "traceback")
    if proc.returncode in (0,):
        return record(name, "silent", "exit 0 after a signal")
    record(name, "clear", f"rc {proc.returncode}")


# ---------------------------------------------------------------- full disk


def disk_full_cases(tmp: Path) -> None:
    mnt = tmp / "tmpfs"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        record("disk full", "skipped", f"cannot mount a tmpfs: {p.stderr.strip()}")
        RESULTS.pop()
        print(f"  skipped disk-full cases: {p.stderr.strip()}")
        return
    try:
        (mnt / "previous.h5").write_text("previous")
        cases = [
            ("dataset on a full disk", [*DATASET, "-n", "600", "-o", mnt / "previous.h5",
                                        "--overwrite"]),
            ("dataset --executor process on a full disk",
             [*DATASET, "-n", "600", "--executor", "process", "-o", mnt / "d2.h5"]),
            ("simulate on a full disk", ["simulate", "two-tube", "--size", "1500", "-o",
                                         mnt / "s.npy"]),
            ("sm simulate on a full disk", ["sm", "simulate", "--preset", "test", "--size", 60,
                                            60, "--no-progress", "-o", mnt / "sm.mdf"]),
            ("train deblur on a full disk", [*TRAIN, "--steps", 2, "--ngf", 64, "--ndf", 64,
                                             "--checkpoint-dir", mnt / "run"]),
        ]
        filler = mnt / "filler"
        for label, argv in cases:
            # leave ~2 MB free
            with open(filler, "wb") as fh:
                try:
                    free = shutil.disk_usage(mnt).free
                    fh.write(b"\0" * max(0, free - 2_000_000))
                except OSError:
                    pass
            rc, out, err = run(argv, timeout=300)
            judge_error(label, rc, err, hint=["no space left", "nothing was written"])
            filler.unlink()
            leftovers = [x.name for x in mnt.rglob("*") if ".part" in x.name]
            if leftovers:
                record(label + ": temp files", "crash", f"left {leftovers}")
        if (mnt / "previous.h5").read_text(errors="replace") != "previous":
            record("disk full: previous file", "lost", "previous.h5 damaged")
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


# ---------------------------------------------------------------- MDF


def mdf_cases(tmp: Path) -> None:
    from malformed_mdf import malformed_mdf_cases
    from mdf_helpers import small_measurement, small_system_matrix

    from napari_mpi_dl.io.mdf_write import write_measurement, write_system_matrix

    sm = write_system_matrix(tmp / "sm.mdf", small_system_matrix())
    meas = write_measurement(tmp / "meas.mdf", small_measurement(num_frames=2))
    rc, out, err = run(["reco", "--sm", sm, "--meas", meas, "--out", tmp / "r0.npy",
                        "--no-progress"])
    assert rc == 0, err
    good_shape = np.load(tmp / "r0.npy").shape
    cases = malformed_mdf_cases(sm, meas, tmp / "bad")
    reader = (
        "import sys, numpy as np\n"
        "from napari_mpi_dl.napari_io.mdf_reader import get_reader\n"
        "r = get_reader(sys.argv[1])\n"
        "if r is None:\n"
        "    print('no reader'); sys.exit(5)\n"
        "try:\n"
        "    layers = r(sys.argv[1])\n"
        "except (ValueError, OSError) as e:\n"
        "    print('error:', e, file=sys.stderr); sys.exit(2)\n"
        "bad = [m.get('name') for d, m, k in layers if not np.all(np.isfinite(np.asarray(d)))\n"
        "       or not np.any(np.asarray(d)) or any(not (np.isfinite(s) and s > 0)\n"
        "       for s in m.get('scale', [1]))]\n"
        "print('bad layers', bad) if bad else print('ok', [np.shape(d) for d, m, k in layers])\n"
        "sys.exit(9 if bad else 0)\n")
    for case in cases:
        info = run(["sm", "info", case.path])
        if case.role == "sm":
            reco = run(["reco", "--sm", case.path, "--meas", meas, "--out",
                        tmp / f"r_{case.name}.npy", "--no-progress"])
        else:
            reco = run(["reco", "--sm", sm, "--meas", case.path, "--out",
                        tmp / f"r_{case.name}.npy", "--no-progress"])
        single = tmp / "napari" / case.name
        single.mkdir(parents=True)
        shutil.copy(case.path, single / case.path.name)
        p = subprocess.run([sys.executable, "-c", reader, str(single / case.path.name)],
                           capture_output=True, text=True, env=env(), timeout=120)
        hint = [case.path.name, case.hint] if case.hint else [case.path.name]
        if case.must_fail:
            judge_error(f"sm info {case.name}", info[0], info[2], hint=hint)
            judge_error(f"reco {case.name}", reco[0], reco[2], hint=hint)
            if p.returncode == 5:
                record(f"napari reader {case.name}", "unclear", "no reader (file not claimed)")
            elif p.returncode == 9:
                record(f"napari reader {case.name}", "silent", p.stdout.strip())
            else:
                judge_error(f"napari reader {case.name}", p.returncode, p.stderr, hint=hint)
        else:
            for label, res in (("sm info", info), ("reco", reco)):
                if "Traceback" in res[2] or res[0] < 0 or res[0] >= 128:
                    record(f"{label} {case.name}", "crash", res[2].strip()[-150:])
                elif label == "reco" and res[0] == 0:
                    judge_output(f"{label} {case.name}", *res[::2], tmp / f"r_{case.name}.npy",
                                 good_shape)
                else:
                    record(f"{label} {case.name}", "clear" if res[0] else "ok",
                           res[2].strip()[-100:])
            if "Traceback" in p.stderr or p.returncode < 0:
                record(f"napari reader {case.name}", "crash", p.stderr.strip()[-150:])
            elif p.returncode == 9:
                record(f"napari reader {case.name}", "silent", p.stdout.strip())
            else:
                record(f"napari reader {case.name}", "clear" if p.returncode else "ok", "")


GROUPS = {"image": image_cases, "profile": profile_cases, "simulate": simulate_cases,
          "model": model_cases, "training": training_cases, "mdf": mdf_cases,
          "dataset": dataset_cases, "disk": disk_full_cases}
VERBOSE = False


def main(argv=None) -> int:
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", choices=sorted(GROUPS), default=None)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--json", default=None, help="also write the per-case results here")
    args = ap.parse_args(argv)
    VERBOSE = args.verbose
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="fault_battery_") as tmp:
        for name, fn in GROUPS.items():
            if args.only and name not in args.only:
                continue
            print(f"[{name}]", flush=True)
            d = Path(tmp) / name
            d.mkdir()
            try:
                fn(d)
            except Exception as exc:  # noqa: BLE001 - the battery itself must finish
                record(f"{name} (battery error)", "crash", f"{type(exc).__name__}: {exc}")
            if args.json:  # after every group: a timeout keeps what was done
                Path(args.json).write_text(json.dumps(RESULTS, indent=1))
    counts = Counter(v for _, v, _ in RESULTS)
    order = ("ok", "clear", "unclear", "crash", "silent", "lost")
    print(f"\ntried {len(RESULTS)}: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in order)
          + f"  ({time.time() - t0:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(RESULTS, indent=1))
    return 0 if not (counts["crash"] or counts["silent"] or counts["lost"]) else 1


if __name__ == "__main__":
    sys.exit(main())
