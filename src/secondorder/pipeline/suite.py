"""The multi-dataset suite: does the article's closing claim hold beyond two spirals?

The article ends by suggesting second-order methods as the default "with moderately
sized data and moderately sized models". The suite tests that on several problems
(:mod:`secondorder.problem.datasets`, your own CSV files included), model sizes (one
or two sigmoid hidden layers, ``~10^2`` to ``~10^4`` weights) and fairly tuned
first-order rivals, with a yardstick in a reader's units
(:mod:`secondorder.pipeline.suite_metrics`).

Protocol (``config/suite.yaml``, checked by the ``suite`` section of the config schema):

* scopes: ``full`` (the top-level settings, ``snakemake --cores all suite``) and the
  named ``scopes`` (``slice``, in the default target; ``crossover``, ...), each with
  its problems, sizes, inits, splits, cap and arms; a scope's jobs are one per
  (problem, size, arm) (``jobs: arm``, for a cluster) or one per (problem, size)
  training every arm in turn (``jobs: instance``: fewer, larger jobs where start-up
  dominates); the timing rule is the same either way;
* splits: a problem with fewer than ``single_split_rows`` rows is split ``splits``
  times (split seeds ``split_seed, split_seed + 1, ..``), a larger one once; every
  arm sees the same splits and the same initial weights (seeds ``first_seed + k``):
  fits are paired by split and init;
* every arm has a grid of exactly ``grid_points`` settings (learning rates; LM's
  ``max_fail`` including none and ``mu0``; L-BFGS's memory) and trains each from the
  same inits: the same tuning budget for every arm;
* validation rows stop (each trainer's early stopping) and tune (the grid point);
  test rows score; every fit keeps an anytime record of its best-so-far weights by
  validation (:mod:`secondorder.pipeline.anytime`), at every epoch or iteration for
  every arm, stamped with the time of the improvement itself, so every budget up to
  the cap is scored post hoc from one run;
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
* a size at which one LM fit would need more than ``lm_memory_gb`` (``J``, ``J^T J``
  and the solve's copies) is not run: its fits are ``memory_cap`` rows, reported as
  *not run*, never as failures.

:func:`summarise` then derives the tables of the verdict (see
:mod:`secondorder.pipeline.suite_metrics`).
"""

from __future__ import annotations

import json
import logging
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from secondorder.optim import arms
from secondorder.optim.arms import Arm
from secondorder.problem import datasets, model

log = logging.getLogger(__name__)

#: A regression fit's record is kept when its validation or test error moved by more
#: than this fraction (classification: any change of a misclassified row).
REGRESSION_RECORD_RESOLUTION = 1e-3

#: The keys a scope may set; the rest come from the top-level (full) settings.
SCOPE_KEYS = ("problems", "sizes", "inits", "splits", "cap_s", "arms", "jobs")


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


def problem_task(suite: dict, name: str) -> str:
    """The task of a suite problem (a CSV problem's from its config entry)."""
    return datasets.task_of(name, suite.get("csv_problems"))


def scopes(suite: dict) -> list[str]:
    """Every scope's name: ``full`` and the named ``scopes``."""
    return ["full", *suite.get("scopes", {})]


def scope_settings(suite: dict, scope: str) -> dict:
    """The settings of ``scope`` (:data:`SCOPE_KEYS`): the full suite's (its problems:
    ``suite.problems`` and every CSV problem, :func:`datasets.suite_problems`), with a
    named scope's own values on top."""
    full = {"problems": datasets.suite_problems(suite), "sizes": list(suite["sizes"]),
            "inits": suite["inits"], "splits": suite["splits"], "cap_s": suite["cap_s"],
            "arms": list(suite["arms"]), "jobs": suite["jobs"]}
    if scope == "full":
        return full
    named = suite.get("scopes", {})
    if scope not in named:
        raise ValueError(f"scope must be one of {scopes(suite)}, got {scope!r}")
    return {**full, **named[scope]}


def budgets(suite: dict, scope: str) -> list[float]:
    """The budgets of the verdict map: ``budgets_s`` below the scope's cap, and the
    cap."""
    cap = float(scope_settings(suite, scope)["cap_s"])
    return sorted({float(b) for b in suite["budgets_s"] if b < cap} | {cap})


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
    """``(problem, size, part)`` of every job of ``scope``: ``part`` is an arm
    (``jobs: arm``) or ``all`` (``jobs: instance``: every arm of the scope that
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


def init_seeds(suite: dict, inits: int) -> list[int]:
    """The seed chain: initial weights ``k`` come from ``first_seed + k``."""
    return [suite["first_seed"] + k for k in range(inits)]


def split_seeds(suite: dict, scope: str, n_rows: int) -> list[int]:
    """The split seeds of a problem of ``n_rows`` rows: ``splits`` of them
    (``split_seed, split_seed + 1, ..``) when it has fewer than ``single_split_rows``
    rows, else ``split_seed`` alone."""
    count = (scope_settings(suite, scope)["splits"]
             if n_rows < suite["single_split_rows"] else 1)
    return [suite["split_seed"] + j for j in range(count)]


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
    (:func:`secondorder.pipeline.suite_metrics.error`)."""
    from secondorder.pipeline.suite_metrics import error

    def evaluate(w):
        return (error(task, problem.y_val, predict(w, problem.x_val, arch)),
                error(task, problem.y_test, predict(w, problem.x_test, arch)))

    return evaluate


def run_job(suite: dict, *, scope: str, problem_name: str, size: str, part: str,
            progress=None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Train the arms of one job (:func:`job_arms`) at every grid point from every
    init on every split of ``problem_name`` at ``size``. Returns the fits (one row per
    fit: status, times, work, errors at the cap, see :func:`_fit_row`), their anytime
    records (:class:`secondorder.pipeline.anytime.AnytimeRecorder`, with the fit's
    keys) and the job's record (the problem, its splits, architecture, seeds, grids,
    cap and threads)."""
    from threadpoolctl import threadpool_limits

    from secondorder.progress import format_progress

    say = progress or log.info
    settings = scope_settings(suite, scope)
    names = job_arms(suite, scope, problem_name, part)
    seeds = init_seeds(suite, settings["inits"])
    cap = float(settings["cap_s"])
    csv = suite.get("csv_problems")
    _, first = datasets.load_problem(problem_name, split_seed=suite["split_seed"],
                                     data_seed=suite["data_seed"], csv_problems=csv)
    splits = split_seeds(suite, scope, first["n"])
    total = len(splits) * len(names) * suite["grid_points"] * len(seeds)
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
                for g, point in enumerate(grid(suite, arm_name)):
                    arm = Arm(point)  # the config's words, checked here once
                    key = {"problem": problem_name, "size": size, "arm": arm_name,
                           "grid_point": g, "split": split}
                    base = {**key, "family": info["family"], "task": info["task"],
                            "architecture": arch.name, "n_params": arch.n_params,
                            "n_residuals": m, "n_val": len(problem.validation),
                            "n_test": len(problem.test),
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
                    say(f"{problem_name}/{size}/{arm_name} split {split}, grid point "
                        f"{g + 1}/{len(grid(suite, arm_name))}: " + format_progress(
                            len(fits), total, time.perf_counter() - started, "fits"))
    columns = ["problem", "size", "arm", "grid_point", "split", "init", "time_s", "work",
               "val_error", "test_error", "final"]
    record = {**{k: v for k, v in first.items() if k not in ("rows", "sizes", "split_seed")},
              "splits": split_records, "size": size, "architecture": arch.name,
              "n_params": arch.n_params, "n_residuals": m, "arms": names, "scope": scope,
              "seeds": seeds, "cap_s": cap, "threads": int(suite["threads"]),
              "grids": {a: grid(suite, a) for a in names}}
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
    in force at the cap (:func:`secondorder.pipeline.suite_metrics.at_budget`),
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


# --- the whole suite --------------------------------------------------------------------

#: Ratios of the performance profiles' tau axis (1 to 1000).
TAUS = np.unique(np.concatenate([[1.0], np.geomspace(1, 1e3, 61)]))


def _instances_run(fits: pd.DataFrame, arms: list[str],
                   rivals: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (problem, size) instances of a comparison: those where every arm of
    ``arms`` has fits and none was memory-capped, and those not run (an arm
    memory-capped or missing, with the arms not run there). Instances without a fit of
    any of ``rivals`` are not the comparison's (the cross-entropy arms do not apply to
    regression)."""
    ran = fits[fits["arm"].isin(arms)]
    per = ran.groupby(["problem", "size"]).apply(
        lambda g: pd.Series({
            "arms": set(g["arm"]),
            "not_run": sorted(set(g.loc[g["status"] == "memory_cap", "arm"])
                              | (set(arms) - set(g["arm"])))}),
        include_groups=False).reset_index()
    per = per[per["arms"].apply(lambda a: bool(a & set(rivals)))]
    complete = per["not_run"].str.len() == 0
    return per.loc[complete, ["problem", "size"]], per.loc[~complete]


def summarise(fits: pd.DataFrame, records: pd.DataFrame, *, suite: dict,
              scope: str) -> dict:
    """Every table of the suite (:mod:`secondorder.pipeline.suite_metrics`) from all
    its fits and their anytime records, records past the cap cut:

    ``selected`` (each arm's grid point tuned at each budget), and per comparison
    (:func:`comparisons`: the second-order arms against one group of rivals, on the
    instances every arm of the comparison ran): ``targets`` (reference and target per
    problem, size, split and tolerance), ``hits`` (first hits of the fits at the
    grid points tuned at the cap), ``success`` (rates at the cap with Wilson
    intervals), ``profiles`` (data and performance profiles against time and work,
    long format), ``verdict`` (per family, size, budget and tolerance),
    ``verdict_instances`` (per problem and size), ``verdict_changes`` (where the
    answer changes with the budget); ``not_run`` (memory-capped instances) and
    ``lm_cost`` (LM's own compute per iteration by size)."""
    from secondorder.pipeline import suite_metrics as sm

    cap = float(scope_settings(suite, scope)["cap_s"])
    points = budgets(suite, scope)
    boot = suite["bootstrap"]
    records = records[np.asarray(records["time_s"], dtype=float) <= cap]
    meta = fits[["problem", "split", "task", "family", "n_test"]].drop_duplicates(
        ["problem", "split"])
    at = {b: sm.at_budget(records, b) for b in points}
    selected = {b: sm.select_grid_point(at[b]) for b in points}
    out = {key: [] for key in ("targets", "hits", "success", "profiles", "verdict",
                               "verdict_instances")}
    second = [a for a in suite["second_order"] if a in set(fits["arm"])]
    not_run = []
    for comparison, rivals in comparisons(suite).items():
        rivals = [a for a in rivals if a in set(fits["arm"])]
        arms = second + rivals
        if not second or not rivals:
            continue
        instances, missing = _instances_run(fits, arms, rivals)
        not_run += [{"comparison": comparison, "problem": r.problem, "size": r.size,
                     "not_run": ", ".join(r.not_run)} for r in missing.itertuples()]
        if instances.empty:
            continue
        mine = records[records["arm"].isin(arms)].merge(instances, on=["problem", "size"])
        at_cap = sm.chosen(at[cap].merge(instances, on=["problem", "size"]),
                           selected[cap])
        at_cap = at_cap[at_cap["arm"].isin(arms)]
        refs = sm.reference(at_cap).merge(meta, on=["problem", "split"])
        tg = sm.targets(refs, suite["tolerances"])
        hits_all = sm.first_hits(mine, tg).merge(meta[["problem", "family"]]
                                                 .drop_duplicates(), on="problem")
        hits_cap = sm.chosen(hits_all, selected[cap])
        out["targets"].append(tg.assign(comparison=comparison))
        out["hits"].append(hits_cap.assign(comparison=comparison))
        out["success"].append(sm.success_rates(hits_cap, by=("tolerance", "arm"))
                              .assign(comparison=comparison))
        for tolerance, part in hits_cap.groupby("tolerance", sort=False):
            out["profiles"] += _profiles(part, cap, comparison, tolerance)
        solved = pd.concat([sm.chosen(hits_all, selected[b]).assign(
            budget_s=b, solved=lambda t, b=b: t["hit_time_s"] <= b) for b in points],
            ignore_index=True)
        for so in second:
            for name, by in (("verdict", ("family", "size")),
                             ("verdict_instances", ("problem", "size"))):
                out[name].append(sm.verdict_map(
                    solved, second_order=so, rivals=rivals, by=by,
                    resamples=boot["resamples"], seed=boot["seed"], level=boot["level"])
                    .assign(comparison=comparison))
    tables = {k: (pd.concat(v, ignore_index=True) if v else pd.DataFrame())
              for k, v in out.items()}
    tables["verdict_changes"] = (sm.verdict_changes(tables["verdict"]) if len(tables["verdict"])
                                 else pd.DataFrame())
    tables["selected"] = pd.concat([t.assign(budget_s=b) for b, t in selected.items()],
                                   ignore_index=True)
    tables["not_run"] = pd.DataFrame(not_run, columns=["comparison", "problem", "size",
                                                       "not_run"])
    tables["lm_cost"] = _lm_cost(fits, second[0] if second else "lm")
    return tables


def _profiles(hits: pd.DataFrame, cap: float, comparison: str, tolerance: str) -> list:
    """Data and performance profiles against time and work of one comparison and
    tolerance, as long tables (``comparison, tolerance, profile, measure, x, arm,
    value``)."""
    from secondorder.pipeline import suite_metrics as sm

    work = hits["hit_work"].replace(np.inf, np.nan)
    top = max(float(work.max()) if work.notna().any() else 1.0, 1.0)
    axes = {"time_s": np.geomspace(cap / 1e3, cap, 61),
            "work": np.geomspace(max(top / 1e6, 1.0), max(top, 10.0), 61)}
    parts = []
    for measure, grid_ in axes.items():
        for kind, table in (
                ("data", sm.data_profile(hits, grid_, measure)),
                ("performance", sm.performance_profile(sm.performance_times(hits, measure),
                                                       TAUS))):
            long = table.reset_index().melt(id_vars=table.index.name, var_name="arm",
                                            value_name="value")
            parts.append(long.rename(columns={table.index.name: "x"}).assign(
                comparison=comparison, tolerance=tolerance, profile=kind, measure=measure))
    return parts


def _lm_cost(fits: pd.DataFrame, lm_arm: str) -> pd.DataFrame:
    """LM's own compute per iteration (median over its fits), weights, residuals, the
    job's peak memory and whether it was memory-capped, per (problem, size)."""
    lm = fits[fits["arm"] == lm_arm]
    return (lm.groupby(["problem", "size"], as_index=False)
            .agg(n_params=("n_params", "first"), n_residuals=("n_residuals", "first"),
                 ms_per_iteration=("ms_per_iteration", "median"),
                 peak_rss_mb=("peak_rss_mb", "max"),
                 memory_cap=("status", lambda s: bool((s == "memory_cap").any()))))


#: The tables :func:`write_summary` writes beside ``fits.csv`` and ``records.csv``, by
#: name: each one's file in a scope's folder (``results/suite/<scope>/``). The
#: workflow's outputs (``suite.smk``), :func:`write_summary` and the article all
#: address a table through this mapping (:func:`table_paths`, :func:`read_tables`).
TABLES: dict[str, str] = {name: f"{name}.csv" for name in (
    "selected", "targets", "hits", "success", "profiles", "verdict", "verdict_instances",
    "verdict_changes", "not_run", "lm_cost")}


def table_paths(folder) -> dict[str, Path]:
    """``{name: path}`` of each table of :data:`TABLES` in a scope's ``folder``."""
    return {name: Path(folder) / file for name, file in TABLES.items()}


def read_tables(folder, names=None) -> dict[str, pd.DataFrame]:
    """The tables ``names`` (default: all of :data:`TABLES`) of a scope's ``folder``, by
    name; a table written with no rows reads back as an empty DataFrame. An unknown name
    raises ``KeyError`` naming the known ones."""
    from secondorder import io

    paths = table_paths(folder)
    unknown = sorted(set(names or ()) - set(paths))
    if unknown:
        raise KeyError(f"no suite table {unknown}; the tables are {sorted(paths)}")
    tables = {}
    for name in names or paths:
        try:
            tables[name] = io.read_csv(paths[name])
        except pd.errors.EmptyDataError:
            tables[name] = pd.DataFrame()
    return tables


def write_summary(fit_csvs, record_csvs, *, out, suite: dict, scope: str,
                  job_jsons=()) -> dict:
    """All fits and records of a scope in ``out.fits`` and ``out.records``, the tables
    of :func:`summarise` beside ``out.summary`` (each at its path of
    :func:`table_paths`), the figures (profiles, verdict map, LM's cost) and
    ``out.summary`` (JSON: the settings, the train/validation/test ``fractions`` the
    jobs split with, read from their records ``job_jsons``, counts, statuses, what was
    not run, success at the cap and the verdict counts)."""
    from secondorder import io
    from secondorder.pipeline import plots

    fits = pd.concat([io.read_csv(p) for p in fit_csvs], ignore_index=True)
    records = pd.concat([io.read_csv(p) for p in record_csvs], ignore_index=True)
    io.write_csv(out.fits, fits)
    io.write_csv(out.records, records)
    tables = summarise(fits, records, suite=suite, scope=scope)
    folder = Path(out.summary).parent
    for name, path in table_paths(folder).items():
        io.write_csv(path, tables[name])
    plots.save(plots.suite_profiles(tables["profiles"]), folder, "fig_suite_profiles")
    plots.save(plots.suite_verdict_map(tables["verdict"]), folder, "fig_suite_verdict")
    plots.save(plots.suite_lm_cost(tables["lm_cost"]), folder, "fig_suite_lm_cost")
    settings = scope_settings(suite, scope)
    verdict = tables["verdict"]
    summary = {
        "scope": scope,
        "settings": {**{k: suite[k] for k in ("grid_points", "lm_memory_gb", "first_seed",
                                              "split_seed", "single_split_rows",
                                              "tolerances", "bootstrap", "threads",
                                              "second_order")},
                     **{k: settings[k] for k in ("inits", "splits", "cap_s", "jobs")},
                     "budgets_s": budgets(suite, scope)},
        "fractions": sorted({tuple(io.read_json(p)["fractions"]) for p in job_jsons}),
        "comparisons": ({} if tables["success"].empty else  # those judged, with their arms
                        {c: sorted(g.unique(), key=lambda a: (a not in suite["second_order"], a))
                         for c, g in tables["success"].groupby("comparison")["arm"]}),
        "record_every": {a: Arm(grid(suite, a)[0]).record_every
                         for a in sorted(fits["arm"].unique())},
        "fits": int(len(fits)), "records": int(len(records)),
        "problems": sorted(fits["problem"].unique()), "sizes": sorted(fits["size"].unique()),
        "arms": sorted(fits["arm"].unique()),
        "splits": {p: sorted(map(int, g.unique()))
                   for p, g in fits.groupby("problem")["split"]},
        "statuses": fits["status"].value_counts().to_dict(),
        "not_run": tables["not_run"].to_dict(orient="records"),
        "fit_time_s": float(np.nansum(fits["time_s"])),
        "past_cap": int(fits["past_cap"].sum()),
        "success": tables["success"].to_dict(orient="records"),
        "verdict_counts": ({} if verdict.empty else
                           verdict.groupby(["comparison", "tolerance", "budget_s"])["verdict"]
                           .value_counts().unstack(fill_value=0).reset_index()
                           .to_dict(orient="records")),
    }
    io.write_json(out.summary, summary)
    log.info("suite %s: %d fits, %d records; success at the cap:\n%s", scope, len(fits),
             len(records), tables["success"].to_string(index=False))
    return summary
