"""Torch's libraries load without the GIL: a dock's torch warm-up does not freeze napari."""

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux dlopen path")

PROBE = textwrap.dedent("""
    import sys, threading, time
    from napari_mpi_dl._torch_libraries import preload_torch_libraries

    span = {}
    loaded = []

    def load():
        span["start"] = time.perf_counter()
        loaded.extend(preload_torch_libraries())
        span["end"] = time.perf_counter()

    ticks = []
    thread = threading.Thread(target=load)
    thread.start()
    while thread.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    assert "torch" not in sys.modules, "preloading must not import torch"
    duration = span["end"] - span["start"]
    lo = span["start"] + 0.25 * duration
    hi = span["end"] - 0.25 * duration
    inside = sum(lo < t < hi for t in ticks)
    import torch
    total = float(torch.ones(3).sum())
    print(repr(loaded), duration, inside, total)
""")


def _run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True)
    return out.stdout.strip().splitlines()[-1].rsplit(" ", 3)


def test_preloaded_libraries_leave_the_main_thread_running_and_torch_works():
    loaded, duration, inside, total = _run(PROBE)
    assert "libtorch_cpu.so" in loaded
    assert float(total) == 3.0  # torch imported after the preload works
    if float(duration) < 0.05:
        pytest.skip(f"libtorch loaded in {float(duration) * 1e3:.0f} ms: too fast to observe")
    # With the GIL held for the whole dlopen (ctypes.CDLL, or a plain import) the main thread
    # could not tick at all in the middle half of the load; it ticks every millisecond here.
    assert int(inside) >= 5


def test_preload_is_a_no_op_once_torch_is_imported():
    code = ("import torch\nfrom napari_mpi_dl._torch_libraries import preload_torch_libraries\n"
            "print(preload_torch_libraries(), 0, 0, 0)")
    assert _run(code)[0] == "[]"
