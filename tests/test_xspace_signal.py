"""Signal-level x-space simulation: exact against a per-sample loop, agrees with the analytic
path, relaxation shifts the sweeps, velocity compensation recovers concentration units."""

import numpy as np
import pytest

from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.native import NativeSimulator, simulate_native
from napari_mpi_dl.physics.particle import Particle
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.physics.xspace_reference import reference_voltages
from napari_mpi_dl.physics.xspace_signal import CartesianXSpaceModel


def nrmse(a, b):
    """Root-mean-square difference relative to the reference's range."""
    return float(np.sqrt(np.mean((a - b) ** 2)) / (b.max() - b.min()))


@pytest.fixture(scope="module")
def small_settings():
    return XSpaceSettings(grid=ImageGrid(shape=(13, 17), fov_mm=(5.2, 6.8)),
                          gradient_t_per_m=2.0)


def test_fast_voltages_equal_the_per_sample_reference_loop(small_settings):
    rng = np.random.default_rng(0)
    c = rng.random(small_settings.grid.shape)
    fast = CartesianXSpaceModel(small_settings).voltages(c)
    ref = reference_voltages(c, small_settings)
    assert fast.shape == ref.shape == (13, 8 * 17)
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_voltages_flip_sign_between_forward_and_reverse_sweeps(small_settings):
    c = np.zeros(small_settings.grid.shape)
    c[6, 8] = 1.0
    model = CartesianXSpaceModel(small_settings)
    u = model.voltages(c)[6]  # the line through the source
    v = model.operator("x").trajectory.fast_velocity_mm_per_s()
    # Voltage is -gain * v * (positive PSF sum): opposite sign to the velocity everywhere.
    assert np.all(u * v <= 0)
    assert np.abs(u).max() > 0


@pytest.mark.parametrize("scan_mode", ["x", "y", "isotropic"])
def test_signal_and_analytic_native_images_agree_for_two_tubes(scan_mode):
    settings = XSpaceSettings(scan_mode=scan_mode)
    sim = NativeSimulator(settings)
    phantom = two_tube_phantom(gap_mm=1.4, orientation="horizontal")
    analytic = sim.simulate(phantom, method="analytic")
    signal = sim.simulate(phantom, method="signal")
    assert nrmse(signal, analytic) < 0.02


def test_signal_and_analytic_agree_for_an_mnist_phantom():
    mnist = pytest.importorskip("napari_mpi_dl.phantoms.mnist")
    phantom = mnist.mnist_phantom(3)
    settings = XSpaceSettings(gradient_t_per_m=6.0)
    sim = NativeSimulator(settings)
    assert nrmse(sim.simulate(phantom, method="signal"), sim.simulate(phantom)) < 0.02


def test_velocity_compensation_gives_concentration_units():
    # A one-pixel source of concentration 2.5 images with peak 2.5 on both paths.
    c = np.zeros((101, 101))
    c[50, 50] = 2.5
    sim = NativeSimulator(XSpaceSettings(gradient_t_per_m=6.0))
    assert sim.simulate(c).max() == pytest.approx(2.5, rel=1e-9)
    assert sim.simulate(c, method="signal").max() == pytest.approx(2.5, rel=0.02)


def test_stack_equals_single_images():
    sim = NativeSimulator(XSpaceSettings(scan_mode="isotropic"))
    stack = np.stack([two_tube_phantom(gap_mm=g) for g in (1.0, 2.2)])
    batch = sim.simulate(stack, method="signal")
    single = sim.simulate(stack[1], method="signal")
    np.testing.assert_allclose(batch[1], single, rtol=0, atol=1e-6 * np.abs(single).max())


def test_debye_relaxation_shifts_sweeps_oppositely_and_blurs():
    grid = ImageGrid(shape=(41, 81), fov_mm=(8.0, 16.0))
    tau = 4e-6  # 10 % of the 25 kHz period
    c = np.zeros(grid.shape)
    c[20, 40] = 1.0
    adiabatic = XSpaceSettings(grid=grid, gradient_t_per_m=6.0)
    relaxed = adiabatic.replace(particle=Particle(relaxation_time_s=tau))
    op0 = CartesianXSpaceModel(adiabatic).operator("x")
    op1 = CartesianXSpaceModel(relaxed).operator("x")
    x = grid.axis_mm(1)

    def centroid(img):
        line = img[0, 20]
        return float(np.sum(line * x) / np.sum(line))

    f0, r0 = op0.sweep_images(c[None])
    f1, r1 = op1.sweep_images(c[None])
    assert centroid(f0) == pytest.approx(0.0, abs=0.02)
    assert centroid(f1) > 0.1 and centroid(r1) < -0.1  # lag along each sweep direction
    assert centroid(f1) == pytest.approx(-centroid(r1), rel=0.05)
    # the combined image is blurred: lower peak than without relaxation
    assert (0.5 * (f1 + r1)).max() < 0.95 * (0.5 * (f0 + r0)).max()
    # the analytic path now images relaxation with the exact image-domain operator
    sim = NativeSimulator(relaxed)
    np.testing.assert_allclose(sim.simulate(c), sim.simulate(c, method="signal"), atol=1e-5)


def test_simulate_native_defaults_to_paper_grid():
    out = simulate_native(two_tube_phantom(gap_mm=3.0), snr_db=30, seed=3)
    assert out.shape == (101, 101)
    again = simulate_native(two_tube_phantom(gap_mm=3.0), snr_db=30, seed=3)
    np.testing.assert_array_equal(out, again)
