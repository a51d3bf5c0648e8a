"""HDF5 data sets: layout, parameters, determinism, atomic writing, CLI and reader."""

import json

import h5py
import numpy as np
import pytest

from napari_mpi_dl import datasets as ds
from napari_mpi_dl.cli.main import main
from napari_mpi_dl.datasets import generate, read_dataset
from napari_mpi_dl.phantoms.mnist import mnist_labels, mnist_phantoms
from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.native import simulate_native
from napari_mpi_dl.physics.settings import XSpaceSettings

GRID = ImageGrid(shape=(48, 48), fov_mm=(20.0, 20.0))


@pytest.fixture(scope="module")
def mnist_set():
    return ds.mnist_phantom_set(split="test", n=12, grid=GRID)


def _config(**kw):
    base = {"gradients": ("low", 3.0), "grid": GRID, "chunk_size": 5, "workers": 2}
    return ds.DatasetConfig(**{**base, **kw})


def test_layout_values_and_attributes(tmp_path, mnist_set):
    path = ds.generate_dataset(tmp_path / "d.h5", mnist_set, _config(snr_db=25.0, seed=3),
                               command="napari-mpi-dl dataset mnist")
    with h5py.File(path, "r") as h5:
        assert set(h5) == {"phantom", "native", "native_noisy", "label", "source_index"}
        assert set(h5["native"]) == set(h5["native_noisy"]) == {"low", "g3"}
        for key in ("phantom", "native/low", "native/g3", "native_noisy/low"):
            assert h5[key].shape == (12, 48, 48) and h5[key].dtype == np.float32
        attrs = dict(h5.attrs)
        np.testing.assert_array_equal(h5["label"][()], mnist_labels(np.arange(1500, 1512)))
        np.testing.assert_array_equal(h5["source_index"][()], np.arange(1500, 1512))
        np.testing.assert_allclose(h5["phantom"][()], mnist_phantoms(range(1500, 1512),
                                                                      grid=GRID), atol=1e-7)
        expected = simulate_native(mnist_set.phantoms,
                                   XSpaceSettings(gradient_t_per_m=3.0, grid=GRID))
        np.testing.assert_allclose(h5["native/g3"][()], expected, rtol=1e-5, atol=1e-5)
        noisy, clean = h5["native_noisy/low"][()], h5["native/low"][()]
    settings = json.loads(attrs["settings_json"])
    assert settings["low"]["gradient_t_per_m"] == 1.35 and settings["g3"]["gradient_t_per_m"] == 3
    assert list(attrs["fov_mm"]) == [20.0, 20.0]
    assert list(attrs["pixel_mm"]) == pytest.approx([20 / 48, 20 / 48])
    assert attrs["seed"] == 3 and attrs["snr_db"] == 25.0
    assert attrs["command"] == "napari-mpi-dl dataset mnist"
    assert attrs["phantom_source"] == "mnist" and attrs["created_utc"].endswith("Z")
    assert attrs["package_version"]
    for i in range(12):  # each image at the requested SNR (whole-image power)
        snr = 10 * np.log10(np.mean(clean[i] ** 2) / np.mean((noisy[i] - clean[i]) ** 2))
        assert snr == pytest.approx(25.0, abs=0.7)


def test_result_does_not_depend_on_workers_chunks_or_executor(tmp_path, mnist_set):
    runs = {
        "serial": _config(snr_db=20.0, workers=1, chunk_size=12),
        "threads": _config(snr_db=20.0, workers=2, chunk_size=5),
        "processes": _config(snr_db=20.0, workers=2, chunk_size=7, executor="process"),
    }
    data = {}
    for name, config in runs.items():
        path = ds.generate_dataset(tmp_path / f"{name}.h5", mnist_set, config)
        data[name] = read_dataset(path)
    for name in ("threads", "processes"):
        for grp in ("native", "native_noisy"):
            for g in ("low", "g3"):
                np.testing.assert_array_equal(getattr(data[name], grp)[g],
                                              getattr(data["serial"], grp)[g])
    other_seed = ds.generate_dataset(tmp_path / "seed.h5", mnist_set,
                                     _config(snr_db=20.0, seed=1))
    assert not np.array_equal(read_dataset(other_seed).native_noisy["low"],
                              data["serial"].native_noisy["low"])


def test_interrupted_generation_leaves_no_file(tmp_path, mnist_set, monkeypatch):
    calls = []
    real = generate.simulate_chunk

    def interrupted(phantoms, start, config):
        calls.append(start)
        if start > 0:
            raise KeyboardInterrupt
        return real(phantoms, start, config)

    monkeypatch.setattr(generate, "simulate_chunk", interrupted)
    target = tmp_path / "d.h5"
    with pytest.raises(KeyboardInterrupt):
        ds.generate_dataset(target, mnist_set, _config(workers=1))
    assert len(calls) >= 2  # it had started writing
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_unless_overwrite(tmp_path, mnist_set):
    target = tmp_path / "d.h5"
    ds.generate_dataset(target, mnist_set, _config(gradients=("low",)))
    with pytest.raises(ValueError, match="overwrite"):
        ds.generate_dataset(target, mnist_set, _config())
    assert read_dataset(target).gradient_names == ["low"]
    ds.generate_dataset(target, mnist_set, _config(), overwrite=True)
    assert read_dataset(target).gradient_names == ["low", "g3"]


def test_deconvolved_group(tmp_path):
    pytest.importorskip("napari_mpi_dl.recon.deconvolution",
                        reason="recon.deconvolution (another helper's module) is not there yet")
    tubes = ds.two_tube_phantom_set(gaps_mm=[2.6], grid=GRID)
    path = ds.generate_dataset(tmp_path / "t.h5", tubes,
                               _config(gradients=("low",), deconvolve="wiener"))
    data = read_dataset(path)
    assert data.attrs["deconvolution_method"] == "wiener"
    deconv, native, phantom = data.deconvolved["low"][0], data.native["low"][0], data.phantom[0]
    assert deconv.shape == (48, 48)
    # deconvolution brings the image closer to the phantom than the blurred native image
    def err(img):
        return np.linalg.norm(img / img.max() - phantom / phantom.max())

    assert err(deconv) < err(native)
    assert data.label[0] == -1 and data.attrs["phantom_source"] == "two-tube"
    with pytest.raises(ValueError, match="wiener"):
        ds.generate_dataset(tmp_path / "x.h5", tubes, _config(deconvolve="magic"))
    assert not (tmp_path / "x.h5").exists()


def test_reader_rejects_broken_layouts(tmp_path, mnist_set):
    path = ds.generate_dataset(tmp_path / "d.h5", mnist_set, _config())
    ok = read_dataset(path)
    assert len(ok) == 12 and ok.snr_db is None and ok.native_noisy == {}
    assert len(ok.subset(ok.label == ok.label[0])) == int(np.sum(ok.label == ok.label[0]))
    with h5py.File(path, "a") as h5:
        del h5["native/g3"]
        h5.create_dataset("native/g3", data=np.zeros((3, 48, 48), np.float32))
    with pytest.raises(ValueError, match="native/g3"):
        read_dataset(path)
    with h5py.File(path, "a") as h5:
        del h5["label"]
    with pytest.raises(ValueError, match="label"):
        read_dataset(path)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="HDF5"):
        read_dataset(tmp_path / "junk.h5")


def test_config_rejects_bad_options():
    with pytest.raises(ValueError, match="gradient"):
        ds.DatasetConfig(gradients=("medium",))
    with pytest.raises(ValueError, match="distinct"):
        ds.DatasetConfig(gradients=("low", 1.35, "low"))
    with pytest.raises(ValueError, match="workers"):
        ds.DatasetConfig(workers=0)
    with pytest.raises(ValueError, match="method"):
        ds.DatasetConfig(method="fast")
    assert ds.gradient_name(2.5) == "g2.5" and ds.gradient_name("high") == "high"


def test_cli_two_tube_and_files(tmp_path, capsys):
    out = tmp_path / "tubes.h5"
    rc = main(["dataset", "two-tube", "--gaps-mm", "1.0", "3.4", "--gradients", "low", "high",
               "--no-progress", "-o", str(out)])
    assert rc == 0
    data = read_dataset(out)
    assert data.phantom.shape == (2, 101, 101)
    assert json.loads(data.attrs["phantom_options_json"])["gaps_mm"] == [1.0, 3.4]
    assert data.attrs["command"].startswith("napari-mpi-dl ")
    img = np.zeros((30, 30))
    img[10:20, 10:20] = 1
    np.save(tmp_path / "a.npy", img)
    out2 = tmp_path / "files.h5"
    assert main(["dataset", "files", str(tmp_path / "a.npy"), "--size", "30", "--gradients",
                 "2", "--snr-db", "30", "--no-progress", "-o", str(out2)]) == 0
    data2 = read_dataset(out2)
    assert data2.gradient_names == ["g2"] and data2.snr_db == 30.0
    np.testing.assert_array_equal(data2.phantom[0], img)
    assert main(["dataset", "two-tube", "--no-progress", "-o", str(out)]) == 2  # exists
    assert "overwrite" in capsys.readouterr().err
    assert main(["dataset", "files", "--no-progress", "-o", str(tmp_path / "x.h5")]) == 2


def test_dcgan_domains_are_read_through_the_data_set_reader(tmp_path, mnist_set):
    from napari_mpi_dl.dcgan.data import load_domains, normalise, split_halves

    path = ds.generate_dataset(tmp_path / "d.h5", mnist_set, _config(snr_db=20.0))
    domains = load_domains(path, y_source="native_high", y_gradient="g3", split_seed=1)
    data = read_dataset(path)
    ix, iy = split_halves(12, 1)
    x = np.concatenate([data.native["low"][ix], data.native_noisy["low"][ix]])
    np.testing.assert_allclose(domains.x, normalise(x.astype(np.float64))[0], atol=1e-6)
    np.testing.assert_allclose(domains.y, normalise(data.native["g3"][iy].astype(float))[0],
                               atol=1e-6)
    assert domains.info["pixel_mm"] == pytest.approx([20 / 48, 20 / 48])
    holds = r"has no 'deconvolved/low' \(it holds \[.*'native_noisy/low'"
    with pytest.raises(ValueError, match=holds):
        load_domains(path)  # no deconvolved stack: the message lists what the file holds
    with h5py.File(tmp_path / "bare.h5", "w") as h5:  # a bare file fails the layout check
        h5.create_dataset("native/low", data=np.zeros((4, 8, 8)))
    with pytest.raises(ValueError, match="missing /phantom"):
        load_domains(tmp_path / "bare.h5", y_source="native_high")
