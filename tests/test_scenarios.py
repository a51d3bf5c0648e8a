"""The mismatch protocol: each scenario's physics set-up, the PSFs a lab has, tuning and
bookkeeping of ``evaluate --scenario``. Small and fast; the full protocol runs in
scripts/evaluate_scenarios.sh."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from napari_mpi_dl.analysis import scenarios as scn
from napari_mpi_dl.analysis.protocol import ProtocolConfig, run_protocol
from napari_mpi_dl.analysis.scenarios import SCENARIOS, get_scenario
from napari_mpi_dl.analysis.tables import (
    SummaryRow,
    read_csv,
    read_summary_csv,
    summary_markdown,
)
from napari_mpi_dl.cli.main import main
from napari_mpi_dl.phantoms.two_tube import PROTOCOL_GAPS_MM, two_tube_phantom
from napari_mpi_dl.physics.noise import measured_snr_db
from napari_mpi_dl.physics.presets import LOW_GRADIENT_T_PER_M


@pytest.fixture
def clean_registry():
    from napari_mpi_dl.analysis.methods import REGISTRY

    with REGISTRY.restored():
        yield


REQUIRED = ("ideal", "relaxation", "gradient-error", "y-scan", "isotropic", "tubes-across",
            "fov-32mm", "noise-20db", "noise-30db")


def fwhm_px(profile: np.ndarray) -> float:
    """Full width at half maximum of a single-peaked profile, linearly interpolated (pixels)."""
    p = np.asarray(profile, float)
    i = int(np.argmax(p))
    half = p[i] / 2
    left = i - np.argmax(p[i::-1] < half)
    right = i + np.argmax(p[i:] < half)
    xl = left + (half - p[left]) / (p[left + 1] - p[left])
    xr = right - 1 + (p[right - 1] - half) / (p[right - 1] - p[right])
    return float(xr - xl)


def centre_row(kernel: np.ndarray) -> np.ndarray:
    return kernel[kernel.shape[0] // 2]


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------
def test_registry_holds_the_required_scenarios_as_frozen_data():
    for name in REQUIRED:
        assert get_scenario(name).name == name
    with pytest.raises(ValueError, match="unknown scenario 'nope'; known: ideal"):
        get_scenario("nope")
    with pytest.raises(dataclasses.FrozenInstanceError):
        SCENARIOS["ideal"].snr_db = 10.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="tube_orientation"):
        scn.Scenario("x", "X", "bad", tube_orientation="diagonal")


def test_ideal_scenario_reproduces_todays_protocol_exactly():
    methods = ("native", "wiener", "wiener-wrong-psf", "unsupervised-wiener")
    today = run_protocol(ProtocolConfig(gaps_mm=(1.4, 3.0), methods=methods))
    ideal = run_protocol(ProtocolConfig(gaps_mm=(1.4, 3.0), methods=methods,
                                        scenario=get_scenario("ideal")))
    assert [r.as_dict() | {"runtime_s": 0} for r in ideal.rows] == [
        r.as_dict() | {"runtime_s": 0} for r in today.rows]
    # and the model PSF of the ideal scenario is the exact one
    sc = get_scenario("ideal")
    np.testing.assert_array_equal(sc.psf("model"), sc.psf("exact"))


# --------------------------------------------------------------------------------------------
# physics of each scenario
# --------------------------------------------------------------------------------------------
def test_relaxation_has_no_exact_psf_and_its_measured_psf_is_broader():
    sc = get_scenario("relaxation")
    assert sc.settings.particle.relaxation_time_s == pytest.approx(2e-6)
    assert not sc.shift_invariant
    assert sc.psf_kinds() == ("model", "measured")
    with pytest.raises(ValueError, match="no exact PSF"):
        sc.psf("exact")
    model = sc.psf("model")
    measured = dataclasses.replace(sc, measured_psf_snr_db=200.0).psf("measured")
    # relaxation lags each sweep by ~tau x slew / G (3.5 mm at the centre); the averaged sweeps
    # blur the PSF along the scan: its FWHM along x at least doubles
    assert fwhm_px(centre_row(measured)) > 2.0 * fwhm_px(centre_row(model))
    # the measured PSF of the mild scenario lies in between
    mild = dataclasses.replace(get_scenario("relaxation-mild"), measured_psf_snr_db=200.0)
    assert (fwhm_px(centre_row(model)) < fwhm_px(centre_row(mild.psf("measured")))
            < fwhm_px(centre_row(measured)))


def test_relaxation_native_matches_the_signal_path_and_differs_from_adiabatic():
    sc = get_scenario("relaxation")
    phantom = two_tube_phantom(gap_mm=3.0)
    native = sc.simulator().simulate(phantom)
    adiabatic = get_scenario("ideal").simulator().simulate(phantom)
    assert native.shape == phantom.shape and np.all(np.isfinite(native))
    assert np.abs(native - adiabatic).max() > 0.1 * adiabatic.max()


def test_gradient_error_widens_the_true_psf_against_the_model():
    sc = get_scenario("gradient-error")
    assert sc.settings.gradient_t_per_m == LOW_GRADIENT_T_PER_M  # nominal, what the user enters
    assert sc.settings.true_gradient_yx_t_per_m == pytest.approx((1.35 * 0.85, 1.35 * 0.85))
    assert sc.model_settings().true_gradient_yx_t_per_m is None
    ratio = fwhm_px(centre_row(sc.psf("exact"))) / fwhm_px(centre_row(sc.psf("model")))
    assert ratio == pytest.approx(1 / 0.85, rel=0.03)  # FWHM ~ 1/G


def test_anisotropy_sharpens_the_psf_across_the_scan_only():
    sc, ideal = get_scenario("anisotropy"), get_scenario("ideal")
    exact, model = sc.psf("exact"), sc.psf("model")
    np.testing.assert_array_equal(model, ideal.psf("exact"))
    mid = exact.shape[1] // 2
    across = fwhm_px(model[:, mid]) / fwhm_px(exact[:, mid])
    assert across == pytest.approx(1.3, rel=0.03)  # Gy = 1.3 Gx: FWHM along y ~ 1/Gy
    assert fwhm_px(centre_row(exact)) == pytest.approx(fwhm_px(centre_row(model)), rel=0.01)


def test_polydisperse_tracer_sharpens_the_core_against_the_median_model():
    sc = get_scenario("polydisperse")
    assert sc.shift_invariant and sc.model_particle.diameter_nm == 22.0
    exact, model = sc.psf("exact"), sc.psf("model")
    # the signal weight ~ d^6 moves the effective size above the median (22 exp(6 s^2) = 25.2 nm)
    ratio = fwhm_px(centre_row(model)) / fwhm_px(centre_row(exact))
    assert 1.2 < ratio < (25.2 / 22.0) ** 3 * 1.05
    mono = dataclasses.replace(get_scenario("ideal")).psf("exact")  # 25 nm monodisperse
    far = (exact.shape[0] // 2, exact.shape[1] // 2 + 40)  # 8 mm away along the scan
    assert exact[far] > mono[far]  # broader skirts than a monodisperse tracer of similar core


def test_tracer_presets_and_partial_fov_have_no_exact_psf():
    for name in ("resovist", "perimag", "partial-fov"):
        sc = get_scenario(name)
        assert sc.psf_kinds() == ("model", "measured")
        with pytest.raises(ValueError, match="not shift-invariant"):
            sc.psf("exact")
    pfov = get_scenario("partial-fov")
    assert pfov.settings.partial_fov.width_mm == 5.0
    np.testing.assert_array_equal(pfov.psf("model"), get_scenario("ideal").psf("exact"))
    phantom = two_tube_phantom(gap_mm=2.2)
    native = pfov.simulator().simulate(phantom)
    ideal = get_scenario("ideal").simulator().simulate(phantom)
    # DC recovered by continuity: close to the full-FOV image, but not equal to it
    assert 0 < np.abs(native - ideal).max() < 0.5 * ideal.max()


def test_y_scan_is_the_mirror_image_of_tubes_across_the_x_scan():
    y_scan, across = get_scenario("y-scan"), get_scenario("tubes-across")
    assert y_scan.settings.scan_mode == "y" and y_scan.tube_orientation == "horizontal"
    assert across.settings.scan_mode == "x" and across.tube_orientation == "vertical"
    horizontal = two_tube_phantom(gap_mm=2.2)
    vertical = two_tube_phantom(gap_mm=2.2, orientation="vertical")
    np.testing.assert_allclose(y_scan.simulator().simulate(horizontal),
                               across.simulator().simulate(vertical).T, atol=1e-12)
    cfg = {"gaps_mm": (2.2,), "methods": ("native", "wiener-model-psf")}
    a = run_protocol(ProtocolConfig(scenario=y_scan, **cfg)).rows
    b = run_protocol(ProtocolConfig(scenario=across, **cfg)).rows
    for ra, rb in zip(a, b, strict=True):
        assert ra.dip == pytest.approx(rb.dip, abs=1e-9)
        assert ra.psnr_db == pytest.approx(rb.psnr_db, abs=1e-9)
    # across the scan the tubes merge more than along it (normal envelope 2.28x wider)
    along = run_protocol(ProtocolConfig(scenario=get_scenario("ideal"), **cfg)).rows
    assert along[0].dip > a[0].dip


def test_isotropic_psf_is_symmetric_and_between_x_and_y():
    sc = get_scenario("isotropic")
    k = sc.psf("exact")
    np.testing.assert_allclose(k, k.T, atol=1e-12)
    kx = get_scenario("ideal").psf("exact")
    assert fwhm_px(centre_row(kx)) < fwhm_px(centre_row(k)) < fwhm_px(kx[:, kx.shape[1] // 2])


def test_other_grid_scales_phantoms_and_psf_in_mm():
    sc = get_scenario("fov-32mm")
    assert sc.grid.shape == (128, 128) and sc.grid.pixel_mm == pytest.approx((0.25, 0.25))
    ideal = get_scenario("ideal")
    # the PSF is the same in mm: its FWHM in pixels scales with the pixel size
    ratio = fwhm_px(centre_row(sc.psf("exact"))) / fwhm_px(centre_row(ideal.psf("exact")))
    assert ratio == pytest.approx(ideal.grid.pixel_mm[1] / 0.25, rel=0.03)
    phantom = two_tube_phantom(gap_mm=1.0, grid=sc.grid)
    # two discs of 1.2 mm: area in pixels of 0.25 mm
    assert phantom.sum() == pytest.approx(2 * np.pi * 0.6**2 / 0.25**2, rel=0.02)


@pytest.mark.parametrize("name,snr", [("noise-20db", 20.0), ("noise-30db", 30.0),
                                      ("relaxation-30db", 30.0)])
def test_noise_scenarios_add_seeded_noise_at_their_level(name, snr):
    sc = get_scenario(name)
    assert sc.psf_snr_db == snr  # the point-source scan is as noisy as the images
    phantom = two_tube_phantom(gap_mm=2.2)
    clean = dataclasses.replace(sc, snr_db=None).simulator().simulate(phantom)
    noisy = sc.simulator().simulate(phantom, seed=3)
    assert measured_snr_db(clean, noisy) == pytest.approx(snr, abs=0.5)
    np.testing.assert_array_equal(noisy, sc.simulator().simulate(phantom, seed=3))


# --------------------------------------------------------------------------------------------
# bookkeeping: methods, tuning, tables
# --------------------------------------------------------------------------------------------
def test_default_methods_per_scenario():
    plain = ProtocolConfig().method_names()
    assert "wiener-wrong-psf" in plain and "wiener-model-psf" not in plain
    ideal = ProtocolConfig(scenario=get_scenario("ideal")).method_names()
    assert {"native", "wiener", "wiener-model-psf", "richardson-lucy-measured-psf"} <= set(ideal)
    assert "wiener-wrong-psf" not in ideal
    relaxed = ProtocolConfig(scenario=get_scenario("relaxation")).method_names()
    assert "richardson-lucy-measured-psf" in relaxed and "richardson-lucy" not in relaxed
    with pytest.raises(ValueError, match="exact PSF"):
        ProtocolConfig(scenario=get_scenario("relaxation"), methods=("wiener",)).method_names()
    with pytest.raises(ValueError, match="fixed by the scenario"):
        ProtocolConfig(scenario=get_scenario("ideal"), snr_db=30.0)


def test_validation_set_never_uses_test_phantoms():
    assert not set(scn.VALIDATION_GAPS_MM) & set(PROTOCOL_GAPS_MM)
    from napari_mpi_dl.phantoms.mnist import mnist_indices, mnist_phantoms

    phantoms, natives = scn.validation_set(get_scenario("noise-30db"), n_digits=2)
    assert len(phantoms) == len(natives) == len(scn.VALIDATION_GAPS_MM) + 2
    np.testing.assert_array_equal(phantoms[-1], mnist_phantoms(mnist_indices("train")[1:2])[0])
    assert not set(mnist_indices("train")[:2]) & set(mnist_indices("test"))


def test_tuning_picks_candidates_and_reaches_the_methods(monkeypatch):
    monkeypatch.setattr(scn, "WIENER_BALANCES", (1e-1, 1e-3))
    monkeypatch.setattr(scn, "RL_ITERATIONS", (2, 30))
    calls = []
    import napari_mpi_dl.analysis.methods as methods

    real = methods.deconvolve

    def spy(image, psf, *, method, **options):
        calls.append((method, options))
        return real(image, psf, method=method, **options)

    monkeypatch.setattr(methods, "deconvolve", spy)
    cfg = ProtocolConfig(scenario=get_scenario("ideal"), gaps_mm=(3.0,), tune=True,
                         n_validation_digits=0,
                         methods=("wiener-model-psf", "richardson-lucy-measured-psf"))
    result = run_protocol(cfg)
    tuned = {(t.algorithm, t.psf): t for t in result.tuning}
    assert set(tuned) == {("wiener", "model"), ("richardson-lucy", "model"),
                          ("wiener", "measured"), ("richardson-lucy", "measured")}
    # without noise, the weaker regularisation and the longer run restore the tubes better
    assert tuned[("wiener", "model")].options == {"balance": 1e-3}
    assert tuned[("richardson-lucy", "measured")].options == {"iterations": 30, "tol": 0.0}
    assert calls == [("wiener", {"balance": 1e-3}),
                     ("richardson-lucy", {"iterations": 30, "tol": 0.0})]


def _row(scenario, method, psnr, gap):
    return SummaryRow(scenario, method, method.title(), psnr, 0.5, gap, 1, 7, psnr - 1, 0.4, 5)


def test_summary_markdown_marks_the_best_and_missing_methods():
    rows = [_row("ideal", "native", 8.0, 2.6), _row("ideal", "wiener", 12.0, 2.2),
            _row("relaxation", "native", 7.0, None)]
    text = summary_markdown(rows, {"ideal": "Ideal", "relaxation": "Relaxation 2 us"})
    assert "| Method | Ideal | Relaxation 2 us |" in text
    assert "| Wiener | **11.00 / 0.400 / 2.2** | n/a |" in text
    assert "| Native | 7.00 / 0.400 / 2.6 | **6.00 / 0.400 / -** |" in text
    assert "5 held-out MNIST digits" in text


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------
def test_evaluate_scenarios_writes_tables_per_scenario_and_a_summary(tmp_path, capsys):
    out = tmp_path / "mismatch"
    code = main(["evaluate", "--out", str(out), "--scenario", "ideal", "--scenario",
                 "relaxation", "--gaps", "3.0", "--methods", "native,wiener-model-psf",
                 "--tuning", "defaults", "--mnist", "1"])
    assert code == 0
    for name in ("ideal", "relaxation"):
        rows = read_csv(out / name / "two_tube_protocol.csv")
        assert [r["method"] for r in rows] == ["native", "wiener-model-psf"]
        md = (out / name / "two_tube_protocol.md").read_text()
        assert f"Scenario `{name}`" in md and "n = 1" in md
        assert (out / name / "two_tube_protocol.png").read_bytes()[:4] == b"\x89PNG"
    summary = read_summary_csv(out / "summary.csv")
    assert [(r["scenario"], r["method"]) for r in summary] == [
        (s, m) for s in ("ideal", "relaxation") for m in ("native", "wiener-model-psf")]
    assert all(r["n_digits"] == 1 and np.isfinite(r["digits_psnr_db_mean"]) for r in summary)
    ideal_native = read_csv(out / "ideal" / "two_tube_protocol.csv")[0]
    assert summary[0]["tube_psnr_db_mean"] == pytest.approx(ideal_native["psnr_db"])
    assert "| Method | Ideal | Relaxation 2 us |" in (out / "summary.md").read_text()
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert "| Method | Ideal |" in capsys.readouterr().out


def test_evaluate_scenario_errors_and_listing(tmp_path, capsys):
    assert main(["evaluate", "--out", str(tmp_path), "--list-scenarios"]) == 0
    listed = capsys.readouterr().out
    assert all(f"{name}: " in listed for name in REQUIRED)
    assert main(["evaluate", "--out", str(tmp_path), "--scenario", "bogus"]) == 2
    assert "unknown scenario 'bogus'" in capsys.readouterr().err
    assert main(["evaluate", "--out", str(tmp_path), "--scenario", "ideal",
                 "--snr-db", "30"]) == 2
    assert "fixed by each --scenario" in capsys.readouterr().err
    assert main(["evaluate", "--out", str(tmp_path), "--scenario", "relaxation",
                 "--methods", "richardson-lucy"]) == 2
    assert "exact PSF" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written on bad input


def test_deconvolve_measured_psf_works_with_relaxation(tmp_path, capsys):
    native = tmp_path / "relaxed.tif"
    assert main(["simulate", "two-tube", "--gap-mm", "3.0", "--relaxation-time-s", "2e-6",
                 "--method", "signal", "-o", str(native)]) == 0
    out = tmp_path / "rl.tif"
    assert main(["deconvolve", str(native), "--method", "richardson-lucy", "--iterations",
                 "30", "--psf", "measured", "--out", str(out)]) == 0
    assert "measured PSF (30 dB)" in capsys.readouterr().err
    from napari_mpi_dl.io.images import read_image

    image = read_image(out)
    assert image.shape == (101, 101) and np.all(np.isfinite(image)) and image.max() > 0
    assert main(["deconvolve", str(native), "--psf", "exact", "--out",
                 str(tmp_path / "x.tif")]) == 2
    assert "no exact PSF with relaxation" in capsys.readouterr().err
    assert main(["deconvolve", str(native), "--psf", "model", "--out",
                 str(tmp_path / "m.tif")]) == 0


def test_identical_kernels_are_deconvolved_once(monkeypatch):
    import napari_mpi_dl.analysis.methods as methods

    calls = []
    real = methods.deconvolve
    monkeypatch.setattr(methods, "deconvolve", lambda image, psf, *, method, **o: (
        calls.append(method), real(image, psf, method=method, **o))[1])
    result = run_protocol(ProtocolConfig(scenario=get_scenario("ideal"), gaps_mm=(2.2,),
                                         methods=("wiener", "wiener-model-psf",
                                                  "wiener-measured-psf")))
    assert calls == ["wiener", "wiener"]  # exact == model in the ideal scenario: one run
    a, b, c = result.rows
    assert (a.psnr_db, a.dip) == (b.psnr_db, b.dip)
    assert 0 < b.runtime_s <= a.runtime_s  # the reused result reports its computation time
    assert c.psnr_db != a.psnr_db


def test_a_restoration_with_negative_peaks_is_scored_not_fatal(clean_registry):
    from napari_mpi_dl.analysis.methods import register

    # an offset image: its profile's two main peaks are negative (as Wiener ringing can give)
    register("inverted", lambda native, context: native - native.max() - 1.0)
    row = run_protocol(ProtocolConfig(gaps_mm=(3.0,), methods=("inverted",))).rows[0]
    assert (row.dip, row.resolved, row.n_peaks) == (0.0, False, 0)
    assert np.isfinite(row.psnr_db)
