"""Install trained DC_GAN weights as the shipped ``resources/dcgan_weights.pt`` (+ ``.json``).

The generator, its configuration and training record are copied unchanged; what is rewritten is
what names the training machine: the weights' card gets the given provenance text, and the
provenance record (``dcgan_weights.json``) gets the recipe command (``--recipe``) beside the
command as run, with machine paths replaced by the names of the files they held.

    python scripts/dcgan_ship_weights.py RUN/dcgan_weights.pt --recipe "..." --provenance "..."
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from napari_mpi_dl.io.atomic import atomic_path, write_text_atomic

RESOURCES = Path(__file__).resolve().parents[1] / "src/napari_mpi_dl/resources"


def _scrub(text: str) -> str:
    """Absolute paths -> their file names (``/tmp/x/domains.npz`` -> ``domains.npz``)."""
    return re.sub(r"(?<![\w.])/[^\s'\",;)]+/([^\s/'\",;)]+)", r"\1", text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights", type=Path)
    p.add_argument("--recipe", required=True, help="the command that reproduces the weights")
    p.add_argument("--provenance", required=True, help="the card's provenance text")
    p.add_argument("--note", default=None, help="a sentence for the record (how it was chosen)")
    args = p.parse_args(argv)
    payload = torch.load(args.weights, map_location="cpu", weights_only=True)
    card = dict(payload["card"])
    card["provenance"] = args.provenance
    payload["card"] = card
    if isinstance(payload.get("info"), dict):
        payload["info"] = json.loads(_scrub(json.dumps(payload["info"])))
    record_path = args.weights.with_suffix(".json")
    if not record_path.is_file():
        record_path = Path(str(args.weights) + ".json")
    record = json.loads(_scrub(record_path.read_text()))
    record["command_as_run"] = record.pop("command", None)
    record["command"] = args.recipe
    if args.note:
        record["note"] = args.note
    with atomic_path(RESOURCES / "dcgan_weights.pt") as tmp:
        torch.save(payload, tmp)
    write_text_atomic(RESOURCES / "dcgan_weights.json", json.dumps(record, indent=2) + "\n")
    print(f"installed {args.weights.name} as resources/dcgan_weights.pt (+ .json)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
