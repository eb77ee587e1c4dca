"""Stopping codes and the result record of :func:`secondorder.optim.lm.least_squares`.

The vocabulary follows ``scipy.optimize.least_squares`` (``x``, ``cost``, ``fun``,
``jac``, ``grad``, ``optimality``, ``active_mask``, ``status``, ``message``,
``success``, ``nfev``, ``njev``); codes 0..4 mean what they mean there (0: the
budget of evaluations or iterations is spent), codes 5..9 are the stopping rules
scipy does not have (MATLAB ``trainlm``'s goal, ``mu_max``, ``max_fail`` and
``time``, and a user callback), and -1 is a start where the
residuals or the Jacobian are not finite (scipy's -1, "improper input parameters",
is MINPACK's refusal of its arguments, which scipy's own checks pre-empt).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class Status(IntEnum):
    """Why the iteration stopped (``LMResult.status``).

    ===  ===============  ===========================================================
    -1   NONFINITE_START  residuals or Jacobian not finite at ``x0``; nothing was done
     0   MAX_ITER         ``max_iter`` iterations done
     1   GTOL             ``max_j |J_j^T r| / (||J_j|| ||r||) <= gtol`` (MINPACK's)
     2   FTOL             actual and predicted relative reduction <= ``ftol``,
                          confirmed by the Gauss-Newton model (:mod:`.termination`)
     3   XTOL             ``||D delta|| <= xtol ||D x||``, confirmed likewise
     4   FTOL_XTOL        both 2 and 3 on the same step
     5   SSQ_GOAL         ``ssq <= ssq_goal`` (trainlm's ``goal``)
     6   MU_MAX           damping ``mu > mu_max`` (trainlm's ``mu_max``): no step helps
     7   VALIDATION       ``max_fail`` accepted steps in a row without a new best
                          validation SSQ (trainlm's ``max_fail``)
     8   MAX_TIME         ``max_time`` seconds of the run's own compute used
     9   CALLBACK         the ``progress`` callback returned ``True`` (or a scipy-style
                          ``callback`` raised ``StopIteration``: scipy's -2)
    ===  ===============  ===========================================================

    ``RUNNING`` marks a run still going inside the loop; it is never returned.
    scipy's ``success`` is ``status > 0``; here only 1-5 are successes (6-9 are not:
    nothing says the point is a minimum).
    """

    NONFINITE_START = -1
    MAX_ITER = 0
    GTOL = 1
    FTOL = 2
    XTOL = 3
    FTOL_XTOL = 4
    SSQ_GOAL = 5
    MU_MAX = 6
    VALIDATION = 7
    MAX_TIME = 8
    CALLBACK = 9
    RUNNING = 99


MESSAGES = {
    Status.NONFINITE_START: "Residuals or Jacobian are not finite at the initial point.",
    Status.MAX_ITER: "The maximum number of iterations is exceeded.",
    Status.GTOL: "`gtol` termination condition is satisfied.",
    Status.FTOL: "`ftol` termination condition is satisfied.",
    Status.XTOL: "`xtol` termination condition is satisfied.",
    Status.FTOL_XTOL: "Both `ftol` and `xtol` termination conditions are satisfied.",
    Status.SSQ_GOAL: "The sum of squares reached `ssq_goal`.",
    Status.MU_MAX: "The damping parameter exceeded `mu_max`: no step reduces the SSQ.",
    Status.VALIDATION: "Validation SSQ did not improve for `max_fail` accepted steps.",
    Status.MAX_TIME: "The time limit `max_time` is exceeded.",
    Status.CALLBACK: "Stopped by the progress callback.",
}

#: Stops that mean a convergence test passed or the SSQ reached the caller's goal.
#: Validation early stopping, the time limit and a callback stop are not successes
#: (scipy's convention for a callback stop): nothing says the point is a minimum.
SUCCESS = frozenset({Status.GTOL, Status.FTOL, Status.XTOL, Status.FTOL_XTOL,
                     Status.SSQ_GOAL})


@dataclass
class LMResult:
    """Outcome of a least-squares solve.

    Attributes
    ----------
    x : parameters returned (the best-validation ones when early stopping is on).
    cost : ``0.5 * sum(fun**2)``, scipy's objective.
    fun : residuals at ``x``.
    ssq : ``sum(fun**2)`` (the article's loss), ``2 * cost``.
    status, message, success : see :class:`Status`.
    nit : iterations, i.e. trial steps (accepted or not); ``nfev - 1`` for both solvers.
    nfev, njev : residual and Jacobian evaluations (validation not counted). As in
        scipy 1.17, the evaluations of the residuals spent on a finite-difference
        Jacobian are not in ``nfev``, and ``njev`` is then ``None``.
    time_s : this run's own compute, seconds: alone, its wall time from the start of
        the solve until it stopped; in a batch, its share of the batch's (each
        iteration's seconds split over the runs that took part in it). Compilation
        and progress callbacks are not counted.
    compile_s : seconds spent compiling and warming up the model's functions before
        the timed solve (once per batch).
    batch_wall_s, batch_size : seconds of the whole batch's solve (the sum of its
        rows' ``time_s``), and its number of rows (1 for a lone fit, where
        ``batch_wall_s == time_s``).
    history : per-iteration numpy arrays ``iteration, ssq, val_ssq (if validation),
        mu, accepted, fallback, vetoed, time_s`` (``time_s`` cumulative); row 0 is the start ``x0``. ``ssq`` is the
        SSQ of the current (last accepted) iterate.
    jac, grad, optimality, active_mask : scipy's: the ``(m, n)`` Jacobian at ``x``
        (by the same rule as during the run: the given ``jac``, autodiff or finite
        differences), the gradient ``J^T fun`` of ``cost``, its largest absolute
        entry (scipy's first-order optimality of an unbounded problem), and ``n``
        integer zeros (no bound is ever active). :func:`.least_squares` fills them
        (one more Jacobian at ``x``, not counted in ``njev``, as in scipy);
        :func:`.least_squares_batch` leaves them ``None`` (no extra work per row).
    """

    x: np.ndarray
    cost: float
    fun: np.ndarray
    ssq: float
    status: Status
    message: str
    success: bool
    nit: int
    nfev: int
    njev: int | None
    time_s: float
    compile_s: float
    batch_wall_s: float = 0.0
    batch_size: int = 1
    history: dict = field(default_factory=dict, repr=False)
    jac: np.ndarray | None = field(default=None, repr=False)
    grad: np.ndarray | None = None
    optimality: float | None = None
    active_mask: np.ndarray | None = None


def make_result(x, fun, status, *, nit, nfev, njev, time_s, compile_s, history,
                batch_wall_s=None, batch_size=1) -> LMResult:
    """Fill in the derived fields (cost, ssq, message, success) of an :class:`LMResult`."""
    x = np.asarray(x, dtype=np.float64)
    fun = np.asarray(fun, dtype=np.float64)
    ssq = float(np.dot(fun, fun))
    status = Status(int(status))
    return LMResult(x=x, cost=0.5 * ssq, fun=fun, ssq=ssq, status=status,
                    message=MESSAGES[status], success=status in SUCCESS, nit=int(nit),
                    nfev=int(nfev), njev=int(njev), time_s=float(time_s),
                    compile_s=float(compile_s),
                    batch_wall_s=float(time_s if batch_wall_s is None else batch_wall_s),
                    batch_size=int(batch_size), history=history)


def add_derivatives(result: LMResult, jac) -> LMResult:
    """``result`` with scipy's ``jac`` (the Jacobian at ``result.x``), ``grad =
    J^T fun``, ``optimality = max |grad|`` and ``active_mask`` (zeros: no bounds)."""
    jac = np.asarray(jac, dtype=np.float64)
    result.jac = jac
    result.grad = jac.T @ result.fun
    result.optimality = float(np.max(np.abs(result.grad), initial=0.0))
    result.active_mask = np.zeros(result.x.size, dtype=int)
    return result
