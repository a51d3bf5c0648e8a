"""The two-tube protocol, its method registry and the ``evaluate`` command's outputs."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from napari_mpi_dl.analysis import methods
from napari_mpi_dl.analysis.methods import load_providers, register
from napari_mpi_dl.analysis.protocol import ProtocolConfig, run_protocol
from napari_mpi_dl.analysis.tables import markdown_table, read_csv
from napari_mpi_dl.cli.main import main

FAST = ("native", "wiener", "wiener-wrong-psf")


@pytest.fixture
def clean_registry():
    with methods.REGISTRY.restored():
        yield


def test_protocol_on_two_gaps():
    result = run_protocol(ProtocolConfig(gaps_mm=(1.0, 3.0), methods=FAST))
    assert [(r.gap_mm, r.method) for r in result.rows] == [
        (g, m) for g in (1.0, 3.0) for m in FAST]
    rows = {(r.gap_mm, r.method): r for r in result.rows}
    # the low gradient merges 1.0 mm but resolves 3.0 mm in the native image (presets doc)
    assert not rows[(1.0, "native")].resolved and rows[(3.0, "native")].resolved
    assert rows[(3.0, "native")].dip == pytest.approx(0.31, abs=0.03)
    # Wiener with the exact PSF beats the native image in PSNR and dip; the wrong PSF less so
    for gap in (1.0, 3.0):
        assert rows[(gap, "wiener")].psnr_db > rows[(gap, "native")].psnr_db
    assert rows[(3.0, "wiener")].dip > rows[(3.0, "wiener-wrong-psf")].dip
    assert result.smallest_resolved_gap("native") == 3.0
    table = markdown_table(result)
    assert "| Gap (mm) | Native | Wiener (exact PSF) | Wiener (wrong PSF) |" in table
    assert "| 3.0 | " in table and "✓" in table


def test_noise_is_seeded():
    cfg = ProtocolConfig(gaps_mm=(2.2,), methods=("native",), snr_db=30.0, seed=5)
    a, b = run_protocol(cfg), run_protocol(cfg)
    c = run_protocol(ProtocolConfig(gaps_mm=(2.2,), methods=("native",), snr_db=30.0, seed=6))
    np.testing.assert_array_equal(a.images[(2.2, "native")], b.images[(2.2, "native")])
    assert a.rows[0].psnr_db != c.rows[0].psnr_db


def test_registered_methods_join_the_protocol(clean_registry):
    calls = []

    def flipped(native, context):
        calls.append(context.settings.gradient_t_per_m)
        return native[:, ::-1]

    register("flipped", flipped, label="Flipped")
    with pytest.raises(ValueError, match="already registered"):
        register("flipped", flipped)
    result = run_protocol(ProtocolConfig(gaps_mm=(3.0,), methods=("native", "flipped")))
    assert calls == [1.35]
    assert result.labels["flipped"] == "Flipped"
    assert result.rows[1].psnr_db == pytest.approx(result.rows[0].psnr_db, abs=0.5)
    with pytest.raises(ValueError, match="unknown method"):
        ProtocolConfig(methods=("nope",)).method_names()


def test_optional_providers_are_loaded_or_skipped(clean_registry, monkeypatch):
    module = types.ModuleType("fake_provider")

    def register_protocol_methods(register):
        register("fake-gan", lambda native, context: native, label="Fake GAN")

    module.register_protocol_methods = register_protocol_methods
    broken = types.ModuleType("broken_provider")

    def fail(register):
        raise FileNotFoundError("weights absent")

    broken.register_protocol_methods = fail
    monkeypatch.setitem(sys.modules, "fake_provider", module)
    monkeypatch.setitem(sys.modules, "broken_provider", broken)
    messages = load_providers(["fake_provider", "broken_provider", "not_a_module_x", fail,
                               register_protocol_methods])
    assert methods.get("fake-gan").label == "Fake GAN"
    assert len(messages) == 3
    assert "weights absent" in messages[0] and "not_a_module_x" in messages[1]
    assert messages[2].startswith(f"skipped optional methods from {__name__}: FileNotFoundError")


def test_the_registry_hook_undoes_what_a_test_registered():
    before = methods.available()
    with methods.REGISTRY.restored():
        register("temporary", lambda native, context: native)
        register("native", lambda native, context: -native, replace=True)
        assert "temporary" in methods.available()
    assert methods.available() == before
    with pytest.raises(ValueError, match=r"unknown method 'temporary'; registered: \['native'"):
        methods.get("temporary")


def test_evaluate_command_leaves_the_registry_as_it_found_it(tmp_path, capsys):
    before = methods.available()
    assert main(["evaluate", "--list-methods", "--out", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert "wiener-wrong-psf: Wiener (wrong PSF)" in listed
    assert methods.available() == before  # DC_GAN (when it loads) was registered for the run


def test_evaluate_command_writes_csv_markdown_and_png(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["evaluate", "--out", str(out), "--gaps", "1.0", "3.0", "--methods",
                 "native,wiener,richardson-lucy", "--snr-db", "30", "--seed", "2"])
    assert code == 0
    rows = read_csv(out / "two_tube_protocol.csv")
    assert len(rows) == 6
    assert {r["method"] for r in rows} == {"native", "wiener", "richardson-lucy"}
    for r in rows:
        assert np.isfinite(r["psnr_db"]) and -1 <= r["ssim"] <= 1 and r["dip"] >= 0
    rl = {r["gap_mm"]: r for r in rows if r["method"] == "richardson-lucy"}
    nat = {r["gap_mm"]: r for r in rows if r["method"] == "native"}
    assert rl[3.0]["psnr_db"] > nat[3.0]["psnr_db"] + 5
    md = (out / "two_tube_protocol.md").read_text()
    assert "30 dB" in md and "| 1.0 |" in md and "Smallest resolved gap" in md
    assert (out / "two_tube_protocol.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr()
    assert "| Gap (mm) |" in printed.out
    assert main(["evaluate", "--out", str(out), "--methods", "native,bogus"]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_evaluate_mnist_part(tmp_path):
    pytest.importorskip("napari_mpi_dl.phantoms.mnist")
    code = main(["evaluate", "--out", str(tmp_path), "--gaps", "2.2", "--methods",
                 "native,wiener", "--mnist", "3", "--no-figure"])
    assert code == 0
    text = (tmp_path / "mnist.md").read_text()
    assert "n = 3" in text and "Wiener (exact PSF)" in text
    assert not (tmp_path / "two_tube_protocol.png").exists()


def test_a_dip_between_peaks_away_from_the_tubes_is_not_resolved():
    import numpy as np

    from napari_mpi_dl.analysis.profiles import analyse_profile
    from napari_mpi_dl.analysis.protocol import peaks_at_tubes

    gap, diameter = 1.0, 1.2  # tubes at 2.2 mm and 4.4 mm along the protocol's profile line
    x = np.linspace(0.0, 6.6, 661)
    on_tubes = np.exp(-0.5 * ((x - 2.2) / 0.3) ** 2) + np.exp(-0.5 * ((x - 4.4) / 0.3) ** 2)
    ringing = np.exp(-0.5 * ((x - 0.5) / 0.3) ** 2) + np.exp(-0.5 * ((x - 6.1) / 0.3) ** 2)
    good = analyse_profile(x, on_tubes)
    bad = analyse_profile(x, ringing)
    assert good.resolved and peaks_at_tubes(good, gap_mm=gap, diameter_mm=diameter)
    assert bad.resolved and not peaks_at_tubes(bad, gap_mm=gap, diameter_mm=diameter)
