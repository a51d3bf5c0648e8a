"""Stop a run with a clear message when a loss stops being finite."""

from __future__ import annotations

import math
from collections.abc import Mapping


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; the run stopped and the last checkpoint was kept."""


def check_finite(losses: Mapping[str, float], *, step: int) -> None:
    """Raise :class:`TrainingDivergedError` if any loss in ``losses`` is NaN or infinite.

    Parameters
    ----------
    losses : mapping of str to float
        Named scalar losses of one step.
    step : int
        The step they belong to (quoted in the message).
    """
    bad = {k: v for k, v in losses.items() if not math.isfinite(float(v))}
    if bad:
        names = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise TrainingDivergedError(
            f"training diverged at step {step}: non-finite loss ({names}). The last checkpoint "
            "written before this step was kept; lower the learning rate, disable mixed precision "
            "(--no-amp) or resume from that checkpoint."
        )
