"""Time to simulate the OpenMPIData-like system matrices (physics, noise, background frames).

Run:  python benchmarks/bench_sm_simulation.py [--repeats 5] [--workers 2]
      [--reference-module OLD.py]

Times ``simulate_system_matrix`` for the 37 x 37 test SM and the 19 x 19 training SM of both
physics versions (ideal particle: ``test``/``training``; perimag-like tracer, independent test
calibration: ``test-perimag``/``training-perimag``) on ``--workers`` threads and prints the
medians (goal for the test SM: under 10 s on 2 cores). ``--reference-module`` times an older
simulator module (e.g. ``git show 7e3f1f9:src/napari_mpi_dl/physics/system_matrix.py``, the
version before the tracer and positioning-error support) on its ``test``/``training`` presets in
the same process, interleaved with ours, and prints the ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time


def _median_time(simulate, sim, repeats: int, workers: int) -> float:
    times = []
    for seed in range(repeats):
        t0 = time.perf_counter()
        simulate(sim, seed=seed, workers=workers)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reference-module", default=None,
                        help="an older system_matrix.py to time side by side")
    args = parser.parse_args(argv)

    from napari_mpi_dl.io.sm_simulation import simulate_system_matrix
    from napari_mpi_dl.physics.sm_simulation import sm_preset

    old = None
    if args.reference_module:
        spec = importlib.util.spec_from_file_location("reference_sm", args.reference_module)
        old = importlib.util.module_from_spec(spec)
        sys.modules["reference_sm"] = old
        spec.loader.exec_module(old)
    for preset in ("test", "training", "test-perimag", "training-perimag"):
        sim = sm_preset(preset)
        ours = _median_time(simulate_system_matrix, sim, args.repeats, args.workers)
        line = f"{sim.name}: median {ours:.2f} s over {args.repeats} runs"
        if old is not None and preset in ("test", "training"):
            ref = _median_time(old.simulate_system_matrix, old.sm_preset(preset), args.repeats,
                               args.workers)
            line += f"; reference module {ref:.2f} s (ratio ours / reference {ours / ref:.2f})"
        print(line + f", {args.workers} worker thread(s)")


if __name__ == "__main__":
    main()
