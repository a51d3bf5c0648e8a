"""napari reader for MDF files (``*.mdf``, and MDF files named ``*.h5``/``*.hdf5``).

* A system matrix opens as one image stack per receive channel: ``|S|`` with axes
  (frequency index, y, x) (a 3D SM: (frequency, z, y, x)), scale in mm, frequencies and SNR in the
  layer metadata; :func:`system_matrix_layers` can also sort the frequencies by SNR.
* A measurement is reconstructed with its system matrix when one is known
  (:func:`napari_mpi_dl.recon.measurement_file.reconstruct_measurement_file`: the SM recorded in
  the file, or the one MDF system matrix in the same folder recorded with the same sequence); the
  simulated phantom, if recorded, opens too. Without a system
  matrix the measurement opens as its mean spectrum magnitude (channel x frequency) and the
  reconstruction dock takes the SM later.
* A reconstruction opens as an image on its grid.

HDF5 files that are not MDF (e.g. this package's own data sets) return None, so napari asks the
next reader.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from napari_mpi_dl.io.mdf_read import MDF_SUFFIXES, mdf_kind
from napari_mpi_dl.napari_io.units import MM, mm_units


def get_reader(path):
    """npe2 reader contribution: a function for MDF files, None for anything else."""
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None if not all(_is_mdf(p) for p in path) else read_mdf_layers
        path = path[0]
    return read_mdf_layers if _is_mdf(path) else None


def _is_mdf(path) -> bool:
    """``.mdf`` files are always ours (a damaged one then gets a clear error instead of napari's
    "no reader"); ``.h5``/``.hdf5`` files only when they hold MDF content."""
    p = str(path)
    if not (p.lower().endswith(MDF_SUFFIXES) and os.path.isfile(p)):
        return False
    return p.lower().endswith(".mdf") or mdf_kind(p) is not None


def read_mdf_layers(path) -> list[tuple]:
    """Layer data tuples for one MDF file (or several)."""
    paths = path if isinstance(path, list | tuple) else [path]
    layers: list[tuple] = []
    for p in paths:
        layers.extend(_layers_for(str(p)))
    return layers


def _layers_for(path: str) -> list[tuple]:
    from napari_mpi_dl.io.mdf_read import read_measurement, read_reconstruction, read_system_matrix

    kind = mdf_kind(path)
    if kind == "system_matrix":
        return system_matrix_layers(read_system_matrix(path))
    if kind == "reconstruction":
        return [reconstruction_layer(read_reconstruction(path), name=Path(path).stem)]
    from napari_mpi_dl.recon.measurement_file import reconstruct_measurement_file

    meas = read_measurement(path)
    done = reconstruct_measurement_file(path, meas=meas)
    if done is None:
        _notify(f"{Path(path).name}: no matching system matrix found next to it; choose one in "
                "the 'MDF reconstruction' dock")
        return [measurement_layer(meas, path)]
    result = done.result
    layers = [result_layer(result, name=f"{Path(path).stem} reco", meas_path=path,
                           sm_path=str(done.sm_path))]
    if done.phantom is not None:
        layers.insert(0, (done.phantom, {
            "name": f"{Path(path).stem} phantom", "scale": result.pixel_mm,
            "translate": result.origin_mm, "colormap": "gray", "units": mm_units(done.phantom.ndim),
            "metadata": {"unit": "mol/L", "kind": "phantom"}}, "image"))
    return layers


def _notify(message: str) -> None:
    try:
        from napari.utils.notifications import show_info

        show_info(message)
    except Exception:  # noqa: BLE001 - no napari event loop (e.g. plain library use)
        pass


def frequency_axis_khz(frequencies_hz) -> tuple[float, float] | None:
    """``(scale, translate)`` in kHz putting napari's frequency axis on the frequencies, if they
    are evenly spaced (else None: the axis stays an index, the frequencies are in metadata)."""
    f = np.asarray(frequencies_hz, dtype=float) / 1e3
    if f.size < 2:
        return None
    step = np.diff(f)
    if not (np.all(step > 0) and np.allclose(step, step[0], rtol=1e-6)):
        return None
    return float(step[0]), float(f[0])


def system_matrix_layers(sm, *, sort_by_snr: bool = False, channels=None) -> list[tuple]:
    """One image layer per receive channel: |S| as (frequency, [z,] y, x), space in mm.

    Each frequency slice is scaled to its own maximum (``|S| / max over voxels``, the factors in
    ``metadata["frequency_max"]``), so every slice shows its pattern whatever its amplitude. The
    frequency axis is in kHz (scale = frequency step, units kHz) when the frequencies are evenly
    spaced, so napari's readout shows the frequency; sorted by SNR it is the SNR rank.
    """
    nz, ny, nx = sm.grid_shape_zyx
    vox = sm.voxel_size_mm
    first = 1e3 * sm.voxel_positions_m()[0]  # (x, y, z) of voxel 0
    if nz > 1:
        scale = (vox[2], vox[1], vox[0])
        translate = (first[2], first[1], first[0])
        axis_labels = ("z", "y", "x")
    else:
        scale, translate = (vox[1], vox[0]), (first[1], first[0])
        axis_labels = ("y", "x")
    layers = []
    name = Path(sm.source).stem if sm.source else "system matrix"
    for c in range(sm.num_channels) if channels is None else channels:
        mag = np.abs(sm.data[0, c])  # (K, O)
        order = np.arange(mag.shape[0])
        snr = sm.row_snr(0)[c]
        if sort_by_snr and sm.snr is not None:
            order = np.argsort(-snr, kind="stable")
        mag = mag[order]
        peak = mag.max(axis=1)
        mag = mag / np.where(peak > 0, peak, 1.0)[:, None]
        stack = mag.reshape((mag.shape[0],) + ((nz,) if nz > 1 else ()) + (ny, nx))
        sorted_by_snr = bool(sort_by_snr and sm.snr is not None)
        freq = None if sorted_by_snr else frequency_axis_khz(sm.frequencies_hz[order])
        if freq is None:
            lead = {"scale": (1.0,), "translate": (0.0,), "units": ("pixel",),
                    "labels": ("frequency (SNR rank)" if sorted_by_snr else "frequency index",)}
        else:
            lead = {"scale": (freq[0],), "translate": (freq[1],), "units": ("kHz",),
                    "labels": ("frequency (kHz)",)}
        meta = {"kind": "system_matrix", "mdf_path": sm.source, "channel": int(c),
                "frequencies_hz": sm.frequencies_hz[order], "snr": snr[order],
                "sorted_by_snr": sorted_by_snr, "frequency_max": peak.astype(np.float32),
                "value": "|S| / max over voxels, per frequency",
                "background_corrected": sm.background_corrected}
        layers.append((stack.astype(np.float32), {
            "name": f"{name} |S| ch{c}" + (" (by SNR)" if sorted_by_snr else ""),
            "scale": lead["scale"] + tuple(scale),
            "translate": lead["translate"] + tuple(translate),
            "units": lead["units"] + (MM,) * len(scale),
            "axis_labels": lead["labels"] + axis_labels, "contrast_limits": (0.0, 1.0),
            "colormap": "magma", "metadata": meta}, "image"))
    return layers


def measurement_layer(meas, path: str) -> tuple:
    """Mean spectrum magnitude (channel x frequency) of the foreground frames."""
    spectra = meas.spectra()[:, 0]  # (N, C, K)
    fg = meas.foreground_frames if meas.foreground_frames.size else np.arange(meas.num_frames)
    mag = np.abs(spectra[fg]).mean(axis=0)
    return (mag.astype(np.float32), {
        "name": f"{Path(path).stem} spectrum", "colormap": "viridis",
        "metadata": {"kind": "measurement", "mdf_path": str(path),
                     "frequencies_hz": meas.frequencies_hz}}, "image")


def result_layer(result, *, name: str, meas_path: str | None = None,
                 sm_path: str | None = None) -> tuple:
    """Image layer of a :class:`~napari_mpi_dl.recon.sm_reconstruction.ReconstructionResult`."""
    images = result.images[:, result.images.shape[1] // 2]  # (Q, ny, nx)
    data = images[0] if images.shape[0] == 1 else images
    scale = result.pixel_mm if data.ndim == 2 else (1.0,) + result.pixel_mm
    translate = result.origin_mm if data.ndim == 2 else (0.0,) + result.origin_mm
    meta = result.metadata()
    meta.update({"kind": "reconstruction", "measurement": meas_path, "system_matrix": sm_path})
    return (data, {"name": name, "scale": scale, "translate": translate, "colormap": "inferno",
                   "units": mm_units(data.ndim), "metadata": meta}, "image")


def reconstruction_layer(reco, *, name: str) -> tuple:
    """Image layer of an MDF ``/reconstruction`` (first channel)."""
    images = reco.images()[:, 0]  # (Q, nz, ny, nx)
    vox = 1e3 * np.asarray(reco.fov_m) / np.asarray(reco.size_xyz)
    first = 1e3 * (np.asarray(reco.centre_m) - np.asarray(reco.fov_m) / 2) + vox / 2
    data = images.squeeze()
    spatial = data.ndim if data.ndim <= 3 else 3
    scale = (tuple(vox[::-1][-spatial:]) if np.all(np.isfinite(vox)) else (1.0,) * spatial)
    translate = tuple(first[::-1][-spatial:]) if np.all(np.isfinite(first)) else (0.0,) * spatial
    scale = (1.0,) * (data.ndim - spatial) + scale
    translate = (0.0,) * (data.ndim - spatial) + translate
    return (data, {"name": name, "scale": scale, "translate": translate, "colormap": "inferno",
                   "units": mm_units(data.ndim, spatial), "metadata": {"kind": "reconstruction",
                                                                        **reco.parameters}},
            "image")
