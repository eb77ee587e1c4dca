"""Beyond two spirals: the suite. The protocol (its phases, which numbers come from which
fits, the fairness choices), the primary question's verdict with its power and what it
cannot tell, the exploratory map with its false-discovery control, the secondary views,
what was not run, LM's cost, and what changed from the suite's earlier verdict.

Every number comes from the summary of the scope the article shows (``summary.json``)
and its tables and documents, read by name (:func:`tables`, through
:func:`secondorder.pipeline.suite.files.read_tables`): a change of the suite's tables
changes this module and :mod:`secondorder.pipeline.suite`, nothing else of the article.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from secondorder.article.page import Figure, Table, bullets, pct
from secondorder.pipeline import cost_study, plots
from secondorder.pipeline.suite.files import read_tables
from secondorder.pipeline.verdict import CELL_WORDS

HEADING = "Beyond two spirals: the suite"

#: The suite's tables this section reads (names of
#: :data:`secondorder.pipeline.suite.files.TABLES`).
TABLES = ("design", "primary", "verdict", "cells", "success", "profiles", "not_run",
          "lm_cost")

#: The outcomes as the text names them.
OUTCOME_WORDS = {"test_error": "test error", "solved": "success",
                 "time_to_target": "time to target"}


def tables(facts) -> dict:
    """The tables this section reads (:data:`TABLES`) of the scope the article shows."""
    return read_tables(facts.suite_folder, TABLES)


def fits(facts) -> pd.DataFrame:
    """The arm and batch size of every fit of the scope the article shows (its
    ``fits.csv``, written with its summary)."""
    return pd.read_csv(facts.suite_folder / "fits.csv", usecols=["arm", "batch_size"])


def number(value, digits: int = 3) -> str:
    """A number as the text shows it; ``none`` for a missing or infinite one (JSON
    writes both as null)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "none"
    return f"{(0.0 if abs(value) < 1e-12 else value):.{digits}g}"


def interval(low, high) -> str:
    """An interval as the text shows it; the whole line where the test cannot reject
    (JSON writes its infinite ends as null)."""
    if low is None or high is None:
        return "the whole line"
    return f"{number(low)} to {number(high)}"


def detects(mde) -> str:
    """``detects 0.12`` or ``detects no difference`` (an infinite MDE: the test cannot
    reach its level with these clusters)."""
    return "detects no difference" if number(mde) == "none" else f"detects {number(mde)}"


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
    """The protocol in numbers: the phases and their seeds, which numbers come from
    which fits, the outcomes, the fairness choices."""
    s = summary["settings"]
    tolerances = ", ".join(f"+{t['rows']} misclassified test row(s) or +{100 * t['relative']:g}% "
                           "of the reference's error" for t in s["tolerances"])
    splits = ", ".join(f"{p} {len(v)}" for p, v in summary["splits"].items())
    comparisons = "; ".join(f"`{c}`: " + ", ".join(f"`{a}`" for a in arms)
                            for c, arms in summary["comparisons"].items())
    budgets = ", ".join(f"{b:g}" for b in s["budgets_s"])
    minibatch = ("; the rivals include mini-batch Adam with a cosine learning-rate "
                 "schedule, tuned over the learning rate and the batch size"
                 if "adam_minibatch" in summary["arms"] else "")
    return [
        f"**Protocol.** The {summary['scope']} scope: {len(summary['problems'])} "
        f"problem(s) ({', '.join(summary['problems'])}) x {len(summary['sizes'])} model "
        f"size(s) ({', '.join(summary['sizes'])}) x {len(summary['arms'])} arms, in two "
        "phases on disjoint seeds. *Tuning*: every arm at each of its "
        f"{s['grid_points']} grid settings from {s['tune_inits']} initial weight draw(s) "
        f"on {s['tune_splits']} split(s) of each small problem. *Evaluation*: each arm at "
        "the settings the tuning selected, from "
        f"{s['inits']} other initial weight draw(s) on other splits (splits per problem: "
        f"{splits}; repeated random splits {split_words(summary)}); {summary['fits']} "
        "evaluation fits. The tuning fits' validation errors pick each arm's setting at "
        "each budget (the lowest median); the tuning fits' test errors set the targets "
        "(the best arm's median test error at the cap plus a tolerance: "
        f"{tolerances}); the evaluation fits' test errors only score. Validation rows stop "
        "each fit and pick the weights it returns. No test-row number picks a stop, a "
        "setting or a checkpoint.",
        "**Outcomes.** At each budget ("
        f"{budgets} s of a fit's own compute, the last the cap), each evaluation fit "
        "returns its best-by-validation weights so far, scored once on the test rows: "
        "its *test error*, its *success* (the error meets the target) and its *time to "
        "target*, the share of log-spaced budgets from the smallest to this one at which "
        "the returned model meets the target (one minus the restricted mean of the log "
        "time to the target over that range, where success stays once reached; a run "
        "that never meets the target is censored and counts 0).",
        f"**Fair like for like.** Times: {timing(fits)}; compilation and record keeping "
        f"excluded, every arm on {s['threads']} thread(s). Work: the floating-point "
        "operations of everything an arm computes (LM's JᵀJ and its solve included). "
        f"Every arm has {s['grid_points']} distinct settings{minibatch}. Records are "
        "taken at the improvement's own time: " + ", ".join(
            f"`{a}` every {every}" for a, every in summary["record_every"].items()) + ".",
        f"**Comparisons**, each rival by name, on the problems every arm of the "
        f"comparison ran: {comparisons}."]


def primary_lines(primary: dict, design: dict) -> list[str]:
    """The primary question as declared, its verdict per rival, its power and MDE
    planned and observed, the variance assumed and observed, what it cannot tell."""
    q = primary["question"]
    rule = primary["rule"]
    cells = "; ".join(f"{c['family']} problems, {c['size']} size" for c in q["cells"])
    tolerance = "" if q["tolerance"] == "none" else f", tolerance {q['tolerance']}"
    scope_words = (
        "This scope is the one declared to answer it."
        if primary["confirmatory"] else
        f"It was declared for the `{primary['declared_for']}` scope; this scope asks it of "
        "a design not planned to answer it, so its answer is not the confirmatory one.")
    word = (primary["word"] if isinstance(primary["word"], str) else
            "; ".join(f"{cell} {w}" for cell, w in primary["word"].items()))
    rows = [f"`{c['rival']}`: difference {number(c['theta'])} (interval "
            f"{interval(c['ci_low'], c['ci_high'])} at {100 * c['interval_level']:.3g}%, "
            f"adjusted p {number(c['p_adjusted'])}), {c['word']}; this comparison "
            f"{detects(c['mde'])}"
            for c in primary["comparisons"]]
    assumed = design.get("assumptions", {})
    observed = primary.get("observed", {})
    power = design.get("power", {})
    variance = (
        f"The plan assumed a pair's difference with standard deviation "
        f"{number(assumed.get('sd_difference'))} and intraclass correlation "
        f"{number(assumed.get('icc'))} at the split level; the evaluation showed "
        f"{number(observed.get('sd_difference'))} and {number(observed.get('icc'))}."
        if "sd_difference" in assumed else
        f"The plan assumed the rivals' success rate {number(assumed.get('base'))} with "
        f"split and arm x split effects {number(assumed.get('split_sd'))} and "
        f"{number(assumed.get('interaction_sd'))} on the logit scale.")
    lines = [
        f"**The primary question**, declared in the config before the run: does "
        f"`{q['second_order']}` do better than each {q['comparison']} rival on "
        f"{OUTCOME_WORDS[q['outcome']]}{tolerance}, at {q['budget']:g} s ({cells}; every "
        f"problem weighing the same, clusters = splits)? Holm's adjustment over its "
        f"{len(primary['comparisons'])} comparisons at alpha = {rule['alpha']:g}; "
        f"equivalent means within ±{rule['margin']:g}. {scope_words}",
        f"**Its verdict: {word}.** "
        "Per rival (positive: better):\n" + bullets(rows),
        f"**Its power.** Planned before any fit: {design['design']['problems']} problems x "
        f"{design['design']['splits']} splits x {design['design']['inits']} initial "
        f"weights ({design['design']['clusters']} clusters) "
        f"{detects(power.get('planned_mde')).replace('detects', 'detect')} with "
        f"{100 * power.get('target', 0.8):g}% power per comparison (simulated with this "
        f"rule, {power.get('reps')} replicates); the clusters observed "
        f"{detects(primary['mde']['observed']).replace('detects', 'detect')}. "
        + variance]
    if primary["cannot_tell"]:
        lines.append("**What it cannot tell:**\n" + bullets(primary["cannot_tell"]))
    return lines


def map_lines(cells: pd.DataFrame, primary: dict) -> list[str]:
    """The exploratory map: its false-discovery control, the words counted, and the
    cells that said something other than *cannot tell*."""
    if cells.empty:
        return ["_No comparison had an instance that every one of its arms ran: no "
                "verdict._"]
    rule = primary["rule"]
    rest = cells[cells["hypotheses"] == "exploratory"]
    counts = rest["word"].value_counts()
    said = rest[rest["word"] != "cannot tell"]
    lines = [
        f"**The exploratory map**: every other cell (each problem family and all "
        f"problems, size, budget, tolerance, outcome, each second-order arm, each "
        f"comparison), {len(rest)} cells, Benjamini-Hochberg at q = {rule['q']:g} over "
        "all their comparisons: " + ", ".join(
            f"{counts.get(w, 0)} {w}" for w in ("holds", "equivalent", "cannot tell",
                                                "fails")) + "."]
    if len(said):
        lines.append("Cells that said more than *cannot tell*, counted per second-order arm, "
                     "comparison and outcome, with the budgets where each word came out "
                     "(every cell with its interval: `cells.csv`):\n\n" + said_table(said))
    return lines


def said_table(said: pd.DataFrame) -> str:
    """A Markdown table of the exploratory cells that said more than *cannot tell*: one
    row per second-order arm x comparison x outcome, each word's count and budgets."""
    rows = ["| arm | rivals | outcome | " + " | ".join(CELL_WORDS_SAID) + " |",
            "|---|---|---|" + "---|" * len(CELL_WORDS_SAID)]
    keys = ["second_order", "comparison", "outcome"]
    for (arm, comparison, outcome), group in said.groupby(keys, sort=False):
        cells = []
        for word in CELL_WORDS_SAID:
            hit = group[group["word"] == word]
            budgets = ", ".join(f"{b:g}" for b in sorted(set(hit["budget"])))
            cells.append(f"{len(hit)} ({budgets} s)" if len(hit) else "0")
        rows.append(f"| `{arm}` | {comparison} | {OUTCOME_WORDS[outcome]} | "
                    + " | ".join(cells) + " |")
    return "\n".join(rows)


#: The words :func:`said_table` counts: every cell word but *cannot tell*.
CELL_WORDS_SAID = tuple(w for w in CELL_WORDS if w != "cannot tell")


def success_lines(success: pd.DataFrame) -> list[str]:
    """Success at the cap per comparison at the middle tolerance, every problem weighing
    the same, with cluster bootstrap intervals (a secondary view)."""
    if success.empty:
        return []
    cap = success["budget"].max()
    tolerances = list(dict.fromkeys(success["tolerance"]))
    middle = tolerances[len(tolerances) // 2]
    part = success[(success["budget"] == cap) & (success["tolerance"] == middle)]
    lines = []
    for comparison, group in part.groupby("comparison", sort=False):
        rates = [f"`{r.arm}` {pct(r.rate)} ({pct(r.ci_low)}-{pct(r.ci_high)})"
                 for r in group.sort_values("rate", ascending=False).itertuples()]
        lines.append(f"**Success at the cap** ({comparison}, {middle}; every problem "
                     "weighing the same, two-stage cluster bootstrap interval): "
                     + "; ".join(rates) + ".")
    return lines


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


#: What changed from the suite's earlier verdict (issue 24), and why: the method, not
#: a result.
CHANGES = (
    "a fit counted as solved when its record's test error had *ever* met the target; "
    "now each budget scores the model a run stopped there returns (its best-by-validation "
    "weights), since reading test errors along the run is stopping on the test rows",
    "the best rival was picked on the pairs it was then compared with (the winner's "
    "curse); now each rival is compared by name",
    "targets came from the very fits being scored; now from separate tuning fits on "
    "other splits and initial weights, which also pick each arm's setting",
    "the initial weights of one split were resampled as independent pairs; now the "
    "splits are the clusters, flipped as units, and every problem weighs the same",
    "every cell of the map was judged at an unadjusted 95%; now one primary question is "
    "declared before the run (Holm) and the rest are exploratory (Benjamini-Hochberg)",
    "*cannot tell* named a tie and no information alike; now every word stands beside "
    "the smallest difference its cell could detect, and a tie within the margin reads "
    "*equivalent*",
    "Wilson intervals pooled clustered fits; now success rates weigh problems equally "
    "with a cluster bootstrap interval, and performance profiles are gone (a run's "
    "returned model can meet the target and lose it again, so it has no single first "
    "time that does not read the test rows)",
)


def findings(summary: dict, t: dict, fits: pd.DataFrame) -> str:
    """The suite's findings as Markdown paragraphs, from its summary, its tables and
    its ``fits.csv``."""
    s = summary["settings"]
    parts = [*protocol(summary, fits), *primary_lines(t["primary"], t["design"]),
             *map_lines(t["cells"], t["primary"]),
             *success_lines(t["success"]), *not_run_line(t["not_run"]),
             *cost_lines(t["lm_cost"], s["cap_s"], s["lm_memory_gb"]),
             "**What changed from the suite's earlier verdict, and why:**\n"
             + bullets(CHANGES)]
    return "\n\n".join(parts)


def primary_table(primary: dict) -> pd.DataFrame:
    """The primary family, one row per rival."""
    frame = pd.DataFrame(primary["comparisons"])
    if frame.empty:
        return frame
    return frame[["rival", "family", "size", "clusters", "pairs", "theta", "ci_low",
                  "ci_high", "p", "p_adjusted", "mde", "word"]].set_index("rival")


def verdict_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The map as a table: one row per second-order arm, comparison, outcome,
    tolerance, family and size, one column per budget holding the cell's word."""
    if cells.empty:
        return pd.DataFrame()
    table = cells.pivot_table(index=["second_order", "comparison", "outcome", "tolerance",
                                     "family", "size"],
                              columns="budget", values="word", aggfunc="first")
    table.columns = table.columns.set_names("budget (s)")
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
        "study's above). The yardstick follows AlgoPerf, Moré and Wild, and the "
        "statistics of ML benchmarks (Bouthillier et al. 2021; Agarwal et al. 2021): "
        "targets from separate reference fits, what a stopped run returns scored once "
        "on held-out test rows, one timing rule for every arm, and one primary question "
        "with its power, the rest a map under a false-discovery control. This build "
        f"shows the `{scope}` scope (`suite.in_article`); `snakemake --cores all "
        "results/suite/answer/summary.json` runs the scope planned to answer the primary "
        "question, `snakemake --cores all suite` the full suite (spread it over a "
        "cluster with the SLURM profiles). Fits are chaotic: counts from another CPU "
        "differ by a few fits (see *Rounding alone*).")


def render(facts):
    yield intro(facts)
    summary = facts.suite_summary
    if summary is None:
        yield "_The suite is not part of this build (`suite.in_article: none`)._"
        return
    t = tables(facts)
    yield findings(summary, t, fits(facts))
    yield "The primary family, one row per rival:"
    yield Table(primary_table(t["primary"]), "suite-primary")
    yield Figure("fig_suite_verdict", lambda: plots.suite_verdict_map(t["cells"]),
                 "The verdict map: per second-order arm and comparison, the test error, "
                 "the success and the time to target at the middle tolerance, each (problem "
                 "family, size) cell against the budget, coloured by its word and labelled "
                 "with the smallest advantage over a rival; the primary cell outlined (Holm), "
                 "the rest exploratory (Benjamini-Hochberg).")
    yield Figure("fig_suite_profiles", lambda: plots.suite_profiles(t["profiles"]),
                 "Data profiles at the middle tolerance: the share of instances (problem, "
                 "size, split, initial weights) whose returned model meets the target at "
                 "each budget of own compute and of floating-point operations, each arm at "
                 "its setting selected at the cap; a curve may fall, as a returned model "
                 "can lose the target again.")
    yield Figure("fig_suite_lm_cost", lambda: plots.suite_lm_cost(t["lm_cost"]),
                 "Milliseconds of a fit's own compute per LM iteration against the number "
                 "of weights, one point per (problem, size), coloured by the number of "
                 "residuals; crosses: sizes LM was not run at (memory cap).")
    yield "Every cell's word, per second-order arm, comparison, outcome and tolerance, " \
          "problem family and size, at each budget:"
    yield Table(verdict_table(t["cells"]), "suite-verdict")
