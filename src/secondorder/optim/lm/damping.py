"""Damping rules: how the LM parameter ``mu`` changes after a trial step.

A rule owns the state it needs, one entry per run of a batch. Its protocol:

* ``init(size) -> state``: the state of ``size`` runs before their first step:
  ``None`` (no state), a numpy array with a leading axis ``size``, or a dict of such
  arrays;
* ``update(mu, state, accepted, rho) -> (mu, state)``: elementwise on numpy arrays
  (one entry per run, ``state`` those runs' entries): the next ``mu`` and state after a
  trial step. ``accepted`` says whether the step lowered the objective and was taken,
  ``rho`` is the gain ratio

      rho = (ssq(x) - ssq(x + delta)) / (L(0) - L(delta)),  L(d) = ||r + J d||^2,

  the actual over the predicted reduction (:func:`gain_ratio`).

The loop (:mod:`.engine`) keeps the state, hands each iteration's running runs their
entries and never reads it; it keeps ``mu`` at or above its floor afterwards
(:func:`.engine.mu_floor`). :class:`DampingRule` is a base with no state.

:data:`RULES` maps the configuration's names to the rule classes and
:func:`make_damping` builds one from the options (``mu_dec``, ``mu_inc``;
:meth:`DampingRule.from_options`): a new rule is its class and one entry in
:data:`RULES`.
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


class DampingRule:
    """The base of the rules: no state, built from the options by calling the class
    with none of them (a rule that takes ``mu_dec`` or ``mu_inc`` overrides
    :meth:`from_options`). Subclasses give :meth:`update`."""

    @classmethod
    def from_options(cls, mu_dec: float, mu_inc: float) -> DampingRule:
        return cls()

    def init(self, size: int):
        """The state of ``size`` runs: none."""
        return None

    def update(self, mu, state, accepted, rho):
        raise NotImplementedError


@dataclass(frozen=True)
class Marquardt(DampingRule):
    """Marquardt (1963) multiply/divide rule with MATLAB ``trainlm`` defaults.

    ``mu <- mu * decrease`` after an accepted step, ``mu <- mu * increase`` after a
    rejected one (``trainlm``: ``mu = 1e-3``, ``mu_dec = 0.1``, ``mu_inc = 10``).
    ``rho`` is not used; no state.
    """

    decrease: float = 0.1
    increase: float = 10.0

    def __post_init__(self):
        if not 0.0 < self.decrease < 1.0:
            raise ValueError(f"mu_dec must be in (0, 1), got {self.decrease!r}")
        if not self.increase > 1.0:
            raise ValueError(f"mu_inc must be > 1, got {self.increase!r}")

    @classmethod
    def from_options(cls, mu_dec: float, mu_inc: float) -> Marquardt:
        return cls(mu_dec, mu_inc)

    def update(self, mu, state, accepted, rho):
        return np.where(accepted, mu * self.decrease, mu * self.increase), state


@dataclass(frozen=True)
class Nielsen(DampingRule):
    """Nielsen's gain-ratio rule (Nielsen 1999, IMM-REP-1999-05, eq. 4.1; Madsen,
    Nielsen & Tingleff 2004, Algorithm 3.16). Its state is the growth factor ``nu``,
    2 at the start.

    Accepted step: ``mu <- mu * max(1/3, 1 - (2 rho - 1)^3)``, ``nu <- 2``.
    Rejected step: ``mu <- mu * nu``, ``nu <- 2 nu``.
    """

    def init(self, size: int) -> np.ndarray:
        """``nu = 2`` for each of ``size`` runs."""
        return np.full(size, 2.0)

    def update(self, mu, nu, accepted, rho):
        shrink = np.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
        mu_new = np.where(accepted, mu * shrink, mu * nu)
        nu_new = np.where(accepted, 2.0, 2.0 * nu)
        return mu_new, nu_new


#: The damping rules by their names in the options and the configuration.
RULES: dict[str, type] = {"marquardt": Marquardt, "nielsen": Nielsen}


def make_damping(damping, mu_dec: float, mu_inc: float):
    """A damping rule from its name in :data:`RULES` (built by its ``from_options``
    with ``mu_dec`` and ``mu_inc``) or a rule object (anything with ``init`` and
    ``update`` methods, see the module text), returned as it is."""
    if hasattr(damping, "update") and hasattr(damping, "init"):
        return damping
    if isinstance(damping, str) and damping in RULES:
        return RULES[damping].from_options(mu_dec, mu_inc)
    names = ", ".join(repr(name) for name in RULES)
    raise ValueError(f"damping must be one of {names} or an object with init(size) and "
                     f"update(mu, state, accepted, rho) methods, got {damping!r}")
