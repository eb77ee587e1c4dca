"""The Moré, Garbow & Hillstrom nonlinear least-squares test problems, in TensorFlow.

Moré, J. J., Garbow, B. S. & Hillstrom, K. E. (1981). Testing unconstrained
optimization software. *ACM Trans. Math. Softw.* 7(1), 17-41 ("MGH" below). Each
problem minimises ``f(x) = sum_i r_i(x)**2`` (MGH's ``f``, a sum of squares; scipy's
``cost`` is ``f / 2``).

:data:`PROBLEMS` holds all 35 MGH functions, the variable-size ones at the sizes
common in the literature (MINPACK's ``lmder`` driver, Moré, Garbow & Hillstrom 1980,
ANL-80-74; and the MGH paper's tabulated minima): 37 problems, Watson at n = 6, 9, 12.
Each :class:`Problem` has

* ``residuals``: a TensorFlow function of float64 parameters of shape ``(..., n)``
  returning ``(..., m)`` residuals, so the same function serves one point ``(n,)``
  and a batch of points ``(B, n)``; plain TF ops, traceable and XLA-compilable, no
  Python branching on tensor values;
* ``x0``: MGH's standard starting point (the literature also starts from ``10 x0``
  and ``100 x0``, see :mod:`secondorder.pipeline.lm_robustness`);
* ``f_min``: the best known minimum of ``f`` (the *global* one where several are
  documented; ``other_minima`` lists the documented non-global minima, which a run
  may end in); ``x_min``: a minimiser where one is known in closed form or published
  to full precision;
* ``source``: where the definition, ``x0`` and ``f_min`` come from.

``f_min`` values: MGH's tabulated minima (6 significant digits), given here to 16
digits where a published refinement exists (the GSL 2.x ``multifit_nlinear`` test
suite, which checks its solvers against them, cited as "GSL"), or refined by us
(``scipy.optimize.least_squares(method="lm")`` with tolerances 1e-15 and this
module's exact Jacobian, from the standard start; every refined value rounds to the
digits MGH print, cited as "refined").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf


MGH = "Moré, Garbow & Hillstrom (1981), ACM TOMS 7(1):17-41"
GSL = "GSL 2.x multifit_nlinear/test_{}.c"
MINPACK = "MINPACK-1 lmder test driver (Moré, Garbow & Hillstrom 1980, ANL-80-74)"


@dataclass(frozen=True)
class Problem:
    """One MGH least-squares problem (see the module docstring)."""

    name: str
    number: int                # MGH's problem number (1-35)
    m: int                     # residuals
    n: int                     # parameters
    residuals: Callable        # (..., n) float64 tensor -> (..., m)
    x0: np.ndarray             # MGH's standard start
    f_min: float               # best known (global) minimum of sum(r**2)
    source: str
    x_min: np.ndarray | None = None          # a documented minimiser, if any
    other_minima: tuple[float, ...] = ()     # documented non-global minima of f
    note: str = ""

    def f(self, x) -> float:
        """``sum(r(x)**2)`` at one point, eagerly."""
        r = self.residuals(tf.constant(np.asarray(x, np.float64)))
        return float(tf.reduce_sum(tf.square(r)))


def _k(x, j):
    """Parameter ``j`` (0-based) keeping a trailing axis, to broadcast against data."""
    return x[..., j:j + 1]


def _c(x, j):
    """Parameter ``j`` (0-based), shape ``x.shape[:-1]``."""
    return x[..., j]


def _stack(*rows):
    return tf.stack(rows, axis=-1)


def _matvec(a: np.ndarray, x):
    """``a @ x`` over the last axis of ``x`` (``a`` a constant ``(m, n)`` matrix)."""
    return tf.einsum("ij,...j->...i", tf.constant(a, tf.float64), x)


def _columns(x):
    """The last axis of ``x`` as a list of tensors."""
    return tf.unstack(x, axis=-1)


def _concat(*parts):
    """``tf.concat(parts, axis=-1)``, written as unstack and stack: TensorFlow's
    vectorising of ``tf.concat`` (and ``tf.pad``) inside the package's batched autodiff
    Jacobian (``vectorized_map`` of a forward-mode ``vectorized_map``) falls back to a
    while loop that XLA cannot compile; ``unstack``/``stack`` vectorise."""
    return tf.stack([c for part in parts for c in _columns(part)], axis=-1)


def _interleave(*parts):
    """Residual blocks ``parts`` (each ``(..., n/k)``) in MGH's order: r_1, .., r_k of
    block 1, then of block 2, ..."""
    return tf.stack([c for group in zip(*map(_columns, parts)) for c in group], axis=-1)


def _shift(x, direction):
    """``x_{i-1}`` (``direction=-1``) or ``x_{i+1}`` (``+1``), zero outside 1..n."""
    cols = _columns(x)
    zero = tf.zeros_like(cols[0])
    return tf.stack([zero] + cols[:-1] if direction < 0 else cols[1:] + [zero], axis=-1)


# --- 1-19: fixed size -------------------------------------------------------------------


def rosenbrock(x):
    return _stack(10.0 * (_c(x, 1) - _c(x, 0) ** 2), 1.0 - _c(x, 0))


def freudenstein_roth(x):
    x1, x2 = _c(x, 0), _c(x, 1)
    return _stack(-13.0 + x1 + ((5.0 - x2) * x2 - 2.0) * x2,
                  -29.0 + x1 + ((x2 + 1.0) * x2 - 14.0) * x2)


def powell_badly_scaled(x):
    x1, x2 = _c(x, 0), _c(x, 1)
    return _stack(1e4 * x1 * x2 - 1.0, tf.exp(-x1) + tf.exp(-x2) - 1.0001)


def brown_badly_scaled(x):
    x1, x2 = _c(x, 0), _c(x, 1)
    return _stack(x1 - 1e6, x2 - 2e-6, x1 * x2 - 2.0)


BEALE_Y = np.array([1.5, 2.25, 2.625])


def beale(x):
    x1, x2 = _c(x, 0), _c(x, 1)
    return _stack(*(BEALE_Y[i] - x1 * (1.0 - x2 ** (i + 1)) for i in range(3)))


JENNRICH_I = np.arange(1.0, 11.0)


def jennrich_sampson(x):
    return (2.0 + 2.0 * JENNRICH_I
            - (tf.exp(JENNRICH_I * _k(x, 0)) + tf.exp(JENNRICH_I * _k(x, 1))))


def helical_valley(x):
    """MGH's ``theta = atan(x2/x1) / 2pi (+ 1/2 if x1 < 0)``, written with ``atan2``
    (same values, a derivative defined at ``x1 = 0``): ``atan2`` differs from MGH's
    branch by ``2 pi`` exactly where ``x1 < 0`` and ``atan2 < 0``."""
    x1, x2, x3 = _c(x, 0), _c(x, 1), _c(x, 2)
    angle = tf.atan2(x2, x1)
    angle = angle + tf.where((x1 < 0) & (angle < 0), 2.0 * np.pi + 0.0 * angle, 0.0 * angle)
    theta = angle / (2.0 * np.pi)
    return _stack(10.0 * (x3 - 10.0 * theta),
                  10.0 * (tf.sqrt(x1 ** 2 + x2 ** 2) - 1.0), x3)


BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73,
                   0.96, 1.34, 2.10, 4.39])
BARD_U = np.arange(1.0, 16.0)
BARD_V = 16.0 - BARD_U
BARD_W = np.minimum(BARD_U, BARD_V)


def bard(x):
    return BARD_Y - (_k(x, 0) + BARD_U / (BARD_V * _k(x, 1) + BARD_W * _k(x, 2)))


GAUSSIAN_Y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
                       0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009])
GAUSSIAN_T = (8.0 - np.arange(1.0, 16.0)) / 2.0


def gaussian(x):
    return (_k(x, 0) * tf.exp(-_k(x, 1) * (GAUSSIAN_T - _k(x, 2)) ** 2 / 2.0)
            - GAUSSIAN_Y)


MEYER_Y = np.array([34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0,
                    9744.0, 8261.0, 7030.0, 6005.0, 5147.0, 4427.0, 3820.0, 3307.0,
                    2872.0])
MEYER_T = 45.0 + 5.0 * np.arange(1.0, 17.0)


def meyer(x):
    return _k(x, 0) * tf.exp(_k(x, 1) / (MEYER_T + _k(x, 2))) - MEYER_Y


GULF_M = 99
GULF_T = np.arange(1.0, GULF_M + 1.0) / 100.0
GULF_Y = 25.0 + (-50.0 * np.log(GULF_T)) ** (2.0 / 3.0)


def gulf(x):
    """``exp(-|y_i - x2|^x3 / x1) - t_i``; ``tf.pow`` of ``|.|``: its gradient with
    respect to the exponent is defined (0) at a zero base."""
    return tf.exp(-tf.pow(tf.abs(GULF_Y - _k(x, 1)), _k(x, 2)) / _k(x, 0)) - GULF_T


BOX_T = 0.1 * np.arange(1.0, 11.0)


def box_3d(x):
    return (tf.exp(-BOX_T * _k(x, 0)) - tf.exp(-BOX_T * _k(x, 1))
            - _k(x, 2) * (np.exp(-BOX_T) - np.exp(-10.0 * BOX_T)))


def powell_singular(x):
    x1, x2, x3, x4 = (_c(x, j) for j in range(4))
    return _stack(x1 + 10.0 * x2, np.sqrt(5.0) * (x3 - x4), (x2 - 2.0 * x3) ** 2,
                  np.sqrt(10.0) * (x1 - x4) ** 2)


def wood(x):
    x1, x2, x3, x4 = (_c(x, j) for j in range(4))
    return _stack(10.0 * (x2 - x1 ** 2), 1.0 - x1, np.sqrt(90.0) * (x4 - x3 ** 2), 1.0 - x3,
                  np.sqrt(10.0) * (x2 + x4 - 2.0), (x2 - x4) / np.sqrt(10.0))


KOWALIK_Y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342,
                      0.0323, 0.0235, 0.0246])
KOWALIK_U = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714,
                      0.0625])


def kowalik_osborne(x):
    u = KOWALIK_U
    return KOWALIK_Y - (_k(x, 0) * (u ** 2 + u * _k(x, 1))
                        / (u ** 2 + u * _k(x, 2) + _k(x, 3)))


BROWN_DENNIS_T = np.arange(1.0, 21.0) / 5.0


def brown_dennis(x):
    t = BROWN_DENNIS_T
    return ((_k(x, 0) + t * _k(x, 1) - np.exp(t)) ** 2
            + (_k(x, 2) + _k(x, 3) * np.sin(t) - np.cos(t)) ** 2)


OSBORNE1_Y = np.array([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818,
                       0.784, 0.751, 0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558,
                       0.538, 0.522, 0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438,
                       0.431, 0.424, 0.420, 0.414, 0.411, 0.406])
OSBORNE1_T = 10.0 * np.arange(33.0)


def osborne_1(x):
    t = OSBORNE1_T
    return OSBORNE1_Y - (_k(x, 0) + _k(x, 1) * tf.exp(-t * _k(x, 3))
                         + _k(x, 2) * tf.exp(-t * _k(x, 4)))


BIGGS_T = 0.1 * np.arange(1.0, 14.0)
BIGGS_Y = np.exp(-BIGGS_T) - 5.0 * np.exp(-10.0 * BIGGS_T) + 3.0 * np.exp(-4.0 * BIGGS_T)


def biggs_exp6(x):
    t = BIGGS_T
    return (_k(x, 2) * tf.exp(-t * _k(x, 0)) - _k(x, 3) * tf.exp(-t * _k(x, 1))
            + _k(x, 5) * tf.exp(-t * _k(x, 4)) - BIGGS_Y)


OSBORNE2_Y = np.array([
    1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679,
    0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644,
    0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391,
    0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668,
    0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581,
    0.428, 0.292, 0.162, 0.098, 0.054])
OSBORNE2_T = np.arange(65.0) / 10.0


def osborne_2(x):
    t = OSBORNE2_T
    model = _k(x, 0) * tf.exp(-t * _k(x, 4))
    for a, width, centre in ((1, 5, 8), (2, 6, 9), (3, 7, 10)):
        model += _k(x, a) * tf.exp(-(t - _k(x, centre)) ** 2 * _k(x, width))
    return OSBORNE2_Y - model


# --- 20-35: variable size ---------------------------------------------------------------


def watson(n: int) -> Callable:
    """m = 31: ``r_i = sum_{j>=2} (j-1) x_j t_i^(j-2) - (sum_j x_j t_i^(j-1))^2 - 1``,
    ``t_i = i/29`` (i = 1..29), ``r_30 = x_1``, ``r_31 = x_2 - x_1^2 - 1``."""
    t = np.arange(1.0, 30.0)[:, None] / 29.0
    j = np.arange(n)[None, :]
    powers = t ** j                                            # t^(j-1), 1-based j
    derivative = np.where(j >= 1, j * t ** np.maximum(j - 1, 0), 0.0)

    def residuals(x):
        x1, x2 = _c(x, 0), _c(x, 1)
        return _concat(_matvec(derivative, x) - _matvec(powers, x) ** 2 - 1.0,
                       _stack(x1, x2 - x1 ** 2 - 1.0))
    return residuals


def extended_rosenbrock(x):
    odd, even = x[..., 0::2], x[..., 1::2]
    return _interleave(10.0 * (even - odd ** 2), 1.0 - odd)


def extended_powell_singular(x):
    x1, x2, x3, x4 = (x[..., j::4] for j in range(4))
    return _interleave(x1 + 10.0 * x2, np.sqrt(5.0) * (x3 - x4), (x2 - 2.0 * x3) ** 2,
                       np.sqrt(10.0) * (x1 - x4) ** 2)


def penalty_1(x):
    """m = n + 1: ``sqrt(1e-5) (x_i - 1)``, then ``sum x_j^2 - 1/4``."""
    return _concat(np.sqrt(1e-5) * (x - 1.0),
                   tf.reduce_sum(x ** 2, axis=-1, keepdims=True) - 0.25)


def penalty_2(n: int) -> Callable:
    """m = 2n: ``r_1 = x_1 - 0.2``; ``sqrt(a) (exp(x_i/10) + exp(x_{i-1}/10) - y_i)``
    (i = 2..n); ``sqrt(a) (exp(x_{i-n+1}/10) - exp(-1/10))`` (i = n+1..2n-1);
    ``sum_j (n-j+1) x_j^2 - 1``; ``a = 1e-5``, ``y_i = exp(i/10) + exp((i-1)/10)``."""
    i = np.arange(2.0, n + 1.0)
    y = np.exp(i / 10.0) + np.exp((i - 1.0) / 10.0)
    weights = n - np.arange(n, dtype=np.float64)                # n - j + 1, 1-based j
    root_a = np.sqrt(1e-5)

    def residuals(x):
        e = tf.exp(x / 10.0)
        return _concat(x[..., :1] - 0.2,
                       root_a * (e[..., 1:] + e[..., :-1] - y),
                       root_a * (e[..., 1:] - np.exp(-0.1)),
                       tf.reduce_sum(weights * x ** 2, axis=-1, keepdims=True) - 1.0)
    return residuals


def variably_dimensioned(x):
    n = x.shape[-1]
    s = tf.reduce_sum(np.arange(1.0, n + 1.0) * (x - 1.0), axis=-1, keepdims=True)
    return _concat(x - 1.0, s, s ** 2)


def trigonometric(x):
    n = x.shape[-1]
    i = np.arange(1.0, n + 1.0)
    return (n - tf.reduce_sum(tf.cos(x), axis=-1, keepdims=True)
            + i * (1.0 - tf.cos(x)) - tf.sin(x))


def brown_almost_linear(x):
    n = x.shape[-1]
    total = tf.reduce_sum(x, axis=-1, keepdims=True)
    return _concat(x[..., :-1] + total - (n + 1.0),
                   tf.reduce_prod(x, axis=-1, keepdims=True) - 1.0)


def _grid(n: int) -> np.ndarray:
    return np.arange(1.0, n + 1.0) / (n + 1.0)


def discrete_boundary_value(x):
    n = x.shape[-1]
    h, t = 1.0 / (n + 1.0), _grid(n)
    return (2.0 * x - _shift(x, -1) - _shift(x, +1)
            + h ** 2 * (x + t + 1.0) ** 3 / 2.0)


def discrete_integral_equation(x):
    n = x.shape[-1]
    h, t = 1.0 / (n + 1.0), _grid(n)
    ti, tj = t[:, None], t[None, :]
    kernel = np.where(tj <= ti, (1.0 - ti) * tj, ti * (1.0 - tj))
    return x + h / 2.0 * _matvec(kernel, (x + t + 1.0) ** 3)


def broyden_tridiagonal(x):
    return (3.0 - 2.0 * x) * x - _shift(x, -1) - 2.0 * _shift(x, +1) + 1.0


def broyden_banded(x):
    """``x_i (2 + 5 x_i^2) + 1 - sum_{j in J_i} x_j (1 + x_j)``, ``J_i`` the ``j != i``
    with ``i - 5 <= j <= i + 1`` (MGH's ``ml = 5``, ``mu = 1``)."""
    n = x.shape[-1]
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    band = ((j != i) & (j >= i - 5) & (j <= i + 1)).astype(np.float64)
    return x * (2.0 + 5.0 * x ** 2) + 1.0 - _matvec(band, x * (1.0 + x))


def linear_full_rank(m: int, n: int) -> Callable:
    a = np.eye(m, n) - 2.0 / m
    return lambda x: _matvec(a, x) - 1.0


def linear_rank_1(m: int, n: int) -> Callable:
    a = np.arange(1.0, m + 1.0)[:, None] * np.arange(1.0, n + 1.0)[None, :]
    return lambda x: _matvec(a, x) - 1.0


def linear_rank_1_zero(m: int, n: int) -> Callable:
    """Rows 1 and m, columns 1 and n are zero: ``r_i = (i-1) sum_{j=2}^{n-1} j x_j - 1``."""
    a = np.arange(0.0, m)[:, None] * np.arange(1.0, n + 1.0)[None, :]
    a[[0, -1], :] = 0.0
    a[:, [0, -1]] = 0.0
    return lambda x: _matvec(a, x) - 1.0


def chebyquad(m: int) -> Callable:
    """``r_i = (1/n) sum_j T_i(2 x_j - 1) - int_0^1 T_i(2t - 1) dt`` (shifted Chebyshev
    polynomials; the integral is 0 for odd i, ``-1/(i^2 - 1)`` for even i)."""
    integral = np.array([-1.0 / (i * i - 1.0) if i % 2 == 0 else 0.0
                         for i in range(1, m + 1)])

    def residuals(x):
        y = 2.0 * x - 1.0
        previous, current, means = tf.ones_like(y), y, []
        for _ in range(m):
            means.append(tf.reduce_mean(current, axis=-1))
            previous, current = current, 2.0 * y * current - previous
        return tf.stack(means, axis=-1) - integral
    return residuals


# --- the collection ---------------------------------------------------------------------


def _p(name, number, m, n, residuals, x0, f_min, source, **kw) -> Problem:
    x0 = np.asarray(x0, np.float64)
    assert x0.shape == (n,), (name, x0.shape)
    if kw.get("x_min") is not None:
        kw["x_min"] = np.asarray(kw["x_min"], np.float64)
    return Problem(name=name, number=number, m=m, n=n, residuals=residuals, x0=x0,
                   f_min=float(f_min), source=source, **kw)


def _problems() -> list[Problem]:
    ten = np.arange(1.0, 11.0)
    return [
        _p("rosenbrock", 1, 2, 2, rosenbrock, [-1.2, 1.0], 0.0, MGH, x_min=[1.0, 1.0]),
        _p("freudenstein_roth", 2, 2, 2, freudenstein_roth, [0.5, -2.0], 0.0,
           f"{MGH}; local minimum 48.9842... to 15 digits: {GSL.format('roth')}",
           x_min=[5.0, 4.0], other_minima=(48.9842536792400,)),
        _p("powell_badly_scaled", 3, 2, 2, powell_badly_scaled, [0.0, 1.0], 0.0, MGH),
        _p("brown_badly_scaled", 4, 3, 2, brown_badly_scaled, [1.0, 1.0], 0.0, MGH,
           x_min=[1e6, 2e-6]),
        _p("beale", 5, 3, 2, beale, [1.0, 1.0], 0.0, MGH, x_min=[3.0, 0.5]),
        _p("jennrich_sampson", 6, 10, 2, jennrich_sampson, [0.3, 0.4],
           1.243621823556148e+02, f"{MGH} (m = 10: 124.362); {GSL.format('jennrich')}",
           x_min=[2.578252139935855e-01, 2.578252133471426e-01]),
        _p("helical_valley", 7, 3, 3, helical_valley, [-1.0, 0.0, 0.0], 0.0, MGH,
           x_min=[1.0, 0.0, 0.0]),
        _p("bard", 8, 15, 3, bard, [1.0, 1.0, 1.0], 8.214877306578963e-03,
           f"{MGH} (8.21487e-3; 17.4286 at (0.8406, -inf, -inf)); {GSL.format('bard')}",
           x_min=[8.241055975623580e-02, 1.133036092245175, 2.343695178435405],
           other_minima=(17.42869333333333,)),
        _p("gaussian", 9, 15, 3, gaussian, [0.4, 1.0, 0.0], 1.12793276961871985e-08,
           f"{MGH} (1.12793e-8); {GSL.format('gaussian')}",
           x_min=[0.398956137838762825, 1.00001908448786647, 0.0]),
        _p("meyer", 10, 16, 3, meyer, [0.02, 4000.0, 250.0], 8.794585517053883e+01,
           f"{MGH} (87.9458); {GSL.format('meyer')}",
           x_min=[5.609636471049458e-03, 6.181346346283188e+03, 3.452236346240292e+02]),
        _p("gulf", 11, GULF_M, 3, gulf, [5.0, 2.5, 0.15], 0.0,
           f"{MGH} (n <= m <= 100; m = 99 as is usual: at m = 100, t = 1 puts a residual "
           "at |y - x2| = 0 at the minimiser, where it is not differentiable)",
           x_min=[50.0, 25.0, 1.5]),
        _p("box_3d", 12, 10, 3, box_3d, [0.0, 10.0, 20.0], 0.0,
           f"{MGH} (m = 10; also 0 at (10, 1, -1) and on x1 = x2, x3 = 0)",
           x_min=[1.0, 10.0, 1.0]),
        _p("powell_singular", 13, 4, 4, powell_singular, [3.0, -1.0, 0.0, 1.0], 0.0, MGH,
           x_min=np.zeros(4), note="singular Jacobian at the solution"),
        _p("wood", 14, 6, 4, wood, [-3.0, -1.0, -3.0, -1.0], 0.0, MGH, x_min=np.ones(4)),
        _p("kowalik_osborne", 15, 11, 4, kowalik_osborne, [0.25, 0.39, 0.415, 0.39],
           3.075056038492370e-04,
           f"{MGH} (3.07505e-4; 1.02734e-3 at (inf, -14.07, -inf, -inf)); "
           f"{GSL.format('kowalik')}",
           x_min=[1.928069345723978e-01, 1.912823290344599e-01, 1.230565070690708e-01,
                  1.360623308065148e-01],
           other_minima=(1.02734304869549252e-03,)),
        _p("brown_dennis", 16, 20, 4, brown_dennis, [25.0, 5.0, -5.0, -1.0],
           8.582220162635628e+04, f"{MGH} (m = 20: 85822.2); {GSL.format('brown1')}",
           x_min=[-1.159443990239263e+01, 1.320363005221244e+01, -4.034395456782477e-01,
                  2.367789088597534e-01]),
        _p("osborne_1", 17, 33, 5, osborne_1, [0.5, 1.5, -1.0, 0.01, 0.02],
           5.464894697482687e-05, f"{MGH} (5.46489e-5); {GSL.format('osborne')}"),
        _p("biggs_exp6", 18, 13, 6, biggs_exp6, [1.0, 2.0, 1.0, 1.0, 1.0, 1.0], 0.0,
           f"{MGH} (m = 13: 0 at (1, 10, 1, 5, 4, 3); local minimum 5.65565e-3)",
           x_min=[1.0, 10.0, 1.0, 5.0, 4.0, 3.0], other_minima=(5.65565e-03,)),
        _p("osborne_2", 19, 65, 11, osborne_2,
           [1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5],
           4.0137736293548e-02, f"{MGH} (4.01377e-2), digits refined"),
        _p("watson_6", 20, 31, 6, watson(6), np.zeros(6), 2.287670053552372e-03,
           f"{MGH} (n = 6: 2.28767e-3); {GSL.format('watson')}",
           x_min=[-1.572508640629858e-02, 1.012434869366059e+00, -2.329916259263380e-01,
                  1.260430087686035e+00, -1.513728922580576e+00, 9.929964323646112e-01]),
        _p("watson_9", 20, 31, 9, watson(9), np.zeros(9), 1.3997601380914e-06,
           f"{MGH} (n = 9: 1.39976e-6), digits refined"),
        _p("watson_12", 20, 31, 12, watson(12), np.zeros(12), 4.7223811017821e-10,
           f"{MGH} (n = 12: 4.72238e-10), digits refined"),
        _p("extended_rosenbrock", 21, 10, 10, extended_rosenbrock,
           np.tile([-1.2, 1.0], 5), 0.0, f"{MGH} (n = 10)", x_min=np.ones(10)),
        _p("extended_powell_singular", 22, 12, 12, extended_powell_singular,
           np.tile([3.0, -1.0, 0.0, 1.0], 3), 0.0, f"{MGH} (n = 12)", x_min=np.zeros(12),
           note="singular Jacobian at the solution"),
        _p("penalty_1", 23, 11, 10, penalty_1, ten, 7.08765146709037993e-05,
           f"{MGH} (n = 10: 7.08765e-5); {GSL.format('penalty1')} (n = 10)"),
        _p("penalty_2", 24, 20, 10, penalty_2(10), np.full(10, 0.5), 2.9366053745675e-04,
           f"{MGH} (n = 10: 2.93660e-4), digits refined"),
        _p("variably_dimensioned", 25, 12, 10, variably_dimensioned, 1.0 - ten / 10.0,
           0.0, f"{MGH} (n = 10)", x_min=np.ones(10)),
        _p("trigonometric", 26, 10, 10, trigonometric, np.full(10, 0.1), 0.0,
           f"{MGH} (n = 10; a local minimum 2.79506e-5, digits refined; MINPACK's "
           f"hybrj driver reaches f = 0 from 10 x0)",
           other_minima=(2.7950561218781e-05,)),
        _p("brown_almost_linear", 27, 10, 10, brown_almost_linear, np.full(10, 0.5), 0.0,
           f"{MGH} (n = 10: 0 at (a, .., a, a^(1-n)) with n a^n - (n+1) a^(n-1) + 1 = 0; "
           "1 at (0, .., 0, n+1))", x_min=np.ones(10), other_minima=(1.0,)),
        _p("discrete_boundary_value", 28, 10, 10, discrete_boundary_value,
           _grid(10) * (_grid(10) - 1.0), 0.0, f"{MGH} (n = 10)"),
        _p("discrete_integral_equation", 29, 10, 10, discrete_integral_equation,
           _grid(10) * (_grid(10) - 1.0), 0.0, f"{MGH} (n = 10)"),
        _p("broyden_tridiagonal", 30, 10, 10, broyden_tridiagonal, np.full(10, -1.0), 0.0,
           f"{MGH} (n = 10)"),
        _p("broyden_banded", 31, 10, 10, broyden_banded, np.full(10, -1.0), 0.0,
           f"{MGH} (n = 10)"),
        _p("linear_full_rank", 32, 10, 5, linear_full_rank(10, 5), np.ones(5), 5.0,
           f"{MGH} (n = 5, m = 10: f = m - n at x = -1)", x_min=-np.ones(5)),
        _p("linear_rank_1", 33, 10, 5, linear_rank_1(10, 5), np.ones(5), 90.0 / 42.0,
           f"{MGH} (n = 5, m = 10: f = m(m-1) / (2(2m+1)) where sum j x_j = 3/(2m+1))",
           x_min=[3.0 / 21.0, 0.0, 0.0, 0.0, 0.0]),
        _p("linear_rank_1_zero", 34, 10, 5, linear_rank_1_zero(10, 5), np.ones(5),
           124.0 / 34.0,
           f"{MGH} (n = 5, m = 10: f = (m^2 + 3m - 6) / (2(2m-3)) where "
           "sum_(j=2..n-1) j x_j = 3/(2m-3))", x_min=[0.0, 1.5 / 17.0, 0.0, 0.0, 0.0]),
        _p("chebyquad", 35, 8, 8, chebyquad(8), np.arange(1.0, 9.0) / 9.0,
           3.5168737256779e-03, f"{MGH} (n = m = 8: 3.51687e-3), digits refined"),
    ]


PROBLEMS: dict[str, Problem] = {p.name: p for p in _problems()}
