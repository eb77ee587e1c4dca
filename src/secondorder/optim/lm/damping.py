"""Damping rules: how the LM parameter ``mu`` changes after a trial step.

A rule is an object with ``update(mu, nu, accepted, rho) -> (mu, nu)``, elementwise on
numpy arrays (one entry per run of a batch). ``accepted`` says whether the trial step
lowered the SSQ, ``rho`` is the gain ratio

    rho = (ssq(x) - ssq(x + delta)) / (L(0) - L(delta)),  L(d) = ||r + J d||^2,

the actual over the predicted reduction (:func:`gain_ratio`). ``nu`` is Nielsen's
growth factor; rules that do not use it pass it through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def predicted_reduction(delta, grad, mu, d2):
    """``L(0) - L(delta) = -delta^T J^T r + mu * delta^T D^T D delta``.

    Exact for the step solving ``(J^T J + mu D^T D) delta = -J^T r`` (substitute
    ``J^T J delta``), and positive whenever ``delta != 0`` (Nielsen 1999, eq. 2.5,
    here for the SSQ rather than half of it). Vectors on the last axis, ``mu`` one per
    vector.
    """
    mu = np.asarray(mu)
    return np.sum(delta * (mu[..., None] * d2 * delta - grad), axis=-1)


def gain_ratio(actual, predicted):
    """``rho = actual / predicted``; 0 where the prediction is not positive (or the
    actual reduction is not a number: a non-finite trial)."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    positive = predicted > 0
    rho = np.where(positive, actual / np.where(positive, predicted, 1.0), 0.0)
    return np.where(np.isnan(rho), 0.0, rho)


@dataclass(frozen=True)
class Marquardt:
    """Marquardt (1963) multiply/divide rule with MATLAB ``trainlm`` defaults.

    ``mu <- mu * decrease`` after an accepted step, ``mu <- mu * increase`` after a
    rejected one (``trainlm``: ``mu = 1e-3``, ``mu_dec = 0.1``, ``mu_inc = 10``).
    ``rho`` and ``nu`` are not used.
    """

    decrease: float = 0.1
    increase: float = 10.0

    def __post_init__(self):
        if not 0.0 < self.decrease < 1.0:
            raise ValueError(f"mu_dec must be in (0, 1), got {self.decrease!r}")
        if not self.increase > 1.0:
            raise ValueError(f"mu_inc must be > 1, got {self.increase!r}")

    def update(self, mu, nu, accepted, rho):
        return np.where(accepted, mu * self.decrease, mu * self.increase), nu


@dataclass(frozen=True)
class Nielsen:
    """Nielsen's gain-ratio rule (Nielsen 1999, IMM-REP-1999-05, eq. 4.1; Madsen,
    Nielsen & Tingleff 2004, Algorithm 3.16).

    Accepted step: ``mu <- mu * max(1/3, 1 - (2 rho - 1)^3)``, ``nu <- 2``.
    Rejected step: ``mu <- mu * nu``, ``nu <- 2 nu``.
    """

    def update(self, mu, nu, accepted, rho):
        shrink = np.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
        mu_new = np.where(accepted, mu * shrink, mu * nu)
        nu_new = np.where(accepted, 2.0, 2.0 * nu)
        return mu_new, nu_new


def make_damping(damping, mu_dec: float, mu_inc: float):
    """A damping rule from its name (``"marquardt"``, ``"nielsen"``) or a rule object
    (anything with an ``update`` method, returned as is)."""
    if hasattr(damping, "update"):
        return damping
    if damping == "marquardt":
        return Marquardt(mu_dec, mu_inc)
    if damping == "nielsen":
        return Nielsen()
    raise ValueError(f"damping must be 'marquardt', 'nielsen' or an object with an "
                     f"update(mu, nu, accepted, rho) method, got {damping!r}")
