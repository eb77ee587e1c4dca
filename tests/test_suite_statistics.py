"""The statistics of the suite through its own chain: synthetic anytime records of the
tuning and evaluation fits -> select (grid points and targets from the tuning fits) ->
outcomes -> the verdict with its primary and exploratory families.

The inference modules test their rules on simulated outcomes (tests/test_inference.py);
these tests drive the suite's pipeline itself, so that the selection, the targets from
other fits, the returned models and the clustering are what is tested:

* with two arms drawn from one distribution, with a split effect shared by the arms and
  an arm x split interaction, "fails" and "holds" each come out at most at the nominal
  rate plus three Monte-Carlo standard errors, at every tolerance and outcome;
* with LM's time to the target planted shorter, the primary comparison is detected at
  the power :func:`secondorder.pipeline.power.power` states for the same design and the
  outcome's variance, within Monte-Carlo error.
"""

import math

import numpy as np
import pandas as pd
import pytest

from secondorder.pipeline import power as pw
from secondorder.pipeline.suite import design, outcomes, selection, verdicts

CAP, B_MIN = 1.0, 0.01
N_TEST = 20
TOLERANCES = [{"rows": 0, "relative": 0.02}, {"rows": 1, "relative": 0.05},
              {"rows": 2, "relative": 0.1}]


def suite_settings(resamples=2000):
    """The few settings the chain reads: one scope (``full``), two arms, budgets
    ``B_MIN`` and the cap, the primary question at the cap and the middle tolerance."""
    return {
        "scopes": {}, "problems": ["p0"], "csv_problems": {}, "sizes": {"small": [3]},
        "arms": {"lm": {}, "adam": {}}, "second_order": ["lm"], "inits": 2, "splits": 4,
        "tune_inits": 2, "tune_splits": 2, "cap_s": CAP, "budgets_s": [B_MIN],
        "jobs": "instance", "tolerances": TOLERANCES,
        "primary": {"scope": "full", "comparison": "ssq", "second_order": "lm",
                    "outcome": "time_to_target", "tolerance": TOLERANCES[1],
                    "budget": "cap", "cells": [{"size": "small"}]},
        "inference": {"alpha": 0.05, "q": 0.05, "power": 0.8, "resamples": resamples,
                      "seed": 0,
                      "margins": {"test_error": 0.02, "solved": 0.1,
                                  "time_to_target": 0.1}}}


def synthetic(rng, *, effect=0.0, problems=3, splits=4, inits=2, tune_splits=2,
              tune_inits=2, points=2, split_sd=0.4, interaction_sd=0.3, init_sd=0.4):
    """Fits and anytime records of both phases for the arms ``lm`` and ``adam``.

    Each fit starts at validation and test error 0.5 and improves once, at time ``T``,
    to ``k / N_TEST`` on the test rows (``k`` misclassified rows: 3 plus a split effect
    shared by the arms plus noise) and about that on the validation rows. ``log10 T =
    -1.5 + u_ps + v_psa + e - effect [arm = lm]``: ``u`` a split effect shared by the
    arms (``split_sd``), ``v`` an arm x split interaction (``interaction_sd``), ``e``
    the initial weights' (``init_sd``); ``T`` past the cap is never reached. Every grid
    point draws from the same distribution. Returns ``{phase: (fits, records)}``."""
    out = {}
    for phase, n_splits, n_inits, offset in (("tune", tune_splits, tune_inits, 1),
                                             ("evaluate", splits, inits, 0)):
        shape = (problems, n_splits, 2, points, n_inits)  # arm 0: lm
        u = rng.normal(0, split_sd, (problems, n_splits, 1, 1, 1))
        v = rng.normal(0, interaction_sd, (problems, n_splits, 2, 1, 1))
        e = rng.normal(0, init_sd, shape)
        log_t = -1.5 + u + v + e - effect * (np.arange(2) == 0)[None, None, :, None, None]
        w = rng.normal(0, 0.5, (problems, n_splits, 1, 1, 1))
        rows_wrong = np.clip(np.round(3 + w + rng.normal(0, 0.7, shape)), 0, N_TEST)
        val = np.clip(rows_wrong + rng.normal(0, 1.0, shape), 0, N_TEST) / N_TEST
        index = pd.MultiIndex.from_product(
            [[f"p{k}" for k in range(problems)], [2 * j + offset for j in range(n_splits)],
             ["lm", "adam"], range(points), [1000 + 2 * k + offset for k in range(n_inits)]],
            names=["problem", "split", "arm", "grid_point", "init"])
        fits = index.to_frame(index=False).assign(
            size="small", family="generated", task="classification", n_test=N_TEST,
            status="converged")
        t = 10.0 ** log_t.ravel()
        start = fits.assign(time_s=0.0, work=0.0, val_error=0.5, test_error=0.5,
                            final=False)
        better = fits.assign(time_s=t, work=1e3 * t, val_error=val.ravel(),
                             test_error=rows_wrong.ravel() / N_TEST, final=False)
        better = better[better["time_s"] <= CAP]
        end = fits.assign(time_s=CAP + 0.1, work=1e3 * (CAP + 0.1), val_error=0.5,
                          test_error=0.5, final=True)
        records = pd.concat([start, better, end], ignore_index=True)
        out[phase] = (fits, records)
    return out


def chain(data, suite):
    """select -> outcomes -> verdict on one synthetic run."""
    selected, targets = selection.select(*data["tune"], suite=suite, scope="full")
    fits, records = data["evaluate"]
    table = outcomes.outcomes(fits, records, selected, targets, budgets=[B_MIN, CAP],
                              comparisons={"ssq": ["adam"]}, second_order=["lm"])
    verdict, cells = verdicts.verdict_tables(table, suite=suite, scope="full",
                                             comparisons={"ssq": ["adam"]},
                                             second_order=["lm"])
    return table, verdict, cells


REPS = 160


@pytest.fixture(scope="module")
def null_runs():
    """The chain on ``REPS`` runs with equal arms (split effects and an arm x split
    interaction): the cell words at the cap, per outcome and tolerance."""
    rng = np.random.default_rng(2024)
    suite = suite_settings()
    words = []
    for rep in range(REPS):
        _, _, cells = chain(synthetic(rng), suite)
        words.append(cells[cells["budget"] == CAP].assign(rep=rep))
    return pd.concat(words, ignore_index=True)


def bound(rate=0.025, reps=REPS):
    """The nominal rate of one direction plus three Monte-Carlo standard errors."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / reps)


def test_null_runs_say_fails_and_holds_at_most_at_the_nominal_rate(null_runs):
    per_cell = null_runs.groupby(["outcome", "tolerance"])["word"]
    fails = per_cell.apply(lambda w: float(np.mean(w == "fails")))
    holds = per_cell.apply(lambda w: float(np.mean(w == "holds")))
    assert len(fails) == 1 + 2 * len(TOLERANCES)  # the test error has no tolerance
    assert (fails <= bound()).all(), fails
    assert (holds <= bound()).all(), holds
    primary = null_runs[null_runs["hypotheses"] == "primary"]
    assert len(primary) == REPS
    assert np.mean(primary["word"] != "cannot tell") <= bound(0.05), primary["word"]


def test_the_targets_and_grid_points_come_from_the_tuning_fits_alone():
    """The evaluation's test errors move nothing the tuning decided: scrambling them
    leaves ``selected`` and ``targets`` as they were, and scrambling the tuning fits'
    test errors leaves ``selected`` too."""
    data = synthetic(np.random.default_rng(5))
    suite = suite_settings()
    selected, targets = selection.select(*data["tune"], suite=suite, scope="full")
    fits, records = data["tune"]
    noisy = records.assign(test_error=np.random.default_rng(6).random(len(records)))
    again, _ = selection.select(fits, noisy, suite=suite, scope="full")
    pd.testing.assert_frame_equal(again, selected)
    assert set(targets["problem"]) == {"p0", "p1", "p2"}


def test_a_planted_difference_is_detected_at_the_stated_power():
    """LM's time to the target planted 0.8 decades shorter: the rate at which the
    chain says "better" in the primary comparison matches the power that
    :func:`~secondorder.pipeline.power.power` states for the same design
    (3 problems x 4 splits x 2 inits, one rival) at the effect and with the variance
    the chain's outcomes show (their mean paired difference, its standard deviation and
    intraclass correlation), within Monte-Carlo error and the normal model's."""
    rng = np.random.default_rng(77)
    suite = suite_settings()
    reps = 120
    better, diffs = [], []
    for _ in range(reps):
        table, verdict, _ = chain(synthetic(rng, effect=0.8), suite)
        primary = verdict[verdict["hypotheses"] == "primary"].iloc[0]
        better.append(primary["word"] == "better")
        mine = table[(table["budget"] == CAP) & (table["tolerance"] == "+1 row / +5%")]
        wide = mine.pivot_table(index=["problem", "split", "init"], columns="arm",
                                values="time_to_target").reset_index()
        diffs.append(wide.assign(difference=wide["lm"] - wide["adam"]))
    rate = float(np.mean(better))
    pooled = pd.concat([d.assign(problem=d["problem"] + f"/{k}")
                        for k, d in enumerate(diffs)], ignore_index=True)
    observed = design.variance_components(pooled["difference"], pooled["problem"],
                                          pooled["split"])
    effect = float(pooled["difference"].mean())
    model = pw.ContinuousOutcome(sd_difference=observed["sd_difference"],
                                 icc=observed["icc"])
    stated = pw.power(pw.Design(3, 4, 2, rivals=1), model, effect,
                      rule=verdicts.rule(suite, "time_to_target"), reps=2000,
                      seed=1)["better"]
    assert 0.3 < stated < 0.97, (stated, effect, observed)  # a test that can fail
    se = math.sqrt(stated * (1 - stated) / reps)
    assert abs(rate - stated) <= 3 * se + 0.05, (rate, stated, effect, observed)
