"""The suite's yardstick: a model's error on some rows, the record a fit had in force at
a budget (what a run stopped there returns), and whether an error meets a target.

Every fit of the suite keeps an *anytime record* (:mod:`secondorder.pipeline.anytime`):
the validation and test error of its best-so-far weights by validation loss, each
stamped with the own compute (``time_s``) and the work (``work``, floating-point
operations) at which those weights were reached. A run stopped at budget ``b`` returns
the weights of its last record with ``time_s <= b`` (:func:`in_force`): no trainer's
decisions before ``b`` depend on what comes after it, so one run to the largest budget
scores every smaller one.

Pure numpy and pandas (no TensorFlow): these functions run on the tables the suite's
jobs write.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from secondorder.problem.datasets import TASKS

#: A fit: one arm at one grid point, from one initial weight draw, on one split.
FIT = ["problem", "size", "arm", "grid_point", "split", "init"]

#: A pair: what every arm shares (the problem, its size, the split and the initial
#: weights).
PAIR = ["problem", "size", "split", "init"]

#: Slack of a classification target, in rows: error counts are integers, and the
#: fractions they are stored as are not (``1 - 0.97 > (1 - 0.98) + 0.01``).
ROW_EPS = 1e-6

#: Relative slack of a regression target against rounding.
REL_EPS = 1e-9

#: The tolerance of an outcome that has no target (the test error).
NO_TOLERANCE = "none"


def require(frame: pd.DataFrame, columns, what: str) -> None:
    """ValueError unless ``frame`` is a DataFrame with ``columns``, naming the missing."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {missing}; it needs {list(columns)} "
                         f"and has {list(frame.columns)}")


def nan_as_inf(values) -> np.ndarray:
    """``values`` as floats with NaN (a failed fit) counted as ``+inf``."""
    values = np.asarray(values, dtype=float).copy()
    values[np.isnan(values)] = np.inf
    return values


def error(task: str, y_true, y_pred) -> float:
    """A fit's error on some rows (lower is better, 0 is perfect).

    * classification: ``1 - accuracy``, the fraction of rows whose largest output
      (``argmax``) is not the true class (the argmax of the one-hot row); a row with
      a non-finite prediction counts as wrong;
    * regression: normalised MSE, ``mean((y_true - y_pred)^2) / var(y_true)``, with
      ``var`` the population variance (ddof 0) of each target column averaged over
      the columns (for one column, plain ``np.var``), so predicting each column's mean
      scores exactly 1. If that variance is 0 (constant targets) the plain MSE is
      returned instead. Any non-finite prediction gives ``inf`` (a diverged fit).

    ``y_true`` and ``y_pred`` are ``(n, k)`` arrays of the same shape (1-D accepted
    for regression, as one column).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}")
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if task == "regression":
        y_true = y_true.reshape(len(y_true), -1) if y_true.ndim == 1 else y_true
        y_pred = y_pred.reshape(len(y_pred), -1) if y_pred.ndim == 1 else y_pred
    if y_true.ndim != 2 or y_true.shape != y_pred.shape or len(y_true) == 0:
        raise ValueError(f"y_true and y_pred must be non-empty 2-D arrays of the same shape, "
                         f"got {y_true.shape} and {y_pred.shape}")
    if task == "classification":
        finite = np.isfinite(y_pred).all(axis=1)
        correct = finite & (np.argmax(y_true, axis=1) == np.argmax(y_pred, axis=1))
        return float(1.0 - correct.mean())
    if not np.isfinite(y_pred).all():
        return math.inf
    mse = float(np.mean((y_true - y_pred) ** 2))
    variance = float(np.mean(np.var(y_true, axis=0)))
    return mse / variance if variance > 0 else mse


# --- what a stopped run returns --------------------------------------------------------


def in_force(records: pd.DataFrame, budgets, measure: str = "time_s",
             columns=("val_error", "test_error")) -> pd.DataFrame:
    """Each fit's record in force at each of ``budgets``: its last record with
    ``measure <= budget``, the weights (and their errors) a run stopped at that
    budget would return.

    ``records``: anytime records with the :data:`FIT` columns, ``measure`` (seconds of
    own compute, ``time_s``, or floating-point operations, ``work``) and ``columns``;
    every fit has a record at 0 (its initial weights), so every budget ``>= 0`` has
    one. Returns one row per fit and budget, sorted by :data:`FIT` then ``budget``:
    the :data:`FIT` columns, ``budget``, ``columns`` and ``measure`` (that of the
    record in force). ValueError for a negative or NaN budget.
    """
    columns = list(columns)
    require(records, FIT + [measure] + columns, "records")
    budgets = np.atleast_1d(np.asarray(budgets, dtype=float))
    if budgets.ndim != 1 or not (budgets >= 0).all():
        raise ValueError(f"budgets must be numbers >= 0, got {budgets}")
    ordered = records.sort_values(FIT + [measure], kind="mergesort", ignore_index=True)
    code = ordered.groupby(FIT, sort=False).ngroup().to_numpy()
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    values = np.asarray(ordered[measure], dtype=float)
    parts = []
    for budget in budgets:
        counts = np.add.reduceat((values <= budget).astype(np.int64), starts)
        rows = starts + np.maximum(counts, 1) - 1
        part = ordered.loc[rows, FIT + columns + [measure]].reset_index(drop=True)
        part.insert(len(FIT), "budget", float(budget))
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(FIT + ["budget"], kind="mergesort", ignore_index=True)


def at_budget(records: pd.DataFrame, budget: float, measure: str = "time_s") -> pd.DataFrame:
    """:func:`in_force` at one budget, without the ``budget`` column: one row per fit."""
    if not budget >= 0:
        raise ValueError(f"budget must be a number >= 0, got {budget!r}")
    return in_force(records, [budget], measure).drop(columns="budget")


# --- targets ---------------------------------------------------------------------------


def tolerance_label(tolerance: dict) -> str:
    """``"+1 row / +5%"``: a tolerance (``rows`` for classification, ``relative`` for
    regression) as the tables and the article name it."""
    rows, rel = int(tolerance["rows"]), float(tolerance["relative"])
    return f"+{rows} row{'s' if rows != 1 else ''} / +{100 * rel:g}%"


def meets(task, error, target, n_rows) -> np.ndarray:
    """Whether each ``error`` meets its ``target`` (arrays, broadcast): for
    classification ``error * n_rows <= target * n_rows + ROW_EPS`` (compared in rows,
    so ``1 - 0.97`` meets ``(1 - 0.98) + 1 / 100`` with 100 rows), for regression
    ``error <= target * (1 + REL_EPS)``. A NaN error or target never meets."""
    task = np.asarray(task)
    error = np.asarray(error, dtype=float)
    target = np.asarray(target, dtype=float)
    n_rows = np.asarray(n_rows, dtype=float)
    with np.errstate(invalid="ignore"):
        rows = error * n_rows <= target * n_rows + ROW_EPS
        relative = error <= target * (1.0 + REL_EPS)
    return np.where(task == "classification", rows, relative) & np.isfinite(target)
