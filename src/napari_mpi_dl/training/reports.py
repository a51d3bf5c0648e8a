"""The small progress event that every training loop yields."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TrainingReport:
    """One progress event of a training run.

    Parameters
    ----------
    step : int
        Optimisation steps completed so far (1-based after the first step; 0 before any step).
    epoch : float
        Passes over the (smaller) training domain completed so far, fractional.
    total_steps : int
        Steps the run will have made when it finishes.
    losses : dict of str to float
        Named scalar losses of the latest step (finite, checked by the NaN guard).
    preview : numpy.ndarray, optional
        A 2D image showing the current model's output on a fixed input (in the input's units).
    elapsed_s : float
        Wall time since the run (or the resumed run) started, in seconds.
    message : str
        A human-readable note (checkpoint written, finished, ...), empty if none.
    checkpoint : str, optional
        Path of the checkpoint written at this step, if any.
    """

    step: int
    epoch: float
    total_steps: int
    losses: dict[str, float] = field(default_factory=dict)
    preview: np.ndarray | None = None
    elapsed_s: float = 0.0
    message: str = ""
    checkpoint: str | None = None

    @property
    def fraction(self) -> float:
        """Progress in [0, 1]."""
        return 0.0 if self.total_steps <= 0 else min(1.0, self.step / self.total_steps)

    @property
    def done(self) -> bool:
        return self.step >= self.total_steps

    def format_losses(self, digits: int = 3) -> str:
        """``"G=0.812 D=0.241"`` style summary for progress bars and logs."""
        return " ".join(f"{k}={v:.{digits}f}" for k, v in self.losses.items())
