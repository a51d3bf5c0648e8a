"""The one table writer: any rows -> CSV, atomically, read back with types."""

from dataclasses import dataclass

import numpy as np
import pytest

from napari_mpi_dl.analysis.tables import csv_text, read_typed_csv, write_csv


@dataclass
class Row:
    name: str
    psnr_db: float
    resolved: bool
    n_peaks: int | None = None


def test_rows_of_any_kind_round_trip_with_full_precision(tmp_path):
    rows = [Row("a", 1 / 3, True, 2), {"name": "b", "psnr_db": np.float32(2.5),
                                       "resolved": False, "n_peaks": None, "extra": 1}]
    path = write_csv(tmp_path / "t.csv", rows, ["name", "psnr_db", "resolved", "n_peaks"])
    assert path == tmp_path / "t.csv"
    assert path.read_text().splitlines() == [
        "name,psnr_db,resolved,n_peaks", "a,0.3333333333333333,True,2", "b,2.5,False,"]
    back = read_typed_csv(path, text=("name",))
    assert back == [{"name": "a", "psnr_db": 1 / 3, "resolved": True, "n_peaks": 2},
                    {"name": "b", "psnr_db": 2.5, "resolved": False, "n_peaks": None}]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left
    assert csv_text([{"x": 1.0, "y": "z"}]) == "x,y\n1.0,z\n"  # default columns: first row


def test_bad_rows_are_named():
    with pytest.raises(ValueError, match="pass fields="):
        csv_text([])
    assert csv_text([], ["a", "b"]) == "a,b\n"
    with pytest.raises(ValueError, match=r"row 1 has no column\(s\) \['b'\]"):
        csv_text([{"a": 1, "b": 2}, {"a": 3}])
    with pytest.raises(TypeError, match="rows must be mappings"):
        csv_text([(1, 2)])
