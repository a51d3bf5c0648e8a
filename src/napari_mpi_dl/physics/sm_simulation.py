"""Simulated 2D calibration (system-matrix) scans: the configuration and the named presets.

:class:`SystemMatrixSimulation` holds everything that defines a simulated OpenMPIData-like
calibration: scanner, tracer (one core size or a size distribution with Debye relaxation), grid,
delta sample, receive noise, background and robot positioning error. :data:`SM_PRESETS` names
the paper's two grids in two physics versions (see there). The signal model is
:mod:`napari_mpi_dl.physics.sm_signal`, the scan's frames :mod:`napari_mpi_dl.physics.sm_scan`,
the MDF adapter :mod:`napari_mpi_dl.io.sm_simulation`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.lissajous import OPENMPI_SCANNER, LissajousScanner
from napari_mpi_dl.physics.particle import Particle
from napari_mpi_dl.physics.tracers import (
    Tracer,
    particle_from_dict,
    particle_record,
    tracer_preset,
)

OPENMPI_PARTICLE = Particle(diameter_nm=25.0)
MAGNETITE_DENSITY_KG_PER_M3 = 5170.0
MAGNETITE_MOLAR_MASS_KG_PER_MOL = 0.23153


@dataclass(frozen=True)
class SystemMatrixSimulation:
    """Everything that defines a simulated 2D calibration (system matrix) scan.

    Parameters
    ----------
    scanner : LissajousScanner
        Drive fields, gradient and sampling (OpenMPIData defaults).
    particle : Particle or Tracer
        Tracer: one core size (:class:`~napari_mpi_dl.physics.particle.Particle`) or a
        core-size distribution with Debye relaxation
        (:class:`~napari_mpi_dl.physics.tracers.Tracer`; the signal is the signal-weighted sum
        over its quadrature nodes).
    grid : ImageGrid
        The calibration slice: shape (ny, nx), FOV (fy, fx) mm, centre (cy, cx) mm.
    slice_z_mm, slice_thickness_mm : float
        z position of the slice and the z size of its voxels (the MDF calibration FOV along z).
    delta_sample_mm : (float, float, float) or None
        Size (x, y, z) of the calibration sample in mm; None: one voxel.
    subpoints : (int, int, int)
        Midpoint-rule points per axis (x, y, z) over the delta sample.
    receive_axes : tuple of int
        Axis (0 = x, 1 = y, 2 = z) of each receive coil.
    coil_sensitivity_t_per_a : float
        Receive-coil sensitivity |p_c| (field per unit current).
    tracer_concentration_mol_per_l : float
        Iron concentration of the delta sample.
    noise_std_v : float
        White receive noise per time sample, in V, of one (averaged) frame.
    background_v : float
        Scale of the scanner background signal in V (per time sample, rms-like).
    background_drift : float
        Relative change of the background from the first to the last frame.
    background_interval_voxels : int
        A background block after every this many voxels; 0 means one grid row.
    background_block_frames : int
        Frames per background block.
    positioning_error_mm : float
        Robot positioning error of the calibration scan: each position's delta sample is
        displaced by an offset drawn uniformly from [-e, e] mm along x, y and z (0: exact).
    positioning_seed : int
        Seed of those offsets (:meth:`position_offsets_m`); recorded with the simulation.
    name : str
        A label written to the MDF file (e.g. the preset's name).
    """

    scanner: LissajousScanner = OPENMPI_SCANNER
    particle: Particle | Tracer = OPENMPI_PARTICLE
    grid: ImageGrid = field(default_factory=lambda: ImageGrid((19, 19), (38.0, 38.0)))
    slice_z_mm: float = 0.0
    slice_thickness_mm: float = 1.0
    delta_sample_mm: tuple[float, float, float] | None = (2.0, 2.0, 1.0)
    subpoints: tuple[int, int, int] = (4, 4, 2)
    receive_axes: tuple[int, ...] = (0, 1, 2)
    coil_sensitivity_t_per_a: float = 1e-3
    tracer_concentration_mol_per_l: float = 0.1
    noise_std_v: float = 1.0e-12
    background_v: float = 2.0e-11
    background_drift: float = 0.2
    background_interval_voxels: int = 0
    background_block_frames: int = 1
    positioning_error_mm: float = 0.0
    positioning_seed: int = 0
    name: str = "custom"

    def __post_init__(self) -> None:
        if self.delta_sample_mm is not None:
            d = tuple(float(v) for v in self.delta_sample_mm)
            if len(d) != 3 or min(d) <= 0:
                raise ValueError(f"delta_sample_mm must be 3 positive lengths, "
                                 f"got {self.delta_sample_mm!r}")
            object.__setattr__(self, "delta_sample_mm", d)
        sub = tuple(int(v) for v in self.subpoints)
        if len(sub) != 3 or min(sub) < 1:
            raise ValueError(f"subpoints must be 3 integers >= 1, got {self.subpoints!r}")
        object.__setattr__(self, "subpoints", sub)
        axes = tuple(int(a) for a in self.receive_axes)
        if not axes or not all(0 <= a <= 2 for a in axes):
            raise ValueError(f"receive_axes must be axes in 0..2, got {self.receive_axes!r}")
        object.__setattr__(self, "receive_axes", axes)
        for name in ("slice_thickness_mm", "coil_sensitivity_t_per_a",
                     "tracer_concentration_mol_per_l"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name in ("noise_std_v", "background_v", "background_drift", "positioning_error_mm"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if int(self.background_interval_voxels) < 0 or int(self.background_block_frames) < 0:
            raise ValueError("background_interval_voxels and background_block_frames must be >= 0")

    # --- geometry ------------------------------------------------------------------------------
    @property
    def size_xyz(self) -> tuple[int, int, int]:
        ny, nx = self.grid.shape
        return (nx, ny, 1)

    @property
    def num_voxels(self) -> int:
        return self.grid.shape[0] * self.grid.shape[1]

    @property
    def fov_mm_xyz(self) -> np.ndarray:
        fy, fx = self.grid.fov_mm
        return np.array([fx, fy, self.slice_thickness_mm])

    @property
    def centre_mm_xyz(self) -> np.ndarray:
        cy, cx = self.grid.centre_mm
        return np.array([cx, cy, self.slice_z_mm])

    @property
    def delta_sample_size_mm(self) -> np.ndarray:
        if self.delta_sample_mm is not None:
            return np.asarray(self.delta_sample_mm)
        return self.fov_mm_xyz / np.asarray(self.size_xyz)

    def voxel_positions_m(self) -> np.ndarray:
        """Voxel centres (O, 3), x fastest then y, in metres."""
        ys, xs = self.grid.coordinates_mm()
        return 1e-3 * np.stack([xs.ravel(), ys.ravel(),
                                np.full(xs.size, self.slice_z_mm)], axis=1)

    def position_offsets_m(self) -> np.ndarray:
        """Robot positioning errors (O, 3) in metres (x, y, z), seeded by ``positioning_seed``.

        Uniform in [-``positioning_error_mm``, +``positioning_error_mm``] per axis and position;
        zeros without a positioning error.
        """
        e = float(self.positioning_error_mm)
        if e == 0:
            return np.zeros((self.num_voxels, 3))
        rng = np.random.default_rng([int(self.positioning_seed), 4242])
        return 1e-3 * rng.uniform(-e, e, size=(self.num_voxels, 3))

    def subpoint_offsets_m(self) -> np.ndarray:
        """Midpoint-rule offsets (S, 3) over the delta sample, in metres."""
        size = self.delta_sample_size_mm * 1e-3
        axes = [((np.arange(n) + 0.5) / n - 0.5) * s
                for n, s in zip(self.subpoints, size, strict=True)]
        z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)

    def particles_per_sample(self) -> float:
        """Number of cores in the delta sample (magnetite cores, iron concentration given)."""
        # mean core volume: <m> / Ms (a Tracer's number-mean moment, a Particle's moment)
        core_volume = self.particle.moment_a_m2 / self.particle.saturation_magnetisation_a_per_m
        fe_mol_per_core = 3.0 * MAGNETITE_DENSITY_KG_PER_M3 * core_volume / \
            MAGNETITE_MOLAR_MASS_KG_PER_MOL
        sample_volume = float(np.prod(self.delta_sample_size_mm * 1e-3))
        fe_mol = self.tracer_concentration_mol_per_l * 1e3 * sample_volume
        return fe_mol / fe_mol_per_core

    # --- bookkeeping ---------------------------------------------------------------------------
    def replace(self, **changes) -> SystemMatrixSimulation:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["scanner"] = self.scanner.as_dict()
        d["particle"] = particle_record(self.particle)
        d["grid"] = self.grid.as_dict()
        return d

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> SystemMatrixSimulation:
        d = dict(d)
        d["scanner"] = LissajousScanner(**{k: tuple(v) if isinstance(v, list) else v
                                           for k, v in d["scanner"].items()})
        d["particle"] = particle_from_dict(d["particle"])
        g = d["grid"]
        d["grid"] = ImageGrid(tuple(g["shape"]), tuple(g["fov_mm"]), tuple(g["centre_mm"]))
        for key in ("delta_sample_mm", "subpoints", "receive_axes"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> SystemMatrixSimulation:
        return cls.from_dict(json.loads(text))


# The tracer of the realistic calibrations: the perimag preset (lognormal cores, median 19 nm,
# sigma 0.15, Ms 474 kA/m, 293 K, Debye tau 2 us) with 8 Gauss-Hermite size nodes (the SM of
# 8 nodes differs from that of 16 by < 1e-4 of its rms, see tests/test_sm_calibrations.py).
PERIMAG_SM_TRACER = tracer_preset("perimag").replace(quadrature_nodes=8)
#: Tracer drift between the training and the test calibration scan (documented choice): the
#: median core size 2 % larger and the Debye time 5 % longer at the second scan.
TRACER_DRIFT_SIZE = 1.02
TRACER_DRIFT_RELAXATION = 1.05
#: Robot positioning error of the independent test calibration: uniform within +-0.1 mm per axis.
TEST_POSITIONING_ERROR_MM = 0.1
#: Tracer drift of the *validation* calibration (a third scan, for model choice only; documented
#: choice): the drift of the test scan's size, in the other direction (median core size 2 %
#: smaller, Debye time 5 % shorter), with its own robot errors (positioning seed 2).
VALIDATION_DRIFT_SIZE = 0.98
VALIDATION_DRIFT_RELAXATION = 0.95


def drifted_tracer(tracer: Tracer, size_factor: float = TRACER_DRIFT_SIZE,
                   relaxation_factor: float = TRACER_DRIFT_RELAXATION) -> Tracer:
    """``tracer`` with every component's median size and its Debye time(s) scaled."""
    from napari_mpi_dl.physics.tracers import LognormalSize

    sizes = tuple(LognormalSize(s.median_nm * size_factor, s.sigma, s.number_fraction)
                  for s in tracer.sizes)
    return tracer.replace(sizes=sizes, relaxation_time_s=tracer.relaxation_time_s
                          * relaxation_factor, relaxation_time_max_s=tracer.relaxation_time_max_s
                          * relaxation_factor, name=f"{tracer.name} (drifted)")


# The paper's two OpenMPIData grids (centre slices of the 3D calibrations), in two versions:
# "training" / "test": the ideal 25 nm particle, the same 2 x 2 x 1 mm delta sample and no
# positioning error on both grids (identical physics, the test SM differs by its noise only);
# "training-perimag" / "test-perimag": the perimag-like tracer; the test scan is a separate
# calibration (a 1 x 1 x 1 mm delta sample fitting its 1 mm grid, its own noise and background
# with the caller's seed, a robot positioning error, tracer drift); "validation-perimag": a third
# calibration like the test one (drift in the other direction, its own robot errors) on which
# trained models are chosen, so that the test scan never steers a choice.
SM_PRESETS: dict[str, SystemMatrixSimulation] = {
    "training": SystemMatrixSimulation(
        grid=ImageGrid((19, 19), (38.0, 38.0)), slice_thickness_mm=1.0, name="training-19x19"),
    "test": SystemMatrixSimulation(
        grid=ImageGrid((37, 37), (37.0, 37.0)), slice_thickness_mm=0.5, name="test-37x37"),
    "training-perimag": SystemMatrixSimulation(
        particle=PERIMAG_SM_TRACER, grid=ImageGrid((19, 19), (38.0, 38.0)),
        slice_thickness_mm=1.0, name="training-19x19-perimag"),
    "test-perimag": SystemMatrixSimulation(
        particle=drifted_tracer(PERIMAG_SM_TRACER), grid=ImageGrid((37, 37), (37.0, 37.0)),
        slice_thickness_mm=1.0, delta_sample_mm=(1.0, 1.0, 1.0), subpoints=(2, 2, 2),
        positioning_error_mm=TEST_POSITIONING_ERROR_MM, positioning_seed=1,
        name="test-37x37-perimag"),
    "validation-perimag": SystemMatrixSimulation(
        particle=drifted_tracer(PERIMAG_SM_TRACER, VALIDATION_DRIFT_SIZE,
                                VALIDATION_DRIFT_RELAXATION),
        grid=ImageGrid((37, 37), (37.0, 37.0)), slice_thickness_mm=1.0,
        delta_sample_mm=(1.0, 1.0, 1.0), subpoints=(2, 2, 2),
        positioning_error_mm=TEST_POSITIONING_ERROR_MM, positioning_seed=2,
        name="validation-37x37-perimag"),
}
SM_PRESET_NAMES: tuple[str, ...] = tuple(SM_PRESETS)


def sm_preset(preset: str, /, **changes) -> SystemMatrixSimulation:
    """A preset of :data:`SM_PRESETS` (19 x 19 over 38 mm or 37 x 37 over 37 mm), modified."""
    try:
        sim = SM_PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown system-matrix preset {preset!r}; choose one of "
                         f"{sorted(SM_PRESETS)}") from None
    return sim.replace(**changes) if changes else sim
