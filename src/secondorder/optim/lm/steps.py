"""The step taken from the damped system's solution, and the reduction it predicts.

:class:`DampedStep` takes the solution ``delta`` of the damped system as it is, whose
predicted reduction has the closed form :func:`.damping.predicted_reduction`.
:class:`Geodesic` adds the geodesic acceleration (Transtrum & Sethna 2012): one more
residual evaluation per step and the Jacobian kept, and the reduction that the linear
model predicts for the step taken. A step gives, for the loop (:mod:`.engine`):

* ``keeps_jacobian``: whether the loop must keep ``J`` of each run;
* ``correct(provider, space, system, velocity, x, r, jac, d2)`` (one row):
  ``(delta, evaluations)``, the step taken from the damped system's solution
  ``velocity`` (``system`` its factored matrix and ``space`` the space's solve,
  :mod:`.linalg`) and the residual evaluations it cost;
* ``predicted(delta, grad, mu, d2, jacs, objective, state)`` (rows): the objective's
  predicted reduction ``L(0) - L(delta)`` (``jacs`` each row's ``J``, when kept;
  ``state`` the objective's, :mod:`.objective`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .damping import predicted_reduction
from .linalg import norm, sum_of_squares


class DampedStep:
    """``delta`` itself: the Levenberg-Marquardt step."""

    keeps_jacobian = False

    def correct(self, provider, space, system, velocity, x, r, jac, d2):
        return velocity, 0

    def predicted(self, delta, grad, mu, d2, jacs, objective, state):
        """``-delta^T g + mu delta^T D^2 delta`` (:func:`.damping.predicted_reduction`),
        exact for the damped system's solution."""
        return predicted_reduction(delta, grad, mu, d2)


@dataclass(frozen=True)
class Geodesic:
    """The damped step with its geodesic acceleration (Transtrum & Sethna 2012,
    "Improvements to the Levenberg-Marquardt algorithm for nonlinear least-squares
    minimization", arXiv:1201.5885, eqs. 14-15): ``h`` the finite difference of the
    second directional derivative, ``alpha`` the largest ``2 ||D a|| / ||D v||``
    for which the acceleration is added."""

    h: float = 0.1
    alpha: float = 0.75

    keeps_jacobian = True

    def acceleration(self, provider, space, system, velocity, x, r, jac, d2):
        """``(a, ratio)`` of one run at ``x`` (residuals ``r``, Jacobian ``jac``).

        ``a`` solves ``(J^T J + mu D^2) a = -J^T r_vv`` with the same factor as the step
        ``v`` (``velocity``), ``r_vv`` the second directional derivative of the
        residuals along ``v`` by finite differences, ``(2 / h) ((r(x + h v) - r(x)) / h
        - J v)`` (one more residual evaluation); with Bayesian regularisation the
        objective's residuals are ``sqrt(beta) r``, so the right-hand side is
        ``beta J^T r_vv`` (:meth:`.ParameterSpace.residual_step`).
        ``ratio = 2 ||D a|| / ||D v||``.
        """
        h = self.h
        r_h = provider.residuals(x + h * velocity)
        r_vv = (2.0 / h) * ((r_h - r) / h - jac @ velocity)
        accel = space.residual_step(system, r_vv, jac, d2)
        scale = np.sqrt(d2)
        return accel, 2.0 * norm(scale * accel) / norm(scale * velocity)

    def correct(self, provider, space, system, velocity, x, r, jac, d2):
        """``v + a / 2`` when ``ratio <= alpha``; a larger ratio means the second-order
        term is not small (or, near a minimum where ``v ~ 0``, that the finite
        difference is all rounding), and the plain step ``v`` is tried instead.
        (Transtrum & Sethna refuse the step there, which raises ``mu``: near a minimum
        it refuses steps for rounding noise.) One residual evaluation either way."""
        accel, ratio = self.acceleration(provider, space, system, velocity, x, r, jac, d2)
        return (velocity + 0.5 * accel if ratio <= self.alpha else velocity), 1

    def predicted(self, delta, grad, mu, d2, jacs, objective, state):
        """The linear model at the step taken: ``-2 delta^T g - ||J_F delta||^2``
        (the closed form of :class:`DampedStep` holds for ``v`` only)."""
        jac_delta = np.stack([jac @ step for jac, step in zip(jacs, delta)])
        model_sq = objective.model(sum_of_squares(jac_delta), delta, state)
        return -2.0 * np.einsum("ij,ij->i", delta, grad) - model_sq
