"""Simulate the realistic DC_GAN training domains once, in parallel, and save them for
``napari-mpi-dl train deblur --data FILE.npz``.

The same images as ``train deblur --generate N --y-phantoms NY --realistic Y_KIND --seed S``
(and its ``--save-data``) make, to rounding, in ``--workers`` processes::

    python scripts/make_realistic_domains.py --generate 1400 --y-phantoms 300 \\
        --realistic rl-ideal --workers 12 --out runs/realistic_rl_ideal_1400.npz
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    from napari_mpi_dl.dcgan.data import save_domains
    from napari_mpi_dl.dcgan.realistic_data import (
        SCAN_MODES,
        Y_KINDS,
        RealisticConfig,
        generate_realistic_domains,
    )

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generate", type=int, required=True, help="phantoms in all (X + Y)")
    p.add_argument("--y-phantoms", type=int, required=True, help="phantoms of domain Y")
    p.add_argument("--realistic", choices=Y_KINDS, required=True, metavar="Y_KIND")
    p.add_argument("--scan-modes", nargs="+", default=list(SCAN_MODES))
    p.add_argument("--rl-iterations", type=int, default=200)
    p.add_argument("--clean-fraction", type=float, default=None,
                   help="fraction of X images left noise-free (default: RealisticConfig's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", required=True, metavar="FILE.npz")
    args = p.parse_args(argv)
    config = RealisticConfig(n_x=args.generate - args.y_phantoms, n_y=args.y_phantoms,
                             y_kind=args.realistic, rl_iterations=args.rl_iterations,
                             seed=args.seed, scan_modes=tuple(args.scan_modes),
                             **({} if args.clean_fraction is None
                                else {"clean_fraction": args.clean_fraction}))
    t0 = time.perf_counter()

    def progress(done, total):
        if done % 100 == 0 or done == total:
            print(f"{done}/{total} images ({time.perf_counter() - t0:.0f} s)", flush=True)

    domains = generate_realistic_domains(config, progress=progress, workers=args.workers)
    save_domains(args.out, domains)
    print(f"wrote {args.out}: X {domains.x.shape}, Y {domains.y.shape}, "
          f"{time.perf_counter() - t0:.0f} s with {args.workers} workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
