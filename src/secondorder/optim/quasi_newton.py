"""L-BFGS on the article's SSQ with TensorFlow gradients (scipy's L-BFGS-B, float64).

``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` (Byrd, Lu, Nocedal & Zhu
1995) drives the search; the loss and its gradient come from one XLA-compiled
TensorFlow function of the flat weight vector. No early stopping: the validation SSQ
is recorded after every iteration, as for the article's LM, and the iterate with the
lowest one is kept (returned instead of the last with ``restore_best``).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.optimize

from secondorder.problem.data import Problem
from secondorder.optim.fit_result import HISTORY_COLUMNS, FitResult
from secondorder.problem.model import Architecture, mlp_batch


def ssq_and_gradient(problem: Problem, arch: Architecture):
    """Compiled numpy-in, numpy-out functions ``w -> (ssq_train, gradient)`` and
    ``w -> ssq_val``. The first also computes the validation SSQ at the same point and
    keeps it, so the per-iteration record (whose iterate was just evaluated) costs
    nothing more. The compiled function is called as its one concrete function (a
    float64 vector of ``arch.n_params``), skipping ``tf.function``'s dispatch on every
    call (about a quarter of a call's time here; the same graph, so the same numbers)."""

    import tensorflow as tf

    x, y = tf.constant(problem.x_train), tf.constant(problem.y_train)
    xv, yv = tf.constant(problem.x_val), tf.constant(problem.y_val)

    def val_ssq_tf(w):
        return tf.reduce_sum(tf.square(mlp_batch(xv, w[None], arch)[0] - yv))

    def terms(w):
        with tf.GradientTape() as tape:
            tape.watch(w)
            loss = tf.reduce_sum(tf.square(mlp_batch(x, w[None], arch)[0] - y))
        return loss, tape.gradient(loss, w), val_ssq_tf(w)

    evaluate = tf.function(terms, jit_compile=True).get_concrete_function(
        tf.TensorSpec([arch.n_params], tf.float64))

    last = {}

    def fun(w):
        loss, grad, val = evaluate(tf.constant(w))
        last.update(w=np.array(w), val=float(val))
        return float(loss), grad.numpy()

    def val_ssq(w):
        if "w" not in last or not np.array_equal(last["w"], w):
            fun(w)
        return last["val"]

    return fun, val_ssq


class _OutOfTime(Exception):
    """Raised from the iteration callback when the wall-time budget is used up."""


def fit_lbfgs(problem: Problem, ws0, *, arch: Architecture, max_iter: int, memory: int,
              max_time: float | None = None, gtol=1e-10, ftol=1e-15,
              functions=None, restore_best: bool = False, progress=None) -> FitResult:
    """Minimise the training SSQ from ``ws0`` with L-BFGS-B (``max_iter`` iterations,
    ``memory`` correction pairs, optional ``max_time`` seconds checked after each
    iteration, ``restore_best``: an ``lbfgs`` arm's settings, defaults in the config
    schema); status tokens follow scipy's messages (``converged`` or ``max_iter``),
    ``max_time`` when the budget stopped it. The weights are the last iterate's, or
    with ``restore_best`` those of the iterate with the lowest validation SSQ
    (``ws0`` included; ``extra["best_iteration"]`` says which, 0: ``ws0``).

    ``functions``: the ``(fun, val_ssq)`` of :func:`ssq_and_gradient` for this problem
    and architecture, to reuse one compilation over many starts (built here if None);
    ``compile_s`` is then the first evaluation's time, near zero once compiled.
    ``progress(info)`` is called after every iteration with ``iteration``,
    ``running`` (1), ``elapsed_s`` (the callback's own time excluded) and, as
    one-row arrays, ``nit``, ``nfev`` (loss-and-gradient evaluations of the search),
    ``best_x`` and ``best_val_ssq`` (the best-validation iterate so far).
    The fit runs alone: its ``time_s`` (and the history's, per iteration) is its wall
    time from the start of the search, compilation excluded."""
    fun, val_ssq = functions or ssq_and_gradient(problem, arch)
    ws0 = np.asarray(ws0, dtype=np.float64)
    t0 = time.perf_counter()
    fun(ws0)
    compile_s = time.perf_counter() - t0
    rows, start = [], time.perf_counter()
    nfev = [0]

    def counted(w):
        nfev[0] += 1
        return fun(w)

    last = {}
    best = {"x": ws0.copy(), "val": val_ssq(ws0), "iteration": 0}

    def record(intermediate_result):
        nonlocal start
        w = intermediate_result.x
        rows.append({"iteration": len(rows) + 1, "ssq_train": float(intermediate_result.fun),
                     "ssq_val": val_ssq(w), "time_s": time.perf_counter() - start})
        last.update(x=np.array(w), fun=float(intermediate_result.fun))
        if rows[-1]["ssq_val"] < best["val"]:
            best.update(x=np.array(w), val=rows[-1]["ssq_val"], iteration=len(rows))
        if progress is not None:
            told = time.perf_counter()
            progress({"iteration": len(rows), "running": 1, "elapsed_s": rows[-1]["time_s"],
                      "nit": np.array([len(rows)]), "nfev": np.array([nfev[0]]),
                      "best_x": best["x"][None], "best_val_ssq": np.array([best["val"]])})
            start += time.perf_counter() - told  # the callback's time is nobody's compute
        if max_time is not None and rows[-1]["time_s"] >= max_time:
            raise _OutOfTime

    try:
        sol = scipy.optimize.minimize(counted, ws0, jac=True, method="L-BFGS-B",
                                      callback=record,
                                      options={"maxiter": int(max_iter), "maxcor": int(memory),
                                               "gtol": gtol, "ftol": ftol})
    except _OutOfTime:
        sol = scipy.optimize.OptimizeResult(
            x=last["x"], fun=last["fun"], status=-1, success=False, nit=len(rows),
            nfev=len(rows), message=f"wall-time budget of {max_time} s used up")
    wall = time.perf_counter() - start
    finite = bool(np.isfinite(sol.fun))
    status = ("max_time" if sol.status == -1 else "max_iter" if sol.status == 1
              else ("converged" if sol.success else "failed"))
    if not finite:
        status = "nan_loss"
    weights = best["x"] if restore_best else sol.x
    return FitResult(weights=weights, history=pd.DataFrame(
        rows, columns=list(HISTORY_COLUMNS)), status=status,
        status_code=int(sol.status), message=str(sol.message),
        success=finite and status not in ("failed", "max_time"),
        iterations=int(sol.nit), evaluations=int(sol.nfev), time_s=wall, compile_s=compile_s,
        extra={"best_iteration": int(best["iteration"])})
