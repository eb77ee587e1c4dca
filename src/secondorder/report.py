"""Tables and sentences of the article, generated from the artifacts.

Every number the article states comes from here, so the prose changes when the results
do (including when a result goes against the original article).
"""

from __future__ import annotations

import pandas as pd

#: The article's results, as published (for comparison only; never used as ours).
ARTICLE_CLAIM = "Adam fails to separate the spirals; Levenberg-Marquardt classifies them almost perfectly"


def pct(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def results_table(fits: pd.DataFrame) -> pd.DataFrame:
    """``fits.csv`` as a reader wants it: one row per arm, rounded, with units."""
    table = pd.DataFrame({
        "arm": fits["arm"], "optimizer": fits["optimizer"], "inputs": fits["inputs"],
        "accuracy (all)": fits["accuracy_all"].map(pct),
        "accuracy (train)": fits["accuracy_train"].map(pct),
        "accuracy (val)": fits["accuracy_val"].map(pct),
        "SSQ train": fits["ssq_train"].round(2), "SSQ val": fits["ssq_val"].round(2),
        "iterations": fits["iterations"].astype("Int64"),
        "residual evals": fits["evaluations"].astype("Int64"),
        "wall (s)": fits["wall_s"].round(2), "status": fits["status"]})
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
                     f"{r.wall_s:.1f} s.")
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
    for rule in ("spirals", "split_scale", "shared_init", "train_adam", "train_lm",
                 "train_lm_fd", "evaluate", "summary"):
        for rec in by_rule.get(rule, []):
            name = rule + "".join(f" `{v}`" for v in rec["wildcards"].values())
            params = ", ".join(f"{k}={v}" for k, v in rec["params"].items()) or "none"
            lines.append(f"- **{name}** — params: {params}")
    return "\n".join(lines)
