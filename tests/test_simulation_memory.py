"""Memory guard of the simulation library: the estimate bounds the measured peak, a simulation
that cannot fit is refused before it allocates, with the size and the memory in the message."""

import tracemalloc

import numpy as np
import pytest

from napari_mpi_dl.cli.main import main
from napari_mpi_dl.physics import memory
from napari_mpi_dl.physics import xspace_signal as xs
from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.memory import (
    SimulationMemoryError,
    available_memory_bytes,
    check_simulation_memory,
    estimate_simulation_bytes,
)
from napari_mpi_dl.physics.native import NativeSimulator
from napari_mpi_dl.physics.particle import Particle
from napari_mpi_dl.physics.settings import XSpaceSettings


@pytest.mark.parametrize(("shape", "method", "n_images", "scan_mode", "tau_s", "snr_db"), [
    ((101, 101), "analytic", 1, "x", 0.0, None),
    ((64, 80), "analytic", 12, "isotropic", 0.0, 30.0),
    ((101, 101), "signal", 1, "x", 0.0, None),
    ((101, 101), "signal", 40, "x", 0.0, 30.0),
    ((48, 72), "signal", 1, "isotropic", 0.0, None),
    ((33, 41), "signal", 1, "x", 2e-6, None),
])
def test_estimate_bounds_the_measured_peak(shape, method, n_images, scan_mode, tau_s, snr_db):
    settings = XSpaceSettings(grid=ImageGrid(shape=shape, fov_mm=(0.2 * shape[0], 0.2 * shape[1])),
                              scan_mode=scan_mode, particle=Particle(relaxation_time_s=tau_s))
    xs.clear_operator_cache()
    tracemalloc.start()
    try:
        c = np.ones((n_images, *shape)) if n_images > 1 else np.ones(shape)
        NativeSimulator(settings).simulate(c, method=method, snr_db=snr_db, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        xs.clear_operator_cache()
    estimate = estimate_simulation_bytes(settings, method, n_images, snr_db=snr_db)
    assert peak <= estimate <= 4 * peak + 16e6


@pytest.mark.parametrize(("method", "scan_mode", "partial"), [
    ("analytic", "x", False),        # relaxation in the analytic path: image-domain operator
    ("analytic", "isotropic", False),
    ("signal", "x", True),           # partial-FOV drive
])
def test_estimate_bounds_the_peak_of_the_image_domain_operators(method, scan_mode, partial):
    from napari_mpi_dl.physics.partial_fov import PartialFOV

    settings = XSpaceSettings(grid=ImageGrid(shape=(40, 48), fov_mm=(8.0, 9.6)),
                              scan_mode=scan_mode, particle=Particle(relaxation_time_s=2e-6),
                              partial_fov=PartialFOV(width_mm=4.0) if partial else None)
    tracemalloc.start()
    try:
        NativeSimulator(settings).simulate(np.ones((3, 40, 48)), method=method)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = estimate_simulation_bytes(settings, method, 3)
    assert peak <= estimate <= 4 * peak + 16e6


def test_estimate_grows_with_the_image_and_the_old_24_gb_case_now_fits_in_a_few_gb():
    sizes = [estimate_simulation_bytes(XSpaceSettings(grid=ImageGrid(shape=(n, n))), "signal")
             for n in (101, 201, 401)]
    assert sizes[0] < sizes[1] < sizes[2] < 2e9
    huge = XSpaceSettings(grid=ImageGrid(shape=(100000, 100000)))
    assert estimate_simulation_bytes(huge, "analytic") > 1e12
    with pytest.raises(ValueError, match="method"):
        estimate_simulation_bytes(huge, "fourier")


def test_refusal_names_size_needed_and_available_memory():
    settings = XSpaceSettings(grid=ImageGrid(shape=(401, 401)))
    needed = estimate_simulation_bytes(settings, "signal")
    with pytest.raises(SimulationMemoryError) as info:
        check_simulation_memory(settings, "signal", available_bytes=needed // 2)
    message = str(info.value)
    assert "401 x 401 pixels" in message and "'signal'" in message
    assert memory.format_bytes(needed) in message
    assert memory.format_bytes(needed // 2) in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, MemoryError)
    assert check_simulation_memory(settings, "signal", available_bytes=4 * needed) == needed


def test_simulate_refuses_before_allocating(monkeypatch):
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 50_000_000)
    settings = XSpaceSettings(grid=ImageGrid(shape=(2000, 2000)))
    sim = NativeSimulator(settings)
    # a lazy stand-in for a phantom: only its shape may be read before the refusal
    phantom = np.broadcast_to(np.float64(1.0), (2000, 2000))
    tracemalloc.start()
    try:
        with pytest.raises(SimulationMemoryError, match="2000 x 2000"):
            sim.simulate(phantom)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1e6  # no 32 MB copy of the phantom, no kernel


def test_available_memory_respects_a_cgroup_limit(monkeypatch, tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n")
    (tmp_path / "cgroup").write_text("0::/job\n")
    job = tmp_path / "fs" / "job"
    job.mkdir(parents=True)
    (job / "memory.max").write_text("1000000000\n")
    (job / "memory.current").write_text("250000000\n")
    monkeypatch.setattr(memory, "MEMINFO_PATH", tmp_path / "meminfo")
    monkeypatch.setattr(memory, "PROC_CGROUP_PATH", tmp_path / "cgroup")
    monkeypatch.setattr(memory, "CGROUP_ROOT", tmp_path / "fs")
    assert available_memory_bytes() == 750_000_000
    (job / "memory.max").write_text("max\n")  # no limit: MemAvailable
    assert available_memory_bytes() == 4_000_000 * 1024


def test_real_available_memory_is_plausible():
    available = available_memory_bytes()
    assert 0 < available < 1 << 50


def test_cli_refuses_a_huge_image_with_one_line(tmp_path, capsys):
    out = tmp_path / "native.tif"
    rc = main(["simulate", "two-tube", "--size", "100000", "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and not out.exists()
    assert len(err.splitlines()) == 1
    assert "100000 x 100000 pixels" in err and "needs about" in err and "available" in err


def test_small_simulations_skip_reading_the_available_memory(monkeypatch):
    def unreadable():
        raise AssertionError("read for a small simulation")

    monkeypatch.setattr(memory, "available_memory_bytes", unreadable)
    assert NativeSimulator().simulate(np.ones((101, 101))).shape == (101, 101)
    with pytest.raises(AssertionError, match="small"):  # large ones still read it
        check_simulation_memory(XSpaceSettings(grid=ImageGrid(shape=(3000, 3000))))
