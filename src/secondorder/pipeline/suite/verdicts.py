"""The suite's verdict: every second-order arm against every named rival of each
comparison, in every cell and on every outcome, as one primary family (declared before
the run) and one exploratory family.

A *cell* (:data:`CELL`) is a group of problems (``family``: a problem family, or
``all``, every problem of the scope, each weighing the same) at one size, budget and
tolerance; the test error has no tolerance
(:data:`~secondorder.pipeline.suite.metrics.NO_TOLERANCE`).
In a cell, for each comparison (``ssq``: LM's own loss; ``crossentropy``), second-order
arm and outcome (:data:`~secondorder.pipeline.suite.outcomes.OUTCOMES`), the arm is
compared with *each* rival on the pairs both completed
(:func:`secondorder.pipeline.verdict.paired_tests`: clusters are (problem, size, split),
problems weigh the same, the stratified sign-flip test, its TOST at the outcome's
margin ``inference.margins`` and its inverted interval). No best rival is picked.

The families (:func:`secondorder.pipeline.verdict.decide`): the **primary** family is the
declared question (``suite.primary``, resolved by
:func:`~secondorder.pipeline.suite.scopes.primary`: one comparison, one second-order
arm, one outcome, its cells at one budget and tolerance) times every rival of that
comparison, Holm at ``alpha``; every other comparison of every cell, outcome,
second-order arm (trainbr's included) and comparison (the cross-entropy one included) is
**exploratory**, Benjamini-Hochberg at ``q``. Cell words:
:func:`secondorder.pipeline.verdict.cells`. :func:`primary_verdict` states the primary
answer with its power and what it cannot tell.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from secondorder.pipeline import verdict
from secondorder.pipeline.suite import scopes
from secondorder.pipeline.suite.metrics import NO_TOLERANCE
from secondorder.pipeline.suite.outcomes import OUTCOMES

#: The cell columns of the suite's verdict.
CELL = ("family", "size", "budget", "tolerance")

#: What names one comparison's table besides its cell: the comparison and the outcome.
AXES = ("comparison", "outcome")

#: The family name of a cell that pools every problem of the scope.
ALL = "all"


def rule(suite: dict, outcome: str) -> verdict.Rule:
    """The decision rule of ``suite.inference`` with the margin of ``outcome``."""
    settings = suite["inference"]
    return verdict.Rule(alpha=settings["alpha"], q=settings["q"],
                        margin=settings["margins"][outcome], power=settings["power"],
                        resamples=settings["resamples"], seed=settings["seed"])


def pooled(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its rows again under ``family = all`` (every problem of the
    scope), and the rows per problem family kept only where there are several."""
    every = table.assign(family=ALL)
    if table["family"].nunique() <= 1:
        return every
    return pd.concat([every, table], ignore_index=True)


def outcome_rows(table: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """One outcome's rows as the verdict reads them (its values in ``outcome``); the
    test error, which has no target, once (the first tolerance's rows) with the
    tolerance :data:`NO_TOLERANCE`."""
    if outcome == "test_error":
        table = table[table["tolerance"] == table["tolerance"].iloc[0]].assign(
            tolerance=NO_TOLERANCE)
    return table.drop(columns=[c for c in OUTCOMES if c != outcome]).rename(
        columns={outcome: "outcome"})


def _is_primary(table: pd.DataFrame, question: dict) -> np.ndarray:
    """Which rows of a stacked comparison table belong to the primary family."""
    mask = ((table["comparison"] == question["comparison"])
            & (table["second_order"] == question["second_order"])
            & (table["outcome"] == question["outcome"])).to_numpy()
    named = np.zeros(len(table), dtype=bool)
    for cell in question["cells"]:
        match = np.ones(len(table), dtype=bool)
        for column, value in cell.items():
            match &= (table[column] == value).to_numpy()
        named |= match
    return mask & named


def verdict_tables(table: pd.DataFrame, *, suite: dict, scope: str,
                   comparisons: dict, second_order) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(verdict, cells)`` from the outcomes
    (:func:`~secondorder.pipeline.suite.outcomes.outcomes`).

    ``verdict``: one row per cell, comparison, outcome, second-order arm and rival with
    :data:`secondorder.pipeline.verdict.COLUMNS` (theta, interval, p before and after
    the family's adjustment, ``hypotheses``: primary or exploratory, MDE, word);
    ``cells``: one row per cell, comparison, outcome and second-order arm
    (:func:`secondorder.pipeline.verdict.cells`). ValueError when the declared primary
    cells are not all in the outcomes."""
    question = scopes.primary(suite, scope)
    parts, tests = [], []
    for comparison, rivals in comparisons.items():
        mine = pooled(table[table["comparison"] == comparison])
        present = set(mine["arm"])
        rivals = [r for r in rivals if r in present]
        if not rivals:
            continue
        for so in second_order:
            if so not in present:
                continue
            for outcome, higher in OUTCOMES.items():
                rows = outcome_rows(mine, outcome)
                part, own = verdict.paired_tests(rows, second_order=so, rivals=rivals,
                                                 higher_is_better=higher, cell=CELL,
                                                 rule=rule(suite, outcome))
                parts.append(part.assign(comparison=comparison, outcome=outcome))
                tests += own
    if not parts:
        return pd.DataFrame(), pd.DataFrame()
    stacked = pd.concat(parts, ignore_index=True)
    stacked["hypotheses"] = np.where(_is_primary(stacked, question), "primary",
                                     "exploratory")
    missing = [cell for cell in question["cells"]
               if not _is_primary(stacked, {**question, "cells": [cell]}).any()]
    if missing:
        raise ValueError(f"the declared primary cell(s) {missing} ({question['comparison']}, "
                         f"{question['second_order']}, {question['outcome']}) are not in "
                         f"scope {scope!r}'s outcomes")
    decided = verdict.decide(stacked, tests, rule=rule(suite, question["outcome"]))
    columns = [*CELL, *AXES, *verdict.COLUMNS]
    decided = decided[columns]
    cells = verdict.cells(decided, cell=[*CELL, *AXES])
    return decided, cells


def primary_verdict(table: pd.DataFrame, cells: pd.DataFrame, *, suite: dict, scope: str,
                    design: dict, observed: dict) -> dict:
    """The primary question's answer (``primary.json``): the question as declared,
    whether this scope is the one declared to answer it (``confirmatory``), each
    comparison of its family (rival, theta, interval, p, adjusted p, MDE, word), the
    cell words and ``word``; ``mde``: the smallest difference the design could detect
    with power ``inference.power``, as planned before the run and as the observed
    clusters give it (the largest over the rivals: the claim needs every comparison);
    the planned design and its assumptions (``design``:
    :func:`secondorder.pipeline.suite.design.planned`) beside the variance observed
    (``observed``: :func:`secondorder.pipeline.suite.design.observed`), and
    ``cannot_tell``: what this design cannot tell, in words."""
    question = scopes.primary(suite, scope)
    rows = table[table["hypotheses"] == "primary"] if len(table) else table
    mine = cells[cells["hypotheses"] == "primary"] if len(cells) else cells
    comparisons = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in r.items()}
                   for r in rows[["family", "size", "rival", "clusters", "pairs", "theta",
                                  "ci_low", "ci_high", "interval_level", "p", "p_adjusted",
                                  "mde", "word"]].to_dict(orient="records")]
    limits = []
    for r in rows.itertuples():
        if r.word != "cannot tell":
            continue
        against = f"{question['second_order']} against {r.rival} ({r.family}, {r.size})"
        if not math.isfinite(r.mde):
            limits.append(f"{against}: with {r.clusters} clusters the test cannot reach "
                          f"p < {r.alpha_adjusted:.3g}, so no difference could have been "
                          "detected")
        else:
            low, high = (0.0 if abs(v) < 1e-12 else v for v in (r.ci_low, r.ci_high))
            limits.append(f"{against}: any difference from {low:+.3f} to {high:+.3f} "
                          f"({100 * r.interval_level:.3g}% interval) "
                          f"fits the data; this cell detects {r.mde:.3f} with "
                          f"{100 * suite['inference']['power']:g}% power")
    largest = float(mine["largest_mde"].max()) if len(mine) else math.nan
    return {"scope": scope, "confirmatory": question["confirmatory"],
            "declared_for": question["scope"], "question": question,
            "rule": {k: suite["inference"][k] for k in ("alpha", "q", "power",
                                                        "resamples", "seed")}
            | {"margin": suite["inference"]["margins"][question["outcome"]]},
            "comparisons": comparisons,
            "cells": mine[["family", "size", "word", "largest_mde"]].to_dict(orient="records")
            if len(mine) else [],
            "word": (mine["word"].iloc[0] if len(mine) == 1 else
                     {f"{r.family}/{r.size}": r.word for r in mine.itertuples()}),
            "mde": {"planned": (design.get("power") or {}).get("planned_mde"),
                    "observed": largest},
            "planned": design, "observed": observed, "cannot_tell": limits}
