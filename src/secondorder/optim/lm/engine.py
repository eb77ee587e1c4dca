"""The Levenberg-Marquardt loop, on the host, over a batch of starting points.

One engine: a fit from one starting point is a batch of one. The loop is plain numpy,
as scipy's ``_lsq/trf.py`` is written; the model's numbers come from a provider
(:mod:`.providers`), row by row, and the linear algebra is BLAS and LAPACK called
directly (:mod:`.linalg`), so an iteration costs what its products cost.

The state (:class:`LMState`) holds ``B`` runs, each field with a leading axis ``B``.
One iteration, :func:`lm_step`, advances the running rows: the damping rule
(:mod:`.damping`), the scaling and the linear solve (:mod:`.linalg`) and the stopping
tests (:mod:`.termination`) are separate pieces. Each row's arithmetic is its own
(per-row BLAS calls), so a row's iterates, evaluations and history are bit for bit
those it has alone; a row that stops leaves the batch and costs nothing more.

Times. Each iteration is timed; its seconds are split evenly over the rows that took
part (:func:`secondorder.optim.fit_result.time_shares`), so each row's ``time_s`` is
its own compute (alone, its wall time). Callback time is not counted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from typing import Callable

import numpy as np

from . import regularization
from .linalg import DampedSystem, gauss_newton_step, qr_step, sample_gram
from .damping import gain_ratio, predicted_reduction
from .providers import Provider
from .result import LMResult, Status, make_result
from .termination import (RUNNING, Criteria, confirmed, gradient_cosine, step_candidates,
                          stop_status, vanished)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LMSettings:
    """The rules of a run besides its provider: a damping rule (:mod:`.damping`), a
    scaling ``(colsq, d2_previous) -> d2`` of the squared column norms of ``J``
    (:mod:`.linalg`), the :class:`.Criteria`, the starting ``mu0`` and whether it is
    relative to ``J^T J`` at the start (:func:`init_state`), whether the steps are
    solved in sample space (``sample_space``, for ``n > m``), and the geodesic
    acceleration (``geodesic``, :func:`geodesic_acceleration`, with its finite
    difference ``geodesic_h`` and the largest ``2 ||a|| / ||v||``, ``geodesic_alpha``),
    and Bayesian regularisation (``bayesian``, :mod:`.regularization`: the loop then
    minimises ``F = beta ssq + alpha ||x||^2``)."""

    damping: object
    scaling: Callable
    criteria: Criteria
    mu0: float
    mu0_relative: bool = False
    sample_space: bool = False
    geodesic: bool = False
    geodesic_h: float = 0.1
    geodesic_alpha: float = 0.75
    bayesian: bool = False

    @property
    def keeps_jacobian(self) -> bool:
        """Whether the state keeps ``J`` itself (sample space, geodesic acceleration)."""
        return self.sample_space or self.geodesic


@dataclass
class LMState:
    """Everything that changes from one iteration to the next (``B`` runs)."""

    x: np.ndarray             # (B, n) current parameters (last accepted)
    r: np.ndarray             # (B, m) residuals at x
    ssq: np.ndarray           # (B,) sum of squares r^T r
    ssq0: np.ndarray          # (B,) sum of squares at the start
    grad: np.ndarray          # (B, n) J^T r, gradient of cost = ssq / 2
    curvature: list           # per row: J^T J (n, n), or J D^-2 J^T (m, m) in sample space
    jac: list                 # per row: J (m, n) if settings.keeps_jacobian, else None
    colsq: np.ndarray         # (B, n) squared column norms of J, diag(J^T J)
    d2: np.ndarray            # (B, n) squared scaling D^T D
    mu: np.ndarray            # (B,) damping parameter for the next step
    nu: np.ndarray            # (B,) Nielsen's growth factor
    val_ssq: np.ndarray       # (B,) validation SSQ at x (0 without validation)
    best_val_ssq: np.ndarray  # (B,) lowest validation SSQ seen
    best_x: np.ndarray        # (B, n) parameters where it was seen
    fails: np.ndarray         # (B,) accepted steps since the last best validation SSQ
    nit: np.ndarray           # (B,) iterations (trial steps) done
    nfev: np.ndarray          # (B,) residual evaluations
    njev: np.ndarray          # (B,) Jacobian evaluations
    status: np.ndarray        # (B,) Status code, RUNNING while going
    time_s: np.ndarray        # (B,) own compute so far, seconds
    alpha: np.ndarray         # (B,) weight of ||x||^2 in the objective (0: plain LM)
    beta: np.ndarray          # (B,) weight of the SSQ in the objective (1: plain LM)
    gamma: np.ndarray         # (B,) effective number of parameters (Bayesian; else n)


@dataclass
class StepInfo:
    """Per-iteration facts recorded in the history besides the state (running rows)."""

    accepted: np.ndarray  # the trial step lowered the SSQ and was taken
    fallback: np.ndarray  # Cholesky was unreliable and the QR solve was used
    vetoed: np.ndarray    # a step test held but the Gauss-Newton check refused it


def sum_of_squares(r):
    """``ssq = r^T r`` (over the last axis)."""
    return np.einsum("...i,...i->...", r, r)


EPS, TINY = np.finfo(np.float64).eps, np.finfo(np.float64).tiny


def norm(v):
    """Euclidean norm over the last axis."""
    return np.sqrt(np.einsum("...i,...i->...", v, v))


def mu_floor(colsq, d2):
    """The smallest ``mu`` the loop uses: ``eps * max_j (J^T J)_jj / d2_j`` (``colsq``
    holds ``diag(J^T J)``), and at least the smallest normal float64.

    Below it ``mu D^T D`` is under the rounding of ``J^T J``'s largest diagonal entry,
    so a smaller ``mu`` changes no step; the floor keeps ``mu`` from decaying to 0,
    where the multiplicative damping rules would stay for ever (an absorbing state).
    """
    return np.maximum(EPS * np.max(colsq / d2, axis=-1), TINY)


def _linearize_rows(provider: Provider, settings: LMSettings, x, r, d2_previous):
    """Linearise runs at the rows of ``x``, ``r``: the products, the scaling, the
    sample-space Gram matrix. Returns ``(finite, colsq, grad, d2, curvature, jac)``
    (one entry per row)."""
    lins = [provider.linearize(x[i], r[i], settings.sample_space, settings.keeps_jacobian)
            for i in range(len(x))]
    return _assemble(provider, settings, lins, d2_previous)


def _assemble(provider: Provider, settings: LMSettings, lins, d2_previous):
    """:func:`_linearize_rows` from the rows' linearisations (:class:`.Linearization`)."""
    k = len(lins)
    finite = np.zeros(k, bool)
    colsq = np.empty((k, provider.n))
    grad = np.empty((k, provider.n))
    curvature, jac = [None] * k, [None] * k
    for i, lin in enumerate(lins):
        finite[i], colsq[i], grad[i] = lin.finite, lin.colsq, lin.grad
        curvature[i], jac[i] = lin.curvature, lin.jac
    d2 = settings.scaling(colsq, d2_previous)
    if settings.sample_space:
        curvature = [sample_gram(jac[i], d2[i]) for i in range(k)]
    return finite, colsq, grad, d2, curvature, jac


def init_state(provider: Provider, settings: LMSettings, X0: np.ndarray) -> LMState:
    """The state of ``B`` runs at the rows of ``X0``: residuals, normal equations,
    scaling, the ``ssq_goal`` and ``gtol`` tests.

    The starting ``mu`` is ``mu0``, or with ``mu0_relative`` ``mu0 * max_j
    (J^T J)_jj / d2_j`` (Madsen, Nielsen & Tingleff 2004, eq. 3.14: ``tau * max a_ii``),
    which makes it invariant to the scale of the residuals and parameters.
    Non-finite residuals or Jacobian give ``NONFINITE_START`` (the row never runs).
    """
    B = X0.shape[0]
    r = np.stack([provider.residuals(x) for x in X0])
    ssq = sum_of_squares(r)
    finite, colsq, grad, d2, curvature, jac = _linearize_rows(
        provider, settings, X0, r, np.zeros((B, provider.n)))
    mu = np.full(B, float(settings.mu0))
    if settings.mu0_relative:
        mu = mu * np.max(colsq / d2, axis=-1)
    floor = mu_floor(colsq, d2)
    mu = np.maximum(mu, floor)
    zero = np.zeros(B, int)
    val = (np.array([sum_of_squares(provider.validation(x)) for x in X0])
           if provider.has_validation else np.zeros(B))
    no = np.zeros(B, bool)
    status = stop_status(settings.criteria, ssq=ssq, cosine=gradient_cosine(colsq, grad, ssq),
                         mu=mu, floor=floor, fails=zero, ftol=no, xtol=no)
    status = np.where(np.isfinite(ssq) & finite, status, int(Status.NONFINITE_START))
    return LMState(x=X0.copy(), r=r, ssq=ssq, ssq0=ssq.copy(), grad=grad,
                   curvature=curvature, jac=jac, colsq=colsq, d2=d2, mu=mu,
                   nu=np.full(B, 2.0), val_ssq=val, best_val_ssq=val.copy(),
                   best_x=X0.copy(), fails=zero.copy(), nit=zero.copy(),
                   nfev=np.ones(B, int), njev=np.ones(B, int), status=status,
                   time_s=np.zeros(B), alpha=np.zeros(B), beta=np.ones(B),
                   gamma=np.full(B, float(provider.n)))


def damped_step(provider: Provider, settings: LMSettings, state: LMState, b: int, grad):
    """Solve ``(J^T J + mu diag(d2)) delta = -grad`` for row ``b`` (``grad = J^T r``;
    with Bayesian regularisation ``(beta J^T J + alpha I + mu D^2) delta = -grad``,
    ``grad`` then the objective's): ``(delta, fallback, system)``. Cholesky
    (:class:`.DampedSystem`, in parameter or sample space); where it is unreliable, QR
    of the augmented system (:func:`.qr_step`) from ``J`` at the current point (kept in
    the state, else evaluated again: one more Jacobian), and ``system`` is None."""
    mu, d2 = state.mu[b], state.d2[b]
    alpha, beta = state.alpha[b], state.beta[b]
    system = DampedSystem(state.curvature[b], mu, d2, settings.sample_space, scale=beta,
                          shift=alpha)
    if system.ok:
        if settings.sample_space:
            delta = system.step(r=state.r[b], jac=state.jac[b], d2=d2)
        else:
            delta = system.step(grad=grad)
        if np.isfinite(delta).all():
            return delta, False, system
    jac = state.jac[b] if settings.keeps_jacobian else provider.jacobian(state.x[b])
    if settings.bayesian:
        jac, r = regularization.augmented(jac, state.r[b], state.x[b], alpha, beta)
        return qr_step(jac, r, mu, d2), True, None
    return qr_step(jac, state.r[b], mu, d2), True, None


def geodesic_acceleration(provider: Provider, settings: LMSettings, state: LMState, b: int,
                          velocity, system):
    """The geodesic acceleration of row ``b``'s step (Transtrum & Sethna 2012, "Improvements
    to the Levenberg-Marquardt algorithm for nonlinear least-squares minimization",
    arXiv:1201.5885, eqs. 14-15): ``(a, ratio)``.

    ``a`` solves ``(J^T J + mu D^2) a = -J^T r_vv`` with the same factor as the step
    ``v`` (``velocity``), ``r_vv`` the second directional derivative of the residuals
    along ``v`` by finite differences, ``(2 / h) ((r(x + h v) - r(x)) / h - J v)``
    (one more residual evaluation); ``ratio = 2 ||D a|| / ||D v||``. The step taken is
    ``v + a / 2`` when ``ratio <= geodesic_alpha``; a larger ratio means the second-
    order term is not small (or, near a minimum where ``v ~ 0``, that the finite
    difference is all rounding), and the plain step ``v`` is tried instead. (Transtrum
    & Sethna refuse the step there, which raises ``mu``: near a minimum it refuses
    steps for rounding noise.)
    """
    h, d2, jac, r = settings.geodesic_h, state.d2[b], state.jac[b], state.r[b]
    r_h = provider.residuals(state.x[b] + h * velocity)
    r_vv = (2.0 / h) * ((r_h - r) / h - jac @ velocity)
    if settings.sample_space:
        accel = system.step(r=r_vv, jac=jac, d2=d2)
    else:  # with Bayesian regularisation the objective's residuals are sqrt(beta) r
        accel = system.step(grad=state.beta[b] * (jac.T @ r_vv))
    scale = np.sqrt(d2)
    return accel, 2.0 * norm(scale * accel) / norm(scale * velocity)


def lm_step(provider: Provider, settings: LMSettings, state: LMState,
            rows: np.ndarray) -> StepInfo:
    """One Levenberg-Marquardt iteration of the running rows ``rows`` (indices), which
    it updates in ``state``; the other rows are not touched.

    1. Solve ``(J^T J + mu D^T D) delta = -J^T r`` (:func:`damped_step`).
    2. Residuals at the trial points ``x + delta``. A trial is accepted only if its
       SSQ is finite and lower and its Jacobian (evaluated only for such rows) is
       finite; a NaN/Inf trial is a rejection.
    3. ``mu`` (and ``nu``) from the damping rule, given acceptance and the gain ratio
       ``rho``, never below :func:`mu_floor`; on acceptance the scaling is updated.
    4. On acceptance, the validation SSQ and the count of steps without a new best.
    5. Stopping tests (:mod:`.termination`): the step tests ``ftol``/``xtol`` are
       confirmed at the current point (gradient cosines; the Gauss-Newton step,
       computed only for the rows whose ``xtol`` step test held).
    """
    criteria = settings.criteria
    k = len(rows)
    x_old, ssq_old, grad_old = state.x[rows], state.ssq[rows], state.grad[rows]
    mu_old, d2_old = state.mu[rows], state.d2[rows]
    bayes = settings.bayesian
    if bayes:  # the objective F = beta ssq + alpha ||x||^2, its gradient
        alpha, beta = state.alpha[rows], state.beta[rows]
        f_old = regularization.objective(ssq_old, x_old, alpha, beta)
        grad_old = regularization.gradient(grad_old, x_old, alpha, beta)
    else:
        f_old = ssq_old
    delta = np.empty((k, provider.n))
    fallback = np.zeros(k, bool)
    extra_fev = np.zeros(k, int)
    for i, b in enumerate(rows):
        delta[i], fallback[i], system = damped_step(provider, settings, state, b,
                                                    grad_old[i])
        if settings.geodesic and system is not None:
            accel, ratio = geodesic_acceleration(provider, settings, state, b, delta[i],
                                                 system)
            extra_fev[i] = 1
            if ratio <= settings.geodesic_alpha:
                delta[i] += 0.5 * accel
    x_trial = x_old + delta
    # each row's trial residuals and, where the objective went down, its linearisation
    # right after (a provider may reuse the forward pass it just made)
    r_trial = np.empty((k, provider.m))
    ssq_trial, f_trial = np.empty(k), np.empty(k)
    decreased = np.zeros(k, bool)
    lins = []
    for i in range(k):
        r_trial[i] = provider.residuals(x_trial[i])
        ssq_trial[i] = sum_of_squares(r_trial[i])
        f_trial[i] = (regularization.objective(ssq_trial[i], x_trial[i], alpha[i], beta[i])
                      if bayes else ssq_trial[i])
        if np.isfinite(f_trial[i]) and f_trial[i] < f_old[i]:
            decreased[i] = True
            lins.append(provider.linearize(x_trial[i], r_trial[i], settings.sample_space,
                                           settings.keeps_jacobian))
    lin_rows = np.flatnonzero(decreased)
    finite, colsq_t, grad_t, d2_t, curv_t, jac_t = _assemble(provider, settings, lins,
                                                             d2_old[lin_rows])
    accepted = np.zeros(k, bool)
    accepted[lin_rows] = finite

    if settings.geodesic:  # the linear model at the step taken: -2 delta^T g - ||J delta||^2
        jac_delta = np.stack([state.jac[b] @ delta[i] for i, b in enumerate(rows)])
        model_sq = sum_of_squares(jac_delta)
        if bayes:
            model_sq = beta * model_sq + alpha * sum_of_squares(delta)
        predicted = -2.0 * np.einsum("ij,ij->i", delta, grad_old) - model_sq
    else:
        predicted = predicted_reduction(delta, grad_old, mu_old, d2_old)
    rho = gain_ratio(f_old - f_trial, predicted)
    mu, nu = settings.damping.update(mu_old, state.nu[rows], accepted, rho)

    # take the accepted trials
    for j, i in enumerate(lin_rows):
        if finite[j]:
            b = rows[i]
            state.x[b], state.r[b], state.ssq[b] = x_trial[i], r_trial[i], ssq_trial[i]
            state.colsq[b], state.grad[b], state.d2[b] = colsq_t[j], grad_t[j], d2_t[j]
            state.curvature[b], state.jac[b] = curv_t[j], jac_t[j]
            if bayes:  # MacKay's re-estimates at the new point
                state.alpha[b], state.beta[b], state.gamma[b] = regularization.reestimate(
                    curv_t[j], ssq_trial[i], x_trial[i], state.alpha[b], state.beta[b],
                    provider.m)
    colsq = state.colsq[rows]
    x, r, ssq, d2 = state.x[rows], state.r[rows], state.ssq[rows], state.d2[rows]
    grad = state.grad[rows]
    if bayes:  # the tests below are of the objective, with the new alpha and beta
        alpha, beta = state.alpha[rows], state.beta[rows]
        colsq = regularization.column_norms(colsq, alpha, beta)
        grad = regularization.gradient(grad, x, alpha, beta)
        f_now = regularization.objective(ssq, x, alpha, beta)
    else:
        f_now = ssq
    floor = mu_floor(colsq, state.d2[rows])
    mu = np.maximum(mu, floor)
    state.mu[rows], state.nu[rows] = mu, nu

    val = state.val_ssq[rows]
    if provider.has_validation:
        for i in np.flatnonzero(accepted):
            val[i] = sum_of_squares(provider.validation(x_trial[i]))
    improved = accepted & (val < state.best_val_ssq[rows])
    fails = np.where(improved, 0, np.where(accepted, state.fails[rows] + 1,
                                           state.fails[rows]))
    state.val_ssq[rows], state.fails[rows] = val, fails
    state.best_val_ssq[rows] = np.where(improved, val, state.best_val_ssq[rows])
    state.best_x[rows] = np.where(improved[:, None], x_trial, state.best_x[rows])

    scale_old = np.sqrt(d2_old)
    small_f, small_x = step_candidates(
        criteria, ssq_old=f_old, ssq_trial=f_trial, predicted=predicted, rho=rho,
        step_norm=norm(scale_old * delta), x_norm=norm(scale_old * x_old))
    candidate = small_f | small_x
    check_step = candidate & small_x
    gn_step_norm = np.zeros(k)
    zero_residual = np.zeros(k, bool)
    for i in np.flatnonzero(check_step):
        jac, res = provider.jacobian(x[i]), r[i]
        if bayes:
            jac, res = regularization.augmented(jac, res, x[i], alpha[i], beta[i])
        step, gn_predicted = gauss_newton_step(jac, res, d2[i])
        gn_step_norm[i] = norm(np.sqrt(d2[i]) * step)
        zero_residual[i] = vanished(f_now[i], state.ssq0[rows[i]], gn_predicted)
    cosine = gradient_cosine(colsq, grad, f_now)
    ftol, xtol = confirmed(criteria, small_f=small_f, small_x=check_step, cosine=cosine,
                           gn_step_norm=gn_step_norm,
                           x_norm=norm(np.sqrt(d2) * x),
                           zero_residual=zero_residual)
    state.status[rows] = stop_status(criteria, ssq=ssq, cosine=cosine, mu=mu, floor=floor,
                                     fails=fails, ftol=ftol, xtol=xtol)
    state.nit[rows] += 1
    state.nfev[rows] += 1 + extra_fev
    state.njev[rows] += (decreased.astype(int) + fallback.astype(int)
                         + check_step.astype(int))
    return StepInfo(accepted, fallback, candidate & ~(ftol | xtol))


#: Per-iteration history columns and their dtypes (row 0 is the start); with Bayesian
#: regularisation also ``alpha``, ``beta``, ``gamma`` (the effective parameters).
HISTORY = {"ssq": float, "val_ssq": float, "mu": float, "accepted": bool,
           "fallback": bool, "vetoed": bool, "time_s": float}


def solve(provider: Provider, settings: LMSettings, X0: np.ndarray, *, max_iter: int,
          max_time: float | None, chunk: int, progress: Callable | None) -> list[LMResult]:
    """Run the loop from the rows of ``X0``; one :class:`.LMResult` per row.

    The provider is prepared first (compilation and first calls, at ``X0[0]``): that
    time is ``compile_s``, in no other time.

    Every ``chunk`` iterations (and never inside one), ``progress(info)`` is called
    (or a line logged at INFO level when ``progress`` is None); if it returns True
    every running row stops with ``CALLBACK``. ``max_iter`` bounds each row's
    iterations, ``max_time`` each row's own compute (:mod:`.engine` times), checked
    after every iteration.
    """
    with np.errstate(all="ignore"):  # NaN and Inf are a failed trial, handled as such
        return _solve(provider, settings, X0, max_iter=max_iter, max_time=max_time,
                      chunk=chunk, progress=progress)


def _solve(provider, settings, X0, *, max_iter, max_time, chunk, progress):
    B = X0.shape[0]
    provider.prepare(X0[0])
    start = time.perf_counter()
    state = init_state(provider, settings, X0)
    init_s = time.perf_counter() - start
    state.time_s += init_s / B
    columns = {"ssq": state.ssq, "val_ssq": state.val_ssq, "mu": state.mu,
               "accepted": np.zeros(B, bool), "fallback": np.zeros(B, bool),
               "vetoed": np.zeros(B, bool), "time_s": state.time_s}
    tracked = ["ssq", "val_ssq", "mu", "time_s"]
    if settings.bayesian:
        columns.update(alpha=state.alpha, beta=state.beta, gamma=state.gamma)
        tracked += ["alpha", "beta", "gamma"]
    history = {name: [np.array(values, dtype=HISTORY.get(name, float))]
               for name, values in columns.items()}
    unfinished = np.full(B, int(Status.MAX_ITER))
    iteration, batch_s = 0, init_s
    while True:
        rows = np.flatnonzero((state.status == RUNNING) & (state.nit < max_iter))
        if rows.size == 0:
            break
        tic = time.perf_counter()
        info = lm_step(provider, settings, state, rows)
        step_s = time.perf_counter() - tic
        batch_s += step_s
        state.time_s[rows] += step_s / rows.size
        iteration += 1
        for name in tracked:
            history[name].append(getattr(state, name).copy())
        for name in ("accepted", "fallback", "vetoed"):
            flags = np.zeros(B, bool)
            flags[rows] = getattr(info, name)
            history[name].append(flags)
        if max_time is not None:
            out = rows[(state.time_s[rows] >= max_time) & (state.status[rows] == RUNNING)]
            state.status[out] = unfinished[out] = int(Status.MAX_TIME)
        if iteration % chunk == 0 and report(progress, state, iteration, max_iter, batch_s,
                                             provider.has_validation):
            running = state.status == RUNNING
            state.status[running] = unfinished[running] = int(Status.CALLBACK)
    if iteration % chunk:
        report(progress, state, iteration, max_iter, batch_s, provider.has_validation)

    history = {name: np.stack(values) for name, values in history.items()}
    if not provider.has_validation:
        del history["val_ssq"]
    status = np.where(state.status == RUNNING, unfinished, state.status)
    x, r = state.x, state.r
    if settings.criteria.max_fail is not None:
        for b in np.flatnonzero(status != int(Status.NONFINITE_START)):
            if not np.array_equal(state.best_x[b], x[b]):
                x[b], r[b] = state.best_x[b], provider.residuals(state.best_x[b])
    results = []
    for b in range(B):
        end = state.nit[b] + 1
        row_history = {name: values[:end, b] for name, values in history.items()}
        row_history["iteration"] = np.arange(end)
        results.append(make_result(x[b], r[b], status[b], nit=state.nit[b],
                                   nfev=state.nfev[b], njev=state.njev[b],
                                   time_s=state.time_s[b], compile_s=provider.compile_s,
                                   batch_wall_s=batch_s, batch_size=B,
                                   history=row_history))
    return results


def report(progress: Callable | None, state: LMState, iteration: int, max_iter: int,
           elapsed: float, has_validation: bool) -> bool:
    """Call ``progress(info)`` or log; True asks to stop. The call is not timed.

    ``info`` holds ``iteration, running`` (rows still going), ``elapsed`` (the batch's
    compute so far, s) and per-row arrays ``x, best_x, ssq, best_val_ssq, mu, status,
    nit, nfev, njev, time_s`` (each row's own compute, s) and ``val_ssq`` (with
    validation). Arrays are copies.
    """
    running = int(np.sum(state.status == RUNNING))
    info = {"iteration": iteration, "running": running, "elapsed": elapsed,
            **{name: getattr(state, name).copy() for name in
               ("x", "best_x", "ssq", "best_val_ssq", "mu", "status", "nit", "nfev",
                "njev", "time_s")}}
    if has_validation:
        info["val_ssq"] = state.val_ssq.copy()
    if progress is None:
        logger.info("LM iteration %d of at most %d (%.0f%%): %d of %d rows running, "
                    "lowest ssq %.6g, %.3f s", iteration, max_iter,
                    100.0 * iteration / max(max_iter, 1), running, state.status.size,
                    np.nanmin(state.ssq), elapsed)
        return False
    return bool(progress(info))
