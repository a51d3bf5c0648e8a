"""Model card of a DC_GAN weights file: what the generator was trained on, and what it covers.

The card travels *inside* the weights file (``payload["card"]``, weights format version 2; see
:func:`napari_mpi_dl.dcgan.weights.save_generator_weights`). Files of format version 1 have no
card: :func:`card_from_info` derives what their training record states (pixel size and field of
view of the data, noise level, data description, provenance) and leaves the rest ``None``,
which every display shows as "unknown" and :meth:`ModelCard.check_input` treats as "cannot be
checked" (a problem, never a silent pass).

A card states

* ``pixel_mm`` (dy, dx): the pixel size (mm) of the training images; inputs are resampled to it;
* ``pixel_mm_range``: the input pixel sizes (mm) the model covers after that resampling;
* ``scan_modes``: the scan modes of the training natives (``"x"``, ``"y"``, ``"isotropic"``); an
  ``"x"`` model also covers ``"y"`` scans by transposition (and vice versa);
* ``gradient_t_per_m``, ``core_diameter_nm``, ``relaxation_time_s``, ``snr_db``: (min, max)
  ranges of the training physics; ``tracer`` and ``noise`` describe them in words;
* ``image_shape``, ``fov_mm``, ``normalisation``, ``data``, ``provenance``.

This module imports neither torch nor napari.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

#: Version of the card's own layout (inside the weights payload).
CARD_VERSION = 1

#: Scan modes a card may name (as :data:`napari_mpi_dl.physics.psf.SCAN_MODES`).
SCAN_MODES = ("x", "y", "isotropic")

#: Relative tolerance on the gradient and core-size ranges when an input's physics is known
#: (5 %: inside the calibration error of a real scanner's gradient).
PHYSICS_TOLERANCE = 0.05

#: Inputs are resampled to the model's pixel size by at most this factor either way (the default
#: ``pixel_mm_range`` of a card): beyond it, upsampling asks the generator for detail the image
#: never had, and downsampling squeezes the point-spread function it learned into few pixels.
MAX_RESAMPLE_FACTOR = 3.0

NORMALISATION = ("each image min-max mapped to [-1, 1] on its own; the output is mapped back to "
                 "the input's [min, max]")


def _scan(mode: str) -> str:
    """'an x-scan', 'a y-scan', 'an isotropic scan'."""
    return {"x": "an x-scan", "y": "a y-scan"}.get(mode, f"an {mode} scan")


def _pair(value, name: str, *, kind=float) -> tuple | None:
    if value is None:
        return None
    try:
        items = [kind(v) for v in value]
    except TypeError:
        items = [kind(value)] * 2
    if len(items) != 2:
        raise ValueError(f"card field {name} must be two numbers, got {value!r}")
    return tuple(items)


@dataclass(frozen=True)
class Coverage:
    """Result of :meth:`ModelCard.check_input`.

    ``transpose``: swap the last two axes before and after the generator (scan axis);
    ``pixel_mm``: the input pixel size (dy, dx) in the orientation the model sees, or None;
    ``problems``: what the card does not cover, each naming the input's and the model's value.
    """

    transpose: bool
    pixel_mm: tuple[float, float] | None
    problems: tuple[str, ...]

    @property
    def covered(self) -> bool:
        return not self.problems

    def message(self) -> str:
        return "; ".join(self.problems)


@dataclass(frozen=True)
class ModelCard:
    """What a DC_GAN generator was trained on (``None`` = unknown). See the module docstring."""

    pixel_mm: tuple[float, float] | None = None
    pixel_mm_range: tuple[float, float] | None = None
    image_shape: tuple[int, int] | None = None
    fov_mm: tuple[float, float] | None = None
    scan_modes: tuple[str, ...] | None = None
    gradient_t_per_m: tuple[float, float] | None = None
    tracer: str | None = None
    core_diameter_nm: tuple[float, float] | None = None
    relaxation_time_s: tuple[float, float] | None = None
    noise: str | None = None
    snr_db: tuple[float, float] | None = None
    normalisation: str | None = NORMALISATION
    data: str | None = None
    provenance: str | None = None
    version: int = CARD_VERSION

    def __post_init__(self) -> None:
        for name in ("pixel_mm", "pixel_mm_range", "fov_mm", "gradient_t_per_m",
                     "core_diameter_nm", "relaxation_time_s", "snr_db"):
            pair = _pair(getattr(self, name), name)
            if pair is not None and not all(math.isfinite(v) for v in pair):
                raise ValueError(f"card field {name} must be finite, got {pair!r}")
            object.__setattr__(self, name, pair)
        for name in ("pixel_mm", "pixel_mm_range", "fov_mm"):
            pair = getattr(self, name)
            if pair is not None and min(pair) <= 0:
                raise ValueError(f"card field {name} must be positive lengths in mm, got {pair}")
        object.__setattr__(self, "image_shape", _pair(self.image_shape, "image_shape", kind=int))
        if self.scan_modes is not None:
            modes = tuple(str(m) for m in self.scan_modes)
            bad = [m for m in modes if m not in SCAN_MODES]
            if bad or not modes:
                raise ValueError(f"card field scan_modes must name some of {SCAN_MODES}, "
                                 f"got {self.scan_modes!r}")
            object.__setattr__(self, "scan_modes", modes)

    # ---- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples as lists); :meth:`from_dict` inverts it."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        if not isinstance(d, dict):
            raise ValueError(f"a model card must be a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model card fields {unknown} (a newer napari-mpi-dl?)")
        return cls(**d)

    # ---- display ----------------------------------------------------------------------------
    def lines(self) -> list[tuple[str, str]]:
        """(label, text) pairs for display; unknown fields read "unknown"."""
        def rng(pair, unit, fmt="{:g}"):
            if pair is None:
                return "unknown"
            lo, hi = pair
            return f"{fmt.format(lo)} {unit}" if lo == hi else \
                f"{fmt.format(lo)} - {fmt.format(hi)} {unit}"

        def mm2(pair):
            return "unknown" if pair is None else f"{pair[0]:.4g} x {pair[1]:.4g} mm (dy x dx)"

        relax = "unknown" if self.relaxation_time_s is None else (
            "none (equilibrium)" if max(self.relaxation_time_s) == 0
            else rng(tuple(v * 1e6 for v in self.relaxation_time_s), "us"))
        return [
            ("pixel size", mm2(self.pixel_mm)),
            ("input pixel sizes covered", rng(self.pixel_mm_range, "mm", "{:.3g}")),
            ("image size", "unknown" if self.image_shape is None
             else f"{self.image_shape[0]} x {self.image_shape[1]} px"),
            ("field of view", mm2(self.fov_mm)),
            ("scan modes", "unknown" if self.scan_modes is None else ", ".join(self.scan_modes)),
            ("gradient", rng(self.gradient_t_per_m, "T/m")),
            ("tracer", self.tracer or "unknown"),
            ("core diameter", rng(self.core_diameter_nm, "nm")),
            ("relaxation time", relax),
            ("noise", self.noise or "unknown"),
            ("SNR", rng(self.snr_db, "dB")),
            ("normalisation", self.normalisation or "unknown"),
            ("data", self.data or "unknown"),
            ("provenance", self.provenance or "unknown"),
        ]

    def format_text(self) -> str:
        """The card as aligned ``label: text`` lines (``deblur --info``)."""
        rows = self.lines()
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in rows)

    def summary(self) -> str:
        """One short line: pixel size, scan modes, gradient, tracer/relaxation, noise."""
        px = "? mm" if self.pixel_mm is None else f"{self.pixel_mm[1]:.3g} mm"
        modes = "?" if self.scan_modes is None else "/".join(self.scan_modes)
        grad = "? T/m" if self.gradient_t_per_m is None else (
            f"{self.gradient_t_per_m[0]:g} T/m" if self.gradient_t_per_m[0]
            == self.gradient_t_per_m[1] else
            f"{self.gradient_t_per_m[0]:g}-{self.gradient_t_per_m[1]:g} T/m")
        size = "?" if self.image_shape is None else f"{self.image_shape[0]}x{self.image_shape[1]}"
        relax = "relaxation ?" if self.relaxation_time_s is None else (
            "no relaxation" if max(self.relaxation_time_s) == 0 else
            f"relaxation <= {max(self.relaxation_time_s) * 1e6:g} us")
        return (f"trained at {px} pixels, {size} px, {modes}-scan, {grad}, "
                f"{self.tracer_short()}, {relax}")

    def tracer_short(self) -> str:
        if self.core_diameter_nm is None:
            return "tracer ?"
        lo, hi = self.core_diameter_nm
        return f"{lo:g} nm cores" if lo == hi else f"{lo:g}-{hi:g} nm cores"

    # ---- coverage ---------------------------------------------------------------------------
    def check_input(
        self,
        *,
        pixel_mm: tuple[float, float] | None,
        scan_mode: str | None,
        gradient_t_per_m: float | None = None,
        core_diameter_nm: float | None = None,
        relaxation_time_s: float | None = None,
        core_sizes: tuple[tuple[float, float], ...] | None = None,
    ) -> Coverage:
        """Does this card cover an input with these properties? (None = the input's is unknown)

        Parameters
        ----------
        pixel_mm : (float, float) or None
            Input pixel size (dy, dx) in mm.
        scan_mode : {"x", "y", "isotropic"} or None
            Input scan mode.
        gradient_t_per_m, core_diameter_nm, relaxation_time_s : float, optional
            Input physics when its metadata states it; checked against the card's ranges
            (``relaxation_time_s``: the largest relaxation time of the tracer).
        core_sizes : ((median_nm, sigma), ...), optional
            A core-size distribution (lognormal components); every median must lie in the
            card's core-diameter range, and a spread is not covered by a one-size card.
        """
        problems: list[str] = []
        if scan_mode is not None and scan_mode not in SCAN_MODES:
            raise ValueError(f"scan_mode must be one of {SCAN_MODES}, got {scan_mode!r}")
        if pixel_mm is not None:
            pixel_mm = _pair(pixel_mm, "pixel_mm")
            if not all(math.isfinite(p) and p > 0 for p in pixel_mm):
                raise ValueError(f"pixel_mm must be two positive lengths in mm, got {pixel_mm}")
        transpose = False
        if scan_mode is None:
            problems.append("the input's scan mode is unknown (give it: x, y or isotropic)")
        elif self.scan_modes is None:
            problems.append(f"the input is {_scan(scan_mode)}, the model's card does not say "
                            "which scan modes it was trained on")
        elif scan_mode not in self.scan_modes:
            swapped = {"x": "y", "y": "x"}.get(scan_mode)
            if swapped in self.scan_modes:
                transpose = True
            else:
                problems.append(
                    f"scan mode differs: the input is {_scan(scan_mode)}, the model was trained "
                    f"on {' and '.join(_scan(m).split(' ', 1)[1] for m in self.scan_modes)}s "
                    "only"
                    + (" (transposition cannot turn an isotropic image into a single-axis scan)"
                       if scan_mode == "isotropic" else ""))
        if transpose and pixel_mm is not None:
            pixel_mm = (pixel_mm[1], pixel_mm[0])
        if pixel_mm is None:
            problems.append("the input's pixel size is unknown (give it in mm)")
        elif self.pixel_mm is None:
            problems.append(f"the input has {pixel_mm[0]:.4g} x {pixel_mm[1]:.4g} mm pixels, the "
                            "model's card does not say which pixel size it was trained at")
        elif self.pixel_mm_range is not None:
            lo, hi = self.pixel_mm_range
            out = [p for p in pixel_mm if not lo <= p <= hi]
            if out:
                problems.append(
                    f"pixel size differs: the input has {pixel_mm[0]:.4g} x {pixel_mm[1]:.4g} mm "
                    f"pixels, the model covers {lo:.3g} - {hi:.3g} mm (trained at "
                    f"{self.pixel_mm[1]:.4g} mm)")
        self._check_range(problems, "gradient", gradient_t_per_m, self.gradient_t_per_m, "T/m",
                          PHYSICS_TOLERANCE)
        self._check_range(problems, "core diameter", core_diameter_nm, self.core_diameter_nm,
                          "nm", PHYSICS_TOLERANCE)
        if core_sizes and self.core_diameter_nm is not None:
            lo, hi = self.core_diameter_nm
            text = ", ".join(f"{m:g} nm (sigma {sg:g})" for m, sg in core_sizes)
            outside = [m for m, _ in core_sizes
                       if not lo * (1 - PHYSICS_TOLERANCE) <= m <= hi * (1 + PHYSICS_TOLERANCE)]
            if outside or (lo == hi and any(sg > 0 for _, sg in core_sizes)):
                problems.append(f"tracer differs: the input's cores are {text}, the model was "
                                f"trained on {self.tracer_short()}")
        if relaxation_time_s is not None and self.relaxation_time_s is not None:
            lo, hi = self.relaxation_time_s
            if not lo - 1e-9 <= relaxation_time_s <= hi + 1e-9:  # 1 ns: float round-off
                problems.append(
                    f"relaxation differs: the input has {relaxation_time_s * 1e6:g} us, the "
                    f"model was trained on {lo * 1e6:g} - {hi * 1e6:g} us")
        return Coverage(transpose=transpose, pixel_mm=pixel_mm, problems=tuple(problems))

    @staticmethod
    def _check_range(problems, what, value, card_range, unit, tol) -> None:
        if value is None or card_range is None:
            return
        lo, hi = card_range
        if not lo * (1 - tol) <= value <= hi * (1 + tol):
            problems.append(f"{what} differs: the input has {value:g} {unit}, the model was "
                            f"trained on {lo:g} - {hi:g} {unit}")


def input_physics(metadata: dict | None) -> dict[str, Any]:
    """Pixel size, scan mode and physics an image's metadata states (this package's records).

    Reads ``pixel_mm`` and the simulator's ``settings`` record (``scan_mode``,
    ``gradient_t_per_m``, ``particle.diameter_nm``, ``particle.relaxation_time_s``) as written by
    ``napari-mpi-dl simulate`` and the simulator dock. Returns the keyword arguments of
    :meth:`ModelCard.check_input` that the metadata gives (missing ones are left out).
    """
    meta = dict(metadata or {})
    out: dict[str, Any] = {}
    pixel = meta.get("pixel_mm")
    if pixel is not None:
        out["pixel_mm"] = _pair(pixel, "pixel_mm")
    settings = meta.get("settings")
    if isinstance(settings, dict):
        if settings.get("scan_mode") in SCAN_MODES:
            out["scan_mode"] = settings["scan_mode"]
        if isinstance(settings.get("gradient_t_per_m"), int | float):
            out["gradient_t_per_m"] = float(settings["gradient_t_per_m"])
        particle = settings.get("particle")
        if isinstance(particle, dict):
            if isinstance(particle.get("diameter_nm"), int | float):
                out["core_diameter_nm"] = float(particle["diameter_nm"])
            sizes = particle.get("sizes")
            if isinstance(sizes, list) and sizes and all(isinstance(c, dict) for c in sizes):
                if len(sizes) == 1 and not sizes[0].get("sigma"):
                    out["core_diameter_nm"] = float(sizes[0]["median_nm"])
                else:
                    out["core_sizes"] = tuple((float(c["median_nm"]), float(c.get("sigma", 0)))
                                              for c in sizes)
            relax = particle.get("relaxation_time_max_s", particle.get("relaxation_time_s"))
            if isinstance(relax, int | float):
                out["relaxation_time_s"] = float(relax)
        grid = settings.get("grid")
        if "pixel_mm" not in out and isinstance(grid, dict) and grid.get("shape") \
                and grid.get("fov_mm"):
            shape, fov = grid["shape"], grid["fov_mm"]
            out["pixel_mm"] = (float(fov[0]) / int(shape[0]), float(fov[1]) / int(shape[1]))
    elif meta.get("scan_mode") in SCAN_MODES:
        out["scan_mode"] = meta["scan_mode"]
    return out


def card_from_info(info: dict | None) -> ModelCard:
    """The card a weights file without one (format version 1) implies from its training record.

    Data that carry their own card (``info["data"]["card"]``, e.g.
    :func:`napari_mpi_dl.dcgan.realistic_data.generate_realistic_domains`) give that card, with
    the command as provenance when it names none. Otherwise only what the record states is
    filled in: the data's pixel size and field of view, its physics settings when recorded, the
    noise level, a data description and the command. Everything else is unknown.
    """
    info = dict(info or {})
    data = info.get("data") if isinstance(info.get("data"), dict) else {}
    if isinstance(data.get("card"), dict):  # data that state their own card (realistic data)
        from dataclasses import replace

        card = ModelCard.from_dict(data["card"])
        if info.get("command") and not card.provenance:
            card = replace(card, provenance=f"command: {info['command']}")
        return card
    kw: dict[str, Any] = {}
    if data.get("pixel_mm"):
        kw["pixel_mm"] = _pair(data["pixel_mm"], "pixel_mm")
        kw["pixel_mm_range"] = (min(kw["pixel_mm"]) / MAX_RESAMPLE_FACTOR,
                                max(kw["pixel_mm"]) * MAX_RESAMPLE_FACTOR)
    if data.get("image_shape"):
        kw["image_shape"] = _pair(data["image_shape"], "image_shape", kind=int)
    if data.get("fov_mm"):
        kw["fov_mm"] = _pair(data["fov_mm"], "fov_mm")
    phys = input_physics({"settings": data.get("settings"), "scan_mode": data.get("scan_mode")})
    if "scan_mode" in phys:
        kw["scan_modes"] = (phys["scan_mode"],)
    for key in ("gradient_t_per_m", "core_diameter_nm", "relaxation_time_s"):
        if key in phys:
            kw[key] = (phys[key], phys[key])
    if data.get("snr_db") is not None:
        kw["snr_db"] = (float(data["snr_db"]), float(data["snr_db"]))
        if data.get("noisy"):
            kw["noise"] = (f"domain X: noise-free natives and copies with white Gaussian noise "
                           f"at {float(data['snr_db']):g} dB")
    if data.get("source"):
        kw["data"] = str(data["source"])
    if info.get("command"):
        kw["provenance"] = f"command: {info['command']}"
    return ModelCard(**kw)


def shipped_card() -> ModelCard:
    """The card of the shipped ``resources/dcgan_weights.pt`` (written from its training record,
    ``resources/dcgan_weights.json``, and the simulator settings that made its data)."""
    fov = 20.0
    n = 101
    pixel = fov / n
    return ModelCard(
        pixel_mm=(pixel, pixel),
        pixel_mm_range=(pixel / MAX_RESAMPLE_FACTOR, pixel * MAX_RESAMPLE_FACTOR),
        image_shape=(n, n),
        fov_mm=(fov, fov),
        scan_modes=("x",),
        gradient_t_per_m=(1.35, 1.35),
        tracer=("ideal: one 25 nm core size, equilibrium Langevin model, saturation "
                "magnetisation 0.6 T / mu0 (477 kA/m), 300 K; drive 25 kHz"),
        core_diameter_nm=(25.0, 25.0),
        relaxation_time_s=(0.0, 0.0),
        noise=("domain X: every native noise-free and once more with white Gaussian noise at "
               "30 dB (SNR = mean(image^2) / sigma^2 over the whole image); domain Y noise-free"),
        snr_db=(30.0, 30.0),
        normalisation=NORMALISATION,
        data=("simulated x-space natives of 1,500 MNIST training digits (seed 0): 1,200 digits "
              "for X (2,400 images: noise-free + 30 dB), 300 disjoint digits for Y "
              "(Richardson-Lucy, 200 iterations, exact model PSF, noise-free); whole 101 x 101 "
              "images; held out: MNIST digits 1500-1599 and all two-tube phantoms"),
        provenance=("napari-mpi-dl train deblur, 30,000 steps, seed 0, ngf 16 / 4 blocks, "
                    "LSGAN, CPU (2 threads, torch 2.13), 2026-11-21; recipe "
                    "scripts/train_shipped_dcgan.sh, full record in dcgan_weights.json"),
    )


class CardWarning(UserWarning):
    """A forced deblur of an input the weights' card does not cover."""


class ModelCardMismatch(ValueError):
    """An input the weights' card does not cover (the message names what differs)."""

    def __init__(self, coverage: Coverage) -> None:
        self.coverage = coverage
        super().__init__(f"the model's card does not cover this image: {coverage.message()}")


def model_card(model) -> ModelCard:
    """The card of a loaded :class:`~napari_mpi_dl.dcgan.inference.Deblurrer` (from its
    weights file, or derived from its training record for files without one)."""
    return card_of_info(getattr(model, "info", None))


def card_of_info(info: dict | None) -> ModelCard:
    """The card in a weights file's info (``info["card"]``), else :func:`card_from_info`."""
    info = dict(info or {})
    card = info.get("card")
    if isinstance(card, ModelCard):
        return card
    if isinstance(card, dict):
        return ModelCard.from_dict(card)
    return card_from_info(info)
