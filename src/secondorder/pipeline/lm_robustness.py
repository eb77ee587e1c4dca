"""A public robustness benchmark of our Levenberg-Marquardt: the MGH problems.

Every problem of :mod:`secondorder.problem.mgh` (Moré, Garbow & Hillstrom 1981: 37 problems)
is solved from ``x0``, ``10 x0`` and ``100 x0`` (MGH's and MINPACK's protocol; for
Watson, whose ``x0`` is 0, the three starts coincide: they are kept, three identical
runs, and listed under ``zero_start_problems`` in the summary) by

* ``secondorder.optim.lm`` (:func:`secondorder.optim.lm.least_squares_batch`, the three starts
  one batch; each row is the run it would be alone) with each damping x scaling
  combination, ``marquardt/identity``, ``marquardt/jtj_diag``, ``nielsen/identity``,
  ``nielsen/jtj_diag``; the package's defaults are one of them (read from
  ``secondorder.optim.lm.solver.DEFAULTS`` by :func:`default_options`, marked in the
  ``default`` column, not run twice); every other option at its default (``gtol,
  ftol, xtol, mu0, mu_max``, ...);
* ``minpack``: ``scipy.optimize.least_squares(method="lm")`` (MINPACK ``lmder``),
  default tolerances;
* ``trf``: ``scipy.optimize.least_squares(method="trf")``, default tolerances.

All use the exact Jacobian of TensorFlow autodiff (:func:`numpy_functions` for
scipy, the package's default for ours). Budget: MINPACK's
``lmder1`` default, ``100 (n + 1)`` function evaluations: scipy's ``max_nfev =
100 (n + 1)`` (evaluation at the start included), our ``max_iter = 100 (n + 1)``
trial steps (``nfev = max_iter + 1``: one evaluation more).

Table columns (one row per problem x start x solver/options; a run that raises or
ends non-finite is a row with ``status = "error"``, never dropped): ``problem, number
(MGH's), m, n, start (1, 10, 100), solver, options, default, final_cost, best_cost,
solved, stationary, reported_success, false_success, other_minimum, status, message,
nit, nfev, njev, time_s, compile_s, max_cosine, error``. Costs use scipy's convention
``cost = 0.5 * sum(r**2)`` (MGH tabulate ``f = sum(r**2) = 2 cost``);
``final_cost`` is recomputed from the returned ``x``. ``time_s`` is a run's own
compute, compilation excluded: for our LM its share of its batch of three starts
(:class:`secondorder.optim.lm.LMResult`), for scipy its wall time; ``compile_s`` is
the compilation of the problem's residual and Jacobian functions, once per problem
for our LM (one provider serves every option set) and for scipy.

Definitions:

* **solved**: ``final_cost - best_cost <= max(1e-6 * best_cost, 1e-12)``: within
  1e-6 relative of the best known minimum, or 1e-12 absolute (``best_cost = f_min /
  2``, the *global* best known; ending in another local minimum is not solved);
* **stationary**: the final point passes MINPACK's first-order test, the scaled
  gradient cosine ``max_j |J_j^T r| / (||J_j|| ||r||) <= 1e-6`` over the columns with
  ``||J_j|| > 0`` (``max_cosine``), or ``||r||^2 <= 1e-20``, or the run is solved;
* **false_success**: ``reported_success`` and not ``stationary``: the solver claims
  convergence at a point that is not first-order stationary. A stationary point that
  is another local minimum is a failure to solve, not a false success;
* **other_minimum**: the final ``f`` is, within 1e-5 relative, a documented
  non-global minimum of the problem (``Problem.other_minima``);
* **solved_unreported** (summary only): solved but not ``reported_success``.

Two things the definitions imply, visible in the table. Minima at infinity (Bard's
17.4287, Kowalik-Osborne's 1.02734e-3; Box 3-D and Biggs EXP6 as a parameter runs off
until its column vanishes) fail the cosine test at every finite point, since the
cosine divides by ``||J_j||``: a success reported there is counted false (the summary
counts those at a documented minimum apart). And scipy's default ``ftol = 1e-8``
often stops with a cosine between 1e-6 and 1e-4 (Freudenstein-Roth's and the
trigonometric function's local minima): false successes by this 1e-6 test.

Cost: compilation dominates, once per problem: our LM's residuals and Jacobian are
XLA-compiled (``jit_compile=True``, the package default) for one row and serve every
option set and start.

Summary (:func:`summarize`): per solver/options, runs, solved, stationary, reported
successes, false successes, solved_unreported, errors, median ``time_s``
(:func:`summary_table`, also written as a small CSV); and, for the default options,
whether they solve at least as many runs as MINPACK on the same starts, with the
runs MINPACK solves and they do not.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import scipy.optimize

from secondorder.optim.minpack_memory import scrub_freed_blocks
from secondorder.problem.mgh import PROBLEMS, Problem

log = logging.getLogger(__name__)

STARTS = (1, 10, 100)
SOLVED_RTOL, SOLVED_ATOL = 1e-6, 1e-12
STATIONARY_COSINE, ZERO_SSQ = 1e-6, 1e-20
OTHER_MINIMUM_RTOL = 1e-5

#: Our LM's option sets: damping x scaling, everything else at the package default.
LM_OPTIONS = {
    "marquardt/identity": {"damping": "marquardt", "scaling": "identity"},
    "marquardt/jtj_diag": {"damping": "marquardt", "scaling": "jtj_diag"},
    "nielsen/identity": {"damping": "nielsen", "scaling": "identity"},
    "nielsen/jtj_diag": {"damping": "nielsen", "scaling": "jtj_diag"},
}
SCIPY_METHODS = {"minpack": "lm", "trf": "trf"}
OURS = "secondorder.optim.lm"
COLUMNS = ["problem", "number", "m", "n", "start", "solver", "options", "default",
           "final_cost", "best_cost", "solved", "stationary", "reported_success",
           "false_success", "other_minimum", "status", "message", "nit", "nfev", "njev",
           "time_s", "compile_s", "max_cosine", "error"]


def budget(n: int) -> int:
    """MINPACK ``lmder1``'s default budget, ``100 (n + 1)`` function evaluations."""
    return 100 * (n + 1)


def default_options() -> str:
    """The label in :data:`LM_OPTIONS` of the package defaults (damping, scaling)."""
    from secondorder.optim.lm import solver
    defaults = getattr(solver, "DEFAULTS", None)
    if defaults is None:
        params = inspect.signature(solver.least_squares).parameters
        defaults = {k: params[k].default for k in ("damping", "scaling")}
    return f"{defaults['damping']}/{defaults['scaling']}"


# --- classification ---------------------------------------------------------------------


def is_solved(cost: float, best_cost: float, rtol: float = SOLVED_RTOL,
              atol: float = SOLVED_ATOL) -> bool:
    """``cost`` within ``rtol`` relative or ``atol`` absolute of ``best_cost`` (or
    below it)."""
    return bool(np.isfinite(cost) and cost - best_cost <= max(rtol * best_cost, atol))


def max_cosine(jac: np.ndarray, r: np.ndarray) -> float:
    """MINPACK's scaled gradient ``max_j |J_j^T r| / (||J_j|| ||r||)`` over the columns
    with ``||J_j|| > 0`` (0 if none, or if ``r = 0``; NaN if anything is not finite)."""
    jac, r = np.asarray(jac, np.float64), np.asarray(r, np.float64)
    if not (np.all(np.isfinite(jac)) and np.all(np.isfinite(r))):
        return float("nan")
    r_norm = np.linalg.norm(r)
    norms = np.linalg.norm(jac, axis=0)
    live = norms > 0
    if r_norm == 0 or not np.any(live):
        return 0.0
    return float(np.max(np.abs(jac[:, live].T @ r) / (norms[live] * r_norm)))


def is_stationary(jac: np.ndarray, r: np.ndarray, solved: bool = False,
                  tol: float = STATIONARY_COSINE) -> bool:
    """First-order stationary: ``max_cosine(J, r) <= tol``, or ``||r||^2 <= 1e-20``,
    or ``solved``."""
    r = np.asarray(r, np.float64)
    if solved:
        return True
    if np.all(np.isfinite(r)) and float(r @ r) <= ZERO_SSQ:
        return True
    cosine = max_cosine(jac, r)
    return bool(np.isfinite(cosine) and cosine <= tol)


def is_false_success(reported_success: bool, stationary: bool) -> bool:
    """The solver reported success at a point that is not stationary."""
    return bool(reported_success and not stationary)


def at_other_minimum(problem: Problem, cost: float) -> bool:
    return any(abs(2 * cost - f) <= OTHER_MINIMUM_RTOL * f for f in problem.other_minima)


# --- the solvers ------------------------------------------------------------------------


def numpy_functions(problem: Problem, jit_compile: bool = False):
    """numpy ``fun(x) -> (m,)`` and ``jac(x) -> (m, n)`` for scipy: the residuals of an
    MGH problem and their autodiff Jacobian (:func:`secondorder.optim.lm.autodiff_jacobian`,
    the one our LM uses), each a ``tf.function`` traced once for 1-D float64 input."""
    import tensorflow as tf

    from secondorder.optim.lm.jacobian import autodiff_jacobian

    spec = [tf.TensorSpec([problem.n], tf.float64)]
    fun_tf = tf.function(problem.residuals, input_signature=spec, jit_compile=jit_compile)
    jac_tf = tf.function(autodiff_jacobian(problem.residuals, problem.m, problem.n),
                         input_signature=spec, jit_compile=jit_compile)

    def fun(x):
        return fun_tf(tf.constant(np.asarray(x, np.float64))).numpy()

    def jac(x):
        return jac_tf(tf.constant(np.asarray(x, np.float64))).numpy()
    return fun, jac


def lm_provider(problem: Problem, jit_compile: bool = True):
    """Our LM's provider of ``problem``: its residuals (they take ``(..., n)``, so they
    serve a batch as they are) and their autodiff Jacobian, compiled once."""
    from secondorder.optim.lm import TFProvider
    return TFProvider(problem.residuals, problem.n, problem.m, jit_compile=jit_compile)


def run_lm(provider, X0: np.ndarray, options: dict, *, max_iter: int) -> list:
    """Our LM from every row of ``X0``: the one place that calls the package."""
    from secondorder.optim.lm import least_squares_batch
    return least_squares_batch(provider, X0, max_iter=max_iter,
                               progress=lambda info: False, **options)


def run_scipy(fun: Callable, jac: Callable, x0: np.ndarray, method: str,
              max_nfev: int) -> tuple[scipy.optimize.OptimizeResult, float]:
    """scipy's ``least_squares`` with default tolerances; returns it and its time."""
    scrub_freed_blocks()  # MINPACK's qrfac reads one double past the Jacobian
    tic = time.perf_counter()
    res = scipy.optimize.least_squares(fun, x0, jac=jac, method=method, max_nfev=max_nfev)
    return res, time.perf_counter() - tic


SCIPY_STATUS = {-1: "INVALID_INPUT", 0: "MAX_NFEV", 1: "GTOL", 2: "FTOL", 3: "XTOL",
                4: "FTOL_XTOL"}


# --- rows -------------------------------------------------------------------------------


def _row(problem: Problem, start: int, solver: str, options: str, is_default: bool,
         **fields) -> dict:
    row = {"problem": problem.name, "number": problem.number, "m": problem.m,
           "n": problem.n, "start": start, "solver": solver, "options": options,
           "default": is_default, "final_cost": np.nan, "best_cost": problem.f_min / 2,
           "solved": False, "stationary": False, "reported_success": False,
           "false_success": False, "other_minimum": False, "status": "error",
           "message": "", "nit": np.nan, "nfev": np.nan, "njev": np.nan,
           "time_s": np.nan, "compile_s": np.nan, "max_cosine": np.nan, "error": ""}
    row.update(fields)
    return row


def classify(problem: Problem, x, fun: Callable, jac: Callable) -> dict:
    """``final_cost, solved, stationary, max_cosine, other_minimum`` at ``x`` (residuals
    and Jacobian recomputed there); ``{"error": ...}`` if they are not finite."""
    x = np.asarray(x, np.float64)
    if not np.all(np.isfinite(x)):
        return {"error": "non-finite parameters"}
    r = fun(x)
    cost = 0.5 * float(r @ r)
    if not np.isfinite(cost):
        return {"error": "non-finite residuals"}
    jacobian = jac(x)
    solved = is_solved(cost, problem.f_min / 2)
    return {"final_cost": cost, "solved": solved,
            "stationary": is_stationary(jacobian, r, solved),
            "max_cosine": max_cosine(jacobian, r),
            "other_minimum": at_other_minimum(problem, cost)}


def finish(row: dict, reported_success: bool, classified: dict) -> dict:
    """Merge the classification; an unclassifiable (non-finite) run is an error row."""
    row.update(classified)
    if "error" in classified:
        row["message"] = f"{row['status']}: {row['message']}"
        row["status"] = "error"
        row["reported_success"] = bool(reported_success)
        return row
    row["reported_success"] = bool(reported_success)
    row["false_success"] = is_false_success(reported_success, row["stationary"])
    return row


def problem_rows(problem: Problem, *, starts: Iterable[int], lm_options: dict,
                 scipy_methods: dict, default: str, jit_compile: bool,
                 on_run: Callable = lambda k: None) -> list[dict]:
    """All runs of one problem (see the module docstring)."""
    starts = list(starts)
    X0 = np.stack([s * problem.x0 for s in starts])
    max_iter = budget(problem.n)
    tic = time.perf_counter()
    fun, jac = numpy_functions(problem)
    fun(problem.x0), jac(problem.x0)
    trace_s = time.perf_counter() - tic
    rows = []
    provider = lm_provider(problem, jit_compile) if lm_options else None

    for label, options in lm_options.items():
        is_default = label == default
        try:
            results = run_lm(provider, X0, options, max_iter=max_iter)
        except Exception as err:  # noqa: BLE001 - every failure becomes a row
            log.warning("%s %s raised %r", problem.name, label, err)
            rows += [_row(problem, s, OURS, label, is_default, error=repr(err)[:300])
                     for s in starts]
            on_run(len(starts))
            continue
        for s, res in zip(starts, results):
            row = _row(problem, s, OURS, label, is_default, status=res.status.name,
                       message=res.message, nit=res.nit, nfev=res.nfev, njev=res.njev,
                       time_s=res.time_s, compile_s=res.compile_s)
            rows.append(finish(row, res.success, classify(problem, res.x, fun, jac)))
        on_run(len(starts))

    for solver, method in scipy_methods.items():
        for s, x0 in zip(starts, X0):
            try:
                res, wall = run_scipy(fun, jac, x0, method, max_iter)
            except Exception as err:  # noqa: BLE001
                log.warning("%s %s from %d x0 raised %r", problem.name, solver, s, err)
                rows.append(_row(problem, s, solver, "default", False,
                                 error=repr(err)[:300], compile_s=trace_s))
                on_run(1)
                continue
            row = _row(problem, s, solver, "default", False,
                       status=SCIPY_STATUS.get(res.status, str(res.status)),
                       message=res.message, nfev=res.nfev,
                       njev=np.nan if res.njev is None else res.njev,
                       time_s=wall, compile_s=trace_s)
            rows.append(finish(row, res.success, classify(problem, res.x, fun, jac)))
            on_run(1)
    return rows


def run_benchmark(problems: Iterable[str] | None = None, starts: Iterable[int] = STARTS,
                  lm_options: Iterable[str] | None = None,
                  scipy_methods: Iterable[str] | None = None,
                  jit_compile: bool = True) -> tuple[pd.DataFrame, dict]:
    """Run the benchmark; returns the table (:data:`COLUMNS`) and its summary.

    ``problems`` (names in :data:`.mgh.PROBLEMS`), ``lm_options`` (labels in
    :data:`LM_OPTIONS`) and ``scipy_methods`` (``"minpack"``, ``"trf"``) default to
    all. Progress (percent of runs done, elapsed, ETA) is logged at INFO level.
    """
    names = list(PROBLEMS) if problems is None else list(problems)
    unknown = [p for p in names if p not in PROBLEMS]
    if unknown:
        raise ValueError(f"unknown problems {unknown}; known: {sorted(PROBLEMS)}")
    lm = {k: LM_OPTIONS[k] for k in (LM_OPTIONS if lm_options is None else lm_options)}
    sp = {k: SCIPY_METHODS[k] for k in (SCIPY_METHODS if scipy_methods is None
                                        else scipy_methods)}
    starts = list(starts)
    default = default_options()
    total = len(names) * len(starts) * (len(lm) + len(sp))
    done, tic = 0, time.perf_counter()

    def on_run(k: int) -> None:
        nonlocal done
        done += k
        elapsed = time.perf_counter() - tic
        eta = elapsed / done * (total - done)
        log.info("lm_robustness: %d/%d runs (%.0f%%), %.0f s elapsed, ETA %.0f s",
                 done, total, 100.0 * done / total, elapsed, eta)

    rows = []
    for name in names:
        log.info("lm_robustness: %s (m=%d, n=%d)", name, PROBLEMS[name].m, PROBLEMS[name].n)
        rows += problem_rows(PROBLEMS[name], starts=starts, lm_options=lm, scipy_methods=sp,
                             default=default, jit_compile=jit_compile, on_run=on_run)
    wall = time.perf_counter() - tic
    table = pd.DataFrame(rows, columns=COLUMNS)
    summary = summarize(table, default=default)
    summary.update({
        "wall_s": wall, "problems": names, "n_problems": len(names), "starts": starts,
        "jit_compile": jit_compile,
        "zero_start_problems": [p for p in names if not np.any(PROBLEMS[p].x0)],
        "budget": "100 (n + 1): scipy max_nfev (evaluations, start included); our "
                  "max_iter (trial steps, so nfev <= 100 (n + 1) + 1)",
        "references": {p: PROBLEMS[p].source for p in names},
    })
    log.info("lm_robustness: %d runs in %.0f s", len(table), wall)
    return table, summary


# --- summary ----------------------------------------------------------------------------

DEFINITIONS = {
    "final_cost": "0.5 * sum(r**2) at the returned x (scipy's cost; MGH's f is 2 * cost)",
    "solved": f"final_cost - best_cost <= max({SOLVED_RTOL:g} * best_cost, "
              f"{SOLVED_ATOL:g}); best_cost = global best known f / 2",
    "stationary": f"max_j |J_j^T r| / (||J_j|| ||r||) <= {STATIONARY_COSINE:g} over columns "
                  f"with ||J_j|| > 0 (MINPACK's scaled-gradient cosine), or ||r||^2 <= "
                  f"{ZERO_SSQ:g}, or solved",
    "false_success": "reported_success and not stationary (a stationary non-global "
                     "minimum is a failure to solve, not a false success)",
    "other_minimum": f"final f within {OTHER_MINIMUM_RTOL:g} relative of a documented "
                     "non-global minimum",
    "false_successes_at_other_minimum": "false successes that end at a documented "
                                        "non-global minimum; for Bard, Kowalik-Osborne "
                                        "these lie at infinity, where the "
                                        "cosine test cannot pass at any finite point",
    "solved_unreported": "solved but not reported_success (the solver did not "
                         "recognise its own solution, e.g. a MU_MAX or MAX_ITER stop "
                         "at the minimum)",
    "error": "the run raised or ended non-finite (status 'error'); counted, never dropped",
}


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per solver/options: runs, solved, stationary, reported successes, false
    successes (all, and those at a documented other minimum), solved runs not reported
    as successes, errors, runs ending in a documented other minimum, median wall
    time."""
    table = table.assign(false_other=table.false_success & table.other_minimum,
                         unreported=table.solved & ~table.reported_success.astype(bool))
    groups = table.groupby(["solver", "options"], sort=False)
    out = groups.agg(default=("default", "any"), runs=("problem", "size"),
                     solved=("solved", "sum"), stationary=("stationary", "sum"),
                     reported_success=("reported_success", "sum"),
                     false_successes=("false_success", "sum"),
                     false_successes_at_other_minimum=("false_other", "sum"),
                     solved_unreported=("unreported", "sum"),
                     errors=("status", lambda s: int((s == "error").sum())),
                     other_minimum=("other_minimum", "sum"),
                     median_time_s=("time_s", "median")).reset_index()
    for col in ("runs", "solved", "stationary", "reported_success", "false_successes",
                "false_successes_at_other_minimum", "solved_unreported", "errors",
                "other_minimum"):
        out[col] = out[col].astype(int)
    return out


def compare_with_minpack(table: pd.DataFrame, options: str) -> dict:
    """Our LM with ``options`` against MINPACK on the same (problem, start) runs."""
    key = ["problem", "start"]
    ours = table[(table.solver == OURS) & (table.options == options)].set_index(key)
    ref = table[table.solver == "minpack"].set_index(key)
    common = ours.index.intersection(ref.index)
    if len(common) == 0:
        return {"options": options, "runs": 0}
    ours, ref = ours.loc[common], ref.loc[common]
    lost = [f"{p} x{s}" for (p, s) in common[(ref.solved & ~ours.solved).to_numpy()]]
    won = [f"{p} x{s}" for (p, s) in common[(ours.solved & ~ref.solved).to_numpy()]]
    return {"options": options, "runs": int(len(common)), "solved": int(ours.solved.sum()),
            "minpack_solved": int(ref.solved.sum()),
            "solved_ge_minpack": bool(ours.solved.sum() >= ref.solved.sum()),
            "minpack_only": lost, "ours_only": won}


def summarize(table: pd.DataFrame, default: str | None = None) -> dict:
    default = default_options() if default is None else default
    per = summary_table(table)
    below = table[table.final_cost < table.best_cost
                  - np.maximum(SOLVED_RTOL * table.best_cost, SOLVED_ATOL)]
    return {
        "definitions": DEFINITIONS,
        "default_options": default,
        "runs": int(len(table)),
        "solvers": per.to_dict(orient="records"),
        "default_vs_minpack": compare_with_minpack(table, default),
        "vs_minpack": {o: compare_with_minpack(table, o)
                       for o in table[table.solver == OURS].options.unique()},
        "below_best_known": [f"{r.problem} x{r.start} {r.solver} {r.options}"
                             for r in below.itertuples()],
    }
