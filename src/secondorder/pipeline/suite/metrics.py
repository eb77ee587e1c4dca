"""Scoring the benchmark suite: errors, anytime records at a budget, targets in a
reader's units, first hits, data and performance profiles, paired bootstrap
intervals and the verdict map on the article's claim.

The claim under test: second-order methods (Levenberg-Marquardt, the ``lm`` arm)
should be the default for moderately sized data and models. Each problem of
:mod:`secondorder.problem.datasets` is split several times (``split``), trained at
several model sizes by LM and first-order rivals, each arm at every point of its
tuning grid from the same initial weights (``init``). Every fit leaves an *anytime
record* (:mod:`secondorder.pipeline.anytime`): the validation and test error of its
best-so-far weights (by validation loss) against its own compute ``time_s`` and its
work (passes over the training rows). Validation rows stop and tune; test rows score.
The analysis, all of it post hoc from one run with the largest budget (the cap):

1. :func:`at_budget`: each fit's record in force at a budget, what a run stopped
   there would have returned;
2. :func:`select_grid_point`: per (problem, size, arm) the grid point with the lowest
   median validation error at that budget (each arm compared at its tuned best);
3. :func:`reference` and :func:`targets`: per (problem, size, split), the reference
   is the lowest median test error of any arm of a comparison at its tuned grid
   point at the cap (the best arm's typical tuned fit, as AlgoPerf sets targets from
   reference runs); the target adds a tolerance in a reader's units: misclassified
   test rows for classification, a relative error for regression; :func:`meets`
   compares with an epsilon against rounding;
4. :func:`first_hits`: each fit's first time (and work) its record met the target;
5. :func:`data_profile` (Moré and Wild 2009: the fraction of instances solved within
   a budget) and :func:`performance_profile` (Dolan and Moré 2002: within ``tau``
   times the fastest arm), an instance being a (problem, size, split, init): the
   same start for every arm;
6. :func:`verdict_map`: per group (problem family and size, or problem and size),
   budget and tolerance, LM's success against the best rival's, paired by split and
   initial weights, with a stratified bootstrap interval (:func:`paired_bootstrap`):
   *holds*, *fails*, *mixed* or *cannot tell*; :func:`verdict_changes` names the
   budget where the answer changes. :func:`success_rates` gives Wilson intervals.

Pure numpy and pandas (no TensorFlow): the functions run on the tables the suite's
jobs write.

References: E. D. Dolan and J. J. Moré (2002), Benchmarking optimization software
with performance profiles, Math. Program. 91, 201-213. J. J. Moré and S. M. Wild
(2009), Benchmarking derivative-free optimization algorithms, SIAM J. Optim. 20,
172-191. G. E. Dahl et al. (2023), Benchmarking neural network training algorithms
(AlgoPerf), arXiv:2306.07179. B. Efron and R. J. Tibshirani (1993), An Introduction to
the Bootstrap, ch. 13 (percentile intervals). E. B. Wilson (1927), Probable inference,
the law of succession, and statistical inference, JASA 22, 209-212.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from secondorder.problem.datasets import TASKS

#: z for a two-sided 95% interval: the 0.975 quantile of the standard normal.
Z95 = 1.959963984540054

def _require(frame: pd.DataFrame, columns, what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {missing}; it needs {list(columns)} "
                         f"and has {list(frame.columns)}")


def _nan_as_inf(values) -> np.ndarray:
    values = np.asarray(values, dtype=float).copy()
    values[np.isnan(values)] = np.inf
    return values


# --- one fit ---------------------------------------------------------------------------


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


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    With ``p = k / n``: ``centre = (p + z^2 / 2n) / (1 + z^2 / n)`` and
    ``half = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)``; returns
    ``(centre - half, centre + half)`` clipped to [0, 1], ``(nan, nan)`` for
    ``n = 0``. Default ``z``: two-sided 95%. ValueError unless
    ``0 <= successes <= n``.
    """
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes!r}, n={n!r}")
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return max(0.0, centre - half), min(1.0, centre + half)


# --- budgets and tuning ----------------------------------------------------------------

#: A fit: one arm at one grid point, from one initial weight draw, on one split.
FIT = ["problem", "size", "arm", "grid_point", "split", "init"]

#: An instance of the profiles and a pair of the verdict: what every arm shares (the
#: problem, its size, the split and the initial weights).
PAIR = ["problem", "size", "split", "init"]

#: The columns holding a first hit's time and work (:func:`first_hits`), by measure.
HIT_COLUMNS = {"time_s": "hit_time_s", "work": "hit_work"}

#: Floors of a first hit for the performance profiles' ratios: a target the initial
#: weights already meet counts as met at the records' resolution, not at 0.
FLOORS = {"time_s": 1e-3, "work": 1.0}


def at_budget(records: pd.DataFrame, budget: float, measure: str = "time_s") -> pd.DataFrame:
    """Each fit's record in force at ``budget`` (seconds of its own compute, or passes
    for ``measure="work"``): its last record with ``measure <= budget``, i.e. the
    errors a run stopped at ``budget`` would have returned.

    ``records``: the anytime records (:class:`secondorder.pipeline.anytime.AnytimeRecorder`)
    with the :data:`FIT` columns, ``measure``, ``val_error`` and ``test_error``; every
    fit has a record at 0 (its initial weights). Returns one row per fit, sorted by
    :data:`FIT`. ValueError for a negative or NaN budget.
    """
    _require(records, FIT + [measure, "val_error", "test_error"], "records")
    if not budget >= 0:
        raise ValueError(f"budget must be a number >= 0, got {budget!r}")
    within = records[np.asarray(records[measure], dtype=float) <= budget]
    ordered = within.sort_values(FIT + [measure], kind="mergesort")
    return ordered.groupby(FIT, sort=True).tail(1).reset_index(drop=True)


def select_grid_point(table: pd.DataFrame) -> pd.DataFrame:
    """Each arm's tuned grid point per (problem, size): the lowest median validation
    error over its fits (every split and init), ties broken by the lower mean, then
    the lower grid point.

    ``table``: one row per fit with the :data:`FIT` columns and ``val_error`` (NaN or
    inf for a failed fit: counted as ``+inf``, so a grid point whose fits mostly fail
    has median ``inf``; with an even count the two middle values are averaged, and
    ``(x + inf) / 2 = inf``). Returns one row per (problem, size, arm): ``problem,
    size, arm, grid_point, median_val_error, mean_val_error, n_fits``.
    """
    _require(table, FIT + ["val_error"], "table")
    if table.empty:
        raise ValueError("table is empty")
    frame = table[FIT].copy()
    frame["val_error"] = _nan_as_inf(table["val_error"])
    keys = ["problem", "size", "arm", "grid_point"]
    per_point = (frame.groupby(keys, sort=True)
                 .agg(median_val_error=("val_error", "median"),
                      mean_val_error=("val_error", "mean"), n_fits=("init", "size"))
                 .reset_index())
    best = (per_point.sort_values(["median_val_error", "mean_val_error", "grid_point"],
                                  kind="mergesort")
            .groupby(["problem", "size", "arm"], sort=True).head(1))
    return (best.sort_values(["problem", "size", "arm"], kind="mergesort")
            .reset_index(drop=True))


def chosen(table: pd.DataFrame, selected: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``table`` at the grid points of ``selected``
    (:func:`select_grid_point`)."""
    keys = ["problem", "size", "arm", "grid_point"]
    return table.merge(selected[keys], on=keys)


# --- targets ---------------------------------------------------------------------------

#: Slack of a classification target, in rows: error counts are integers, and the
#: fractions they are stored as are not (``1 - 0.97 > (1 - 0.98) + 0.01``).
ROW_EPS = 1e-6

#: Relative slack of a regression target against rounding.
REL_EPS = 1e-9


def tolerance_label(tolerance: dict) -> str:
    """``"+1 row / +5%"``: a tolerance (``rows`` for classification, ``relative`` for
    regression) as the tables and the article name it."""
    rows, rel = int(tolerance["rows"]), float(tolerance["relative"])
    return f"+{rows} row{'s' if rows != 1 else ''} / +{100 * rel:g}%"


def reference(table: pd.DataFrame) -> pd.DataFrame:
    """The reference test error of each (problem, size, split): the lowest, over the
    arms, of an arm's median test error over its inits.

    ``table``: the fits of each arm's selected grid point at the cap (one row per fit:
    the :data:`FIT` columns and ``test_error``; NaN counts as ``+inf``). Returns one
    row per (problem, size, split): ``reference_error`` and ``reference_arm`` (ties:
    the first name in sort order).
    """
    _require(table, FIT + ["test_error"], "table")
    frame = table[FIT].copy()
    frame["test_error"] = _nan_as_inf(table["test_error"])
    keys = ["problem", "size", "split"]
    medians = (frame.groupby(keys + ["arm"], sort=True)["test_error"].median()
               .rename("reference_error").reset_index())
    best = (medians.sort_values(keys + ["reference_error", "arm"], kind="mergesort")
            .groupby(keys, sort=True).head(1))
    return (best.rename(columns={"arm": "reference_arm"})
            .reset_index(drop=True)[keys + ["reference_error", "reference_arm"]])


def targets(references: pd.DataFrame, tolerances) -> pd.DataFrame:
    """Targets on the test rows, one per reference row and tolerance.

    ``references``: :func:`reference` with the columns ``task`` and ``n_test`` (test
    rows) added. ``tolerances``: dicts with ``rows`` (misclassified test rows) and
    ``relative`` (regression). Classification: ``target = reference + rows / n_test``
    (within ``rows`` more misclassified test rows than the reference); regression:
    ``target = reference * (1 + relative)``. Returns the reference rows times the
    tolerances with ``tolerance`` (:func:`tolerance_label`) and ``target_error``.
    """
    _require(references, ["problem", "size", "split", "task", "n_test",
                          "reference_error"], "references")
    parts = []
    for tol in tolerances:
        if int(tol["rows"]) < 0 or not float(tol["relative"]) >= 0:
            raise ValueError(f"a tolerance needs rows >= 0 and relative >= 0, got {tol}")
        part = references.copy()
        part["tolerance"] = tolerance_label(tol)
        ref = np.asarray(part["reference_error"], dtype=float)
        part["target_error"] = np.where(
            part["task"] == "classification",
            ref + int(tol["rows"]) / np.asarray(part["n_test"], dtype=float),
            ref * (1.0 + float(tol["relative"])))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


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


def first_hits(records: pd.DataFrame, targets_table: pd.DataFrame) -> pd.DataFrame:
    """Each fit's first hit of each target: the ``time_s`` and ``work`` of its first
    record (in time) whose ``test_error`` meets the target (:func:`meets`).

    ``records``: anytime records (the :data:`FIT` columns, ``time_s``, ``work``,
    ``test_error``), already cut at the cap; ``targets_table``: :func:`targets`.
    Returns one row per fit and tolerance: the :data:`FIT` columns, ``tolerance``,
    ``reached`` and ``hit_time_s``, ``hit_work`` (``inf`` when never met).
    ValueError when a fit's (problem, size, split) has no target.
    """
    _require(records, FIT + ["time_s", "work", "test_error"], "records")
    _require(targets_table, ["problem", "size", "split", "task", "n_test", "tolerance",
                             "target_error"], "targets_table")
    keys = ["problem", "size", "split"]
    have = set(map(tuple, targets_table[keys].drop_duplicates().to_numpy().tolist()))
    lacking = sorted({k for k in map(tuple, records[keys].drop_duplicates()
                                     .to_numpy().tolist()) if k not in have}, key=str)
    if lacking:
        raise ValueError(f"no target for the (problem, size, split) {lacking}")
    merged = records[FIT + ["time_s", "work", "test_error"]].merge(
        targets_table[keys + ["task", "n_test", "tolerance", "target_error"]], on=keys)
    merged["meets"] = meets(merged["task"], merged["test_error"], merged["target_error"],
                            merged["n_test"])
    hit = (merged[merged["meets"]].sort_values(FIT + ["tolerance", "time_s"],
                                               kind="mergesort")
           .groupby(FIT + ["tolerance"], sort=True).head(1))
    every = merged[FIT + ["tolerance"]].drop_duplicates()
    out = every.merge(hit[FIT + ["tolerance", "time_s", "work"]], on=FIT + ["tolerance"],
                      how="left")
    out["reached"] = out["time_s"].notna()
    out["hit_time_s"] = out["time_s"].fillna(np.inf)
    out["hit_work"] = out["work"].fillna(np.inf)
    return (out.drop(columns=["time_s", "work"])
            .sort_values(FIT + ["tolerance"], kind="mergesort").reset_index(drop=True))


# --- profiles --------------------------------------------------------------------------


def _instance_matrix(hits: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Rows: the :data:`PAIR` instances; columns: arms; values: the first hit's
    ``measure`` (``inf``: never). ValueError when the hits span several tolerances
    or grid points, or an arm lacks an instance."""
    column = HIT_COLUMNS[measure]
    _require(hits, PAIR + ["arm", "grid_point", "tolerance", column], "hits")
    if hits.empty:
        raise ValueError("hits is empty")
    if hits["tolerance"].nunique() > 1:
        raise ValueError("pass the hits of one tolerance")
    if (hits.groupby(["problem", "size", "arm"])["grid_point"].nunique() > 1).any():
        raise ValueError("more than one grid point for an arm on an instance; pass only "
                         "the selected grid points")
    matrix = hits.pivot_table(index=PAIR, columns="arm", values=column, aggfunc="first")
    if matrix.isna().any().any():
        raise ValueError("an arm has no fit on some instance; pass only the instances "
                         "every arm ran (memory-capped ones are 'not run')")
    return matrix


def data_profile(hits: pd.DataFrame, budgets, measure: str = "time_s") -> pd.DataFrame:
    """Moré and Wild's (2009) data profiles: ``d_s(b)``, the fraction of the
    instances (:data:`PAIR`) that arm ``s`` solved (met the target) within budget
    ``b`` of ``measure`` (seconds of own compute, or passes over the training rows).

    ``hits``: :func:`first_hits` at one tolerance, the selected grid points only,
    every arm on every instance. Returns a DataFrame indexed by ``budget``, one column
    per arm, non-decreasing in the budget.
    """
    matrix = _instance_matrix(hits, measure)
    budgets = np.atleast_1d(np.asarray(budgets, dtype=float))
    if budgets.ndim != 1 or len(budgets) == 0 or np.isnan(budgets).any() or (budgets < 0).any():
        raise ValueError(f"budgets must be a non-empty list of numbers >= 0, got {budgets}")
    solved = matrix.to_numpy(dtype=float)[None, :, :] <= budgets[:, None, None]
    return pd.DataFrame(solved.mean(axis=1), index=pd.Index(budgets, name="budget"),
                        columns=pd.Index(matrix.columns, name="arm"))


def performance_times(hits: pd.DataFrame, measure: str = "time_s") -> pd.DataFrame:
    """The matrix ``t[p, s]`` of :func:`performance_profile` from :func:`first_hits`
    (one tolerance, selected grid points): each instance's first hit, floored at
    :data:`FLOORS` (a target the initial weights met counts as met at the records'
    resolution), ``inf`` when never met."""
    matrix = _instance_matrix(hits, measure)
    return matrix.clip(lower=FLOORS[measure])


def performance_profile(times: pd.DataFrame, taus) -> pd.DataFrame:
    """Dolan & Moré (2002) performance profiles.

    ``times``: one row per instance ``p``, one column per arm ``s``, positive times
    ``t[p, s]`` (``inf`` = failed, NaN = the arm does not apply to the instance). With
    the ratio ``r[p, s] = t[p, s] / min_s t[p, s]`` (the minimum over the arms that
    apply), ``rho_s(tau) = #{p : r[p, s] <= tau} / #{p : s applies to p}``, where a
    failed ``t[p, s]`` never counts, and an instance where every arm failed counts as
    a failure for every arm. ``rho_s(1)`` is the fraction of instances where ``s`` is
    (one of) the fastest; ``rho_s(tau)`` for large ``tau`` the fraction it solves at
    all.

    Returns a DataFrame indexed by ``tau`` with one column per arm. ValueError for an
    instance no arm applies to, an arm that applies to no instance, non-positive
    times, no instances, or ``tau < 1`` / NaN.
    """
    if not isinstance(times, pd.DataFrame):
        raise ValueError(f"times must be a pandas DataFrame, got {type(times).__name__}")
    if times.shape[0] == 0 or times.shape[1] == 0:
        raise ValueError("times needs at least one instance (row) and one arm (column)")
    t = times.to_numpy(dtype=float)
    applies = ~np.isnan(t)
    if not applies.any(axis=1).all() or not applies.any(axis=0).all():
        raise ValueError("times has an instance no arm applies to or an arm that applies "
                         "to no instance (NaN rows or columns; use inf for a failure)")
    if (t[applies] <= 0).any():
        raise ValueError("times must be > 0 (ratios to the fastest arm are taken)")
    taus = np.atleast_1d(np.asarray(taus, dtype=float))
    if taus.ndim != 1 or len(taus) == 0 or np.isnan(taus).any() or (taus < 1).any():
        raise ValueError(f"taus must be a non-empty 1-D list of numbers >= 1, got {taus}")
    best = np.nanmin(t, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):  # inf / inf on all-failed instances
        ratio = np.where(np.isfinite(t), t / best, np.inf)
    solved = np.isfinite(ratio)[None, :, :] & (ratio[None, :, :] <= taus[:, None, None])
    rho = solved.sum(axis=1) / applies.sum(axis=0)[None, :]
    return pd.DataFrame(rho, index=pd.Index(taus, name="tau"),
                        columns=pd.Index(times.columns, name="arm"))



# --- summaries -------------------------------------------------------------------------


def success_rates(hits: pd.DataFrame, by=("arm",), z: float = Z95) -> pd.DataFrame:
    """Success rate per arm (or per ``by`` group) of :func:`first_hits` rows:
    ``fits`` (rows), ``successes`` (rows with ``reached``), ``rate = successes / fits``
    and its Wilson interval ``ci_low, ci_high`` (:func:`wilson_interval`, 95% by
    default)."""
    by = list(by)
    _require(hits, by + ["reached"], "hits")
    frame = hits[by].copy()
    frame["reached"] = hits["reached"].astype(bool)
    table = (frame.groupby(by, sort=True)
             .agg(fits=("reached", "size"), successes=("reached", "sum"))
             .reset_index())
    table["successes"] = table["successes"].astype(int)
    table["rate"] = table["successes"] / table["fits"]
    intervals = [wilson_interval(int(k), int(n), z)
                 for k, n in zip(table["successes"], table["fits"])]
    table["ci_low"] = [lo for lo, _ in intervals]
    table["ci_high"] = [hi for _, hi in intervals]
    return table


# --- the verdict -----------------------------------------------------------------------


def paired_bootstrap(differences, strata=None, *, resamples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """The mean of paired differences and its percentile bootstrap interval (Efron and
    Tibshirani 1993, ch. 13), stratified.

    ``differences``: one value per pair (LM's outcome minus a rival's on the same
    split and initial weights); ``strata``: a label per pair (the problem), resampled
    apart so that each stratum keeps its number of pairs (None: one stratum). Each of
    ``resamples`` draws (``np.random.default_rng(seed)``) takes, within every stratum,
    as many pairs with replacement as it has, and the interval is the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the pooled means.
    Returns ``(mean, low, high)``; ValueError for no pairs or a non-finite difference.
    """
    values = np.asarray(differences, dtype=float)
    if values.ndim != 1 or len(values) == 0 or not np.isfinite(values).all():
        raise ValueError("differences must be a non-empty 1-D array of finite numbers")
    if not 0 < level < 1 or int(resamples) < 1:
        raise ValueError(f"need 0 < level < 1 and resamples >= 1, got {level!r}, "
                         f"{resamples!r}")
    labels = np.zeros(len(values)) if strata is None else np.asarray(strata)
    if labels.shape != values.shape:
        raise ValueError("strata must have one label per difference")
    rng = np.random.default_rng(seed)
    total = np.zeros(int(resamples))
    for label in sorted(set(labels.tolist()), key=str):
        part = values[labels == label]
        total += part[rng.integers(0, len(part), size=(int(resamples), len(part)))].sum(axis=1)
    means = total / len(values)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(values.mean()), float(low), float(high)


def verdict_word(low: float, high: float, problem_intervals=()) -> str:
    """The verdict from the interval ``[low, high]`` of LM's advantage (LM minus the
    best rival) pooled over a group's pairs, and the same interval per problem:
    *holds* when the pooled interval lies above 0, *fails* when below, *mixed* when it
    covers 0 while some problem's interval lies above 0 and another's below (LM wins
    here and loses there), *cannot tell* otherwise (the intervals overlap 0)."""
    if low > 0:
        return "holds"
    if high < 0:
        return "fails"
    if (any(lo > 0 for lo, _ in problem_intervals)
            and any(hi < 0 for _, hi in problem_intervals)):
        return "mixed"
    return "cannot tell"


VERDICTS = ("holds", "mixed", "cannot tell", "fails")


def verdict_map(solved: pd.DataFrame, *, second_order: str, rivals, by=("family", "size"),
                resamples: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Whether the claim holds for ``second_order`` against ``rivals``, per group of
    ``by``, budget and tolerance.

    ``solved``: one row per fit of each arm's grid point tuned at the budget, with
    the :data:`PAIR` columns, the ``by`` columns, ``arm``, ``budget_s``,
    ``tolerance`` and ``solved`` (the first hit within the budget). In each group,
    budget and tolerance: every rival's rate; the *best rival* has the highest (ties:
    the first name); for each pair (split and initial weights on a problem) the
    difference ``solved(LM) - solved(best rival)``; its mean with a bootstrap interval
    stratified by problem (:func:`paired_bootstrap`, the seed the same for every
    group) and the same per problem; the word from :func:`verdict_word`. Only pairs
    on which LM and every rival have a fit count. Returns one row per group, budget and
    tolerance: ``pairs, problems, lm_rate, best_rival, best_rival_rate, difference,
    ci_low, ci_high, problems_better, problems_worse, verdict``.
    """
    by = list(by)
    rivals = sorted(rivals)
    _require(solved, PAIR + by + ["arm", "budget_s", "tolerance", "solved"], "solved")
    if second_order in rivals:
        raise ValueError(f"{second_order!r} cannot be its own rival")
    frame = solved[solved["arm"].isin([second_order, *rivals])]
    index = list(dict.fromkeys(by + ["budget_s", "tolerance"] + PAIR))
    wide = frame.pivot_table(index=index, columns="arm", values="solved", aggfunc="first")
    missing = [a for a in [second_order, *rivals] if a not in wide.columns]
    if missing:
        raise ValueError(f"solved has no fits of the arm(s) {missing}")
    wide = wide.dropna().astype(float).reset_index()
    if wide.empty:
        raise ValueError("no pair has a fit of every arm")
    rows = []
    for key, group in wide.groupby(by + ["budget_s", "tolerance"], sort=True):
        rates = group[rivals].mean()
        best = sorted(rivals, key=lambda a: (-rates[a], a))[0]
        diff = (group[second_order] - group[best]).to_numpy()
        problems = group["problem"].to_numpy()
        mean, low, high = paired_bootstrap(diff, problems, resamples=resamples, seed=seed,
                                           level=level)
        per_problem = [paired_bootstrap(diff[problems == p], resamples=resamples,
                                        seed=seed, level=level)[1:]
                       for p in sorted(set(problems.tolist()))]
        rows.append({**dict(zip(by + ["budget_s", "tolerance"], key)),
                     "second_order": second_order, "pairs": len(group),
                     "problems": len(per_problem), "lm_rate": float(group[second_order].mean()),
                     "best_rival": best, "best_rival_rate": float(rates[best]),
                     "difference": mean, "ci_low": low, "ci_high": high,
                     "problems_better": sum(lo > 0 for lo, _ in per_problem),
                     "problems_worse": sum(hi < 0 for _, hi in per_problem),
                     "verdict": verdict_word(low, high, per_problem)})
    return pd.DataFrame(rows)


def verdict_changes(table: pd.DataFrame, keys=("family", "size")) -> pd.DataFrame:
    """Where the answer changes with the budget: per ``keys`` and tolerance (and
    ``second_order`` and ``comparison`` when present), the verdicts in budget order
    (``path``, e.g. ``fails (0.1 s) -> cannot tell (1 s)``), the budget where the
    verdict first differs from the smallest budget's (``changes_at_s``, NaN when it
    never does), and the verdict at the smallest and largest budget."""
    extra = [c for c in ("second_order", "comparison") if c in table.columns]
    keys = extra + list(keys) + ["tolerance"]
    _require(table, keys + ["budget_s", "verdict"], "table")
    rows = []
    for key, group in table.sort_values("budget_s").groupby(keys, sort=True):
        words, budgets = group["verdict"].tolist(), group["budget_s"].tolist()
        steps = [f"{w} ({b:g} s)" for k, (w, b) in enumerate(zip(words, budgets))
                 if k == 0 or w != words[k - 1]]
        change = next((b for w, b in zip(words, budgets) if w != words[0]), math.nan)
        rows.append({**dict(zip(keys, key)), "path": " -> ".join(steps),
                     "changes_at_s": change, "smallest_budget": words[0],
                     "largest_budget": words[-1]})
    return pd.DataFrame(rows)
