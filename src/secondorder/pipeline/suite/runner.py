"""One job of the suite: train its arms at their grid points from every initial weight
draw on every split of one problem at one size, each fit alone under the cap, with an
anytime record of every fit.

The same runner serves both phases (:data:`secondorder.pipeline.suite.scopes.PHASES`):
the tuning trains every grid point from the tuning seeds, the evaluation the grid
points the tuning selected (``points``) from the evaluation seeds
(:func:`secondorder.pipeline.suite.scopes.seed_chain`). What a fit does, in either:

* validation rows stop (each trainer's early stopping) and pick the weights a fit
  returns (its best-so-far weights by validation loss); test rows only score;
* every fit keeps an anytime record of its best-so-far weights
  (:class:`secondorder.pipeline.anytime.AnytimeRecorder`), at every epoch or iteration
  for every arm, stamped with the time and work of the improvement itself, so every
  budget up to the cap is scored post hoc from one run;
* time: a fit's own compute, the callbacks' and compilation excluded, one rule for
  every arm, and every fit is timed the same way: alone (a batch of one, the way a
  user trains one network), so its own compute is its wall time. In a batch a fit
  would be charged a share of the batch, less than it costs alone (L-BFGS cannot
  batch), and the compiled first-order loop's fits are not bit for bit those alone at
  every shape (:mod:`secondorder.optim.first_order`; LM's are). The compiled
  first-order loop is compiled once and reused by the next inits and grid points;
  every arm runs with ``threads`` threads (TensorFlow's pools, pinned by the job, and
  BLAS through threadpoolctl); the cap ``cap_s`` is each fit's ``max_time`` (records
  past the cap are not scored);
* work: floating-point operations of everything the arm computes
  (:mod:`secondorder.optim.flops`, LM's ``J^T J`` and solve included);
* a size at which one LM fit would need more than ``lm_memory_gb`` (``J``, ``J^T J``
  and the solve's copies) is not run: its fits are ``memory_cap`` rows, reported as
  *not run*, never as failures.
"""

from __future__ import annotations

import json
import logging
import resource
import time

import numpy as np
import pandas as pd

from secondorder.optim import arms
from secondorder.optim.arms import Arm
from secondorder.pipeline.suite import scopes
from secondorder.problem import datasets, model

log = logging.getLogger(__name__)

#: A regression fit's record is kept when its validation or test error moved by more
#: than this fraction (classification: any change of a misclassified row).
REGRESSION_RECORD_RESOLUTION = 1e-3


def architecture(info: dict, hidden) -> model.Architecture:
    """The perceptron for a problem (``info`` from :func:`datasets.load_problem`) with
    one or two hidden layers of the given widths; softmax outputs for classification,
    linear ones for regression."""
    hidden = list(hidden)
    if not 1 <= len(hidden) <= 2:
        raise ValueError(f"a suite size has one or two hidden layers, got {hidden}")
    return model.Architecture(
        int(info["n_inputs"]), int(hidden[0]), int(info["n_outputs"]),
        nhid2=int(hidden[1]) if len(hidden) == 2 else 0,
        output="softmax" if info["task"] == "classification" else "linear")


def residual_columns(problem, arch: model.Architecture) -> int:
    """Residuals per training row of the LM's least-squares problem: one with two
    paired softmax outputs (:func:`secondorder.optim.lm_network.paired_softmax`),
    else one per output."""
    from secondorder.optim.lm_network import paired_softmax

    return 1 if paired_softmax(problem, arch) else arch.nout


def n_residuals(problem, arch: model.Architecture) -> int:
    """Residuals of the LM's least-squares problem: training rows x
    :func:`residual_columns`."""
    return len(problem.train) * residual_columns(problem, arch)


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (MB; Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def predict(weights, x, arch) -> np.ndarray:
    """Outputs of the perceptron (numpy, float64, max-shifted softmax)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return model.mlp_numpy(x, np.asarray(weights, dtype=np.float64), arch, stable=True)


def scorer(problem, arch: model.Architecture, task: str):
    """``w -> (validation error, test error)`` of one weight vector
    (:func:`secondorder.pipeline.suite.metrics.error`)."""
    from secondorder.pipeline.suite.metrics import error

    def evaluate(w):
        return (error(task, problem.y_val, predict(w, problem.x_val, arch)),
                error(task, problem.y_test, predict(w, problem.x_test, arch)))

    return evaluate


def run_job(suite: dict, *, scope: str, phase: str, problem_name: str, size: str,
            part: str, points: dict | None = None,
            progress=None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Train the arms of one job (:func:`~secondorder.pipeline.suite.scopes.job_arms`) of
    ``phase`` on every split of ``problem_name`` at ``size`` from every initial weight
    draw of the phase (:func:`~secondorder.pipeline.suite.scopes.split_seeds`,
    :func:`~secondorder.pipeline.suite.scopes.init_seeds`), at the grid points
    ``points`` (``{arm: [grid point, ..]}``, the evaluation's: the selected ones; None:
    every grid point, the tuning's; an arm with no point listed, where the tuning ran
    none of its fits for lack of memory, trains its first, which is not run either).

    Returns the fits (one row per fit: status, times, work, errors at the cap, see
    :func:`_fit_row`), their anytime records
    (:class:`secondorder.pipeline.anytime.AnytimeRecorder`, with the fit's keys) and the
    job's record (the problem, its splits, architecture, seeds, grids and the points
    trained, cap and threads)."""
    from threadpoolctl import threadpool_limits

    from secondorder.progress import format_progress

    say = progress or log.info
    settings = scopes.scope_settings(suite, scope)
    names = scopes.job_arms(suite, scope, problem_name, part)
    seeds = scopes.init_seeds(suite, scope, phase)
    trained = {a: (list(range(suite["grid_points"])) if points is None
                   else list(points.get(a) or [0])) for a in names}
    cap = float(settings["cap_s"])
    csv = suite.get("csv_problems")
    _, first = datasets.load_problem(problem_name, split_seed=suite["split_seed"],
                                     data_seed=suite["data_seed"], csv_problems=csv)
    splits = scopes.split_seeds(suite, scope, phase, first["n"])
    total = len(splits) * sum(map(len, trained.values())) * len(seeds)
    fits, records, split_records = [], [], {}
    started = time.perf_counter()
    with threadpool_limits(limits=int(suite["threads"])):
        for split in splits:
            problem, info = datasets.load_problem(problem_name, split_seed=split,
                                                  data_seed=suite["data_seed"],
                                                  csv_problems=csv)
            split_records[str(split)] = {"sizes": info["sizes"], "rows": info["rows"]}
            arch = architecture(info, suite["sizes"][size])
            W0 = np.stack([model.init_weights(s, arch, suite["init_low"], suite["init_high"])
                           for s in seeds])
            m = n_residuals(problem, arch)
            evaluate = scorer(problem, arch, info["task"])
            for arm_name in names:
                points_of = scopes.grid(suite, arm_name)
                for g in trained[arm_name]:
                    point = points_of[g]
                    arm = Arm(point)  # the config's words, checked here once
                    key = {"problem": problem_name, "size": size, "arm": arm_name,
                           "grid_point": g, "split": split}
                    base = {**key, "phase": phase, "family": info["family"],
                            "task": info["task"], "architecture": arch.name,
                            "n_params": arch.n_params, "n_residuals": m,
                            "n_val": len(problem.validation), "n_test": len(problem.test),
                            "comparison": suite["arms"][arm_name].get("comparison", "ssq"),
                            "settings": json.dumps(point, sort_keys=True)}
                    for rows, results, batch, table in _train_grid_point(
                            suite, cap, arm, problem, W0, arch, m, evaluate, info["task"]):
                        for j, (k, res) in enumerate(zip(rows, results)):
                            own = None if table is None else table[table["row"] == j]
                            fits.append({**base, **_fit_row(res, k, seeds[k], batch, own,
                                                            cap)})
                            if own is not None:
                                records.append(own.drop(columns="row")
                                               .assign(**key, init=k))
                    say(f"{phase} {problem_name}/{size}/{arm_name} split {split}, grid point "
                        f"{g}: " + format_progress(len(fits), total,
                                                   time.perf_counter() - started, "fits"))
    columns = ["problem", "size", "arm", "grid_point", "split", "init", "time_s", "work",
               "val_error", "test_error", "final"]
    record = {**{k: v for k, v in first.items() if k not in ("rows", "sizes", "split_seed")},
              "splits": split_records, "size": size, "architecture": arch.name,
              "n_params": arch.n_params, "n_residuals": m, "arms": names, "scope": scope,
              "phase": phase, "seeds": seeds, "cap_s": cap, "threads": int(suite["threads"]),
              "grids": {a: scopes.grid(suite, a) for a in names}, "points": trained}
    table = (pd.concat(records, ignore_index=True)[columns] if records
             else pd.DataFrame(columns=columns))
    return pd.DataFrame(fits), table, record


def _train_grid_point(suite, cap, arm, problem, W0, arch, m, evaluate, task):
    """Yield ``(init indices, results, batch size, records)`` per training call of one
    grid point (``arm``, an :class:`~secondorder.optim.arms.Arm`): one call per init,
    each fit trained alone (a batch of one, the way a user trains one network) with the
    cap as its ``max_time``, so every arm is timed the same way. (The compiled
    first-order loop compiles once and reuses that compilation for the next inits and
    grid points, off the clock; L-BFGS's compiled loss serves every init of a split.)
    Where the optimizer's entry
    has a memory model (LM's) and one fit would need more than ``lm_memory_gb``, the
    grid point yields ``memory_cap`` markers and no records. ``records``: the call's
    anytime records (``row`` indexes its inits), their work counted by the entry's
    FLOP count (:func:`secondorder.optim.arms.work_counter`)."""
    from secondorder.pipeline.anytime import AnytimeRecorder

    B, entry = len(W0), arm.entry
    relative = REGRESSION_RECORD_RESOLUTION if task == "regression" else 0.0
    work = arms.work_counter(arm, arch, len(problem.train), len(problem.validation),
                             residual_columns(problem, arch))
    if entry.row_bytes is not None:
        per_fit = entry.row_bytes(m, arch.n_params)
        if per_fit > suite["lm_memory_gb"] * 2**30:
            note = (f"not run: one LM fit needs ~{per_fit / 2**30:.1f} GB "
                    f"(m = {m}, n = {arch.n_params}) > lm_memory_gb = "
                    f"{suite['lm_memory_gb']}")
            yield list(range(B)), [MemoryCap(note)] * B, 1, None
            return
    alone = arm.replace(max_time=cap)
    for k in range(B):
        recorder = AnytimeRecorder(W0[[k]], evaluate, work=work, relative=relative)
        results = arms.train(alone, problem, W0[[k]], arch, progress=recorder)
        yield [k], results, 1, recorder.table()


class MemoryCap:
    """Stands for a fit not run because of the LM memory budget."""

    def __init__(self, message: str):
        self.message = message


def _fit_row(res, k, seed, batch_size, records, cap) -> dict:
    """One fit's row: its init and seed, status, iterations, ``time_s`` (its own
    compute over the whole run, the callbacks' excluded), ``work`` (floating-point
    operations, :mod:`secondorder.optim.flops`), ``batch_wall_s`` (its batch's),
    ``ms_per_iteration`` (own compute per iteration), the validation and test errors
    in force at the cap (:func:`secondorder.pipeline.suite.metrics.at_budget`),
    ``past_cap`` (it ran beyond the cap: later records not scored) and the job's peak
    memory."""
    row = {"init": k, "seed": seed, "batch_size": batch_size, "peak_rss_mb": peak_rss_mb()}
    if isinstance(res, MemoryCap):
        return {**row, "status": "memory_cap", "message": res.message, "iterations": 0,
                "time_s": np.nan, "work": np.nan, "batch_wall_s": np.nan,
                "ms_per_iteration": np.nan, "compile_s": np.nan, "val_error": np.nan,
                "test_error": np.nan, "past_cap": False}
    final = records[records["final"]].iloc[-1]
    in_force = records[records["time_s"] <= cap].iloc[-1]
    iterations = int(res.iterations or 0)
    return {**row, "status": res.status, "message": res.message, "iterations": iterations,
            "time_s": float(final["time_s"]), "work": float(final["work"]),
            "batch_wall_s": float(res.batch_wall_s),
            "ms_per_iteration": 1e3 * float(final["time_s"]) / max(iterations, 1),
            "compile_s": float(res.compile_s or 0.0),
            "val_error": float(in_force["val_error"]),
            "test_error": float(in_force["test_error"]),
            "past_cap": bool(final["time_s"] > cap)}
