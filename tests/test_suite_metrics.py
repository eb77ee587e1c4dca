"""The suite's yardstick, selection and outcomes: known values for every function, by
hand."""

import math

import numpy as np
import pandas as pd
import pytest

from secondorder.pipeline.suite import metrics as sm
from secondorder.pipeline.suite import outcomes as so
from secondorder.pipeline.suite import selection as sel

INF, NAN = math.inf, math.nan


# --- error -----------------------------------------------------------------------------


def test_classification_error_counts_wrong_and_non_finite_rows():
    y_true = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=float)
    y_pred = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [NAN, 0.5]])
    # right, right, wrong, non-finite (wrong): 2 of 4 wrong
    assert sm.error("classification", y_true, y_pred) == 0.5
    assert sm.error("classification", y_true, y_true) == 0.0


def test_regression_error_is_normalised_mse():
    y = np.array([[1.0], [2.0], [3.0], [4.0]])
    # var = mean((-1.5, -0.5, 0.5, 1.5)^2) = 1.25; MSE of (0, 0, 0, 1) = 0.25 -> 0.2
    assert sm.error("regression", y, [[1.0], [2.0], [3.0], [5.0]]) == pytest.approx(0.2)
    # predicting the mean scores exactly 1; 1-D arrays are one column
    assert sm.error("regression", y.ravel(), np.full(4, 2.5)) == pytest.approx(1.0)
    # constant targets: the plain MSE, ((1 - 2)^2 + (3 - 2)^2) / 2 = 1
    assert sm.error("regression", [[2.0], [2.0]], [[1.0], [3.0]]) == 1.0
    assert sm.error("regression", y, [[1.0], [2.0], [INF], [4.0]]) == INF
    assert sm.error("regression", y, [[1.0], [2.0], [NAN], [4.0]]) == INF


def test_regression_error_averages_the_column_variances():
    y = np.array([[0.0, 10.0], [2.0, 10.0], [4.0, 14.0]])
    pred = y + [1.0, 0.0]
    # MSE = 3 * 1 / 6 = 0.5; column variances 8/3 and 32/9, mean 28/9 -> 0.5 / (28/9)
    # = 9/56 (np.var over all entries, 27.22, would give 0.0184)
    assert sm.error("regression", y, pred) == pytest.approx(9 / 56)


def test_error_rejects_bad_input():
    with pytest.raises(ValueError, match="task"):
        sm.error("ranking", [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="same shape"):
        sm.error("classification", np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match="same shape"):
        sm.error("classification", [1.0, 0.0], [1.0, 0.0])


# --- budgets and grid points -----------------------------------------------------------

KEY = {"problem": "p", "size": 4, "arm": "lm", "grid_point": 0, "split": 0, "init": 0}


def _records(rows, **key):
    """Records of one fit: (time_s, work, val_error, test_error, final)."""
    return pd.DataFrame([{**KEY, **key, "time_s": t, "work": w, "val_error": v,
                          "test_error": e, "final": f} for t, w, v, e, f in rows])


def test_at_budget_is_the_record_in_force():
    records = pd.concat([
        _records([(0.0, 0, 0.5, 0.6, False), (1.0, 10, 0.3, 0.4, False),
                  (2.5, 30, 0.2, 0.35, False), (3.0, 40, 0.2, 0.35, True)]),
        _records([(0.0, 0, 0.9, 0.9, False), (0.5, 3, 0.8, 0.7, True)], init=1)])
    def errors(budget, measure="time_s"):
        table = sm.at_budget(records, budget, measure)
        return [tuple(r) for r in table[["init", "val_error", "test_error"]].to_numpy()]
    # at 0 the initial weights; a record counts from its own time on (<=)
    assert errors(0.0) == [(0, 0.5, 0.6), (1, 0.9, 0.9)]
    assert errors(1.0) == [(0, 0.3, 0.4), (1, 0.8, 0.7)]
    assert errors(2.4) == [(0, 0.3, 0.4), (1, 0.8, 0.7)]
    assert errors(10.0) == [(0, 0.2, 0.35), (1, 0.8, 0.7)]  # past the end: the last
    assert errors(29, "work") == [(0, 0.3, 0.4), (1, 0.8, 0.7)]
    assert errors(30, "work")[0] == (0, 0.2, 0.35)
    with pytest.raises(ValueError, match="budget"):
        sm.at_budget(records, -1.0)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['work'\]"):
        sm.at_budget(records.drop(columns="work"), 1.0, "work")


def _table(rows, budget=1.0):
    return pd.DataFrame(rows, columns=["problem", "size", "arm", "grid_point", "split",
                                       "init", "val_error"]).assign(budget=budget)


def test_select_grid_point_median_then_mean_then_grid_point():
    chosen = sel.select_grid_point(_table([
        # adam gp0: (0.1, 0.2, NaN -> inf), median 0.2, mean inf
        ("p", 4, "adam", 0, 0, 1, 0.1), ("p", 4, "adam", 0, 0, 2, 0.2),
        ("p", 4, "adam", 0, 0, 3, NAN),
        # adam gp1: (0.2, 0.2, 0.1), median 0.2 (a tie), mean 0.1667: chosen
        ("p", 4, "adam", 1, 0, 1, 0.2), ("p", 4, "adam", 1, 0, 2, 0.2),
        ("p", 4, "adam", 1, 0, 3, 0.1),
        # adam gp2: the best single fit (0.05) but median inf: not chosen
        ("p", 4, "adam", 2, 0, 1, 0.05), ("p", 4, "adam", 2, 0, 2, INF),
        ("p", 4, "adam", 2, 0, 3, NAN),
        # lm: gp3 and gp1 tie on median and mean -> the lower grid point, 1
        ("p", 4, "lm", 3, 0, 1, 0.3), ("p", 4, "lm", 3, 0, 2, 0.3),
        ("p", 4, "lm", 1, 0, 1, 0.3), ("p", 4, "lm", 1, 0, 2, 0.3),
        # sgd: every fit failed: median and mean inf everywhere -> grid point 0
        ("p", 4, "sgd", 0, 0, 1, NAN), ("p", 4, "sgd", 1, 0, 1, INF),
        # an even number of fits with one failure: median (0.1 + inf) / 2 = inf
        ("q", 8, "lm", 0, 0, 1, 0.1), ("q", 8, "lm", 0, 0, 2, INF),
        ("q", 8, "lm", 1, 0, 1, 0.4), ("q", 8, "lm", 1, 0, 2, 0.4),
        # the median runs over splits and inits together: gp0 (0.1, 0.2 | 0.3) -> 0.2,
        # gp1 (0.15, 0.15 | 0.5) -> 0.15
        ("r", 4, "lm", 0, 0, 0, 0.1), ("r", 4, "lm", 0, 0, 1, 0.2), ("r", 4, "lm", 0, 1, 0, 0.3),
        ("r", 4, "lm", 1, 0, 0, 0.15), ("r", 4, "lm", 1, 0, 1, 0.15),
        ("r", 4, "lm", 1, 1, 0, 0.5),
    ]))
    got = {(r.problem, r.size, r.arm): (r.grid_point, r.median_val_error)
           for r in chosen.itertuples()}
    assert got == {("p", 4, "adam"): (1, 0.2), ("p", 4, "lm"): (1, 0.3),
                   ("p", 4, "sgd"): (0, INF), ("q", 8, "lm"): (1, 0.4),
                   ("r", 4, "lm"): (1, 0.15)}
    assert chosen["n_fits"].tolist() == [3, 2, 1, 2, 3]
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['split'\]"):
        sel.select_grid_point(_table([]).drop(columns="split"))


# --- references, targets and first hits -------------------------------------------------


def test_reference_is_the_best_arms_median_test_error_over_splits_and_inits():
    table = pd.DataFrame([
        # p: lm (0.1, 0.2, 0.3 | 0.2, 0.2) -> 0.2; adam (0.1, 0.15, NaN -> inf | 0.1, 0.3)
        # -> 0.15: the reference is adam's, over both splits
        ("p", 4, "lm", 0, 0, 0, 0.1), ("p", 4, "lm", 0, 0, 1, 0.2), ("p", 4, "lm", 0, 0, 2, 0.3),
        ("p", 4, "lm", 0, 1, 0, 0.2), ("p", 4, "lm", 0, 1, 1, 0.2),
        ("p", 4, "adam", 2, 0, 0, 0.1), ("p", 4, "adam", 2, 0, 1, 0.15),
        ("p", 4, "adam", 2, 0, 2, NAN), ("p", 4, "adam", 2, 1, 0, 0.1),
        ("p", 4, "adam", 2, 1, 1, 0.3),
        # q: both medians 0.2: the tie goes to the first name, adam
        ("q", 4, "lm", 0, 1, 0, 0.2), ("q", 4, "lm", 0, 1, 1, 0.2),
        ("q", 4, "adam", 2, 1, 0, 0.1), ("q", 4, "adam", 2, 1, 1, 0.3),
    ], columns=["problem", "size", "arm", "grid_point", "split", "init", "test_error"])
    refs = sel.reference(table).set_index("problem")
    assert refs.loc["p", ["reference_error", "reference_arm"]].tolist() == [0.15, "adam"]
    assert refs.loc["q", ["reference_error", "reference_arm"]].tolist() == [0.2, "adam"]


def test_targets_in_rows_and_relative_error():
    refs = pd.DataFrame({"problem": ["p", "q"], "size": [4, 4], "split": [0, 0],
                         "task": ["classification", "regression"], "n_test": [30, 88],
                         "reference_error": [0.1, 0.5]})
    table = sel.targets(refs, [{"rows": 0, "relative": 0.02}, {"rows": 2, "relative": 0.1}])
    got = {(r.problem, r.tolerance): r.target_error for r in table.itertuples()}
    assert got == pytest.approx({("p", "+0 rows / +2%"): 0.1, ("q", "+0 rows / +2%"): 0.51,
                                 ("p", "+2 rows / +10%"): 0.1 + 2 / 30,
                                 ("q", "+2 rows / +10%"): 0.55})
    assert sm.tolerance_label({"rows": 1, "relative": 0.05}) == "+1 row / +5%"
    with pytest.raises(ValueError, match="rows >= 0"):
        sel.targets(refs, [{"rows": -1, "relative": 0.02}])


def test_meets_compares_rows_with_an_epsilon_against_rounding():
    # the rounding case: in floating point 1 - 0.97 > (1 - 0.98) + 0.01 ...
    assert 1 - 0.97 > (1 - 0.98) + 0.01
    # ... yet 3 wrong rows of 100 are within 1 row of 2 wrong rows
    assert sm.meets("classification", 1 - 0.97, (1 - 0.98) + 1 / 100, 100)
    assert not sm.meets("classification", 0.04, (1 - 0.98) + 1 / 100, 100)  # 4 > 3 rows
    # regression: relative, with a relative epsilon (0.1 * 3 = 0.30000000000000004)
    assert sm.meets("regression", 0.1 * 3, 0.3, 88)
    assert not sm.meets("regression", 0.31, 0.3, 88)
    got = sm.meets(["classification", "regression", "regression", "classification"],
                   [NAN, INF, 0.2, 0.1], [0.5, 0.5, NAN, 0.1], 10)
    assert got.tolist() == [False, False, False, True]




def test_in_force_at_many_budgets_is_at_budget_at_each():
    records = pd.concat([
        _records([(0.0, 0, 0.5, 0.6, False), (1.0, 10, 0.3, 0.4, False),
                  (2.5, 30, 0.2, 0.35, False), (3.0, 40, 0.2, 0.35, True)]),
        _records([(0.0, 0, 0.9, 0.9, False), (0.5, 3, 0.8, 0.7, True)], init=1),
        _records([(0.0, 0, 0.4, 0.4, False), (0.2, 1, 0.1, 0.1, True)], arm="adam")])
    budgets = [0.0, 0.3, 1.0, 2.6, 9.0]
    table = sm.in_force(records.sample(frac=1.0, random_state=0), budgets)
    assert len(table) == 3 * len(budgets)
    for budget in budgets:
        one = sm.at_budget(records, budget)
        got = table[table["budget"] == budget].drop(columns="budget").reset_index(drop=True)
        pd.testing.assert_frame_equal(got[one.columns], one, check_dtype=False)
    # the time of the record in force, not the budget
    lm0 = table[(table["arm"] == "lm") & (table["init"] == 0)]
    assert lm0["time_s"].tolist() == [0.0, 0.0, 1.0, 2.5, 3.0]


# --- selection from the tuning fits ----------------------------------------------------


def _tuning(val_of, test_of, arms=("lm", "adam"), points=(0, 1), splits=(1, 3),
            inits=(1001, 1003)):
    """Tuning fits and records on problem p (classification, 10 test rows): each fit
    starts at val = test = 0.5 and improves once at t = 0.1 x (grid point + 1) to
    ``val_of(arm, g, split, init)`` and ``test_of(...)``."""
    fits, rows = [], []
    for arm in arms:
        for g in points:
            for split in splits:
                for init in inits:
                    key = {"problem": "p", "size": "small", "arm": arm, "grid_point": g,
                           "split": split, "init": init}
                    fits.append({**key, "family": "tabular", "task": "classification",
                                 "n_test": 10, "status": "converged"})
                    t = 0.1 * (g + 1)
                    for time_s, val, test, final in (
                            (0.0, 0.5, 0.5, False),
                            (t, val_of(arm, g, split, init), test_of(arm, g, split, init),
                             False)):
                        rows.append({**key, "time_s": time_s, "work": 10 * time_s,
                                     "val_error": val, "test_error": test, "final": final})
                    rows.append({**rows[-1], "time_s": 1.0, "final": True})
    return pd.DataFrame(fits), pd.DataFrame(rows)


def _suite_settings(cap=1.0, budgets=(0.15,)):
    return {"scopes": {}, "problems": ["p"], "csv_problems": {}, "sizes": {"small": [3]},
            "arms": {"lm": {}, "adam": {}}, "second_order": ["lm"], "inits": 2, "splits": 2,
            "tune_inits": 2, "tune_splits": 2, "cap_s": cap, "budgets_s": list(budgets),
            "jobs": "instance", "primary": {},
            "tolerances": [{"rows": 0, "relative": 0.02}, {"rows": 1, "relative": 0.05}]}


def test_select_picks_grid_points_on_validation_and_sets_targets_from_tuning_tests():
    """lm's grid point 1 has the lower validation error but only from t = 0.2: at the
    budget 0.15 s grid point 0 is selected, at the cap 1; adam's grid point 0 wins on
    validation though its test error is the worse: test errors choose nothing. The
    reference is the best arm's median test error at its point selected at the cap."""
    val = {("lm", 0): 0.3, ("lm", 1): 0.1, ("adam", 0): 0.2, ("adam", 1): 0.25}
    test = {("lm", 0): 0.3, ("lm", 1): 0.2, ("adam", 0): 0.4, ("adam", 1): 0.0}
    fits, records = _tuning(lambda a, g, s, i: val[a, g], lambda a, g, s, i: test[a, g])
    selected, targets = sel.select(fits, records, suite=_suite_settings(), scope="full")
    got = selected.set_index(["arm", "budget"])["grid_point"].to_dict()
    assert got == {("adam", 0.15): 0, ("adam", 1.0): 0, ("lm", 0.15): 0, ("lm", 1.0): 1}
    assert (selected["n_fits"] == 4).all()
    assert targets["reference_arm"].unique().tolist() == ["lm"]
    assert targets.set_index("tolerance")["target_error"].to_dict() == pytest.approx(
        {"+0 rows / +2%": 0.2, "+1 row / +5%": 0.3})
    assert sel.evaluation_points(selected, "p", "small") == {"adam": [0], "lm": [0, 1]}
    # perturbing the tuning fits' test errors changes the targets, never the selection
    noisy = records.assign(test_error=np.random.default_rng(0).random(len(records)))
    again, moved = sel.select(fits, noisy, suite=_suite_settings(), scope="full")
    pd.testing.assert_frame_equal(again, selected)
    assert not np.allclose(moved["target_error"], targets["target_error"])


# --- the outcomes of the evaluation fits -----------------------------------------------


def test_log_budgets_run_from_b_min_to_the_budget():
    grid = so.log_budgets(0.01, 1.0, per_decade=2)
    np.testing.assert_allclose(grid, [0.01, 0.01 * 10**0.5, 0.1, 10**-0.5, 1.0])
    assert grid[0] == 0.01 and grid[-1] == 1.0
    assert so.log_budgets(0.1, 0.1).tolist() == [0.1]
    assert len(so.log_budgets(0.1, 0.11)) == 2  # at least both ends
    with pytest.raises(ValueError, match="b_min"):
        so.log_budgets(1.0, 0.5)


def _evaluation(paths):
    """Evaluation fits and records on p (classification, 10 test rows), split 0, one
    init each: ``paths[arm] = [(time_s, test_error), ..]`` after (0, 0.5)."""
    fits, rows = [], []
    for arm, path in paths.items():
        key = {"problem": "p", "size": "small", "arm": arm, "grid_point": 0, "split": 0,
               "init": 1000}
        fits.append({**key, "family": "tabular", "task": "classification", "n_test": 10,
                     "status": "converged"})
        for t, test in [(0.0, 0.5), *path]:
            rows.append({**key, "time_s": t, "work": 100 * t, "val_error": test,
                         "test_error": test, "final": False})
        rows.append({**rows[-1], "final": True, "time_s": 1.5})
    return pd.DataFrame(fits), pd.DataFrame(rows)


def test_outcomes_score_the_returned_model_at_each_budget():
    """Budgets 0.01, 0.1, 1 s; target 0.2 (one tolerance). lm meets it from 0.05 s on;
    adam meets it at 0.02 s, loses it at 0.3 s (its best-by-validation weights got worse
    on the test rows) and never again; rmsprop never. The time-to-target outcome is the
    share of the log-spaced budgets from 0.01 s at which the returned model meets it."""
    fits, records = _evaluation({"lm": [(0.05, 0.1)], "adam": [(0.02, 0.2), (0.3, 0.4)],
                                 "rmsprop": [(0.5, 0.45)]})
    selected = pd.DataFrame([{"problem": "p", "size": "small", "arm": a, "budget": b,
                              "grid_point": 0} for a in ("lm", "adam", "rmsprop")
                             for b in (0.01, 0.1, 1.0)])
    targets = pd.DataFrame([{"comparison": "ssq", "problem": "p", "size": "small",
                             "tolerance": "t", "target_error": 0.2,
                             "task": "classification", "n_test": 10}])
    table = so.outcomes(fits, records, selected, targets, budgets=[0.01, 0.1, 1.0],
                        comparisons={"ssq": ["adam", "rmsprop"]}, second_order=["lm"])
    got = table.set_index(["arm", "budget"])
    assert got.loc[("lm", 0.01), ["test_error", "solved", "time_to_target"]].tolist() == \
        [0.5, 0.0, 0.0]
    assert got.loc[("lm", 1.0), ["test_error", "solved"]].tolist() == [0.1, 1.0]
    grid = so.log_budgets(0.01, 1.0)
    assert got.loc[("lm", 1.0), "time_to_target"] == pytest.approx(np.mean(grid >= 0.05))
    assert got.loc[("adam", 0.1), ["test_error", "solved"]].tolist() == [0.2, 1.0]
    # at the cap adam's returned model misses the target: unsolved, and its time to
    # target counts only the budgets 0.02 <= t < 0.3 at which it met it
    assert got.loc[("adam", 1.0), ["test_error", "solved"]].tolist() == [0.4, 0.0]
    assert got.loc[("adam", 1.0), "time_to_target"] == pytest.approx(
        np.mean((grid >= 0.02) & (grid < 0.3)))
    # censored: never met, counts 0 and stays in the table
    assert got.loc[("rmsprop", 1.0), ["solved", "time_to_target"]].tolist() == [0.0, 0.0]
    assert set(table["family"]) == {"tabular"} and len(table) == 9


def test_outcomes_use_each_budgets_own_grid_point_and_cap_the_error():
    fits, records = _evaluation({"lm": [(0.05, 0.1)], "adam": [(0.02, 0.2)]})
    late = records[records["arm"] == "adam"].assign(grid_point=1)
    late.loc[late["time_s"] > 0, "test_error"] = np.inf  # diverged: counts as 1
    records = pd.concat([records, late])
    fits = pd.concat([fits, fits[fits["arm"] == "adam"].assign(grid_point=1)])
    selected = pd.DataFrame([("p", "small", "lm", 0.1, 0), ("p", "small", "lm", 1.0, 0),
                             ("p", "small", "adam", 0.1, 0), ("p", "small", "adam", 1.0, 1)],
                            columns=["problem", "size", "arm", "budget", "grid_point"])
    targets = pd.DataFrame([{"comparison": "ssq", "problem": "p", "size": "small",
                             "tolerance": "t", "target_error": 0.2,
                             "task": "classification", "n_test": 10}])
    table = so.outcomes(fits, records, selected, targets, budgets=[0.1, 1.0],
                        comparisons={"ssq": ["adam"]}, second_order=["lm"])
    adam = table[table["arm"] == "adam"].set_index("budget")
    assert adam["grid_point"].to_dict() == {0.1: 0, 1.0: 1}
    assert adam.loc[1.0, ["test_error", "solved"]].tolist() == [so.ERROR_CAP, 0.0]


def test_success_rates_weigh_every_problem_the_same():
    rows = [("p", s, i, 1.0) for s in range(3) for i in range(2)]  # p: 6 of 6
    rows += [("q", 0, i, 0.0) for i in range(2)]                   # q: 0 of 2
    table = pd.DataFrame(rows, columns=["problem", "split", "init", "solved"]).assign(
        comparison="ssq", arm="lm", budget=1.0, tolerance="t", size="small")
    rates = so.success_rates(table, resamples=500)
    row = rates.iloc[0]
    assert (row.fits, row.successes, row.problems, row.clusters) == (8, 6, 2, 4)
    assert row.rate == 0.5  # (1 + 0) / 2, not 6 / 8
    assert row.ci_low <= row.rate <= row.ci_high


def test_data_profiles_share_of_instances_whose_returned_model_meets_the_target():
    fits, records = _evaluation({"lm": [(0.05, 0.1)], "adam": [(0.02, 0.2), (0.3, 0.4)]})
    selected = pd.DataFrame([("p", "small", a, 1.0, 0) for a in ("lm", "adam")],
                            columns=["problem", "size", "arm", "budget", "grid_point"])
    targets = pd.DataFrame([{"comparison": "ssq", "problem": "p", "size": "small",
                             "tolerance": "t", "target_error": 0.2,
                             "task": "classification", "n_test": 10}])
    table = so.data_profiles(fits, records, selected, targets, cap=1.0,
                             comparisons={"ssq": ["adam"]}, second_order=["lm"])
    assert set(table["measure"]) == {"time_s", "work"}
    time = table[table["measure"] == "time_s"].pivot(index="x", columns="arm",
                                                     values="value")
    assert time.loc[time.index < 0.02, "adam"].eq(0).all()
    assert time.loc[(time.index >= 0.02) & (time.index < 0.3), "adam"].eq(1).all()
    assert time.loc[time.index >= 0.3, "adam"].eq(0).all()  # lost again: the curve falls
    assert time.loc[time.index >= 0.05, "lm"].eq(1).all()
