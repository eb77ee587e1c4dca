"""The compiled Levenberg-Marquardt loop, whose unit is a batch of starting points.

One engine: a fit from one starting point is a batch of one. The state
(:class:`LMState`) holds ``B`` runs, each field with a leading axis ``B`` (``x``
``(B, n)``, ``curvature`` ``(B, n, n)``, ``mu`` ``(B,)``, ...). One iteration,
:func:`lm_step`, is a pure function ``state -> state`` built from separate pieces, in
the style of optimistix: the damping rule (:mod:`.damping`), the scaling and the
linear solve (:mod:`.linalg`) and the stopping tests (:mod:`.termination`). Rows stop
independently; a stopped row is frozen (its state carried over unchanged), so a row's
iterates, evaluations and history are those it would have alone.

:func:`compile_loop` wraps ``chunk`` iterations in a ``tf.while_loop`` inside one
``tf.function`` (the model functions XLA-compiled), so a chunk runs with no Python
work; :func:`solve` calls chunks until every row has stopped and does the per-chunk
Python work (time limit, progress report, history).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from .damping import gain_ratio, predicted_reduction
from .linalg import damped_step, gauss_newton_step
from .result import LMResult, Status, make_result
from .termination import (RUNNING, Criteria, confirmed, gradient_cosine, step_candidates,
                          stop_status, vanished)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LMProblem:
    """What the loop needs besides its state: functions of the parameters and rules.

    ``residuals(W) -> (B, m)``, ``jacobian(W) -> (B, m, n)``, optional
    ``validation(W) -> (B, p)`` residuals, row ``b`` of each output depending on row
    ``b`` of ``W`` only; a damping rule (:mod:`.damping`), a scaling
    ``(colsq, d2_previous) -> d2`` of the squared column norms of ``J``
    (:mod:`.linalg`), the :class:`.Criteria`, whether ``mu0`` is relative to ``J^T J``
    at the start (:func:`init_state`), and whether the steps are solved in sample
    space (``sample_space``, for ``n > m``: the state then keeps ``J`` instead of
    ``J^T J``, :func:`.linalg.sample_space_step`).
    """

    residuals: Callable
    jacobian: Callable
    validation: Callable | None
    damping: object
    scaling: Callable
    criteria: Criteria
    mu0_relative: bool = False
    sample_space: bool = False


class LMState(NamedTuple):
    """Everything that changes from one iteration to the next (``B`` runs)."""

    x: tf.Tensor             # (B, n) current parameters (last accepted)
    r: tf.Tensor             # (B, m) residuals at x
    ssq: tf.Tensor           # (B,) sum of squares r^T r
    ssq0: tf.Tensor          # (B,) sum of squares at the start
    grad: tf.Tensor          # (B, n) J^T r, gradient of cost = ssq / 2
    curvature: tf.Tensor     # (B, n, n) J^T J, or (B, m, n) J itself in sample space
    colsq: tf.Tensor         # (B, n) squared column norms of J, diag(J^T J)
    d2: tf.Tensor            # (B, n) squared scaling D^T D
    mu: tf.Tensor            # (B,) damping parameter for the next step
    nu: tf.Tensor            # (B,) Nielsen's growth factor
    val_ssq: tf.Tensor       # (B,) validation SSQ at x (0 without validation)
    best_val_ssq: tf.Tensor  # (B,) lowest validation SSQ seen
    best_x: tf.Tensor        # (B, n) parameters where it was seen
    fails: tf.Tensor         # (B,) accepted steps since the last best validation SSQ
    nit: tf.Tensor           # (B,) iterations (trial steps) done
    nfev: tf.Tensor          # (B,) residual evaluations
    njev: tf.Tensor          # (B,) Jacobian evaluations
    status: tf.Tensor        # (B,) Status code, RUNNING while going


class StepInfo(NamedTuple):
    """Per-iteration facts recorded in the history besides the state."""

    accepted: tf.Tensor   # the trial step lowered the SSQ and was taken
    fallback: tf.Tensor   # Cholesky was unreliable and the QR solve was used
    vetoed: tf.Tensor     # a step test held but the Gauss-Newton check refused it


HISTORY_DTYPES = {"ssq": tf.float64, "val_ssq": tf.float64, "mu": tf.float64,
                  "accepted": tf.bool, "fallback": tf.bool, "vetoed": tf.bool}


def sum_of_squares(r):
    """``ssq = r^T r`` (over the last axis)."""
    return tf.reduce_sum(tf.square(r), axis=-1)


def gauss_newton(jac, r, sample_space: bool = False):
    """``(curvature, colsq, J^T r, all(isfinite(J)))`` from the Jacobian ``J`` and
    residuals ``r``: the curvature is ``J^T J``, or ``J`` itself in sample space (the
    step then needs ``J D^-2 J^T``, formed in the solve); ``colsq = diag(J^T J)``."""
    if sample_space:
        curvature, colsq = jac, tf.reduce_sum(tf.square(jac), axis=-2)
    else:  # the diagonal of the product: the same bits whatever the batch size
        curvature = tf.matmul(jac, jac, transpose_a=True)
        colsq = tf.linalg.diag_part(curvature)
    grad = tf.linalg.matvec(jac, r, transpose_a=True)
    return curvature, colsq, grad, tf.reduce_all(tf.math.is_finite(jac), axis=(-2, -1))


def where_rows(mask, new, old):
    """Row ``b`` of ``new`` where ``mask[b]``, else of ``old`` (any trailing shape)."""
    return tf.where(tf.reshape(mask, [-1] + [1] * (new.shape.rank - 1)), new, old)


def normal_equations_where(problem: LMProblem, rows, x, r, curvature, colsq, grad):
    """``(curvature, colsq, J^T r, finite)`` at ``x``, ``r`` (:func:`gauss_newton`) for
    the rows where ``rows`` is True; the given ``curvature``, ``colsq``, ``grad`` and
    False elsewhere.

    The Jacobian is evaluated for the whole batch (a fixed shape, so one XLA
    compilation) and the products ``J^T J`` and ``J^T r``, which cost more, only for
    the selected rows, gathered. Nothing is evaluated when no row is selected.
    """
    def update():
        idx = tf.where(rows)
        jac = tf.gather_nd(problem.jacobian(x), idx)
        curv_k, colsq_k, grad_k, finite_k = gauss_newton(jac, tf.gather_nd(r, idx),
                                                         problem.sample_space)
        return (tf.tensor_scatter_nd_update(curvature, idx, curv_k),
                tf.tensor_scatter_nd_update(colsq, idx, colsq_k),
                tf.tensor_scatter_nd_update(grad, idx, grad_k),
                tf.tensor_scatter_nd_update(tf.zeros_like(rows), idx, finite_k))
    return tf.cond(tf.reduce_any(rows), update,
                   lambda: (curvature, colsq, grad, tf.zeros_like(rows)))


def validation_ssq(problem: LMProblem, x):
    """SSQ of the validation residuals at ``x`` (0 without validation)."""
    if problem.validation is None:
        return tf.zeros(tf.shape(x)[:-1], x.dtype)
    return sum_of_squares(problem.validation(x))


def mu_floor(colsq, d2):
    """The smallest ``mu`` the loop uses: ``eps * max_j (J^T J)_jj / d2_j`` (``colsq``
    holds ``diag(J^T J)``), and at least the smallest normal float64.

    Below it ``mu D^T D`` is under the rounding of ``J^T J``'s largest diagonal entry,
    so a smaller ``mu`` changes no step; the floor keeps ``mu`` from decaying to 0,
    where the multiplicative damping rules would stay for ever (an absorbing state).
    """
    eps = np.finfo(np.float64).eps
    ratio = tf.reduce_max(colsq / d2, axis=-1)
    return tf.maximum(eps * ratio, np.finfo(np.float64).tiny)


def init_state(problem: LMProblem, x0, mu0: float) -> LMState:
    """The state of ``B`` runs at the rows of ``x0``: residuals, normal equations,
    scaling, the ``ssq_goal`` and ``gtol`` tests.

    The starting ``mu`` is ``mu0``, or with ``problem.mu0_relative`` ``mu0 * max_j
    (J^T J)_jj / d2_j`` (Madsen, Nielsen & Tingleff 2004, eq. 3.14: ``tau * max a_ii``),
    which makes it invariant to the scale of the residuals and parameters.
    Non-finite residuals or Jacobian give ``NONFINITE_START`` (the row never runs).
    """
    r = problem.residuals(x0)
    ssq = sum_of_squares(r)
    curvature, colsq, grad, jac_finite = gauss_newton(problem.jacobian(x0), r,
                                                      problem.sample_space)
    d2 = problem.scaling(colsq, tf.zeros_like(grad))
    shape = tf.shape(ssq)
    mu = tf.fill(shape, tf.constant(mu0, x0.dtype))
    if problem.mu0_relative:
        mu = mu * tf.reduce_max(colsq / d2, axis=-1)
    floor = mu_floor(colsq, d2)
    mu = tf.maximum(mu, floor)
    zero, one = tf.zeros(shape, tf.int32), tf.ones(shape, tf.int32)
    no = tf.zeros(shape, tf.bool)
    val = validation_ssq(problem, x0)
    status = stop_status(problem.criteria, ssq=ssq, cosine=gradient_cosine(colsq, grad, ssq),
                         mu=mu, floor=floor, fails=zero, ftol=no, xtol=no)
    finite = tf.math.is_finite(ssq) & jac_finite
    status = tf.where(finite, status, tf.constant(int(Status.NONFINITE_START)))
    return LMState(x=x0, r=r, ssq=ssq, ssq0=ssq, grad=grad, curvature=curvature,
                   colsq=colsq, d2=d2, mu=mu,
                   nu=tf.fill(shape, tf.constant(2.0, x0.dtype)), val_ssq=val,
                   best_val_ssq=val, best_x=x0, fails=zero, nit=zero, nfev=one, njev=one,
                   status=status)


def lm_step(problem: LMProblem, state: LMState) -> tuple[LMState, StepInfo]:
    """One Levenberg-Marquardt iteration of every running row; stopped rows keep
    their state.

    1. Solve ``(J^T J + mu D^T D) delta = -J^T r`` (:func:`.damped_step`: Cholesky,
       QR of ``[J; sqrt(mu) D]`` where Cholesky is unreliable).
    2. Residuals at the trial points ``x + delta``. A trial is accepted only if its
       SSQ is finite and lower and its Jacobian (computed only for such rows) is
       finite; a NaN/Inf trial is a rejection.
    3. ``mu`` (and ``nu``) from the damping rule, given acceptance and the gain ratio
       ``rho``, never below :func:`mu_floor`; on acceptance the scaling is updated.
    4. On acceptance, the validation SSQ and the count of steps without a new best.
    5. Stopping tests (:mod:`.termination`): the step tests ``ftol``/``xtol`` are
       confirmed at the current point (gradient cosines; the Gauss-Newton step,
       computed only for the rows whose ``xtol`` step test held).
    """
    running = state.status == RUNNING

    def jacobian_and_residuals():
        return problem.jacobian(state.x), state.r

    delta, fallback = damped_step(state.curvature, state.grad, state.r, state.mu, state.d2,
                                  running, jacobian_and_residuals, problem.sample_space)
    x_trial = state.x + delta
    r_trial = problem.residuals(x_trial)
    ssq_trial = sum_of_squares(r_trial)
    decreased = running & tf.math.is_finite(ssq_trial) & (ssq_trial < state.ssq)
    curv_trial, colsq_trial, grad_trial, jac_finite = normal_equations_where(
        problem, decreased, x_trial, r_trial, state.curvature, state.colsq, state.grad)
    accepted = decreased & jac_finite

    predicted = predicted_reduction(delta, state.grad, state.mu, state.d2)
    rho = gain_ratio(state.ssq - ssq_trial, predicted)

    def take(new, old):
        return where_rows(accepted, new, old)

    x, r, ssq = take(x_trial, state.x), take(r_trial, state.r), take(ssq_trial, state.ssq)
    curvature, colsq = take(curv_trial, state.curvature), take(colsq_trial, state.colsq)
    grad = take(grad_trial, state.grad)
    d2 = take(problem.scaling(colsq_trial, state.d2), state.d2)
    mu, nu = problem.damping.update(state.mu, state.nu, accepted, rho)
    floor = mu_floor(colsq, d2)
    mu = tf.maximum(mu, floor)

    val = tf.cond(tf.reduce_any(accepted),
                  lambda: take(validation_ssq(problem, x_trial), state.val_ssq),
                  lambda: state.val_ssq)
    improved = accepted & (val < state.best_val_ssq)
    fails = tf.where(improved, 0, tf.where(accepted, state.fails + 1, state.fails))

    scale = tf.sqrt(state.d2)
    x_norm = tf.norm(scale * state.x, axis=-1)
    small_f, small_x = step_candidates(
        problem.criteria, ssq_old=state.ssq, ssq_trial=ssq_trial, predicted=predicted,
        rho=rho, step_norm=tf.norm(scale * delta, axis=-1), x_norm=x_norm)
    candidate = running & (small_f | small_x)
    check_step = candidate & small_x

    def gauss_newton_check():
        idx = tf.where(check_step)
        d2_k = tf.gather_nd(d2, idx)
        jac_k = tf.gather_nd(problem.jacobian(x), idx)
        step, gn_predicted = gauss_newton_step(jac_k, tf.gather_nd(r, idx), d2_k)
        zero_k = vanished(tf.gather_nd(ssq, idx), tf.gather_nd(state.ssq0, idx),
                          gn_predicted)
        return (tf.tensor_scatter_nd_update(tf.zeros_like(ssq), idx,
                                            tf.norm(tf.sqrt(d2_k) * step, axis=-1)),
                tf.tensor_scatter_nd_update(tf.zeros_like(running), idx, zero_k))

    gn_step_norm, zero_residual = tf.cond(
        tf.reduce_any(check_step), gauss_newton_check,
        lambda: (tf.zeros_like(ssq), tf.zeros_like(running)))
    cosine = gradient_cosine(colsq, grad, ssq)
    ftol, xtol = confirmed(problem.criteria, small_f=candidate & small_f,
                           small_x=check_step, cosine=cosine, gn_step_norm=gn_step_norm,
                           x_norm=tf.norm(tf.sqrt(d2) * x, axis=-1),
                           zero_residual=zero_residual)
    vetoed = candidate & tf.logical_not(ftol | xtol)
    status = stop_status(problem.criteria, ssq=ssq, cosine=cosine, mu=mu, floor=floor,
                         fails=fails, ftol=ftol, xtol=xtol)
    extra_jacobians = (tf.cast(decreased, tf.int32) + tf.cast(fallback, tf.int32)
                       + tf.cast(check_step, tf.int32))
    stepped = LMState(
        x=x, r=r, ssq=ssq, ssq0=state.ssq0, grad=grad, curvature=curvature, colsq=colsq,
        d2=d2, mu=mu, nu=nu,
        val_ssq=val,
        best_val_ssq=tf.where(improved, val, state.best_val_ssq),
        best_x=where_rows(improved, x_trial, state.best_x), fails=fails,
        nit=state.nit + 1, nfev=state.nfev + 1, njev=state.njev + extra_jacobians,
        status=status)
    new_state = LMState(*(where_rows(running, new, old) for new, old in zip(stepped, state)))
    return new_state, StepInfo(accepted, fallback, vetoed)


def compile_loop(problem: LMProblem, mu0: float, chunk: int, jit_compile: bool):
    """Compiled ``init(x0) -> state`` and ``run_chunk(state, n) -> (state, done,
    history)``.

    ``run_chunk`` runs at most ``n <= chunk`` iterations of :func:`lm_step` in a
    ``tf.while_loop`` and stops early when every row has stopped; ``done`` is the
    number run and ``history`` a dict of ``(chunk, B)`` arrays whose first ``done``
    rows are valid.

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
            state, info = lm_step(problem, state)
            row = {"ssq": state.ssq, "val_ssq": state.val_ssq, "mu": state.mu,
                   "accepted": info.accepted, "fallback": info.fallback,
                   "vetoed": info.vetoed}
            history = {name: ta.write(k, row[name]) for name, ta in history.items()}
            return k + 1, state, history

        def going(k, state, history):
            return (k < n) & tf.reduce_any(state.status == RUNNING)

        done, state, history = tf.while_loop(going, body, (tf.constant(0), state, history),
                                             maximum_iterations=chunk)
        return state, done, {name: ta.stack() for name, ta in history.items()}

    return init, run_chunk


def solve(problem: LMProblem, X0: np.ndarray, *, mu0: float, max_iter: int,
          max_time: float | None, chunk: int, progress: Callable | None,
          jit_compile: bool) -> list[LMResult]:
    """Run the compiled loop chunk by chunk from the rows of ``X0``; one
    :class:`.LMResult` per row.

    Compilation is done first, apart: ``init`` is called once and ``run_chunk`` once
    with ``n = 0`` (tracing and XLA compilation, plus one residual and Jacobian
    evaluation); that time is ``compile_s``, not in any ``wall_s``.

    Between chunks (never inside one), Python checks ``max_iter`` and ``max_time``,
    calls ``progress(info)`` (or logs at INFO level when ``progress`` is None) and
    stops every running row with ``CALLBACK`` if it returns True. History times are
    taken at chunk ends and linearly interpolated over the iterations of the chunk.

    Times of a batch: ``batch_wall_s`` is the whole solve; a row's ``wall_s`` is the
    time from the start until that row stopped (its history's last ``wall_s``), the
    other rows' work included. Alone (``B = 1``) the two are equal.
    """
    init, run_chunk = compile_loop(problem, mu0, chunk, jit_compile)
    X0 = tf.constant(X0, tf.float64)
    size = int(X0.shape[0])
    tic = time.perf_counter()
    int(run_chunk(init(X0), tf.constant(0))[1])
    compile_s = time.perf_counter() - tic

    start = time.perf_counter()
    state = init(X0)
    elapsed = time.perf_counter() - start
    parts = [{"ssq": state.ssq.numpy()[None], "val_ssq": state.val_ssq.numpy()[None],
              "mu": state.mu.numpy()[None], "accepted": np.zeros((1, size), bool),
              "fallback": np.zeros((1, size), bool), "vetoed": np.zeros((1, size), bool)}]
    times = [np.array([elapsed])]
    iteration, unfinished = 0, Status.MAX_ITER
    while (state.status.numpy() == RUNNING).any() and iteration < max_iter:
        state, done, history = run_chunk(state, tf.constant(min(chunk, max_iter - iteration)))
        done = int(done)
        iteration += done
        now = time.perf_counter() - start
        parts.append({name: values.numpy()[:done] for name, values in history.items()})
        times.append(elapsed + (now - elapsed) * np.arange(1, done + 1) / done)
        elapsed = now
        told = time.perf_counter()
        stop = report(progress, state, iteration, max_iter, elapsed,
                      problem.validation is not None)
        start += time.perf_counter() - told  # the callback's time is nobody's compute
        if stop:
            unfinished = Status.CALLBACK
            break
        if max_time is not None and elapsed >= max_time:
            unfinished = Status.MAX_TIME
            break
    batch_wall_s = time.perf_counter() - start

    history = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    if problem.validation is None:
        del history["val_ssq"]
    times = np.concatenate(times)
    nit, nfev, njev = state.nit.numpy(), state.nfev.numpy(), state.njev.numpy()
    status = state.status.numpy()
    status[status == RUNNING] = int(unfinished)
    x, r = state.x.numpy(), state.r.numpy()
    if problem.criteria.max_fail is not None:
        best = status != int(Status.NONFINITE_START)
        x = np.where(best[:, None], state.best_x.numpy(), x)
        r = np.where(best[:, None], problem.residuals(tf.constant(x)).numpy(), r)
    results = []
    for b in range(size):
        end = nit[b] + 1
        row_history = {name: values[:end, b] for name, values in history.items()}
        row_history.update(iteration=np.arange(end), wall_s=times[:end])
        wall_s = batch_wall_s if size == 1 else float(times[end - 1])
        results.append(make_result(x[b], r[b], status[b], nit=nit[b], nfev=nfev[b],
                                   njev=njev[b], wall_s=wall_s, compile_s=compile_s,
                                   batch_wall_s=batch_wall_s, batch_size=size,
                                   history=row_history))
    return results


def report(progress: Callable | None, state: LMState, iteration: int, max_iter: int,
           elapsed: float, has_validation: bool) -> bool:
    """Per-chunk report: call ``progress(info)`` or log; True asks to stop.

    ``info`` holds ``iteration, running`` (rows still going), ``elapsed`` (earlier
    callbacks' time excluded) and per-row arrays ``ssq, mu, status, x, nit, nfev,
    njev`` and, with validation, ``val_ssq``, ``best_val_ssq`` and ``best_x`` (the
    best-validation parameters so far).
    """
    status = state.status.numpy()
    info = {"iteration": iteration, "running": int(np.sum(status == RUNNING)),
            "ssq": state.ssq.numpy(), "mu": state.mu.numpy(), "elapsed": elapsed,
            "status": status, "x": state.x.numpy(), "nit": state.nit.numpy(),
            "nfev": state.nfev.numpy(), "njev": state.njev.numpy()}
    if has_validation:
        info.update(val_ssq=state.val_ssq.numpy(), best_val_ssq=state.best_val_ssq.numpy(),
                    best_x=state.best_x.numpy())
    if progress is None:
        logger.info("LM iteration %d of at most %d (%.0f%%): %d of %d rows running, "
                    "lowest ssq %.6g, %.3f s", iteration, max_iter,
                    100.0 * iteration / max(max_iter, 1), info["running"], status.size,
                    np.nanmin(info["ssq"]), elapsed)
        return False
    return bool(progress(info))
