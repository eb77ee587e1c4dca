"""The verdict on the article's claim, from paired outcomes: one row per cell and named
rival with its effect, interval, p-values before and after the family's adjustment,
smallest detectable difference and word, and one word per cell.

The claim: the second-order arm (LM) should be the default. A *cell* is a group of
problems at one size, budget and tolerance (the ``cell`` columns); in a cell, LM is
compared with *every* named rival on the pairs both completed (no "best rival" is
picked on the pairs it is then compared with: that selection is the winner's curse).
The inference is :mod:`secondorder.pipeline.inference`: differences clustered by split
with every problem weighing the same, the stratified sign-flip randomization test,
its TOST within the margin and its inverted interval.

**Families of hypotheses** (declared before the run; the column ``hypotheses``, as
``family`` names a problem's family, a cell column). The *primary* family: the cells
named by ``primary`` times every rival, tested two-sided with Holm's (1979) adjustment
at ``alpha`` (family-wise error). The *exploratory* family: every other cell times every
rival, with Benjamini and Hochberg's (1995) adjustment at ``q`` (false discovery
rate). The equivalence p-values are adjusted the same way within the same family. The
two claims about one comparison (a difference, an equivalence) test disjoint nulls
(``theta = 0`` and ``|theta| >= margin``), so at most one of them is true (the
partitioning principle, Finner and Strassburger 2002); across the family each kind of
claim has its error rate controlled at the family's level.

**Words**, per (cell, rival), at the family's level ``L`` (``alpha`` or ``q``):

* ``better``: adjusted p ``< L`` and ``theta > 0`` (LM did better);
* ``worse``: adjusted p ``< L`` and ``theta < 0``;
* ``equivalent``: otherwise, the adjusted TOST p ``< L``: ``theta`` shown to lie within
  ``(-margin, margin)``;
* ``cannot tell``: anything else (no pair, too few clusters, a wide interval).

Per cell (the claim "LM should be the default"): ``fails`` if LM is worse than any
rival; ``holds`` if better than every rival; ``equivalent`` if better than or
equivalent to every rival, equivalent to at least one; ``cannot tell`` otherwise.

:func:`compare` is two steps: :func:`paired_tests` (one row and one sign-flip test per
cell and rival) and :func:`decide` (each family adjusted at once, then the words,
intervals and smallest detectable differences). Tables of several calls (other
outcomes, second-order arms, margins) stack before :func:`decide`, so that one family of
hypotheses spans them (:mod:`secondorder.pipeline.suite.verdicts`).

Every comparison row states its interval at ``1 - alpha_adjusted`` (the level its own
test is judged at after the adjustment, :func:`~secondorder.pipeline.inference.adjusted_level`,
so the interval excludes 0 exactly when the word is ``better`` or ``worse``) and the
smallest difference it could have detected at that level with power ``rule.power``.

References: S. Holm (1979), Scand. J. Stat. 6, 65-70. Y. Benjamini and Y. Hochberg
(1995), JRSS B 57, 289-300. D. J. Schuirmann (1987), J. Pharmacokinet. Biopharm. 15,
657-680. H. Finner and K. Strassburger (2002), The partitioning principle: a powerful
tool in multiple decision theory, Ann. Stat. 30, 1194-1213. X. Bouthillier et al.
(2021), Accounting for variance in machine learning benchmarks, MLSys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from secondorder.pipeline import inference

#: A pair: what every arm shares (the problem, its size, the split, the initial weights).
PAIR = ["problem", "size", "split", "init"]

#: The default cell: a group of problems at one size, budget and tolerance.
CELL = ("family", "size", "budget", "tolerance")

#: The words of one comparison, from LM's side.
WORDS = ("better", "equivalent", "cannot tell", "worse")

#: The words of one cell on the claim that LM should be the default.
CELL_WORDS = ("holds", "equivalent", "cannot tell", "fails")

#: The families of hypotheses and their adjustments.
FAMILIES = {"primary": "holm", "exploratory": "bh"}


@dataclass(frozen=True)
class Rule:
    """The settings of the decision rule, fixed before the run.

    ``alpha``: family-wise error rate of the primary family (Holm, two-sided);
    ``q``: false discovery rate of the exploratory family (Benjamini-Hochberg);
    ``margin``: the equivalence margin, in the outcome's units; ``power``: the power at
    which the smallest detectable difference is stated; ``resamples``, ``seed``: the
    sign vectors (:func:`~secondorder.pipeline.inference.sign_flips`; exact enumeration
    when ``2^K <= resamples``)."""

    alpha: float = 0.05
    q: float = 0.05
    margin: float = 0.05
    power: float = 0.8
    resamples: int = 10_000
    seed: int = 0

    def __post_init__(self):
        for name in ("alpha", "q", "power"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must lie in (0, 1), got {getattr(self, name)!r}")
        if not self.margin >= 0:
            raise ValueError(f"margin must be >= 0, got {self.margin!r}")
        if int(self.resamples) < 1:
            raise ValueError(f"resamples must be >= 1, got {self.resamples!r}")

    def level(self, family: str) -> float:
        """The error rate a family is controlled at: ``alpha`` or ``q``."""
        return {"primary": self.alpha, "exploratory": self.q}[_family(family)]


def _family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {list(FAMILIES)}, got {family!r}")
    return family


def comparison_words(theta, p_adjusted, tost_adjusted, level) -> np.ndarray:
    """The word of each comparison (arrays, broadcast): ``better`` / ``worse`` where the
    adjusted p ``< level`` with ``theta`` above / below 0, else ``equivalent`` where
    the adjusted TOST p ``< level``, else ``cannot tell`` (also for NaN p-values)."""
    theta = np.asarray(theta, dtype=float)
    p_adjusted = np.asarray(p_adjusted, dtype=float)
    tost_adjusted = np.asarray(tost_adjusted, dtype=float)
    with np.errstate(invalid="ignore"):
        significant = p_adjusted < level
        return np.select([significant & (theta > 0), significant & (theta < 0),
                          tost_adjusted < level],
                         ["better", "worse", "equivalent"], "cannot tell")


def cell_words(words, axis: int = -1) -> np.ndarray:
    """The word of each cell from its comparisons' words along ``axis`` (one per
    rival): ``fails`` if any is ``worse``, ``holds`` if all are ``better``,
    ``equivalent`` if all are ``better`` or ``equivalent`` and one is ``equivalent``,
    else ``cannot tell``."""
    words = np.asarray(words)
    unknown = set(np.unique(words).tolist()) - set(WORDS)
    if unknown:
        raise ValueError(f"unknown word(s) {sorted(unknown)}; the words are {list(WORDS)}")
    better, equivalent = words == "better", words == "equivalent"
    return np.select([(words == "worse").any(axis=axis), better.all(axis=axis),
                      (better | equivalent).all(axis=axis) & equivalent.any(axis=axis)],
                     ["fails", "holds", "equivalent"], "cannot tell")


def judge_family(theta, p, tost_p, *, family: str, rule: Rule) -> dict:
    """Adjust one family's p-values (the last axis; leading axes: independent
    families, e.g. simulated replicates) and word them.

    Returns arrays of the shape of ``p``: ``p_adjusted`` (Holm for the primary
    family, Benjamini-Hochberg for the exploratory one), ``tost_p_adjusted`` (the same
    adjustment of the TOST p-values), ``alpha_adjusted`` (the level each test is
    judged at, :func:`~secondorder.pipeline.inference.adjusted_level`) and ``word``
    (:func:`comparison_words` at the family's level). NaN p-values (no pair) are left
    out of the family."""
    adjust = inference.ADJUSTMENTS[FAMILIES[_family(family)]]
    level = rule.level(family)
    p = np.asarray(p, dtype=float)
    unclipped = adjust(p, clip=False)
    p_adjusted = np.minimum(unclipped, 1.0)
    tost_adjusted = adjust(np.asarray(tost_p, dtype=float))
    return {"p_adjusted": p_adjusted, "tost_p_adjusted": tost_adjusted,
            "alpha_adjusted": inference.adjusted_level(p, unclipped, level),
            "word": comparison_words(theta, p_adjusted, tost_adjusted, level)}


# --- from a tidy table of outcomes -----------------------------------------------------


def _require(frame, columns, what):
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {missing}; it has {list(frame.columns)}")


def paired_differences(outcomes: pd.DataFrame, *, second_order: str, rivals,
                       higher_is_better: bool, cell=CELL) -> pd.DataFrame:
    """LM's paired difference with each rival, oriented so that positive means LM did
    better: ``D = LM - rival`` when ``higher_is_better``, else ``rival - LM``.

    ``outcomes``: one row per fit with the :data:`PAIR` columns, the ``cell`` columns,
    ``arm`` and ``outcome`` (NaN: no fit). Returns one row per cell, pair and rival:
    the cell and pair columns, ``rival``, ``second_order_outcome``, ``rival_outcome``
    and ``difference`` (NaN unless both arms have a fit). ValueError for a pair with
    two rows of one arm, an arm absent from the table, or LM among its rivals."""
    cell = list(cell)
    rivals = list(rivals)
    _require(outcomes, list(dict.fromkeys(cell + PAIR)) + ["arm", "outcome"], "outcomes")
    if second_order in rivals or not rivals:
        raise ValueError(f"need at least one rival other than {second_order!r}, got {rivals}")
    absent = sorted(set([second_order, *rivals]) - set(outcomes["arm"]))
    if absent:
        raise ValueError(f"outcomes has no row of the arm(s) {absent}")
    index = list(dict.fromkeys(cell + PAIR))
    mine = outcomes[outcomes["arm"].isin([second_order, *rivals])]
    if mine.duplicated(index + ["arm"]).any():
        raise ValueError("outcomes has more than one row for an arm on a pair (pass one "
                         "grid point per arm)")
    wide = mine.pivot(index=index, columns="arm", values="outcome").reset_index()
    sign = 1.0 if higher_is_better else -1.0
    parts = []
    for rival in rivals:
        part = wide[index].copy()
        part["rival"] = rival
        part["second_order_outcome"] = wide[second_order].astype(float)
        part["rival_outcome"] = wide[rival].astype(float)
        part["difference"] = sign * (part["second_order_outcome"] - part["rival_outcome"])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _primary_cells(keys: pd.DataFrame, primary, cell) -> np.ndarray:
    """Which cells (rows of ``keys``) the declaration ``primary`` names."""
    chosen = np.zeros(len(keys), dtype=bool)
    for declared in primary or ():
        unknown = sorted(set(declared) - set(cell))
        if unknown:
            raise ValueError(f"a primary cell names column(s) {unknown} that are not "
                             f"cell columns {list(cell)}")
        match = np.ones(len(keys), dtype=bool)
        for column, value in declared.items():
            match &= (keys[column] == value).to_numpy()
        if not match.any():
            raise ValueError(f"the declared primary cell {declared} is not in the outcomes")
        chosen |= match
    return chosen


#: The columns :func:`compare` adds to the cell columns.
COLUMNS = ["second_order", "rival", "hypotheses", "problems", "clusters", "pairs",
           "second_order_mean", "rival_mean", "theta", "ci_low", "ci_high", "interval_level",
           "p", "p_adjusted", "alpha_adjusted", "tost_p", "tost_p_adjusted", "margin", "mde",
           "exact", "word"]


def paired_tests(outcomes: pd.DataFrame, *, second_order: str = "lm", rivals,
                 higher_is_better: bool, cell=CELL,
                 rule: Rule = Rule()) -> tuple[pd.DataFrame, list]:
    """The first step of :func:`compare`: one row per cell and rival with its test
    before any adjustment, and the tests themselves
    (:class:`~secondorder.pipeline.inference.SignFlip`, None for a comparison without a
    complete pair), in the rows' order.

    Columns: the cell columns, ``rival``, ``second_order``, ``problems``, ``clusters``,
    ``pairs``, ``theta``, ``second_order_mean``, ``rival_mean``, ``p``, ``tost_p`` (at
    ``rule.margin``), ``margin`` and ``exact`` (see :func:`compare`). Tables of several
    calls (other outcomes, arms or margins) may be stacked and decided together by
    :func:`decide`, so that one family of hypotheses spans them."""
    cell = list(cell)
    clash = sorted(set(cell) & set(COLUMNS))
    if clash:
        raise ValueError(f"cell column(s) {clash} clash with the table's own columns")
    differences = paired_differences(outcomes, second_order=second_order, rivals=rivals,
                                     higher_is_better=higher_is_better, cell=cell)
    rows, tests = [], []
    for key, group in differences.groupby(cell + ["rival"], sort=True, dropna=False):
        complete = group[group["difference"].notna()]
        if (complete.groupby("problem")["size"].nunique() > 1).any():
            raise ValueError(f"cell {dict(zip(cell, key))} holds a problem at several "
                             "sizes; add 'size' to the cell columns")
        grouped = inference.clusters(complete["difference"], complete["problem"],
                                     complete["split"])
        row = {**dict(zip(cell + ["rival"], key)), "second_order": second_order,
               "problems": grouped.n_problems, "clusters": grouped.n_clusters,
               "pairs": grouped.n_pairs, "theta": grouped.theta}
        for arm in ("second_order", "rival"):
            row[f"{arm}_mean"] = grouped.average(complete[f"{arm}_outcome"])
        test = None
        if grouped.n_clusters:
            test = inference.SignFlip(grouped.means, grouped.weights,
                                      resamples=rule.resamples, seed=rule.seed)
        row["p"] = float(test.p_value()) if test else np.nan
        row["tost_p"] = float(test.tost(rule.margin)) if test else np.nan
        row["margin"] = rule.margin
        row["exact"] = bool(test.exact) if test else False
        rows.append(row)
        tests.append(test)
    table = pd.DataFrame(rows)
    if table.empty:
        raise ValueError("outcomes holds no cell")
    return table, tests


def decide(table: pd.DataFrame, tests, *, rule: Rule = Rule()) -> pd.DataFrame:
    """The second step of :func:`compare`: each family of hypotheses (the column
    ``hypotheses``) adjusted at once (:func:`judge_family`, ``rule.alpha`` or
    ``rule.q``), then each comparison's interval and smallest detectable difference at
    the level its own test is judged at. ``table`` and ``tests``: from
    :func:`paired_tests` (several calls' stacked, rows and tests in the same order).
    Returns ``table`` with ``p_adjusted``, ``tost_p_adjusted``, ``alpha_adjusted``,
    ``interval_level``, ``ci_low``, ``ci_high``, ``mde`` and ``word``."""
    _require(table, ["hypotheses", "theta", "p", "tost_p"], "table")
    if len(tests) != len(table):
        raise ValueError(f"need one test per row, got {len(tests)} for {len(table)} rows")
    table = table.reset_index(drop=True).copy()
    for column in ("p_adjusted", "tost_p_adjusted", "alpha_adjusted"):
        table[column] = np.nan
    table["word"] = "cannot tell"
    for family, members in table.groupby("hypotheses").groups.items():
        judged = judge_family(table.loc[members, "theta"], table.loc[members, "p"],
                              table.loc[members, "tost_p"], family=family, rule=rule)
        for column, values in judged.items():
            table.loc[members, column] = values
    table["interval_level"] = 1.0 - table["alpha_adjusted"]
    bounds = [(test.interval(level), test.mde(level, rule.power)) if test else
              ((np.nan, np.nan), np.nan)
              for test, level in zip(tests, table["alpha_adjusted"])]
    table["ci_low"] = [float(b[0][0]) for b in bounds]
    table["ci_high"] = [float(b[0][1]) for b in bounds]
    table["mde"] = [float(b[1]) for b in bounds]
    return table


def compare(outcomes: pd.DataFrame, *, second_order: str = "lm", rivals,
            higher_is_better: bool, cell=CELL, primary=None,
            rule: Rule = Rule()) -> pd.DataFrame:
    """One row per cell and rival: LM against that rival on the pairs both completed
    (:func:`paired_tests`, then the families adjusted and worded by :func:`decide`).

    ``outcomes``: one row per fit (:func:`paired_differences`); ``primary``: the cells
    of the primary family, as a list of dicts of some cell columns and their values
    (``[{"budget": 10.0, "tolerance": "+1 row / +5%"}]`` names every cell at that
    budget and tolerance); None: every cell is exploratory. Within a cell each problem
    must appear at one size (the strata are problems).

    Columns: the cell columns, ``second_order``, ``rival``, ``hypotheses`` (the family
    of hypotheses: ``primary`` or ``exploratory``); ``problems``,
    ``clusters``, ``pairs`` (complete ones); ``second_order_mean`` and ``rival_mean``
    (each arm's outcome averaged with the weights of ``theta``); ``theta``;
    ``ci_low``, ``ci_high`` (the inverted sign-flip test at ``interval_level =
    1 - alpha_adjusted``); ``p`` (two-sided), ``p_adjusted``, ``alpha_adjusted``;
    ``tost_p``, ``tost_p_adjusted``, ``margin``; ``mde`` (the smallest difference
    detectable at ``alpha_adjusted`` with power ``rule.power``); ``exact`` (every sign
    vector enumerated); ``word``. A comparison without a complete pair has NaN numbers,
    counts 0 and the word ``cannot tell``, and is left out of its family's
    adjustment."""
    cell = list(cell)
    table, tests = paired_tests(outcomes, second_order=second_order, rivals=rivals,
                                higher_is_better=higher_is_better, cell=cell, rule=rule)
    table["hypotheses"] = np.where(_primary_cells(table[cell], primary, cell),
                                   "primary", "exploratory")
    return decide(table, tests, rule=rule)[cell + COLUMNS]


def cells(comparisons: pd.DataFrame, cell=CELL) -> pd.DataFrame:
    """One row per cell from :func:`compare`: ``second_order``, ``hypotheses``, ``rivals``
    (count), the count of each word (``better``, ``equivalent``, ``cannot_tell``,
    ``worse``), ``smallest_theta`` (LM's smallest advantage over a rival),
    ``largest_mde`` (the claim needs every comparison, so the largest of their
    smallest detectable differences) and ``word`` (:func:`cell_words`)."""
    cell = list(cell)
    _require(comparisons, cell + ["second_order", "hypotheses", "theta", "mde", "word"],
             "comparisons")
    rows = []
    for key, group in comparisons.groupby(cell + ["second_order"], sort=True, dropna=False):
        words = group["word"].to_numpy()
        rows.append({**dict(zip(cell + ["second_order"], key)),
                     "hypotheses": group["hypotheses"].iloc[0], "rivals": len(group),
                     **{w.replace(" ", "_"): int((words == w).sum()) for w in WORDS},
                     "smallest_theta": float(group["theta"].min()),
                     "largest_mde": float(group["mde"].max()),
                     "word": str(cell_words(words))})
    return pd.DataFrame(rows)
