"""The verdict's words and table from tidy outcomes: known values by hand, the
families and their adjustments, ties, missing fits, and agreement with the power
simulation's vectorised path."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from secondorder.pipeline import inference as inf
from secondorder.pipeline import power as pw
from secondorder.pipeline import verdict as vd

CELL = {"family": "tabular", "size": "small", "budget": 10.0, "tolerance": "+1 row"}


def tidy(rows, **cell):
    """Outcomes from ``(problem, split, init, arm, outcome)`` tuples in one cell."""
    frame = pd.DataFrame(rows, columns=["problem", "split", "init", "arm", "outcome"])
    for column, value in {**CELL, **cell}.items():
        frame[column] = value
    return frame


def by_hand():
    """Problem A: 3 splits of 2 inits, LM ahead of r1 by 1, 2, 3 on average; problem
    B: one split, LM ahead by 10. r2 ties LM everywhere."""
    rows = []
    for split, (first, second) in enumerate([(0.5, 1.5), (2.0, 2.0), (3.0, 3.0)]):
        for init, lead in enumerate((first, second)):
            rows += [("A", split, init, "lm", 20.0 + lead), ("A", split, init, "r1", 20.0),
                     ("A", split, init, "r2", 20.0 + lead)]
    for init, lead in enumerate((9.0, 11.0)):
        rows += [("B", 0, init, "lm", lead), ("B", 0, init, "r1", 0.0),
                 ("B", 0, init, "r2", lead)]
    return tidy(rows)


# --- words -----------------------------------------------------------------------------


def test_comparison_words():
    theta = [0.2, -0.2, 0.01, 0.3, 0.0]
    p_adjusted = [0.01, 0.01, 0.5, 0.2, math.nan]
    tost_adjusted = [0.9, 0.9, 0.01, 0.2, math.nan]
    assert vd.comparison_words(theta, p_adjusted, tost_adjusted, 0.05).tolist() == [
        "better", "worse", "equivalent", "cannot tell", "cannot tell"]


@pytest.mark.parametrize("words, word", [
    (["better", "better", "better"], "holds"),
    (["better", "equivalent", "better"], "equivalent"),
    (["equivalent", "equivalent"], "equivalent"),
    (["better", "cannot tell"], "cannot tell"),
    (["equivalent", "cannot tell"], "cannot tell"),
    (["worse", "better", "better"], "fails"),
    (["equivalent", "worse"], "fails"),
])
def test_cell_words(words, word):
    assert vd.cell_words(words) == word


def test_cell_words_per_row_and_unknown_words():
    assert vd.cell_words([["better", "better"], ["better", "worse"]]).tolist() == ["holds",
                                                                                  "fails"]
    with pytest.raises(ValueError, match="unknown word"):
        vd.cell_words(["holds"])


def test_rule_checks_its_settings():
    with pytest.raises(ValueError, match="alpha"):
        vd.Rule(alpha=0.0)
    with pytest.raises(ValueError, match="margin"):
        vd.Rule(margin=-0.1)
    assert vd.Rule(alpha=0.01, q=0.1).level("exploratory") == 0.1
    with pytest.raises(ValueError, match="family"):
        vd.Rule().level("secondary")


# --- the table by hand -----------------------------------------------------------------


def test_paired_differences_orient_by_higher_is_better():
    frame = by_hand()
    up = vd.paired_differences(frame, second_order="lm", rivals=["r1"], higher_is_better=True)
    down = vd.paired_differences(frame, second_order="lm", rivals=["r1"],
                                 higher_is_better=False)
    assert up["difference"].tolist() == [0.5, 1.5, 2.0, 2.0, 3.0, 3.0, 9.0, 11.0]
    assert (down["difference"] == -up["difference"]).all()


def test_compare_by_hand():
    table = vd.compare(by_hand(), rivals=["r1", "r2"], higher_is_better=True,
                       primary=[CELL], rule=vd.Rule(margin=0.5))
    r1, r2 = table.iloc[0], table.iloc[1]
    assert (r1["rival"], r1["hypotheses"], r1["problems"], r1["clusters"], r1["pairs"]) == (
        "r1", "primary", 2, 4, 8)
    # theta = (mean(1, 2, 3) + 10) / 2 = 6, every problem weighing 1/2
    assert r1["theta"] == pytest.approx(6.0)
    assert (r1["second_order_mean"], r1["rival_mean"]) == pytest.approx((16.0, 10.0))
    # weighted cluster means 1/6, 2/6, 3/6, 5: |theta*| >= 6 only for the identity and
    # the full flip of the 16 sign vectors
    assert r1["exact"] and r1["p"] == pytest.approx(2 / 16)
    wc = np.array([1 / 6, 2 / 6, 3 / 6, 5.0])
    flips = [abs(wc @ np.array(s)) >= 6 - 1e-12 for s in itertools.product([-1, 1], repeat=4)]
    assert r1["p"] == pytest.approx(np.mean(flips))
    # Holm over the two: r2 ties (p = 1): 2 x 0.125 = 0.25 for r1
    assert r1["p_adjusted"] == pytest.approx(0.25)
    assert r1["word"] == "cannot tell" and r1["ci_low"] < 0 < r1["ci_high"]
    # a perfect tie over 4 clusters: TOST p = 1/16 > 0.05: cannot tell either
    assert r2["theta"] == 0.0 and r2["tost_p"] == pytest.approx(1 / 16)
    assert r2["word"] == "cannot tell"
    assert vd.cells(table)["word"].tolist() == ["cannot tell"]


def test_a_perfect_tie_is_equivalent_with_enough_clusters_and_cannot_tell_with_two():
    def tie(problems, splits):
        rows = [(f"p{p}", s, i, arm, 0.3) for p in range(problems) for s in range(splits)
                for i in range(3) for arm in ("lm", "r1")]
        return vd.compare(tidy(rows), rivals=["r1"], higher_is_better=True, primary=[CELL])

    many = tie(2, 4)
    assert many["word"].tolist() == ["equivalent"]
    assert (many["ci_low"].iloc[0], many["ci_high"].iloc[0]) == (0.0, 0.0)
    assert vd.cells(many)["word"].tolist() == ["equivalent"]
    two = tie(2, 1)
    assert two["word"].tolist() == ["cannot tell"]
    assert (two["ci_low"].iloc[0], two["ci_high"].iloc[0]) == (-math.inf, math.inf)
    assert two["mde"].iloc[0] == math.inf


def test_missing_fits_drop_pairs_per_rival_and_empty_comparisons_leave_the_family():
    frame = by_hand()
    frame.loc[(frame["arm"] == "r1") & (frame["problem"] == "B"), "outcome"] = math.nan
    frame = frame[~((frame["arm"] == "r2") & (frame["split"] == 0) & (frame["init"] == 0)
                    & (frame["problem"] == "A"))]
    frame = pd.concat([frame, tidy([("A", 0, 0, "r3", math.nan)])], ignore_index=True)
    table = vd.compare(frame, rivals=["r1", "r2", "r3"], higher_is_better=True,
                       primary=[CELL]).set_index("rival")
    # r1: problem B has no complete pair, so A alone (3 clusters)
    assert tuple(table.loc["r1", ["problems", "clusters", "pairs"]]) == (1, 3, 6)
    assert table.loc["r1", "theta"] == pytest.approx(2.0)
    # r2: one pair of A's split 0 gone; the cluster stays with its other init
    assert tuple(table.loc["r2", ["problems", "clusters", "pairs"]]) == (2, 4, 7)
    # r3: no complete pair at all: NaN, cannot tell, out of Holm's count (m = 2)
    assert table.loc["r3", "pairs"] == 0 and math.isnan(table.loc["r3", "p"])
    assert table.loc["r3", "word"] == "cannot tell"
    p = table.loc[["r1", "r2"], "p"].to_numpy()
    assert table.loc[["r1", "r2"], "p_adjusted"].tolist() == pytest.approx(inf.holm(p).tolist())


def test_families_are_adjusted_apart():
    rng = np.random.default_rng(0)
    rows = []
    for budget in (1.0, 3.0, 10.0):
        for p in range(3):
            for s in range(6):
                shift = rng.normal(0.1, 0.2)
                for i in range(2):
                    rows += [(f"p{p}", s, i, "lm", shift + rng.normal(), budget),
                             (f"p{p}", s, i, "r1", rng.normal(), budget),
                             (f"p{p}", s, i, "r2", rng.normal(), budget)]
    frame = pd.DataFrame(rows, columns=["problem", "split", "init", "arm", "outcome",
                                        "budget"])
    for column in ("family", "size", "tolerance"):
        frame[column] = CELL[column]
    table = vd.compare(frame, rivals=["r1", "r2"], higher_is_better=True,
                       primary=[{"budget": 10.0}], rule=vd.Rule(resamples=999))
    primary = table[table["hypotheses"] == "primary"]
    exploratory = table[table["hypotheses"] == "exploratory"]
    assert primary["budget"].unique().tolist() == [10.0] and len(exploratory) == 4
    assert primary["p_adjusted"].tolist() == pytest.approx(inf.holm(primary["p"]).tolist())
    assert exploratory["p_adjusted"].tolist() == pytest.approx(
        inf.benjamini_hochberg(exploratory["p"]).tolist())
    assert exploratory["tost_p_adjusted"].tolist() == pytest.approx(
        inf.benjamini_hochberg(exploratory["tost_p"]).tolist())
    words = vd.cells(table)
    assert len(words) == 3 and set(words["hypotheses"]) == {"primary", "exploratory"}


def test_the_interval_excludes_zero_exactly_when_the_word_is_better_or_worse():
    values = pw.simulate(pw.Design(3, 6, 2, rivals=3, cells=4), pw.ContinuousOutcome(), 0.1,
                         1, np.random.default_rng(7))[0]
    rows = []
    for cell, p, s, i, a in itertools.product(*map(range, values.shape)):
        rows.append({"cell": cell, "problem": p, "size": 0, "split": s, "init": i,
                     "arm": ("lm", "r1", "r2", "r3")[a], "outcome": values[cell, p, s, i, a]})
    table = vd.compare(pd.DataFrame(rows), rivals=["r1", "r2", "r3"], higher_is_better=True,
                       cell=["cell", "size"], primary=[{"cell": 0}, {"cell": 1}],
                       rule=vd.Rule(resamples=2000))
    decided = table["word"].isin(["better", "worse"])
    excludes = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    assert (decided == excludes).all()
    assert 0 < decided.sum() < len(table)  # both kinds occur
    assert ((table["ci_low"] <= table["theta"]) & (table["theta"] <= table["ci_high"])).all()
    assert (table["interval_level"] >= 0.95).all()


def test_the_table_path_and_the_power_path_give_the_same_words():
    design, outcome = pw.Design(3, 5, 3, rivals=3, cells=2), pw.BinaryOutcome()
    rule = vd.Rule(resamples=1000)
    for seed in range(3):
        values = pw.simulate(design, outcome, 0.2, 1, np.random.default_rng(seed))
        vectorised = pw.judge(values, higher_is_better=True, rule=rule)
        frame = pw.simulate_outcomes(design, outcome, 0.2, seed=seed)
        table = vd.compare(frame, rivals=design.arms[1:], higher_is_better=True,
                           cell=["cell", "size"], primary=[{"cell": 0}, {"cell": 1}],
                           rule=rule)
        assert table["p"].tolist() == pytest.approx(vectorised["p"].ravel().tolist())
        assert table["word"].tolist() == vectorised["word"].ravel().tolist()
        assert table["mde"].tolist() == pytest.approx(vectorised["mde"].ravel().tolist())
        assert (vd.cells(table, cell=["cell", "size"])["word"].tolist()
                == vectorised["cell_word"].ravel().tolist())


# --- refusals --------------------------------------------------------------------------


def test_compare_refuses_what_it_cannot_read():
    frame = by_hand()
    with pytest.raises(ValueError, match="more than one row"):
        vd.compare(pd.concat([frame, frame.iloc[:1]]), rivals=["r1"], higher_is_better=True)
    with pytest.raises(ValueError, match="no row of the arm"):
        vd.compare(frame, rivals=["adam"], higher_is_better=True)
    with pytest.raises(ValueError, match="rival other than"):
        vd.compare(frame, rivals=["lm"], higher_is_better=True)
    with pytest.raises(ValueError, match="not cell columns"):
        vd.compare(frame, rivals=["r1"], higher_is_better=True, primary=[{"arm": "lm"}])
    with pytest.raises(ValueError, match="not in the outcomes"):
        vd.compare(frame, rivals=["r1"], higher_is_better=True, primary=[{"budget": 3.0}])
    with pytest.raises(ValueError, match="clash"):
        vd.compare(frame.assign(word="x"), rivals=["r1"], higher_is_better=True,
                   cell=["word"])
    mixed = frame.copy()
    mixed.loc[mixed["split"] == 2, "size"] = "large"
    with pytest.raises(ValueError, match="several sizes"):
        vd.compare(mixed, rivals=["r1"], higher_is_better=True,
                   cell=["family", "budget", "tolerance"])
