"""Realistic, randomised DC_GAN training domains from the tracer physics.

Every image draws its physics independently (seeded, :class:`RealisticConfig`):

* a tracer preset, a Debye relaxation time (replacing the preset's own) and a gradient
  calibration error from finite bins (:class:`napari_mpi_dl.datasets.PhysicsDraws`; one cached
  simulator per combination);
* a scan mode, ``"x"`` or ``"y"``. A y-scan image is simulated as a y-scan and then
  **transposed**, so that every training image has its scan axis along x, the model's axis;
  a y-scan input is transposed the same way at inference (:mod:`napari_mpi_dl.dcgan.resample`),
  which is why the card names only ``"x"``. Or ``scan_modes=("isotropic",)`` alone: every
  image an isotropic scan (an x- and a y-scan image averaged), never transposed, and every
  kernel below the isotropic one; the card names ``"isotropic"`` (an isotropic model, not to be
  mixed with single-axis scans, which transposition cannot turn into isotropic ones);
* domain X only: white Gaussian noise at an SNR drawn uniformly from ``snr_db`` (dB), except a
  ``clean_fraction`` of the images that stay noise-free.

Domain Y (``y_kind``), made from a *disjoint* set of phantoms with the same kind of physics
draws, noise-free natives:

* ``"rl-model"``: Richardson-Lucy (``rl_iterations``, ``tol=0``) with the *model* PSF, the
  adiabatic kernel of the drawn tracer at the nominal gradient of an ideal scanner
  (:func:`napari_mpi_dl.recon.psf_models.model_psf`; the paper's choice: what a lab writes down);
* ``"rl-measured"``: Richardson-Lucy with a *measured* PSF, a one-pixel point source scanned
  with the drawn physics (relaxation and gradient error included) at 30 dB
  (:func:`~napari_mpi_dl.recon.psf_models.measured_psf`);
* ``"native-high"``: natives at the high gradient (6 T/m, same tracer, relaxation and relative
  gradient error);
* ``"rl-ideal"``: Richardson-Lucy of *ideal* natives (25 nm, adiabatic, exact gradient, drawn
  scan mode) with their exact PSF: sharp references free of the mismatch, as in the shipped
  model's data (only domain X is realistic).

Every simulator and kernel uses the image's drawn scan mode (an isotropic image: the isotropic
PSF, :func:`napari_mpi_dl.physics.psf.psf_kernel`).

Phantoms are MNIST *training* digits; the first :data:`RESERVED_DIGITS` training digits are
never drawn (the validation digits of :func:`napari_mpi_dl.analysis.scenarios.validation_set`
are among them), nor are the held-out test digits or any two-tube phantom.

:func:`realistic_card` is the model card these data imply; :func:`generate_realistic_domains`
stores it in the domains' info (``info["card"]``), from where
:func:`napari_mpi_dl.dcgan.card.card_from_info` writes it into trained weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from napari_mpi_dl.dcgan.data import Domains

TRACERS: tuple[str, ...] = ("ideal", "resovist", "perimag", "synomag")
RELAXATION_TIMES_S: tuple[float, ...] = (0.0, 1e-6, 3e-6)
GRADIENT_ERRORS: tuple[float, ...] = (-0.15, 0.0, 0.1)
SNR_DB: tuple[float, float] = (20.0, 40.0)
SCAN_MODES: tuple[str, ...] = ("x", "y")
#: The scan-mode sets a configuration may draw from: single-axis scans (transposed into x) or
#: isotropic scans alone.
SCAN_MODE_SETS: tuple[tuple[str, ...], ...] = (("x",), ("y",), ("x", "y"), ("isotropic",))
Y_KINDS: tuple[str, ...] = ("rl-model", "rl-measured", "native-high", "rl-ideal")
#: SNR (dB) of the point-source scan of the measured PSF.
MEASURED_PSF_SNR_DB = 30.0
#: The first MNIST training digits, reserved for validation (never a training phantom).
RESERVED_DIGITS = 50


@dataclass(frozen=True)
class RealisticConfig:
    """What :func:`generate_realistic_domains` simulates (see the module docstring).

    Parameters
    ----------
    n_x, n_y : int
        Phantoms (MNIST training digits) of domain X and of the disjoint domain Y.
    tracers : tuple of str
        Tracer presets (:data:`napari_mpi_dl.physics.tracers.TRACER_PRESETS`).
    relaxation_times_s : tuple of float
        Debye relaxation time bins in s (0 = adiabatic).
    gradient_errors : tuple of float
        Relative gradient calibration errors (true = nominal x (1 + error)).
    snr_db : (float, float)
        Range (dB) of the white noise SNR of the X images, drawn uniformly per image.
    clean_fraction : float
        Fraction of X images left noise-free.
    scan_modes : tuple of str
        Scan modes drawn per image: ``"x"`` and/or ``"y"`` (y-scans are transposed into the x
        axis), or ``("isotropic",)`` alone (isotropic scans, not transposed).
    y_kind : {"rl-model", "rl-measured", "native-high", "rl-ideal"}
        Domain Y.
    rl_iterations : int
        Richardson-Lucy iterations of the ``rl-*`` kinds.
    seed : int
        Seed of the phantom choice and of every draw.
    """

    n_x: int = 400
    n_y: int = 200
    tracers: tuple[str, ...] = TRACERS
    relaxation_times_s: tuple[float, ...] = RELAXATION_TIMES_S
    gradient_errors: tuple[float, ...] = GRADIENT_ERRORS
    snr_db: tuple[float, float] = SNR_DB
    clean_fraction: float = 0.2
    scan_modes: tuple[str, ...] = SCAN_MODES
    y_kind: str = "rl-model"
    rl_iterations: int = 200
    seed: int = 0
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        from napari_mpi_dl.datasets import PhysicsDraws

        for name in ("tracers", "relaxation_times_s", "gradient_errors", "snr_db", "scan_modes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("n_x", "n_y"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        lo, hi = (float(v) for v in self.snr_db) if len(self.snr_db) == 2 else (np.nan, np.nan)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
            raise ValueError(f"snr_db must be a range (low, high) in dB, got {self.snr_db!r}")
        if not 0.0 <= float(self.clean_fraction) <= 1.0:
            raise ValueError(f"clean_fraction must be in [0, 1], got {self.clean_fraction!r}")
        if tuple(sorted(set(self.scan_modes))) not in SCAN_MODE_SETS \
                or len(set(self.scan_modes)) != len(self.scan_modes):
            raise ValueError(
                "scan_modes must name 'x' and/or 'y' (y-scans are transposed into x), or "
                "'isotropic' alone (an isotropic model does not mix with single-axis scans), "
                f"each once; got {self.scan_modes!r}")
        if self.y_kind not in Y_KINDS:
            raise ValueError(f"y_kind must be one of {Y_KINDS}, got {self.y_kind!r}")
        if int(self.rl_iterations) < 1:
            raise ValueError(f"rl_iterations must be >= 1, got {self.rl_iterations!r}")
        PhysicsDraws(self.tracers, self.relaxation_times_s, self.gradient_errors)  # validates

    @property
    def isotropic(self) -> bool:
        """True for isotropic scans (the model's scan mode "isotropic", no transposition)."""
        return self.scan_modes == ("isotropic",)

    @property
    def model_scan_mode(self) -> str:
        """The scan mode of every training image as the model sees it: "x" or "isotropic"."""
        return "isotropic" if self.isotropic else "x"

    @property
    def draws(self):
        from napari_mpi_dl.datasets import PhysicsDraws

        return PhysicsDraws(self.tracers, self.relaxation_times_s, self.gradient_errors)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


@dataclass(frozen=True)
class ImageDraw:
    """The physics of one image: ``combo`` (PhysicsDraws bins), scan mode, SNR (None: clean)."""

    combo: tuple[int, int, int]
    scan_mode: str
    snr_db: float | None


def draw_image(config: RealisticConfig, domain: str, index: int) -> ImageDraw:
    """Seeded draw of image ``index`` of ``domain`` (``"x"`` or ``"y"``)."""
    tag = {"x": 0, "y": 1}[domain]
    combo = config.draws.draw(config.seed * 2 + tag, index)
    rng = np.random.default_rng([int(config.seed), 23, tag, int(index)])
    mode = config.scan_modes[int(rng.integers(len(config.scan_modes)))]
    snr = None
    if domain == "x" and rng.random() >= config.clean_fraction:
        snr = float(rng.uniform(*config.snr_db))
    return ImageDraw(combo=combo, scan_mode=mode, snr_db=snr)


def training_digits(config: RealisticConfig) -> tuple[np.ndarray, np.ndarray]:
    """MNIST training-digit indices of X and Y (disjoint, none of the reserved ones)."""
    from napari_mpi_dl.phantoms.mnist import mnist_indices

    pool = np.asarray(mnist_indices("train"))[RESERVED_DIGITS:]
    n = config.n_x + config.n_y
    if n > len(pool):
        raise ValueError(f"n_x + n_y must be <= {len(pool)} (MNIST training digits less the "
                         f"{RESERVED_DIGITS} reserved for validation), got {n}")
    chosen = np.random.default_rng([int(config.seed), 29]).permutation(pool)[:n]
    return np.sort(chosen[: config.n_x]), np.sort(chosen[config.n_x :])


class _Physics:
    """Cached simulators and kernels per (combo, scan mode, gradient)."""

    def __init__(self, config: RealisticConfig) -> None:
        self.config = config
        self._sims: dict = {}
        self._kernels: dict = {}

    def settings(self, d: ImageDraw, *, high: bool = False, ideal: bool = False):
        from napari_mpi_dl.physics.presets import HIGH_GRADIENT_T_PER_M
        from napari_mpi_dl.physics.settings import XSpaceSettings

        base = XSpaceSettings(scan_mode=d.scan_mode)
        if ideal:
            return base
        if high:
            base = base.replace(gradient_t_per_m=HIGH_GRADIENT_T_PER_M)
        return self.config.draws.apply(base, d.combo)

    def simulator(self, d: ImageDraw, *, high: bool = False, ideal: bool = False):
        from napari_mpi_dl.physics.native import NativeSimulator

        key = ("ideal", d.scan_mode) if ideal else (d.combo, d.scan_mode, high)
        if key not in self._sims:
            self._sims[key] = NativeSimulator(self.settings(d, high=high, ideal=ideal))
        return self._sims[key]

    def kernel(self, d: ImageDraw, kind: str) -> np.ndarray:
        from napari_mpi_dl.recon.psf_models import measured_psf, model_psf

        ideal = kind == "rl-ideal"
        key = ("ideal", d.scan_mode) if ideal else (d.combo, d.scan_mode, kind)
        if key not in self._kernels:
            s = self.settings(d, ideal=ideal)
            self._kernels[key] = (
                model_psf(s) if kind in ("rl-model", "rl-ideal") else measured_psf(
                    s, snr_db=MEASURED_PSF_SNR_DB, seed=int(self.config.seed) + 5000))
        return self._kernels[key]


def _grouped(draws: list[ImageDraw]):
    keys: dict = {}
    for i, d in enumerate(draws):
        keys.setdefault((d.combo, d.scan_mode), []).append(i)
    return sorted(keys.items())


#: Most images one worker task simulates (a large physics group is split into such chunks).
CHUNK_IMAGES = 24


def _simulate_images(config: RealisticConfig, domain: str, draws: list[ImageDraw],
                     phantoms: np.ndarray, idx: list[int],
                     physics: _Physics | None = None) -> np.ndarray:
    """Images ``idx`` of ``domain`` (one physics group: the same combo and scan mode), each
    with its own draw; ``phantoms`` are the images' own phantoms (``len(idx)``)."""
    from napari_mpi_dl.physics.noise import add_white_noise
    from napari_mpi_dl.recon.deconvolution import deconvolve

    physics = physics or _Physics(config)
    d = draws[0]
    mode = d.scan_mode
    high = domain == "y" and config.y_kind == "native-high"
    ideal = domain == "y" and config.y_kind == "rl-ideal"
    images = physics.simulator(d, high=high, ideal=ideal).simulate(phantoms)
    out = np.empty(phantoms.shape, dtype=np.float64)
    for j, (i, draw) in enumerate(zip(idx, draws, strict=True)):
        im = images[j]
        if domain == "x" and draw.snr_db is not None:
            # the noise seed is the image's index in its domain: the same in every chunking
            im = add_white_noise(im, draw.snr_db,
                                 rng=np.random.default_rng([int(config.seed), 31, int(i)]))
        elif domain == "y" and not high:
            im = deconvolve(im, physics.kernel(d, config.y_kind), method="richardson-lucy",
                            iterations=int(config.rl_iterations), tol=0)
        out[j] = im.T if mode == "y" else im
    return out


#: a worker process's simulators and kernels, kept across its tasks (one configuration)
_WORKER_PHYSICS: dict = {}


def _worker_task(config, domain, draws, phantoms, idx):
    from threadpoolctl import threadpool_limits

    physics = _WORKER_PHYSICS.setdefault(repr(config), _Physics(config))
    with threadpool_limits(1):  # one BLAS / FFT thread per worker: the workers are the threads
        return idx, _simulate_images(config, domain, draws, phantoms, idx, physics)


def simulate_domain(config: RealisticConfig, domain: str, phantoms: np.ndarray, *,
                    physics: _Physics | None = None, progress=None,
                    workers: int = 1) -> np.ndarray:
    """Images of ``domain`` ("x" or "y") for ``phantoms`` (n, 101, 101): single-axis scans
    with the scan axis along x (y-scans transposed), isotropic scans as simulated.

    ``workers`` > 1 simulates the physics groups (split into chunks of at most
    :data:`CHUNK_IMAGES` images) in that many processes; every image's draw and noise are
    seeded by its index, so the result equals the one-process result (to rounding: 1e-13
    of the image maximum, from BLAS thread counts).
    """
    workers = int(workers)
    if workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    draws = [draw_image(config, domain, i) for i in range(len(phantoms))]
    out = np.empty(phantoms.shape, dtype=np.float64)
    tasks = [idx[k:k + CHUNK_IMAGES] for _, idx in _grouped(draws)
             for k in range(0, len(idx), CHUNK_IMAGES)]
    done = 0

    def store(idx, images):
        nonlocal done
        out[idx] = images
        done += len(idx)
        if progress is not None:
            progress(done, len(phantoms))

    if workers == 1 or len(tasks) == 1:
        physics = physics or _Physics(config)
        for idx in tasks:
            store(idx, _simulate_images(config, domain, [draws[i] for i in idx],
                                        phantoms[idx], idx, physics))
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: the parent may hold torch / BLAS threads that a fork would copy mid-state
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_worker_task, config, domain, [draws[i] for i in idx],
                               phantoms[idx], idx)
                   for idx in sorted(tasks, key=len, reverse=True)]
        for future in as_completed(futures):
            store(*future.result())
    return out


def realistic_card(config: RealisticConfig):
    """The :class:`~napari_mpi_dl.dcgan.card.ModelCard` of data made with ``config``."""
    from napari_mpi_dl.dcgan.card import MAX_RESAMPLE_FACTOR, NORMALISATION, ModelCard
    from napari_mpi_dl.physics.presets import DEFAULT_GRID, LOW_GRADIENT_T_PER_M
    from napari_mpi_dl.physics.tracers import tracer_preset

    grid = DEFAULT_GRID
    px = tuple(float(p) for p in grid.pixel_mm)
    medians = [c.median_nm for t in config.tracers for c in tracer_preset(t).sizes]
    errors = config.gradient_errors or (0.0,)
    grads = (LOW_GRADIENT_T_PER_M * (1 + min(errors)), LOW_GRADIENT_T_PER_M * (1 + max(errors)))
    taus = config.relaxation_times_s or (0.0,)
    lo, hi = config.snr_db
    y_text = {
        "rl-model": f"Richardson-Lucy ({config.rl_iterations} iterations) with the model PSF "
                    "(the tracer's adiabatic kernel at the nominal gradient)",
        "rl-measured": f"Richardson-Lucy ({config.rl_iterations} iterations) with a measured "
                       f"PSF (point source, drawn physics, {MEASURED_PSF_SNR_DB:g} dB)",
        "native-high": "natives at 6 T/m (same tracer, relaxation and gradient error)",
        "rl-ideal": f"Richardson-Lucy ({config.rl_iterations} iterations, exact PSF) of ideal "
                    "natives (25 nm, adiabatic, exact gradient)",
    }[config.y_kind]
    return ModelCard(
        pixel_mm=px, pixel_mm_range=(min(px) / MAX_RESAMPLE_FACTOR,
                                     max(px) * MAX_RESAMPLE_FACTOR),
        image_shape=tuple(grid.shape), fov_mm=tuple(float(f) for f in grid.fov_mm),
        scan_modes=(config.model_scan_mode,),
        gradient_t_per_m=(round(grads[0], 6), round(grads[1], 6)),
        tracer=(f"presets {', '.join(config.tracers)} drawn per image, Debye relaxation "
                f"{', '.join(f'{t * 1e6:g}' for t in taus)} us (replacing the preset's), "
                f"gradient error {', '.join(f'{e * 100:+g}' for e in errors)} % of the nominal "
                f"{LOW_GRADIENT_T_PER_M:g} T/m"),
        core_diameter_nm=(min(medians), max(medians)),
        relaxation_time_s=(min(taus), max(taus)),
        noise=(f"domain X: white Gaussian noise, SNR uniform in {lo:g} - {hi:g} dB per image, "
               f"{config.clean_fraction * 100:g} % noise-free; domain Y noise-free"),
        snr_db=(float(lo), float(hi)),
        normalisation=NORMALISATION,
        data=(f"simulated x-space natives of {config.n_x} MNIST training digits (X) and "
              f"{config.n_y} disjoint ones (Y: {y_text}), seed {config.seed}; "
              + ("isotropic scans (an x- and a y-scan image averaged, isotropic PSF), not "
                 "transposed; " if config.isotropic else
                 f"{' and '.join(config.scan_modes)} scans, y-scans transposed into the x axis; ")
              + f"whole {grid.shape[0]} x {grid.shape[1]} images; never in training: the first "
              f"{RESERVED_DIGITS} training digits (validation), the held-out test digits, all "
              "two-tube phantoms"),
    )


def generate_realistic_domains(config: RealisticConfig | None = None, *,
                               progress=None, workers: int = 1) -> Domains:
    """Simulate X and Y now (see the module docstring); ``progress(done, total)`` per image;
    ``workers`` processes (:func:`simulate_domain`; the same images for any number).

    The returned :class:`~napari_mpi_dl.dcgan.data.Domains` carry the generation record and the
    card (``info["card"]``) in their info.
    """
    from napari_mpi_dl.phantoms.mnist import mnist_phantoms

    config = config or RealisticConfig()
    ix, iy = training_digits(config)
    physics = _Physics(config)
    total = config.n_x + config.n_y

    def step(offset):
        return None if progress is None else (lambda d, _n: progress(offset + d, total))

    x = simulate_domain(config, "x", mnist_phantoms(ix), physics=physics, progress=step(0),
                        workers=workers)
    y = simulate_domain(config, "y", mnist_phantoms(iy), physics=physics,
                        progress=step(config.n_x), workers=workers)
    from napari_mpi_dl.physics.presets import DEFAULT_GRID

    return Domains.from_arrays(
        x, y, source="generated realistic (MNIST training digits, tracer physics)",
        y_source=config.y_kind, realistic=config.as_dict(), x_phantoms=config.n_x,
        y_phantoms=config.n_y, seed=config.seed, mnist_indices=sorted(ix.tolist() + iy.tolist()),
        pixel_mm=list(DEFAULT_GRID.pixel_mm), fov_mm=list(DEFAULT_GRID.fov_mm),
        image_shape=list(DEFAULT_GRID.shape), scan_mode=config.model_scan_mode,
        card=realistic_card(config).to_dict(),
    )
