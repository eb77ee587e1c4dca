"""What differs from the original: libraries, quirks kept, inputs, precision, engines,
and what a scipy upgrade alone did to the article's LM call."""

from __future__ import annotations

from secondorder.article.facts import paragraph
from secondorder.article.page import bullets, pct
from secondorder.article.results import JACOBIANS

HEADING = "What differs from the original"


def differences(facts) -> str:
    """A Markdown list of what differs from the original code, from the artifacts."""
    fit_info, scaler = facts.fit_info, facts.scaler
    versions = next(iter(fit_info.values()))["versions"]
    engines = {arm: info["settings"].get("engine") or info["settings"].get("solve")
               for arm, info in fit_info.items()}
    jacobians = {arm: info["settings"]["jacobian"] for arm, info in fit_info.items()
                 if info["settings"].get("jacobian")}
    items = [
        f"Libraries: Python {versions['python']}, TensorFlow {versions['tensorflow']}, "
        f"Keras {versions['keras']}, numpy {versions['numpy']}, scipy {versions['scipy']}. "
        "The article's code was written for TensorFlow 2 with Keras 2 "
        "(its `Input(shape=int(2))` fails in Keras 3, where we write `Input(shape=(2,))`).",
        ("Scaling quirk kept: the article passes the training **maximum** as `data_min` "
         "and the minimum as `data_max`, so both axes are flipped "
         if scaler["min_max_swapped"] else
         "Scaling quirk undone: the article passes the training maximum as `data_min` "
         "and the minimum as `data_max`; this run does not ")
        + f"(x: {scaler['data_min'][0]:.3f} → {scaler['scale_min'][0]}, "
        f"{scaler['data_max'][0]:.3f} → {scaler['scale_max'][0]}). "
        f"Recorded as `min_max_swapped: {str(scaler['min_max_swapped']).lower()}` in "
        "`scaler.json`.",
        ("Input confound kept: " if len({i["inputs"] for i in fit_info.values()}) > 1
         else "No input confound: ")
        + ", ".join(f"`{arm}` saw **{info['inputs']}** inputs"
                    for arm, info in fit_info.items())
        + (". The article's LM residuals use the unscaled inputs while Keras trains on "
           "the scaled ones, so the arms did not see the same data."
           if len({info["inputs"] for info in fit_info.values()}) > 1 else "."),
        "Precision: Keras trains in float32 (the article's default); our LM and the "
        "scipy call work in float64.",
        engines_item(engines, jacobians),
        "The LM arms have no early stopping (as in the article): validation SSQ is only "
        "recorded.",
    ]
    return bullets(items)


def engines_item(engines: dict, jacobians: dict) -> str:
    """The engines the article's arms ran with, and the Jacobians of its LM arms."""
    notes = (["The compiled Adam loop runs the same Keras model and optimizer as "
              "`model.fit`, with EarlyStopping's rule reproduced in the loop"]
             if "compiled" in engines.values() else [])
    notes += [f"`{arm}` uses the {JACOBIANS.get(j, j)} Jacobian instead of finite "
              "differences" for arm, j in jacobians.items()]
    return ("Engines: " + ", ".join(f"`{arm}` ran with `{eng}`"
                                    for arm, eng in engines.items() if eng) + "."
            + (" " + "; ".join(notes) + "." if notes else ""))


def scipy_upgrade(fits, fit_info: dict, article_arm: str, modern_arm: str) -> str:
    """A paragraph comparing the article's LM call as it ran (scipy <= 1.15, arm
    ``article_arm``) with the same line under the installed scipy (``modern_arm``),
    from their rows of ``fits.csv`` and their ``fit.json`` (``fit_info``)."""
    fits = fits.set_index("arm")
    old, new = fits.loc[article_arm], fits.loc[modern_arm]
    version = ((fit_info.get(modern_arm) or {}).get("versions") or {}).get("scipy",
                                                                           "installed")

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
            f"{new.time_s / old.time_s:.1f} times the time"
            + (" (each ran alone)" if {old.get("batch_size"), new.get("batch_size")} == {1}
               else "")
            + ". Where this page "
            f"speaks of the article's LM call, it means `{article_arm}`.")


def render(facts):
    yield differences(facts)
    roles = facts.roles
    yield paragraph("This paragraph compares the article's scipy call as it ran with the "
                    "same line under the installed scipy",
                    lambda: scipy_upgrade(facts.article_fits, facts.fit_info,
                                          roles.arm("article_call"),
                                          roles.arm("modern_call")))
