"""Device choice (CPU / CUDA) and mixed precision, the same for every training loop and GUI."""

from __future__ import annotations

import contextlib

import torch


def available_devices() -> list[str]:
    """``["cpu", "cuda:0", ...]``: CPU first, then each visible CUDA device."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


def describe_device(device: str | torch.device) -> str:
    """A label for menus: ``"cpu"`` or ``"cuda:0 (NVIDIA H100 80GB HBM3)"``."""
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        return f"{dev} ({torch.cuda.get_device_name(dev.index or 0)})"
    return str(dev)


def choose_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``"auto"`` / ``None`` (CUDA if available, else CPU) or an explicit device name.

    Raises
    ------
    ValueError
        If ``device`` is not a valid device name or asks for CUDA on a machine without it.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for CUDA but no CUDA device is available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
    elif dev.type != "cpu":
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return dev


def amp_enabled(device: torch.device, amp: bool | None) -> bool:
    """Mixed precision is used on CUDA only; ``amp=None`` means "on if CUDA"."""
    if device.type != "cuda":
        return False
    return True if amp is None else bool(amp)


def autocast(device: torch.device, enabled: bool):
    """``torch.autocast`` (float16) on CUDA when ``enabled``; a no-op context otherwise."""
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device, enabled: bool) -> torch.amp.GradScaler:
    """A gradient scaler that is active only for CUDA mixed precision."""
    return torch.amp.GradScaler("cuda", enabled=bool(enabled and device.type == "cuda"))


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Temporarily set ``torch.set_num_threads(n)`` (no change if ``n`` is None)."""
    if n is None:
        yield
        return
    if int(n) < 1:
        raise ValueError(f"num_threads must be >= 1, got {n!r}")
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def release_memory(device: torch.device | str) -> None:
    """Return cached CUDA memory to the driver after a run (no-op on CPU)."""
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
