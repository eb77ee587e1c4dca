"""The Levenberg-Marquardt loop, on the host, over a batch of starting points.

One engine: a fit from one starting point is a batch of one. The loop is plain numpy,
as scipy's ``_lsq/trf.py`` is written; the model's numbers come from a provider
(:mod:`.providers`), row by row, and the linear algebra is BLAS and LAPACK called
directly (:mod:`.linalg`), so an iteration costs what its products cost.

The state (:class:`LMState`) holds ``B`` runs, each field with a leading axis ``B``.
One iteration, :func:`lm_step`, advances the running rows in four phases:

1. :func:`propose` -- the damped step of each row, solved in the space and corrected
   by the step (the geodesic acceleration);
2. :func:`try_step` -- the residuals and the objective at ``x + delta``, and the
   linearisation where the objective went down;
3. :func:`accept` -- the gain ratio, the damping rule, the accepted trials taken (and
   the objective's re-estimates there), the validation bookkeeping;
4. :func:`judge` -- the stopping tests (:mod:`.termination`), with the Gauss-Newton
   confirmation of the step tests.

The variants are small objects held by :class:`LMSettings`, each owning its state and
its arithmetic, so that the loop has no branch on them: the objective (the SSQ,
:mod:`.objective`, or Bayesian regularisation, :mod:`.regularization`), the step
(damped, or with geodesic acceleration, :mod:`.steps`), the space where the damped
system is solved (parameters or samples, :mod:`.linalg`) and the damping rule
(:mod:`.damping`). Each row's arithmetic is its own: elementwise operations on the
rows' stacked arrays, per-row BLAS and LAPACK calls; so a row's iterates, evaluations
and history are bit for bit those it has alone, and a row that stops leaves the batch
and costs nothing more.

Times. Each iteration is timed; its seconds are split evenly over the rows that took
part (:func:`secondorder.optim.fit_result.time_shares`), so each row's ``time_s`` is
its own compute (alone, its wall time). Callback time is not counted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .damping import gain_ratio
from .linalg import ParameterSpace, gauss_newton_step, norm, qr_step, sum_of_squares
from .objective import SumOfSquares
from .providers import Provider
from .result import LMResult, Status, make_result
from .steps import DampedStep
from .termination import (RUNNING, Criteria, confirmed, gradient_cosine, step_candidates,
                          stop_status, vanished)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LMSettings:
    """The rules of a run besides its provider: a damping rule (:mod:`.damping`), a
    scaling ``(colsq, d2_previous) -> d2`` of the squared column norms of ``J``
    (:mod:`.linalg`), the :class:`.Criteria`, the starting ``mu0`` and whether it is
    relative to ``J^T J`` at the start (:func:`init_state`), the objective
    (:class:`.SumOfSquares`, or :class:`.regularization.Bayesian`: the loop then
    minimises ``F = beta ssq + alpha ||x||^2``), the step (:class:`.DampedStep`, or
    :class:`.steps.Geodesic`) and the space where the damped system is solved
    (:class:`.ParameterSpace`, or :class:`.linalg.SampleSpace` for ``n > m``)."""

    damping: object
    scaling: Callable
    criteria: Criteria
    mu0: float
    mu0_relative: bool = False
    objective: object = SumOfSquares()
    step: object = DampedStep()
    space: object = ParameterSpace()

    def __post_init__(self):
        if self.space.name not in self.objective.spaces:
            raise ValueError(f"{type(self.objective).__name__} has no damped system in "
                             f"{self.space.name} space")

    @property
    def keeps_jacobian(self) -> bool:
        """Whether the state keeps ``J`` itself (sample space, geodesic acceleration)."""
        return self.space.keeps_jacobian or self.step.keeps_jacobian


@dataclass
class LMState:
    """Everything that changes from one iteration to the next (``B`` runs)."""

    x: np.ndarray             # (B, n) current parameters (last accepted)
    r: np.ndarray             # (B, m) residuals at x
    ssq: np.ndarray           # (B,) sum of squares r^T r
    ssq0: np.ndarray          # (B,) sum of squares at the start
    grad: np.ndarray          # (B, n) J^T r, gradient of cost = ssq / 2
    curvature: list           # per row: the space's matrix, J^T J (n, n) or J D^-2 J^T (m, m)
    jac: list                 # per row: J (m, n) if settings.keeps_jacobian, else None
    colsq: np.ndarray         # (B, n) squared column norms of J, diag(J^T J)
    d2: np.ndarray            # (B, n) squared scaling D^T D
    mu: np.ndarray            # (B,) damping parameter for the next step
    damping_state: object     # the damping rule's state (rule.init(B); Nielsen's nu)
    objective_state: dict     # the objective's state, arrays (B,) (Bayesian: alpha, beta, gamma)
    val_ssq: np.ndarray       # (B,) validation SSQ at x (0 without validation)
    best_val_ssq: np.ndarray  # (B,) lowest validation SSQ seen
    best_x: np.ndarray        # (B, n) parameters where it was seen
    fails: np.ndarray         # (B,) accepted steps since the last best validation SSQ
    nit: np.ndarray           # (B,) iterations (trial steps) done
    nfev: np.ndarray          # (B,) residual evaluations
    njev: np.ndarray          # (B,) Jacobian evaluations
    status: np.ndarray        # (B,) Status code, RUNNING while going
    time_s: np.ndarray        # (B,) own compute so far, seconds


@dataclass
class StepInfo:
    """Per-iteration facts recorded in the history besides the state (running rows)."""

    accepted: np.ndarray  # the trial step lowered the objective and was taken
    fallback: np.ndarray  # Cholesky was unreliable and the QR solve was used
    vetoed: np.ndarray    # a step test held but the Gauss-Newton check refused it


EPS, TINY = np.finfo(np.float64).eps, np.finfo(np.float64).tiny


def mu_floor(colsq, d2):
    """The smallest ``mu`` the loop uses: ``eps * max_j (J^T J)_jj / d2_j`` (``colsq``
    holds ``diag(J^T J)``), and at least the smallest normal float64.

    Below it ``mu D^T D`` is under the rounding of ``J^T J``'s largest diagonal entry,
    so a smaller ``mu`` changes no step; the floor keeps ``mu`` from decaying to 0,
    where the multiplicative damping rules would stay for ever (an absorbing state).
    """
    return np.maximum(EPS * np.max(colsq / d2, axis=-1), TINY)


def rows_of(state, rows):
    """The entries ``rows`` (indices, or one index) of a per-run state: ``None``, an
    array with a leading axis, or a dict of such arrays."""
    if isinstance(state, dict):
        return {name: values[rows] for name, values in state.items()}
    return None if state is None else state[rows]


def set_rows(state, rows, values) -> None:
    """Write ``values`` (as :func:`rows_of` gives them) into the entries ``rows`` of a
    per-run state, in place."""
    if isinstance(state, dict):
        for name, column in state.items():
            column[rows] = values[name]
    elif state is not None:
        state[rows] = values


@dataclass
class Linearized:
    """Rows linearised at new points: their indices ``rows`` (into the rows being
    stepped), whether ``J`` is finite, ``colsq``, ``grad = J^T r``, the scaling ``d2``
    updated from ``colsq``, the space's matrix and ``J`` (per row, when kept)."""

    rows: np.ndarray
    finite: np.ndarray
    colsq: np.ndarray
    grad: np.ndarray
    d2: np.ndarray
    curvature: list
    jac: list


def linearized(provider: Provider, settings: LMSettings, lins, d2_previous,
               rows) -> Linearized:
    """:class:`Linearized` from the rows' linearisations (:class:`.Linearization`)."""
    k = len(lins)
    finite = np.zeros(k, bool)
    colsq = np.empty((k, provider.n))
    grad = np.empty((k, provider.n))
    for i, lin in enumerate(lins):
        finite[i], colsq[i], grad[i] = lin.finite, lin.colsq, lin.grad
    d2 = settings.scaling(colsq, d2_previous)
    curvature = [settings.space.curvature(lin, d2[i]) for i, lin in enumerate(lins)]
    return Linearized(rows, finite, colsq, grad, d2, curvature, [lin.jac for lin in lins])


def linearize(provider: Provider, settings: LMSettings, x, r):
    """The provider's linearisation of one run at ``x`` (residuals ``r``)."""
    return provider.linearize(x, r, settings.space.sample_space, settings.keeps_jacobian)


def init_state(provider: Provider, settings: LMSettings, X0: np.ndarray) -> LMState:
    """The state of ``B`` runs at the rows of ``X0``: residuals, normal equations,
    scaling, the state of the damping rule and of the objective, the ``ssq_goal`` and
    ``gtol`` tests (of the SSQ: the objective's weights start at those of plain LM).

    The starting ``mu`` is ``mu0``, or with ``mu0_relative`` ``mu0 * max_j
    (J^T J)_jj / d2_j`` (Madsen, Nielsen & Tingleff 2004, eq. 3.14: ``tau * max a_ii``),
    which makes it invariant to the scale of the residuals and parameters.
    Non-finite residuals or Jacobian give ``NONFINITE_START`` (the row never runs).
    """
    B = X0.shape[0]
    r = np.stack([provider.residuals(x) for x in X0])
    ssq = sum_of_squares(r)
    lin = linearized(provider, settings, [linearize(provider, settings, x, r[b])
                                          for b, x in enumerate(X0)],
                     np.zeros((B, provider.n)), np.arange(B))
    mu = np.full(B, float(settings.mu0))
    if settings.mu0_relative:
        mu = mu * np.max(lin.colsq / lin.d2, axis=-1)
    floor = mu_floor(lin.colsq, lin.d2)
    mu = np.maximum(mu, floor)
    zero = np.zeros(B, int)
    val = (np.array([sum_of_squares(provider.validation(x)) for x in X0])
           if provider.has_validation else np.zeros(B))
    no = np.zeros(B, bool)
    status = stop_status(settings.criteria, ssq=ssq,
                         cosine=gradient_cosine(lin.colsq, lin.grad, ssq), mu=mu,
                         floor=floor, fails=zero, ftol=no, xtol=no)
    status = np.where(np.isfinite(ssq) & lin.finite, status, int(Status.NONFINITE_START))
    return LMState(x=X0.copy(), r=r, ssq=ssq, ssq0=ssq.copy(), grad=lin.grad,
                   curvature=lin.curvature, jac=lin.jac, colsq=lin.colsq, d2=lin.d2,
                   mu=mu, damping_state=settings.damping.init(B),
                   objective_state=settings.objective.init(B, provider.n),
                   val_ssq=val, best_val_ssq=val.copy(), best_x=X0.copy(),
                   fails=zero.copy(), nit=zero.copy(), nfev=np.ones(B, int),
                   njev=np.ones(B, int), status=status, time_s=np.zeros(B))


@dataclass
class Point:
    """The rows being stepped at their current points, in the objective's terms."""

    x: np.ndarray          # (k, n)
    r: np.ndarray          # (k, m) residuals
    ssq: np.ndarray        # (k,) their SSQ
    value: np.ndarray      # (k,) the objective F (the SSQ for plain LM)
    grad: np.ndarray       # (k, n) its gradient (J^T r for plain LM)
    colsq: np.ndarray      # (k, n) its squared column norms (diag(J^T J) for plain LM)
    d2: np.ndarray         # (k, n) the squared scaling
    objective: dict        # the objective's state of the rows


def point(settings: LMSettings, state: LMState, rows) -> Point:
    """The rows ``rows`` of ``state`` as a :class:`Point` (copies)."""
    objective, own = settings.objective, rows_of(state.objective_state, rows)
    x, ssq = state.x[rows], state.ssq[rows]
    return Point(x=x, r=state.r[rows], ssq=ssq, value=objective.value(ssq, x, own),
                 grad=objective.gradient(state.grad[rows], x, own),
                 colsq=objective.column_norms(state.colsq[rows], own), d2=state.d2[rows],
                 objective=own)


# --- 1. propose ----------------------------------------------------------------------

def damped_step(provider: Provider, settings: LMSettings, state: LMState, b: int,
                now: Point, i: int):
    """Solve the damped system of row ``b`` (``i`` among the rows stepped, at ``now``),
    ``(scale J^T J + shift I + mu D^2) delta = -g`` with the objective's terms and
    gradient ``g`` (``J^T J + mu D^2`` and ``J^T r`` for plain LM): ``(delta,
    system)``. Cholesky in the settings' space (:mod:`.linalg`); where it is
    unreliable, QR of the objective's augmented system (:func:`.qr_step`) from ``J`` at
    the current point (kept in the state, else evaluated again: one more Jacobian), and
    ``system`` is None."""
    space, objective = settings.space, settings.objective
    own = rows_of(now.objective, i)
    mu, d2, x, r = state.mu[b], now.d2[i], now.x[i], now.r[i]
    scale, shift = objective.system_terms(own)
    system = space.system(state.curvature[b], mu, d2, scale, shift)
    if system.ok:
        delta = space.step(system, now.grad[i], r, state.jac[b], d2)
        if np.isfinite(delta).all():
            return delta, system
    jac = provider.jacobian(x) if state.jac[b] is None else state.jac[b]
    return qr_step(*objective.augmented(jac, r, x, own), mu, d2), None


def propose(provider: Provider, settings: LMSettings, state: LMState, rows: np.ndarray,
            now: Point):
    """The step of each row (:func:`damped_step`, then the settings' step's correction,
    :mod:`.steps`, where Cholesky served): ``(delta, fallback, evaluations)``, the
    last two per row (QR used; residual evaluations the step cost)."""
    k = len(rows)
    delta = np.empty((k, provider.n))
    fallback = np.zeros(k, bool)
    evaluations = np.zeros(k, int)
    for i, b in enumerate(rows):
        delta[i], system = damped_step(provider, settings, state, b, now, i)
        fallback[i] = system is None
        if system is not None:
            delta[i], evaluations[i] = settings.step.correct(
                provider, settings.space, system, delta[i], now.x[i], now.r[i],
                state.jac[b], now.d2[i])
    return delta, fallback, evaluations


# --- 2. try --------------------------------------------------------------------------

@dataclass
class Trial:
    """The rows' trial points ``x + delta``: residuals, SSQ, objective, whether it went
    down, and the rows linearised there (those where it went down)."""

    x: np.ndarray
    r: np.ndarray
    ssq: np.ndarray
    value: np.ndarray
    decreased: np.ndarray
    linear: Linearized


def try_step(provider: Provider, settings: LMSettings, now: Point, delta) -> Trial:
    """Residuals at the trial points ``x + delta`` and, where the objective went down
    (a finite value, lower), the linearisation right after (a provider may reuse the
    forward pass it just made). A NaN/Inf trial is a failed one."""
    k = len(delta)
    x = now.x + delta
    r = np.empty((k, provider.m))
    ssq, value = np.empty(k), np.empty(k)
    decreased = np.zeros(k, bool)
    lins = []
    for i in range(k):
        r[i] = provider.residuals(x[i])
        ssq[i] = sum_of_squares(r[i])
        value[i] = settings.objective.value(ssq[i], x[i], rows_of(now.objective, i))
        if np.isfinite(value[i]) and value[i] < now.value[i]:
            decreased[i] = True
            lins.append(linearize(provider, settings, x[i], r[i]))
    down = np.flatnonzero(decreased)
    return Trial(x, r, ssq, value, decreased,
                 linearized(provider, settings, lins, now.d2[down], down))


# --- 3. accept -----------------------------------------------------------------------

@dataclass
class Outcome:
    """What acceptance decided for the rows stepped: accepted, the predicted reduction
    and gain ratio, the rows' new points (:class:`Point`) and floors of ``mu``."""

    accepted: np.ndarray
    predicted: np.ndarray
    rho: np.ndarray
    now: Point
    floor: np.ndarray


def accept(provider: Provider, settings: LMSettings, state: LMState, rows: np.ndarray,
           old: Point, delta, trial: Trial) -> Outcome:
    """A trial is accepted if its objective is finite and lower and its Jacobian is
    finite. The gain ratio ``rho`` (the step's predicted reduction, :mod:`.steps`)
    drives the damping rule; the accepted trials are taken (point, products, scaling)
    and the objective re-estimated there; ``mu`` is kept at or above its floor
    (:func:`mu_floor`, of the objective's new column norms); on acceptance the
    validation SSQ and the count of steps without a new best."""
    lin = trial.linear
    accepted = np.zeros(len(rows), bool)
    accepted[lin.rows] = lin.finite
    mu_old = state.mu[rows]
    predicted = settings.step.predicted(delta, old.grad, mu_old, old.d2,
                                        [state.jac[b] for b in rows], settings.objective,
                                        old.objective)
    rho = gain_ratio(old.value - trial.value, predicted)
    mu, damping_state = settings.damping.update(mu_old, rows_of(state.damping_state, rows),
                                                accepted, rho)
    take(provider, settings, state, rows, trial)
    now = point(settings, state, rows)
    floor = mu_floor(now.colsq, now.d2)
    state.mu[rows] = np.maximum(mu, floor)
    set_rows(state.damping_state, rows, damping_state)
    validate(provider, state, rows, trial.x, accepted)
    return Outcome(accepted, predicted, rho, now, floor)


def take(provider: Provider, settings: LMSettings, state: LMState, rows: np.ndarray,
         trial: Trial) -> None:
    """Move the rows whose trial is accepted to it: point, residuals, products, scaling,
    and the objective's re-estimates there."""
    lin = trial.linear
    kept = np.flatnonzero(lin.finite)  # among the rows linearised
    stepped = lin.rows[kept]           # among the rows stepped
    taken = rows[stepped]              # in the state
    state.x[taken], state.r[taken], state.ssq[taken] = (trial.x[stepped], trial.r[stepped],
                                                        trial.ssq[stepped])
    state.colsq[taken], state.grad[taken], state.d2[taken] = (lin.colsq[kept],
                                                              lin.grad[kept], lin.d2[kept])
    curvature = [lin.curvature[j] for j in kept]
    for b, j in zip(taken, kept):  # per-row arrays
        state.curvature[b], state.jac[b] = lin.curvature[j], lin.jac[j]
    set_rows(state.objective_state, taken, settings.objective.reestimate(
        rows_of(state.objective_state, taken), curvature, trial.ssq[stepped],
        trial.x[stepped], provider.m))


def validate(provider: Provider, state: LMState, rows: np.ndarray, x_trial,
             accepted) -> None:
    """The validation SSQ at each accepted trial, the lowest seen and where, and the
    count of accepted steps since (``fails``)."""
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


# --- 4. judge ------------------------------------------------------------------------

def judge(provider: Provider, settings: LMSettings, state: LMState, rows: np.ndarray,
          old: Point, delta, trial: Trial, outcome: Outcome):
    """The stopping tests (:mod:`.termination`) of the objective: the step tests
    ``ftol``/``xtol`` of the last step are confirmed at the new point (gradient cosines;
    the Gauss-Newton step, :func:`gauss_newton_check`, only for the rows whose ``xtol``
    step test held). Sets the rows' status; returns ``(vetoed, checked)`` (a step test
    held but was refused; the Gauss-Newton check was made: one more Jacobian)."""
    criteria, now = settings.criteria, outcome.now
    scale_old = np.sqrt(old.d2)
    small_f, small_x = step_candidates(
        criteria, ssq_old=old.value, ssq_trial=trial.value, predicted=outcome.predicted,
        rho=outcome.rho, step_norm=norm(scale_old * delta), x_norm=norm(scale_old * old.x))
    candidate = small_f | small_x
    checked = candidate & small_x
    gn_step_norm, zero_residual = gauss_newton_check(provider, settings, state, rows, now,
                                                     checked)
    cosine = gradient_cosine(now.colsq, now.grad, now.value)
    ftol, xtol = confirmed(criteria, small_f=small_f, small_x=checked, cosine=cosine,
                           gn_step_norm=gn_step_norm, x_norm=norm(np.sqrt(now.d2) * now.x),
                           zero_residual=zero_residual)
    state.status[rows] = stop_status(criteria, ssq=now.ssq, cosine=cosine,
                                     mu=state.mu[rows], floor=outcome.floor,
                                     fails=state.fails[rows], ftol=ftol, xtol=xtol)
    return candidate & ~(ftol | xtol), checked


def gauss_newton_check(provider: Provider, settings: LMSettings, state: LMState,
                       rows: np.ndarray, now: Point, checked):
    """``(gn_step_norm, zero_residual)`` of the rows ``checked``: the scaled norm of the
    undamped Gauss-Newton step of the objective's least-squares system at the new point
    (:func:`.gauss_newton_step`, ``J`` evaluated again) and whether its residuals have
    vanished (:func:`.vanished`); zero elsewhere."""
    gn_step_norm = np.zeros(len(rows))
    zero_residual = np.zeros(len(rows), bool)
    for i in np.flatnonzero(checked):
        x, d2 = now.x[i], now.d2[i]
        jac, res = settings.objective.augmented(provider.jacobian(x), now.r[i], x,
                                                rows_of(now.objective, i))
        step, gn_predicted = gauss_newton_step(jac, res, d2)
        gn_step_norm[i] = norm(np.sqrt(d2) * step)
        zero_residual[i] = vanished(now.value[i], state.ssq0[rows[i]], gn_predicted)
    return gn_step_norm, zero_residual


def lm_step(provider: Provider, settings: LMSettings, state: LMState,
            rows: np.ndarray) -> StepInfo:
    """One Levenberg-Marquardt iteration of the running rows ``rows`` (indices), which
    it updates in ``state``; the other rows are not touched: :func:`propose`,
    :func:`try_step`, :func:`accept`, :func:`judge`, and the count of evaluations."""
    old = point(settings, state, rows)
    delta, fallback, evaluations = propose(provider, settings, state, rows, old)
    trial = try_step(provider, settings, old, delta)
    outcome = accept(provider, settings, state, rows, old, delta, trial)
    vetoed, checked = judge(provider, settings, state, rows, old, delta, trial, outcome)
    state.nit[rows] += 1
    state.nfev[rows] += 1 + evaluations
    state.njev[rows] += (trial.decreased.astype(int) + fallback.astype(int)
                         + checked.astype(int))
    return StepInfo(outcome.accepted, fallback, vetoed)


#: Per-iteration history columns and their dtypes (row 0 is the start); and the
#: objective's (its ``history``: with Bayesian regularisation ``alpha``, ``beta``,
#: ``gamma``, the effective parameters).
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
    own = settings.objective.history
    columns.update({name: state.objective_state[name] for name in own})
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
        for name in ("ssq", "val_ssq", "mu", "time_s"):
            history[name].append(getattr(state, name).copy())
        for name in own:
            history[name].append(state.objective_state[name].copy())
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
