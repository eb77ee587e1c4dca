"""Jacobians of numpy residual functions by finite differences, scipy's rule.

``jac="2-point"``, ``"3-point"`` and ``"cs"`` of :func:`.least_squares` (scipy's
``least_squares`` options of the same names), for numpy functions given without a
Jacobian. The step rule is that of ``scipy.optimize._numdiff.approx_derivative``
(scipy 1.17, unbounded variables), written out here rather than imported from
scipy's private module; ``tests/test_lm_scipy_compat.py`` checks the numbers equal
scipy's, bit for bit:

* the relative step ``rel_step`` is ``EPS**(1/2)`` for ``"2-point"`` and ``"cs"`` and
  ``EPS**(1/3)`` for ``"3-point"`` (the usual balance of truncation against rounding
  error; Press et al., *Numerical Recipes*, 3rd ed., section 5.7), ``EPS`` the float64
  machine epsilon;
* the absolute step of parameter ``j`` is ``h_j = rel_step * s_j * max(1, |x_j|)``,
  ``s_j = +1`` where ``x_j >= 0`` and ``-1`` elsewhere; with a given ``diff_step``
  (scipy's name) it is ``h_j = diff_step_j * s_j * |x_j|``, the default rule taking
  over where that step vanishes (``x_j + h_j == x_j``, e.g. ``x_j = 0``);
* ``"2-point"``: ``J_j = (f(x + h_j e_j) - f(x)) / dx_j`` with ``dx_j = (x_j + h_j) - x_j``
  (the step the floating-point parameter really took), ``n`` evaluations besides
  ``f(x)``; ``"3-point"``: ``J_j = (f(x + h_j e_j) - f(x - h_j e_j)) / dx_j`` with
  ``|h_j|`` and ``dx_j`` the difference of the two points, ``2 n`` evaluations;
  ``"cs"``: the complex step ``J_j = Im f(x + i h_j e_j) / h_j`` (Squire & Trapp 1998,
  "Using complex variables to estimate derivatives of real functions", SIAM Review
  40(1)), ``n`` evaluations, exact to rounding, for functions that accept complex
  input and are analytic in it.

As scipy, the step uses float64's ``EPS`` (scipy takes a smaller float type's epsilon
when ``x0`` or ``f(x0)`` is ``float32``; this LM computes in float64 throughout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .providers import Provider

EPS = np.finfo(np.float64).eps

#: The schemes and the evaluations of ``f`` each Jacobian costs per parameter.
METHODS = {"2-point": 1, "3-point": 2, "cs": 1}


def relative_step(method: str) -> float:
    """The default relative step of ``method``: ``EPS**0.5`` or ``EPS**(1/3)``."""
    if method not in METHODS:
        raise ValueError(f"the finite-difference scheme must be one of "
                         f"{sorted(METHODS)}, got {method!r}")
    return EPS ** (1 / 3) if method == "3-point" else EPS ** 0.5


def absolute_step(x: np.ndarray, method: str, rel_step=None) -> np.ndarray:
    """The signed step ``h`` of every parameter at ``x`` (see the module text)."""
    sign = (x >= 0).astype(float) * 2 - 1
    default = relative_step(method) * sign * np.maximum(1.0, np.abs(x))
    if rel_step is None:
        return default
    step = rel_step * sign * np.abs(x)
    return np.where((x + step) - x == 0, default, step)


def approx_jacobian(fun: Callable, x: np.ndarray, f0: np.ndarray | None = None,
                    method: str = "2-point", rel_step=None,
                    workers: Callable | None = None) -> tuple[np.ndarray, int]:
    """``(J, nfev)``: the ``(m, n)`` finite-difference Jacobian of ``fun`` at ``x`` and
    the number of evaluations of ``fun`` it took.

    ``f0 = fun(x)`` is evaluated (and counted) when not given and ``"2-point"`` needs
    it. ``workers``, a map-like callable (``workers(fun, points)``, scipy's
    convention), evaluates the shifted points; the default is the builtin ``map``.
    """
    x = np.asarray(x, dtype=np.float64)
    n, nfev = x.size, 0
    h = absolute_step(x, method, rel_step)
    evaluate = workers or map
    if method == "2-point":
        if f0 is None:
            f0, nfev = np.asarray(fun(x.copy()), dtype=np.float64), 1
        points = [_shifted(x, j, h[j]) for j in range(n)]
        dx = [(x[j] + h[j]) - x[j] for j in range(n)]
        columns = [(np.asarray(f, dtype=np.float64) - f0) / d
                   for f, d in zip(evaluate(fun, points), dx)]
    elif method == "3-point":  # points x - h_j e_j, x + h_j e_j, in that order
        h = np.abs(h)
        points = [p for j in range(n) for p in (_shifted(x, j, -h[j]), _shifted(x, j, h[j]))]
        values = [np.asarray(f, dtype=np.float64) for f in evaluate(fun, points)]
        lower, upper = points[0::2], points[1::2]
        columns = [(values[2 * j + 1] - values[2 * j]) / (upper[j][j] - lower[j][j])
                   for j in range(n)]
    else:  # "cs" (absolute_step refused any other name)
        points = [_shifted(x.astype(complex), j, h[j] * 1j) for j in range(n)]
        columns = [np.asarray(f).imag / h[j] for j, f in enumerate(evaluate(fun, points))]
    nfev += len(points)
    jac = np.empty((n, np.size(columns[0]) if n else 0))
    for j, column in enumerate(columns):
        jac[j] = np.ravel(column)
    return jac.T, nfev


def _shifted(x: np.ndarray, j: int, step) -> np.ndarray:
    """``x`` with ``step`` added to its ``j``-th entry (a copy)."""
    point = x.copy()
    point[j] = x[j] + step
    return point


@dataclass(frozen=True)
class FiniteDifference:
    """A finite-difference scheme, as the ``jac`` option: ``method`` (``"2-point"``,
    ``"3-point"``, ``"cs"``), scipy's ``diff_step`` as ``rel_step`` (None: the default
    rule), ``workers`` a map-like callable or None (the builtin ``map``)."""

    method: str = "2-point"
    rel_step: object = None
    workers: Callable | None = None

    def __post_init__(self):
        relative_step(self.method)


class FiniteDifferenceProvider(Provider):
    """The provider (:mod:`.providers`) of a numpy ``fun(x) -> (m,)`` of 1-D ``x``,
    its Jacobian by ``scheme`` (:class:`FiniteDifference`); optional numpy
    ``validation(x) -> (p,)``.

    The last point's residuals and Jacobian are kept (scipy's ``VectorFunction``
    memoises the same way): the residuals asked for again at the same point cost
    nothing (the provider's warm-up and the loop's start both ask at ``x0``, where
    ``known``, ``(x0, f(x0))``, may already hold them), the Jacobian at a point whose
    residuals were just computed needs no new ``f(x)``, and the Jacobian asked for
    again at the same point costs nothing: the loop asks for it at its current point
    more than once (the QR fallback, the convergence check, the result's ``jac``).
    ``fun`` must be deterministic. ``nfev`` counts the evaluations spent on
    differences (with any ``f(x)`` they needed), ``njac`` the Jacobians computed.
    """

    finite_differences = True

    def __init__(self, fun: Callable, scheme: FiniteDifference, n: int, m: int, *,
                 validation: Callable | None = None, p: int | None = None,
                 known: tuple | None = None):
        super().__init__(m, n, p)
        self.fun, self.scheme, self._val = fun, scheme, validation
        self.nfev = self.njac = 0
        self._last_jac = (None, None)
        self._last_r = (None, None) if known is None else (
            np.array(known[0], dtype=np.float64), np.asarray(known[1], dtype=np.float64))

    def _residuals(self, x):
        x = np.array(x, dtype=np.float64)
        point, r = self._last_r
        if point is None or not np.array_equal(point, x):
            r = np.asarray(self.fun(x.copy()), dtype=np.float64)
            self._last_r = (x, r)
        return r

    def _jacobian(self, x):
        x = np.array(x, dtype=np.float64)
        point, jac = self._last_jac
        if point is not None and np.array_equal(point, x):
            return jac
        point, r = self._last_r
        f0 = r if point is not None and np.array_equal(point, x) else None
        jac, nfev = approx_jacobian(self.fun, x, f0, self.scheme.method,
                                    self.scheme.rel_step, self.scheme.workers)
        self.nfev += nfev
        self.njac += 1
        self._last_jac = (x, jac)
        return jac

    def _validation(self, x):
        return self._val(np.array(x, dtype=np.float64))
