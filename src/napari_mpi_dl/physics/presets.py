"""Named physical settings.

The deblurring paper's setting (Zhang et al., IJMPI 2023): 101 x 101 native images over a
20 mm x 20 mm FOV. We choose magnetite-like cores of 25 nm (Ms = 0.6 T/mu0, 300 K) and:

* ``LOW_GRADIENT_T_PER_M = 1.35``: tangential PSF FWHM 3.27 mm (normal 7.45 mm). With an x-scan,
  two 1.2 mm tubes side by side along x show a dip below 20 % for every gap up to 2.2 mm
  (dip 0.14 at 2.2 mm, 0.22 at 2.6 mm): gaps below about 2.5 mm merge into one blob.
* ``HIGH_GRADIENT_T_PER_M = 6.0``: tangential FWHM 0.74 mm; every protocol gap (1.0 mm and up) is
  resolved with a dip above 60 %.
"""

from __future__ import annotations

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.particle import Particle

DEFAULT_PARTICLE = Particle(diameter_nm=25.0)
LOW_GRADIENT_T_PER_M = 1.35
HIGH_GRADIENT_T_PER_M = 6.0
DEFAULT_GRID = ImageGrid(shape=(101, 101), fov_mm=(20.0, 20.0))
GRADIENT_PRESETS_T_PER_M = {"low": LOW_GRADIENT_T_PER_M, "high": HIGH_GRADIENT_T_PER_M}


def gradient_from_preset(value: float | str) -> float:
    """Resolve ``"low"``/``"high"`` or a number (T/m) to a gradient in T/m."""
    if isinstance(value, str):
        try:
            return GRADIENT_PRESETS_T_PER_M[value]
        except KeyError:
            try:
                return float(value)
            except ValueError:
                raise ValueError(
                    f"gradient must be a number in T/m or one of "
                    f"{sorted(GRADIENT_PRESETS_T_PER_M)}, got {value!r}"
                ) from None
    return float(value)
