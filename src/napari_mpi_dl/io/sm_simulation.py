"""The MDF adapter of the calibration simulator: simulated scans as MDF system matrices.

:func:`simulate_system_matrix` runs the signal model (:mod:`napari_mpi_dl.physics.sm_signal`)
and the scan (:mod:`napari_mpi_dl.physics.sm_scan`) and returns an
:class:`~napari_mpi_dl.io.mdf_model.MDFSystemMatrix` whose header records the simulation
(``/_napari_mpi_dl/simulation``: the :class:`~napari_mpi_dl.physics.sm_simulation.
SystemMatrixSimulation` as JSON, tracer, positioning error and its seed included) and, with a
positioning error, the robot's true offsets from the nominal positions
(``/_napari_mpi_dl/position_offsets_m``, (O, 3) in m); the reader returns both in
``header.extra``. The SNR per frequency is computed from the background frames
(:mod:`napari_mpi_dl.io.mdf_background`).
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl.io.mdf_background import snr_per_frequency
from napari_mpi_dl.io.mdf_model import DriveField, MDFHeader, MDFSystemMatrix, Receiver, new_uuid
from napari_mpi_dl.physics.lissajous import LissajousScanner
from napari_mpi_dl.physics.sm_scan import acquisition_order, scan_frames
from napari_mpi_dl.physics.sm_signal import ProgressCallback, clean_system_matrix
from napari_mpi_dl.physics.sm_simulation import SystemMatrixSimulation

SIMULATION_FIELD = "/_napari_mpi_dl/simulation"
POSITION_OFFSETS_FIELD = "/_napari_mpi_dl/position_offsets_m"


def simulate_system_matrix(sim: SystemMatrixSimulation, *, seed: int | None = 0,
                           progress: ProgressCallback | None = None, workers: int | None = None,
                           dtype=np.complex64):
    """Simulate a calibration scan: an :class:`~napari_mpi_dl.io.mdf_model.MDFSystemMatrix`.

    The returned SM holds the noisy foreground frames (not background-corrected), the background
    frames, the SNR per frequency and the metadata of an MDF calibration file; its
    ``header.extra`` records ``sim`` as JSON so measurements can re-simulate the noise-free SM.
    """
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
