"""The multi-dataset suite: does the article's closing claim hold beyond two spirals?

The article ends by suggesting second-order methods as the default "with moderately
sized data and moderately sized models". The suite tests that on several problems
(:mod:`secondorder.problem.datasets`), model sizes (one or two sigmoid hidden layers,
``~10^2`` to ``~10^4`` weights) and fairly tuned first-order rivals.

Protocol (``config/suite.yaml``, checked by the ``suite`` section of the config schema):

* one job per (scope, problem, size, arm), ``scope`` being the small ``slice`` in the
  default target or the ``full`` suite (``snakemake --cores all suite``);
* every arm has a grid of exactly ``grid_points`` settings (Adam's and RMSprop's
  learning rates, LM's damping options, L-BFGS's memory) and trains each from the same
  ``inits`` initial weight draws (seeds ``first_seed ..``; the seed chain is recorded):
  every arm gets the same tuning budget, grid points x inits, and LM's options count
  against its budget like a learning rate does;
* every fit has the same wall-time cap, ``cap_s``, on its *time share*: a fit trained
  alone is charged its own wall time; fits trained together in a batch (the LM engine
  and the compiled first-order loop run the ``inits`` draws as one batch) are each
  charged the batch's wall time until that fit stopped divided by the batch size, and
  the batch's own ``max_time`` is ``cap_s`` times its size;
* LM rows are batched only as far as ``lm_memory_gb`` allows (``J``, ``J^T J`` and the
  solve's copies per row); a size at which one LM row alone would need more is not
  run and is recorded as a ``memory_cap`` row, never dropped;
* every fit's validation and test error are computed here from its final weights
  (:func:`secondorder.pipeline.suite_metrics.error`: classification error or
  normalised MSE), with its status, iterations, time share and the job's peak memory.

:func:`summarise` then tunes each arm on validation (the grid point with the lowest
median validation error), sets each (problem, size)'s target (``tolerance`` above the
best validation error any fit reached), and derives times to target, Dolan-Moré
performance profiles, success rates with Wilson intervals, the verdict on the claim
and LM's cost per iteration against the problem's size.
"""

from __future__ import annotations

import json
import logging
import resource
import time

import numpy as np
import pandas as pd

from secondorder.problem import datasets, model

log = logging.getLogger(__name__)

#: Bytes per float64.
F64 = 8


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


def arm_applies(arm: dict, task: str) -> bool:
    """Whether a suite arm runs on a problem of ``task`` (cross-entropy arms:
    classification only)."""
    return arm.get("task", "any") in ("any", task)


def jobs(suite: dict, scope: str) -> list[tuple[str, str, str]]:
    """``(problem, size, arm)`` of every job of ``scope`` (``slice`` or ``full``)."""
    part = scope_settings(suite, scope)
    out = []
    for problem in part["problems"]:
        task = datasets.DATASETS[problem].task
        for size in part["sizes"]:
            out += [(problem, size, arm) for arm, spec in suite["arms"].items()
                    if arm_applies(spec, task)]
    return out


def scope_settings(suite: dict, scope: str) -> dict:
    """Problems, sizes and inits of ``scope``: the full suite's, or the slice's."""
    if scope == "full":
        return {"problems": suite["problems"], "sizes": list(suite["sizes"]),
                "inits": suite["inits"]}
    if scope == "slice":
        return dict(suite["slice"])
    raise ValueError(f"scope must be 'slice' or 'full', got {scope!r}")


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


def init_seeds(suite: dict, inits: int) -> list[int]:
    """The seed chain: initial weights ``k`` come from ``first_seed + k``."""
    return [suite["first_seed"] + k for k in range(inits)]


def n_residuals(problem, arch: model.Architecture) -> int:
    """Residuals of the LM's least-squares problem: training rows x outputs (one per row
    with two paired softmax outputs, :func:`secondorder.optim.lm_network.paired_softmax`)."""
    from secondorder.optim.lm_network import paired_softmax

    outputs = 1 if paired_softmax(problem, arch) else arch.nout
    return len(problem.train) * outputs


def lm_row_bytes(m: int, n: int) -> int:
    """Memory one LM row needs, roughly. In parameter space (``n <= m``): the Jacobian
    twice (evaluation and the products) and four ``n x n`` matrices (``J^T J`` in the
    state and at the trial point, the damped matrix and its Cholesky factor). In sample
    space (``n > m``, :func:`secondorder.optim.lm.linalg.sample_space_step`): the
    Jacobian four times (evaluation, state, trial, ``J D^-2``) and two ``m x m``."""
    if n > m:
        return F64 * (4 * m * n + 2 * m * m)
    return F64 * (2 * m * n + 4 * n * n)


def lm_iteration_flops(m: int, n: int) -> float:
    """Floating-point work of one accepted LM iteration's products: ``2 m n^2`` for
    ``J^T J`` (``2 m^2 n`` for ``J D^-2 J^T`` in sample space, ``n > m``). Above
    ~1e8 (milliseconds per iteration) the suite runs LM one iteration per compiled
    call, so its wall-time cap is checked after every iteration."""
    return 2.0 * m * n * min(m, n)


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (MB; Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def predict(weights, x, arch) -> np.ndarray:
    """Outputs of the perceptron (numpy, float64, max-shifted softmax)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return model.mlp_numpy(x, np.asarray(weights, dtype=np.float64), arch, stable=True)


def run_job(suite: dict, *, scope: str, problem_name: str, size: str, arm_name: str,
            progress=None) -> tuple[pd.DataFrame, dict]:
    """Train ``arm_name`` at every grid point from every init of ``scope`` on
    ``problem_name`` at ``size``: one row per fit (see the module docstring) and the
    problem's record (:func:`datasets.load_problem`'s ``info`` plus the architecture)."""
    from secondorder.pipeline.suite_metrics import error

    say = progress or log.info
    problem, info = datasets.load_problem(problem_name, split_seed=suite["split_seed"],
                                          data_seed=suite["data_seed"])
    arch = architecture(info, suite["sizes"][size])
    seeds = init_seeds(suite, scope_settings(suite, scope)["inits"])
    W0 = np.stack([model.init_weights(s, arch, suite["init_low"], suite["init_high"])
                   for s in seeds])
    m = n_residuals(problem, arch)
    points = grid(suite, arm_name)
    record = {**info, "architecture": arch.name, "n_params": arch.n_params,
              "n_residuals": m, "size": size, "arm": arm_name, "scope": scope,
              "seeds": seeds, "grid": points}
    rows, started = [], time.perf_counter()
    for g, settings in enumerate(points):
        base = {"problem": problem_name, "family": info["family"], "task": info["task"],
                "size": size, "architecture": arch.name, "n_params": arch.n_params,
                "n_residuals": m, "arm": arm_name, "grid_point": g,
                "settings": json.dumps(settings, sort_keys=True)}
        for chunk, results, batch in _train_grid_point(suite, settings, problem, W0, arch, m):
            for k, res in zip(chunk, results):
                rows.append({**base, **_fit_row(res, k, seeds[k], problem, arch, error,
                                                batch)})
        say(f"{problem_name}/{size}/{arm_name}: grid point {g + 1}/{len(points)} done, "
            f"{len(rows)}/{len(points) * len(seeds)} fits, "
            f"{time.perf_counter() - started:.1f} s")
    return pd.DataFrame(rows), record


def _train_grid_point(suite, settings, problem, W0, arch, m):
    """Yield ``(init indices, results, batch size)`` per training call of one grid
    point: one batch for the compiled first-order loop, memory-limited batches for LM
    (a fit the memory budget forbids yields a ``memory_cap`` marker), and for L-BFGS one
    call that fits the starts one after the other (batch size 1: each fit is timed
    alone, with its own cap)."""
    from secondorder.optim import arms

    cap, B = suite["cap_s"], len(W0)
    if not arms.batches(settings):
        yield list(range(B)), arms.train({**settings, "max_time": cap}, problem, W0, arch), 1
        return
    size = B
    if settings["optimizer"] == "lm":
        per_row = lm_row_bytes(m, arch.n_params)
        size = min(B, int(suite["lm_memory_gb"] * 2**30 // per_row))
        if size < 1:
            note = (f"not run: one LM row needs ~{per_row / 2**30:.1f} GB "
                    f"(m = {m}, n = {arch.n_params}) > lm_memory_gb = "
                    f"{suite['lm_memory_gb']}")
            yield list(range(B)), [MemoryCap(note)] * B, 1
            return
    for start in range(0, B, size):
        chunk = list(range(start, min(start + size, B)))
        arm = {**settings, "max_time": cap * len(chunk)}
        if settings["optimizer"] == "lm" and lm_iteration_flops(m, arch.n_params) > 1e8:
            arm["chunk"] = 1  # the cap is checked between chunks: one iteration each
        yield chunk, arms.train(arm, problem, W0[chunk], arch), len(chunk)


class MemoryCap:
    """Stands for a fit not run because of the LM memory budget."""

    def __init__(self, message: str):
        self.message = message


def _fit_row(res, k, seed, problem, arch, error, batch_size) -> dict:
    """One fit's row: status, iterations, times, errors, peak memory."""
    row = {"init": k, "seed": seed, "batch_size": batch_size, "peak_rss_mb": peak_rss_mb()}
    if isinstance(res, MemoryCap):
        return {**row, "status": "memory_cap", "message": res.message, "iterations": 0,
                "batch_wall_s": np.nan, "time_s": np.inf,
                "ms_per_iteration": np.nan, "compile_s": np.nan, "val_error": np.nan,
                "test_error": np.nan, "train_error": np.nan}
    task = "classification" if arch.output == "softmax" else "regression"
    errors = {f"{part}_error": error(task, y, predict(res.weights, x, arch))
              for part, x, y in (("train", problem.x_train, problem.y_train),
                                 ("val", problem.x_val, problem.y_val),
                                 ("test", problem.x_test, problem.y_test))}
    return {**row, "status": res.status, "message": res.message,
            "iterations": int(res.iterations), "batch_wall_s": float(res.batch_wall_s),
            "time_s": float(res.time_s),
            "ms_per_iteration": 1e3 * float(res.time_s) / max(int(res.iterations), 1),
            "compile_s": float(res.compile_s or 0.0), **errors}


# --- the whole suite --------------------------------------------------------------------

def summarise(fits: pd.DataFrame, *, tolerance: float, lm_arm: str = "lm") -> dict:
    """Every table of the suite from all its fits: ``selected`` (each arm's tuned grid
    point), ``targets``, ``fits`` (the selected grid points' fits with
    ``time_to_target_s`` and ``reached``), ``instance_times``, ``profile``,
    ``success``, ``verdict`` (per family and size), ``verdict_instances`` (per problem
    and size) and ``lm_cost`` (LM's cost per iteration by size)."""
    from secondorder.pipeline import suite_metrics as sm

    selected = sm.select_grid_point(fits)
    chosen = fits.merge(selected[["problem", "size", "arm", "grid_point"]],
                        on=["problem", "size", "arm", "grid_point"])
    targets = sm.targets(fits, tolerance)
    timed = sm.times_to_target(chosen, targets)
    times = sm.instance_times(timed)
    taus = np.unique(np.concatenate([[1.0], np.geomspace(1, 1e3, 61)]))
    lm = fits[fits["arm"] == lm_arm]
    cost = (lm.groupby(["problem", "size"], as_index=False)
            .agg(n_params=("n_params", "first"), n_residuals=("n_residuals", "first"),
                 ms_per_iteration=("ms_per_iteration", "median"),
                 peak_rss_mb=("peak_rss_mb", "max"),
                 memory_cap=("status", lambda s: bool((s == "memory_cap").any()))))
    return {"selected": selected, "targets": targets, "fits": timed,
            "instance_times": times.reset_index(),
            "profile": sm.performance_profile(times, taus).reset_index(),
            "success": sm.success_rates(timed),
            "verdict": sm.verdict(timed, lm_arm=lm_arm),
            "verdict_instances": sm.verdict(timed, lm_arm=lm_arm, by=("problem", "size")),
            "lm_cost": cost}


#: Tables :func:`write_summary` writes beside ``fits.csv``.
TABLES = ("selected", "success", "verdict", "profile", "lm_cost", "verdict_instances")


def write_summary(fit_csvs, *, out, suite: dict, scope: str) -> dict:
    """All fits of a scope in ``out.fits``, the tables of :func:`summarise` in
    ``out.tables`` (:data:`TABLES`, in that order), the profile figure and
    ``out.summary`` (JSON: counts, the verdict and each arm's success rate)."""
    from pathlib import Path

    from secondorder import io
    from secondorder.pipeline import plots

    tolerance = suite["tolerance"]
    fits = pd.concat([io.read_csv(p) for p in fit_csvs], ignore_index=True)
    io.write_csv(out.fits, fits)
    tables = summarise(fits, tolerance=tolerance)
    for name, path in zip(TABLES, out.tables):
        io.write_csv(path, tables[name])
    png = Path(out.profile_png)
    plots.save(plots.suite_profile(tables["profile"], len(tables["instance_times"])),
               png.parent, png.stem)
    plots.save(plots.suite_lm_cost(tables["lm_cost"]), png.parent, "fig_suite_lm_cost")
    summary = {
        "scope": scope,
        "settings": {**{k: suite[k] for k in ("grid_points", "cap_s", "tolerance",
                                              "lm_memory_gb", "first_seed")},
                     "inits": scope_settings(suite, scope)["inits"]},
        "fits": int(len(fits)), "problems": sorted(fits["problem"].unique()),
        "sizes": sorted(fits["size"].unique()), "arms": sorted(fits["arm"].unique()),
        "instances": int(len(tables["instance_times"])), "tolerance": tolerance,
        "statuses": fits["status"].value_counts().to_dict(),
        "fit_time_s": float(fits["time_s"].replace(np.inf, np.nan).sum()),
        "success": tables["success"].to_dict(orient="records"),
        "verdict": tables["verdict"].to_dict(orient="records"),
    }
    io.write_json(out.summary, summary)
    log.info("suite: %d fits, %d instances; success rates:\n%s", len(fits),
             summary["instances"], tables["success"].to_string(index=False))
    return summary
