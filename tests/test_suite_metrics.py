"""Scoring the benchmark suite: known values for every function, by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from secondorder.pipeline import suite_metrics as sm

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


# --- Wilson ----------------------------------------------------------------------------


@pytest.mark.parametrize("k,n,low,high", [
    # Newcombe (1998), Two-sided confidence intervals for the single proportion,
    # Stat. Med. 17, 857-872: the score interval (his method 3) for his four examples
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    # 8/10 by hand: z^2 = 3.8415, 1 + z^2/n = 1.38415, centre = (0.8 + 0.19207) / 1.38415
    # = 0.7168, half = 1.95996 / 1.38415 * sqrt(0.016 + 0.0096) = 0.2266
    (8, 10, 0.4902, 0.9433),
    # 0/3: centre = half = (z^2 / 6) / (1 + z^2 / 3) = 0.64025 / 2.28049 = 0.28075
    (0, 3, 0.0, 0.5615), (10, 10, 0.7225, 1.0)])
def test_wilson_interval_published_values(k, n, low, high):
    lo, hi = sm.wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_interval_edges():
    assert all(math.isnan(v) for v in sm.wilson_interval(0, 0))
    for k, n in [(11, 10), (-1, 10)]:
        with pytest.raises(ValueError, match="0 <= successes <= n"):
            sm.wilson_interval(k, n)
    # a wider interval at 99% (z = 2.5758)
    lo95, hi95 = sm.wilson_interval(8, 10)
    lo99, hi99 = sm.wilson_interval(8, 10, z=2.5758293035489)
    assert lo99 < lo95 and hi99 > hi95


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


def _table(rows):
    return pd.DataFrame(rows, columns=["problem", "size", "arm", "grid_point", "split",
                                       "init", "val_error"])


def test_select_grid_point_median_then_mean_then_grid_point():
    chosen = sm.select_grid_point(_table([
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
        sm.select_grid_point(_table([]).drop(columns="split"))


# --- references, targets and first hits -------------------------------------------------


def test_reference_is_the_best_arms_median_test_error():
    table = pd.DataFrame([
        # split 0: lm (0.1, 0.2, 0.3) -> 0.2; adam (0.1, 0.15, NaN -> inf) -> 0.15
        ("p", 4, "lm", 0, 0, 0, 0.1), ("p", 4, "lm", 0, 0, 1, 0.2), ("p", 4, "lm", 0, 0, 2, 0.3),
        ("p", 4, "adam", 2, 0, 0, 0.1), ("p", 4, "adam", 2, 0, 1, 0.15),
        ("p", 4, "adam", 2, 0, 2, NAN),
        # split 1: both medians 0.2: the tie goes to the first name, adam
        ("p", 4, "lm", 0, 1, 0, 0.2), ("p", 4, "lm", 0, 1, 1, 0.2),
        ("p", 4, "adam", 2, 1, 0, 0.1), ("p", 4, "adam", 2, 1, 1, 0.3),
    ], columns=["problem", "size", "arm", "grid_point", "split", "init", "test_error"])
    refs = sm.reference(table).set_index("split")
    assert refs.loc[0, ["reference_error", "reference_arm"]].tolist() == [0.15, "adam"]
    assert refs.loc[1, ["reference_error", "reference_arm"]].tolist() == [0.2, "adam"]


def test_targets_in_rows_and_relative_error():
    refs = pd.DataFrame({"problem": ["p", "q"], "size": [4, 4], "split": [0, 0],
                         "task": ["classification", "regression"], "n_test": [30, 88],
                         "reference_error": [0.1, 0.5]})
    table = sm.targets(refs, [{"rows": 0, "relative": 0.02}, {"rows": 2, "relative": 0.1}])
    got = {(r.problem, r.tolerance): r.target_error for r in table.itertuples()}
    assert got == pytest.approx({("p", "+0 rows / +2%"): 0.1, ("q", "+0 rows / +2%"): 0.51,
                                 ("p", "+2 rows / +10%"): 0.1 + 2 / 30,
                                 ("q", "+2 rows / +10%"): 0.55})
    assert sm.tolerance_label({"rows": 1, "relative": 0.05}) == "+1 row / +5%"
    with pytest.raises(ValueError, match="rows >= 0"):
        sm.targets(refs, [{"rows": -1, "relative": 0.02}])


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


def test_first_hits_the_first_time_a_target_was_met():
    records = pd.concat([
        # lm: test 0.5, 0.3 (t 0.2), 0.1 (t 0.4), 0.3 again (t 0.6), end at t 0.8
        _records([(0.0, 0, 0.5, 0.5, False), (0.2, 5, 0.3, 0.3, False),
                  (0.4, 9, 0.2, 0.1, False), (0.6, 12, 0.1, 0.3, False),
                  (0.8, 15, 0.1, 0.3, True)]),
        # adam: never better than 0.5
        _records([(0.0, 0, 0.5, 0.5, False), (1.0, 100, 0.5, 0.5, True)], arm="adam"),
        # sgd: its initial weights already meet the looser target
        _records([(0.0, 0, 0.3, 0.3, False), (1.0, 100, 0.3, 0.3, True)], arm="sgd"),
    ])
    targets = pd.DataFrame({"problem": "p", "size": 4, "split": 0, "task": "classification",
                            "n_test": 10, "tolerance": ["tight", "loose"],
                            "target_error": [0.1, 0.3]})
    hits = sm.first_hits(records, targets).set_index(["arm", "tolerance"])
    assert hits.loc[("lm", "tight"), ["hit_time_s", "hit_work"]].tolist() == [0.4, 9]
    # the first time counts, even though the error rose again later
    assert hits.loc[("lm", "loose"), ["hit_time_s", "hit_work"]].tolist() == [0.2, 5]
    assert not hits.loc[("adam", "tight"), "reached"]
    assert hits.loc[("adam", "loose"), ["hit_time_s", "hit_work"]].tolist() == [INF, INF]
    assert hits.loc[("sgd", "loose"), ["reached", "hit_time_s"]].tolist() == [True, 0.0]
    with pytest.raises(ValueError, match="no target"):
        sm.first_hits(records.assign(split=1), targets)


# --- data and performance profiles ------------------------------------------------------


def _hits(times: dict, works: dict | None = None, tolerance="t"):
    rows = []
    for arm, values in times.items():
        for init, t in enumerate(values):
            w = (works or {}).get(arm, values)[init]
            rows.append({"problem": "p", "size": 4, "arm": arm, "grid_point": 0, "split": 0,
                         "init": init, "tolerance": tolerance, "hit_time_s": t,
                         "hit_work": w, "reached": math.isfinite(t)})
    return pd.DataFrame(rows)


def test_data_profile_fraction_solved_within_each_budget():
    hits = _hits({"A": [1.0, 2.0, INF, 4.0], "B": [0.5, INF, INF, INF]},
                 works={"A": [10, 20, INF, 40], "B": [50, INF, INF, INF]})
    # A solves 1 of 4 by 1 s, 2 by 3 s, 3 by 10 s; B one instance, from 0.5 s
    time = sm.data_profile(hits, [0.4, 0.5, 1, 3, 10])
    np.testing.assert_allclose(time["A"], [0, 0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(time["B"], [0, 0.25, 0.25, 0.25, 0.25])
    work = sm.data_profile(hits, [20, 50], measure="work")
    np.testing.assert_allclose(work["A"], [0.5, 0.75])
    np.testing.assert_allclose(work["B"], [0, 0.25])
    assert time.index.name == "budget"
    with pytest.raises(ValueError, match="no fit on some instance"):
        sm.data_profile(hits.iloc[1:], [1])
    with pytest.raises(ValueError, match="one tolerance"):
        sm.data_profile(pd.concat([hits, hits.assign(tolerance="u")]), [1])
    with pytest.raises(ValueError, match="selected grid points"):
        sm.data_profile(pd.concat([hits, hits.assign(grid_point=1, init=9)]), [1])


def test_performance_times_floor_hits_at_time_zero():
    hits = _hits({"A": [0.0, 2.0], "B": [0.5, INF]}, works={"A": [0, 20], "B": [5, INF]})
    time = sm.performance_times(hits)
    assert time["A"].tolist() == [1e-3, 2.0] and time["B"].tolist() == [0.5, INF]
    assert sm.performance_times(hits, "work")["A"].tolist() == [1.0, 20.0]
    rho = sm.performance_profile(time, [1, 4])
    # instance 0: A (0.001) fastest; instance 1: A alone; B within 4x nowhere
    np.testing.assert_allclose(rho["A"], [1, 1])
    np.testing.assert_allclose(rho["B"], [0, 0])


# --- performance profiles --------------------------------------------------------------


def test_performance_profile_three_instances_two_arms():
    times = pd.DataFrame({"A": [1.0, 2.0, INF], "B": [2.0, 2.0, 3.0]})
    # ratios r = t / min: instance 1: A 1, B 2; instance 2: A 1, B 1; instance 3: A fails,
    # B 1.  tau = 1: A {1, 2}, B {2, 3} -> 2/3 each; tau = 1.5: the same;
    # tau = 2: A {1, 2} = 2/3, B all three = 1; tau = inf: A still 2/3 (a failure never counts)
    rho = sm.performance_profile(times, [1, 1.5, 2, INF])
    np.testing.assert_allclose(rho["A"], [2 / 3, 2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(rho["B"], [2 / 3, 2 / 3, 1, 1])
    assert rho.index.name == "tau" and rho.index.tolist() == [1, 1.5, 2, INF]


def test_performance_profile_all_failed_instance_fails_for_every_arm():
    times = pd.DataFrame({"A": [1.0, 2.0, INF, INF], "B": [2.0, 2.0, 3.0, INF]})
    rho = sm.performance_profile(times, [1, 2, 1e9])
    # the fourth instance (both inf) is a failure for both: A 2/4 throughout,
    # B 2/4 at tau = 1 then 3/4
    np.testing.assert_allclose(rho["A"], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(rho["B"], [0.5, 0.75, 0.75])
    # at tau = 1 the arms together cover every instance someone solved (3 of 4), with
    # ties (instance 2) counted for both: 0.5 + 0.5 >= 0.75
    assert rho.loc[1].sum() >= 0.75


def test_performance_profile_arm_that_does_not_apply():
    # B does not apply to instance 3 (NaN): its fractions are over instances 1-2 only,
    # and instance 3's fastest is A alone.  tau = 1: A wins 1 and 3 -> 2/3; B wins 2 -> 1/2
    # tau = 2: A also 2 (ratio 2) -> 3/3; B also 1 (ratio 1.5) -> 2/2
    times = pd.DataFrame({"A": [2.0, 4.0, 5.0], "B": [3.0, 2.0, NAN]})
    rho = sm.performance_profile(times, [1, 2])
    np.testing.assert_allclose(rho["A"], [2 / 3, 1])
    np.testing.assert_allclose(rho["B"], [1 / 2, 1])


def test_performance_profile_rejects_bad_input():
    times = pd.DataFrame({"A": [1.0, 2.0], "B": [2.0, NAN]})
    with pytest.raises(ValueError, match="no arm applies"):
        sm.performance_profile(pd.DataFrame({"A": [1.0, NAN], "B": [2.0, NAN]}), [1])
    with pytest.raises(ValueError, match="applies to no instance"):
        sm.performance_profile(pd.DataFrame({"A": [1.0, 2.0], "B": [NAN, NAN]}), [1])
    with pytest.raises(ValueError, match="> 0"):
        sm.performance_profile(times.fillna(0.0), [1])
    with pytest.raises(ValueError, match="taus"):
        sm.performance_profile(times.fillna(1.0), [0.5])
    with pytest.raises(ValueError, match="at least one"):
        sm.performance_profile(times.iloc[:0], [1])


# --- summaries -------------------------------------------------------------------------


def test_success_rates_with_wilson_intervals():
    fits = pd.DataFrame({"arm": ["lm"] * 10 + ["adam"] * 3,
                         "reached": [True] * 8 + [False] * 2 + [False] * 3})
    table = sm.success_rates(fits).set_index("arm")
    assert table.loc["lm", ["fits", "successes"]].tolist() == [10, 8]
    assert table.loc["lm", "rate"] == 0.8
    assert table.loc["lm", "ci_low"] == pytest.approx(0.4902, abs=1e-4)
    assert table.loc["lm", "ci_high"] == pytest.approx(0.9433, abs=1e-4)
    assert table.loc["adam", "rate"] == 0.0
    assert table.loc["adam", "ci_high"] == pytest.approx(0.5615, abs=1e-4)
    by_problem = sm.success_rates(fits.assign(problem="p"), by=("problem", "arm"))
    assert len(by_problem) == 2
    with pytest.raises(ValueError, match="reached"):
        sm.success_rates(fits.drop(columns="reached"))


# --- the verdict -----------------------------------------------------------------------


def test_paired_bootstrap_known_cases():
    # constant differences: the interval is the point
    assert sm.paired_bootstrap([0.5] * 6) == (0.5, 0.5, 0.5)
    # two pairs, 0 and 1: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2,
    # 1/4, so the 2.5% and 97.5% quantiles are 0 and 1
    assert sm.paired_bootstrap([0.0, 1.0], resamples=20000) == (0.5, 0.0, 1.0)
    # stratified: within each problem every pair is alike, so every resample keeps 3
    # ones and 5 zeros: the mean is exactly 3/8 ...
    values, strata = [1, 1, 1, 0, 0, 0, 0, 0], list("aaabbbbb")
    assert sm.paired_bootstrap(values, strata) == (0.375, 0.375, 0.375)
    # ... while resampling across problems moves it
    _, low, high = sm.paired_bootstrap(values)
    assert low < 0.375 < high
    assert sm.paired_bootstrap(values, seed=3) == sm.paired_bootstrap(values, seed=3)
    for bad in ([], [1.0, NAN]):
        with pytest.raises(ValueError, match="finite"):
            sm.paired_bootstrap(bad)
    with pytest.raises(ValueError, match="level"):
        sm.paired_bootstrap([1.0], level=1.5)
    with pytest.raises(ValueError, match="one label per"):
        sm.paired_bootstrap([1.0, 2.0], ["a"])


def test_verdict_words():
    assert sm.verdict_word(0.1, 0.3) == "holds"
    assert sm.verdict_word(-0.3, -0.1) == "fails"
    assert sm.verdict_word(-0.2, 0.2, [(0.1, 0.5), (-0.5, -0.1)]) == "mixed"
    assert sm.verdict_word(-0.2, 0.2, [(0.1, 0.5), (-0.2, 0.1)]) == "cannot tell"
    assert sm.verdict_word(0.0, 0.0) == "cannot tell"  # a tie on every pair


def _solved(family, problem, arm, outcomes, budget=1.0, tolerance="t"):
    return [{"family": family, "size": 4, "problem": problem, "split": 0, "init": k,
             "arm": arm, "budget_s": budget, "tolerance": tolerance, "solved": bool(o)}
            for k, o in enumerate(outcomes)]


def test_verdict_map_holds_fails_mixed_and_cannot_tell():
    rows = []
    # holds: LM solves all 8 pairs of two problems, no rival any (best rival: adam, by name)
    for p in ("h1", "h2"):
        rows += (_solved("H", p, "lm", [1] * 4) + _solved("H", p, "adam", [0] * 4)
                 + _solved("H", p, "sgd", [0] * 4))
    # fails: adam solves everything, sgd half, LM nothing
    for p in ("f1", "f2"):
        rows += (_solved("F", p, "lm", [0] * 4) + _solved("F", p, "adam", [1] * 4)
                 + _solved("F", p, "sgd", [1, 0, 1, 0]))
    # mixed: LM wins every pair of m1 and loses every pair of m2; pooled difference 0
    rows += (_solved("M", "m1", "lm", [1] * 4) + _solved("M", "m1", "adam", [0] * 4)
             + _solved("M", "m1", "sgd", [0] * 4))
    rows += (_solved("M", "m2", "lm", [0] * 4) + _solved("M", "m2", "adam", [1] * 4)
             + _solved("M", "m2", "sgd", [0] * 4))
    # cannot tell: differences (+1, -1, 0, 0) on one problem; sgd lacks init 3, so that
    # pair does not count
    rows += (_solved("C", "c1", "lm", [1, 0, 1, 0]) + _solved("C", "c1", "adam", [0, 1, 1, 0])
             + _solved("C", "c1", "sgd", [0, 0, 0]))
    table = sm.verdict_map(pd.DataFrame(rows), second_order="lm", rivals=["sgd", "adam"],
                           resamples=500).set_index("family")
    assert table["verdict"].to_dict() == {"C": "cannot tell", "F": "fails", "H": "holds",
                                          "M": "mixed"}
    h = table.loc["H"]
    assert (h.pairs, h.problems, h.lm_rate, h.best_rival, h.best_rival_rate) == \
        (8, 2, 1.0, "adam", 0.0)
    assert (h.difference, h.ci_low, h.ci_high, h.problems_better) == (1.0, 1.0, 1.0, 2)
    f = table.loc["F"]
    assert (f.best_rival, f.difference, f.ci_high, f.problems_worse) == ("adam", -1.0, -1.0, 2)
    m = table.loc["M"]
    assert (m.difference, m.ci_low, m.ci_high) == (0.0, 0.0, 0.0)  # strata keep their pairs
    assert (m.problems_better, m.problems_worse, m.best_rival_rate) == (1, 1, 0.5)
    c = table.loc["C"]
    assert c.pairs == 3 and c.difference == 0.0 and c.ci_low < 0 < c.ci_high
    per_problem = sm.verdict_map(pd.DataFrame(rows), second_order="lm",
                                 rivals=["adam", "sgd"], by=("problem", "size"), resamples=200)
    assert per_problem.set_index("problem").loc[["m1", "m2"], "verdict"].tolist() == \
        ["holds", "fails"]
    with pytest.raises(ValueError, match="no fits of the arm"):
        sm.verdict_map(pd.DataFrame(rows), second_order="lm", rivals=["rmsprop"])
    with pytest.raises(ValueError, match="its own rival"):
        sm.verdict_map(pd.DataFrame(rows), second_order="lm", rivals=["lm"])


def test_verdict_changes_names_the_budget():
    table = pd.DataFrame({
        "family": ["G"] * 3 + ["K"] * 2, "size": 4, "tolerance": "t",
        "budget_s": [10.0, 0.1, 1.0, 0.1, 1.0],
        "verdict": ["holds", "fails", "cannot tell", "fails", "fails"]})
    out = sm.verdict_changes(table).set_index("family")
    assert out.loc["G", "path"] == "fails (0.1 s) -> cannot tell (1 s) -> holds (10 s)"
    assert out.loc["G", "changes_at_s"] == 1.0
    assert (out.loc["G", "smallest_budget"], out.loc["G", "largest_budget"]) == \
        ("fails", "holds")
    assert out.loc["K", "path"] == "fails (0.1 s)" and math.isnan(out.loc["K", "changes_at_s"])
