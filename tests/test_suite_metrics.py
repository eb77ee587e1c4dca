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


# --- grid points -----------------------------------------------------------------------


def _fits(rows):
    return pd.DataFrame(rows, columns=["problem", "size", "arm", "grid_point", "init",
                                       "val_error", "time_s"])


def test_select_grid_point_median_nan_as_inf_and_ties():
    fits = _fits([
        # adam gp0: errors (0.1, 0.2, NaN -> inf), median 0.2; walls median 1
        ("p", 4, "adam", 0, 1, 0.1, 1.0), ("p", 4, "adam", 0, 2, 0.2, 1.0),
        ("p", 4, "adam", 0, 3, NAN, 1.0),
        # adam gp1: errors (0.2, 0.2, 0.1), median 0.2 (tie with gp0); walls median 0.5
        ("p", 4, "adam", 1, 1, 0.2, 2.0), ("p", 4, "adam", 1, 2, 0.2, 0.5),
        ("p", 4, "adam", 1, 3, 0.1, 0.5),
        # adam gp2: the best single fit (0.05) but median inf: not chosen
        ("p", 4, "adam", 2, 1, 0.05, 0.1), ("p", 4, "adam", 2, 2, INF, 0.1),
        ("p", 4, "adam", 2, 3, NAN, 0.1),
        # lm: gp3 and gp1 tie on error and wall -> the lower grid point, 1
        ("p", 4, "lm", 3, 1, 0.3, 1.0), ("p", 4, "lm", 3, 2, 0.3, 1.0),
        ("p", 4, "lm", 1, 1, 0.3, 1.0), ("p", 4, "lm", 1, 2, 0.3, 1.0),
        # sgd: every fit failed; gp0 has no wall times (NaN -> inf), gp1 has 5 s
        ("p", 4, "sgd", 0, 1, NAN, NAN), ("p", 4, "sgd", 0, 2, NAN, NAN),
        ("p", 4, "sgd", 1, 1, INF, 5.0), ("p", 4, "sgd", 1, 2, NAN, 5.0),
        # an even number of inits with one failure: median (0.1 + inf) / 2 = inf
        ("q", 8, "lm", 0, 1, 0.1, 1.0), ("q", 8, "lm", 0, 2, INF, 1.0),
        ("q", 8, "lm", 1, 1, 0.4, 1.0), ("q", 8, "lm", 1, 2, 0.4, 1.0),
    ])
    chosen = sm.select_grid_point(fits)
    got = {(r.problem, r.size, r.arm): (r.grid_point, r.median_val_error)
           for r in chosen.itertuples()}
    assert got == {("p", 4, "adam"): (1, 0.2), ("p", 4, "lm"): (1, 0.3),
                   ("p", 4, "sgd"): (1, INF), ("q", 8, "lm"): (1, 0.4)}
    assert chosen.loc[chosen.arm == "adam", "median_time_s"].item() == 0.5
    assert chosen["n_inits"].tolist() == [3, 2, 2, 2]


def test_select_grid_point_names_missing_columns():
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['time_s'\]"):
        sm.select_grid_point(_fits([]).drop(columns="time_s"))


# --- targets and times -----------------------------------------------------------------


def test_targets_best_finite_error_plus_tolerance():
    fits = pd.DataFrame({"problem": ["p"] * 4 + ["q"] * 2, "size": [4] * 6,
                         "arm": ["lm", "lm", "adam", "adam", "lm", "adam"],
                         "val_error": [0.5, 0.25, NAN, INF, NAN, INF]})
    table = sm.targets(fits, 0.125)
    p = table[table.problem == "p"].iloc[0]
    # best finite error on p: 0.25 (NaN and inf skipped); target 0.25 + 0.125
    assert (p.best_val_error, p.target) == (0.25, 0.375)
    q = table[table.problem == "q"].iloc[0]
    assert math.isnan(q.best_val_error) and math.isnan(q.target)  # nobody finite
    with pytest.raises(ValueError, match="tolerance"):
        sm.targets(fits, -0.01)
    with pytest.raises(ValueError, match="val_error"):
        sm.targets(fits.drop(columns="val_error"), 0.01)


def test_times_to_target():
    fits = pd.DataFrame({"problem": ["p"] * 6 + ["q"], "size": [4] * 7,
                         "arm": ["lm"] * 3 + ["adam"] * 4,
                         "val_error": [0.5, 0.25, 0.375, NAN, INF, 0.38, 0.1],
                         "time_s": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})
    targets = pd.DataFrame({"problem": ["p", "q"], "size": [4, 4], "target": [0.375, NAN]})
    out = sm.times_to_target(fits, targets)
    # 0.375 <= 0.375 reaches (<=), 0.38 does not; NaN errors and a NaN target never do
    assert out["reached"].tolist() == [False, True, True, False, False, False, False]
    assert out["time_to_target_s"].tolist() == [INF, 2.0, 3.0, INF, INF, INF, INF]
    assert out["val_error"].tolist()[:3] == [0.5, 0.25, 0.375]  # fits' columns kept
    with pytest.raises(ValueError, match="no target"):
        sm.times_to_target(fits, targets.iloc[:1])
    bad = fits.assign(time_s=[1.0, NAN, 3.0, 4.0, 5.0, 6.0, 7.0])
    with pytest.raises(ValueError, match="time_s"):
        sm.times_to_target(bad, targets)


def _timed(rows):
    return pd.DataFrame(rows, columns=["problem", "size", "arm", "init", "time_to_target_s"])


def test_instance_times_median_with_failures():
    times = sm.instance_times(_timed([
        # p/4: lm (1, 3, inf) -> 3; adam (2, inf, inf) -> inf (two of three fail)
        ("p", 4, "lm", 1, 1.0), ("p", 4, "lm", 2, 3.0), ("p", 4, "lm", 3, INF),
        ("p", 4, "adam", 1, 2.0), ("p", 4, "adam", 2, INF), ("p", 4, "adam", 3, INF),
        # p/8: lm (1, 2, inf, inf) -> (2 + inf) / 2 = inf (half fail); adam (4, 6) -> 5
        ("p", 8, "lm", 1, 1.0), ("p", 8, "lm", 2, 2.0), ("p", 8, "lm", 3, INF),
        ("p", 8, "lm", 4, INF), ("p", 8, "adam", 1, 4.0), ("p", 8, "adam", 2, 6.0),
    ]))
    assert times.loc[("p", 4), "lm"] == 3.0 and times.loc[("p", 4), "adam"] == INF
    assert times.loc[("p", 8), "lm"] == INF and times.loc[("p", 8), "adam"] == 5.0
    assert times.index.names == ["problem", "size"] and sorted(times.columns) == ["adam", "lm"]


def test_instance_times_rejects_several_grid_points_nan_and_gaps():
    rows = _timed([("p", 4, "lm", 1, 1.0), ("p", 4, "lm", 2, 2.0), ("p", 4, "adam", 1, 1.0)])
    with pytest.raises(ValueError, match="selected grid points"):
        sm.instance_times(rows.assign(grid_point=[0, 1, 0]))
    assert sm.instance_times(rows.assign(grid_point=[0, 0, 3])).loc[("p", 4), "lm"] == 1.5
    with pytest.raises(ValueError, match="NaN"):
        sm.instance_times(rows.assign(time_to_target_s=[1.0, NAN, 1.0]))
    # an arm without fits on an instance does not apply there: NaN, not a failure
    gap = sm.instance_times(pd.concat([rows, _timed([("q", 4, "lm", 1, 1.0)])]))
    assert np.isnan(gap.loc[("q", 4), "adam"]) and gap.loc[("q", 4), "lm"] == 1.0


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


def _verdict_fits():
    rows = []

    def add(family, size, arm, times):
        for i, t in enumerate(times):
            rows.append((f"{family}-problem", family, size, arm, i, math.isfinite(t), t))

    # tabular/4: lm 3/4, median (1, 1, 2, inf) = 1.5; adam 2/4 and sgd 1/4, medians inf
    #   -> rate ok, time ok (1.5 <= inf): holds
    add("tabular", 4, "lm", [1, 1, 2, INF])
    add("tabular", 4, "adam", [1, 1, INF, INF])
    add("tabular", 4, "sgd", [1, INF, INF, INF])
    # tabular/8: both 4/4 (a tie is ok), lm median 3 > adam's 1 -> mixed
    add("tabular", 8, "lm", [3, 3, 3, 3])
    add("tabular", 8, "adam", [1, 1, 1, 1])
    # generated/4: lm 2/4 with median inf, adam 4/4 with 0.5 -> fails
    add("generated", 4, "lm", [1, 1, INF, INF])
    add("generated", 4, "adam", [0.5, 0.5, 0.5, 0.5])
    # generated/8: lm 1/3 >= adam 0/3, but lm's median is inf (both inf): mixed
    add("generated", 8, "lm", [1, INF, INF])
    add("generated", 8, "adam", [INF, INF, INF])
    return pd.DataFrame(rows, columns=["problem", "family", "size", "arm", "init",
                                       "reached", "time_to_target_s"])


def test_verdict_words_and_numbers():
    table = sm.verdict(_verdict_fits()).set_index(["family", "size"])
    assert table["verdict"].to_dict() == {
        ("generated", 4): "fails", ("generated", 8): "mixed",
        ("tabular", 4): "holds", ("tabular", 8): "mixed"}
    row = table.loc[("tabular", 4)]
    assert (row.lm_rate, row.best_rival, row.best_rival_rate) == (0.75, "adam", 0.5)
    # adam and sgd tie on median inf: the first name in sort order
    assert (row.lm_median_time_s, row.fastest_rival, row.fastest_rival_median_time_s) == \
        (1.5, "adam", INF)
    row = table.loc[("tabular", 8)]
    assert (row.rate_ok, row.time_ok, row.fastest_rival_median_time_s) == (True, False, 1.0)
    row = table.loc[("generated", 8)]
    assert (row.rate_ok, row.time_ok) == (True, False)
    assert row.lm_rate == pytest.approx(1 / 3)


def test_verdict_lm_arm_name_and_groups():
    fits = _verdict_fits()
    renamed = fits.assign(arm=fits["arm"].replace({"lm": "LM"}))
    assert sm.verdict(renamed, lm_arm="LM")["verdict"].tolist() == \
        sm.verdict(fits)["verdict"].tolist()
    with pytest.raises(ValueError, match="LM arm 'lm'"):
        sm.verdict(renamed)
    per_problem = sm.verdict(fits, by=("problem", "size"))
    assert len(per_problem) == 4
    with pytest.raises(ValueError, match="family"):
        sm.verdict(fits.drop(columns="family"))
