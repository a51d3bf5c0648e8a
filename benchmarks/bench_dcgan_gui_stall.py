"""Benchmark: how long does the napari event loop stall while the DC_GAN dock trains?

Opens a (hidden) viewer with the *Train DC_GAN* dock, trains the default model (ngf 16, 4 blocks,
whole 101 x 101 images: the dock's default) on small simulated domains for ``--steps`` steps, and
records the gaps between the ticks of a 10 ms QTimer in the main thread: the longest gap is the
longest stall a user would feel.
Also reports the gaps during an idle period of the same length, for comparison (a busy shared
machine stalls even an idle event loop). Needs a display (run under ``xvfb-run`` on a server).

    xvfb-run -a python benchmarks/bench_dcgan_gui_stall.py --steps 60
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def _spin(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import napari
    import torch
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_mpi_dl.dcgan.data import Domains, save_domains
    from napari_mpi_dl.widgets.train_dock import TrainDock

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    tmp = tempfile.mkdtemp()
    data = save_domains(os.path.join(tmp, "d.npz"),
                        Domains.from_arrays(rng.random((16, 101, 101)), rng.random((16, 101, 101))))
    viewer = napari.Viewer(show=False)
    viewer.add_image(np.zeros((101, 101)), name="user layer")
    dock = TrainDock(viewer)
    viewer.window.add_dock_widget(dock)
    dock.source.setCurrentText("file")
    dock.path.setText(str(data))
    dock.epochs.setValue(args.steps / 16)
    dock.device.setCurrentText("cpu")
    app = QApplication.instance()

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    t0 = time.perf_counter()
    dock.start()
    while dock.worker is not None:
        app.processEvents()
        time.sleep(0.002)
    train_s = time.perf_counter() - t0
    train_gaps = np.diff(ticks)
    ticks.clear()
    _spin(app, min(train_s, 20.0))
    idle_gaps = np.diff(ticks)
    timer.stop()
    load = os.getloadavg()[0]
    print(f"trained {dock.trainer.step} steps in {train_s:.1f} s "
          f"({dock.trainer.step / train_s:.2f} steps/s), {dock.preview_updates} preview updates")
    print(f"event-loop gaps while training: max {1000 * train_gaps.max():.0f} ms, "
          f"p99 {1000 * np.percentile(train_gaps, 99):.0f} ms, "
          f"median {1000 * np.median(train_gaps):.0f} ms")
    print(f"event-loop gaps while idle:     max {1000 * idle_gaps.max():.0f} ms, "
          f"p99 {1000 * np.percentile(idle_gaps, 99):.0f} ms")
    print(f"1-min load average: {load:.2f} on {os.cpu_count()} cores")
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
