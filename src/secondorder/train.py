"""One fit of one arm (an optimizer with its settings, a config entry): the pipeline's
training stage, through the registry :mod:`secondorder.arms`."""

from __future__ import annotations

import logging

import numpy as np

from .data import Problem
from .fit import FitResult
from .model import Architecture

log = logging.getLogger(__name__)


def log_progress(info: dict) -> None:
    log.info("  ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in info.items()))


def fit_arm(arm: dict, problem: Problem, ws0, arch: Architecture) -> FitResult:
    """Train ``arm`` (a config entry) on ``problem`` from the flat ``ws0``: a batch of
    one through :func:`secondorder.arms.train`.

    Malformed input raises ``ValueError`` before any training, saying what was expected:
    settings outside the config schema (:func:`secondorder.arms.check_arm`), a problem
    whose inputs or targets do not match ``arch``
    (:func:`secondorder.first_order.check_problem`), or initial weights of the wrong
    length, dtype or with non-finite values.
    """
    from .arms import check_arm, train
    from .first_order import check_init, check_problem

    arm = check_arm(arm)
    check_problem(problem, arch)
    ws0 = check_init(ws0, arch)
    return train(arm, problem, ws0[None], arch, progress=log_progress)[0]


def fit_lm(arm: dict, problem: Problem, ws0, arch: Architecture) -> FitResult:
    """Levenberg-Marquardt on the article's SSQ residuals from one start: the batched
    :func:`secondorder.study_lm.fit_lm_batch` with one row."""
    from .study_lm import fit_lm_batch

    return fit_lm_batch(arm, problem, np.asarray(ws0, dtype=np.float64)[None], arch)[0]
