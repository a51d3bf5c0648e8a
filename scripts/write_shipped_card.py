"""Write the model card into the shipped DC_GAN weights (format version 1 -> 2).

The generator's state dict, configuration, step and training record are kept unchanged; only
``card`` (``napari_mpi_dl.dcgan.card.shipped_card()``) is added and ``format_version`` raised.

    python scripts/write_shipped_card.py          # rewrites resources/dcgan_weights.pt
    python scripts/write_shipped_card.py --check  # "card up to date" or exit status 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from napari_mpi_dl.dcgan.card import shipped_card
from napari_mpi_dl.dcgan.weights import WEIGHTS_VERSION
from napari_mpi_dl.io.atomic import atomic_path

WEIGHTS = Path(__file__).resolve().parents[1] / "src/napari_mpi_dl/resources/dcgan_weights.pt"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    payload = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    card = shipped_card().to_dict()
    if args.check:
        ok = payload.get("card") == card and payload.get("format_version") == WEIGHTS_VERSION
        print("card up to date" if ok else "card missing or different")
        return 0 if ok else 1
    payload["card"] = card
    payload["format_version"] = WEIGHTS_VERSION
    with atomic_path(WEIGHTS) as tmp:
        torch.save(payload, tmp)
    print(f"wrote the card into {WEIGHTS.name} (format version {WEIGHTS_VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
