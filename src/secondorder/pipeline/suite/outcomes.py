"""The scored outcomes of the evaluation fits: what a run stopped at each budget returns,
scored once on the test rows.

At budget ``b`` an arm runs at its grid point selected at ``b`` (by the tuning fits'
validation errors, :mod:`secondorder.pipeline.suite.selection`); each of its
evaluation fits returns its *record in force* at ``b``
(:func:`~secondorder.pipeline.suite.metrics.in_force`): the best-by-validation weights
so far, stamped at the improvement's own time. Three outcomes per fit, budget and
target (:func:`outcomes`):

* ``test_error``: that model's error on the test rows (misclassified fraction, or
  normalised MSE), capped at :data:`ERROR_CAP` (a model worse than predicting the
  training mean, or diverged, counts as that bad), so differences are finite;
* ``solved``: 1 when that error meets the target
  (:func:`~secondorder.pipeline.suite.metrics.meets`), else 0;
* ``time_to_target``: the share of the log-spaced budgets
  ``t_0 = b_min < t_1 < .. < t_J = b`` (:func:`log_budgets`, :data:`PER_DECADE` per
  decade, ``b_min`` the scope's smallest budget) at which the model the run returns at
  ``t_j`` meets the target, ``(1 / (J + 1)) sum_j solved(t_j)``. Where ``solved`` stays
  1 once met, at the first time ``T``, it is the share of ``[log b_min, log b]`` after
  ``log T``: ``1 - (E[min(max(log T, log b_min), log b)] - log b_min) / (log b - log
  b_min)``, one minus the restricted mean of the log time to target normalised by the
  log range, to the grid's resolution. A run that never meets the target is
  right-censored at ``b`` and counts 0, never dropped; a run that meets it and loses it
  again (best-by-validation weights need not improve on the test rows) counts only the
  budgets at which its returned model meets it. Higher is better, in [0, 1].

Every outcome reads the test rows only to score a returned model: no test error picks
a stop, a grid point or a checkpoint.

Secondary views: :func:`success_rates` (the share of solved fits per arm with every
problem weighing the same, and a two-stage cluster bootstrap interval, splits then
initial weights within each problem: the fits of a split share its test rows and are
not independent) and :func:`data_profiles` (Moré and Wild 2009: the share of instances
whose returned model meets the target at each budget of time or work). Performance
profiles (Dolan and Moré 2002) are not drawn: they need each run's one time to the
target, and the model a run returns can meet a target and lose it again, so that first
time would be read off the test rows along the run; ``time_to_target`` replaces them.

References: J. J. Moré and S. M. Wild (2009), Benchmarking derivative-free
optimization algorithms, SIAM J. Optim. 20, 172-191. E. D. Dolan and J. J. Moré (2002),
Benchmarking optimization software with performance profiles, Math. Program. 91,
201-213. A. C. Davison and D. V. Hinkley (1997), Bootstrap Methods and their
Application, sect. 3.8.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from secondorder.pipeline import inference
from secondorder.pipeline.suite.metrics import FIT, PAIR, in_force, meets, require

#: The outcomes of a fit at a budget, and whether higher is better.
OUTCOMES = {"test_error": False, "solved": True, "time_to_target": True}

#: A test error above this counts as this (predicting the training mean scores 1).
ERROR_CAP = 1.0

#: Log-spaced budgets per decade of the time-to-target outcome.
PER_DECADE = 20

#: Points of a data profile's budget axis.
PROFILE_POINTS = 61


def log_budgets(b_min: float, budget: float, per_decade: int = PER_DECADE) -> np.ndarray:
    """The budgets of the time-to-target outcome at ``budget``: ``J + 1`` log-spaced
    points from ``b_min`` to ``budget`` inclusive, ``J = max(1, round(per_decade *
    log10(budget / b_min)))`` (``[b_min]`` alone when ``budget == b_min``)."""
    if not 0 < b_min <= budget:
        raise ValueError(f"need 0 < b_min <= budget, got {b_min!r}, {budget!r}")
    if budget == b_min:
        return np.array([float(b_min)])
    steps = max(1, round(per_decade * math.log10(budget / b_min)))
    grid = np.geomspace(b_min, budget, steps + 1)
    grid[0], grid[-1] = b_min, budget
    return grid


def instances(fits: pd.DataFrame, arms, rivals) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (problem, size) instances of a comparison: those where every arm of ``arms``
    has fits and none was memory-capped, and those not run (an arm memory-capped or
    missing, with the arms not run there). Instances without a fit of any of
    ``rivals`` are not the comparison's (the cross-entropy arms do not apply to
    regression)."""
    arms = list(arms)
    ran = fits[fits["arm"].isin(arms)]
    rows = []
    for (problem, size), group in ran.groupby(["problem", "size"], sort=True):
        present = set(group["arm"])
        if not present & set(rivals):
            continue
        missing = sorted(set(group.loc[group["status"] == "memory_cap", "arm"])
                         | (set(arms) - present))
        rows.append({"problem": problem, "size": size, "not_run": missing})
    table = pd.DataFrame(rows, columns=["problem", "size", "not_run"])
    complete = table["not_run"].str.len() == 0
    return table.loc[complete, ["problem", "size"]], table.loc[~complete]


def outcomes(fits: pd.DataFrame, records: pd.DataFrame, selected: pd.DataFrame,
             targets: pd.DataFrame, *, budgets, comparisons: dict,
             second_order) -> pd.DataFrame:
    """Every outcome of every evaluation fit at its arm's grid point selected at each
    budget, per comparison and tolerance.

    ``fits``, ``records``: the evaluation's (records past the largest budget are cut);
    ``selected``: the tuning's grid points (:func:`~secondorder.pipeline.suite.selection.select`,
    a ``budget`` column); ``targets``: the tuning's (``comparison``, ``problem``,
    ``size``, ``tolerance``, ``target_error``, ``task``, ``n_test``); ``budgets``: the
    scope's, the smallest being ``b_min``; ``comparisons``: ``{name: rivals}``, each
    with the ``second_order`` arms, on its complete instances (:func:`instances`).

    Returns one row per comparison, fit, budget and tolerance: ``comparison``, the
    :data:`~secondorder.pipeline.suite.metrics.FIT` columns, ``family``, ``budget``,
    ``tolerance``, ``test_error``, ``solved``, ``time_to_target`` (see the module's
    docstring)."""
    require(records, FIT + ["time_s", "val_error", "test_error"], "records")
    require(selected, ["problem", "size", "arm", "budget", "grid_point"], "selected")
    budgets = sorted(float(b) for b in budgets)
    b_min, cap = budgets[0], budgets[-1]
    records = records[np.asarray(records["time_s"], dtype=float) <= cap]
    grids = {b: log_budgets(b_min, b) for b in budgets}
    every = np.unique(np.concatenate(list(grids.values())))
    returned = in_force(records, every, columns=("test_error",))
    family = fits[["problem", "family"]].drop_duplicates("problem")
    keys = ["problem", "size", "arm", "grid_point"]
    parts = []
    for comparison, rivals in comparisons.items():
        arms = [*second_order, *rivals]
        complete, _ = instances(fits, arms, rivals)
        goals = targets[targets["comparison"] == comparison]
        mine = (returned[returned["arm"].isin(arms)]
                .merge(complete, on=["problem", "size"])
                .merge(goals[["problem", "size", "tolerance", "target_error", "task",
                              "n_test"]], on=["problem", "size"]))
        if mine.empty:
            continue
        mine["meets"] = meets(mine["task"], mine["test_error"], mine["target_error"],
                              mine["n_test"]).astype(float)
        for budget in budgets:
            at = mine.merge(selected.loc[selected["budget"] == budget, keys], on=keys)
            window = at[at["budget"].isin(grids[budget])]
            share = (window.groupby(FIT + ["tolerance"], sort=False)["meets"].mean()
                     .rename("time_to_target"))
            end = at[at["budget"] == budget].set_index(FIT + ["tolerance"])
            part = end[["test_error", "meets"]].join(share).reset_index()
            part["test_error"] = np.minimum(part["test_error"].fillna(ERROR_CAP), ERROR_CAP)
            parts.append(part.rename(columns={"meets": "solved"})
                         .assign(comparison=comparison, budget=budget))
    columns = ["comparison", *FIT, "family", "budget", "tolerance", "test_error",
               "solved", "time_to_target"]
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True).merge(family, on="problem")
    return table.sort_values(["comparison", "budget", "tolerance", *FIT],
                             kind="mergesort", ignore_index=True)[columns]


def success_rates(table: pd.DataFrame, *, level: float = 0.95, resamples: int = 2000,
                  seed: int = 0) -> pd.DataFrame:
    """The share of fits whose returned model meets the target, per comparison, arm,
    budget and tolerance, from :func:`outcomes`: ``rate``, the mean of ``solved`` with
    every problem weighing the same (splits equally within a problem, initial weights
    within a split: :class:`~secondorder.pipeline.inference.Clusters`), and its
    two-stage cluster bootstrap percentile interval ``ci_low``, ``ci_high`` at
    ``level`` (:func:`~secondorder.pipeline.inference.cluster_bootstrap_interval`:
    splits within each problem, then initial weights within each split; with one split
    per problem it misses the between-split variance and is too narrow). Also
    ``fits``, ``successes``, ``problems`` and ``clusters``."""
    require(table, ["comparison", "arm", "budget", "tolerance", "solved", *PAIR], "table")
    rows = []
    for key, group in table.groupby(["comparison", "arm", "budget", "tolerance"],
                                    sort=True):
        solved = group["solved"].to_numpy(dtype=float)
        rate, low, high = inference.cluster_bootstrap_interval(
            solved, group["problem"].to_numpy(), group["split"].to_numpy(), level=level,
            resamples=resamples, seed=seed)
        grouped = inference.clusters(solved, group["problem"].to_numpy(),
                                     group["split"].to_numpy())
        rows.append({**dict(zip(["comparison", "arm", "budget", "tolerance"], key)),
                     "fits": len(group), "successes": int(solved.sum()),
                     "problems": grouped.n_problems, "clusters": grouped.n_clusters,
                     "rate": rate, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=["comparison", "arm", "budget", "tolerance", "fits",
                                       "successes", "problems", "clusters", "rate",
                                       "ci_low", "ci_high"])


def data_profiles(fits: pd.DataFrame, records: pd.DataFrame, selected: pd.DataFrame,
                  targets: pd.DataFrame, *, cap: float, comparisons: dict,
                  second_order) -> pd.DataFrame:
    """Data profiles against time and work: per comparison, tolerance and arm (at its
    grid point selected at the cap), the share of the comparison's instances (pairs:
    problem, size, split, initial weights) whose returned model meets the target at
    each budget ``x`` of own compute (``time_s``, ``cap / 1000`` to ``cap``) or of
    floating-point operations (``work``, over six decades up to the most any record
    reached by the cap). Moré and Wild's (2009) profile counts a problem solved from
    its first hit on; here a returned model may meet the target and lose it again, so
    a curve may fall. Long table: ``comparison, tolerance, measure, x, arm, value``."""
    cap = float(cap)
    records = records[np.asarray(records["time_s"], dtype=float) <= cap]
    top = max(float(np.nanmax(records["work"])) if len(records) else 1.0, 10.0)
    axes = {"time_s": np.geomspace(cap / 1e3, cap, PROFILE_POINTS),
            "work": np.geomspace(top / 1e6, top, PROFILE_POINTS)}
    keys = ["problem", "size", "arm", "grid_point"]
    at_cap = records.merge(selected.loc[selected["budget"] == cap, keys], on=keys)
    parts = []
    for comparison, rivals in comparisons.items():
        arms = [*second_order, *rivals]
        complete, _ = instances(fits, arms, rivals)
        goals = targets[targets["comparison"] == comparison]
        mine = at_cap[at_cap["arm"].isin(arms)].merge(complete, on=["problem", "size"])
        if mine.empty or goals.empty:
            continue
        for measure, axis in axes.items():
            returned = in_force(mine, axis, measure, columns=("test_error",)).merge(
                goals[["problem", "size", "tolerance", "target_error", "task", "n_test"]],
                on=["problem", "size"])
            returned["value"] = meets(returned["task"], returned["test_error"],
                                      returned["target_error"], returned["n_test"])
            share = (returned.groupby(["tolerance", "budget", "arm"], sort=True)["value"]
                     .mean().reset_index().rename(columns={"budget": "x"}))
            parts.append(share.assign(comparison=comparison, measure=measure))
    columns = ["comparison", "tolerance", "measure", "x", "arm", "value"]
    return (pd.concat(parts, ignore_index=True)[columns] if parts
            else pd.DataFrame(columns=columns))
