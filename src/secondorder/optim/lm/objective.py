"""The objective the loop minimises, as its phases (:mod:`.engine`) ask for it.

Plain LM minimises the SSQ, ``F = ||r||^2`` (:class:`SumOfSquares`); Bayesian
regularisation minimises ``F = beta ||r||^2 + alpha ||x||^2`` with ``alpha`` and
``beta`` re-estimated as the run goes (:class:`.regularization.Bayesian`). Either is a
least-squares objective, the SSQ of some residuals ``r_F`` with Jacobian ``J_F``, so
the loop's step, model and tests keep their meaning for it. An objective owns its
state, one entry per run (a dict of arrays with a leading axis; empty for the SSQ), and
gives, for the rows it is handed (``state`` their entries; one row: scalars):

* ``value(ssq, x, state)``: ``F``;
* ``gradient(grad, x, state)``: ``J_F^T r_F`` from ``grad = J^T r``;
* ``column_norms(colsq, state)``: the squared column norms of ``J_F`` from those of
  ``J`` (the convergence tests' cosines and the floor of ``mu``);
* ``system_terms(state)`` (one row): ``(scale, shift)`` of the damped matrix
  ``scale J^T J + shift I + mu D^2`` (:class:`.linalg.DampedSystem`);
* ``model(jdelta_sq, delta, state)``: ``||J_F delta||^2`` from ``||J delta||^2``, the
  curvature term of the predicted reduction (:class:`.steps.Geodesic`);
* ``augmented(jac, r, x, state)`` (one row): ``(J_F, r_F)``, for the QR solve and the
  Gauss-Newton check;
* ``reestimate(state, curvature, ssq, x, m)``: the state after accepted steps to ``x``
  (``curvature`` their ``J^T J``), and ``init(size, n)`` the state at the start;
* ``history``: the state's entries recorded in each run's history; ``spaces``: the
  step spaces (:mod:`.linalg`) where its damped system can be solved.
"""

from __future__ import annotations

import numpy as np


class SumOfSquares:
    """``F = ssq = ||r||^2``: every quantity is the SSQ's own (``r_F = r``,
    ``J_F = J``); no state."""

    history: tuple = ()
    spaces: tuple = ("parameters", "samples")

    def init(self, size: int, n: int) -> dict:
        return {}

    def value(self, ssq, x, state):
        return ssq

    def gradient(self, grad, x, state):
        return grad

    def column_norms(self, colsq, state):
        return colsq

    def system_terms(self, state) -> tuple:
        return 1.0, 0.0

    def model(self, jdelta_sq, delta, state):
        return jdelta_sq

    def augmented(self, jac, r, x, state) -> tuple:
        return jac, r

    def reestimate(self, state, curvature, ssq, x, m: int) -> dict:
        return state

