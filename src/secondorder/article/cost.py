"""The cost of growing: one LM iteration and one Adam epoch as the hidden layer grows,
against the floor, and what that makes of a whole fit."""

from __future__ import annotations

import numpy as np

from secondorder.article.facts import Unwritable, paragraph
from secondorder.article.page import Figure, Table, bullets
from secondorder.article.results import JACOBIANS
from secondorder.pipeline import cost_study, plots, study

HEADING = "The cost of growing"


def estimate(facts) -> cost_study.FitCostEstimate:
    """The scaling table's fit costs, for fits as long as the study's median LM fit (the
    ``lm`` part's arm on its inputs) and median Adam fit (the ``adam`` part's)."""
    lm, adam = facts.roles.arm("lm"), facts.roles.arm("adam")
    return cost_study.estimate_fits(
        facts.scaling,
        study.median_iterations(facts.fits, lm, facts.arm_settings(lm)["inputs"]),
        study.median_iterations(facts.fits, adam, facts.arm_settings(adam)["inputs"]))


def assumptions(facts, cost: cost_study.FitCostEstimate) -> str:
    """The fit lengths the estimate assumes, in words."""
    if np.isnan(cost.lm_iterations) or np.isnan(cost.adam_epochs):
        raise Unwritable("the study trained no fit of the article's LM or Adam arm on its "
                         "inputs to take a fit's length from")
    return (f"{cost.lm_iterations:.0f} LM iterations and {cost.adam_epochs:.0f} Adam "
            f"epochs per fit (the study's medians at {facts.architecture.nhid} hidden "
            "units)")


def growth(table) -> str:
    """From the smallest to the largest size: an LM iteration's time and peak memory,
    and an Adam epoch's time (the engines of :data:`cost_study.FIT_ENGINES`)."""
    lm, adam = cost_study.FIT_ENGINES["lm"], cost_study.FIT_ENGINES["adam"]
    wide = table.pivot_table(index=["hidden", "n_params"], columns="engine",
                             values=["ms_per_iter", "peak_mem_mb"]).reset_index()
    small, large = wide.iloc[0], wide.iloc[-1]
    return (
        f"From {int(small['hidden'].iloc[0])} to {int(large['hidden'].iloc[0])} hidden units "
        f"({int(small['n_params'].iloc[0])} to {int(large['n_params'].iloc[0])} weights) one "
        f"LM iteration went from {small[('ms_per_iter', lm)]:.2f} to "
        f"{large[('ms_per_iter', lm)]:.1f} ms and its peak memory from "
        f"{small[('peak_mem_mb', lm)]:.0f} to {large[('peak_mem_mb', lm)]:.0f} MB; one "
        f"Adam epoch from {small[('ms_per_iter', adam)]:.3f} to "
        f"{large[('ms_per_iter', adam)]:.3f} ms.")


def floor_lines(table) -> list[str]:
    """Each LM engine's iteration against the floor, size by size."""
    lines = ["Against the floor (one dense JᵀJ, or JJᵀ when there are more weights than "
             "residuals, plus one Cholesky of that size, timed with BLAS in the same run; "
             "our LM solves in the same space, so an iteration adds to it the residuals, "
             "and the Jacobian when a step is taken):"]
    for engine in cost_study.LM_ENGINES:
        floor = cost_study.within_floor(table, engine=engine)
        if floor.empty:
            continue
        met = floor["met"].dropna()
        lines.append(
            f"`{engine}`: one iteration cost " + ", ".join(
                f"{r.lm_vs_floor:.1f}x at {int(r.n_params)} weights"
                for r in floor.itertuples() if np.isfinite(r.lm_vs_floor))
            + f" the floor: within {cost_study.FLOOR_FACTOR:g}x of it at {int(met.sum())} "
            f"of {len(met)} sizes.")
    return lines


def crossover_line(facts, cost) -> str:
    words = assumptions(facts, cost)
    if cost.crossover is None:
        return (f"With {words}, an LM fit stayed cheaper than an Adam fit at every size "
                "measured.")
    if cost.crossover == 0:
        return f"With {words}, an LM fit was dearer than an Adam fit at every size measured."
    return (f"With {words}, an LM fit stops being cheaper than the Adam fit it replaces "
            f"at about {cost.crossover:.0f} weights.")


def findings(facts, cost) -> str:
    """Bullet points on the cost of growing, from ``scaling.csv``."""
    lines = [growth(cost.table)]
    if cost.exponents:
        lines.append("Fitted growth of time per iteration with the number of weights n "
                     "(larger sizes): " + ", ".join(f"{engine} ~ n^{slope:.2f}"
                                                   for engine, slope in cost.exponents.items())
                     + " (LM's theory: between n^2 for forming JᵀJ and n^3 for "
                     "factoring it).")
    if "floor_ms" in cost.table:
        lines += floor_lines(cost.table)
    lines.append(paragraph("This item would say where an LM fit stops being cheaper than "
                           "an Adam fit", lambda: crossover_line(facts, cost)))
    return bullets(lines)


def render(facts):
    jacobians = [JACOBIANS.get(j, j) for j in cost_study.LM_ENGINES.values()]
    yield ("The article closes on the caveat that second-order methods need the n x n "
           "curvature matrix. Here one LM iteration (with the "
           + " and with the ".join(jacobians) + " Jacobian) and one Adam epoch are timed "
           "as the hidden layer grows, each engine in a fresh process, each size's peak "
           "memory its own, beside the floor: one Gram matrix and one Cholesky "
           "factorisation of the LM's size.")
    if facts.scaling is None:
        yield "_The cost study is not part of this run (its config has no `scaling`)._"
        return
    try:
        cost = estimate(facts)
    except Unwritable as why:
        yield f"_The cost of a whole fit needs the article's LM and Adam arms: {why}._"
        return
    yield findings(facts, cost)
    yield Figure("fig_scaling",
                 lambda: plots.scaling(cost.table, cost.costs, cost.crossover,
                                       paragraph("no fit lengths",
                                                 lambda: assumptions(facts, cost))),
                 "Milliseconds per LM iteration and per Adam epoch as the hidden layer "
                 "grows (left), and the estimated time of a whole fit (right).")
    yield Table(cost.table.set_index(["hidden", "engine"]), "scaling")
