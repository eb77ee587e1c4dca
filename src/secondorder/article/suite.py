"""Beyond two spirals: the suite. The protocol in numbers, success at the cap, the
verdict map and where it changes with the budget, what was not run, and LM's cost.

Every number comes from the summary of the scope the article shows (``summary.json``)
and its tables, read by name (:func:`tables`, through
:func:`secondorder.pipeline.suite.read_tables`): a change of the suite's tables
changes this module and :mod:`secondorder.pipeline.suite`, nothing else of the article.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from secondorder.article.page import Figure, Table, bullets, pct
from secondorder.pipeline import cost_study, plots
from secondorder.pipeline.suite import read_tables
from secondorder.pipeline.suite_metrics import VERDICTS

HEADING = "Beyond two spirals: the suite"

#: The suite's tables this section reads (names of :data:`secondorder.pipeline.suite.TABLES`).
TABLES = ("success", "verdict", "verdict_changes", "verdict_instances", "not_run",
          "lm_cost", "profiles")


def tables(facts) -> dict[str, pd.DataFrame]:
    """The tables this section reads (:data:`TABLES`) of the scope the article shows."""
    return read_tables(facts.suite_folder, TABLES)


def fits(facts) -> pd.DataFrame:
    """The arm and batch size of every fit of the scope the article shows (its
    ``fits.csv``, written with its summary)."""
    return pd.read_csv(facts.suite_folder / "fits.csv", usecols=["arm", "batch_size"])


def split_words(summary: dict) -> str:
    """``60/20/20`` from the fractions the suite's jobs split with (``summary.json``)."""
    fractions = summary.get("fractions") or []
    if len(fractions) != 1:
        return ("into training, validation and test rows (the jobs' fractions: "
                f"{fractions or 'not recorded'})")
    return "/".join(f"{100 * f:g}" for f in fractions[0]) + \
        " into training, validation and test rows"


def timing(fits: pd.DataFrame) -> str:
    """How a fit's own compute was measured, from the batches the fits trained in
    (``batch_size`` of the scope's ``fits.csv``)."""
    if (fits["batch_size"] == 1).all():
        return ("every fit trained alone (a batch of one, as a user trains one network), "
                "so its own compute is its wall time")
    batched = fits.groupby("arm")["batch_size"].max()
    return ("its share of the time of the batch it trained in (a batch's seconds split "
            "evenly over the fits still running in it; "
            + ", ".join(f"`{a}` in batches of up to {int(b)}" for a, b in batched.items())
            + ")")


def protocol(summary: dict, fits: pd.DataFrame) -> list[str]:
    """The protocol in numbers: fits, splits, grid, inits, cap, timing rule, targets."""
    s = summary["settings"]
    tolerances = ", ".join(f"+{t['rows']} misclassified test row(s) or +{100 * t['relative']:g}% "
                           "of the reference's error" for t in s["tolerances"])
    splits = ", ".join(f"{p} {len(v)}" for p, v in summary["splits"].items())
    comparisons = "; ".join(f"`{c}`: " + ", ".join(f"`{a}`" for a in arms)
                            for c, arms in summary["comparisons"].items())
    return [
        f"**Protocol.** {summary['fits']} fits ({summary['scope']} scope): "
        f"{len(summary['problems'])} problem(s) ({', '.join(summary['problems'])}) x "
        f"{len(summary['sizes'])} model size(s) ({', '.join(summary['sizes'])}) x "
        f"{len(summary['arms'])} arms. Each problem is split {split_words(summary)} "
        f"(splits per problem: {splits}); every arm trains each of its {s['grid_points']} "
        f"grid points from the same {s['inits']} initial weight draws on every split (the "
        "same tuning budget for all). Validation rows stop (each method's early stopping) "
        "and tune (the grid point with the lowest median validation error at each "
        "budget); test rows score. Every fit recorded its best-so-far weights by "
        "validation against its own compute and its work (the floating-point operations "
        f"of everything it computed), up to a cap of {s['cap_s']:g} s of own compute per "
        "fit, so every smaller budget is scored from the same run.",
        f"**Times** are each fit's own compute: {timing(fits)}; compilation and record "
        f"keeping excluded, every arm on {s['threads']} thread(s) (TensorFlow and BLAS "
        "alike). Records are taken as the fits report: " + ", ".join(
            f"`{a}` every {every}" for a, every in summary["record_every"].items()) + ".",
        "**Targets** are set per problem, size and split from the tuned fits: the "
        "reference is the lowest median test error of any arm of the comparison at the "
        f"cap; the target adds a tolerance: {tolerances}. A fit's time to target is the "
        "first time its record met the target.",
        f"**Comparisons** (the same problems in every denominator): {comparisons}."]


def success_lines(success: pd.DataFrame) -> list[str]:
    """Who met the target by the cap, per comparison and tolerance, with 95% Wilson
    intervals."""
    lines = []
    for (comparison, tolerance), part in success.groupby(["comparison", "tolerance"],
                                                         sort=False):
        rates = [f"`{r.arm}` {r.successes}/{r.fits} ({pct(r.rate)}, 95% CI "
                 f"{pct(r.ci_low)}-{pct(r.ci_high)})"
                 for r in part.sort_values("rate", ascending=False).itertuples()]
        lines.append(f"**Met the target by the cap** ({comparison}, {tolerance}): "
                     + "; ".join(rates) + ".")
    return lines


def verdict_lines(summary: dict, verdict: pd.DataFrame,
                  verdict_changes: pd.DataFrame) -> list[str]:
    """The verdict map at the smallest budget and at the cap, and where it changes."""
    if verdict.empty:
        return ["_No comparison had an instance that every one of its arms ran: no "
                "verdict._"]
    boot = summary["settings"]["bootstrap"]
    budgets = sorted(verdict["budget_s"].unique())
    groups = []
    for (so, comparison, tolerance), part in verdict.groupby(
            ["second_order", "comparison", "tolerance"], sort=False):
        ends = []
        for budget in (budgets[0], budgets[-1]):
            words = part[part["budget_s"] == budget]["verdict"].value_counts()
            ends.append(f"at {budget:g} s " + ", ".join(
                f"{words[w]} {w}" for w in VERDICTS if w in words))
        groups.append(f"`{so}` against the {comparison} rivals, {tolerance}, over "
                      f"{part[['family', 'size']].drop_duplicates().shape[0]} (family, "
                      "size) group(s): " + "; ".join(ends) + ".")
    changed = (verdict_changes[verdict_changes["changes_at_s"].notna()]
               if len(verdict_changes) else verdict_changes)
    return [
        "**The verdict map** (LM's success rate minus the best rival's at each budget, "
        f"paired by split and initial weights, {100 * boot['level']:g}% bootstrap "
        f"interval over {boot['resamples']} resamples within each problem; *holds* when "
        "the interval lies above 0, *fails* below, *mixed* when it covers 0 while LM is "
        "ahead on one problem and behind on another, *cannot tell* otherwise):\n"
        + bullets(groups),
        ("**Where the answer changes with the budget**: " + "; ".join(
            f"{r.family}/{r.size} ({r.comparison}, {r.tolerance}): {r.path}"
            for r in changed.itertuples()) + "." if len(changed) else
         "**The answer does not change with the budget** in any group between "
         f"{budgets[0]:g} s and {budgets[-1]:g} s.")]


def not_run_line(not_run: pd.DataFrame) -> list[str]:
    if not len(not_run):
        return []
    return ["**Not run** (memory cap; left out of that comparison for every arm, never "
            "counted as failures): " + ", ".join(
                f"{r.problem}/{r.size} ({r.comparison}: {r.not_run})"
                for r in not_run.itertuples()) + "."]


def cost_lines(lm_cost: pd.DataFrame, cap_s: float, memory_gb: float,
               gpu: cost_study.Datasheet = cost_study.H100) -> list[str]:
    """Where LM stopped being practical in the suite: its own compute per iteration,
    the largest model it ran, its arithmetic rate (:func:`cost_study.lm_flops`), a GPU
    on paper (``gpu``'s datasheet; labelled as not measured) and the sizes not run for
    lack of memory."""
    lines = []
    capped = lm_cost["memory_cap"].astype(bool)
    ran = lm_cost[~capped & lm_cost["ms_per_iteration"].notna()]
    if len(ran):
        big = ran.sort_values("n_params").iloc[-1]
        rate = float(np.median(cost_study.lm_flops(ran["n_residuals"], ran["n_params"])
                               / (1e-3 * ran["ms_per_iteration"])))
        lines += [
            f"**Where LM stops being practical here**: one LM iteration cost "
            f"{ran['ms_per_iteration'].min():.3g}-{ran['ms_per_iteration'].max():.3g} ms of a "
            f"fit's own compute across the suite; the largest model LM ran was "
            f"{int(big['n_params'])} weights with {int(big['n_residuals'])} residuals "
            f"({big['problem']}, {big['size']}: {big['ms_per_iteration']:.3g} ms per "
            f"iteration, so the cap of {cap_s:g} s allowed about "
            f"{1e3 * cap_s / big['ms_per_iteration']:.0f} iterations).",
            f"One iteration's products take 2 m n min(m, n) flops (JᵀJ, or J D⁻² Jᵀ in "
            f"sample space when n > m); LM ran them at a median {rate / 1e9:.2g} GFLOP/s "
            f"per fit here. On paper, a GPU with {gpu.fp64_flops / 1e12:.0f} TFLOP/s of "
            f"FP64 ({gpu.name}; {gpu.source}) would be up to {gpu.fp64_flops / rate:.0f}x "
            f"faster on that arithmetic alone, and its {gpu.memory_bytes / 1e9:.0f} GB would "
            f"hold the four n x n matrices of one LM row (JᵀJ at the state and at the trial "
            f"point, the damped matrix and its factor) up to roughly "
            f"{gpu.largest_gram():,} weights in parameter space, the Jacobian aside. Not "
            "measured: no GPU was used for this run."]
    if capped.any():
        lines.append(
            "Not run for lack of memory (one row's J, JᵀJ and factors over "
            f"{memory_gb:g} GB; reported as not run, not as failures): " + ", ".join(
                f"{r.problem}/{r.size} ({int(r.n_params)} weights, {int(r.n_residuals)} "
                "residuals)" for r in lm_cost[capped].itertuples()) + ".")
    return lines


def findings(summary: dict, t: dict[str, pd.DataFrame], fits: pd.DataFrame) -> str:
    """The suite's findings as Markdown paragraphs, from its summary, its tables and
    its ``fits.csv``."""
    s = summary["settings"]
    parts = [*protocol(summary, fits), *success_lines(t["success"]),
             *verdict_lines(summary, t["verdict"], t["verdict_changes"]),
             *not_run_line(t["not_run"]),
             *cost_lines(t["lm_cost"], s["cap_s"], s["lm_memory_gb"])]
    return "\n\n".join(parts)


def verdict_table(verdict: pd.DataFrame, by=("family", "size")) -> pd.DataFrame:
    """The verdict map as a table: one row per group of ``by``, one column per
    (comparison, tolerance, budget) holding the verdict word."""
    if verdict.empty:
        return pd.DataFrame()
    table = verdict.pivot_table(index=list(by), columns=["comparison", "tolerance", "budget_s"],
                                values="verdict", aggfunc="first")
    table.columns = table.columns.set_names(["comparison", "tolerance", "budget (s)"])
    return table


def intro(facts) -> str:
    scope = facts.config.get("suite", {}).get("in_article", "none")
    return (
        "The article closes: *with moderately sized data and moderately sized models, "
        "second-order methods should be the default over the various flavors of gradient "
        "descent*. The suite (`config/suite.yaml`) puts that to the test on "
        "scikit-learn's bundled datasets and generated ones (and on your own CSV files, "
        "`suite.csv_problems`), with one- and two-hidden-layer perceptrons, against "
        "first-order rivals tuned on validation under the same budget. Inputs are "
        "standardised from the training rows (the raw-versus-scaled question is the "
        "study's above). The yardstick follows AlgoPerf and Moré and Wild: held-out test "
        "rows, targets from the tuned fits with tolerances in misclassified rows or "
        "relative error, the first time a target is met, one timing rule for every arm, "
        "and the verdict as a map over problem family, model size and budget, with "
        "intervals that can say *cannot tell*. This build shows the "
        f"`{scope}` scope (`suite.in_article`); `snakemake --cores all suite` runs the "
        "full suite (`results/suite/full/`, one job per problem x size x arm: spread it "
        "over a cluster with the SLURM profiles). Fits are chaotic: counts from another "
        "CPU differ by a few fits (see *Rounding alone*).")


def render(facts):
    yield intro(facts)
    summary = facts.suite_summary
    if summary is None:
        yield "_The suite is not part of this build (`suite.in_article: none`)._"
        return
    t = tables(facts)
    yield findings(summary, t, fits(facts))
    yield Figure("fig_suite_verdict", lambda: plots.suite_verdict_map(t["verdict"]),
                 "The verdict map: per comparison and tolerance, each (problem family, model "
                 "size) group against the budget (a fit's own compute), coloured by the "
                 "verdict and labelled with LM's success rate minus the best rival's "
                 "(paired by split and initial weights; 95% bootstrap intervals within each "
                 "problem).")
    yield Figure("fig_suite_profiles", lambda: plots.suite_profiles(t["profiles"]),
                 "Data profiles (Moré and Wild 2009: the fraction of instances solved within "
                 "a budget) and performance profiles (Dolan and Moré 2002: within tau times "
                 "the best arm), against a fit's own compute and against its floating-point "
                 "operations, at the middle tolerance; an instance is a (problem, size, "
                 "split, initial weights), each arm at its grid point tuned on validation, "
                 "solved when its best-so-far weights first meet the target on the test "
                 "rows.")
    yield Figure("fig_suite_lm_cost", lambda: plots.suite_lm_cost(t["lm_cost"]),
                 "Milliseconds of a fit's own compute per LM iteration against the number "
                 "of weights, one point per (problem, size), coloured by the number of "
                 "residuals; crosses: sizes LM was not run at (memory cap).")
    yield "The verdict per problem family and size, at each tolerance and budget:"
    yield Table(verdict_table(t["verdict"]), "suite-verdict")
    yield "The same test on each problem and size alone:"
    yield Table(verdict_table(t["verdict_instances"], by=("problem", "size")),
                "suite-verdict-instances")
