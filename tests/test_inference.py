"""The statistics of the suite's verdict: the sign-flip test, its interval and
equivalence test, the adjustments, the cluster bootstrap against values computed by
hand; then the rule as a whole by simulation: its error rates when the arms are equal
(against the nominal rate, and against the old rule that exceeded it) and its power
when LM is planted better."""

import math

import numpy as np
import pytest

from secondorder.pipeline import inference as inf
from secondorder.pipeline import power as pw
from secondorder.pipeline import verdict as vd

# --- clusters and weights --------------------------------------------------------------


def test_a_problem_with_three_splits_weighs_as_one_with_one():
    # problem A: splits with mean differences 1, 2, 3 (two inits each); problem B: one
    # split, mean 10. theta = (mean(1, 2, 3) + 10) / 2 = 6, not the pooled mean 4.
    d = [0.5, 1.5, 2.0, 2.0, 3.0, 3.0, 9.0, 11.0]
    problem = ["A"] * 6 + ["B"] * 2
    split = [0, 0, 1, 1, 2, 2, 0, 0]
    c = inf.clusters(d, problem, split)
    assert c.means.tolist() == [1.0, 2.0, 3.0, 10.0]
    assert c.weights.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])
    assert c.theta == pytest.approx(6.0)
    assert (c.n_problems, c.n_clusters, c.n_pairs) == (2, 4, 8)


def test_incomplete_pairs_and_empty_clusters_drop_out():
    # NaN: a pair without both fits. Split 1 of A has none complete, problem C none.
    d = [1.0, math.nan, math.nan, 3.0, math.nan]
    c = inf.clusters(d, ["A", "A", "A", "B", "C"], [0, 0, 1, 0, 0])
    assert c.means.tolist() == [1.0, 3.0]
    assert c.weights.tolist() == [0.5, 0.5]
    assert c.pairs.tolist() == [1, 1]
    empty = inf.clusters([math.nan], ["A"], [0])
    assert empty.n_clusters == 0 and math.isnan(empty.theta)


def test_clusters_refuse_infinite_differences_and_ragged_labels():
    with pytest.raises(ValueError, match="infinite"):
        inf.clusters([1.0, math.inf], ["A", "A"], [0, 1])
    with pytest.raises(ValueError, match="one label per difference"):
        inf.clusters([1.0, 2.0], ["A"], [0])


# --- the sign-flip test by hand --------------------------------------------------------


def test_exact_enumeration_lists_every_sign_vector_once():
    signs, exact = inf.sign_flips(4, 16)
    assert exact and signs.shape == (16, 4)
    assert len({tuple(row) for row in signs.tolist()}) == 16
    drawn, exact = inf.sign_flips(5, 16, seed=1)
    assert not exact and drawn.shape == (16, 5) and set(np.unique(drawn)) == {-1.0, 1.0}


def test_sign_flip_p_values_by_hand():
    # c = (1, 2, 3), equal weights, theta = 2. The 8 flipped sums (times 3):
    # 6, 0, 2, -4, 4, -2, 0, -6: |sum| >= 6 twice, so p = 2/8; sum >= 6 once: 1/8.
    c, w = [1.0, 2.0, 3.0], [1 / 3] * 3
    assert inf.sign_flip_test(c, w) == 0.25
    assert inf.sign_flip_test(c, w, alternative="greater") == 0.125
    assert inf.sign_flip_test(c, w, alternative="less") == 1.0
    # H0: theta = 2 (means shifted to -1, 0, 1): theta* = 0 always ties: p = 1
    assert inf.sign_flip_test(c, w, null=2.0) == 1.0
    test = inf.SignFlip(c, w)
    assert test.exact and test.smallest_p == 0.25


def test_exact_enumeration_and_monte_carlo_agree():
    rng = np.random.default_rng(0)
    means = rng.normal(0.4, 1.0, size=(20, 14))
    weights = rng.random(14)
    weights /= weights.sum()
    exact = inf.SignFlip(means, weights, resamples=2**14)
    drawn = inf.SignFlip(means, weights, resamples=16_000, seed=3)
    assert exact.exact and not drawn.exact
    p_exact, p_drawn = exact.p_value(), drawn.p_value()
    se = np.sqrt(p_exact * (1 - p_exact) / 16_000) + 1 / 16_000
    assert (np.abs(p_drawn - p_exact) <= 4 * se).all(), (p_exact, p_drawn)
    assert np.ptp(p_exact) > 0.3  # the datasets span small and large p-values


def test_monte_carlo_p_value_is_never_zero():
    test = inf.SignFlip(np.full(30, 5.0), np.full(30, 1 / 30), resamples=999)
    assert test.p_value() == pytest.approx(1 / 1000)


# --- the inverted interval -------------------------------------------------------------


@pytest.mark.parametrize("resamples", [4096, 3000])  # exact (12 clusters), drawn
def test_interval_contains_theta_and_excludes_zero_iff_p_below_alpha(resamples):
    rng = np.random.default_rng(1)
    means = rng.normal(rng.normal(0, 0.5, (300, 1)), 1.0, size=(300, 12))
    weights = rng.random(12) + 0.2
    weights /= weights.sum()
    test = inf.SignFlip(means, weights, resamples=resamples, seed=4)
    p = test.p_value()
    for alpha in (0.05, 0.01, 0.2):
        low, high = test.interval(alpha)
        assert ((low <= test.theta) & (test.theta <= high)).all()
        excludes = (low > 0) | (high < 0)
        assert (excludes == (p < alpha)).all()
        assert 0.05 < excludes.mean() < 0.95  # both outcomes occur
        # just inside the ends the test does not reject, just outside it does
        step = 1e-7 * (np.abs(low) + np.abs(high) + 1)
        assert (test.p_value(low + step) >= alpha).all()
        assert (test.p_value(low - step) < alpha).all()
        assert (test.p_value(high - step) >= alpha).all()
        assert (test.p_value(high + step) < alpha).all()


def test_interval_of_a_tie_is_a_point_with_enough_clusters_and_the_line_with_two():
    low, high = inf.SignFlip(np.zeros(8), np.full(8, 1 / 8)).interval(0.05)
    assert (low, high) == (0.0, 0.0)
    low, high = inf.SignFlip(np.zeros(2), [0.5, 0.5]).interval(0.05)
    assert (low, high) == (-math.inf, math.inf)


# --- equivalence -----------------------------------------------------------------------


def test_tost_on_a_perfect_tie_needs_enough_clusters():
    # a tie shifted by the margin: only the identity is as extreme, p = 2^-K
    many = inf.SignFlip(np.zeros(8), np.full(8, 1 / 8))
    assert many.tost(0.05) == pytest.approx(2**-8)
    two = inf.SignFlip(np.zeros(2), [0.5, 0.5])
    assert two.tost(0.05) == 0.25
    assert vd.comparison_words(0.0, 1.0, many.tost(0.05), 0.05) == "equivalent"
    assert vd.comparison_words(0.0, 1.0, two.tost(0.05), 0.05) == "cannot tell"


def test_tost_rejects_only_inside_the_margin():
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 0.02, 16)
    w = np.full(16, 1 / 16)
    inside = inf.SignFlip(0.01 + noise - noise.mean(), w)
    outside = inf.SignFlip(0.2 + noise - noise.mean(), w)
    assert inside.tost(0.1) < 0.01
    assert outside.tost(0.1) > 0.5
    with pytest.raises(ValueError, match="margin"):
        inside.tost(-1.0)


# --- the smallest detectable difference ------------------------------------------------


def test_mde_by_hand_and_infinite_where_the_test_cannot_reject():
    c = np.array([0.1, -0.2, 0.3, 0.0, 0.2, -0.1, 0.4, 0.1])
    w = np.full(8, 1 / 8)
    test = inf.SignFlip(c, w)
    se = math.sqrt(((c / 8) ** 2).sum())
    assert float(test.null_se) == pytest.approx(se)
    # z_0.975 + z_0.8 = 1.959964 + 0.841621
    assert float(test.mde(0.05)) == pytest.approx((1.959964 + 0.841621) * se, rel=1e-5)
    assert float(test.mde(0.005)) == math.inf  # 2 / 2^8 = 0.0078 >= 0.005
    assert float(inf.SignFlip([1.0, 2.0], [0.5, 0.5]).mde(0.05)) == math.inf


# --- the cluster bootstrap -------------------------------------------------------------


def test_cluster_bootstrap_interval_matches_the_cluster_standard_error():
    rng = np.random.default_rng(3)
    problems, splits, inits = 4, 30, 3
    split_means = rng.normal(0.2, 0.5, (problems, splits))
    d = (split_means[..., None] + rng.normal(0, 0.3, (problems, splits, inits))).ravel()
    problem = np.repeat(np.arange(problems), splits * inits)
    split = np.tile(np.repeat(np.arange(splits), inits), problems)
    theta, low, high = inf.cluster_bootstrap_interval(d, problem, split, resamples=4000)
    c = inf.clusters(d, problem, split)
    assert theta == pytest.approx(c.theta)
    assert low < theta < high
    # stratified cluster SE: sqrt(sum_p var_s(c_ps) / S_p) / P
    by_problem = c.means.reshape(problems, splits)
    se = math.sqrt((by_problem.var(axis=1, ddof=1) / splits).sum()) / problems
    assert (high - low) / (2 * 1.959964) == pytest.approx(se, rel=0.15)
    assert inf.cluster_bootstrap_interval(np.ones(6), [0] * 6, [0, 0, 1, 1, 2, 2])[1:] == (1.0, 1.0)
    assert math.isnan(inf.cluster_bootstrap_interval([math.nan], [0], [0])[0])


# --- adjustments by hand ---------------------------------------------------------------


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> running
    # max 0.02, 0.03, 0.06, 0.06
    assert inf.holm([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert inf.holm([0.6, 0.7]).tolist() == [1.0, 1.0]
    assert inf.holm([0.6, 0.7], clip=False).tolist() == pytest.approx([1.2, 1.2])
    # NaN: no data, out of the family (m = 2)
    out = inf.holm([0.01, math.nan, 0.03])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.03)
    # rows are separate families
    assert np.allclose(inf.holm([[0.01, 0.04], [0.2, 0.01]]), [[0.02, 0.04], [0.2, 0.02]])


def test_benjamini_hochberg_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4/1, 4/2, 4/3, 4/4: 0.02, 0.02, 0.04, 0.04
    assert inf.benjamini_hochberg([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx(
        [0.02, 0.04, 0.04, 0.02])
    # step-up: 0.5 * 4/4 = 0.5; 0.03 * 4/3 = 0.04; 0.02 * 2 = 0.04; 0.01 * 4 = 0.04
    assert inf.benjamini_hochberg([0.01, 0.02, 0.03, 0.5]).tolist() == pytest.approx(
        [0.04, 0.04, 0.04, 0.5])
    out = inf.benjamini_hochberg([0.04, math.nan])
    assert out[0] == pytest.approx(0.04) and math.isnan(out[1])


def test_adjusted_level_is_the_threshold_that_decides_each_test():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    level = inf.adjusted_level(p, inf.holm(p, clip=False), 0.05)
    # Holm's thresholds alpha/3 for 0.01, alpha/2 for 0.03, alpha/4 for 0.005; 0.04 is
    # judged with 0.03's step (0.06): 0.05 * 0.04 / 0.06
    assert level.tolist() == pytest.approx([0.05 / 3, 0.05 * 0.04 / 0.06, 0.05 / 2, 0.05 / 4])
    assert ((p < level) == (inf.holm(p) < 0.05)).all()
    bh = inf.adjusted_level(p, inf.benjamini_hochberg(p, clip=False), 0.05)
    assert ((p < bh) == (inf.benjamini_hochberg(p) < 0.05)).all()


# --- the rule by simulation: error rates with equal arms -------------------------------

ALPHA = 0.05
RULE = vd.Rule(alpha=ALPHA, resamples=2000)
REPS = 800

#: One direction of a two-sided family-wise test: at most alpha / 2, plus 3 Monte-Carlo
#: standard errors.
NULL_BOUND = ALPHA / 2 + 3 * math.sqrt(ALPHA / 2 * (1 - ALPHA / 2) / REPS)

NULL_CASES = [
    # few clusters: the test can hardly (or never) reject
    (pw.Design(2, 1, 3), pw.BinaryOutcome(base=0.5)),
    (pw.Design(3, 2, 5), pw.BinaryOutcome(base=0.5, interaction_sd=1.0)),
    # many clusters, several base rates (tolerances), with and without an arm x split
    # interaction, one and two cells
    (pw.Design(4, 10, 5), pw.BinaryOutcome(base=0.2, interaction_sd=0.0)),
    (pw.Design(4, 10, 5), pw.BinaryOutcome(base=0.5, interaction_sd=1.0)),
    (pw.Design(4, 10, 5, cells=2), pw.BinaryOutcome(base=0.8, interaction_sd=0.5)),
    (pw.Design(6, 15, 4), pw.BinaryOutcome(base=0.5, split_sd=2.0, interaction_sd=1.0)),
    (pw.Design(4, 10, 5), pw.ContinuousOutcome(icc=0.0)),
    (pw.Design(6, 15, 4, cells=2), pw.ContinuousOutcome(icc=0.6)),
]


@pytest.mark.parametrize("design, outcome", NULL_CASES,
                         ids=[f"{d.label()}-{type(o).__name__}-{i}"
                              for i, (d, o) in enumerate(NULL_CASES)])
def test_with_equal_arms_fails_and_holds_stay_at_the_nominal_rate(design, outcome):
    rates = pw.power(design, outcome, 0.0, rule=RULE, reps=REPS, seed=11)
    assert rates["fails"] <= NULL_BOUND, rates
    assert rates["holds"] <= NULL_BOUND, rates
    assert rates["worse"] <= NULL_BOUND and rates["better"] <= NULL_BOUND, rates


def old_rule(values, rng, resamples=1000, level=0.95):
    """The rule of main ab0cf2f on simulated outcomes of one cell: the best rival by
    success rate picked on the pairs it is then compared with, pairs resampled as
    independent within each problem (percentile interval); ``fails`` when the
    interval lies below 0, ``holds`` above."""
    reps, _, problems, splits, inits, _ = values.shape
    y = values[:, 0].reshape(reps, problems, splits * inits, -1)
    best = 1 + np.argmax(y[..., 1:].mean(axis=(1, 2)), axis=-1)
    d = y[..., 0] - np.take_along_axis(y, best[:, None, None, None], axis=-1)[..., 0]
    draws = rng.integers(0, splits * inits, size=(reps, resamples, problems, splits * inits))
    boot = d[np.arange(reps)[:, None, None, None], np.arange(problems)[None, None, :, None],
             draws].mean(axis=(2, 3))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return float(np.mean(high < 0)), float(np.mean(low > 0))


@pytest.mark.parametrize("design", [pw.Design(2, 1, 5), pw.Design(3, 2, 5)])
def test_the_old_rule_exceeds_the_nominal_rate_where_the_new_one_does_not(design):
    """The failure mode of issue 24 reproduced: with an arm x split interaction and
    equal arms, the old rule says "fails" far above 2.5%; the new one, on the same
    outcomes, does not."""
    rng = np.random.default_rng(21)
    reps = 400
    values = pw.simulate(design, pw.BinaryOutcome(interaction_sd=1.0), 0.0, reps, rng)
    bound = ALPHA / 2 + 3 * math.sqrt(ALPHA / 2 * (1 - ALPHA / 2) / reps)
    old_fails, _ = old_rule(values, rng)
    new = pw.judge(values, higher_is_better=True, rule=RULE)["cell_word"]
    assert old_fails > bound, old_fails
    assert np.mean(new == "fails") <= bound


def test_flipping_pairs_as_if_independent_exceeds_the_nominal_rate():
    """The same rule with every (split, init) pair its own cluster, on outcomes whose
    inits share a split-level arm effect: "fails" far above 2.5%; flipping whole
    splits, as the rule does, stays at it. The null simulation can tell the two."""
    design = pw.Design(4, 5, 5)
    values = pw.simulate(design, pw.ContinuousOutcome(icc=0.5), 0.0, REPS,
                         np.random.default_rng(3))
    reps, cells, problems, splits, inits, arms = values.shape
    as_pairs = values.reshape(reps, cells, problems, splits * inits, 1, arms)
    naive = pw.judge(as_pairs, higher_is_better=True, rule=RULE)["cell_word"]
    clustered = pw.judge(values, higher_is_better=True, rule=RULE)["cell_word"]
    assert np.mean(naive == "fails") > NULL_BOUND
    assert np.mean(clustered == "fails") <= NULL_BOUND


# --- the rule by simulation: power with LM planted better ------------------------------


def test_a_planted_difference_is_detected_at_the_stated_power():
    """The power the power function states (vectorised) is what the verdict's own
    table path (tidy outcomes -> compare) achieves on fresh replicates, within
    Monte-Carlo error."""
    design, outcome, effect = pw.Design(4, 10, 5), pw.BinaryOutcome(), 0.15
    rule = vd.Rule(resamples=1000)
    stated = pw.power(design, outcome, effect, rule=rule, reps=600, seed=1)["better"]
    assert 0.3 < stated < 0.95  # neither trivial nor saturated
    reps = 60
    detected = []
    for seed in range(1000, 1000 + reps):
        table = vd.compare(pw.simulate_outcomes(design, outcome, effect, seed=seed),
                           rivals=design.arms[1:], higher_is_better=True,
                           cell=["cell", "size"], primary=[{"cell": 0}], rule=rule)
        detected.append(np.mean(table["word"] == "better"))
    # the rivals of one replicate share LM's fits: the replicate is the unit
    se = math.sqrt(stated * (1 - stated) / 600 + np.var(detected, ddof=1) / reps)
    assert np.mean(detected) >= stated - 3 * se, (np.mean(detected), stated)
    assert np.mean(detected) <= stated + 3 * se, (np.mean(detected), stated)


def test_power_grows_with_the_effect_and_the_planned_mde_reaches_the_target():
    design, outcome = pw.Design(4, 10, 5), pw.ContinuousOutcome()
    rule = vd.Rule(resamples=1000)
    table = pw.power_table({"c": design}, outcome, [0.0, 0.05, 0.1, 0.2], rule=rule,
                           reps=300, seed=2)
    assert (np.diff(table["better"]) >= 0).all() and table["better"].iloc[-1] > 0.95
    mde = pw.planned_mde(design, outcome, rule=rule, reps=300, seed=2)
    assert pw.power(design, outcome, mde, rule=rule, reps=300, seed=2)["better"] >= 0.8
    assert pw.power(design, outcome, mde - 0.01, rule=rule, reps=300, seed=2)["better"] < 0.8
    # normal approximation: SE of theta = sd sqrt(icc + (1 - icc) / inits) / sqrt(K);
    # Holm over 3 at the first step: z_{1 - 0.05/6} + z_0.8
    se = 0.3 * math.sqrt(0.3 + 0.7 / 5) / math.sqrt(40)
    assert mde == pytest.approx((2.394 + 0.842) * se, rel=0.2)
    assert pw.planned_mde(pw.Design(2, 1, 3), outcome, rule=rule, reps=50) == math.inf


def test_binary_simulation_has_the_planted_marginal_rates():
    outcome = pw.BinaryOutcome(base=0.3, split_sd=1.0, interaction_sd=0.5)
    values = pw.simulate(pw.Design(5, 20, 10), outcome, 0.2, 40, np.random.default_rng(4))
    rates = values.mean(axis=(0, 1, 2, 3, 4))
    assert rates[0] == pytest.approx(0.5, abs=0.01)
    assert rates[1:] == pytest.approx([0.3] * 3, abs=0.01)
    with pytest.raises(ValueError, match="base"):
        pw.simulate(pw.Design(2, 1, 1), outcome, 0.8, 1, np.random.default_rng(0))


def test_continuous_simulation_has_the_stated_difference_sd_and_icc():
    outcome = pw.ContinuousOutcome(sd_difference=0.3, icc=0.3)
    values = pw.simulate(pw.Design(10, 50, 8, rivals=1), outcome, 0.1, 20,
                         np.random.default_rng(5))
    d = values[..., 0] - values[..., 1]  # reps, cells, P, S, I
    assert d.mean() == pytest.approx(0.1, abs=0.01)
    assert d.std() == pytest.approx(0.3, rel=0.03)
    split_share = d.mean(axis=-1).var() - d.var(axis=-1, ddof=1).mean() / 8
    assert split_share / d.var() == pytest.approx(0.3, abs=0.04)


def test_the_power_command_prints_its_table(capsys):
    table = pw.main(["--design", "slice=2x1x3", "--design", "c=4x10x5", "--effects", "0.3",
                     "--outcomes", "continuous", "--cells", "1", "--reps", "60",
                     "--mde-reps", "40", "--resamples", "300"])
    out = capsys.readouterr().out
    assert "slice: 2 x 1 x 3" in out and "c: 4 x 10 x 5" in out
    assert table["mde_80"].tolist()[0] == math.inf and table["mde_80"].tolist()[1] < 0.3
    assert table["0.3"].tolist()[0] == "0.00 (0.00)"
    with pytest.raises(ValueError, match="NAME=PROBLEMSxSPLITSxINITS"):
        pw._design("2x1")
