"""The result every training arm returns, whatever its optimizer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: What a fit's ``time_s`` measures, in the words of the article's axes and captions.
TIME_LABEL = "a fit's own compute (its share of its batch), s"

#: Columns of ``history.csv``: one row per epoch (first-order) or iteration (LM);
#: ``time_s`` is the fit's own compute so far (see :class:`FitResult`).
HISTORY_COLUMNS = ("iteration", "ssq_train", "ssq_val", "time_s")


@dataclass
class FitResult:
    """One fit: final weights (flat, float64), per-iteration history, and a summary.

    ``status`` is a short token (``"early_stopping"``, ``"max_iter"``, ``"ftol"``, ...),
    ``message`` says it in words and ``success`` tells whether the optimizer ended
    normally (not whether the classifier is good: that is evaluation's job).

    Times (seconds, compilation excluded; it is ``compile_s``, once per batch):
    ``time_s`` is the fit's own compute, the headline time of a fit everywhere a
    reader sees one. A fit run alone is charged its wall time from start to stop; a fit
    trained in a batch of ``batch_size`` its share of the batch (:func:`time_shares`:
    each step's seconds split evenly over the fits still running in it, counted over
    the steps it took part in), so the shares of a batch add up to its wall time and a
    batch of one is charged its wall time. ``batch_wall_s`` is the wall time of the
    whole batch, ``batch_size`` its number of fits (alone: ``time_s``, 1). The
    history's ``time_s`` column is the same share, cumulated up to each row.
    """

    weights: np.ndarray
    history: pd.DataFrame
    status: str
    message: str
    success: bool
    iterations: int | None
    evaluations: int
    time_s: float
    compile_s: float = 0.0
    batch_wall_s: float | None = None
    batch_size: int = 1
    status_code: int | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.batch_wall_s is None:  # a fit alone: its batch is itself
            self.batch_wall_s = self.time_s

    def summary(self) -> dict:
        """The JSON-ready part of ``fit.json`` that this result knows."""
        return {"status": self.status, "status_code": self.status_code,
                "message": self.message, "success": bool(self.success),
                "iterations": None if self.iterations is None else int(self.iterations),
                "evaluations": int(self.evaluations), "time_s": float(self.time_s),
                "batch_wall_s": float(self.batch_wall_s),
                "batch_size": int(self.batch_size), "compile_s": float(self.compile_s),
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


def clock_shares(clock, active, batch_wall_s=None, *, start=0.0,
                 before=None) -> np.ndarray:
    """:func:`time_shares` from the batch's clock: ``clock`` ``(K,)`` are the seconds
    since the batch started at the end of each step, ``active`` ``(K, B)`` as there.
    With ``batch_wall_s`` the seconds after the last reading (the batch's closing
    work) are charged to the last step, so the shares add up to ``batch_wall_s``. A fit
    alone (one row, active throughout) is charged the clock itself, to the last bit.
    A later stretch of the same batch: ``start`` is the clock's reading before its
    first step and ``before`` ``(B,)`` each row's own compute then (a fit alone was
    charged the clock up to ``start``, so it is still charged the clock)."""
    clock = np.asarray(clock, dtype=float)
    active = np.asarray(active, dtype=bool)
    if active.shape[1:] == (1,) and active.all() and len(clock):
        own = clock.copy()
        if batch_wall_s is not None:
            own[-1] = batch_wall_s
        return own[:, None]
    step_s = np.diff(clock, prepend=start)
    if batch_wall_s is not None and len(step_s):
        step_s[-1] += batch_wall_s - clock[-1]
    shares = time_shares(step_s, active)
    return shares if before is None else shares + np.asarray(before, dtype=float)[None, :]
