"""Bayesian regularisation of the LM objective (MATLAB's ``trainbr``).

MacKay (1992, "Bayesian interpolation", *Neural Computation* 4(3)) and Foresee & Hagan
(1997, "Gauss-Newton approximation to Bayesian learning", *Proc. ICNN* 3, 1930-1935):
minimise

    F(w) = beta E_D + alpha E_W,   E_D = ||r(w)||^2 (the SSQ),  E_W = ||w||^2,

with ``alpha`` and ``beta`` re-estimated after every accepted step from the
effective number of parameters

    gamma = N - 2 alpha tr(H^-1) = N - alpha tr((beta J^T J + alpha I)^-1),

``H = 2 beta J^T J + 2 alpha I`` the Gauss-Newton Hessian of ``F`` and ``N`` the
number of parameters: ``alpha = gamma / (2 E_W)``, ``beta = (n - gamma) / (2 E_D)``
with ``n`` residuals. The run starts from ``alpha = 0``, ``beta = 1`` (plain LM for
the first step), as Foresee & Hagan do. ``F`` is a least-squares objective, the SSQ
of ``[sqrt(beta) r; sqrt(alpha) w]``, so the loop's tests keep their meaning for it:
its gradient is ``beta J^T r + alpha w``, its Gauss-Newton matrix ``beta J^T J + alpha
I``, its squared column norms ``beta diag(J^T J) + alpha``.

Validation early stopping is what regularisation replaces (``trainbr`` turns it off);
it can still be recorded. Steps are solved in parameter space only: the regularised
matrix has no sample-space form of the same cost.

:class:`Bayesian` is this objective for the loop (:mod:`.objective` gives the
protocol); the functions below are its arithmetic, on rows of a batch or one run.
"""

from __future__ import annotations

import numpy as np

from .linalg import DampedSystem
from .objective import SumOfSquares


def objective(ssq, x, alpha, beta):
    """``F = beta ssq + alpha ||x||^2`` (rows of ``x``)."""
    return beta * ssq + alpha * np.einsum("...i,...i->...", x, x)


def gradient(grad, x, alpha, beta):
    """``beta J^T r + alpha x``."""
    return beta[..., None] * grad + alpha[..., None] * x


def column_norms(colsq, alpha, beta):
    """Squared column norms of ``[sqrt(beta) J; sqrt(alpha) I]``."""
    return beta[..., None] * colsq + alpha[..., None]


def augmented(jac, r, x, alpha, beta):
    """``(J_F, r_F)``: the Jacobian and residuals whose SSQ is ``F`` (one run)."""
    return (np.vstack([np.sqrt(beta) * jac, np.sqrt(alpha) * np.eye(len(x))]),
            np.concatenate([np.sqrt(beta) * r, np.sqrt(alpha) * x]))


def reestimate(jtj, ssq, x, alpha, beta, m: int):
    """New ``(alpha, beta, gamma)`` of one run at its current point (``jtj`` the upper
    triangle of ``J^T J`` there, ``m`` residuals). ``gamma`` is kept in ``[0, m - 1]``
    so that ``beta`` stays positive when there are more parameters than residuals; a
    zero ``E_W`` or ``E_D`` keeps the old ``alpha`` or ``beta``."""
    n = len(x)
    if alpha == 0:  # every parameter effective (no matrix needed: J^T J may be singular)
        gamma = float(n)
    else:
        system = DampedSystem(jtj, 0.0, np.ones(n), scale=beta, shift=alpha)
        if not system.ok:  # the matrix lost rank to rounding: keep the estimates
            return alpha, beta, np.nan
        gamma = n - alpha * system.inverse_trace()
    gamma = min(max(gamma, 0.0), m - 1.0)
    e_w = float(x @ x)
    new_alpha = gamma / (2.0 * e_w) if e_w > 0 else alpha
    new_beta = (m - gamma) / (2.0 * ssq) if ssq > 0 else beta
    return new_alpha, new_beta, gamma


class Bayesian(SumOfSquares):
    """``F = beta ssq + alpha ||x||^2`` (see the module text). Its state per run:
    ``alpha`` (0 at the start), ``beta`` (1) and ``gamma``, the effective number of
    parameters (``n``), all three recorded in the history."""

    history = ("alpha", "beta", "gamma")
    spaces = ("parameters",)

    def init(self, size: int, n: int) -> dict:
        return {"alpha": np.zeros(size), "beta": np.ones(size),
                "gamma": np.full(size, float(n))}

    def value(self, ssq, x, state):
        return objective(ssq, x, state["alpha"], state["beta"])

    def gradient(self, grad, x, state):
        return gradient(grad, x, state["alpha"], state["beta"])

    def column_norms(self, colsq, state):
        return column_norms(colsq, state["alpha"], state["beta"])

    def system_terms(self, state) -> tuple:
        """``(beta, alpha)``: the Gauss-Newton matrix ``beta J^T J + alpha I``."""
        return state["beta"], state["alpha"]

    def model(self, jdelta_sq, delta, state):
        """``beta ||J delta||^2 + alpha ||delta||^2``."""
        return state["beta"] * jdelta_sq + state["alpha"] * np.einsum("...i,...i->...",
                                                                     delta, delta)

    def augmented(self, jac, r, x, state) -> tuple:
        return augmented(jac, r, x, state["alpha"], state["beta"])

    def reestimate(self, state, curvature, ssq, x, m: int) -> dict:
        """MacKay's re-estimates (:func:`reestimate`) at each accepted row's new point,
        from its own ``alpha`` and ``beta`` (one LAPACK call per row)."""
        new = {name: values.copy() for name, values in state.items()}
        for j, jtj in enumerate(curvature):
            new["alpha"][j], new["beta"][j], new["gamma"][j] = reestimate(
                jtj, ssq[j], x[j], state["alpha"][j], state["beta"][j], m)
        return new
