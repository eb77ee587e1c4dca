"""Every table of a scope's summary, from its evaluation fits and the tuning's choices.

:func:`summarise` reads the evaluation fits and their anytime records, ``selected`` and
``targets`` (from the tuning fits alone, :mod:`secondorder.pipeline.suite.selection`)
and the planned design (:func:`secondorder.pipeline.suite.design.planned`), and
derives, per comparison (:func:`~secondorder.pipeline.suite.scopes.comparisons`: the
second-order arms against one group of rivals, on the instances every arm of it ran):

* ``outcomes``: every fit's test error, success and time-to-target outcome at each
  budget (:func:`secondorder.pipeline.suite.outcomes.outcomes`);
* ``verdict`` and ``cells``: every comparison of every cell with its family of
  hypotheses, and the cell words (:func:`secondorder.pipeline.suite.verdicts.verdict_tables`);
* ``primary``: the primary question's answer with its planned and observed power
  (:func:`secondorder.pipeline.suite.verdicts.primary_verdict`);
* ``success`` (rates with cluster-bootstrap intervals) and ``profiles`` (data
  profiles against time and work), secondary views;
* ``not_run`` (memory-capped instances) and ``lm_cost`` (LM's own compute per
  iteration by size).
"""

from __future__ import annotations

import pandas as pd

from secondorder.pipeline.suite import design as planning
from secondorder.pipeline.suite import outcomes as scored
from secondorder.pipeline.suite import scopes, verdicts


def _lm_cost(fits: pd.DataFrame, lm_arm: str) -> pd.DataFrame:
    """LM's own compute per iteration (median over its fits), weights, residuals, the
    job's peak memory and whether it was memory-capped, per (problem, size)."""
    lm = fits[fits["arm"] == lm_arm]
    return (lm.groupby(["problem", "size"], as_index=False)
            .agg(n_params=("n_params", "first"), n_residuals=("n_residuals", "first"),
                 ms_per_iteration=("ms_per_iteration", "median"),
                 peak_rss_mb=("peak_rss_mb", "max"),
                 memory_cap=("status", lambda s: bool((s == "memory_cap").any()))))


def summarise(fits: pd.DataFrame, records: pd.DataFrame, selected: pd.DataFrame,
              targets: pd.DataFrame, *, suite: dict, scope: str, design: dict) -> dict:
    """Every table of a scope (see the module's docstring) as DataFrames, and
    ``primary`` as a dict."""
    points = scopes.budgets(suite, scope)
    present = set(fits["arm"])
    second = [a for a in suite["second_order"] if a in present]
    comparisons = {c: [a for a in rivals if a in present]
                   for c, rivals in scopes.comparisons(suite).items()}
    comparisons = {c: r for c, r in comparisons.items() if r and second}
    not_run = []
    for comparison, rivals in comparisons.items():
        _, missing = scored.instances(fits, [*second, *rivals], rivals)
        not_run += [{"comparison": comparison, "problem": r.problem, "size": r.size,
                     "not_run": ", ".join(r.not_run)} for r in missing.itertuples()]
    table = scored.outcomes(fits, records, selected, targets, budgets=points,
                            comparisons=comparisons, second_order=second)
    verdict, cells = (verdicts.verdict_tables(table, suite=suite, scope=scope,
                                              comparisons=comparisons, second_order=second)
                      if len(table) else (pd.DataFrame(), pd.DataFrame()))
    observed = (planning.observed(table, suite=suite, scope=scope) if len(table)
                else {})
    inference = suite["inference"]
    return {
        "outcomes": table, "verdict": verdict, "cells": cells,
        "primary": verdicts.primary_verdict(verdict, cells, suite=suite, scope=scope,
                                            design=design, observed=observed),
        "success": (scored.success_rates(table, level=1 - inference["alpha"],
                                         resamples=inference["resamples"],
                                         seed=inference["seed"])
                    if len(table) else pd.DataFrame()),
        "profiles": scored.data_profiles(fits, records, selected, targets,
                                         cap=points[-1], comparisons=comparisons,
                                         second_order=second),
        "not_run": pd.DataFrame(not_run, columns=["comparison", "problem", "size",
                                                  "not_run"]),
        "lm_cost": _lm_cost(fits, second[0] if second else "lm"),
    }


def counts(tables: dict) -> dict:
    """The words of the verdict counted per family of hypotheses, comparison, outcome
    and second-order arm (``summary.json``)."""
    cells = tables["cells"]
    if cells.empty:
        return {}
    keys = ["hypotheses", "comparison", "outcome", "second_order"]
    return (cells.groupby(keys)["word"].value_counts().unstack(fill_value=0)
            .reset_index().to_dict(orient="records"))

