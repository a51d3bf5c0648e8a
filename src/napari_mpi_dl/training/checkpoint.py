"""Atomic training checkpoints and loading with clear errors.

A checkpoint is one ``torch.save`` file holding a dictionary::

    {"format": "napari-mpi-dl/checkpoint", "format_version": 1, "kind": "<model kind>",
     "step": int, "config": {...JSON-friendly...}, "models": {name: state_dict},
     "optimizers": {...}, "schedulers": {...}, "scalers": {...}, "rng": {...}, "extra": {...}}

It is written through :func:`napari_mpi_dl.io.atomic.atomic_path`, so an interrupted write leaves
the previous checkpoint intact. Loading uses ``weights_only=True`` (no arbitrary code from the
file) and raises :class:`CheckpointError` (a ``ValueError``) naming the file and the problem.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_mpi_dl.io.atomic import atomic_path

CHECKPOINT_FORMAT = "napari-mpi-dl/checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint or weights file is missing, corrupted, or does not fit the model."""


def rng_state() -> dict[str, Any]:
    """The global RNG states (torch CPU, CUDA, numpy legacy, python) as a saveable dict."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state_to_dict(np.random.get_state()),  # noqa: NPY002
        "python": repr(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the RNG states written by :func:`rng_state`."""
    import ast

    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "numpy" in state:
        np.random.set_state(_numpy_state_from_dict(state["numpy"]))  # noqa: NPY002
    if "python" in state:
        random.setstate(_tuples(ast.literal_eval(state["python"])))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(obj):
    return tuple(_tuples(o) for o in obj) if isinstance(obj, list | tuple) else obj


def _numpy_state_to_dict(st) -> dict[str, Any]:
    return {"name": st[0], "keys": torch.from_numpy(np.asarray(st[1]).astype(np.int64)),
            "pos": int(st[2]), "has_gauss": int(st[3]), "cached": float(st[4])}


def _numpy_state_from_dict(d) -> tuple:
    return (d["name"], d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"], d["cached"])


def save_checkpoint(
    path: str | os.PathLike,
    *,
    kind: str,
    step: int,
    config: Mapping[str, Any],
    models: Mapping[str, torch.nn.Module | Mapping[str, torch.Tensor]],
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    schedulers: Mapping[str, Any] | None = None,
    scalers: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    include_rng: bool = True,
) -> Path:
    """Write a checkpoint atomically and return its path.

    Parameters
    ----------
    path : path-like
        Target file (parent folders are created).
    kind : str
        What model this is (e.g. ``"dcgan"``); checked on load.
    step : int
        Optimisation steps completed.
    config : mapping
        JSON-friendly configuration needed to rebuild the models.
    models, optimizers, schedulers, scalers : mappings of name to object with ``state_dict()``
        (a plain state dict is accepted for ``models``).
    extra : mapping, optional
        Other saveable state (e.g. a data sampler's RNG state).
    include_rng : bool
        Store the global RNG states too (needed for bit-identical resumption).
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "kind": str(kind),
        "step": int(step),
        "config": dict(config),
        "models": {k: (v.state_dict() if hasattr(v, "state_dict") else dict(v))
                   for k, v in models.items()},
        "optimizers": {k: v.state_dict() for k, v in (optimizers or {}).items()},
        "schedulers": {k: v.state_dict() for k, v in (schedulers or {}).items()},
        "scalers": {k: v.state_dict() for k, v in (scalers or {}).items()},
        "extra": dict(extra or {}),
        "rng": rng_state() if include_rng else {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_torch_file(path: str | os.PathLike, *, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on CPU with a :class:`CheckpointError` on failure."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{what} file {str(p)!r} does not exist")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupted, truncated, not a torch file, unsafe pickle
        raise CheckpointError(
            f"{what} file {str(p)!r} cannot be read as a napari-mpi-dl {what} "
            f"(corrupted, truncated or not a torch file): {type(exc).__name__}: "
            f"{_first_line(exc)}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else "")[:160]


def load_checkpoint(path: str | os.PathLike, *, kind: str | None = None) -> dict[str, Any]:
    """Read and validate a checkpoint written by :func:`save_checkpoint` (tensors on CPU).

    Raises
    ------
    CheckpointError
        If the file is missing, unreadable, not a napari-mpi-dl checkpoint, of a newer format, or
        of another ``kind``.
    """
    payload = read_torch_file(path, what="checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is not a napari-mpi-dl checkpoint (no {CHECKPOINT_FORMAT!r} marker)"
        )
    if int(payload.get("format_version", 0)) > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint format {payload['format_version']}, newer than this "
            f"version of napari-mpi-dl understands ({CHECKPOINT_VERSION}); upgrade the package"
        )
    if kind is not None and payload.get("kind") != kind:
        raise CheckpointError(
            f"{str(path)!r} is a {payload.get('kind')!r} checkpoint, expected {kind!r}"
        )
    for key in ("models", "config", "step"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {str(path)!r} lacks its {key!r} entry")
    return payload


def load_state_dict_checked(
    module: torch.nn.Module, state: Mapping[str, torch.Tensor], *, name: str, source: str = ""
) -> None:
    """``module.load_state_dict(state)`` (strict) with a short, clear :class:`CheckpointError`.

    Missing/unexpected keys and shape mismatches are summarised (first few names), which usually
    means the file was trained with another architecture configuration.
    """
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source}: the {name!r} weights are not a state dict")
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape")
        and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} with other shapes (e.g. {'; '.join(shapes[:2])})")
        where = f"{source}: " if source else ""
        raise CheckpointError(
            f"{where}the {name!r} weights do not fit the model: " + ", ".join(parts)
            + ". The file was made for another architecture configuration."
        )
    own_dtypes = {k: v.dtype for k, v in own.items()}
    converted = {k: (v.to(own_dtypes[k]) if torch.is_tensor(v) else v) for k, v in state.items()}
    for k, v in converted.items():
        if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{source}: the {name!r} weights contain NaN/inf in {k!r}")
    module.load_state_dict(converted, strict=True)
