"""Results: the article's arms from the shared initial weights, whether the article's
claim held in this run, and each arm's predicted classes."""

from __future__ import annotations

import pandas as pd

from secondorder.article.facts import ROLES, Unwritable, paragraph
from secondorder.article.page import MISSING, Figure, Table, names, pct
from secondorder.pipeline import plots

HEADING = "Results"

#: The article's claim holds in a run when each LM arm it ran (ours, and its scipy call
#: as it ran) classifies at least ``HOLDS_ACCURACY`` of all points and beats Adam by
#: more than ``HOLDS_MARGIN`` (the article: "Adam fails to separate the spirals;
#: Levenberg-Marquardt classifies them almost perfectly").
HOLDS_ACCURACY, HOLDS_MARGIN = 0.97, 0.2

#: How the article names each Jacobian an LM arm can take
#: (:data:`secondorder.optim.lm_network.JACOBIANS`).
JACOBIANS = {"tf": "TensorFlow", "closed_form": "closed-form"}

#: The LM parts of :data:`~secondorder.article.facts.ROLES` the claim is about (the same
#: line under a newer scipy, capped, is the subject of *What differs*).
CLAIM_LM_ROLES = ("lm", "article_call")


def results_table(fits: pd.DataFrame) -> pd.DataFrame:
    """``fits.csv`` as a reader wants it: one row per arm, rounded, with units; ``time
    (s)`` is each fit's own compute (:class:`~secondorder.optim.fit_result.FitResult`),
    ``batch wall (s)`` its batch's wall time."""
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


def claim_held(accuracy: dict[str, float], adam: str, lm_arms) -> bool:
    """Whether the article's claim held (:data:`HOLDS_ACCURACY`, :data:`HOLDS_MARGIN`):
    ``accuracy`` maps arms to their accuracy on all points."""
    return all(accuracy[a] >= HOLDS_ACCURACY and accuracy[a] > accuracy[adam] + HOLDS_MARGIN
               for a in lm_arms)


def verdict(facts) -> str:
    """Adam's and each LM arm's accuracy, then whether the article's claim held."""
    fits = facts.article_fits.set_index("arm")
    roles = facts.roles
    lm_arms = [getattr(roles, r) for r in CLAIM_LM_ROLES if getattr(roles, r) in fits.index]

    def adam():
        a = fits.loc[roles.arm("adam")]
        return (f"Adam (`{a.name}`) classified {pct(a.accuracy_all)} of all points "
                f"({pct(a.accuracy_val)} of the validation points) after "
                f"{int(a.iterations)} epochs ({a.status.replace('_', ' ')}).")

    def held():
        adam_arm = roles.arm("adam")
        if not lm_arms:
            raise Unwritable("this run's config runs no arm with optimizer "
                             + " or ".join(f"`{ROLES[r]}`" for r in CLAIM_LM_ROLES))
        accuracy = fits["accuracy_all"].to_dict()
        if claim_held(accuracy, adam_arm, lm_arms):
            return (f"The article's result holds here: every LM arm reached at least "
                    f"{pct(HOLDS_ACCURACY)} of all points and Adam stayed more than "
                    f"{100 * HOLDS_MARGIN:.0f} points below each.")
        missed = [a for a in lm_arms if accuracy[a] < HOLDS_ACCURACY]
        return ("The article's result does **not** fully hold here: "
                + (f"{names(missed)} stayed below {pct(HOLDS_ACCURACY)}; "
                   if missed else "")
                + f"Adam reached {pct(accuracy[adam_arm])}.")

    lines = [paragraph("This sentence reports the article's Adam arm", adam)]
    lines += [f"Levenberg-Marquardt (`{arm}`) classified {pct(r.accuracy_all)} of all "
              f"points ({pct(r.accuracy_val)} of the validation points) in "
              f"{r.time_s:.1f} s." for arm, r in fits.loc[lm_arms].iterrows()]
    lines.append(paragraph("This sentence says whether the article's claim held",
                           held))
    return " ".join(lines)


def alone(fits: pd.DataFrame) -> bool:
    """Whether every fit of ``fits`` ran alone (a batch of one)."""
    return bool((fits["batch_size"] == 1).all())


def table_notes(facts) -> list[str]:
    """What the table's times are and why a cell is empty: one paragraph each."""
    fits = facts.article_fits
    notes = ["*time*: each fit's own compute, compilation excluded"
             + ("; the article's arms each ran alone, so it is the wall time of the run "
                "(*batch wall*)." if alone(fits) else
                "; *batch wall*: the wall time of the batch it ran in.")]
    no_count = fits[fits["iterations"].isna()]
    if len(no_count):
        minpack = {ROLES["article_call"], ROLES["modern_call"]}
        why = ("MINPACK, which they run through scipy, reports residual evaluations, not "
               "iterations" if set(no_count["optimizer"]) <= minpack else
               "their optimizers do not count iterations")
        notes.append(f"{MISSING} in *iterations*: not reported for "
                     f"{names(no_count['arm'])} ({why}).")
    return notes


def label(facts, arm: str) -> str:
    """The name of an article arm in a figure: its part, ``arm`` for another."""
    role = facts.roles.of_optimizer(facts.arm_settings(arm)["optimizer"])
    if role == "lm":
        jacobian = facts.arm_settings(arm)["jacobian"]
        return f"LM ({JACOBIANS.get(jacobian, jacobian)} Jacobian)"
    scipy = (facts.fit_info.get(arm, {}).get("versions") or {}).get("scipy", "installed")
    return {"adam": "Adam", "article_call": "LM (article, finite differences)",
            "modern_call": f"LM (same call, scipy {scipy})"}.get(role, arm)


def render(facts):
    init = facts.init
    yield (f"All arms start from the same {init['n_params']} weights "
           f"(`np.random.seed({init['seed']})`, U({init['low']}, {init['high']}), "
           f"sha256 `{init['sha256'][:12]}…`).")
    yield verdict(facts)
    yield Table(results_table(facts.article_fits), "results")
    yield from table_notes(facts)
    labels = {arm: label(facts, arm) for arm in facts.predictions}
    yield Figure("fig_predicted",
                 lambda: plots.predicted_panels(facts.points, facts.predictions, labels),
                 "Predicted class of every point for each arm, all from the same initial "
                 "weights; misclassified points are ringed in red.")
