"""The select phase: from the tuning fits alone, each arm's grid point at each budget and
the targets of each problem and size. No evaluation fit is read here.

* :func:`select_grid_point`: per (problem, size, arm) and budget, the grid point whose
  returned models (:func:`~secondorder.pipeline.suite.metrics.at_budget`) have the
  lowest median **validation** error over the tuning fits (every tuning split and
  initial weight draw); ties by the lower mean, then the lower grid point. No test
  error is read.
* :func:`reference` and :func:`targets`: per comparison, problem and size, the
  reference is the lowest median test error of an arm of the comparison over its
  tuning fits at the cap at its grid point selected at the cap (the best arm's typical
  tuned fit, as AlgoPerf sets targets from reference runs: Dahl et al. 2023); the
  target adds a tolerance in a reader's units, misclassified test rows for
  classification, a relative error for regression. These test errors are the tuning
  fits', on other splits and from other initial weights than every scored fit's
  (:mod:`secondorder.pipeline.suite.scopes`): a scored fit's test rows set no target.
* :func:`evaluation_points`: the grid points the evaluation trains, the union over the
  budgets of those selected (usually one or two per arm).

References: G. E. Dahl et al. (2023), Benchmarking neural network training algorithms
(AlgoPerf), arXiv:2306.07179.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from secondorder.pipeline.suite import scopes
from secondorder.pipeline.suite.metrics import (FIT, in_force, nan_as_inf, require,
                                                tolerance_label)

#: A row of ``selected.csv``: an arm's grid point on an instance at a budget.
SELECTED = ["problem", "size", "arm", "budget", "grid_point", "median_val_error",
            "mean_val_error", "n_fits"]


def select_grid_point(table: pd.DataFrame) -> pd.DataFrame:
    """Each arm's grid point per (problem, size) and ``budget``: the lowest median
    validation error over its fits, ties broken by the lower mean, then the lower
    grid point.

    ``table``: one row per fit and budget (:func:`~secondorder.pipeline.suite.metrics.in_force`)
    with the :data:`FIT` columns, ``budget`` and ``val_error`` (NaN or inf for a failed
    fit: counted as ``+inf``, so a grid point whose fits mostly fail has median
    ``inf``). Only ``val_error`` is read. Returns :data:`SELECTED`, one row per
    (problem, size, arm, budget)."""
    require(table, FIT + ["budget", "val_error"], "table")
    if table.empty:
        raise ValueError("table is empty")
    frame = table[FIT + ["budget"]].copy()
    frame["val_error"] = nan_as_inf(table["val_error"])
    keys = ["problem", "size", "arm", "budget", "grid_point"]
    per_point = (frame.groupby(keys, sort=True)
                 .agg(median_val_error=("val_error", "median"),
                      mean_val_error=("val_error", "mean"), n_fits=("init", "size"))
                 .reset_index())
    best = (per_point.sort_values(["median_val_error", "mean_val_error", "grid_point"],
                                  kind="mergesort")
            .groupby(["problem", "size", "arm", "budget"], sort=True).head(1))
    return (best.sort_values(["problem", "size", "arm", "budget"], kind="mergesort")
            .reset_index(drop=True)[SELECTED])


def chosen(table: pd.DataFrame, selected: pd.DataFrame, budget: float | None = None
           ) -> pd.DataFrame:
    """The rows of ``table`` at the grid points of ``selected`` (at ``budget``, or at
    each row's own ``budget`` when None)."""
    keys = ["problem", "size", "arm", "grid_point"]
    if budget is None:
        return table.merge(selected[keys + ["budget"]], on=keys + ["budget"])
    at = selected[selected["budget"] == budget]
    return table.merge(at[keys], on=keys)


def reference(table: pd.DataFrame) -> pd.DataFrame:
    """The reference test error of each (problem, size): the lowest, over the arms, of
    an arm's median test error over its fits.

    ``table``: the tuning fits of each arm's selected grid point at the cap (one row
    per fit: the :data:`FIT` columns and ``test_error``; NaN counts as ``+inf``).
    Returns one row per (problem, size): ``reference_error`` and ``reference_arm``
    (ties: the first name in sort order)."""
    require(table, FIT + ["test_error"], "table")
    frame = table[FIT].copy()
    frame["test_error"] = nan_as_inf(table["test_error"])
    keys = ["problem", "size"]
    medians = (frame.groupby(keys + ["arm"], sort=True)["test_error"].median()
               .rename("reference_error").reset_index())
    best = (medians.sort_values(keys + ["reference_error", "arm"], kind="mergesort")
            .groupby(keys, sort=True).head(1))
    return (best.rename(columns={"arm": "reference_arm"})
            .reset_index(drop=True)[keys + ["reference_error", "reference_arm"]])


def targets(references: pd.DataFrame, tolerances) -> pd.DataFrame:
    """Targets on the test rows, one per reference row and tolerance.

    ``references``: :func:`reference` with the columns ``task`` and ``n_test`` (test
    rows of a split: the same for every split of a problem) added. ``tolerances``:
    dicts with ``rows`` (misclassified test rows) and ``relative`` (regression).
    Classification: ``target = reference + rows / n_test`` (within ``rows`` more
    misclassified test rows than the reference); regression:
    ``target = reference * (1 + relative)``. Returns the reference rows times the
    tolerances with ``tolerance`` (:func:`tolerance_label`) and ``target_error``."""
    require(references, ["problem", "size", "task", "n_test", "reference_error"],
            "references")
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


def select(fits: pd.DataFrame, records: pd.DataFrame, *, suite: dict,
           scope: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(selected, targets)`` of a scope from its tuning fits and their anytime records
    (records past the cap cut).

    ``selected``: :func:`select_grid_point` at every budget of the scope
    (:func:`~secondorder.pipeline.suite.scopes.budgets`). ``targets``: per comparison
    (:func:`~secondorder.pipeline.suite.scopes.comparisons`, its second-order and
    rival arms), problem and size, the :func:`reference` over the comparison's arms at
    their grid points selected at the cap, and the :func:`targets` of every tolerance,
    with ``family`` and ``comparison``. A comparison whose arms did not all run on an
    instance (memory cap: no records) has no target there."""
    points = scopes.budgets(suite, scope)
    cap = points[-1]
    records = records[np.asarray(records["time_s"], dtype=float) <= cap]
    returned = in_force(records, points)
    selected = select_grid_point(returned)
    at_cap = chosen(returned[returned["budget"] == cap], selected, cap)
    meta = fits[["problem", "family", "task", "n_test"]].drop_duplicates("problem")
    parts = []
    for comparison, rivals in scopes.comparisons(suite).items():
        arms = [a for a in [*suite["second_order"], *rivals] if a in set(at_cap["arm"])]
        mine = at_cap[at_cap["arm"].isin(arms)]
        ran = mine.groupby(["problem", "size"])["arm"].nunique()
        complete = ran[ran == len(arms)].index
        mine = mine.set_index(["problem", "size"]).loc[
            lambda t: t.index.isin(complete)].reset_index()
        if mine.empty or not set(rivals) & set(arms):
            continue
        refs = reference(mine).merge(meta, on="problem")
        parts.append(targets(refs, suite["tolerances"]).assign(comparison=comparison))
    columns = ["comparison", "problem", "family", "size", "task", "n_test",
               "reference_arm", "reference_error", "tolerance", "target_error"]
    table = (pd.concat(parts, ignore_index=True)[columns] if parts
             else pd.DataFrame(columns=columns))
    return selected, table


def evaluation_points(selected: pd.DataFrame, problem: str, size: str) -> dict[str, list[int]]:
    """``{arm: grid points}`` the evaluation trains on an instance: the union over the
    budgets of each arm's selected grid points, sorted."""
    mine = selected[(selected["problem"] == problem) & (selected["size"] == size)]
    return {arm: sorted(int(g) for g in set(part["grid_point"]))
            for arm, part in mine.groupby("arm", sort=True)}
