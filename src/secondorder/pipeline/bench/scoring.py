"""The benchmark's problem and yardstick: the article's 500 spirals and split, the seed
of its initial weights, the accuracy every row is scored by, and :class:`CheckTime`,
the one rule for leaving those checks out of a row's time."""

from __future__ import annotations

import contextlib
import time

import numpy as np

from secondorder.problem import data
from secondorder.problem.model import ARTICLE, mlp_numpy

#: Settings of the article's problem.
N_SAMPLES, TRAIN_FRACTION, SPLIT_SEED, INIT_SEED = 500, 0.8, 0, 1


def article_problems() -> tuple[data.Problem, data.Problem]:
    """The article's 500 spirals with its split: ``(raw, scaled)`` problems."""
    spiral = data.spiral_data(N_SAMPLES)
    x, y = spiral[:, :2], spiral[:, 2:]
    trn, val = data.split_indices(N_SAMPLES, TRAIN_FRACTION, SPLIT_SEED)
    scaled = data.apply_scaler(x, data.article_scaler(x[trn]))
    return (data.Problem(x, y, trn, val, "raw"),
            data.Problem(scaled, y, trn, val, "scaled"))


def accuracy(problem: data.Problem, weights) -> float:
    """Accuracy on all points, scored as :mod:`secondorder.pipeline.evaluate` does (numpy
    ``mlp``, float64, max-shifted softmax, predicted class = the larger output)."""
    proba = mlp_numpy(problem.x_all, np.asarray(weights, dtype=np.float64), ARTICLE,
                      stable=True)
    return float(np.mean(np.argmax(proba, axis=1) == np.argmax(problem.y_all, axis=1)))


class CheckTime:
    """The time a run spent checking its own progress (the accuracy at the target),
    kept apart so that it can be taken off the run's time: "time minus checks".

    ``with checks.measure() as tic:`` times one check (``tic``: the clock reading as it
    starts); :meth:`off` takes the checks so far off a time the run measured. A time to
    target read at the start of the check that finds the target is therefore the run's
    time up to that point less the earlier checks; a run's total time is its wall time
    less every check.
    """

    def __init__(self):
        self.seconds = 0.0
        self.last_end: float | None = None  # clock reading at the end of the last check

    @contextlib.contextmanager
    def measure(self):
        tic = time.perf_counter()
        try:
            yield tic
        finally:
            self.last_end = time.perf_counter()
            self.seconds += self.last_end - tic

    def off(self, elapsed: float) -> float:
        """``elapsed`` (seconds of the run) less the time spent checking it so far."""
        return elapsed - self.seconds
