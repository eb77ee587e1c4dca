"""Stopping tests: when an LM run has converged, and when it must give up.

The convergence tests are MINPACK's (Moré 1978, section 8; Moré, Garbow & Hillstrom,
*User guide for MINPACK-1*, ANL-80-74, 1980, section 2.3), written for the SSQ
``f = ||r||^2`` and a step ``delta`` from the damped equations:

* ``gtol`` -- the largest cosine between ``r`` and a column of ``J`` is at most
  ``gtol``: ``max_j |J_j^T r| / (||J_j|| ||r||) <= gtol`` (columns with ``J_j = 0``
  skipped). The same quantity as MINPACK's ``gnorm`` and scipy's ``gtol`` for
  ``method='lm'``, so ``solve="numpy"`` and ``solve="scipy"`` mean one thing.
* ``ftol`` -- both the actual and the predicted relative reduction of the last step are
  at most ``ftol`` and the model was not far off (gain ratio ``rho <= 2``):
  ``|1 - f(x+delta)/f(x)| <= ftol``, ``(||J delta||^2 + 2 mu ||D delta||^2)/f(x) <= ftol``
  (MINPACK's ``actred``, ``prered``, ``0.5 * ratio <= 1``; ``actred = -1`` when the
  trial SSQ is more than 100 times the current one, as in MINPACK).
* ``xtol`` -- the scaled step is small against the scaled point:
  ``||D delta|| <= xtol ||D x||`` (MINPACK: the trust radius against ``||D x||``).

A small damped step says nothing by itself: a large ``mu`` makes every step small, so
the two step tests above can hold far from a minimum (we saw it on Moré-Garbow-
Hillstrom problems with ``D = I``). MINPACK's trust-region logic grows the step again
after a good one; a ``mu`` rule does not. So here ``ftol`` and ``xtol`` are only
*candidates*, confirmed by a test of the point rather than of the step:

* ``ftol`` is confirmed when the point is first-order stationary to the same
  tolerance: every column cosine of the ``gtol`` test is at most ``sqrt(ftol)``, i.e.
  no scaled coordinate direction's linear model offers a relative reduction of the
  SSQ above ``ftol`` (``cos_j^2`` is exactly that reduction).
* ``xtol`` is confirmed when the *undamped* Gauss-Newton step
  (:func:`.gauss_newton_step`, an SVD of ``J D^-1`` at the point) passes the same
  test, ``||D delta_GN|| <= xtol ||D x||`` (the step was small because the model says
  there is nowhere to go, not because ``mu`` was large), and the point is first-order
  stationary to ``sqrt(xtol)`` in the cosine sense or the residuals have vanished to
  working precision (:func:`vanished`: a zero-residual solution, where the cosines need
  not be small). A relative step test alone also holds where the iterates drift
  off towards a minimum at infinity, or crawl with ``||x||`` large (we saw both on
  Moré-Garbow-Hillstrom problems from 100 x0).

Otherwise the run goes on. A refused candidate is recorded (``vetoed`` in the
history).

Stops that are not convergence: ``max_iter``, ``mu_max``, validation ``max_fail``,
``max_time``, the progress callback (scipy's convention: a callback stop is not a
success) -- see :class:`.Status`.

Every function is elementwise over runs: numpy arrays with one entry (or one row) per
run of a batch. They may meet NaN and Inf (a failed trial); the loop runs them under
``np.errstate(all="ignore")``, where such values are expected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .result import Status

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


def gradient_cosine(colsq, grad, ssq):
    """``max_j |J_j^T r| / (||J_j|| ||r||)``, MINPACK's ``gnorm``; 0 when ``r = 0``.

    ``colsq`` holds the squared column norms ``||J_j||^2`` (``diag(J^T J)``); zero
    columns are skipped.
    """
    # sqrt of each factor apart: their product can underflow where neither does
    norms = np.sqrt(colsq) * np.sqrt(ssq)[..., None]
    positive = norms > 0
    cos = np.where(positive, np.abs(grad) / np.where(positive, norms, 1.0), 0.0)
    return np.max(cos, axis=-1)


def actual_reduction(ssq_old, ssq_trial):
    """MINPACK's ``actred``: ``1 - f_trial / f``, or -1 when ``f_trial`` is not finite
    or more than 100 times ``f`` (``0.1 * fnorm1 >= fnorm`` in ``lmder``)."""
    safe = np.where(ssq_old > 0, ssq_old, 1.0)
    usable = np.isfinite(ssq_trial) & (ssq_trial < 100.0 * ssq_old)
    return np.where(usable, 1.0 - ssq_trial / safe, -1.0)


def step_candidates(criteria: Criteria, *, ssq_old, ssq_trial, predicted, rho, step_norm,
                    x_norm):
    """``(ftol_candidate, xtol_candidate)`` of the last step (MINPACK's tests)."""
    safe = np.where(ssq_old > 0, ssq_old, 1.0)
    small_f = ((np.abs(actual_reduction(ssq_old, ssq_trial)) <= criteria.ftol)
               & (predicted / safe <= criteria.ftol) & (rho <= 2.0))
    small_x = step_norm <= criteria.xtol * x_norm
    return small_f, small_x


def vanished(ssq, ssq0, gn_predicted):
    """A zero residual reached to working precision: ``f <= eps^2 f(x0)`` and the linear
    model accounts for the residual, ``f - pred_GN <= 1e-4 f`` (near a zero-residual
    solution ``r ~ J e``, so a Gauss-Newton step would zero it). The first alone is not
    enough: from a start with huge residuals (MGH Jennrich-Sampson from 10 x0,
    ``f(x0) ~ 1e34``) it holds at a stationary-looking stall with ``f = 260``. A
    zero-residual run that stops short of this ends as ``max_iter`` or ``mu_max``,
    never as a false success."""
    eps = np.finfo(np.float64).eps
    return (ssq <= eps ** 2 * ssq0) & (ssq - gn_predicted <= 1e-4 * ssq)


def confirmed(criteria: Criteria, *, small_f, small_x, cosine, gn_step_norm, x_norm,
              zero_residual):
    """``(ftol, xtol)``: the step tests confirmed at the point (see the module text);
    ``zero_residual`` is :func:`vanished` at the point."""
    ftol = small_f & (cosine <= criteria.ftol ** 0.5)
    xtol = (small_x & (gn_step_norm <= criteria.xtol * x_norm)
            & ((cosine <= criteria.xtol ** 0.5) | zero_residual))
    return ftol, xtol


def stop_status(criteria: Criteria, *, ssq, cosine, mu, floor, fails, ftol, xtol):
    """The :class:`.Status` after an iteration, ``RUNNING`` if no test fires.

    Priority (the first that holds wins): ``ssq <= ssq_goal``; ``gtol``; ``ftol`` and
    ``xtol`` together; ``ftol``; ``xtol``; validation ``max_fail``; ``mu > mu_max``.
    ``ftol`` and ``xtol`` are the confirmed tests of :func:`confirmed`. ``mu_max`` fires
    only when ``mu`` is above its floor (:func:`.engine.mu_floor`): on a problem whose
    ``J^T J`` is huge the floor alone may exceed an absolute ``mu_max``, and no step has
    failed yet.
    """
    tests = [
        (Status.SSQ_GOAL, ssq <= criteria.ssq_goal),
        (Status.GTOL, cosine <= criteria.gtol),
        (Status.FTOL_XTOL, ftol & xtol),
        (Status.FTOL, ftol),
        (Status.XTOL, xtol),
        # mu above mu_max because steps failed, not because the floor put it there
        (Status.MU_MAX, (mu > criteria.mu_max) & (mu > floor)),
    ]
    if criteria.max_fail is not None:
        tests.insert(-1, (Status.VALIDATION, fails >= criteria.max_fail))
    hits = np.stack(np.broadcast_arrays(*(hit for _, hit in tests)))
    codes = np.array([int(code) for code, _ in tests])
    return np.where(hits.any(axis=0), codes[hits.argmax(axis=0)], RUNNING)
