"""Replace the training machine's scratch folders in shipped provenance records by ``runs/``.

The shipped weights record the exact command that trained them; its ``--out``, ``--data`` and
``--checkpoint-dir`` arguments named absolute scratch folders of the machine that ran it
(e.g. ``/tmp/<name>/ck`` or ``/<home>/runs/<run>``), which mean nothing elsewhere. This
rewrites every such folder as ``runs/...`` in ``resources/*.json`` and in the records stored
inside the weights files (the contrastive files' ``info`` and the DC_GAN generator's
``info``/``card``); the weights themselves are not touched (checked: every tensor is identical
before and after).

    python scripts/scrub_provenance_paths.py          # rewrite in place (atomic per file)
    python scripts/scrub_provenance_paths.py --check  # exit 1 if any record still has one
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"
#: an absolute scratch folder: /tmp/<folder>/ (its first component is dropped), or an absolute
#: path up to a ``runs/`` folder (``/<anything>/runs/<run>/`` -> ``runs/<run>/``)
SCRATCH = re.compile(r"/tmp/[A-Za-z0-9_.-]+/|/(?:[A-Za-z0-9_.-]+/)*?runs/")


def scrub_text(text: str) -> str:
    return SCRATCH.sub("runs/", text)


def _scrub(obj):
    if isinstance(obj, str):
        return scrub_text(obj)
    if isinstance(obj, dict):
        return {k: _scrub(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_scrub(v) for v in obj)
    return obj


def _same_tensors(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def scrub_weights(path: Path, write: bool) -> bool:
    """Scrub the records in one weights file; returns whether it had a scratch path."""
    import torch

    from napari_mpi_dl.contrastive.weights import ZLIB_MAGIC
    from napari_mpi_dl.io.atomic import atomic_path

    blob = path.read_bytes()
    zipped = blob.startswith(ZLIB_MAGIC)
    raw = zlib.decompress(blob[len(ZLIB_MAGIC):]) if zipped else blob
    payload = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    records = {k: v for k, v in payload.items() if k != "state_dict"}
    if not SCRATCH.search(repr(records)):
        return False
    if write:
        new = {**_scrub(records), "state_dict": payload["state_dict"]}
        buf = io.BytesIO()
        torch.save(new, buf)
        data = ZLIB_MAGIC + zlib.compress(buf.getvalue(), 9) if zipped else buf.getvalue()
        back = torch.load(io.BytesIO(buf.getvalue()), map_location="cpu", weights_only=True)
        assert _same_tensors(back["state_dict"], payload["state_dict"]), path
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(data)
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only report; exit 1 if any is left")
    args = p.parse_args(argv)
    found = []
    for path in sorted(RESOURCES.glob("*.json")):
        text = path.read_text()
        if SCRATCH.search(text):
            found.append(path.name)
            if not args.check:
                from napari_mpi_dl.io.atomic import write_text_atomic

                write_text_atomic(path, scrub_text(text))
    for path in sorted(RESOURCES.glob("*.pt")):
        if scrub_weights(path, write=not args.check):
            found.append(path.name)
    verb = "still name" if args.check else "named (now rewritten)"
    print(f"{len(found)} file(s) {verb} a scratch folder" + (f": {', '.join(found)}"
                                                             if found else ""))
    return 1 if (args.check and found) else 0


if __name__ == "__main__":
    sys.exit(main())
