"""A scope's design before any fit: the primary question's planned power and smallest
detectable difference, the variance that plan assumed and the one observed after, and
what the scope costs.

**Planned power** (:func:`planned`, ``results/suite/<scope>/design.json``, written
before any fit): the primary family of the scope
(:func:`~secondorder.pipeline.suite.scopes.primary`: its cells x the primary
comparison's rivals in the scope, Holm at ``alpha``) on a design of
``problems x splits x inits`` pairs (:class:`secondorder.pipeline.power.Design`;
``splits``: the fewest any problem of the scope gets, so the plan is conservative where
large problems are split once), simulated with the project's own rule
(:func:`secondorder.pipeline.power.power`, :func:`~secondorder.pipeline.power.planned_mde`)
under the variance assumptions declared in ``suite.primary.planning``: for a continuous
outcome (``time_to_target``, ``test_error``) the standard deviation of one pair's
difference and its intraclass correlation at the split level
(:class:`~secondorder.pipeline.power.ContinuousOutcome`), for ``solved`` the rivals'
success rate and the logit-scale split and arm x split effects
(:class:`~secondorder.pipeline.power.BinaryOutcome`).

**Observed variance** (:func:`observed`): the same two numbers estimated from the
evaluation's paired differences of the primary cells (:func:`variance_components`, a
one-way random-effects analysis of variance with the clusters as groups), to set beside
the assumptions.

**Cost** (:func:`cost`): fits per phase (tuning: every grid point; evaluation: the
selected points, ``points`` per arm on average) times each arm's mean fit time, plus
each job's start-up and compilation; :func:`measure` times each arm on a scope's
problems with a small tuning run (one split, one initial weight draw), and
``python -m secondorder.pipeline.suite.design SCOPE`` prints both.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from secondorder.pipeline import inference, power
from secondorder.pipeline.suite import scopes
from secondorder.problem import datasets

#: Planted effects of the planned power table.
EFFECTS = (0.05, 0.1, 0.15, 0.2, 0.3)


def n_rows(suite: dict, problem: str) -> int:
    """The rows of a problem's data (``data_seed``)."""
    x, _ = datasets.get_dataset(problem, suite.get("csv_problems")).load(suite["data_seed"])
    return len(x)


def primary_design(suite: dict, scope: str) -> power.Design:
    """The design of the scope's primary family: the problems the primary comparison
    applies to, the fewest evaluation splits any of them gets, ``inits``, the
    comparison's rivals in the scope and the declared cells."""
    settings = scopes.scope_settings(suite, scope)
    question = scopes.primary(suite, scope)
    rivals = [a for a in scopes.comparisons(suite).get(question["comparison"], [])
              if a in settings["arms"]]
    problems = [p for p in settings["problems"]
                if any(scopes.arm_applies(suite["arms"][a], scopes.problem_task(suite, p))
                       for a in rivals)]
    if not rivals or not problems:
        raise ValueError(f"scope {scope!r} has no rival of the primary comparison "
                         f"{question['comparison']!r} on any of its problems")
    splits = min(len(scopes.split_seeds(suite, scope, "evaluate", n_rows(suite, p)))
                 for p in problems)
    return power.Design(problems=len(problems), splits=splits,
                        inits=int(settings["inits"]), rivals=len(rivals),
                        cells=len(question["cells"]))


def outcome_model(suite: dict, scope: str):
    """The planning model of the primary outcome from ``primary.planning``."""
    question = scopes.primary(suite, scope)
    plan = scopes.scope_settings(suite, scope)["primary"]["planning"]
    if question["outcome"] == "solved":
        return power.BinaryOutcome(base=plan["base"], split_sd=plan["split_sd"],
                                   interaction_sd=plan["interaction_sd"])
    return power.ContinuousOutcome(sd_difference=plan["sd_difference"], icc=plan["icc"])


def planned(suite: dict, scope: str) -> dict:
    """``design.json``: the primary question, its design (problems, splits, inits,
    clusters, pairs, rivals, cells, the Holm family's size), the variance assumptions,
    the planned MDE (power ``inference.power`` per comparison) and a power table over
    :data:`EFFECTS` (per comparison and per cell), with the simulation's replicates and
    Monte-Carlo error, and the fit counts of :func:`cost`. Needs no fit."""
    from secondorder.pipeline.suite.verdicts import rule

    question = scopes.primary(suite, scope)
    plan = scopes.scope_settings(suite, scope)["primary"]["planning"]
    design = primary_design(suite, scope)
    model = outcome_model(suite, scope)
    decision = rule(suite, question["outcome"])
    reps, seed = int(plan["reps"]), int(suite["inference"]["seed"])
    mde = power.planned_mde(design, model, rule=decision, target=decision.power,
                            reps=reps, seed=seed)
    effects = [e for e in EFFECTS
               if not isinstance(model, power.BinaryOutcome) or model.base + e < 1]
    table = power.power_table({scope: design}, model, effects, rule=decision, reps=reps,
                              seed=seed)
    assumptions = {"model": type(model).__name__,
                   **{k: getattr(model, k) for k in ("sd_difference", "icc", "base",
                                                     "split_sd", "interaction_sd")
                      if hasattr(model, k)}}
    return {"scope": scope, "question": question,
            "design": {"problems": design.problems, "splits": design.splits,
                       "inits": design.inits, "clusters": design.clusters,
                       "pairs": design.pairs, "rivals": design.rivals,
                       "cells": design.cells, "holm_over": design.family_size},
            "assumptions": assumptions,
            "power": {"target": decision.power, "alpha": decision.alpha,
                      "planned_mde": mde, "reps": reps,
                      "mc_se": 0.5 / math.sqrt(reps),
                      "power_table": table.to_dict(orient="records")},
            "fits": cost(suite, scope)["fits"]}


def variance_components(differences, problem, split) -> dict:
    """The standard deviation of one pair's difference and its intraclass correlation
    at the split level, from a one-way random-effects analysis of variance with the
    clusters (problem, split) as groups: ``MSW`` within clusters, ``MSB`` between
    (around the grand mean, so differences between problems count as split-level
    variance: conservative), ``n0 = (N - sum n_i^2 / N) / (k - 1)``,
    ``s_b^2 = max(0, (MSB - MSW) / n0)``; ``sd = sqrt(s_b^2 + MSW)``,
    ``icc = s_b^2 / (s_b^2 + MSW)`` (Searle, Casella and McCulloch 1992, ch. 3). NaN
    with fewer than two clusters or no cluster of two pairs."""
    grouped = inference.clusters(differences, problem, split)
    k, total = grouped.n_clusters, grouped.n_pairs
    nan = {"sd_difference": math.nan, "icc": math.nan, "clusters": k, "pairs": total}
    if k < 2 or total - k < 1:
        return nan
    d, g, n = grouped.differences, grouped.cluster, grouped.pairs
    means = grouped.means
    grand = d.mean()
    within = float(((d - means[g]) ** 2).sum() / (total - k))
    between = float((n * (means - grand) ** 2).sum() / (k - 1))
    n0 = (total - (n ** 2).sum() / total) / (k - 1)
    split_var = max(0.0, (between - within) / n0)
    spread = split_var + within
    return {"sd_difference": math.sqrt(spread),
            "icc": split_var / spread if spread > 0 else math.nan,
            "clusters": k, "pairs": total}


def observed(outcomes: pd.DataFrame, *, suite: dict, scope: str) -> dict:
    """The variance of the primary outcome's paired differences in the primary cells,
    per rival (:func:`variance_components`) and their mean, to set beside the planning
    assumptions. ``outcomes``: :func:`secondorder.pipeline.suite.outcomes.outcomes`."""
    from secondorder.pipeline import verdict
    from secondorder.pipeline.suite.outcomes import OUTCOMES
    from secondorder.pipeline.suite.verdicts import outcome_rows, pooled

    question = scopes.primary(suite, scope)
    kind = question["outcome"]
    mine = pooled(outcomes[outcomes["comparison"] == question["comparison"]])
    rows = outcome_rows(mine, kind)
    per_rival = {}
    for cell in question["cells"]:
        part = rows
        for column, value in cell.items():
            part = part[part[column] == value]
        rivals = [r for r in set(part["arm"]) if r not in suite["second_order"]]
        if part.empty or question["second_order"] not in set(part["arm"]) or not rivals:
            continue
        diff = verdict.paired_differences(part, second_order=question["second_order"],
                                          rivals=sorted(rivals),
                                          higher_is_better=OUTCOMES[kind],
                                          cell=list(cell))
        for rival, group in diff.groupby("rival", sort=True):
            per_rival[f"{rival} ({cell['family']}, {cell.get('size')})"] = \
                variance_components(group["difference"], group["problem"], group["split"])
    def mean(name):
        values = [v[name] for v in per_rival.values() if math.isfinite(v[name])]
        return float(np.mean(values)) if values else math.nan

    return {"per_rival": per_rival, "sd_difference": mean("sd_difference"),
            "icc": mean("icc")}


# --- cost ---------------------------------------------------------------------------------


def cost(suite: dict, scope: str, fit_s: dict | None = None, job_s: float = 0.0,
         points: float = 1.5) -> dict:
    """What a scope costs: ``fits`` per phase (tuning: every problem's tuning splits x
    ``tune_inits`` x every applicable arm's grid points; evaluation: splits x ``inits``
    x arms x ``points`` selected grid points per arm, the union over the budgets,
    usually 1 or 2) and ``jobs`` per phase; with ``fit_s`` (``{arm: mean seconds per
    fit}``) and ``job_s`` (each job's start-up and compilation) the estimated
    ``seconds`` of one core and ``by_arm`` (seconds per arm and phase)."""
    settings = scopes.scope_settings(suite, scope)
    grid_points = int(suite["grid_points"])
    fits = {"tune": 0.0, "evaluate": 0.0}
    by_arm: dict[str, dict[str, float]] = {}
    for problem in settings["problems"]:
        rows = n_rows(suite, problem)
        task = scopes.problem_task(suite, problem)
        arms = [a for a in settings["arms"] if scopes.arm_applies(suite["arms"][a], task)]
        counts = {
            "tune": len(scopes.split_seeds(suite, scope, "tune", rows))
            * settings["tune_inits"] * grid_points,
            "evaluate": len(scopes.split_seeds(suite, scope, "evaluate", rows))
            * settings["inits"] * points}
        for arm in arms:
            for phase, count in counts.items():
                fits[phase] += count * len(settings["sizes"])
                if fit_s is not None:
                    own = by_arm.setdefault(arm, {"tune": 0.0, "evaluate": 0.0})
                    own[phase] += count * len(settings["sizes"]) * fit_s[arm]
    jobs = len(scopes.jobs(suite, scope))
    out = {"fits": {k: int(round(v)) for k, v in fits.items()},
           "jobs": {"tune": jobs, "evaluate": jobs}, "points_per_arm": points}
    if fit_s is not None:
        out["by_arm"] = by_arm
        out["seconds"] = (sum(sum(v.values()) for v in by_arm.values())
                          + 2 * jobs * float(job_s))
    return out


def measure(suite: dict, scope: str, progress=None) -> pd.DataFrame:
    """Each job's fits of a small tuning run of ``scope`` (one split, one initial weight
    draw, every grid point, the scope's cap) with the job's ``job_wall_s`` (its whole
    wall time) and ``job_overhead_s`` (that less its fits' own compute: start-up of the
    problem, compilation, scoring), as :func:`cost` reads them."""
    import copy

    from secondorder.pipeline.suite import runner

    small = copy.deepcopy(suite)
    named = small.setdefault("scopes", {}).setdefault(scope, {}) if scope != "full" else small
    named.update({"tune_inits": 1, "tune_splits": 1})
    parts = []
    for problem, size, part in scopes.jobs(small, scope):
        started = time.perf_counter()
        fits, _, _ = runner.run_job(small, scope=scope, phase="tune", problem_name=problem,
                                    size=size, part=part, progress=progress or (lambda _: None))
        wall = time.perf_counter() - started
        parts.append(fits.assign(job_wall_s=wall,
                                 job_overhead_s=wall - float(np.nansum(fits["time_s"]))))
    return pd.concat(parts, ignore_index=True)


def main(argv=None) -> dict:
    """``python -m secondorder.pipeline.suite.design SCOPE [--configfile F ..]``: the
    scope's fit counts, each arm's mean fit time measured by :func:`measure` (or read
    from ``--fits``, a CSV it wrote) and the estimated cost, one core and ``--cores``
    (with ``--points`` selected grid points per arm in the evaluation)."""
    import argparse
    import json
    from pathlib import Path

    import yaml

    from secondorder import config as cfg

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("scope")
    parser.add_argument("--configfile", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--fits", help="a CSV of measured fits (skip the measurement)")
    parser.add_argument("--save", help="write the measured fits to this CSV")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--points", type=float, default=1.5,
                        help="selected grid points per arm in the evaluation (the union "
                             "over the budgets)")
    args = parser.parse_args(argv)
    conf: dict = {}
    for path in args.configfile:
        conf = cfg.deep_update(conf, yaml.safe_load(Path(path).read_text()) or {})
    root = Path(__file__).resolve().parents[4]
    suite = cfg.validate(cfg.with_suite(conf, root / "config" / "suite.yaml"))["suite"]
    fits = (pd.read_csv(args.fits) if args.fits
            else measure(suite, args.scope, progress=print))
    if args.save:
        fits.to_csv(args.save, index=False)
    ran = fits[fits["status"] != "memory_cap"]
    fit_s = ran.groupby("arm")["time_s"].mean().to_dict()
    job_s = float(fits.groupby(["problem", "size"])["job_overhead_s"].first().mean())
    estimate = cost(suite, args.scope, fit_s, job_s, points=args.points)
    estimate["fit_s"] = fit_s
    estimate["job_s"] = job_s
    estimate["minutes_on_cores"] = estimate["seconds"] / 60 / args.cores
    print(json.dumps(estimate, indent=2, sort_keys=True))
    return estimate


if __name__ == "__main__":
    main()
