"""The result every training arm returns, whatever its optimizer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Columns of ``history.csv``: one row per epoch (first-order) or iteration (LM).
HISTORY_COLUMNS = ("iteration", "ssq_train", "ssq_val", "wall_s")


@dataclass
class FitResult:
    """One fit: final weights (flat, float64), per-iteration history, and a summary.

    ``status`` is a short token (``"early_stopping"``, ``"max_iter"``, ``"ftol"``, ...),
    ``message`` says it in words and ``success`` tells whether the optimizer ended
    normally (not whether the classifier is good: that is evaluation's job).
    """

    weights: np.ndarray
    history: pd.DataFrame
    status: str
    message: str
    success: bool
    iterations: int | None
    evaluations: int
    wall_s: float
    compile_s: float = 0.0
    status_code: int | None = None
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The JSON-ready part of ``fit.json`` that this result knows."""
        return {"status": self.status, "status_code": self.status_code,
                "message": self.message, "success": bool(self.success),
                "iterations": None if self.iterations is None else int(self.iterations), "evaluations": int(self.evaluations),
                "wall_s": float(self.wall_s), "compile_s": float(self.compile_s),
                **self.extra}


def time_shares(step_s, active) -> np.ndarray:
    """Each fit's own compute in a batch: cumulative seconds ``(K, B)``.

    ``step_s`` ``(K,)`` are the seconds of the batch's steps (iterations, epochs or
    chunks of them), ``active`` ``(K, B)`` says which rows took part in each. A step's
    seconds are split evenly over the rows active in it, so row ``b`` is charged
    ``sum_k step_s[k] / active[k].sum()`` over the steps it was active in: the shares
    of all rows add up to the batch's time, and a fit alone (``B = 1``) is charged its
    own wall time. Steps with no active row charge nobody.
    """
    step_s = np.asarray(step_s, dtype=float)
    active = np.asarray(active, dtype=bool)
    if active.ndim != 2 or step_s.shape != active.shape[:1]:
        raise ValueError(f"step_s must be (K,) and active (K, B), got {step_s.shape} and "
                         f"{active.shape}")
    count = active.sum(axis=1)
    per_row = np.where(count > 0, step_s / np.maximum(count, 1), 0.0)
    return np.cumsum(active * per_row[:, None], axis=0)
