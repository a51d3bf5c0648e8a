"""Realistic randomised DC_GAN training data: draws, transposition, disjoint phantoms, card."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mpi_dl.dcgan.realistic_data import (
    RESERVED_DIGITS,
    RealisticConfig,
    draw_image,
    generate_realistic_domains,
    realistic_card,
    training_digits,
)

SMALL = dict(n_x=6, n_y=3, tracers=("ideal",), relaxation_times_s=(0.0,),
             gradient_errors=(-0.15, 0.0), seed=3)


def test_draws_are_seeded_in_range_and_cover_both_scan_modes():
    cfg = RealisticConfig(n_x=200, n_y=100, clean_fraction=0.25)
    draws = [draw_image(cfg, "x", i) for i in range(200)]
    assert draws == [draw_image(cfg, "x", i) for i in range(200)]
    snrs = [d.snr_db for d in draws if d.snr_db is not None]
    assert 0.6 < len(snrs) / 200 < 0.9 and min(snrs) >= 20.0 and max(snrs) <= 40.0
    assert {d.scan_mode for d in draws} == {"x", "y"}
    assert len({d.combo for d in draws}) == 4 * 3 * 3  # every physics bin drawn
    assert all(draw_image(cfg, "y", i).snr_db is None for i in range(50))  # Y noise-free


def test_training_digits_are_disjoint_and_never_validation_or_test_digits():
    from napari_mpi_dl.phantoms.mnist import mnist_indices

    ix, iy = training_digits(RealisticConfig(n_x=900, n_y=500))
    train = np.asarray(mnist_indices("train"))
    assert not set(ix) & set(iy)
    assert set(ix) | set(iy) <= set(train[RESERVED_DIGITS:].tolist())
    assert not (set(ix) | set(iy)) & set(np.asarray(mnist_indices("test")).tolist())
    with pytest.raises(ValueError, match="n_x"):
        RealisticConfig(n_x=0)
    with pytest.raises(ValueError, match="y_kind"):
        RealisticConfig(y_kind="wiener")


def test_y_scan_natives_are_transposed_into_the_models_scan_axis():
    from napari_mpi_dl.phantoms.mnist import mnist_phantoms
    from napari_mpi_dl.physics.native import NativeSimulator
    from napari_mpi_dl.physics.settings import XSpaceSettings

    cfg = RealisticConfig(**SMALL, clean_fraction=1.0, y_kind="native-high")
    dom = generate_realistic_domains(cfg)
    ix, _ = training_digits(cfg)
    phantoms = mnist_phantoms(ix)
    modes = [draw_image(cfg, "x", i).scan_mode for i in range(cfg.n_x)]
    assert set(modes) == {"x", "y"}
    for i, mode in enumerate(modes):
        s = cfg.draws.apply(XSpaceSettings(scan_mode=mode), draw_image(cfg, "x", i).combo)
        native = NativeSimulator(s).simulate(phantoms[i])
        want = native.T if mode == "y" else native
        lo, hi = want.min(), want.max()
        np.testing.assert_allclose(dom.x[i], 2 * (want - lo) / (hi - lo) - 1, atol=1e-5)
    assert dom.y.shape == (3, 101, 101)


def test_training_on_realistic_data_writes_their_card():
    torch = pytest.importorskip("torch")
    del torch
    from dcgan_helpers import tiny_model_config

    from napari_mpi_dl.dcgan.card import card_from_info
    from napari_mpi_dl.dcgan.inference import load_deblurrer
    from napari_mpi_dl.dcgan.networks import ResnetGenerator
    from napari_mpi_dl.dcgan.train import save_generator_weights

    cfg = RealisticConfig(n_x=300, n_y=100)
    card = realistic_card(cfg)
    info = {"data": {"source": "x", "card": card.to_dict()}, "command": "napari-mpi-dl train"}
    got = card_from_info(info)
    assert got.relaxation_time_s == (0.0, 3e-6) and got.snr_db == (20.0, 40.0)
    assert got.scan_modes == ("x",) and got.provenance == "command: napari-mpi-dl train"
    assert "resovist" in got.tracer and "perimag" in got.tracer
    # a y-scan input is covered by transposition; relaxation inside the range is covered,
    # beyond it is not (named in the problem)
    px = got.pixel_mm
    assert got.check_input(pixel_mm=px, scan_mode="y", relaxation_time_s=2e-6).transpose
    assert got.check_input(pixel_mm=px, scan_mode="x", relaxation_time_s=2e-6).covered
    cov = got.check_input(pixel_mm=px, scan_mode="x", relaxation_time_s=6e-6)
    assert not cov.covered and "relaxation differs" in cov.message()
    import tempfile
    from pathlib import Path

    mc = tiny_model_config()
    with tempfile.TemporaryDirectory() as d:
        w = save_generator_weights(Path(d) / "w.pt", ResnetGenerator(mc.generator), mc,
                                   info=info)
        from napari_mpi_dl.dcgan.card import model_card

        assert model_card(load_deblurrer(w, device="cpu")) == got


def test_train_deblur_realistic_flag_generates_the_realistic_domains_and_writes_their_card(
        tmp_path):
    pytest.importorskip("torch")
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.dcgan.data import load_saved_domains
    from napari_mpi_dl.dcgan.weights import read_card

    out, cache = tmp_path / "w.pt", tmp_path / "d.npz"
    rc = main(["train", "deblur", "--generate", "6", "--y-phantoms", "2", "--realistic",
               "rl-ideal", "--rl-iterations", "3", "--steps", "2", "--ngf", "4",
               "--n-blocks", "1", "--ndf", "4", "--d-layers", "1", "--num-patches", "8",
               "--nce-layers", "0,2,4",
               "--threads", "1", "--seed", "1", "--checkpoint-dir", str(tmp_path / "ck"),
               "--save-data", str(cache), "--out", str(out), "--no-progress"])
    assert rc == 0
    domains = load_saved_domains(cache)
    assert domains.x.shape[0] == 4 and domains.y.shape[0] == 2
    assert domains.info["realistic"]["y_kind"] == "rl-ideal"
    # the same images as the library makes from the same configuration
    ref = generate_realistic_domains(RealisticConfig(n_x=4, n_y=2, y_kind="rl-ideal",
                                                     rl_iterations=3, seed=1))
    np.testing.assert_allclose(domains.x, ref.x, rtol=1e-6)
    _, card = read_card(out)
    assert card.relaxation_time_s == (0.0, 3e-6) and card.snr_db == (20.0, 40.0)
    assert "--realistic rl-ideal" in card.provenance


@pytest.mark.parametrize("extra, message", [
    (["--realistic", "rl-model", "--data", "x.npz"], "use it with --generate"),
    (["--realistic", "rl-model", "--generate", "4", "--y-source", "native_high"],
     "--y-source does not apply"),
    (["--realistic", "rl-model", "--generate", "4", "--y-phantoms", "4"],
     "--y-phantoms must be between 1 and"),
    (["--generate", "4", "--realistic", "rl-ideal", "--realistic-scan-modes", "x", "isotropic"],
     "--realistic-scan-modes x isotropic: give x and/or y"),
    (["--generate", "4", "--realistic-scan-modes", "isotropic"],
     "--realistic-scan-modes chooses the scan modes"),
    (["--generate", "4", "--workers", "2"], "--workers parallelises --realistic"),
    (["--generate", "4", "--realistic", "rl-ideal", "--workers", "0"],
     "--workers must be an integer >= 1, got 0"),
])
def test_train_deblur_realistic_options_reject_what_does_not_apply(tmp_path, capsys, extra,
                                                                   message):
    from napari_mpi_dl.cli.main import main

    rc = main(["train", "deblur", *extra, "--steps", "1",
               "--checkpoint-dir", str(tmp_path / "ck"), "--no-progress"])
    assert rc != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "ck").exists()


def test_generation_in_worker_processes_gives_the_one_process_images():
    """Each image's draw, phantom and noise seed follow its index, not the chunk or process it
    was simulated in: 2 worker processes (groups split into chunks) give the same domains."""
    from napari_mpi_dl.dcgan import realistic_data
    from napari_mpi_dl.phantoms.mnist import mnist_phantoms

    cfg = RealisticConfig(n_x=7, n_y=3, tracers=("ideal", "perimag"), relaxation_times_s=(0.0,),
                          gradient_errors=(0.0,), clean_fraction=0.3, rl_iterations=3, seed=3)
    one = generate_realistic_domains(cfg)
    two = generate_realistic_domains(cfg, workers=2)
    np.testing.assert_allclose(two.x, one.x, rtol=0, atol=1e-6)
    np.testing.assert_allclose(two.y, one.y, rtol=0, atol=1e-6)
    assert one.info["card"] == two.info["card"]
    # chunks of one image each still give the same images (noise seeded by the image index)
    ix, _ = training_digits(cfg)
    chunked = realistic_data.simulate_domain(cfg, "x", mnist_phantoms(ix), workers=1)
    old = realistic_data.CHUNK_IMAGES
    try:
        realistic_data.CHUNK_IMAGES = 1
        single = realistic_data.simulate_domain(cfg, "x", mnist_phantoms(ix), workers=2)
    finally:
        realistic_data.CHUNK_IMAGES = old
    np.testing.assert_allclose(single, chunked, rtol=0, atol=1e-9 * np.abs(chunked).max())
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        realistic_data.simulate_domain(cfg, "x", mnist_phantoms(ix), workers=0)


# ---- isotropic scans (an isotropic model) -------------------------------------------------
ISO = dict(n_x=3, n_y=2, tracers=("ideal",), relaxation_times_s=(0.0,),
           gradient_errors=(-0.15, 0.0), scan_modes=("isotropic",), seed=3)


def _unit(a):
    lo, hi = a.min(), a.max()
    return 2 * (a - lo) / (hi - lo) - 1


def test_isotropic_data_are_not_transposed_use_isotropic_kernels_and_their_card_says_so():
    from napari_mpi_dl.dcgan.realistic_data import _Physics
    from napari_mpi_dl.phantoms.mnist import mnist_phantoms
    from napari_mpi_dl.physics.native import NativeSimulator
    from napari_mpi_dl.physics.settings import XSpaceSettings
    from napari_mpi_dl.recon.deconvolution import deconvolve
    from napari_mpi_dl.recon.psf_models import model_psf

    cfg = RealisticConfig(**ISO, clean_fraction=1.0, y_kind="rl-ideal", rl_iterations=3)
    dom = generate_realistic_domains(cfg)
    ix, iy = training_digits(cfg)
    for i, phantom in enumerate(mnist_phantoms(ix)):
        draw = draw_image(cfg, "x", i)
        assert draw.scan_mode == "isotropic"
        s = cfg.draws.apply(XSpaceSettings(scan_mode="isotropic"), draw.combo)
        native = NativeSimulator(s).simulate(phantom)
        np.testing.assert_allclose(dom.x[i], _unit(native), atol=1e-5)
        assert np.abs(dom.x[i] - _unit(native.T)).max() > 0.1     # a digit is not symmetric
    # Y: Richardson-Lucy of ideal isotropic natives with their exact (isotropic) PSF
    ideal = XSpaceSettings(scan_mode="isotropic")
    kernel = model_psf(ideal)
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-12)
    assert not np.allclose(kernel, model_psf(XSpaceSettings(scan_mode="x")))
    for i, phantom in enumerate(mnist_phantoms(iy)):
        want = deconvolve(NativeSimulator(ideal).simulate(phantom), kernel,
                          method="richardson-lucy", iterations=3, tol=0)
        np.testing.assert_allclose(dom.y[i], _unit(want), atol=1e-5)
    # the model-PSF kind deconvolves with the drawn tracer's isotropic adiabatic kernel
    model_cfg = RealisticConfig(**ISO, y_kind="rl-model")
    draw = draw_image(model_cfg, "y", 0)
    got = _Physics(model_cfg).kernel(draw, "rl-model")
    s = model_cfg.draws.apply(XSpaceSettings(scan_mode="isotropic"), draw.combo)
    np.testing.assert_allclose(got, model_psf(s))
    # the card: an isotropic model, which covers isotropic inputs and nothing else
    card = realistic_card(cfg)
    assert dom.info["card"] == card.to_dict() and dom.info["scan_mode"] == "isotropic"
    assert card.scan_modes == ("isotropic",)
    assert "isotropic scans" in card.data and "transposed into the x axis" not in card.data
    assert f"the first {RESERVED_DIGITS} training digits (validation)" in card.data
    assert card.check_input(pixel_mm=card.pixel_mm, scan_mode="isotropic").covered
    for mode in ("x", "y"):
        cov = card.check_input(pixel_mm=card.pixel_mm, scan_mode=mode)
        assert not cov.covered and "trained on isotropic scans only" in cov.message()
    assert realistic_card(RealisticConfig(n_x=2, n_y=1)).scan_modes == ("x",)


@pytest.mark.parametrize("modes", [("x", "isotropic"), ("isotropic", "y"), (), ("z",),
                                   ("x", "x")])
def test_isotropic_scans_do_not_mix_with_single_axis_scans(modes):
    with pytest.raises(ValueError, match="'isotropic' alone"):
        RealisticConfig(scan_modes=modes)


def test_train_deblur_realistic_scan_modes_isotropic_generates_isotropic_data(tmp_path):
    pytest.importorskip("torch")
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.dcgan.data import load_saved_domains
    from napari_mpi_dl.dcgan.weights import read_card

    out, cache = tmp_path / "w.pt", tmp_path / "d.npz"
    rc = main(["train", "deblur", "--generate", "3", "--y-phantoms", "2", "--realistic",
               "rl-ideal", "--realistic-scan-modes", "isotropic", "--rl-iterations", "2",
               "--steps", "1", "--ngf", "4", "--n-blocks", "1", "--ndf", "4", "--d-layers", "1",
               "--num-patches", "8", "--nce-layers", "0,2,4", "--threads", "1",
               "--seed", "1",  # its one X image draws no relaxation: a fast simulation
               "--checkpoint-dir", str(tmp_path / "ck"), "--save-data", str(cache),
               "--out", str(out), "--no-progress"])
    assert rc == 0
    domains = load_saved_domains(cache)
    assert domains.x.shape[0] == 1 and domains.y.shape[0] == 2
    want = RealisticConfig(n_x=1, n_y=2, y_kind="rl-ideal", rl_iterations=2, seed=1,
                           scan_modes=("isotropic",))
    assert domains.info["realistic"] == want.as_dict()
    assert domains.info["scan_mode"] == "isotropic"
    _, card = read_card(out)
    assert card.scan_modes == ("isotropic",) and "isotropic scans" in card.data
    assert "--realistic-scan-modes isotropic" in card.provenance


