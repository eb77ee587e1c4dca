"""Tables and sentences of the article, generated from the artifacts.

Every number the article states comes from here, so the prose changes when the results
do (including when a result goes against the original article).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from secondorder.optim.arms import FIRST_ORDER

#: The article's results, as published (for comparison only; never used as ours).
ARTICLE_CLAIM = "Adam fails to separate the spirals; Levenberg-Marquardt classifies them almost perfectly"


def pct(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def results_table(fits: pd.DataFrame) -> pd.DataFrame:
    """``fits.csv`` as a reader wants it: one row per arm, rounded, with units; ``time
    (s)`` is each fit's own compute (:class:`~secondorder.optim.fit_result.FitResult`), ``batch wall (s)`` its batch's
    wall time (the article's arms each run alone: the two are equal)."""
    table = pd.DataFrame({
        "arm": fits["arm"], "optimizer": fits["optimizer"], "inputs": fits["inputs"],
        "accuracy (all)": fits["accuracy_all"].map(pct),
        "accuracy (train)": fits["accuracy_train"].map(pct),
        "accuracy (val)": fits["accuracy_val"].map(pct),
        "SSQ train": fits["ssq_train"].round(2), "SSQ val": fits["ssq_val"].round(2),
        "iterations": fits["iterations"].astype("Int64"),
        "residual evals": fits["evaluations"].astype("Int64"),
        "time (s)": fits["time_s"].round(2),
        "batch wall (s)": fits["batch_wall_s"].round(2), "status": fits["status"]})
    return table.set_index("arm")


def verdict(fits: pd.DataFrame, first_order="adam", second_order=("lm", "lm_fd"),
            good=0.97) -> str:
    """A paragraph saying whether the article's claim held in this run, with numbers."""
    by_arm = fits.set_index("arm")
    lines = []
    if first_order in by_arm.index:
        a = by_arm.loc[first_order]
        lines.append(
            f"Adam (`{first_order}`) classified {pct(a.accuracy_all)} of all points "
            f"({pct(a.accuracy_val)} of the validation points) after "
            f"{int(a.iterations)} epochs ({a.status.replace('_', ' ')}).")
    lm_arms = [arm for arm in second_order if arm in by_arm.index]
    for arm in lm_arms:
        r = by_arm.loc[arm]
        lines.append(f"Levenberg-Marquardt (`{arm}`) classified {pct(r.accuracy_all)} of all "
                     f"points ({pct(r.accuracy_val)} of the validation points) in "
                     f"{r.time_s:.1f} s.")
    if first_order in by_arm.index and lm_arms:
        adam_acc = by_arm.loc[first_order].accuracy_all
        lm_acc = {arm: by_arm.loc[arm].accuracy_all for arm in lm_arms}
        held = all(acc >= good for acc in lm_acc.values()) and all(
            acc > adam_acc + 0.2 for acc in lm_acc.values())
        if held:
            lines.append(f"The article's result holds here: every LM arm reached at least "
                         f"{pct(good)} of all points while Adam stayed far below.")
        else:
            missed = [a for a, acc in lm_acc.items() if acc < good]
            lines.append("The article's result does **not** fully hold here: "
                         + (f"{', '.join(missed)} stayed below {pct(good)}; "
                            if missed else "")
                         + f"Adam reached {pct(adam_acc)}.")
    return " ".join(lines)


def scipy_upgrade(fits: pd.DataFrame, fit_info: dict[str, dict], article_arm="lm_fd",
                  modern_arm="lm_fd_modern") -> str:
    """A paragraph comparing the article's LM call as it ran (scipy <= 1.15, arm
    ``article_arm``) with the same line under the installed scipy (``modern_arm``),
    from ``fits.csv`` rows and ``fit.json`` contents; empty when either arm is missing."""
    by_arm = fits.set_index("arm")
    if article_arm not in by_arm.index or modern_arm not in by_arm.index:
        return ""
    old, new = by_arm.loc[article_arm], by_arm.loc[modern_arm]
    version = (fit_info.get(modern_arm, {}).get("versions") or {}).get("scipy", "installed")

    def outcome(r):
        return (f"classified {pct(r.accuracy_all)} of all points ({pct(r.accuracy_val)} of "
                f"the validation points), training SSQ {r.ssq_train:.3g}, after "
                f"{int(r.evaluations):,} residual evaluations in {r.time_s:.1f} s "
                f"(status {r.status})")

    text = (f"The article called `least_squares(fun, ws_init, method='lm', max_nfev=...)` "
            "under scipy <= 1.15. scipy 1.16 changed what that one line runs: the default "
            "`x_scale` became `'jac'` (the variables are rescaled by the Jacobian's column "
            "norms), the finite differences moved out of MINPACK's `lmdif` into scipy, and "
            "`max_nfev` no longer counts them. "
            f"`{article_arm}` runs the algorithm the article ran (scipy 1.15's "
            "`least_squares`, reproduced through `scipy.optimize.leastsq` and checked bit "
            f"for bit against scipy 1.15.3); `{modern_arm}` runs the same line under the "
            f"scipy installed here ({version}). From the same initial weights, "
            f"`{article_arm}` {outcome(old)}; `{modern_arm}` {outcome(new)}.")
    same = (old.accuracy_all == new.accuracy_all and old.evaluations == new.evaluations
            and old.status == new.status)
    if same:
        return text + (" Here the two agree: the installed scipy still runs the article's "
                       "algorithm.")
    ratio = new.evaluations / old.evaluations if old.evaluations else float("nan")
    change = 100 * (new.accuracy_all - old.accuracy_all)
    accuracy = ("with the same accuracy on all points" if change == 0 else
                f"{abs(change):.1f} percentage points {'lower' if change < 0 else 'higher'} "
                "on all points")
    return (text + " **A library upgrade changed the article's result**: the same line "
            f"now ends {accuracy}, with {ratio:.1f} times the residual evaluations and "
            f"{new.time_s / old.time_s:.1f} times the time (each ran alone). Where this page "
            "speaks of "
            f"the article's LM call, it means `{article_arm}`.")


def differences(fit_info: dict[str, dict], scaler: dict) -> str:
    """Markdown list of what differs from the original code, from the artifacts."""
    versions = next(iter(fit_info.values()))["versions"]
    engines = {arm: info["settings"].get("engine") or info["settings"].get("solve")
               for arm, info in fit_info.items()}
    items = [
        f"Libraries: Python {versions['python']}, TensorFlow {versions['tensorflow']}, "
        f"Keras {versions['keras']}, numpy {versions['numpy']}, scipy {versions['scipy']}. "
        "The article's code was written for TensorFlow 2 with Keras 2 "
        "(its `Input(shape=int(2))` fails in Keras 3, where we write `Input(shape=(2,))`).",
        "Scaling quirk kept: the article passes the training **maximum** as `data_min` and "
        "the minimum as `data_max`, so both axes are flipped "
        f"(x: {scaler['data_min'][0]:.3f} → {scaler['scale_min'][0]}, "
        f"{scaler['data_max'][0]:.3f} → {scaler['scale_max'][0]}). "
        f"Recorded as `min_max_swapped: {str(scaler['min_max_swapped']).lower()}` in "
        "`scaler.json`.",
        "Input confound kept: "
        + ", ".join(f"`{arm}` saw **{info['inputs']}** inputs"
                    for arm, info in fit_info.items())
        + ". The article's LM residuals use the unscaled inputs while Keras trains on the "
        "scaled ones, so the arms did not see the same data.",
        "Precision: Keras trains in float32 (the article's default); our LM and the "
        "scipy call work in float64.",
        "Engines: " + ", ".join(f"`{arm}` ran with `{eng}`" for arm, eng in engines.items()
                                if eng) + ". The compiled Adam loop runs the same Keras "
        "model and optimizer as `model.fit`, with EarlyStopping's rule reproduced in the "
        "loop; `lm` uses a TensorFlow Jacobian instead of finite differences.",
        "The LM arms have no early stopping (as in the article): validation SSQ is only "
        "recorded.",
    ]
    return "\n".join(f"- {item}" for item in items)


def settings_chain(records) -> str:
    """Markdown: the settings each stage used, traced from the generator onwards."""
    by_rule = {}
    for rec in records:
        by_rule.setdefault(rec["rule"], []).append(rec)
    lines = []
    for rule in ("spirals", "split_scale", "shared_init", "train", "evaluate", "summary"):
        for rec in by_rule.get(rule, []):
            name = rule + "".join(f" `{v}`" for v in rec["wildcards"].values())
            params = ", ".join(f"{k}={v}" for k, v in rec["params"].items()) or "none"
            lines.append(f"- **{name}** — params: {params}")
    return "\n".join(lines)


# --- the study -------------------------------------------------------------------------

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


def _rate(robust, arm, inputs):
    row = robust[(robust["arm"] == arm) & (robust["inputs"] == inputs)]
    return None if row.empty else row.iloc[0]


def _describe_rate(r) -> str:
    return (f"{int(r.successes)} of {int(r.n)} ({pct(r.rate)}, 95% CI "
            f"{pct(r.ci_low)}–{pct(r.ci_high)})")


def study_findings(robust: pd.DataFrame, success_accuracy: float, optimizers: dict,
                   second_order="lm", first_order="adam") -> str:
    """Bullet points stating the study's results, generated from ``robustness.csv``;
    ``optimizers`` maps each arm to its optimizer (to find the first-order arms)."""
    lines = []
    best = robust.sort_values(["rate", "median_accuracy"], ascending=False).iloc[0]
    lines.append(f"Success means at least {pct(success_accuracy)} of all points right. The "
                 f"most reliable arm was `{best.arm}` on {best.inputs} inputs: "
                 f"{_describe_rate(best)} initial weights succeeded.")
    lm_raw, adam_scaled = (_rate(robust, second_order, "raw"),
                           _rate(robust, first_order, "scaled"))
    if lm_raw is not None and adam_scaled is not None:
        lines.append(f"As published (LM on raw inputs, Adam on scaled ones): LM succeeded "
                     f"from {_describe_rate(lm_raw)}, Adam from {_describe_rate(adam_scaled)}.")
    for inputs in ("raw", "scaled"):
        lm, adam = _rate(robust, second_order, inputs), _rate(robust, first_order, inputs)
        if lm is not None and adam is not None:
            verdict = ("LM ahead, the intervals apart" if lm.ci_low > adam.ci_high else
                       "Adam ahead, the intervals apart" if adam.ci_low > lm.ci_high else
                       "the intervals overlap: no clear difference")
            lines.append(f"Controlled, both on {inputs} inputs: LM {pct(lm.rate)}, Adam "
                         f"{pct(adam.rate)} ({verdict}).")
    gradient_arms = robust[robust["arm"].map(optimizers).isin(FIRST_ORDER)]
    if len(gradient_arms) and lm_raw is not None:
        top = gradient_arms.sort_values(["rate", "median_accuracy"], ascending=False).iloc[0]
        lm_same = _rate(robust, second_order, top.inputs)
        if lm_same is not None:
            apart = lm_same.ci_low > top.ci_high
            lines.append(
                f"The best first-order arm, `{top.arm}` on {top.inputs} inputs, succeeded from "
                f"{_describe_rate(top)}; LM on the same inputs from {_describe_rate(lm_same)}. "
                + ("LM is more robust than every first-order arm tried, as the article "
                   "suggests." if apart else
                   "The intervals overlap: with a suitable setting a first-order method is "
                   "as reliable as LM here, so the article's general claim that second-order "
                   "methods are more robust is **not** supported; its Adam failure belongs "
                   "to its settings."))
    xent, ssq = _rate(robust, "adam_crossentropy", "scaled"), adam_scaled
    if xent is not None and ssq is not None:
        similar = not (xent.ci_low > ssq.ci_high or ssq.ci_low > xent.ci_high)
        lines.append(f"The article says cross-entropy gives similar results to the SSQ "
                     f"loss under Adam. Here (scaled inputs) cross-entropy succeeded from "
                     f"{_describe_rate(xent)} against {_describe_rate(ssq)} for SSQ: "
                     + ("consistent with the claim." if similar else
                        "**not** similar; the claim does not hold here."))
    for arm in robust["arm"].unique():
        if arm in (first_order, second_order, "adam_crossentropy"):
            continue
        parts = [f"{_describe_rate(r)} on {r.inputs}" for r in
                 robust[robust["arm"] == arm].itertuples()]
        lines.append(f"`{arm}`: " + "; ".join(parts) + ".")
    return "\n".join(f"- {line}" for line in lines)


def scaling_findings(table: pd.DataFrame, exponents: dict, crossover_params,
                     assumptions: str) -> str:
    """Bullet points on the cost of growing, from ``scaling.csv``."""
    lines = []
    wide = table.pivot_table(index=["hidden", "n_params"], columns="engine",
                             values=["ms_per_iter", "peak_mem_mb"]).reset_index()
    small, large = wide.iloc[0], wide.iloc[-1]
    lines.append(
        f"From {int(small['hidden'].iloc[0])} to {int(large['hidden'].iloc[0])} hidden units "
        f"({int(small['n_params'].iloc[0])} to {int(large['n_params'].iloc[0])} weights) one LM "
        f"iteration went from {small[('ms_per_iter', 'lm_tf')]:.2f} to "
        f"{large[('ms_per_iter', 'lm_tf')]:.1f} ms and its peak memory from "
        f"{small[('peak_mem_mb', 'lm_tf')]:.0f} to {large[('peak_mem_mb', 'lm_tf')]:.0f} MB; one "
        f"Adam epoch from {small[('ms_per_iter', 'adam_compiled')]:.3f} to "
        f"{large[('ms_per_iter', 'adam_compiled')]:.3f} ms.")
    if exponents:
        lines.append("Fitted growth of time per iteration with the number of weights n "
                     "(larger sizes): " + ", ".join(f"{engine} ~ n^{slope:.2f}"
                                                   for engine, slope in exponents.items())
                     + " (LM's theory: between n^2 for forming JᵀJ and n^3 for "
                     "factoring it).")
    if "floor_ms" in table:
        from secondorder.pipeline.cost_study import FLOOR_FACTOR, LM_ENGINES, within_floor

        lines.append(
            "Against the floor (one dense JᵀJ, or JJᵀ when there are more weights than "
            "residuals, plus one Cholesky of that size, timed with BLAS in the same run; "
            "our LM solves in the same space, so an iteration adds to it the residuals, "
            "and the Jacobian when a step is taken):")
        for engine in LM_ENGINES:
            floor = within_floor(table, engine=engine)
            met = floor["met"].dropna()
            if floor.empty:
                continue
            lines.append(
                f"`{engine}`: one iteration cost " + ", ".join(
                    f"{r.lm_vs_floor:.1f}x at {int(r.n_params)} weights"
                    for r in floor.itertuples() if np.isfinite(r.lm_vs_floor))
                + f" the floor: within {FLOOR_FACTOR:g}x of it at {int(met.sum())} of "
                f"{len(met)} sizes.")
    if crossover_params is None:
        lines.append(f"With {assumptions}, an LM fit stayed cheaper than an Adam fit at "
                     "every size measured.")
    elif crossover_params == 0:
        lines.append(f"With {assumptions}, an LM fit was dearer than an Adam fit at every "
                     "size measured.")
    else:
        lines.append(f"With {assumptions}, an LM fit stops being cheaper than the Adam fit "
                     f"it replaces at about {crossover_params:.0f} weights.")
    return "\n".join(f"- {line}" for line in lines)


def study_curves(history_csvs) -> dict:
    """Median SSQ curves per (arm, inputs) against iteration and against each fit's own
    compute (``time_s``), from the study's thinned histories (arms trained on another
    loss are left out)."""
    from secondorder import io
    from secondorder.pipeline.study import median_curve

    frames = [io.read_csv(p) for p in history_csvs]
    history = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    curves = {}
    for (arm, inputs), group in history.groupby(["arm", "inputs"], sort=False):
        if "ssq_train" in group and group["ssq_train"].notna().any():
            group = group.dropna(subset=["ssq_train"])
            curves[(arm, inputs)] = {x: median_curve(group, x) for x in ("iteration", "time_s")}
    return curves


def scaling_analysis(table: pd.DataFrame, fits: pd.DataFrame, hidden: int) -> dict:
    """Growth exponents, estimated fit costs and the crossover, with fit lengths taken
    from the study (median LM iterations on raw inputs, median Adam epochs on scaled)."""
    from secondorder.pipeline.cost_study import crossover, fit_costs, growth_exponents

    study = fits[fits["source"] == "study"]
    lm_iters = float(study[(study["arm"] == "lm") & (study["inputs"] == "raw")]
                     ["iterations"].median())
    adam_epochs = float(study[(study["arm"] == "adam") & (study["inputs"] == "scaled")]
                        ["iterations"].median())
    costs = fit_costs(table, lm_iters, adam_epochs)
    assumptions = (f"{lm_iters:.0f} LM iterations and {adam_epochs:.0f} Adam epochs per fit "
                   f"(the study's medians at {hidden} hidden units)")
    return {"table": table, "exponents": growth_exponents(table), "costs": costs,
            "crossover": crossover(costs), "assumptions": assumptions}


def bench_findings(summary: dict) -> str:
    """Bullet points from ``results/bench/summary.json``: each goal, reached or not."""
    peer = summary.get("best_peer") or "none reached the target"
    words = {"lm_vs_article_call": "LM (the `lm` arm's options) speed-up over the article's "
                                   "call (as it ran)",
             "lm_vs_best_peer": f"LM (the `lm` arm's options) speed-up over the best peer "
                                f"({peer})",
             "lm_fast_vs_article_call": "LM (the fastest documented option set) speed-up "
                                        "over the article's call",
             "lm_fast_vs_best_peer": f"LM (the fastest documented option set) speed-up over "
                                     f"the best peer ({peer})",
             "adam_compiled_vs_fit": "compiled Adam speed-up over model.fit (per epoch)"}
    lines = [f"Measured on {summary['device']['name']} ({summary['device']['type']})."]
    for name, goal in summary["targets"].items():
        value = goal["value"]
        shown = "not reached" if value is None else f"{value:.3g}"
        verdict = {True: "met", False: "**not met**", None: "not measurable"}[goal["met"]]
        label = words.get(name, name).format(target=pct(summary["target"]))
        lines.append(f"{label}: {shown} (goal {goal['op']} {goal['threshold']:g}): {verdict}.")
    from secondorder.pipeline.bench import options_text

    settings = summary.get("settings", {})
    lines.append(f"The `lm` arm's options: {options_text(settings.get('lm_options'))}; the "
                 f"fastest documented option set (`bench.lm_fast`): "
                 f"{options_text(settings.get('lm_fast'))}.")
    return "\n".join(f"- {line}" for line in lines)


def rounding_findings(table: pd.DataFrame) -> str:
    """The sentence on rounding alone, from ``summary/rounding.csv``
    (:func:`secondorder.pipeline.study.rounding_sensitivity`)."""
    if table is None or table.empty:
        return "_No arm was trained on reordered training rows in this run._"
    parts = [f"`{r.arm}`: {r.successes_raw}/{r.n} successes in one order and "
             f"{r.successes_reordered}/{r.n} in the other, {r.flipped} fit(s) changed "
             f"outcome, accuracies moved by up to {100 * r.max_accuracy_change:.1f} points"
             for r in table.itertuples()]
    return ("Fits are chaotic: the same fits with the training rows summed in another "
            "order (the same problem; only rounding differs, as on another CPU or BLAS) "
            "gave " + "; ".join(parts) + ". Counts from another machine differ by about "
            "this much; compare rates through their intervals.")


#: FP64 peak of an NVIDIA H100 SXM (tensor cores, datasheet), for the suite's "on paper"
#: GPU estimate; never a measurement.
GPU_FP64_FLOPS = 67e12


def _cost_lines(lm_cost: pd.DataFrame, cap_s: float, memory_gb: float) -> list[str]:
    """Where LM stopped being practical in the suite: its own compute per iteration,
    the largest model it ran, its arithmetic rate, a GPU on paper (labelled as not
    measured) and the sizes not run for lack of memory."""
    lines = []
    ran = lm_cost[~lm_cost["memory_cap"].astype(bool) & lm_cost["ms_per_iteration"].notna()]
    capped = lm_cost[lm_cost["memory_cap"].astype(bool)]
    if len(ran):
        big = ran.sort_values("n_params").iloc[-1]
        flops = 2.0 * ran["n_residuals"] * ran["n_params"] * np.minimum(ran["n_residuals"],
                                                                         ran["n_params"])
        rate = float(np.median(flops / (1e-3 * ran["ms_per_iteration"])))
        gpu = GPU_FP64_FLOPS
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
            f"per fit here. On paper, a GPU with {gpu / 1e12:.0f} TFLOP/s of FP64 (an H100's "
            f"datasheet figure) would be up to {gpu / rate:.0f}x faster on that arithmetic "
            f"alone, and its 80 GB would hold one row's J and JᵀJ up to roughly "
            f"{int(np.sqrt(80e9 / 32)):,} weights in parameter space. Not measured: no GPU "
            "was used for this run."]
    if len(capped):
        lines.append(
            "Not run for lack of memory (one row's J, JᵀJ and factors over "
            f"{memory_gb:g} GB; reported as not run, not as failures): " + ", ".join(
                f"{r.problem}/{r.size} ({int(r.n_params)} weights, {int(r.n_residuals)} "
                "residuals)" for r in capped.itertuples()) + ".")
    return lines


def suite_findings(summary: dict, success: pd.DataFrame, verdict: pd.DataFrame,
                   verdict_changes: pd.DataFrame, not_run: pd.DataFrame,
                   lm_cost: pd.DataFrame) -> str:
    """The suite's findings as Markdown, from its summary and tables
    (:func:`secondorder.pipeline.suite.write_summary`): the protocol in numbers (splits,
    grid, inits, cap, budgets, tolerances, the timing rule), success at the cap with
    95% Wilson intervals, the verdict map at the smallest budget and at the cap with
    where it changes, what was not run, and LM's cost."""
    s = summary["settings"]
    tolerances = ", ".join(f"+{t['rows']} misclassified test row(s) or +{100 * t['relative']:g}% "
                           "of the reference's error" for t in s["tolerances"])
    splits = ", ".join(f"{p} {len(v)}" for p, v in summary["splits"].items())
    comparisons = "; ".join(f"`{c}`: " + ", ".join(f"`{a}`" for a in arms)
                            for c, arms in summary["comparisons"].items())
    boot = s["bootstrap"]
    lines = [
        f"**Protocol.** {summary['fits']} fits ({summary['scope']} scope): "
        f"{len(summary['problems'])} problem(s) ({', '.join(summary['problems'])}) x "
        f"{len(summary['sizes'])} model size(s) ({', '.join(summary['sizes'])}) x "
        f"{len(summary['arms'])} arms. Each problem is split 60/20/20 into training, "
        f"validation and test rows (splits per problem: {splits}); every arm trains each "
        f"of its {s['grid_points']} grid points from the same {s['inits']} initial weight "
        "draws on every split (the same tuning budget for all). Validation rows stop "
        "(each method's early stopping) and tune (the grid point with the lowest median "
        "validation error at each budget); test rows score. Every fit recorded its "
        "best-so-far weights by validation against its own compute and its passes over "
        f"the training rows, up to a cap of {s['cap_s']:g} s of own compute per fit, so "
        "every smaller budget is scored from the same run.",
        "",
        "**Times** are each fit's own compute: its share of the time of the batch it "
        "trained in (a batch's seconds split evenly over the fits still running in it; "
        "the fits of one grid point train as one batch, L-BFGS one fit at a time), "
        f"compilation and record keeping excluded, every arm on {s['threads']} thread(s) "
        "(TensorFlow and BLAS alike). Records are kept between chunks, so a first hit is "
        "known to within a chunk: " + ", ".join(
            f"`{a}` every {every}" for a, every in summary["record_every"].items())
        + ".",
        "",
        "**Targets** are set per problem, size and split from the tuned fits: the "
        "reference is the lowest median test error of any arm of the comparison at the "
        f"cap; the target adds a tolerance: {tolerances}. A fit's time to target is the "
        "first time its record met the target.",
        "",
        f"**Comparisons** (the same problems in every denominator): {comparisons}.",
        ""]
    for (comparison, tolerance), part in success.groupby(["comparison", "tolerance"],
                                                         sort=False):
        rates = [f"`{r.arm}` {r.successes}/{r.fits} ({pct(r.rate)}, 95% CI "
                 f"{pct(r.ci_low)}-{pct(r.ci_high)})"
                 for r in part.sort_values("rate", ascending=False).itertuples()]
        lines += [f"**Met the target by the cap** ({comparison}, {tolerance}): "
                  + "; ".join(rates) + ".", ""]
    if len(verdict):
        budgets = sorted(verdict["budget_s"].unique())
        lines.append(
            f"**The verdict map** (LM's success rate minus the best rival's at each budget, "
            f"paired by split and initial weights, {100 * boot['level']:g}% bootstrap "
            f"interval over {boot['resamples']} resamples within each problem; *holds* "
            "when the interval lies above 0, *fails* below, *mixed* when it covers 0 "
            "while LM is ahead on one problem and behind on another, *cannot tell* "
            "otherwise):")
        for (so, comparison, tolerance), part in verdict.groupby(
                ["second_order", "comparison", "tolerance"], sort=False):
            ends = []
            for budget in (budgets[0], budgets[-1]):
                words = part[part["budget_s"] == budget]["verdict"].value_counts()
                ends.append(f"at {budget:g} s " + ", ".join(
                    f"{words[w]} {w}" for w in ("holds", "mixed", "cannot tell", "fails")
                    if w in words))
            lines.append(f"- `{so}` against the {comparison} rivals, {tolerance}, over "
                         f"{part[['family', 'size']].drop_duplicates().shape[0]} (family, "
                         f"size) group(s): " + "; ".join(ends) + ".")
        changed = (verdict_changes[verdict_changes["changes_at_s"].notna()]
                   if len(verdict_changes) else verdict_changes)
        lines.append("")
        if len(changed):
            lines.append("**Where the answer changes with the budget**: " + "; ".join(
                f"{r.family}/{r.size} ({r.comparison}, {r.tolerance}): {r.path}"
                for r in changed.itertuples()) + ".")
        else:
            lines.append("**The answer does not change with the budget** in any group "
                         f"between {budgets[0]:g} s and {budgets[-1]:g} s.")
    else:
        lines.append("_No comparison had an instance that every one of its arms ran: no "
                     "verdict._")
    if len(not_run):
        lines += ["", "**Not run** (memory cap; left out of that comparison for every arm, "
                  "never counted as failures): " + ", ".join(
                      f"{r.problem}/{r.size} ({r.comparison}: {r.not_run})"
                      for r in not_run.itertuples()) + "."]
    cost = _cost_lines(lm_cost, s["cap_s"], s["lm_memory_gb"])
    if cost:
        lines += [""] + cost
    return "\n".join(lines)


def suite_tables(folder) -> dict[str, pd.DataFrame]:
    """The suite's tables the article reads from ``folder`` (a scope's
    ``results/suite/<scope>/``), by name; a table with no rows is an empty DataFrame."""
    from pathlib import Path

    tables = {}
    for name in ("success", "verdict", "verdict_changes", "verdict_instances", "not_run",
                 "lm_cost", "profiles"):
        path = Path(folder) / f"{name}.csv"
        try:
            tables[name] = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            tables[name] = pd.DataFrame()
    return tables


def suite_verdict_table(verdict: pd.DataFrame, by=("family", "size")) -> pd.DataFrame:
    """The verdict map as a table: one row per group of ``by``, one column per
    (comparison, tolerance, budget) holding the verdict word."""
    if verdict.empty:
        return pd.DataFrame()
    table = verdict.pivot_table(index=list(by), columns=["comparison", "tolerance", "budget_s"],
                                values="verdict", aggfunc="first")
    table.columns = table.columns.set_names(["comparison", "tolerance", "budget (s)"])
    return table
