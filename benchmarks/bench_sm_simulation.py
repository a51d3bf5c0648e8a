"""Time to simulate the OpenMPIData-like system matrices (physics, noise, background frames).

Run:  python benchmarks/bench_sm_simulation.py [--repeats 5] [--workers 2]

Times ``simulate_system_matrix`` for the 37 x 37 test SM and the 19 x 19 training SM (3 receive
channels, 1632 samples, 817 frequencies, 4 x 4 x 2 sub-points per delta sample) on ``--workers``
threads and prints the medians (goal for the test SM: under 10 s on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from napari_mpi_dl.io.sm_simulation import simulate_system_matrix
    from napari_mpi_dl.physics.sm_simulation import sm_preset

    for preset in ("test", "training", "test-perimag", "training-perimag"):
        sim = sm_preset(preset)
        times = []
        for seed in range(args.repeats):
            t0 = time.perf_counter()
            sm = simulate_system_matrix(sim, seed=seed, workers=args.workers)
            times.append(time.perf_counter() - t0)
        print(f"{sim.name}: {sm.sizes} + {sm.num_background_frames} background frames: median "
              f"{statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}) "
              f"over {args.repeats} runs, {args.workers} worker thread(s)")


if __name__ == "__main__":
    main()
