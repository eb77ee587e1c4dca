"""Levenberg-Marquardt on Moré, Garbow & Hillstrom (1981) test problems.

Each problem from its standard starting point, solved by ``secondorder.optim.lm`` (both
damping rules with ``solve="numpy"``, and ``solve="scipy"``), is compared with
``scipy.optimize.least_squares(method="lm")`` called directly from the same start.
"""

import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf

from secondorder.optim.lm import least_squares


def rosenbrock(x):
    return tf.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def powell_singular(x):
    return tf.stack([x[0] + 10.0 * x[1], np.sqrt(5.0) * (x[2] - x[3]),
                     (x[1] - 2.0 * x[2]) ** 2, np.sqrt(10.0) * (x[0] - x[3]) ** 2])


def freudenstein_roth(x):
    return tf.stack([-13.0 + x[0] + ((5.0 - x[1]) * x[1] - 2.0) * x[1],
                     -29.0 + x[0] + ((x[1] + 1.0) * x[1] - 14.0) * x[1]])


def brown_badly_scaled(x):
    return tf.stack([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0])


def helical_valley(x):
    # MGH's theta: atan(x2/x1) / 2pi, plus 1/2 when x1 < 0.
    half = tf.constant(0.5, tf.float64)
    theta = tf.atan(x[1] / x[0]) / (2.0 * np.pi) + tf.where(x[0] < 0, half, 0 * half)
    return tf.stack([10.0 * (x[2] - 10.0 * theta),
                     10.0 * (tf.sqrt(x[0] ** 2 + x[1] ** 2) - 1.0), x[2]])


BEALE_Y = np.array([1.5, 2.25, 2.625])


def beale(x):
    i = tf.constant([1.0, 2.0, 3.0], tf.float64)
    return BEALE_Y - x[0] * (1.0 - x[1] ** i)


BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73,
                   0.96, 1.34, 2.10, 4.39])


def bard(x):
    u = np.arange(1.0, 16.0)
    v = 16.0 - u
    w = np.minimum(u, v)
    return BARD_Y - (x[0] + u / (v * x[1] + w * x[2]))


# name: (residuals, standard start, minimum SSQ from MGH 1981)
PROBLEMS = {
    "rosenbrock": (rosenbrock, [-1.2, 1.0], 0.0),
    "powell_singular": (powell_singular, [3.0, -1.0, 0.0, 1.0], 0.0),
    "freudenstein_roth": (freudenstein_roth, [0.5, -2.0], 48.9842),
    "brown_badly_scaled": (brown_badly_scaled, [1.0, 1.0], 0.0),
    "helical_valley": (helical_valley, [-1.0, 0.0, 0.0], 0.0),
    "beale": (beale, [1.0, 1.0], 0.0),
    "bard": (bard, [1.0, 1.0, 1.0], 8.21487e-3),
}

SOLVERS = {
    "numpy-marquardt": dict(solve="numpy", damping="marquardt"),
    "numpy-nielsen": dict(solve="numpy", damping="nielsen"),
    "scipy": dict(solve="scipy"),
}


def scipy_reference(fn, x0):
    """scipy's MINPACK LM with an exact (tape) Jacobian, tight tolerances."""
    def fun(x):
        return fn(tf.constant(x)).numpy()

    def jac(x):
        x = tf.constant(x)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            r = fn(x)
            rows = [r[i] for i in range(r.shape[0])]
        return np.stack([tape.gradient(row, x).numpy() for row in rows])
    return scipy.optimize.least_squares(fun, np.array(x0), jac=jac, method="lm",
                                        ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=5000,
                                        x_scale=1.0)


@pytest.fixture(scope="module")
def references():
    return {name: scipy_reference(fn, x0) for name, (fn, x0, _) in PROBLEMS.items()}


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("name", PROBLEMS)
def test_matches_scipy(name, solver, references):
    fn, x0, ssq_min = PROBLEMS[name]
    ref = references[name]
    assert 2 * ref.cost == pytest.approx(ssq_min, rel=1e-5, abs=1e-12)
    result = least_squares(fn, x0, max_iter=1000, gtol=1e-15, ftol=1e-15, xtol=1e-15,
                           **SOLVERS[solver])
    assert result.status >= 0 and result.nit <= 1000
    assert result.cost == pytest.approx(ref.cost, rel=1e-6, abs=1e-14)
    scale = np.maximum(np.abs(ref.x), 1.0)
    # Powell's Jacobian is singular at the solution: convergence is linear and x only
    # approaches 0 like the fourth root of the SSQ.
    atol = 1e-3 if name == "powell_singular" else 1e-6
    np.testing.assert_allclose(result.x / scale, ref.x / scale, atol=atol)
    np.testing.assert_allclose(result.fun, fn(tf.constant(result.x)).numpy(), atol=1e-12)
