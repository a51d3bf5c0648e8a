"""Benchmark: how long does each dock take to open, and how long does the napari event loop stall
while it runs?

Each dock is measured in its own Python process (so imports count as a user would feel them):
a shown viewer is created first (not timed), then the dock's module is imported, the dock built
and docked - the "open" time. The dock then runs its main operation on a small input a user could
choose (the simulator and the DC_GAN training dock on their defaults, a 101 x 101 two-tube native
image for Deblur / Deconvolve, small simulated MDF files for the MDF and contrastive docks); a
10 ms QTimer in the main thread records the gaps between its ticks, and the longest gap is the
longest stall a user would feel; it is also reported without the gaps in which napari inserted a
layer (the result, a preview: napari builds the layer's controls and visual in the main thread),
i.e. the stall the dock's own work causes. The open itself is a stall, reported separately, and
so is the longest stall while the dock's warm-up worker runs (imports, napari's layer machinery).

The operation runs ``--repeat`` times (default 2; training docks once) in the same process: the
first run's first insertion is the dock's first result of the session ("1st insertion"; for
Deblur and Deconvolve the input layer was added before, as a user's would be), "later
insertions" the longest of the others (the second layer of the same result, the later runs'),
"later runs" the longest stall of the later runs. ``--times N`` measures each dock in N
processes and prints medians. Also recorded: the gaps during an idle second in the same process
(a busy machine stalls even an idle loop). ``--json FILE`` keeps every figure.

Needs a display (run under ``xvfb-run`` on a server):

    xvfb-run -a python benchmarks/bench_gui_docks.py                 # every dock
    xvfb-run -a python benchmarks/bench_gui_docks.py --docks deblur simulator --times 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DOCKS = ("simulator", "deblur", "train_dcgan", "deconvolution", "profiles", "mdf_reconstruction",
         "recover_sm", "direct_reconstruction", "train_contrastive")
RUN_LIMIT_S = 60.0


def _spin(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)


def _native_layer(viewer):
    from napari_mpi_dl._sample_data import two_tube_series

    data, kwargs, _ = two_tube_series()[1]
    kwargs = {k: v for k, v in kwargs.items() if k not in ("axis_labels", "units")}
    kwargs["scale"], kwargs["translate"] = kwargs["scale"][1:], kwargs["translate"][1:]
    return viewer.add_image(data[3], **kwargs)


def _mdf_files(folder: Path) -> dict:
    """A 9 x 19 SM of 4 mm y pitch / 2 mm x pitch and a measurement on it (fast to simulate)."""
    from napari_mpi_dl.io.mdf_write import write_measurement, write_system_matrix
    from napari_mpi_dl.io.sm_measurement import simulate_measurement
    from napari_mpi_dl.io.sm_simulation import simulate_system_matrix
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.sm_simulation import sm_preset

    sim = sm_preset("training", grid=ImageGrid((9, 19), (36.0, 38.0)), subpoints=(2, 2, 1))
    sm = simulate_system_matrix(sim, seed=0, workers=1)
    sm_path = write_system_matrix(folder / "sm.mdf", sm)
    conc = np.zeros(sim.grid.shape)
    conc[4, 9] = 0.1
    meas = simulate_measurement(conc, sim=sim, sm=sm, num_frames=2, num_background_frames=2)
    meas_path = write_measurement(folder / "meas.mdf", meas)
    return {"sm": sm, "sm_path": str(sm_path), "meas_path": str(meas_path)}


def _stop(dock) -> None:
    for name in ("stop", "_on_run_clicked", "_on_run"):
        fn = getattr(dock, name, None)
        if callable(fn):
            fn()
            return


def _running(dock) -> bool:
    return getattr(dock, "worker", None) is not None


def _open(name: str, viewer, folder: Path):
    """Import, build and dock one dock; returns (dock, start function)."""
    if name == "simulator":
        from napari_mpi_dl.widgets.simulator import SimulatorWidget

        dock = SimulatorWidget(viewer)
        return dock, dock.run
    if name == "deblur":
        from napari_mpi_dl.widgets.deblur import DeblurWidget

        return DeblurWidget(viewer), None
    if name == "train_dcgan":
        from napari_mpi_dl.widgets.train_dock import TrainDock

        return TrainDock(viewer), None
    if name == "deconvolution":
        from napari_mpi_dl.widgets.deconvolution import DeconvolutionWidget

        return DeconvolutionWidget(viewer), None
    if name == "profiles":
        from napari_mpi_dl.widgets.profile_widget import ProfileWidget

        return ProfileWidget(viewer), None
    if name == "mdf_reconstruction":
        from napari_mpi_dl.widgets.reconstruction import ReconstructionWidget

        return ReconstructionWidget(viewer), None
    if name == "recover_sm":
        from napari_mpi_dl.widgets.recover_sm import RecoverSMWidget

        return RecoverSMWidget(viewer), None
    if name == "direct_reconstruction":
        from napari_mpi_dl.widgets.direct_reconstruction import DirectReconstructionWidget

        return DirectReconstructionWidget(viewer), None
    if name == "train_contrastive":
        from napari_mpi_dl.widgets.contrastive_training import ContrastiveTrainDock

        return ContrastiveTrainDock(viewer), None
    raise ValueError(f"unknown dock {name!r}; choose from {DOCKS}")


def _prepare(name: str, dock, viewer, folder: Path):
    """Inputs a user would choose; returns the start function (None: open time only)."""
    if name == "simulator":
        return dock.run
    if name in ("deblur", "deconvolution"):
        layer = _native_layer(viewer)
        box = getattr(dock, "_image", None)
        if box is not None:
            box.reset_choices()
            box.value = layer
        return dock.run
    if name == "train_dcgan":
        dock.n_phantoms.setValue(16)
        dock.epochs.setValue(2.0)
        dock.device.setCurrentText("cpu")
        return dock.start
    if name == "profiles":
        return None
    files = _mdf_files(folder)
    if name == "mdf_reconstruction":
        dock.sm_file.value = files["sm_path"]
        dock.meas_file.value = files["meas_path"]
        return dock.run
    if name == "recover_sm":
        from napari_mpi_dl.napari_io.mdf_reader import read_mdf_layers

        for data, kwargs, _ in read_mdf_layers(files["sm_path"]):
            viewer.add_image(data, **kwargs)
        dock.refresh_layers()
        dock.device.setCurrentText("cpu")
        return dock.run
    if name == "direct_reconstruction":
        dock.file.setText(files["meas_path"])
        dock.device.setCurrentText("cpu")
        return dock.run
    if name == "train_contrastive":
        dock.sm_path.setText(files["sm_path"])
        dock.mixtures.setValue(40)
        dock.epochs.setValue(2)
        dock.pretrain_epochs.setValue(1)
        dock.device.setCurrentText("cpu")
        return dock.start
    return None


def _run_once(app, dock, start, ticks: list, adds: list) -> dict:
    """Run the dock's operation once (Stop after ``RUN_LIMIT_S``) while the 10 ms timer ticks;
    the gaps between ticks are the stalls. Each layer insertion is reported by the gap that holds
    it (napari inserting the layer in the GUI thread)."""
    del ticks[:-1]  # the last tick before the run: a result inserted at once still has its gap
    adds.clear()
    t0 = time.perf_counter()
    worker = start()
    stopped = False
    stop_s = None
    while _running(dock) or (worker is not None and time.perf_counter() - t0 < 0.05):
        app.processEvents()
        time.sleep(0.002)
        if not stopped and time.perf_counter() - t0 > RUN_LIMIT_S:
            stopped, t_stop = True, time.perf_counter()
            _stop(dock)
    if stopped:
        stop_s = time.perf_counter() - t_stop
    _spin(app, 0.3)
    run = np.diff(ticks)
    t = np.asarray(ticks)
    holds = [[a <= x <= b for x in adds] for a, b in zip(t[:-1], t[1:], strict=True)]
    # gaps that contain no layer insertion: the stall the dock's own work causes
    own = [g for g, h in zip(run, holds, strict=True) if not any(h)]
    insert_gaps = [1000 * float(next((g for g, h in zip(run, holds, strict=True) if h[k]), 0.0))
                   for k in range(len(adds))]
    status = getattr(dock, "status", None) or getattr(dock, "_status", None)
    text = status.text() if hasattr(status, "text") and callable(status.text) else \
        getattr(status, "value", "")
    return {"run_s": time.perf_counter() - t0, "run_max_ms": 1000 * float(run.max()),
            "run_max_without_layer_add_ms": 1000 * float(max(own, default=0.0)),
            "layers_added": len(adds), "insert_gaps_ms": insert_gaps,
            "run_p99_ms": 1000 * float(np.percentile(run, 99)),
            "stopped_after_s": stop_s, "status": str(text)[:120],
            "started": worker is not None}


def measure(name: str, threads: int, repeat: int = 2) -> dict:
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    folder = Path(tempfile.mkdtemp())
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    _spin(app, 1.0)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    t0 = time.perf_counter()
    dock, _ = _open(name, viewer, folder)
    viewer.window.add_dock_widget(dock, name=name)
    app.processEvents()
    open_s = time.perf_counter() - t0
    # Docks that import torch in a worker thread: wait for it (the shared libraries load with
    # the GIL held, which stalls the event loop once, whichever thread imports them)
    timer.start()
    warm = getattr(dock, "_warm", None)
    while warm is not None and warm.is_running and time.perf_counter() - t0 < 120:
        app.processEvents()
        time.sleep(0.002)
    if warm is not None:
        _spin(app, 0.3)  # the warm-up's last slot (the garbage collection) runs in this thread
    warm_s = time.perf_counter() - t0 if warm is not None else None
    # a warm-up that ends before the first timer tick (a quiet machine) stalls nothing measurable
    warm_gaps = np.diff([t0 + open_s, *ticks]) if ticks else np.zeros(1)
    start = _prepare(name, dock, viewer, folder)
    _spin(app, 0.5)
    ticks.clear()
    _spin(app, 1.0)
    idle = np.diff(ticks)
    record = {"dock": name, "open_s": open_s, "idle_max_ms": 1000 * float(idle.max()),
              "warm_up_s": warm_s,
              "warm_up_max_ms": 1000 * float(warm_gaps.max()) if warm is not None else None}
    adds: list[float] = []  # when napari started inserting a layer (the result, a preview)
    viewer.layers.events.inserting.connect(lambda _e: adds.append(time.perf_counter()))
    if start is not None:
        runs = []
        for i in range(1 if name.startswith("train") else repeat):
            if i:
                _spin(app, 0.5)
            runs.append(_run_once(app, dock, start, ticks, adds))
        record.update(runs[0])  # the first run: the session's first result
        record["runs"] = runs
        record["first_insert_ms"] = next(iter(runs[0]["insert_gaps_ms"]), None)
        later = runs[0]["insert_gaps_ms"][1:] + [g for r in runs[1:] for g in r["insert_gaps_ms"]]
        record["later_insert_max_ms"] = max(later, default=None)
        record["later_runs_max_ms"] = max((r["run_max_ms"] for r in runs[1:]), default=None)
    timer.stop()
    viewer.close()
    return record


FIGURES = (("open_s", "open (s)", 2), ("warm_up_max_ms", "warm-up stall", 0),
           ("run_max_ms", "run stall", 0), ("run_max_without_layer_add_ms", "w/o insertions", 0),
           ("first_insert_ms", "1st insertion", 0), ("later_insert_max_ms", "later insertions", 0),
           ("later_runs_max_ms", "later runs", 0))


def _median(rows: list[dict], key: str):
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.median(values)) if values else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docks", nargs="+", default=list(DOCKS), choices=DOCKS)
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    p.add_argument("--repeat", type=int, default=2,
                   help="runs of the operation in one process (the first: the session's first "
                        "result; training docks run once)")
    p.add_argument("--times", type=int, default=1,
                   help="processes per dock; the table shows medians (ms unless noted)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeat < 1 or args.times < 1:
        p.error("--repeat and --times must be >= 1")
    if args.one:
        print("RESULT " + json.dumps(measure(args.one, args.threads, args.repeat)), flush=True)
        return 0
    rows = []
    print(f"{'dock':22s}" + "".join(f"{label:>17s}" for _, label, _ in FIGURES) + "  status")
    for name in args.docks:
        env = dict(os.environ)
        if args.threads:  # torch reads it when it is imported (in a worker thread, at open)
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
        mine = []
        for _ in range(args.times):
            proc = subprocess.run([sys.executable, __file__, "--one", name, "--threads",
                                   str(args.threads), "--repeat", str(args.repeat)],
                                  capture_output=True, text=True, env=env)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if not lines:
                print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            mine.append(json.loads(lines[-1][7:]))
        if not mine:
            continue
        rows.extend(mine)
        cells = []
        for key, _, digits in FIGURES:
            value = _median(mine, key)
            cells.append("-" if value is None else f"{value:.{digits}f}")
        print(f"{name:22s}" + "".join(f"{c:>17s}" for c in cells)
              + f"  {mine[-1].get('status', '')}", flush=True)
    print(f"medians of {args.times} process(es) per dock; 1-min load average: "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_1min": os.getloadavg()[0], "docks": rows},
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
