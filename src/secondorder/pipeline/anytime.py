"""Anytime records: what each fit would return if it were stopped now, against the
compute and the work it has spent so far.

A trainer calls ``progress(info)`` now and then (every ``chunk`` epochs or iterations,
every L-BFGS iteration). :class:`AnytimeRecorder` is such a callback for a batch of
fits: from each report it takes every row's best-so-far weights by validation loss
(``best_x``; the weights early stopping would restore), scores them on the
validation and test rows, and keeps a record whenever those errors change. From one
run with the largest budget, every smaller budget's result follows post hoc: the
record in force at that budget (:func:`secondorder.pipeline.suite.metrics.in_force`)
is what a run stopped there would have returned, since no trainer's decisions before
a time depend on what comes after it.

**Resolution.** A record should be stamped with the time of the improvement itself,
for every arm alike. LM (the suite's ``chunk: 1``) and L-BFGS report after every
iteration, so each report's best weights are those of that iteration. The compiled
first-order loop reports every ``chunk`` epochs, so it lists, in ``improvements``,
every epoch of the chunk at which a row's best weights changed, with that epoch's
weights, counters and time (:func:`secondorder.optim.first_order.fit_first_order_batch`);
the recorder asks for them (its ``improvements`` attribute) and keeps one record per
improvement whose errors changed: the records are those of a run reporting every
epoch, the times within a chunk interpolated (tested).

**Time** (``time_s``): a fit's own compute, cumulative. A report's ``time_s`` (per
row) is used when the trainer gives it; otherwise it is the report's ``elapsed_s``
(or ``elapsed``: the batch's seconds since its start, compilation and every callback's
own time excluded) split over the rows that worked in each interval between reports
(those whose ``nit`` grew), by :func:`secondorder.optim.fit_result.time_shares`, the
one rule for every arm: a fit alone is charged its own wall time.

**Work** (``work``): floating-point operations, counted from a report's counters by a
``work`` function: the suite's is made by the optimizer's entry of the registry
(:data:`secondorder.optim.arms.REGISTRY`, its ``work``; :mod:`secondorder.optim.flops`),
everything each optimizer computes, LM's ``J^T J`` and solve included.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from secondorder.optim.fit_result import time_shares

#: Columns of a record table (:meth:`AnytimeRecorder.table`).
RECORD_COLUMNS = ("row", "time_s", "work", "val_error", "test_error", "final")


class AnytimeRecorder:
    """A ``progress(info)`` callback that keeps the anytime record of a batch of fits.

    ``W0`` ``(B, n)``: the batch's initial weights (recorded at time 0, work 0).
    ``evaluate(w) -> (val_error, test_error)`` scores one weight vector.
    ``work(counters) -> (B,)``: the work so far of every row from a report's per-row
    counters (the suite's: :func:`secondorder.optim.arms.work_counter`).
    ``relative``: a record is kept when a row's validation or test error moved by
    more than this fraction of its last recorded value (0: any change, right for
    counts of misclassified rows).

    Every report needs per-row ``nit`` and ``best_x`` and the counters ``work`` reads,
    plus ``time_s`` (per row) or ``elapsed_s``/``elapsed``. A report may list
    ``improvements``, ``(row, counters, time_s, weights)`` in the order they happened
    (``counters``: the row's counters then, e.g. ``{"nit": epoch}``): each is scored
    and recorded at its own time and work, and the report's ``best_x`` is then not
    looked at. The callback returns False (it never stops a fit). :meth:`table` gives
    the records.
    """

    #: Trainers that report every ``chunk`` steps list the improvements in between for it
    #: (:func:`secondorder.optim.first_order.fit_first_order_batch`).
    improvements = True

    def __init__(self, W0, evaluate: Callable, *, work: Callable, relative: float = 0.0):
        W0 = np.atleast_2d(np.asarray(W0, dtype=np.float64))
        self.evaluate, self.count_work, self.relative = evaluate, work, float(relative)
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
        self.work = np.asarray(self.count_work(info), dtype=float).reshape(self.size)
        if "improvements" in info:
            for b, counters, time_s, weights in info["improvements"]:
                work = self.count_work({k: np.atleast_1d(v) for k, v in counters.items()})
                self._offer(int(b), np.asarray(weights, dtype=np.float64), float(time_s),
                            float(work[0]))
            return False
        best = np.asarray(info["best_x"], dtype=np.float64).reshape(self.best_x.shape)
        for b in range(self.size):
            self._offer(b, best[b], float(self.time_s[b]), float(self.work[b]))
        return False

    def _offer(self, b: int, weights, time_s: float, work: float) -> None:
        """Row ``b``'s best weights at ``time_s`` and ``work``: scored when they changed,
        recorded when the errors changed."""
        if np.array_equal(weights, self.best_x[b]):
            return
        self.best_x[b] = weights
        scores = self.evaluate(weights)
        if self._changed(self.last[b], scores):
            self.last[b] = scores
            self.records.append((b, time_s, work, *scores, False))

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
