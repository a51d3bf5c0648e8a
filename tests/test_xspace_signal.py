"""Signal-level x-space simulation: exact against a per-sample loop, agrees with the analytic
path, relaxation shifts the sweeps, velocity compensation recovers concentration units."""

import numpy as np
import pytest

from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.native import NativeSimulator, simulate_native
from napari_mpi_dl.physics.particle import Particle
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.physics.xspace_signal import CartesianXSpaceModel
from napari_mpi_dl.references.xspace_signal import reference_voltages


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


# --- the fast image operator (issue: one-off image fast, build included) -------------------------

@pytest.mark.parametrize(("shape", "fov_mm", "gradient", "tau_s"), [
    ((41, 51), (8.0, 10.0), 1.35, 0.0),   # default physics, table of a few nodes per pixel
    ((41, 51), (8.0, 10.0), 6.0, 0.0),    # sharp PSF: finer table
    ((33, 45), (8.0, 10.0), 6.0, 4e-6),   # relaxation: every sample of the period contributes
    ((21, 25), (10.0, 10.0), 20.0, 0.0),  # PSF far below a pixel: evaluated directly
])
def test_image_equals_compensated_gridded_literal_voltages(shape, fov_mm, gradient, tau_s):
    settings = XSpaceSettings(grid=ImageGrid(shape=shape, fov_mm=fov_mm),
                              gradient_t_per_m=gradient,
                              particle=Particle(relaxation_time_s=tau_s))
    op = CartesianXSpaceModel(settings).operator("x")
    c = np.random.default_rng(5).random((2, *shape))
    fwd, rev = op.sweep_images(c)  # voltages of every sample, compensation, gridding
    literal = 0.5 * (fwd + rev)
    # documented tolerance: kernel table error <= 1e-6 of the PSF peak, then float32 products
    np.testing.assert_allclose(op.image(c), literal, rtol=0, atol=1e-5 * np.abs(literal).max())


def test_image_equals_literal_chain_for_a_tracer_and_anisotropic_gradients():
    from napari_mpi_dl.physics.tracers import LognormalSize, Tracer

    tracer = Tracer(sizes=(LognormalSize(25.0, 0.2),), relaxation_time_s=1e-6,
                    relaxation_time_max_s=3e-6)
    settings = XSpaceSettings(grid=ImageGrid(shape=(29, 29), fov_mm=(8.0, 8.0)),
                              gradient_t_per_m=3.0, particle=tracer, scan_mode="isotropic",
                              gradient_anisotropy=0.3)
    model = CartesianXSpaceModel(settings)
    # the y scan sees other true gradients: it must not share the x operator of the square grid
    assert model.operator("x") is not model.operator("y")
    c = np.random.default_rng(7).random((29, 29))
    literal = []
    for axis in ("x", "y"):
        stack = c[None] if axis == "x" else c.T[None]
        fwd, rev = model.operator(axis).sweep_images(stack)
        img = 0.5 * (fwd + rev)[0]
        literal.append(img if axis == "x" else img.T)
    literal = np.mean(literal, axis=0)
    np.testing.assert_allclose(model.image(c), literal, rtol=0,
                               atol=1e-5 * np.abs(literal).max())


def test_tabulated_kernel_is_used_and_refined_until_within_tolerance(monkeypatch):
    from napari_mpi_dl.physics import xspace_signal as xs

    settings = XSpaceSettings(grid=ImageGrid(shape=(31, 41), fov_mm=(8.0, 10.0)),
                              gradient_t_per_m=6.0)
    normal = xs._LineScanOperator.build(settings.grid, settings)
    assert normal.table_nodes_per_pixel >= 2
    monkeypatch.setattr(xs, "TABLE_NODES_PER_SCALE", 1)  # start far too coarse
    refined = xs._LineScanOperator.build(settings.grid, settings)
    assert refined.table_nodes_per_pixel > xs._initial_table_steps(settings, 10.0 / 41)
    c = np.random.default_rng(2).random((1, 31, 41))
    ref = normal.image(c)
    np.testing.assert_allclose(refined.image(c), ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_table_error_estimate_matches_the_error_of_cubic_interpolation():
    from napari_mpi_dl.physics.xspace_signal import _cubic_weights, _interpolation_error

    x = np.arange(200) * 0.05
    table = np.cos(x)[:, None]
    estimate = _interpolation_error(table)
    # true error of 4-point interpolation at mid-cell on this spacing
    mid = x[50:150] + 0.025
    w = _cubic_weights(np.full(1, 0.5))[:, 0]
    pred = sum(w[t] * np.cos(x[49 + t : 149 + t]) for t in range(4))
    true = np.abs(pred - np.cos(mid)).max()
    assert true == pytest.approx(estimate, rel=0.1)


def test_a_built_model_is_reused_for_new_phantoms_and_rebuilt_when_ms_changes(monkeypatch):
    from napari_mpi_dl.physics import xspace_signal as xs

    xs.clear_operator_cache()
    builds = []
    original = xs._LineScanOperator.build.__func__

    def counting(cls, grid, settings, progress=None, **kwargs):
        builds.append(settings)
        return original(cls, grid, settings, progress, **kwargs)

    monkeypatch.setattr(xs._LineScanOperator, "build", classmethod(counting))
    grid = ImageGrid(shape=(24, 24), fov_mm=(6.0, 6.0))
    settings = XSpaceSettings(grid=grid)
    phantom = np.zeros(grid.shape)
    phantom[12, 12] = 1.0
    first = NativeSimulator(settings).simulate(phantom, method="signal")
    # a new simulator (what a GUI run creates), another phantom, noise: no rebuild
    NativeSimulator(settings).simulate(3 * phantom, method="signal", snr_db=20, seed=1)
    # the isotropic scan of a square grid shares the x operator for its y scan
    NativeSimulator(settings.replace(scan_mode="isotropic")).simulate(phantom, method="signal")
    assert len(builds) == 1
    # Ms changes k and with it the PSF's width: not a rescale, a new operator
    heavier = settings.replace(particle=Particle(saturation_magnetisation_a_per_m=6e5))
    second = NativeSimulator(heavier).simulate(phantom, method="signal")
    assert len(builds) == 2
    assert second.max() == pytest.approx(first.max(), rel=0.05)  # both peak ~1 ...
    assert np.sum(second > 0.5) < np.sum(first > 0.5)  # ... but the larger moment is sharper
    xs.clear_operator_cache()


def test_progress_is_reported_and_a_raising_callback_stops_the_build_quickly(monkeypatch):
    from napari_mpi_dl.physics import progress
    from napari_mpi_dl.physics import xspace_signal as xs
    from napari_mpi_dl.physics.progress import SimulationStopped

    xs.clear_operator_cache()
    settings = XSpaceSettings(grid=ImageGrid(shape=(201, 201), fov_mm=(20.0, 20.0)))
    monkeypatch.setattr(xs, "PSF_CHUNK_ELEMENTS", 1 << 16)  # many chunks
    monkeypatch.setattr(progress, "PROGRESS_INTERVAL_S", 0.0)  # report after every chunk
    chunks = []
    original_rows = xs._interpolated_rows

    def counting_rows(*args, **kwargs):
        chunks.append(1)
        return original_rows(*args, **kwargs)

    monkeypatch.setattr(xs, "_interpolated_rows", counting_rows)
    calls = []

    def stop_after_first(fraction):
        calls.append(fraction)
        if fraction > 0:  # the first report after some work
            raise SimulationStopped("stop")

    sim = NativeSimulator(settings)
    with pytest.raises(SimulationStopped):
        sim.simulate(np.ones(settings.grid.shape), method="signal", progress=stop_after_first)
    assert calls[0] == 0.0 and 0.0 < calls[-1] < 0.1
    assert len(chunks) == 1  # stopped right after the first chunk of the build
    assert not xs._OPERATOR_CACHE  # nothing cached from the interrupted build
    # without stopping: fractions rise to exactly 1.0
    fractions = []
    small = XSpaceSettings(grid=ImageGrid(shape=(41, 41), fov_mm=(8.0, 8.0)))
    NativeSimulator(small).simulate(np.ones((3, 41, 41)), method="signal",
                                    progress=fractions.append)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(b >= a for a, b in zip(fractions, fractions[1:], strict=False))
    xs.clear_operator_cache()
