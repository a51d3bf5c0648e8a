"""Atomic file writing: write to a temporary file in the target directory, then rename.

A crash, Ctrl-C or a stopped worker never leaves a half-written checkpoint, data set or MDF file:
either the old file (if any) or the complete new one is at ``path``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    The temporary name ends with the target's extension (``numpy.save`` appends ``.npy``
    otherwise, and some writers pick the format from the extension).

    Use it with any writer that takes a file name (h5py, tifffile, torch.save, numpy.save)::

        with atomic_path("data.h5") as tmp:
            with h5py.File(tmp, "w") as f:
                ...

    On an exception (KeyboardInterrupt included) the temporary file is removed and ``path`` is
    left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else ".part" + target.suffix,
        dir=target.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync(tmp)
        _chmod_like_a_new_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _chmod_like_a_new_file(path: Path) -> None:
    """mkstemp creates mode 0600; give the file the mode ``open()`` would (0666 & ~umask)."""
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666 & ~umask)


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        os.fsync(fh.fileno())


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))
