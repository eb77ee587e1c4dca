"""Scoring the benchmark suite: errors, targets, times to target, performance profiles
and the verdict on the article's claim.

The claim under test: second-order methods (here Levenberg-Marquardt, the ``lm``
arm) should be the default for moderately sized data and models. Each problem of
:mod:`secondorder.problem.datasets` is trained at several MLP sizes by LM and by
first-order rivals tuned on a grid; each (arm, grid point) from several initial
weights (``init``). The analysis is:

1. every fit's validation :func:`error` (1 - accuracy, or normalised MSE);
2. per (problem, size, arm) the grid point with the lowest median validation error
   (:func:`select_grid_point`): each rival is compared at its tuned best;
3. per (problem, size) a target error: the best any arm reached plus a tolerance
   (:func:`targets`); a fit's time to target is its wall time if it met the target,
   infinity otherwise (:func:`times_to_target`);
4. per (problem, size) instance and arm the median time to target over the inits
   (:func:`instance_times`), summarised by Dolan & Moré's performance profiles
   (:func:`performance_profile`), success rates with Wilson intervals
   (:func:`success_rates`) and a verdict word per family and size (:func:`verdict`).

Pure numpy and pandas (no TensorFlow): the functions run on the tables the suite's
jobs write.

References: E. D. Dolan and J. J. Moré (2002), Benchmarking optimization software
with performance profiles, Math. Program. 91, 201-213. E. B. Wilson (1927), Probable
inference, the law of succession, and statistical inference, JASA 22, 209-212.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

TASKS = ("classification", "regression")

#: z for a two-sided 95% interval: the 0.975 quantile of the standard normal.
Z95 = 1.959963984540054

INSTANCE = ["problem", "size"]


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


# --- tuning and targets ----------------------------------------------------------------

#: ``time_s`` is the fit's own time (alone) or its share of a batch's (the suite's rule,
#: :func:`secondorder.pipeline.suite.run_job`).
FIT_COLUMNS = ("problem", "size", "arm", "grid_point", "init", "val_error", "time_s")


def select_grid_point(fits: pd.DataFrame) -> pd.DataFrame:
    """Each arm's tuned grid point per (problem, size).

    ``fits``: one row per fit with columns ``problem, size, arm, grid_point, init,
    val_error, time_s``; a failed fit has ``val_error`` NaN or inf. For each
    (problem, size, arm, grid_point) the median ``val_error`` over the inits is taken
    with NaN counted as ``+inf`` (so a grid point whose fits mostly fail has median
    ``inf``); the chosen grid point has the lowest median, ties broken by the lower
    median ``time_s`` (NaN as ``inf``), then the lower ``grid_point``.

    Returns one row per (problem, size, arm): ``problem, size, arm, grid_point,
    median_val_error, median_time_s, n_inits``.
    """
    _require(fits, FIT_COLUMNS, "fits")
    if fits.empty:
        raise ValueError("fits is empty")
    frame = fits[list(FIT_COLUMNS)].copy()
    frame["val_error"] = _nan_as_inf(frame["val_error"])
    frame["time_s"] = _nan_as_inf(frame["time_s"])
    keys = ["problem", "size", "arm", "grid_point"]
    per_point = (frame.groupby(keys, sort=True)
                 .agg(median_val_error=("val_error", "median"),
                      median_time_s=("time_s", "median"),
                      n_inits=("init", "size"))
                 .reset_index())
    # np.median semantics on inf: median([1, inf, inf]) = inf; with an even count the
    # two middle values are averaged, and (x + inf) / 2 = inf.
    best = (per_point.sort_values(["median_val_error", "median_time_s", "grid_point"],
                                  kind="mergesort")
            .groupby(["problem", "size", "arm"], sort=True).head(1))
    return (best.sort_values(["problem", "size", "arm"], kind="mergesort")
            .reset_index(drop=True)[["problem", "size", "arm", "grid_point",
                                     "median_val_error", "median_time_s", "n_inits"]])


def targets(fits: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """The target error of each (problem, size) instance: within ``tolerance``
    (absolute) of the best validation error any arm reached.

    ``best`` is the lowest finite ``val_error`` of any fit of any arm on the instance
    (the rows passed: all grid points, or only the selected ones, as the caller
    decides) and ``target = best + tolerance``. With ``tolerance = 0.01`` and
    classification errors, a fit meets the target when its validation error is
    within 1 point of error (1 percentage point of accuracy) of the best validation
    error any arm reached. An instance where no fit has a finite error gets ``best``
    and ``target`` NaN: no fit meets it.

    Returns one row per (problem, size): ``problem, size, best_val_error, tolerance,
    target``.
    """
    _require(fits, INSTANCE + ["val_error"], "fits")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    frame = fits[INSTANCE].copy()
    val = np.asarray(fits["val_error"], dtype=float)
    frame["finite_error"] = np.where(np.isfinite(val), val, np.nan)
    table = (frame.groupby(INSTANCE, sort=True)["finite_error"].min()  # skips NaN
             .rename("best_val_error").reset_index())
    table["tolerance"] = float(tolerance)
    table["target"] = table["best_val_error"] + float(tolerance)
    return table


def times_to_target(fits: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """Each fit's time to target (Dolan & Moré 2002: a solver's time on a problem
    when its run meets the convergence test, infinity when it fails).

    ``reached`` is ``val_error <= target`` of the fit's (problem, size) (False for a
    NaN error or a NaN target), ``time_to_target_s`` the fit's ``time_s`` when
    reached, ``+inf`` otherwise. Returns a copy of ``fits`` with the columns
    ``target, reached, time_to_target_s`` added. ValueError when an instance of
    ``fits`` has no target, or a fit that reached it has no finite ``time_s``.
    """
    _require(fits, INSTANCE + ["val_error", "time_s"], "fits")
    _require(targets, INSTANCE + ["target"], "targets")
    if targets.duplicated(INSTANCE).any():
        raise ValueError("targets has more than one row for some (problem, size)")
    merged = fits.drop(columns=[c for c in ("target", "reached", "time_to_target_s")
                                if c in fits.columns])
    merged = merged.merge(targets[INSTANCE + ["target"]], on=INSTANCE, how="left",
                          validate="many_to_one", indicator=True)
    lacking = merged.loc[merged["_merge"] == "left_only", INSTANCE].drop_duplicates()
    if len(lacking):
        instances = lacking.to_records(index=False).tolist()
        raise ValueError(f"no target for the (problem, size) instance(s) {instances}")
    merged = merged.drop(columns="_merge")
    val = np.asarray(merged["val_error"], dtype=float)
    wall = np.asarray(merged["time_s"], dtype=float)
    reached = val <= np.asarray(merged["target"], dtype=float)  # NaN compares False
    if not np.isfinite(wall[reached]).all():
        raise ValueError("a fit that reached its target has no finite time_s")
    merged["reached"] = reached
    merged["time_to_target_s"] = np.where(reached, wall, np.inf)
    merged.index = fits.index
    return merged


def instance_times(fits_with_times: pd.DataFrame) -> pd.DataFrame:
    """The time matrix ``t[p, s]`` of the performance profiles.

    Input: the rows of :func:`times_to_target` at each arm's selected grid point
    only (:func:`select_grid_point`), one row per init; if a ``grid_point`` column is
    present and an (problem, size, arm) has more than one, ValueError. Output: a
    DataFrame indexed by (problem, size), one column per arm, holding the median over
    the arm's inits of ``time_to_target_s``. Failures count as ``inf``, so the median
    is ``inf`` when more than half of the inits fail and, with an even number of
    inits, already when half fail (the two middle values are averaged, and
    ``(t + inf) / 2 = inf``). An arm with no fit on an instance is NaN there: it does
    not apply (the cross-entropy arms on regression problems), see
    :func:`performance_profile`.
    """
    _require(fits_with_times, INSTANCE + ["arm", "time_to_target_s"], "fits_with_times")
    if fits_with_times.empty:
        raise ValueError("fits_with_times is empty")
    keys = INSTANCE + ["arm"]
    if "grid_point" in fits_with_times.columns:
        points = fits_with_times.groupby(keys)["grid_point"].nunique()
        if (points > 1).any():
            raise ValueError(f"more than one grid point for {points[points > 1].index.tolist()}; "
                             f"pass only the rows of the selected grid points")
    frame = fits_with_times[keys].copy()
    frame["t"] = np.asarray(fits_with_times["time_to_target_s"], dtype=float)
    if np.isnan(frame["t"]).any():
        raise ValueError("time_to_target_s has NaN values (use inf for failures)")
    table = frame.pivot_table(index=INSTANCE, columns="arm", values="t",
                              aggfunc=lambda t: float(np.median(t)))
    table.columns.name = "arm"
    return table


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


def success_rates(fits_with_times: pd.DataFrame, by=("arm",), z: float = Z95) -> pd.DataFrame:
    """Success rate per arm (or per ``by`` group): ``fits`` (rows), ``successes``
    (rows with ``reached``), ``rate = successes / fits`` and its Wilson interval
    ``ci_low, ci_high`` (:func:`wilson_interval`, 95% by default)."""
    by = list(by)
    _require(fits_with_times, by + ["reached"], "fits_with_times")
    frame = fits_with_times[by].copy()
    frame["reached"] = fits_with_times["reached"].astype(bool)
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


def verdict(fits_with_times: pd.DataFrame, *, lm_arm: str = "lm",
            by=("family", "size")) -> pd.DataFrame:
    """Whether the claim holds for LM, per group of fits (default: problem family and
    model size).

    Input: the per-fit table of :func:`times_to_target` (selected grid points only)
    with the columns of ``by`` plus ``arm, reached, time_to_target_s``. In each group,
    pooled over its problems and inits:

    * ``lm_rate``: the fraction of LM's fits that reached the target; ``best_rival``:
      the rival arm with the highest rate (ties: the name first in sort order);
    * ``lm_median_time_s``: the median of LM's ``time_to_target_s`` (failures ``inf``);
      ``fastest_rival``: the rival with the lowest such median (ties: sort order).

    ``rate_ok``: LM's rate >= every rival's; ``time_ok``: LM's median time is finite
    and <= the fastest rival's. ``verdict`` is ``"holds"`` when both, ``"mixed"`` when
    one, ``"fails"`` when neither. Times are pooled over a group's problems, so
    slower problems weigh more; pass ``by=("problem", "size")`` for one row per
    instance. ValueError when a group has no LM fit or no rival.
    """
    by = list(by)
    _require(fits_with_times, by + ["arm", "reached", "time_to_target_s"], "fits_with_times")
    if fits_with_times.empty:
        raise ValueError("fits_with_times is empty")
    frame = fits_with_times[by + ["arm"]].copy()
    frame["reached"] = fits_with_times["reached"].astype(bool)
    frame["t"] = _nan_as_inf(fits_with_times["time_to_target_s"])
    per_arm = (frame.groupby(by + ["arm"], sort=True)
               .agg(rate=("reached", "mean"), median_t=("t", "median"))
               .reset_index())
    rows = []
    for key, group in per_arm.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        lm = group[group["arm"] == lm_arm]
        rivals = group[group["arm"] != lm_arm]
        if lm.empty or rivals.empty:
            raise ValueError(f"group {dict(zip(by, key))} needs fits of the LM arm "
                             f"{lm_arm!r} and of at least one rival; it has arms "
                             f"{group['arm'].tolist()}")
        lm_rate, lm_time = float(lm["rate"].iloc[0]), float(lm["median_t"].iloc[0])
        best = rivals.sort_values(["rate", "arm"], ascending=[False, True],
                                  kind="mergesort").iloc[0]
        fastest = rivals.sort_values(["median_t", "arm"], kind="mergesort").iloc[0]
        rate_ok = bool(lm_rate >= rivals["rate"].max())
        time_ok = bool(math.isfinite(lm_time) and lm_time <= fastest["median_t"])
        word = {2: "holds", 1: "mixed", 0: "fails"}[rate_ok + time_ok]
        rows.append({**dict(zip(by, key)), "lm_rate": lm_rate,
                     "best_rival": best["arm"], "best_rival_rate": float(best["rate"]),
                     "lm_median_time_s": lm_time, "fastest_rival": fastest["arm"],
                     "fastest_rival_median_time_s": float(fastest["median_t"]),
                     "rate_ok": rate_ok, "time_ok": time_ok, "verdict": word})
    return pd.DataFrame(rows)
