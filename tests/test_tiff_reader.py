"""The napari reader of the package's TIFFs: simulate -> deconvolve files reopen in mm."""

import numpy as np
import pytest

from napari_mpi_dl.cli.main import main
from napari_mpi_dl.napari_io.tiff_reader import get_reader

pytest.importorskip("napari")


def test_written_tiffs_reopen_with_scale_units_and_metadata(make_napari_viewer, tmp_path):
    native, deconv = tmp_path / "native.tif", tmp_path / "wiener.tif"
    assert main(["simulate", "two-tube", "--gap-mm", "2.2", "-o", str(native)]) == 0
    assert main(["deconvolve", str(native), "--out", str(deconv)]) == 0
    viewer = make_napari_viewer()
    for path in (native, deconv):
        (layer,) = viewer.open(str(path), plugin="napari-mpi-dl")
        np.testing.assert_allclose(layer.scale, (20 / 101, 20 / 101))
        np.testing.assert_allclose(layer.translate, (-10 + 10 / 101, -10 + 10 / 101))
        assert [str(u) for u in layer.units] == ["millimeter", "millimeter"]
        assert layer.metadata["settings"]["gradient_t_per_m"] == pytest.approx(1.35)
    assert viewer.layers["native"].metadata["gap_mm"] == 2.2
    assert viewer.layers["wiener"].metadata["kind"] == "deconvolved"


def test_other_tiffs_are_left_to_napari(tmp_path):
    import tifffile

    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((8, 8), np.float32))
    described = tmp_path / "described.tif"
    tifffile.imwrite(described, np.zeros((8, 8), np.float32), metadata={"kind": "cells"})
    assert get_reader(str(plain)) is None and get_reader(str(described)) is None
    assert get_reader(str(tmp_path / "missing.tif")) is None
    assert get_reader(str(tmp_path / "x.png")) is None
