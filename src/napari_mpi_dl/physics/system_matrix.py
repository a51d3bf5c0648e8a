"""OpenMPIData-like 2D Lissajous system matrices (SM): physics, noise, background frames.

Column ``o`` of the SM is the receive signal of a delta sample (tracer concentration
``tracer_concentration_mol_per_l``, size ``delta_sample_mm``) centred on voxel ``o``. For a receive
coil c of homogeneous sensitivity ``p_c`` (T/A) along axis c::

    u_c(t) = -mu0 p_c . d/dt  integral of M(r, t) dr
    d/dt [m L(k|H|) H^] = m k [ Ldot(xi) H^ H^T + (L(xi)/xi) (I - H^ H^T) ] dH_D/dt

with ``H(r, t) = H_D(t) - G r`` (:class:`~napari_mpi_dl.physics.lissajous.LissajousScanner`) and
``xi = k |H|`` (:class:`~napari_mpi_dl.physics.particle.Particle`): the full x-space PSF tensor,
not the scalar Ldot shortcut. The integral over the delta sample is a midpoint rule on
``subpoints`` (x, y, z) points. Debye relaxation (``particle.relaxation_time_s > 0``) convolves the
periodic signal with ``exp(-t/tau)/tau``: a factor ``1 / (1 + i 2 pi f tau)`` per frequency.

A simulated calibration scan adds, per frame, white receive noise (``noise_std_v`` per sample)
and a scanner background that drifts linearly over the acquisition; background (empty-scanner)
frames are interleaved, one block after every ``background_interval_voxels`` voxels (one grid row
by default) and at both ends, as OpenMPIData does. The SNR per frequency is computed from them
(:mod:`napari_mpi_dl.io.mdf_background`).

Vectorised numpy over chunks of voxels, run on ``workers`` threads (numpy releases the GIL).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from napari_mpi_dl._blas import single_blas_thread
from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.lissajous import OPENMPI_SCANNER, LissajousScanner
from napari_mpi_dl.physics.particle import MU0_T_M_PER_A, Particle
from napari_mpi_dl.physics.tracers import (
    Tracer,
    particle_from_dict,
    particle_record,
    psf_nodes_of,
    relaxation_transfer_of,
    tracer_preset,
)

# Perimag-like stand-in (see docs/mdf-and-reconstruction.md for the choice of 25 nm).
OPENMPI_PARTICLE = Particle(diameter_nm=25.0)
MAGNETITE_DENSITY_KG_PER_M3 = 5170.0
MAGNETITE_MOLAR_MASS_KG_PER_MOL = 0.23153
SIMULATION_FIELD = "/_napari_mpi_dl/simulation"
POSITION_OFFSETS_FIELD = "/_napari_mpi_dl/position_offsets_m"

ProgressCallback = Callable[[int, int], None]


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
# with the caller's seed, a robot positioning error, tracer drift).
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


# --- physics ------------------------------------------------------------------------------------
_SERIES_BELOW = 1e-2


def langevin_envelopes(xi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(L(xi)/xi, Ldot(xi))`` for ``xi >= 0`` in one fused pass (series below 1e-2).

    Equal to :func:`~napari_mpi_dl.physics.particle.langevin_over_xi` and
    :func:`~napari_mpi_dl.physics.particle.langevin_derivative` to ~1e-12, about 3x faster.
    """
    small = xi < _SERIES_BELOW
    xs = np.where(small, 1.0, xi)
    inv = 1.0 / xs
    coth = 1.0 / np.tanh(xs)
    l_over_xi = (coth - inv) * inv
    ldot = inv * inv - (coth * coth - 1.0)
    if small.any():
        x2 = xi[small] ** 2
        l_over_xi[small] = 1.0 / 3.0 - x2 / 45.0 + 2.0 * x2 * x2 / 945.0
        ldot[small] = 1.0 / 3.0 - x2 / 15.0 + 2.0 * x2 * x2 / 189.0
    return l_over_xi, ldot


def _lattice(centres_m: np.ndarray, offsets_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique sub-point coordinates along one axis and the averaging matrix (n_vox, n_unique).

    Neighbouring delta samples share sub-points when the sub-point pitch divides the voxel pitch
    (e.g. 4 points over 2 mm on a 1 mm grid): the physics is evaluated once per unique point.
    """
    coords = centres_m[:, None] + offsets_m[None, :]
    keys = np.round(coords * 1e9).astype(np.int64)  # nanometre resolution
    unique_keys, inverse = np.unique(keys.ravel(), return_inverse=True)
    weights = np.zeros((centres_m.size, unique_keys.size))
    np.add.at(weights, (np.repeat(np.arange(centres_m.size), offsets_m.size), inverse.ravel()),
              1.0 / offsets_m.size)
    return unique_keys * 1e-9, weights


def _points_physics(pts: tuple[np.ndarray, np.ndarray, np.ndarray], hd: np.ndarray,
                    dhd: np.ndarray, g_diag: np.ndarray, nodes_k: np.ndarray,
                    nodes_w: np.ndarray, receive_axes) -> tuple[np.ndarray, np.ndarray]:
    """PSF-tensor terms at points ``pts`` = (x, y, z) (each (P,), metres).

    Returns ``A`` (V, P) = sum_j w_j (L/xi)(k_j |H|) and ``Q`` (C, V, P) =
    sum_j w_j (Ldot - L/xi)(k_j |H|) (H . dH_D/dt) H_c / |H|^2 over the tracer's quadrature
    nodes ``(k_j, w_j)`` (one node for a single core size), so that the signal-weighted moment
    derivative of receive axis c is ``dH_D,c/dt A + Q_c`` (``Q`` as a list of C arrays).
    """
    driven = [bool(np.any(hd[:, ax] != 0) or np.any(dhd[:, ax] != 0)) for ax in range(3)]
    comps = [hd[:, ax : ax + 1] - g_diag[ax] * pts[ax][None, :] if driven[ax]
             else -g_diag[ax] * pts[ax][None, :] for ax in range(3)]
    h2 = comps[0] * comps[0]
    for ax in (1, 2):
        h2 = h2 + comps[ax] * comps[ax]
    np.maximum(h2, 1e-300, out=h2)
    hn = np.sqrt(h2)
    a = d = None
    for k, w in zip(nodes_k, nodes_w, strict=True):
        l_over_xi, ld = langevin_envelopes(k * hn)
        if a is None:
            d = ld - l_over_xi
            a = l_over_xi
            if w != 1.0:
                a *= w
                d *= w
        else:
            a += w * l_over_xi
            d += w * (ld - l_over_xi)
    hdot = None
    for ax in range(3):
        if driven[ax]:
            term = comps[ax] * dhd[:, ax : ax + 1]
            hdot = term if hdot is None else hdot + term
    q = d * hdot / h2  # (V, P): hdot always depends on time
    return a, [q * comps[axis] for axis in receive_axes]


def _rows_signal(ux: np.ndarray, uy: np.ndarray, uz: np.ndarray, wz: np.ndarray, hd: np.ndarray,
                 dhd: np.ndarray, g_diag: np.ndarray, nodes_k: np.ndarray, nodes_w: np.ndarray,
                 receive_axes) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_points_physics` on the lattice rows ``uy`` x all ``ux`` x all ``uz``, z summed
    with ``wz``: ``A`` (V, ny_rows, nux) and ``Q`` (C, V, ny_rows, nux)."""
    v = hd.shape[0]
    grids = np.meshgrid(uz, uy, ux, indexing="ij")  # (nz, ny, nx)
    pts = (grids[2].ravel(), grids[1].ravel(), grids[0].ravel())  # x, y, z
    a, q = _points_physics(pts, hd, dhd, g_diag, nodes_k, nodes_w, receive_axes)
    shape = (v, uz.size, uy.size, ux.size)

    def zsum(arr: np.ndarray) -> np.ndarray:
        return np.tensordot(arr.reshape(shape), wz, axes=([1], [0]))

    return zsum(a), np.stack([zsum(qc) for qc in q])


def _run_chunks(run, chunks, total: int, progress, workers):
    """Map ``run`` over ``chunks`` on threads, reporting progress; yields the results."""
    n_workers = workers or min(len(chunks), os.cpu_count() or 1)
    done = 0
    with single_blas_thread():  # our threads parallelise; BLAS threads would oversubscribe
        pool = ThreadPoolExecutor(max_workers=n_workers) if n_workers > 1 else None
        results = pool.map(run, chunks) if pool is not None else map(run, chunks)
        try:
            for result in results:
                done += result[-1]
                if progress is not None:
                    progress(done, total)
                yield result
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)


def simulate_time_signals(sim: SystemMatrixSimulation, *, voxels=None,
                          progress: ProgressCallback | None = None,
                          workers: int | None = None) -> np.ndarray:
    """Noise-free SM in the time domain: (C, V, O) voltages of one cycle per voxel.

    ``voxels`` selects voxel indices of the result (the whole slice is computed). Relaxation is
    applied (periodic convolution with the tracer's Debye kernel) when the tracer relaxes. A
    tracer with a size distribution is the signal-weighted sum over its quadrature nodes. With a
    positioning error every voxel's delta sample is evaluated at its own displaced sub-points;
    without, neighbouring samples share sub-points on a lattice.
    """
    scanner, particle = sim.scanner, sim.particle
    nodes_k, nodes_w = psf_nodes_of(particle)
    hd = scanner.drive_field_a_per_m()
    dhd = scanner.drive_field_derivative()
    g_diag = scanner.gradient_a_per_m2
    ny, nx = sim.grid.shape
    v, n_ch = hd.shape[0], len(sim.receive_axes)
    a_acc = np.zeros((v, ny, nx))
    q_acc = np.zeros((n_ch, v, ny, nx))
    offsets = sim.subpoint_offsets_m()
    if sim.positioning_error_mm > 0:
        centres = sim.voxel_positions_m() + sim.position_offsets_m()  # (O, 3)
        n_sub = offsets.shape[0]
        per_chunk = max(1, int(2.5e5 // (v * n_sub)))
        chunks = [np.arange(s, min(centres.shape[0], s + per_chunk))
                  for s in range(0, centres.shape[0], per_chunk)]

        def run_voxels(idx: np.ndarray):
            pts = (centres[idx, None, :] + offsets[None]).reshape(-1, 3)
            a, q = _points_physics((pts[:, 0], pts[:, 1], pts[:, 2]), hd, dhd, g_diag,
                                   nodes_k, nodes_w, sim.receive_axes)
            return (idx, a.reshape(v, idx.size, n_sub).mean(axis=2),
                    np.stack([qc.reshape(v, idx.size, n_sub).mean(axis=2) for qc in q]),
                    idx.size)

        a_flat = a_acc.reshape(v, -1)
        q_flat = q_acc.reshape(n_ch, v, -1)
        for idx, a_part, q_part, _ in _run_chunks(run_voxels, chunks, ny * nx, progress,
                                                  workers):
            a_flat[:, idx] = a_part
            q_flat[:, :, idx] = q_part
    else:
        off_x, off_y, off_z = (np.unique(np.round(offsets[:, d] * 1e12)) * 1e-12
                               for d in range(3))
        ux, wx = _lattice(1e-3 * sim.grid.axis_mm(1), off_x)
        uy, wy = _lattice(1e-3 * sim.grid.axis_mm(0), off_y)
        uz, wz = _lattice(np.array([1e-3 * sim.slice_z_mm]), off_z)
        rows_per_chunk = max(1, int(2e5 // (v * ux.size * uz.size)))
        chunks = [np.arange(s, min(uy.size, s + rows_per_chunk))
                  for s in range(0, uy.size, rows_per_chunk)]

        def run(rows: np.ndarray):
            a_red, q_red = _rows_signal(ux, uy[rows], uz, wz[0], hd, dhd, g_diag, nodes_k,
                                        nodes_w, sim.receive_axes)
            a_x = a_red @ wx.T  # (V, r, nx)
            q_x = q_red @ wx.T  # (C, V, r, nx)
            touched = np.flatnonzero(wy[:, rows].any(axis=1))  # voxel rows these points feed
            wy_r = wy[np.ix_(touched, rows)]  # (ny', r)
            return (touched, np.einsum("vrx,Yr->vYx", a_x, wy_r, optimize=True),
                    np.einsum("cvrx,Yr->cvYx", q_x, wy_r, optimize=True), rows.size)

        for touched, a_part, q_part, _ in _run_chunks(run, chunks, uy.size, progress, workers):
            a_acc[:, touched] += a_part
            q_acc[:, :, touched] += q_part
    dhd_c = dhd[:, list(sim.receive_axes)].T  # (C, V)
    out = dhd_c[:, :, None, None] * a_acc[None] + q_acc
    out = out.reshape(n_ch, v, ny * nx)  # voxel o = ix + nx * iy
    if voxels is not None:
        out = out[:, :, np.asarray(voxels)]
    # u = -mu0 |p| N <m k> d/dt <L H^>  (signal-weighted over the sizes, mean over sub-points)
    out *= -MU0_T_M_PER_A * sim.coil_sensitivity_t_per_a * sim.particles_per_sample() * \
        particle.moment_a_m2 * particle.k_m_per_a
    transfer = relaxation_transfer_of(particle, scanner.frequencies_hz())
    if transfer is not None:
        spec = np.fft.rfft(out, axis=1) * transfer[:, None]
        out = np.fft.irfft(spec, n=v, axis=1)
    return out


def relaxation_factor(frequencies_hz: np.ndarray, tau_s: float) -> np.ndarray:
    """Fourier factor of the periodic convolution with ``exp(-t/tau)/tau``: 1/(1 + i w tau)."""
    return 1.0 / (1.0 + 1j * 2 * np.pi * np.asarray(frequencies_hz) * tau_s)


def clean_system_matrix(sim: SystemMatrixSimulation, **kwargs) -> np.ndarray:
    """Noise-free SM in the frequency domain: (C, K, O) complex128 (unnormalised rfft)."""
    return np.fft.rfft(simulate_time_signals(sim, **kwargs), axis=1)


# --- calibration scan: frames, noise, background ----------------------------------------------
def acquisition_order(sim: SystemMatrixSimulation) -> tuple[np.ndarray, np.ndarray]:
    """Acquisition indices of the foreground (O,) and background (E,) frames.

    A background block opens the scan, follows every ``background_interval_voxels`` voxels
    (default: each grid row) and closes it.
    """
    n_vox = sim.num_voxels
    interval = int(sim.background_interval_voxels) or sim.grid.shape[1]
    nb = int(sim.background_block_frames)
    fg, bg = np.empty(n_vox, np.int64), []
    t = 0
    for o in range(n_vox):
        if nb and o % interval == 0:
            bg.extend(range(t, t + nb))
            t += nb
        fg[o] = t
        t += 1
    if nb:
        bg.extend(range(t, t + nb))
    return fg, np.asarray(bg, dtype=np.int64)


def background_pattern(sim: SystemMatrixSimulation, rng: np.random.Generator) -> np.ndarray:
    """A fixed scanner background spectrum (C, K): strongest at low frequencies and at the
    drive harmonics, ``background_v`` rms per time sample."""
    scanner = sim.scanner
    freqs = scanner.frequencies_hz()
    c, k, v = len(sim.receive_axes), freqs.size, scanner.samples_per_period
    shape = np.exp(-freqs / 200e3)
    for f0 in scanner.drive_frequencies_hz:
        shape = shape + 3.0 * np.exp(-0.5 * ((freqs % f0) / 2e3) ** 2) * np.exp(-freqs / 300e3)
    pattern = (rng.standard_normal((c, k)) + 1j * rng.standard_normal((c, k))) * shape[None, :]
    rms = np.sqrt(np.sum(np.abs(pattern) ** 2, axis=1, keepdims=True) * 2) / v
    return pattern * (sim.background_v / np.maximum(rms, 1e-300))


def spectral_noise(shape: tuple[int, ...], num_samples: int, std_v: float,
                   rng: np.random.Generator) -> np.ndarray:
    """rfft (along axis 1 of ``shape`` = (C, K, ...)) of white noise of ``std_v`` per sample."""
    noise = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * (
        std_v * np.sqrt(num_samples / 2.0))
    noise[:, 0] = noise[:, 0].real * np.sqrt(2.0)
    if num_samples % 2 == 0:
        noise[:, -1] = noise[:, -1].real * np.sqrt(2.0)
    return noise


def scan_frames(clean: np.ndarray, acq_fg: np.ndarray, acq_bg: np.ndarray,
                sim: SystemMatrixSimulation, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """Noisy foreground (C, K, O) and background (C, K, E) frames of a calibration scan."""
    v = sim.scanner.samples_per_period
    n_total = acq_fg.size + acq_bg.size
    pattern = background_pattern(sim, rng)

    def drifting(acq: np.ndarray) -> np.ndarray:
        tau = acq / max(1, n_total - 1) - 0.5
        return pattern[:, :, None] * (1.0 + sim.background_drift * tau)[None, None, :]

    fg = clean + drifting(acq_fg) + spectral_noise(clean.shape, v, sim.noise_std_v, rng)
    bg = drifting(acq_bg) + spectral_noise(pattern.shape + (acq_bg.size,), v, sim.noise_std_v,
                                           rng)
    return fg, bg


def simulate_system_matrix(sim: SystemMatrixSimulation, *, seed: int | None = 0,
                           progress: ProgressCallback | None = None, workers: int | None = None,
                           dtype=np.complex64):
    """Simulate a calibration scan: an :class:`~napari_mpi_dl.io.mdf_model.MDFSystemMatrix`.

    The returned SM holds the noisy foreground frames (not background-corrected), the background
    frames, the SNR per frequency and the metadata of an MDF calibration file; its
    ``header.extra`` records ``sim`` as JSON so measurements can re-simulate the noise-free SM.
    """
    from napari_mpi_dl.io.mdf_background import snr_per_frequency
    from napari_mpi_dl.io.mdf_model import MDFSystemMatrix

    rng = np.random.default_rng(seed)
    clean = clean_system_matrix(sim, progress=progress, workers=workers)
    acq_fg, acq_bg = acquisition_order(sim)
    fg, bg = scan_frames(clean, acq_fg, acq_bg, sim, rng)
    snr = snr_per_frequency(fg, bg)[None] if acq_bg.size >= 2 else None
    drive, receiver, gradient = mdf_acquisition(sim.scanner, len(sim.receive_axes))
    header = mdf_header(sim, kind="calibration")
    return MDFSystemMatrix(
        data=fg[None].astype(dtype), frequencies_hz=sim.scanner.frequencies_hz(),
        frequency_indices=np.arange(sim.scanner.num_frequencies), size_xyz=sim.size_xyz,
        fov_m=sim.fov_mm_xyz * 1e-3, centre_m=sim.centre_mm_xyz * 1e-3, drive_field=drive,
        receiver=receiver, gradient_t_per_m=gradient, background=bg[None].astype(dtype),
        frame_order=acq_fg, background_order=acq_bg, snr=snr,
        snr_source="computed" if snr is not None else "unavailable", background_corrected=False,
        positions_m=sim.voxel_positions_m(), delta_sample_size_m=sim.delta_sample_size_mm * 1e-3,
        method="simulation", header=header,
    )


def mdf_acquisition(scanner: LissajousScanner, num_channels: int):
    """MDF drive field, receiver and gradient tensor describing ``scanner``."""
    from napari_mpi_dl.io.mdf_model import DriveField, Receiver

    d = scanner.num_drive_channels
    drive = DriveField(
        base_frequency_hz=scanner.base_frequency_hz,
        dividers=np.asarray(scanner.dividers, dtype=np.int64)[:, None],
        strength_t=np.asarray(scanner.drive_amplitude_mt)[None, :, None] * 1e-3,
        phase_rad=np.asarray(scanner.drive_phase_rad)[None, :, None],
        waveform=np.full((d, 1), "sine", dtype=object), cycle_s=scanner.cycle_s)
    receiver = Receiver(num_channels=num_channels, bandwidth_hz=scanner.bandwidth_hz,
                        num_sampling_points=scanner.samples_per_period, unit="V")
    return drive, receiver, np.diag(scanner.gradient_t_per_m)


def mdf_header(sim: SystemMatrixSimulation, *, kind: str):
    from napari_mpi_dl.io.mdf_model import MDFHeader, new_uuid

    header = MDFHeader()
    header.experiment = {"name": f"simulated {kind} ({sim.name})", "number": 0,
                         "uuid": new_uuid(), "description": "napari-mpi-dl OpenMPIData-like "
                         "2D Lissajous simulation", "subject": kind, "isSimulation": True}
    tracer_name = getattr(sim.particle, "name", "custom")
    tracer_name = "perimag-like" if tracer_name == "custom" else tracer_name
    header.tracer = {"name": [f"{tracer_name} (simulated)"], "batch": ["n.a."],
                     "vendor": ["n.a."], "solute": ["Fe"],
                     "volume": [float(np.prod(sim.delta_sample_size_mm)) * 1e-6],
                     "concentration": [sim.tracer_concentration_mol_per_l]}
    header.scanner = {"facility": "napari-mpi-dl", "manufacturer": "simulation",
                      "name": "OpenMPIData-like Lissajous FFP scanner", "operator": "n.a.",
                      "topology": "FFP"}
    header.extra = {SIMULATION_FIELD: sim.to_json()}
    if sim.positioning_error_mm > 0 and kind == "calibration":
        # the robot's true sample positions minus the nominal ones (what a real file cannot know)
        header.extra[POSITION_OFFSETS_FIELD] = sim.position_offsets_m()
    return header


def simulation_from_header(header) -> SystemMatrixSimulation | None:
    """The :class:`SystemMatrixSimulation` recorded in a simulated file, or None."""
    text = header.extra.get(SIMULATION_FIELD) if header is not None else None
    return SystemMatrixSimulation.from_json(text) if text else None
