"""Generator of malformed MDF files (hostile inputs for readers, ``sm info``, ``reco``, napari).

:func:`malformed_mdf_cases` copies a good system matrix and measurement and damages one thing
per copy: each field problem reported against the reader, seeded bit flips and truncations.
Used by ``tests/test_mdf_hostile.py`` and ``scripts/fault_battery.py``; independent of the
working directory (every path is given or derived from the arguments).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np


@dataclass(frozen=True)
class MalformedCase:
    """One damaged file: ``role`` is "sm" or "meas" (which argument of ``reco`` it replaces);
    ``must_fail`` False for damage that a reader cannot always detect (bit flips may hit
    padding or a data value); ``hint`` a word the error message must contain."""

    name: str
    path: Path
    role: str
    must_fail: bool = True
    hint: str = ""


def _replace(f: h5py.File, name: str, value) -> None:
    del f[name]
    f[name] = value


def _edit(src: Path, dst: Path, edit) -> Path:
    shutil.copyfile(src, dst)
    with h5py.File(dst, "a") as f:
        edit(f)
    return dst


def _scale_data(f: h5py.File, factor: float) -> None:
    data = f["/measurement/data"][()]
    _replace(f, "/measurement/data", data * factor)


def _poke_data(f: h5py.File, value: float) -> None:
    data = f["/measurement/data"][()]
    flat = data.reshape(-1)
    flat[flat.size // 2] = value
    _replace(f, "/measurement/data", data)


def _zero_data(f: h5py.File) -> None:
    data = f["/measurement/data"][()]
    _replace(f, "/measurement/data", np.zeros_like(data))


FIELD_CASES = {
    # name: (role, edit, hint)
    "sm_bandwidth_zero": ("sm", lambda f: _replace(f, "/acquisition/receiver/bandwidth", 0.0),
                          "bandwidth"),
    "meas_bandwidth_zero": ("meas",
                            lambda f: _replace(f, "/acquisition/receiver/bandwidth", 0.0),
                            "bandwidth"),
    "sm_bandwidth_nan": ("sm", lambda f: _replace(f, "/acquisition/receiver/bandwidth",
                                                  np.nan), "bandwidth"),
    "sm_nan_in_data": ("sm", lambda f: _poke_data(f, np.nan), "NaN"),
    "sm_inf_in_data": ("sm", lambda f: _poke_data(f, np.inf), "NaN"),
    "meas_nan_in_data": ("meas", lambda f: _poke_data(f, np.nan), "NaN"),
    "meas_inf_in_data": ("meas", lambda f: _poke_data(f, np.inf), "NaN"),
    "meas_scaled_1e300": ("meas", lambda f: _scale_data(f, 1e300), "overflow"),
    "sm_all_zero": ("sm", _zero_data, "zero"),
    "sm_no_calibration_size": ("sm", lambda f: f.__delitem__("/calibration/size"), "size"),
    "sm_negative_size": ("sm", lambda f: _replace(f, "/calibration/size",
                                                  np.array([-19, -19, 1])), "size"),
    "sm_size_strings": ("sm", lambda f: _replace(f, "/calibration/size",
                                                 np.array([b"9", b"11", b"1"])), "size"),
    "sm_fov_zero": ("sm", lambda f: _replace(f, "/calibration/fieldOfView", np.zeros(3)),
                    "fieldOfView"),
    "sm_fov_nan": ("sm", lambda f: _replace(f, "/calibration/fieldOfView", np.full(3, np.nan)),
                   "fieldOfView"),
    "sm_version_banana": ("sm", lambda f: _replace(f, "/version", "banana"), "version"),
    "meas_version_banana": ("meas", lambda f: _replace(f, "/version", "banana"), "version"),
    "sm_base_frequency_zero": ("sm", lambda f: _replace(
        f, "/acquisition/drivefield/baseFrequency", 0.0), "baseFrequency"),
    "sm_sampling_points_zero": ("sm", lambda f: _replace(
        f, "/acquisition/receiver/numSamplingPoints", 0), "numSamplingPoints"),
    "sm_snr_nan": ("sm", lambda f: _replace(
        f, "/calibration/snr", np.full(f["/calibration/snr"].shape, np.nan)), "snr"),
}


def malformed_mdf_cases(sm: str | Path, meas: str | Path, out_dir: str | Path, *,
                        bit_flips: int = 6, seed: int = 0) -> list[MalformedCase]:
    """Write the malformed copies of ``sm`` and ``meas`` into ``out_dir`` and list them."""
    sm, meas, out = Path(sm), Path(meas), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cases: list[MalformedCase] = []
    for name, (role, edit, hint) in FIELD_CASES.items():
        src = sm if role == "sm" else meas
        if name == "sm_snr_nan":
            with h5py.File(src, "r") as f:
                if "/calibration/snr" not in f:
                    continue
        cases.append(MalformedCase(name, _edit(src, out / f"{name}.mdf", edit), role,
                                   hint=hint))
    for role, src in (("sm", sm), ("meas", meas)):
        data = src.read_bytes()
        for frac in (0.0, 0.1, 0.5, 0.9):
            path = out / f"{role}_truncated_{int(frac * 100)}.mdf"
            path.write_bytes(data[: int(len(data) * frac)])
            cases.append(MalformedCase(path.stem, path, role, hint=path.name))
        rng = np.random.default_rng([seed, 0 if role == "sm" else 1])
        for i in range(bit_flips):
            buf = bytearray(data)
            # half of the flips in the first 4 KiB (superblock, object headers), half anywhere
            limit = min(4096, len(buf)) if i % 2 == 0 else len(buf)
            pos = int(rng.integers(0, limit))
            buf[pos] ^= 1 << int(rng.integers(0, 8))
            path = out / f"{role}_bitflip_{i}.mdf"
            path.write_bytes(bytes(buf))
            cases.append(MalformedCase(path.stem, path, role, must_fail=False))
    return cases
