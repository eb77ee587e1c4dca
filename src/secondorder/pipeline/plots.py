"""Figures of the article, each a function of pipeline artifacts returning a Figure.

One colour per engine in every figure (:data:`ENGINE_COLORS`, :func:`color`), one per
class (:data:`COLORS`) and one per kind of inputs (:data:`INPUT_COLORS`); each figure
is saved as SVG and as a PNG at :data:`DPI` (:func:`save`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from secondorder import io  # noqa: E402
from secondorder.optim.fit_result import TIME_LABEL  # noqa: E402

COLORS = {1: "tab:blue", 2: "tab:orange"}

#: The colour of each engine (an arm's name, or an engine of the scaling table), the
#: same in every figure. Arms of one family share a hue family: Adam reds and oranges,
#: LM blues, other first-order methods purple and olive, L-BFGS green.
ENGINE_COLORS = {
    "adam": "#d62728",              # Keras Adam, the article's settings
    "adam_compiled": "#d62728",     # (the scaling table's name for it)
    "adam_lr_0_01": "#ff7f0e",
    "adam_lr_0_1": "#8c564b",
    "adam_crossentropy": "#e377c2",
    "sgd_momentum": "#bcbd22",
    "rmsprop": "#9467bd",
    "lbfgs": "#2ca02c",
    "lm": "#1f77b4",                # our LM, TensorFlow Jacobian
    "lm_tf": "#1f77b4",             # (the scaling table's name for it)
    "lm_closed_form": "#6baed6",    # our LM, the closed-form numpy Jacobian
    "lm_marquardt": "#08519c",      # our LM with trainlm's damping rule (Marquardt's)
    "lm_fd": "#17becf",             # the article's scipy call, finite differences
    "lm_fd_modern": "#0b4f71",      # the same call under scipy >= 1.16
    "adam_ce": "#f7b6d2",           # the suite's cross-entropy arms
    "rmsprop_ce": "#c5b0d5",
}
_SPARE = ("#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173")

#: Pixels per inch of the PNGs (the SVGs are resolution-free).
DPI = 150

plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
                     "legend.fontsize": 9, "xtick.labelsize": 9, "ytick.labelsize": 9})


def color(name: str) -> str:
    """The colour of an engine or arm: :data:`ENGINE_COLORS`, else a fixed spare colour
    chosen from the name (the same in every figure and every run)."""
    import zlib

    if name in ENGINE_COLORS:
        return ENGINE_COLORS[name]
    return _SPARE[zlib.crc32(name.encode()) % len(_SPARE)]


def save(fig, figures_dir, name: str) -> list[Path]:
    """Write ``name.png`` and ``name.svg`` atomically; return the paths."""
    paths = []
    for ext in ("png", "svg"):
        path = Path(figures_dir) / f"{name}.{ext}"
        with io.atomic_path(path) as tmp:
            # metadata without dates keeps the files identical between runs
            meta = {"Date": None} if ext == "svg" else {"Software": None}
            fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight", metadata=meta)
        paths.append(path)
    return paths


def _square(ax, title):
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=9,
              frameon=False)


def spirals(points: pd.DataFrame):
    """The article's first figure: both spirals in raw coordinates."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for k in (1, 2):
        rows = points["class"] == k
        ax.scatter(points.x[rows], points.y[rows], s=12, color=COLORS[k], label=f"Class {k}")
    _square(ax, f"Two spirals ({len(points)} points)")
    return fig


def split(scaled: pd.DataFrame):
    """The article's second figure: scaled inputs, training and validation by class."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for subset, marker in (("train", "o"), ("validation", "^")):
        for k in (1, 2):
            rows = (scaled["class"] == k) & (scaled["set"] == subset)
            ax.scatter(scaled.x[rows], scaled.y[rows], s=14, marker=marker,
                       color=COLORS[k], alpha=1.0 if subset == "train" else 0.55,
                       edgecolors="black" if subset == "validation" else "none",
                       linewidths=0.5, label=f"Class {k} {subset} ({rows.sum()})")
    _square(ax, "Scaled inputs: training and validation")
    ax.set_xlabel("scaled x (flipped: max → 0.1)")
    ax.set_ylabel("scaled y (flipped: max → 0.1)")
    return fig


def predicted_classes(points: pd.DataFrame, predictions: pd.DataFrame, label: str, ax=None):
    """The article's third and fourth figures: predicted class of every point, drawn at
    its raw coordinates; misclassified points are ringed. Draws on ``ax`` when given
    (then without a legend: :func:`predicted_panels` draws one for all panels)."""
    alone = ax is None
    fig, ax = plt.subplots(figsize=(5, 5)) if alone else (ax.figure, ax)
    guess = predictions["predicted"].to_numpy()
    for k in (1, 2):
        rows = guess == k
        ax.scatter(points.x[rows], points.y[rows], s=12, color=COLORS[k],
                   label=f"{label} predicted class {k}" if alone else f"predicted class {k}")
    wrong = guess != points["class"].to_numpy()
    ax.scatter(points.x[wrong], points.y[wrong], s=40, facecolors="none", edgecolors="red",
               linewidths=0.8, label=f"misclassified ({wrong.sum()})" if alone
               else "misclassified")
    if alone:
        _square(ax, f"{label}:\n{np.mean(~wrong):.1%} of {len(points)} points correct")
    else:
        ax.set_aspect("equal")
        ax.set_title(f"{label}\n{np.mean(~wrong):.1%} correct, {wrong.sum()} of "
                     f"{len(points)} wrong", fontsize=11)
    return fig


def predicted_panels(points: pd.DataFrame, predictions: dict[str, pd.DataFrame],
                     labels: dict[str, str] | None = None):
    """The predicted classes of every arm side by side, one panel per arm in one row
    (the article's third and fourth figures, next to each other), one legend below."""
    labels = labels or {}
    n = len(predictions)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 4.1), squeeze=False)
    for ax, (arm, pred) in zip(axes[0], predictions.items()):
        predicted_classes(points, pred, labels.get(arm, arm), ax=ax)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.legend(handles, names, loc="lower center", ncol=3, frameon=False, fontsize=11)
    return fig


def training_curves(histories: dict[str, pd.DataFrame]):
    """Training and validation SSQ per arm, against iteration and against the fit's own
    compute (the history's ``time_s``)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for arm, hist in histories.items():
        for ax, xcol in zip(axes, ("iteration", "time_s")):
            ax.plot(hist[xcol], hist["ssq_train"], color=color(arm), label=f"{arm} train")
            ax.plot(hist[xcol], hist["ssq_val"], color=color(arm), ls="--",
                    label=f"{arm} validation")
    axes[0].set_xlabel("iteration (epoch; residual evaluations for lm_fd, lm_fd_modern)")
    axes[1].set_xlabel(TIME_LABEL)
    for ax in axes:
        ax.set_xscale("symlog", linthresh=1)
        ax.set_yscale("log")
        ax.set_ylabel("SSQ")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- the study -------------------------------------------------------------------------

INPUT_COLORS = {"raw": "tab:green", "scaled": "tab:purple"}


def success_rates(robust: pd.DataFrame):
    """Success rate per arm, raw and scaled side by side, with Wilson intervals."""
    arms = list(dict.fromkeys(robust["arm"]))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(arms) + 1.5))
    for k, inputs in enumerate(("raw", "scaled")):
        part = robust[robust["inputs"] == inputs].set_index("arm").reindex(arms)
        y = np.arange(len(arms)) + (k - 0.5) * 0.38
        ax.barh(y, part["rate"], height=0.36, color=INPUT_COLORS[inputs], label=f"{inputs} inputs")
        err = np.vstack([part["rate"] - part["ci_low"], part["ci_high"] - part["rate"]])
        ax.errorbar(part["rate"], y, xerr=err, fmt="none", ecolor="black", capsize=2, lw=0.8)
        for yi, (rate, n) in zip(y, zip(part["rate"], part["n"])):
            if not np.isnan(rate):
                ax.text(1.02, yi, f"{rate:.0%} of {int(n)}", va="center", fontsize=8)
    ax.set_yticks(np.arange(len(arms)), arms)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.18)
    ax.set_xlabel("success rate (95% Wilson interval)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def distributions(fits: pd.DataFrame, column: str, label: str, log: bool = False):
    """Every fit's ``column`` per arm, raw and scaled inputs, as dots over box plots."""
    arms = list(dict.fromkeys(fits["arm"]))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(arms) + 2), 4))
    rng = np.random.default_rng(0)  # fixed jitter: identical figures run to run
    for k, inputs in enumerate(("raw", "scaled")):
        data = [fits[(fits["arm"] == a) & (fits["inputs"] == inputs)][column].dropna()
                for a in arms]
        pos = np.arange(len(arms)) + (k - 0.5) * 0.36
        ax.boxplot([d.to_numpy() if len(d) else [np.nan] for d in data], positions=pos,
                   widths=0.3, showfliers=False, medianprops={"color": "black"})
        for p, d in zip(pos, data):
            ax.scatter(p + rng.uniform(-0.09, 0.09, len(d)), d, s=7, alpha=0.6,
                       color=INPUT_COLORS[inputs], label=f"{inputs} inputs" if p == pos[0] else None)
    ax.set_xticks(np.arange(len(arms)), arms, rotation=30, ha="right")
    ax.set_ylabel(label)
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def median_curves(curves: dict[tuple[str, str], dict[str, pd.DataFrame]]):
    """Median training SSQ (band: quartiles) per (arm, inputs) against iteration and
    against each fit's own compute; ``curves[(arm, inputs)] = {"iteration": frame,
    "time_s": frame}``."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for (arm, inputs), by_x in curves.items():
        for ax, x in zip(axes, ("iteration", "time_s")):
            c = by_x[x]
            if c.empty:
                continue
            style = "-" if inputs == "raw" else "--"
            ax.plot(c[x], c["median"], style, color=color(arm), label=f"{arm} ({inputs})")
            ax.fill_between(c[x], c["q25"], c["q75"], color=color(arm), alpha=0.08)
    axes[0].set_xlabel("iteration (epoch for first-order arms)")
    axes[1].set_xlabel(TIME_LABEL)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel("training SSQ (median over inits)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def decision_surfaces(surfaces: dict[tuple[str, str], np.ndarray], grid, points: pd.DataFrame):
    """Probability of class 1 over the raw plane for each (arm, inputs), data on top."""
    arms = list(dict.fromkeys(a for a, _ in surfaces))
    inputs_list = list(dict.fromkeys(i for _, i in surfaces))
    fig, axes = plt.subplots(len(inputs_list), len(arms), squeeze=False,
                             figsize=(2.4 * len(arms), 2.6 * len(inputs_list)))
    gx, gy = grid
    for r, inputs in enumerate(inputs_list):
        for c, arm in enumerate(arms):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if (arm, inputs) not in surfaces:
                ax.set_axis_off()
                continue
            ax.contourf(gx, gy, surfaces[(arm, inputs)], levels=np.linspace(0, 1, 11),
                        cmap="RdBu_r", alpha=0.8)
            for k in (1, 2):
                rows = points["class"] == k
                ax.scatter(points.x[rows], points.y[rows], s=1.5, color=COLORS[k])
            ax.set_title(f"{arm}\n{inputs}", fontsize=9, color=color(arm))
            ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def scaling(table: pd.DataFrame, costs: pd.DataFrame, crossover_params, assumptions: str):
    """Left: ms per LM iteration / Adam epoch against weights. Right: estimated fit time
    of each and the crossover."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    names = {"lm_tf": "LM iteration (TensorFlow Jacobian)",
             "lm_closed_form": "LM iteration (closed-form Jacobian)",
             "adam_compiled": "Adam epoch"}
    for engine, part in table.groupby("engine"):
        axes[0].plot(part["n_params"], part["ms_per_iter"], "o-", color=color(engine),
                     label=names.get(engine, engine))
    if "floor_ms" in table:
        lm = table[table["engine"] == "lm_tf"].sort_values("n_params")
        axes[0].plot(lm["n_params"], lm["floor_ms"], "k--", lw=1,
                     label="floor: JᵀJ (JJᵀ when n > m) + Cholesky, BLAS")
    axes[0].set_ylabel("ms per iteration (LM) / epoch (Adam)")
    axes[1].plot(costs["n_params"], costs["lm_fit_s"], "o-", color=color("lm"), label="LM fit")
    axes[1].plot(costs["n_params"], costs["adam_fit_s"], "o-", color=color("adam"),
                 label="Adam fit")
    if crossover_params:
        axes[1].axvline(crossover_params, color="black", ls=":",
                        label=f"crossover ≈ {crossover_params:.0f} weights")
    axes[1].set_ylabel("estimated seconds per fit")
    axes[1].set_title(assumptions, fontsize=9)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("weights (2-h-2 perceptron)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


# --- the multi-dataset suite --------------------------------------------------------------

#: Labels of the data profile panels: measure -> (x label, title).
PROFILE_PANELS = {
    "time_s": ("budget: a fit's own compute (s)", "data profile, time"),
    "work": ("budget: floating-point operations", "data profile, work"),
}


def _middle(values):
    values = list(dict.fromkeys(values))
    return values[len(values) // 2]


def suite_profiles(profiles: pd.DataFrame, tolerance: str | None = None):
    """Data profiles (after Moré and Wild 2009): the share of instances whose returned
    model meets the target at each budget of a fit's own compute and of its work, one
    row of panels per comparison, at one ``tolerance`` (default: the middle one of the
    table). ``profiles``: :func:`secondorder.pipeline.suite.outcomes.data_profiles`."""
    if profiles.empty:
        fig, ax = plt.subplots(figsize=(6.4, 2.0))
        ax.axis("off")
        ax.text(0.5, 0.5, "no comparison had instances every arm ran", ha="center")
        return fig
    tolerance = tolerance or _middle(profiles["tolerance"])
    part = profiles[profiles["tolerance"] == tolerance]
    comparisons = list(dict.fromkeys(part["comparison"]))
    fig, axes = plt.subplots(len(comparisons), 2, figsize=(9, 3.2 * len(comparisons)),
                             squeeze=False)
    for r, comparison in enumerate(comparisons):
        for c, (measure, (xlabel, title)) in enumerate(PROFILE_PANELS.items()):
            ax = axes[r, c]
            panel = part[(part["comparison"] == comparison) & (part["measure"] == measure)]
            for arm, line in panel.groupby("arm", sort=True):
                ax.step(line["x"], line["value"], where="post", label=arm, color=color(arm),
                        lw=2 if arm.startswith("lm") else 1.3)
            ax.set_xscale("log")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_title(f"{comparison}: {title}", fontsize=9)
            ax.grid(alpha=0.3)
            if c == 0:
                ax.set_ylabel("share of instances: returned model\nmeets the target")
            else:
                ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Target: reference test error {tolerance}", fontsize=10)
    fig.tight_layout()
    return fig


#: Colours of the verdict's cell words.
VERDICT_COLORS = {"holds": "#1a9850", "equivalent": "#91bfdb", "cannot tell": "#d9d9d9",
                  "fails": "#d73027"}


def suite_verdict_map(cells: pd.DataFrame):
    """The verdict map: per comparison and second-order arm (rows of panels), the test
    error, and success and time to target at the middle tolerance (columns), a grid of
    (family, size) cells against budgets, each coloured by its word and labelled with
    the second-order arm's smallest advantage over a rival (positive: better than every
    rival); the primary cell outlined. ``cells``:
    :func:`secondorder.pipeline.suite.verdicts.verdict_tables`' second table."""
    from matplotlib.patches import Patch

    if cells.empty:
        fig, ax = plt.subplots(figsize=(6.4, 2.0))
        ax.axis("off")
        ax.text(0.5, 0.5, "no verdict: no comparison had instances every arm ran",
                ha="center")
        return fig
    rows = list(dict.fromkeys(zip(cells["comparison"], cells["second_order"])))
    tolerances = [t for t in dict.fromkeys(cells["tolerance"]) if t != "none"]
    middle = _middle(tolerances) if tolerances else "none"
    panels = [("test_error", "none"), ("solved", middle), ("time_to_target", middle)]
    groups = sorted(set(zip(cells["family"], cells["size"])),
                    key=lambda g: (g[0] != "all", g))
    budgets = sorted(cells["budget"].unique())
    fig, axes = plt.subplots(len(rows), len(panels), squeeze=False,
                             figsize=(3.6 * len(panels) + 1.2,
                                      0.45 * len(groups) * len(rows) + 1.6 * len(rows)))
    for r, (comparison, so) in enumerate(rows):
        for c, (outcome, tolerance) in enumerate(panels):
            ax = axes[r, c]
            part = cells[(cells["comparison"] == comparison) & (cells["second_order"] == so)
                         & (cells["outcome"] == outcome) & (cells["tolerance"] == tolerance)]
            for row in part.itertuples():
                y, x = groups.index((row.family, row.size)), budgets.index(row.budget)
                primary = row.hypotheses == "primary"
                ax.add_patch(plt.Rectangle((x - 0.5, y - 0.5), 1, 1,
                                           facecolor=VERDICT_COLORS[row.word],
                                           edgecolor="black" if primary else "white",
                                           lw=2.5 if primary else 0.5))
                ax.text(x, y, f"{row.smallest_theta:+.2f}", ha="center", va="center",
                        fontsize=7)
            ax.set_xlim(-0.5, len(budgets) - 0.5)
            ax.set_ylim(len(groups) - 0.5, -0.5)
            ax.set_xticks(range(len(budgets)), [f"{b:g}" for b in budgets], fontsize=7)
            ax.set_yticks(range(len(groups)), [f"{f}, {s}" for f, s in groups], fontsize=7)
            ax.set_xlabel("budget: a fit's own compute (s)", fontsize=8)
            label = outcome.replace("_", " ") + ("" if tolerance == "none" else f", {tolerance}")
            ax.set_title(f"{so} vs {comparison} rivals: {label}", fontsize=8)
    handles = [Patch(color=v, label=k) for k, v in VERDICT_COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def suite_lm_cost(cost: pd.DataFrame):
    """LM's time per iteration (per fit, alone) against its weights,
    one point per (problem, size); sizes LM was not run at (memory cap) on the axis."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ran = cost[~cost["memory_cap"] & cost["ms_per_iteration"].notna()]
    capped = cost[cost["memory_cap"]]
    sc = ax.scatter(ran["n_params"], ran["ms_per_iteration"], c=np.log10(ran["n_residuals"]),
                    cmap="viridis", s=28)
    for row in ran.itertuples():
        ax.annotate(row.problem, (row.n_params, row.ms_per_iteration), fontsize=6,
                    xytext=(3, 2), textcoords="offset points")
    if len(capped):
        low = ran["ms_per_iteration"].min() if len(ran) else 1.0
        ax.scatter(capped["n_params"], np.full(len(capped), low / 3), marker="x",
                   color="black", label="not run: memory cap")
        ax.legend(fontsize=8, loc="upper left")
    fig.colorbar(sc, ax=ax, label="log10 residuals m")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("weights n")
    ax.set_ylabel("ms per LM iteration (per fit)")
    ax.set_title("Cost of one LM iteration across the suite")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig
