"""Load torch's shared libraries without holding Python's GIL, so importing torch in a worker
thread does not freeze the GUI thread.

``import torch`` spends most of its time in ``dlopen`` of ``libtorch_cpu`` (relocations and the
static initialisers that register every operator: 0.2-0.5 s on a laptop-class CPU). Python's
import machinery, and ``ctypes.CDLL``, call ``dlopen`` while holding the GIL, so a napari dock
that imports torch in a worker still stalls the viewer for that long. A call through a ctypes
*foreign function* releases the GIL: calling libc's ``dlopen`` that way loads the same
libraries while the GUI thread keeps running; the ``import torch`` that follows finds them
loaded (by their soname) and only runs the Python-level initialisation.

Linux only (elsewhere, or if anything is missing, it does nothing and ``import torch`` does
all the work as usual). Nothing here imports torch.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
import threading
from pathlib import Path

#: Loaded in this order: each one's dependencies before it (the order the torch wheel links them).
LIBRARIES = ("libgomp.so.1", "libc10.so", "libtorch_cpu.so", "libtorch.so", "libtorch_python.so")

_loaded: list[str] = []
_lock = threading.Lock()  # a second caller waits (without the GIL) for the first


def torch_library_dir() -> Path | None:
    """``torch/lib`` of the torch that ``import torch`` would load, without importing it."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    lib = Path(spec.origin).parent / "lib"
    return lib if lib.is_dir() else None


def preload_torch_libraries() -> list[str]:
    """dlopen torch's core libraries with the GIL released; returns the names loaded.

    Safe to call more than once and from any thread; a no-op once torch is imported, off Linux,
    or when a library is missing (then the ones before it stay loaded, which is harmless: they
    are the libraries ``import torch`` loads anyway).
    """
    with _lock:
        return _preload()


def _preload() -> list[str]:
    if _loaded or "torch" in sys.modules or not sys.platform.startswith("linux"):
        return list(_loaded)
    lib_dir = torch_library_dir()
    if lib_dir is None:
        return []
    try:
        libc = ctypes.CDLL(None)
        dlopen = libc.dlopen
    except (OSError, AttributeError):
        return []
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    for name in LIBRARIES:
        path = lib_dir / name
        if not path.exists():
            continue
        # RTLD_LOCAL: no symbol leaks into later libraries; torch's own dlopen then finds the
        # library by its soname. A foreign-function call releases the GIL for the whole dlopen.
        if not dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL):
            break
        _loaded.append(name)
    return list(_loaded)


def import_torch():
    """``import torch`` for a worker thread of the GUI: the libraries first, without the GIL."""
    preload_torch_libraries()
    import torch

    return torch
