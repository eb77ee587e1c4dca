"""The compiled Levenberg-Marquardt loop (``solve="tf"``).

The iteration is a pure function ``lm_step(problem, state) -> state`` of an
:class:`LMState` of tensors, in the style of optimistix: damping rule, scaling, linear
solve and stopping tests are separate pieces (:mod:`.damping`, :mod:`.linalg`,
:func:`stop_status`). :func:`compile_loop` wraps ``chunk`` iterations of it in a
``tf.while_loop`` inside one ``tf.function`` (the model functions XLA-compiled), so
a chunk runs with no Python work at all; :func:`solve_tf` calls chunks until a
stopping test fires and does the per-chunk Python work (time limit, progress
report, history). The pieces act on the last axis (the last two for matrices), so the
batched loop of :mod:`.batch` reuses them, each row one run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from .damping import gain_ratio, predicted_reduction
from .linalg import damped_step
from .result import LMResult, Status, make_result

logger = logging.getLogger(__name__)

RUNNING = int(Status.RUNNING)


@dataclass(frozen=True)
class Criteria:
    """Stopping thresholds tested inside the loop (see :class:`.Status`)."""

    mu_max: float
    ssq_goal: float
    gtol: float
    ftol: float
    xtol: float
    max_fail: int | None


@dataclass(frozen=True)
class LMProblem:
    """What the loop needs besides its state: functions of the parameters and rules.

    ``residuals(w) -> (m,)``, ``jacobian(w) -> (m, n)``, optional
    ``validation(w) -> (p,)`` residuals, a damping rule (:mod:`.damping`), a scaling
    ``jtj -> d2`` (:mod:`.linalg`) and the :class:`Criteria`. For a batch of runs
    (:mod:`.batch`) the functions take and return a leading axis ``B``.
    """

    residuals: Callable
    jacobian: Callable
    validation: Callable | None
    damping: object
    scaling: Callable
    criteria: Criteria


class LMState(NamedTuple):
    """Everything that changes from one iteration to the next (shapes of one run; a
    batch of runs adds a leading axis ``B`` to every field)."""

    x: tf.Tensor             # (n,) current parameters (last accepted)
    r: tf.Tensor             # (m,) residuals at x
    ssq: tf.Tensor           # sum of squares r^T r
    grad: tf.Tensor          # (n,) J^T r, gradient of cost = ssq / 2
    jtj: tf.Tensor           # (n, n) Gauss-Newton matrix J^T J
    mu: tf.Tensor            # damping parameter for the next step
    nu: tf.Tensor            # Nielsen's growth factor
    val_ssq: tf.Tensor       # validation SSQ at x (0 without validation)
    best_val_ssq: tf.Tensor  # lowest validation SSQ seen
    best_x: tf.Tensor        # (n,) parameters where it was seen
    fails: tf.Tensor         # accepted steps since the last best validation SSQ
    nit: tf.Tensor           # iterations (trial steps) done
    nfev: tf.Tensor          # residual evaluations
    njev: tf.Tensor          # Jacobian evaluations
    status: tf.Tensor        # Status code, RUNNING while going


class StepInfo(NamedTuple):
    """Per-iteration facts recorded in the history besides the state."""

    accepted: tf.Tensor   # the trial step lowered the SSQ and was taken
    fallback: tf.Tensor   # Cholesky failed and the min-norm solve was used


HISTORY_DTYPES = {"ssq": tf.float64, "val_ssq": tf.float64, "mu": tf.float64,
                  "accepted": tf.bool, "fallback": tf.bool}


def sum_of_squares(r):
    """``ssq = r^T r`` (over the last axis)."""
    return tf.reduce_sum(tf.square(r), axis=-1)


def gauss_newton(jac, r):
    """``(J^T J, J^T r, all(isfinite(J)))`` from the Jacobian ``J`` and residuals ``r``."""
    jtj = tf.matmul(jac, jac, transpose_a=True)
    grad = tf.linalg.matvec(jac, r, transpose_a=True)
    return jtj, grad, tf.reduce_all(tf.math.is_finite(jac), axis=(-2, -1))


def normal_equations(problem: LMProblem, x, r):
    """``(J^T J, J^T r, all(isfinite(J)))`` at ``x`` with residuals ``r``."""
    return gauss_newton(problem.jacobian(x), r)


def validation_ssq(problem: LMProblem, x):
    """SSQ of the validation residuals at ``x`` (0 without validation)."""
    if problem.validation is None:
        return tf.zeros(tf.shape(x)[:-1], x.dtype)
    return sum_of_squares(problem.validation(x))


def stop_status(criteria: Criteria, *, ssq, grad, mu, fails, accepted, ssq_old,
                step_norm, x_norm):
    """The :class:`.Status` after an iteration, ``RUNNING`` if no test fires.

    Tests in priority order (the first that holds wins): ``ssq <= ssq_goal``;
    ``||J^T r||_inf <= gtol``; on an accepted step ``ssq_old - ssq <= ftol * ssq_old``
    and/or ``||delta|| <= xtol * (xtol + ||x||)``; ``fails >= max_fail``;
    ``mu > mu_max``. ``ftol`` and ``xtol`` look at accepted steps only: rejected
    steps shrink as ``mu`` grows, which ``mu_max`` already bounds.
    """
    small_f = accepted & (ssq_old - ssq <= criteria.ftol * ssq_old)
    small_x = accepted & (step_norm <= criteria.xtol * (criteria.xtol + x_norm))
    tests = [
        (Status.SSQ_GOAL, ssq <= criteria.ssq_goal),
        (Status.GTOL, tf.reduce_max(tf.abs(grad), axis=-1) <= criteria.gtol),
        (Status.FTOL_XTOL, small_f & small_x),
        (Status.FTOL, small_f),
        (Status.XTOL, small_x),
        (Status.MU_MAX, mu > criteria.mu_max),
    ]
    if criteria.max_fail is not None:
        tests.insert(-1, (Status.VALIDATION, fails >= criteria.max_fail))
    status = tf.constant(RUNNING)
    for code, hit in reversed(tests):
        status = tf.where(hit, tf.constant(int(code)), status)
    return status


def init_state(problem: LMProblem, x0, mu0: float) -> LMState:
    """The state at ``x0``: residuals, normal equations, first stopping tests.

    Non-finite residuals or Jacobian give ``NONFINITE_START`` (the loop never runs).
    ``x0`` of shape ``(B, n)`` gives the state of ``B`` runs (scalars become ``(B,)``).
    """
    r = problem.residuals(x0)
    ssq = sum_of_squares(r)
    jtj, grad, jac_finite = normal_equations(problem, x0, r)
    shape = tf.shape(ssq)
    mu = tf.fill(shape, tf.constant(mu0, x0.dtype))
    zero, one = tf.zeros(shape, tf.int32), tf.ones(shape, tf.int32)
    val = validation_ssq(problem, x0)
    status = stop_status(problem.criteria, ssq=ssq, grad=grad, mu=mu, fails=zero,
                         accepted=tf.constant(False), ssq_old=ssq,
                         step_norm=tf.zeros_like(ssq), x_norm=tf.norm(x0, axis=-1))
    finite = tf.math.is_finite(ssq) & jac_finite
    status = tf.where(finite, status, tf.constant(int(Status.NONFINITE_START)))
    return LMState(x=x0, r=r, ssq=ssq, grad=grad, jtj=jtj, mu=mu,
                   nu=tf.fill(shape, tf.constant(2.0, x0.dtype)), val_ssq=val,
                   best_val_ssq=val, best_x=x0, fails=zero, nit=zero, nfev=one, njev=one,
                   status=status)


def lm_step(problem: LMProblem, state: LMState) -> tuple[LMState, StepInfo]:
    """One Levenberg-Marquardt iteration.

    1. Solve ``(J^T J + mu D^T D) delta = -J^T r`` (:func:`.damped_step`).
    2. Evaluate the trial ``x + delta``. It is accepted only if its SSQ is finite
       and lower than the current one, and its Jacobian (computed only then) is
       finite; a NaN/Inf trial is a rejection.
    3. Update ``mu`` (and ``nu``) with the damping rule, from acceptance and the
       gain ratio ``rho``.
    4. On acceptance, evaluate the validation SSQ and count steps without a new best.
    5. Run the stopping tests (:func:`stop_status`).
    """
    d2 = problem.scaling(state.jtj)
    delta, fallback = damped_step(state.jtj, state.grad, state.mu, d2)
    x_trial = state.x + delta
    r_trial = problem.residuals(x_trial)
    ssq_trial = sum_of_squares(r_trial)
    decreased = tf.math.is_finite(ssq_trial) & (ssq_trial < state.ssq)
    jtj_trial, grad_trial, jac_finite = tf.cond(
        decreased,
        lambda: normal_equations(problem, x_trial, r_trial),
        lambda: (state.jtj, state.grad, tf.constant(False)))
    accepted = decreased & jac_finite

    rho = gain_ratio(state.ssq - ssq_trial,
                     predicted_reduction(delta, state.grad, state.mu, d2))
    mu, nu = problem.damping.update(state.mu, state.nu, accepted, rho)

    def take(new, old):
        return tf.where(accepted, new, old)

    x = take(x_trial, state.x)
    val = tf.cond(accepted, lambda: validation_ssq(problem, x_trial), lambda: state.val_ssq)
    improved = accepted & (val < state.best_val_ssq)
    fails = tf.where(improved, 0, tf.where(accepted, state.fails + 1, state.fails))
    ssq = take(ssq_trial, state.ssq)
    grad = take(grad_trial, state.grad)
    status = stop_status(problem.criteria, ssq=ssq, grad=grad, mu=mu, fails=fails,
                         accepted=accepted, ssq_old=state.ssq, step_norm=tf.norm(delta),
                         x_norm=tf.norm(state.x))
    new_state = LMState(
        x=x, r=take(r_trial, state.r), ssq=ssq, grad=grad,
        jtj=take(jtj_trial, state.jtj), mu=mu, nu=nu, val_ssq=val,
        best_val_ssq=tf.where(improved, val, state.best_val_ssq),
        best_x=tf.where(improved, x_trial, state.best_x), fails=fails,
        nit=state.nit + 1, nfev=state.nfev + 1,
        njev=state.njev + tf.cast(decreased, tf.int32), status=status)
    return new_state, StepInfo(accepted, fallback)


def compile_loop(problem: LMProblem, mu0: float, chunk: int, jit_compile: bool,
                 step: Callable = lm_step):
    """Compiled ``init(x0) -> state`` and ``run_chunk(state, n) -> (state, done,
    history)``.

    ``run_chunk`` runs at most ``n <= chunk`` iterations of ``step`` in a
    ``tf.while_loop`` and stops early when a stopping test fires (for a batch, when
    every row has stopped); ``done`` is the number run and ``history`` a dict of
    ``(chunk,)`` arrays (``(chunk, B)`` for a batch; TensorArrays in the graph) whose
    first ``done`` entries are valid.

    Both are TensorFlow graphs (``tf.function``). With ``jit_compile`` the residual,
    Jacobian and validation functions inside them are XLA-compiled, but not the
    loop: XLA's CPU Cholesky and eigh are ~40x slower than TensorFlow's kernels at
    n = 127 (13 ms against 0.3 ms), while XLA speeds the Jacobian up ~8x.
    """
    if jit_compile:
        def xla(fn):
            return None if fn is None else tf.function(fn, jit_compile=True)
        problem = replace(problem, residuals=xla(problem.residuals),
                          jacobian=xla(problem.jacobian), validation=xla(problem.validation))

    @tf.function
    def init(x0):
        return init_state(problem, x0, mu0)

    @tf.function
    def run_chunk(state, n):
        history = {name: tf.TensorArray(dtype, size=chunk, element_shape=state.ssq.shape)
                   for name, dtype in HISTORY_DTYPES.items()}

        def body(k, state, history):
            state, info = step(problem, state)
            row = {"ssq": state.ssq, "val_ssq": state.val_ssq, "mu": state.mu,
                   "accepted": info.accepted, "fallback": info.fallback}
            history = {name: ta.write(k, row[name]) for name, ta in history.items()}
            return k + 1, state, history

        def going(k, state, history):
            return (k < n) & tf.reduce_any(state.status == RUNNING)

        done, state, history = tf.while_loop(going, body, (tf.constant(0), state, history),
                                             maximum_iterations=chunk)
        return state, done, {name: ta.stack() for name, ta in history.items()}

    return init, run_chunk


def solve_tf(problem: LMProblem, x0: np.ndarray, *, mu0: float, max_iter: int,
             max_time: float | None, chunk: int, progress: Callable | None,
             jit_compile: bool) -> LMResult:
    """Run the compiled loop chunk by chunk and assemble the :class:`.LMResult`.

    Compilation is done first, apart: ``init`` is called once and ``run_chunk`` once
    with ``n = 0`` (tracing and XLA compilation, plus one residual and Jacobian
    evaluation); that time is ``compile_s`` and is not in ``wall_s``.

    Between chunks (never inside one), Python checks ``max_time``, calls
    ``progress(info)`` (or logs at INFO level when ``progress`` is None) and stops
    with ``CALLBACK`` if it returns True. ``info`` holds ``iteration, ssq, mu,
    val_ssq, elapsed, status, x``. History times are recorded at chunk ends and
    linearly interpolated over the iterations of the chunk.
    """
    init, run_chunk = compile_loop(problem, mu0, chunk, jit_compile)
    x0 = tf.constant(x0, tf.float64)
    tic = time.perf_counter()
    int(run_chunk(init(x0), tf.constant(0))[0].status)
    compile_s = time.perf_counter() - tic

    start = time.perf_counter()
    state = init(x0)
    status = Status(int(state.status))
    elapsed = time.perf_counter() - start
    rows = [{"ssq": state.ssq.numpy()[None], "val_ssq": state.val_ssq.numpy()[None],
             "mu": state.mu.numpy()[None], "accepted": np.array([False]),
             "fallback": np.array([False]), "wall_s": np.array([elapsed])}]
    while status == Status.RUNNING:
        nit = int(state.nit)
        if nit >= max_iter:
            status = Status.MAX_ITER
            break
        state, done, history = run_chunk(state, tf.constant(min(chunk, max_iter - nit)))
        done = int(done)
        status = Status(int(state.status))
        now = time.perf_counter() - start
        row = {name: values.numpy()[:done] for name, values in history.items()}
        row["wall_s"] = elapsed + (now - elapsed) * np.arange(1, done + 1) / done
        rows.append(row)
        elapsed = now
        stop = report(progress, state, status, elapsed, problem.validation is not None)
        if status == Status.RUNNING:
            if stop:
                status = Status.CALLBACK
            elif max_time is not None and elapsed >= max_time:
                status = Status.MAX_TIME
    wall_s = time.perf_counter() - start

    history = {name: np.concatenate([row[name] for row in rows]) for name in rows[0]}
    history["iteration"] = np.arange(len(history["ssq"]))
    if problem.validation is None:
        del history["val_ssq"]
    x, r = state.x, state.r
    if problem.criteria.max_fail is not None and status != Status.NONFINITE_START:
        x = state.best_x
        r = problem.residuals(x)
    return make_result(x.numpy(), r.numpy(), status, nit=int(state.nit),
                       nfev=int(state.nfev), njev=int(state.njev), wall_s=wall_s,
                       compile_s=compile_s, history=history)


def report(progress: Callable | None, state: LMState, status: Status, elapsed: float,
           has_validation: bool) -> bool:
    """Per-chunk report: call ``progress(info)`` or log; True asks to stop."""
    info = {"iteration": int(state.nit), "ssq": float(state.ssq), "mu": float(state.mu),
            "elapsed": elapsed, "status": int(status), "x": state.x.numpy()}
    if has_validation:
        info["val_ssq"] = float(state.val_ssq)
    if progress is None:
        logger.info("LM iteration %d: ssq %.6g, mu %.3g, %.3f s", info["iteration"],
                    info["ssq"], info["mu"], elapsed)
        return False
    return bool(progress(info))
