"""A scope of the suite as the config declares it: its problems, sizes, arms and their
grids, its budgets, its jobs, the seed chains of its two phases and its primary
question.

A *scope* is ``full`` (the top-level settings of ``suite``) or one of ``suite.scopes``
(each sets some of :data:`SCOPE_KEYS` over the full suite's). Each scope runs in two
phases of jobs (:data:`PHASES`) on disjoint seeds:

* ``tune``: every arm at every grid point from ``tune_inits`` initial weights on
  ``tune_splits`` splits of each problem;
* ``evaluate``: every arm at the grid points the tuning selected (at any budget) from
  ``inits`` initial weights on ``splits`` splits.

**The seed chains, declared here and nowhere else** (:func:`seed_chain`): split ``j``
of a phase is drawn from ``split_seed + 2 j + c`` and initial weights ``k`` from
``first_seed + 2 k + c``, with ``c = 0`` for the evaluation and ``c = 1`` for the
tuning (:data:`CHAIN`): the evaluation takes the even members of each chain, the tuning
the odd ones, so the two phases never share a split or an initial weight draw, however
many of each they take. A problem with at least ``single_split_rows`` rows is split
once per phase (its first seed of the phase). The data of a generated problem come
from ``data_seed`` in both phases (the same rows, split differently).
"""

from __future__ import annotations

from secondorder.pipeline.suite.metrics import NO_TOLERANCE, tolerance_label
from secondorder.problem import datasets

#: The keys a named scope may set; the rest come from the top-level (full) settings.
SCOPE_KEYS = ("problems", "sizes", "inits", "splits", "tune_inits", "tune_splits",
              "cap_s", "budgets_s", "arms", "jobs", "primary")

#: The phases of a scope's jobs, in the order they run.
PHASES = ("tune", "evaluate")

#: Each phase's offset in the seed chains: the evaluation takes the even members, the
#: tuning the odd ones.
CHAIN = {"evaluate": 0, "tune": 1}


def arm_applies(arm: dict, task: str) -> bool:
    """Whether a suite arm runs on a problem of ``task`` (cross-entropy arms:
    classification only)."""
    return arm.get("task", "any") in ("any", task)


def problem_task(suite: dict, name: str) -> str:
    """The task of a suite problem (a CSV problem's from its config entry)."""
    return datasets.task_of(name, suite.get("csv_problems"))


def scopes(suite: dict) -> list[str]:
    """Every scope's name: ``full`` and the named ``scopes``."""
    return ["full", *suite.get("scopes", {})]


def scope_settings(suite: dict, scope: str) -> dict:
    """The settings of ``scope`` (:data:`SCOPE_KEYS`): the full suite's (its problems:
    ``suite.problems`` and every CSV problem, :func:`datasets.suite_problems`), with a
    named scope's own values on top (its ``primary`` keys over ``suite.primary``'s)."""
    full = {"problems": datasets.suite_problems(suite), "sizes": list(suite["sizes"]),
            "arms": list(suite["arms"]), "primary": dict(suite["primary"]),
            **{k: suite[k] for k in ("inits", "splits", "tune_inits", "tune_splits",
                                     "cap_s", "budgets_s", "jobs")}}
    if scope == "full":
        return full
    named = suite.get("scopes", {})
    if scope not in named:
        raise ValueError(f"scope must be one of {scopes(suite)}, got {scope!r}")
    own = named[scope]
    return {**full, **own, "primary": {**full["primary"], **own.get("primary", {})}}


def budgets(suite: dict, scope: str) -> list[float]:
    """The budgets of the verdict: the scope's ``budgets_s`` below its cap, and the
    cap (seconds of a fit's own compute)."""
    settings = scope_settings(suite, scope)
    cap = float(settings["cap_s"])
    return sorted({float(b) for b in settings["budgets_s"] if b < cap} | {cap})


def comparisons(suite: dict) -> dict[str, list[str]]:
    """The rivals of each comparison: the arms that are not second-order, grouped by
    their ``comparison`` (``ssq``: the same loss as LM; ``crossentropy``: their own
    comparison). The second-order arms (``second_order``) are in every one."""
    out: dict[str, list[str]] = {}
    for name, spec in suite["arms"].items():
        if name not in suite["second_order"]:
            out.setdefault(spec.get("comparison", "ssq"), []).append(name)
    return out


def jobs(suite: dict, scope: str) -> list[tuple[str, str, str]]:
    """``(problem, size, part)`` of every job of ``scope`` in each phase: ``part`` is an
    arm (``jobs: arm``) or ``all`` (``jobs: instance``: every arm of the scope that
    applies to the problem, in one job)."""
    part = scope_settings(suite, scope)
    out = []
    for problem in part["problems"]:
        task = problem_task(suite, problem)
        names = [a for a in part["arms"] if arm_applies(suite["arms"][a], task)]
        for size in part["sizes"]:
            if part["jobs"] == "arm":
                out += [(problem, size, arm) for arm in names]
            else:
                out.append((problem, size, "all"))
    return out


def job_arms(suite: dict, scope: str, problem: str, part: str) -> list[str]:
    """The arms a job trains: ``part`` itself, or with ``all`` every arm of the scope
    that applies to ``problem``."""
    settings = scope_settings(suite, scope)
    if part != "all":
        if part not in settings["arms"]:
            raise ValueError(f"arm {part!r} is not in scope {scope!r}: {settings['arms']}")
        return [part]
    task = problem_task(suite, problem)
    return [a for a in settings["arms"] if arm_applies(suite["arms"][a], task)]


def grid(suite: dict, arm_name: str) -> list[dict]:
    """The arm's settings at each grid point: its ``base`` updated by each grid entry,
    on standardised inputs. Every arm has ``suite["grid_points"]`` points (the config
    check refuses others: the same tuning budget for every arm)."""
    spec = suite["arms"][arm_name]
    points = [{**spec["base"], **point, "inputs": "standardised"} for point in spec["grid"]]
    if len(points) != suite["grid_points"]:
        raise ValueError(f"suite arm {arm_name!r} has {len(points)} grid points; every arm "
                         f"must have grid_points = {suite['grid_points']}")
    return points


# --- the seed chains ----------------------------------------------------------------------


def _phase(phase: str) -> str:
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {list(PHASES)}, got {phase!r}")
    return phase


def seed_chain(first: int, phase: str, count: int) -> list[int]:
    """The first ``count`` seeds of ``phase`` in the chain that starts at ``first``:
    ``first + 2 k + CHAIN[phase]``, ``k = 0, 1, ..``: even offsets for the evaluation,
    odd ones for the tuning, so the phases never share a seed."""
    return [int(first) + 2 * k + CHAIN[_phase(phase)] for k in range(int(count))]


def init_seeds(suite: dict, scope: str, phase: str) -> list[int]:
    """The initial weights' seeds of a phase: ``tune_inits`` or ``inits`` members of
    the chain from ``first_seed``."""
    settings = scope_settings(suite, scope)
    count = settings["tune_inits" if _phase(phase) == "tune" else "inits"]
    return seed_chain(suite["first_seed"], phase, count)


def split_seeds(suite: dict, scope: str, phase: str, n_rows: int) -> list[int]:
    """The split seeds of a phase for a problem of ``n_rows`` rows: ``tune_splits`` or
    ``splits`` members of the chain from ``split_seed`` when it has fewer than
    ``single_split_rows`` rows (repeated random 60/20/20 splits), else the phase's
    first alone."""
    settings = scope_settings(suite, scope)
    count = settings["tune_splits" if _phase(phase) == "tune" else "splits"]
    return seed_chain(suite["split_seed"], phase,
                      count if n_rows < suite["single_split_rows"] else 1)


# --- the primary question -----------------------------------------------------------------


def primary(suite: dict, scope: str) -> dict:
    """The primary question of ``scope``, resolved: ``comparison``, ``second_order``,
    ``outcome``; ``cells``: the declared cells as the verdict's cell columns (a cell
    without ``family`` pools every problem of the scope: ``family: all``), each at the
    declared ``budget`` (``cap``: the scope's cap) and ``tolerance`` (its label,
    :func:`tolerance_label`; :data:`NO_TOLERANCE` for the test error, which has none);
    ``confirmatory``: whether ``scope`` is the one declared (``primary.scope``): the
    other scopes ask the same question of a design that was not planned to answer it."""
    declared = scope_settings(suite, scope)["primary"]
    budget = (float(scope_settings(suite, scope)["cap_s"]) if declared["budget"] == "cap"
              else float(declared["budget"]))
    tolerance = (NO_TOLERANCE if declared["outcome"] == "test_error"
                 else tolerance_label(declared["tolerance"]))
    cells = [{"family": "all", **cell, "budget": budget, "tolerance": tolerance}
             for cell in declared["cells"]]
    return {"scope": declared["scope"], "confirmatory": declared["scope"] == scope,
            "comparison": declared["comparison"], "second_order": declared["second_order"],
            "outcome": declared["outcome"], "budget": budget, "tolerance": tolerance,
            "cells": cells}
