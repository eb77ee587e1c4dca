"""Beyond the article: every arm from many initial weights, on raw and scaled inputs;
rounding alone; accuracy and time per fit; median curves; decision surfaces."""

from __future__ import annotations

import pandas as pd

from secondorder.article.facts import Unwritable, paragraph
from secondorder.article.page import Figure, Table, bullets, names, pct
from secondorder.optim import arms
from secondorder.optim.first_order import FIRST_ORDER
from secondorder.pipeline import plots, study

HEADING = "Beyond the article: many initial weights"


def describe(r) -> str:
    """``3 of 50 (6.0%, 95% CI 2.1%–16.2%)`` for a row of ``robustness.csv``."""
    return (f"{int(r.successes)} of {int(r.n)} ({pct(r.rate)}, 95% CI "
            f"{pct(r.ci_low)}–{pct(r.ci_high)})")


def loss_twin(facts, arm: str) -> str:
    """The study's arm that is ``arm`` (its config settings) with another ``loss``;
    :class:`Unwritable` when the study has none."""
    settings = facts.arm_settings(arm)
    same = {k: v for k, v in settings.items() if k != "loss"}
    for name in facts.study["arms"]:
        other = facts.arm_settings(name)
        if (name != arm and other.get("loss", settings.get("loss")) != settings.get("loss")
                and {k: v for k, v in other.items() if k != "loss"} == same):
            return name
    raise Unwritable(f"this run's study trains no arm that is `{arm}` with another loss")


def batching(facts, names_) -> tuple[list[str], list[str]]:
    """The arms of ``names_`` whose fits of a study job train as one batch, and those
    that train one fit at a time (the optimizer registry says which:
    :func:`secondorder.optim.arms.batches`)."""
    together = [a for a in names_ if arms.batches(facts.arm_settings(a))]
    return together, [a for a in names_ if a not in together]


def lm_and_adam(facts, lm: str, adam: str) -> list[str]:
    """The article's LM and Adam arms as published (each on the inputs the article gave
    it) and controlled (both on the same inputs)."""
    robust = facts.robustness
    lm_inputs, adam_inputs = (facts.arm_settings(lm)["inputs"],
                              facts.arm_settings(adam)["inputs"])
    lines = []
    a, b = study.rate_of(robust, lm, lm_inputs), study.rate_of(robust, adam, adam_inputs)
    if a is not None and b is not None:
        lines.append(f"As published (LM on {lm_inputs} inputs, Adam on {adam_inputs} "
                     f"ones): LM succeeded from {describe(a)}, Adam from {describe(b)}.")
    for inputs in facts.study["inputs"]:
        a, b = study.rate_of(robust, lm, inputs), study.rate_of(robust, adam, inputs)
        if a is not None and b is not None:
            lines.append(f"Controlled, both on {inputs} inputs: LM {pct(a.rate)}, Adam "
                         f"{pct(b.rate)} ("
                         + {1: "LM ahead, the intervals apart",
                            -1: "Adam ahead, the intervals apart",
                            0: "the intervals overlap: no clear difference"}[
                             study.intervals_apart(a, b)] + ").")
    return lines


def best_first_order(facts, lm: str) -> list[str]:
    """The most reliable first-order arm (by the registry's optimizers) against LM on the
    same inputs: the article's general claim that second-order methods are more
    robust."""
    robust = facts.robustness
    optimizers = {a: facts.arm_settings(a)["optimizer"] for a in robust["arm"].unique()}
    first_order = robust[robust["arm"].map(optimizers).isin(FIRST_ORDER)]
    if first_order.empty:
        return []
    top = study.most_reliable(first_order)
    lm_same = study.rate_of(robust, lm, top.inputs)
    if lm_same is None:
        return []
    apart = study.intervals_apart(lm_same, top)
    return [f"The best first-order arm, `{top.arm}` on {top.inputs} inputs, succeeded from "
            f"{describe(top)}; LM on the same inputs from {describe(lm_same)}. "
            + ("LM is more robust than every first-order arm tried, as the article "
               "suggests." if apart > 0 else
               ("The intervals overlap" if apart == 0 else
                f"`{top.arm}` is ahead, the intervals apart")
               + ": with a suitable setting a first-order method is as reliable as LM "
               "here, so the article's general claim that second-order methods are more "
               "robust is **not** supported; its Adam failure belongs to its settings.")]


def findings(facts) -> str:
    """Bullet points stating the study's results, from ``robustness.csv``."""
    robust, roles = facts.robustness, facts.roles
    lm, adam = roles.arm("lm"), roles.arm("adam")
    best = study.most_reliable(robust)
    lines = [f"Success means at least {pct(facts.study['success_accuracy'])} of all "
             f"points right. The most reliable arm was `{best.arm}` on {best.inputs} "
             f"inputs: {describe(best)} initial weights succeeded.",
             *lm_and_adam(facts, lm, adam), *best_first_order(facts, lm),
             paragraph("This item would check the article's statement that cross-entropy "
                       "gives similar results to the SSQ loss under Adam",
                       lambda: cross_entropy(facts, adam,
                                             facts.arm_settings(adam)["inputs"]))]
    try:
        twin = [loss_twin(facts, adam)]
    except Unwritable:
        twin = []
    for arm in robust["arm"].unique():
        if arm not in (adam, lm, *twin):
            lines.append(f"`{arm}`: " + "; ".join(
                f"{describe(r)} on {r.inputs}"
                for r in robust[robust["arm"] == arm].itertuples()) + ".")
    return bullets(lines)


def cross_entropy(facts, adam: str, inputs: str) -> str:
    """The article's claim that cross-entropy does as well as the SSQ under Adam, against
    the study's Adam arm on the other loss (:func:`loss_twin`)."""
    twin = loss_twin(facts, adam)
    a, b = study.rate_of(facts.robustness, twin, inputs), study.rate_of(
        facts.robustness, adam, inputs)
    if a is None or b is None:
        raise Unwritable(f"this run's study trains `{twin}` or `{adam}` on no {inputs} "
                         "inputs")
    loss, base = facts.arm_settings(twin)["loss"], facts.arm_settings(adam)["loss"]
    return (f"The article says cross-entropy gives similar results to the SSQ loss under "
            f"Adam. Here ({inputs} inputs) `{twin}` ({loss}) succeeded from "
            f"{describe(a)} against {describe(b)} for `{adam}` ({base}): "
            + ("consistent with the claim." if study.intervals_apart(a, b) == 0 else
               "**not** similar; the claim does not hold here."))


def robustness_table(robust: pd.DataFrame) -> pd.DataFrame:
    """``robustness.csv`` for reading: rate with its interval, medians; ``median time
    (s)`` is the median of the fits' own compute (``time_s``), ``median batch
    wall (s)`` that of the wall time of the batches they ran in."""
    return pd.DataFrame({
        "arm": robust["arm"], "inputs": robust["inputs"],
        "successes": [f"{s} / {n}" for s, n in zip(robust["successes"], robust["n"])],
        "rate [95% CI]": [f"{pct(r)} [{pct(lo)}, {pct(hi)}]" for r, lo, hi in
                          zip(robust["rate"], robust["ci_low"], robust["ci_high"])],
        "median accuracy": robust["median_accuracy"].map(pct),
        "median time (s)": robust["median_time_s"].round(2),
        "median batch wall (s)": robust["median_batch_wall_s"].round(2),
    }).set_index(["arm", "inputs"])


def time_note(facts) -> str:
    """What the study's times are, and which arms train their fits as one batch."""
    together, alone = batching(facts, list(facts.robustness["arm"].unique()))
    return ("*median time*: the median over the fits of each fit's own compute, its share "
            "of its batch (each step's seconds split over the fits still running in it), "
            "compilation excluded; *median batch wall*: the median wall time of the "
            "batches they ran in ("
            + (f"{names(together)} train the fits of a study job as one batch" if together
               else "no arm trains its fits as one batch")
            + (f"; {names(alone)} run one fit at a time, so for them the two are equal"
               if alone else "") + ").")


def rounding(facts):
    reordered = facts.study["reordered_arms"]
    yield "### Rounding alone"
    yield ("How much of a count is rounding? "
           + (f"{names(reordered)} {'is' if len(reordered) == 1 else 'are'} trained a "
              "second time from the same seeds on the raw inputs with the training rows "
              "in another order: the same problem, only the order of floating-point sums "
              "differs." if reordered else
              "_This run's study trains no arm on reordered rows (`study.reordered_arms`)._"))
    table = facts.rounding
    if table.empty:
        yield "_No arm was trained on reordered training rows in this run._"
        return
    parts = [f"`{r.arm}`: {r.successes_raw}/{r.n} successes in one order and "
             f"{r.successes_reordered}/{r.n} in the other, {r.flipped} fit(s) changed "
             f"outcome, accuracies moved by up to {100 * r.max_accuracy_change:.1f} points"
             for r in table.itertuples()]
    yield ("Fits are chaotic: the same fits with the training rows summed in another "
           "order (the same problem; only rounding differs, as on another CPU or BLAS) "
           "gave " + "; ".join(parts) + ". Counts from another machine differ by about "
           "this much; compare rates through their intervals.")
    yield Table(table.set_index("arm"), "rounding")


def per_fit(facts):
    fits = facts.study_fits
    together, alone = batching(facts, list(fits["arm"].unique()))
    yield "### Accuracy and time per fit"
    yield Figure("fig_accuracy_distributions",
                 lambda: plots.distributions(fits, "accuracy_all", "accuracy on all points"),
                 "Accuracy on all points of every study fit, per arm, on raw and scaled "
                 "inputs.")
    yield Figure("fig_time_distributions",
                 lambda: plots.distributions(fits, "time_s", plots.TIME_LABEL, log=True),
                 "Seconds per study fit, per arm, on raw and scaled inputs (log scale): "
                 "each fit's own compute, its share of its batch (each step's seconds "
                 "split over the fits still running in it"
                 + (f"; {names(alone)} run one fit at a time: their wall time" if alone
                    else "") + "), compilation excluded.")


def curves(facts):
    other_loss = [a for a in facts.study["arms"]
                  if facts.arm_settings(a).get("loss", "ssq") != "ssq"]
    yield "### Median training curves"
    yield ("The median over initial weights of the training SSQ (bands: quartiles); solid "
           "lines raw inputs, dashed scaled."
           + (f" {names(other_loss)} {'is' if len(other_loss) == 1 else 'are'} left out "
              "(trained on another loss than the SSQ)." if other_loss else ""))
    yield Figure("fig_median_curves",
                 lambda: plots.median_curves(
                     study.median_curves(facts.artifacts.study_history_csvs)),
                 "Median training SSQ over initial weights (bands: quartiles), against "
                 "iterations (left) and against each fit's own compute, its share of its "
                 "batch, compilation excluded (right).")


def surfaces(facts):
    init, arch = facts.init, facts.architecture
    yield "### Decision surfaces from the article's initial weights"

    def draw():
        found = {}
        for key, weights in study.weights_of_seed(facts.artifacts.study_weights_npys,
                                                  int(init["seed"])).items():
            grid, found[key] = study.decision_surface(weights, arch, facts.scaler, key[1])
        return plots.decision_surfaces(found, grid, facts.points)

    yield Figure("fig_decision_surfaces", draw,
                 "Probability of class 1 over the plane (red: class 1) after training from "
                 "the article's initial weights, per arm and inputs.")


def intro(facts) -> str:
    init, plan = facts.init, facts.study
    seeds = sorted(facts.study_fits["init_seed"].unique())
    adam, lm = facts.roles.adam, facts.roles.lm
    inputs = {facts.arm_settings(a)["inputs"] for a in (adam, lm) if a}
    return (
        "The article rests on one initial weight vector"
        + (", and its two arms did not see the same inputs" if len(inputs) > 1 else "")
        + ". The study below trains every arm from many draws of the article's "
        f"initial-weight recipe (U({init['low']}, {init['high']}); seeds {seeds[0]} to "
        f"{seeds[-1]}, seed {init['seed']} the article's), each on the "
        + " **and** on the ".join(plan["inputs"]) + " inputs, so the published comparison "
        "(each arm on the inputs the article gave it) and the controlled one (both on the "
        "same inputs) sit side by side.")


def render(facts):
    try:
        facts.study
    except Unwritable as why:
        yield f"_The study is not part of this run: {why}._"
        return
    fits, robust = facts.study_fits, facts.robustness
    yield intro(facts)
    yield (f"{len(fits)} fits: {fits['arm'].nunique()} arms, "
           f"{fits['init_seed'].nunique()} initial-weight seeds, "
           + " and ".join(facts.study["inputs"]) + " inputs.")
    yield paragraph("This list compares the article's LM and Adam arms across the study",
                    lambda: findings(facts))
    yield Table(robustness_table(robust), "robustness")
    yield time_note(facts)
    yield Figure("fig_success_rates", lambda: plots.success_rates(robust),
                 f"Share of fits reaching {facts.study['success_accuracy']:.0%} accuracy on "
                 "all points, per arm and inputs, with 95% Wilson intervals.")
    for part in (rounding, per_fit, curves, surfaces):
        yield from part(facts)
