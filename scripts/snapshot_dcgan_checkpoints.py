"""Keep the generator of every DC_GAN checkpoint a run writes, for checkpoint selection.

``train deblur`` overwrites ``<checkpoint-dir>/dcgan_last.pt`` every ``--checkpoint-every``
steps. This watcher saves the generator of each new one as ``<dir>/g_step<N>.pt`` (a weights
file with the data's model card, 0.7 MB instead of the 32 MB checkpoint), until ``--stop-file``
exists; then it takes a last look and exits. The snapshots are what
``scripts/dcgan_checkpoint_selection.py --candidate`` scores.

    python scripts/snapshot_dcgan_checkpoints.py --domains runs/realistic.npz \\
        --stop-file runs/stop runs/a runs/b
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def snapshot(folder: Path, card: dict, seen: dict) -> None:
    from napari_mpi_dl.dcgan.weights import export_generator

    path = folder / "dcgan_last.pt"
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return
    if seen.get(folder) == mtime:
        return
    # the checkpoint is written atomically: this reads the complete new one or the old one
    tmp = folder / ".g_snapshot.tmp"
    step = export_generator(path, tmp, card=card,
                            info={"source": f"{folder.name}/dcgan_last.pt"})
    tmp.replace(folder / f"g_step{step}.pt")
    seen[folder] = mtime
    print(f"{folder.name}: step {step}", flush=True)


def main(argv=None) -> int:
    from napari_mpi_dl.dcgan.data import load_saved_domains

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path, help="checkpoint dirs of the runs")
    p.add_argument("--domains", required=True, help="the runs' --data file (its model card)")
    p.add_argument("--stop-file", required=True, type=Path)
    p.add_argument("--every-s", type=float, default=5.0)
    args = p.parse_args(argv)
    card = load_saved_domains(args.domains).info["card"]
    seen: dict = {}
    while True:
        stop = args.stop_file.exists()
        for folder in args.folders:
            try:
                snapshot(folder, card, seen)
            except Exception as exc:  # noqa: BLE001 - a damaged file: report, keep watching
                print(f"{folder.name}: {exc}", flush=True)
        if stop:
            return 0
        time.sleep(args.every_s)


if __name__ == "__main__":
    sys.exit(main())
