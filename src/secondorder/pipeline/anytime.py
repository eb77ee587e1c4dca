"""Anytime records: what each fit would return if it were stopped now, against the
compute and the work it has spent so far.

A trainer calls ``progress(info)`` now and then (every ``chunk`` epochs or iterations,
every L-BFGS iteration). :class:`AnytimeRecorder` is such a callback for a batch of
fits: from each report it takes every row's best-so-far weights by validation loss
(``best_x``; the weights early stopping would restore), scores them on the
validation and test rows, and keeps a record whenever those errors change. From one
run with the largest budget, every smaller budget's result follows post hoc: the
record in force at that budget (:func:`secondorder.pipeline.suite_metrics.at_budget`)
is what a run stopped there would have returned, since no trainer's decisions before
a time depend on what comes after it.

**Time** (``time_s``): a fit's own compute, cumulative. A report's ``time_s`` (per
row) is used when the trainer gives it; otherwise it is the report's ``elapsed_s``
(or ``elapsed``: the batch's seconds since its start, compilation and every callback's
own time excluded) split over the rows that worked in each interval between reports
(those whose ``nit`` grew), by :func:`secondorder.optim.fit_result.time_shares`, the
one rule for every arm: a fit alone is charged its own wall time.

**Work** (``work``): passes over the training rows, counted from a report's counters by
the optimizer's entry of the registry (:data:`secondorder.optim.arms.REGISTRY`: its
``work`` says how, e.g. one pass per epoch, per L-BFGS gradient, per LM residual
evaluation and one per residual of a row per LM Jacobian). Validation-set evaluations
(early stopping, the records themselves) are not work on the training rows and are not
counted; LM's linear algebra (``J^T J``, its factorisation) is not a pass either: it
shows in the time, not in the work.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from secondorder.optim.arms import REGISTRY
from secondorder.optim.fit_result import time_shares

#: Columns of a record table (:meth:`AnytimeRecorder.table`).
RECORD_COLUMNS = ("row", "time_s", "work", "val_error", "test_error", "final")


def passes(optimizer: str, info: dict, residual_columns: int = 1) -> np.ndarray:
    """Work so far of every row of a progress report of ``optimizer``, in passes over
    the training rows (its registry entry's ``work``); ValueError for an optimizer that
    keeps no count."""
    return _work(optimizer)(info, residual_columns)


def _work(optimizer: str) -> Callable:
    entry = REGISTRY.get(optimizer)
    if entry is None or entry.work is None:
        known = sorted(name for name, e in REGISTRY.items() if e.work)
        raise ValueError(f"no work count for optimizer {optimizer!r}; known: {known}")
    return entry.work


class AnytimeRecorder:
    """A ``progress(info)`` callback that keeps the anytime record of a batch of fits.

    ``W0`` ``(B, n)``: the batch's initial weights (recorded at time 0, work 0).
    ``evaluate(w) -> (val_error, test_error)`` scores one weight vector.
    ``optimizer`` and ``residual_columns`` say how work is counted (:func:`passes`).
    ``relative``: a record is kept when a row's validation or test error moved by
    more than this fraction of its last recorded value (0: any change, right for
    counts of misclassified rows).

    Every report needs per-row ``nit`` and ``best_x`` and the counters its
    optimizer's work is counted from, plus ``time_s`` (per row) or ``elapsed_s``/``elapsed``. The
    callback returns False (it never stops a fit). :meth:`table` gives the records.
    """

    def __init__(self, W0, evaluate: Callable, *, optimizer: str, residual_columns: int = 1,
                 relative: float = 0.0):
        _work(optimizer)  # an optimizer that keeps no count fails here, before any fit
        W0 = np.atleast_2d(np.asarray(W0, dtype=np.float64))
        self.evaluate, self.optimizer = evaluate, optimizer
        self.residual_columns, self.relative = int(residual_columns), float(relative)
        self.size = len(W0)
        self.best_x = W0.copy()
        self.time_s = np.zeros(self.size)
        self.work = np.zeros(self.size)
        self.nit = np.zeros(self.size, dtype=np.int64)
        self.elapsed = 0.0
        self.records: list[tuple] = []
        self.last = [self.evaluate(w) for w in W0]
        for b, (val, test) in enumerate(self.last):
            self.records.append((b, 0.0, 0.0, val, test, False))

    def _changed(self, old, new) -> bool:
        """Whether an error moved by more than ``relative`` of its old value (any move
        with 0; between a number and inf or NaN always)."""
        for a, b in zip(old, new):
            if np.isfinite(a) and np.isfinite(b):
                if abs(b - a) > self.relative * abs(a):
                    return True
            elif not (a == b or (np.isnan(a) and np.isnan(b))):
                return True
        return False

    def __call__(self, info: dict) -> bool:
        nit = np.asarray(info["nit"]).astype(np.int64).reshape(self.size)
        if "time_s" in info:
            self.time_s = np.asarray(info["time_s"], dtype=float).reshape(self.size).copy()
        else:
            elapsed = float(info["elapsed_s"] if "elapsed_s" in info else info["elapsed"])
            active = nit > self.nit
            step = max(elapsed - self.elapsed, 0.0)
            self.time_s = self.time_s + time_shares([step], active[None])[-1]
            self.elapsed = elapsed
        self.nit = nit
        self.work = passes(self.optimizer, info, self.residual_columns).reshape(self.size)
        best = np.asarray(info["best_x"], dtype=np.float64).reshape(self.best_x.shape)
        for b in range(self.size):
            if np.array_equal(best[b], self.best_x[b]):
                continue
            self.best_x[b] = best[b]
            scores = self.evaluate(best[b])
            if self._changed(self.last[b], scores):
                self.last[b] = scores
                self.records.append((b, float(self.time_s[b]), float(self.work[b]),
                                     *scores, False))
        return False

    def table(self) -> pd.DataFrame:
        """Every record, one row each (:data:`RECORD_COLUMNS`): ``row`` (of ``W0``),
        ``time_s``, ``work``, ``val_error``, ``test_error`` of the best-so-far weights
        from that point on, and a ``final`` record per row at its last time and work
        (the end of its run), whose errors are those in force then."""
        final = [(b, float(self.time_s[b]), float(self.work[b]), *self.last[b], True)
                 for b in range(self.size)]
        frame = pd.DataFrame(self.records + final, columns=list(RECORD_COLUMNS))
        return frame.sort_values(["row", "time_s", "final"], kind="mergesort",
                                 ignore_index=True)
