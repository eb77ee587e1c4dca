"""Tests of the Levenberg-Marquardt engine ``secondorder.optim.lm`` (CPU, no timings)."""

import numpy as np
import pytest
import tensorflow as tf

from secondorder.problem import data, model
from secondorder.optim import lm
from secondorder.optim.lm import (LMResult, Marquardt, Nielsen, Status, identity_scaling,
                                  jtj_diag_scaling)
from secondorder.optim.lm.damping import (RULES, DampingRule, gain_ratio, make_damping,
                                          predicted_reduction)
from secondorder.optim.lm.jacobian import autodiff_jacobian, per_sample_jacobian
from secondorder.optim.lm.keras_fit import fit_keras
from secondorder.optim.lm.linalg import (DampedSystem, ParameterSpace, SampleSpace,
                                         gauss_newton_step, gram, qr_step, sample_gram)
from secondorder.optim.lm.termination import Criteria, gradient_cosine, step_candidates

F64 = tf.float64

#: These tests pin trainlm's rules (Marquardt's damping, D = I), whose iterates are
#: easy to write down; a test passes damping= or scaling= to use another rule. (The
#: package defaults are chosen by the MGH benchmark, ``snakemake lm_robustness``.)
TRAINLM = dict(damping="marquardt", scaling="identity")


def least_squares(*args, **options):
    """:func:`secondorder.optim.lm.least_squares` with trainlm's rules (MINPACK has its own)."""
    if options.get("solve") != "scipy":
        options = {**TRAINLM, **options}
    return lm.least_squares(*args, **options)


def central_differences(fn, x, h=1e-6):
    """``(m, n)`` Jacobian of numpy ``fn`` by central differences."""
    x = np.asarray(x, dtype=float)
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        cols.append((fn(x + e) - fn(x - e)) / (2 * h))
    return np.stack(cols, axis=1)


def relative_error(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.fixture(scope="module")
def article():
    """The article's training problem: raw inputs, one-hot targets, 800 residuals."""
    spirals = data.spiral_data(500)
    trn, val = data.split_indices(500)
    x = tf.constant(spirals[trn, 0:2])
    y = tf.constant(spirals[trn, 2:4])

    def residuals(w):
        return tf.reshape(model.mlp_batch(x, w[None])[0] - y, [-1])

    def accuracy(w):
        predicted = np.argmax(model.mlp_numpy(spirals[:, 0:2], w), axis=1)
        return np.mean(predicted == np.argmax(spirals[:, 2:4], axis=1))

    return dict(spirals=spirals, trn=trn, val=val, x=x, y=y, residuals=residuals,
                jacobian=per_sample_jacobian(
                    lambda w, x_i: model.mlp_batch(x_i[None], w[None])[0, 0], x),
                accuracy=accuracy, w0=model.init_weights(1))


def linear(a, b):
    """Residuals ``A x - b`` as a TensorFlow function."""
    a, b = tf.constant(a, F64), tf.constant(b, F64)
    return lambda x: tf.linalg.matvec(a, x) - b


def rosenbrock(x):
    return tf.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def rosenbrock_numpy(x):
    return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def rosenbrock_numpy_jacobian(x):
    return np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]])


def rosenbrock_plus_one(x):
    """Rosenbrock with a constant residual 1: minimum SSQ 1 at (1, 1), so the
    ``ssq_goal = 0`` default never fires."""
    return tf.concat([rosenbrock(x), tf.ones([1], F64)], axis=0)


# --- Jacobians --------------------------------------------------------------------

@pytest.mark.parametrize("m", [5, 2], ids=["forward-mode", "reverse-mode"])
def test_autodiff_jacobian_matches_finite_differences(m):
    def residuals(x):
        k = tf.range(1, m + 1, dtype=F64)
        return tf.sin(k * x[0]) * x[1] ** 2 + tf.exp(x[2] / k) - k * x[0] * x[2]

    x = np.array([0.3, -1.2, 0.7])
    jac = tf.function(autodiff_jacobian(residuals, m, 3), jit_compile=True)
    fd = central_differences(lambda v: residuals(tf.constant(v)).numpy(), x)
    assert relative_error(jac(tf.constant(x)).numpy(), fd) < 1e-6


def test_autodiff_jacobian_of_the_article_mlp(article):
    w0 = article["w0"]
    jac = tf.function(autodiff_jacobian(article["residuals"], 800, 127), jit_compile=True)
    x, y = article["x"].numpy(), article["y"].numpy()
    fd = central_differences(lambda w: (model.mlp_numpy(x, w) - y).reshape(-1), w0)
    assert fd.shape == (800, 127)
    assert relative_error(jac(tf.constant(w0)).numpy(), fd) < 1e-6


def test_per_sample_jacobian_of_the_article_mlp(article):
    w0 = article["w0"]
    x, y = article["x"].numpy(), article["y"].numpy()
    jac = tf.function(article["jacobian"], jit_compile=True)
    fd = central_differences(lambda w: (model.mlp_numpy(x, w) - y).reshape(-1), w0)
    assert relative_error(jac(tf.constant(w0)).numpy(), fd) < 1e-6


def test_per_sample_jacobian_flattens_row_major():
    """Outputs of shape (2, 2) per sample: rows follow ``(fn(w, X) - Y).reshape(-1)``."""
    inputs = np.array([[1.0, 2.0], [-0.5, 0.3], [0.1, 0.0]])

    def fn(w, x_i):
        return tf.reshape(tf.tanh(w[:4] * tf.tile(x_i, [2]) + w[4]), [2, 2])

    w = np.array([0.1, -0.2, 0.3, 0.4, 0.05])
    jac = per_sample_jacobian(fn, tf.constant(inputs))(tf.constant(w)).numpy()

    def batch(v):
        return np.stack([fn(tf.constant(v), tf.constant(x)).numpy() for x in inputs]).reshape(-1)
    assert jac.shape == (12, 5)
    assert relative_error(jac, central_differences(batch, w)) < 1e-6


# --- Damping rules, scaling, linear solve --------------------------------------------

def arrays(*values):
    return [np.asarray(v, dtype=float) for v in values]


def test_marquardt_multiplies_and_divides():
    rule = Marquardt()
    mu, nu, rho = arrays(1e-3, 2.0, 0.5)
    up_mu, up_nu = rule.update(mu, nu, True, rho)
    assert up_mu == pytest.approx(1e-4) and up_nu == 2.0
    down_mu, _ = rule.update(mu, nu, False, rho)
    assert down_mu == pytest.approx(1e-2)
    assert make_damping("marquardt", 0.5, 3.0) == Marquardt(0.5, 3.0)


@pytest.mark.parametrize("rho, factor", [(1.0, 1 / 3), (0.5, 1.0), (0.25, 1.125),
                                         (0.95, 1 / 3)])
def test_nielsen_success_rule(rho, factor):
    mu, nu, rho_a = arrays(2.0, 8.0, rho)
    new_mu, new_nu = Nielsen().update(mu, nu, True, rho_a)
    assert new_mu == pytest.approx(2.0 * max(1 / 3, 1 - (2 * rho - 1) ** 3))
    assert new_mu == pytest.approx(2.0 * factor)
    assert new_nu == 2.0


def test_nielsen_failure_rule_doubles_nu():
    mu, nu, rho = arrays(2.0, 2.0, -1.0)
    for expected_mu, expected_nu in [(4.0, 4.0), (16.0, 8.0), (128.0, 16.0)]:
        mu, nu = Nielsen().update(mu, nu, False, rho)
        assert (mu, nu) == (expected_mu, expected_nu)


def test_every_rule_is_made_by_its_name():
    for name, rule in RULES.items():
        assert isinstance(make_damping(name, 0.2, 5.0), rule)
    with pytest.raises(ValueError, match="'marquardt', 'nielsen'"):
        make_damping("fletcher", 0.1, 10.0)


class NielsenAsDict(DampingRule):
    """Nielsen's rule written as a user would, its state a dict of arrays."""

    def init(self, size):
        return {"growth": np.full(size, 2.0), "steps": np.zeros(size, int)}

    def update(self, mu, state, accepted, rho):
        mu, growth = Nielsen().update(mu, state["growth"], accepted, rho)
        return mu, {"growth": growth, "steps": state["steps"] + 1}


def test_a_rule_object_keeps_its_own_state_per_row():
    """A user's rule with a dict state gives Nielsen's runs bit for bit, in a batch
    whose rows stop at different iterations (each row's state is its own)."""
    def residuals(W):
        return np.stack([10 * (W[:, 1] - W[:, 0] ** 2), 1 - W[:, 0], 0 * W[:, 0] + 1], 1)

    def jac(W):
        J = np.zeros((len(W), 3, 2))
        J[:, 0, 0], J[:, 0, 1], J[:, 1, 0] = -20 * W[:, 0], 10.0, -1.0
        return J
    X0 = np.array([[-1.2, 1.0], [3.0, -2.0], [0.5, 0.5], [-20.0, 5.0]])
    runs = [lm.least_squares_batch(residuals, X0, jac=jac, damping=damping, max_iter=300)
            for damping in ("nielsen", NielsenAsDict())]
    assert len({row.nit for row in runs[0]}) > 1
    for ours, theirs in zip(*runs):
        assert (ours.status, ours.nit, ours.nfev) == (theirs.status, theirs.nit, theirs.nfev)
        np.testing.assert_array_equal(ours.history["mu"], theirs.history["mu"])
        np.testing.assert_array_equal(ours.x, theirs.x)


def test_settings_refuse_a_space_the_objective_has_no_system_in():
    from secondorder.optim.lm.engine import LMSettings
    from secondorder.optim.lm.regularization import Bayesian
    from secondorder.optim.lm.termination import Criteria

    with pytest.raises(ValueError, match="Bayesian has no damped system in samples space"):
        LMSettings(damping=Nielsen(), scaling=identity_scaling, mu0=1e-3,
                   criteria=Criteria(1e10, 0.0, 0.0, 0.0, 0.0, None), objective=Bayesian(),
                   space=SampleSpace())


def test_gain_ratio_and_predicted_reduction():
    rng = np.random.default_rng(0)
    jac, r = rng.normal(size=(6, 3)), rng.normal(size=6)
    mu, d2 = 0.3, np.array([1.0, 2.0, 0.5])
    jtj, grad = jac.T @ jac, jac.T @ r
    delta = np.linalg.solve(jtj + mu * np.diag(d2), -grad)
    model_reduction = r @ r - np.sum((r + jac @ delta) ** 2)
    predicted = predicted_reduction(*arrays(delta, grad, mu, d2))
    assert predicted == pytest.approx(model_reduction, rel=1e-12)
    assert gain_ratio(1.0, 2.0) == 0.5
    assert gain_ratio(1.0, 0.0) == 0.0
    assert gain_ratio(np.nan, 1.0) == 0.0  # a NaN trial


def test_scalings():
    """jtj_diag keeps Moré's running maximum of the squared column norms; a column that
    has always been zero gets 1."""
    colsq = np.array([4.0, 9.0, 0.0])  # diag(J^T J)
    first = np.zeros(3)
    np.testing.assert_array_equal(identity_scaling(colsq, first), [1.0, 1.0, 1.0])
    d2 = jtj_diag_scaling(colsq, first)
    np.testing.assert_array_equal(d2, [4.0, 9.0, 1.0])
    smaller = np.array([1.0, 16.0, 0.25])
    np.testing.assert_array_equal(jtj_diag_scaling(smaller, d2), [4.0, 16.0, 1.0])


def test_gram_is_jtj_upper_triangle():
    """``dsyrk`` fills the upper triangle of ``a^T a`` (the Cholesky reads it)."""
    a = np.random.default_rng(0).normal(size=(9, 4))
    np.testing.assert_allclose(np.triu(gram(a)), np.triu(a.T @ a), rtol=1e-14)
    np.testing.assert_allclose(np.triu(sample_gram(a, np.arange(1.0, 5.0))),
                               np.triu(a @ np.diag(1 / np.arange(1.0, 5.0)) @ a.T),
                               rtol=1e-12, atol=1e-15)


def space_step(space, jac, r, mu, d2):
    """The damped step of ``space`` (:mod:`secondorder.optim.lm.linalg`) as the loop
    solves it: the space's matrix at ``J`` (from the products the provider gives),
    factored, and its step; ``(delta, ok)``."""
    lin = lm.NumpyProvider(None, lambda x: jac, jac.shape[1], m=len(r)).linearize(
        np.zeros(jac.shape[1]), r, space.sample_space, space.keeps_jacobian)
    system = space.system(space.curvature(lin, d2), mu, d2)
    if not system.ok:
        return None, False
    return space.step(system, lin.grad, r, lin.jac, d2), True


def test_parameter_space_step_solves_the_lm_equations():
    rng = np.random.default_rng(1)
    jac, r = rng.normal(size=(8, 4)), rng.normal(size=8)
    d2 = np.array([1.0, 2.0, 3.0, 4.0])
    delta, ok = space_step(ParameterSpace(), jac, r, 0.1, d2)
    np.testing.assert_allclose(delta, np.linalg.solve(jac.T @ jac + 0.1 * np.diag(d2),
                                                      -jac.T @ r))
    assert ok


@pytest.mark.parametrize("m,n", [(3, 7), (8, 4)], ids=["wide", "tall"])
def test_sample_space_step_is_the_same_step(m, n):
    """``delta = -D^-2 J^T (J D^-2 J^T + mu I)^-1 r`` solves the parameter-space
    equations ``(J^T J + mu D^2) delta = -J^T r`` (m x m instead of n x n)."""
    rng = np.random.default_rng(m)
    jac, r, d2 = rng.normal(size=(m, n)), rng.normal(size=m), rng.uniform(0.5, 2.0, n)
    exact = np.linalg.solve(jac.T @ jac + 0.1 * np.diag(d2), -jac.T @ r)
    delta, ok = space_step(SampleSpace(), jac, r, 0.1, d2)
    np.testing.assert_allclose(delta, exact, rtol=1e-10, atol=1e-12)
    assert ok


@pytest.mark.parametrize("jac", [[[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]],
                         ids=["zero-column", "rank-one"])
def test_cholesky_is_refused_and_qr_solves_a_singular_jtj(jac):
    """``J^T J + mu I`` singular to working precision (mu = 1e-20): Cholesky is refused
    and the QR solve of ``[J; sqrt(mu) I] delta ~ [-r; 0]`` is the exact damped step,
    close to the minimum-norm one for so small a mu. (``r`` is in the range of ``J``:
    with a least-squares residual left, the damped problem itself is ill-conditioned
    along the null space of ``J``, whatever the solver.)"""
    jac, mu = np.array(jac), 1e-20
    r = -jac @ np.array([1.0, 1.0])
    _, ok = space_step(ParameterSpace(), jac, r, mu, np.ones(2))
    assert not ok
    np.testing.assert_allclose(qr_step(jac, r, mu, np.ones(2)), -np.linalg.pinv(jac) @ r,
                               atol=1e-12)


def test_qr_step_is_accurate_where_the_normal_equations_are_not():
    """cond(J) = 1e9 squares to 1e18 in J^T J: the QR step of the augmented system
    keeps ~7 digits where the normal equations keep none."""
    rng = np.random.default_rng(3)
    u, _ = np.linalg.qr(rng.normal(size=(20, 4)))
    v, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    jac = u @ np.diag([1.0, 1e-3, 1e-6, 1e-9]) @ v.T
    r, mu = rng.normal(size=20), 1e-19
    stacked = np.vstack([jac, np.sqrt(mu) * np.eye(4)])
    exact = np.linalg.lstsq(stacked, -np.concatenate([r, np.zeros(4)]), rcond=None)[0]
    qr = qr_step(jac, r, mu, np.ones(4))
    assert np.max(np.abs(qr - exact)) / np.max(np.abs(exact)) < 1e-6
    normal = np.linalg.solve(jac.T @ jac + mu * np.eye(4), -jac.T @ r)
    assert np.max(np.abs(normal - exact)) / np.max(np.abs(exact)) > 1e-3


def test_gauss_newton_step_is_the_minimum_norm_solution():
    rng = np.random.default_rng(4)
    jac = rng.normal(size=(6, 3))
    jac[:, 2] = jac[:, 0] + jac[:, 1]  # rank 2
    r, d2 = rng.normal(size=6), np.array([1.0, 4.0, 0.25])
    step, predicted = gauss_newton_step(jac, r, d2)
    scaled = np.linalg.lstsq(jac / np.sqrt(d2), -r, rcond=None)[0]
    np.testing.assert_allclose(step, scaled / np.sqrt(d2), atol=1e-12)
    best = r @ r - np.sum((r + jac @ step) ** 2)
    assert predicted == pytest.approx(best, rel=1e-12)


def test_loop_uses_fallback_on_singular_jtj():
    residuals = linear([[1.0, 1.0], [1.0, 1.0]], [1.0, 3.0])
    result = least_squares(residuals, [0.0, 0.0], mu0=1e-20, gtol=1e-12)
    assert result.history["fallback"][1]
    assert result.x.sum() == pytest.approx(2.0)  # every such point is a minimum
    assert result.ssq == pytest.approx(2.0)
    assert result.status == Status.GTOL and result.success


# --- Stopping reasons ----------------------------------------------------------------

NO_TOL = dict(gtol=0.0, ftol=0.0, xtol=0.0)


@pytest.mark.parametrize("options, status", [
    (dict(max_iter=3), Status.MAX_ITER),
    (dict(max_time=1e-9, chunk=1, **NO_TOL), Status.MAX_TIME),
    (dict(ssq_goal=1.5, **NO_TOL), Status.SSQ_GOAL),
    (dict(gtol=1e-6, ftol=0.0, xtol=0.0), Status.GTOL),
    (dict(gtol=0.0, ftol=1e-2, xtol=0.0), Status.FTOL),
    (dict(gtol=0.0, ftol=0.0, xtol=1e-3), Status.XTOL),
    (dict(progress=lambda info: True, **NO_TOL), Status.CALLBACK),
])
def test_stopping_reasons(options, status):
    result = least_squares(rosenbrock_plus_one, [-1.2, 1.0], **options)
    assert result.status == status
    assert result.message and result.success == (status not in (
        Status.MAX_ITER, Status.MAX_TIME, Status.CALLBACK))
    if status == Status.MAX_ITER:
        assert result.nit == 3


def test_ftol_and_xtol_together():
    """Next to the minimum the first step is tiny in both senses."""
    result = least_squares(rosenbrock_plus_one, [1.0 + 1e-9, 1.0], gtol=0.0, ftol=1e-6,
                           xtol=1e-6)
    assert result.status == Status.FTOL_XTOL and result.success and result.nit == 1


def test_mu_max_stop_when_no_step_helps():
    """At a kink every step raises the SSQ (r = 1 + x for x >= 0, 1 - x below, and
    autodiff takes the slope 1 at 0), so mu grows past mu_max."""
    def residuals(x):
        return 1.0 + x + 2.0 * tf.nn.relu(-x)

    result = least_squares(residuals, [0.0], mu_max=5e3, **NO_TOL)
    assert result.status == Status.MU_MAX and not result.success
    assert not result.history["accepted"].any()
    assert result.nit == 7  # mu = 1e-3 * 10**7 is the first above 5e3
    np.testing.assert_array_equal(result.x, [0.0])


def test_gtol_at_start_takes_no_step():
    residuals = linear([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], [1.0, 2.0, 1.0])
    result = least_squares(residuals, [1.0, 2.0])
    assert result.status == Status.GTOL and result.nit == 0


def test_validation_early_stopping_returns_best_parameters():
    """Train x -> 1, validate x -> 0.5; with mu0 = 10 the iterates are
    1/11, 6/11, 0.9587, 0.99959: validation is best at 6/11, then fails twice."""
    result = least_squares(linear([[1.0]], [1.0]), [0.0], mu0=10.0, max_fail=2,
                           validation=linear([[1.0]], [0.5]), **NO_TOL)
    assert result.status == Status.VALIDATION and not result.success
    np.testing.assert_allclose(result.x, [6 / 11])
    assert result.nit == 4
    val = result.history["val_ssq"]
    np.testing.assert_allclose(val[2], (6 / 11 - 0.5) ** 2)
    assert np.argmin(val) == 2
    np.testing.assert_allclose(result.fun, [6 / 11 - 1.0])


@pytest.mark.parametrize("damping", ["marquardt", "nielsen"])
def test_nan_trial_is_never_accepted(damping):
    """Residuals are NaN for x > 2; the minimum of the finite part is at 5."""
    def residuals(x):
        nan = tf.constant(np.nan, F64)
        return tf.where(x > 2.0, nan, x - 5.0)

    result = least_squares(residuals, [0.0], damping=damping, max_iter=200)
    assert np.all(np.isfinite(result.history["ssq"]))
    trials = result.history["accepted"][1:]  # row 0 is the start, never a trial
    assert trials.any() and not trials.all()  # NaN trials were refused, others taken
    assert 1.9 < result.x[0] <= 2.0 and np.isfinite(result.ssq)


@pytest.mark.parametrize("solve", ["numpy", "scipy"])
def test_nonfinite_start_is_a_failed_status(solve):
    """A batch row gets status -1; a lone fit raises scipy's error."""
    def residuals(x):  # one parameter, two residuals; x or a one-row W
        return tf.math.log(x) * tf.ones([2], F64)
    result = lm.least_squares_batch(residuals, [[-1.0]], solve=solve)[0]
    assert result.status == Status.NONFINITE_START and result.status < 0
    assert not result.success and result.nit == 0
    assert "not finite" in result.message
    with pytest.raises(ValueError, match="Residuals are not finite in the initial point"):
        least_squares(residuals, [-1.0], solve=solve)


# --- Input validation --------------------------------------------------------------------

@pytest.mark.parametrize("x0, match", [
    (np.zeros((2, 2)), "1-D"), ([], "non-empty"), (["a", "b"], "real"),
    ([1.0 + 1j, 0.0], "real"), ([np.nan, 1.0], "finite"),
])
def test_bad_x0(x0, match):
    with pytest.raises(ValueError, match=match):
        least_squares(rosenbrock, x0)


@pytest.mark.parametrize("residuals, match", [
    (lambda x: tf.reshape(tf.stack([x[0], x[1]]), [1, 2]), "1-D"),
    (lambda x: tf.reduce_sum(x), "1-D"),
    (lambda x: tf.cast(x, tf.float32), "float64"),
    ("not callable", "callable"),
])
def test_bad_residuals(residuals, match):
    with pytest.raises(ValueError, match=match):
        least_squares(residuals, [1.0, 2.0])


@pytest.mark.parametrize("solve", ["numpy", "scipy"])
def test_bad_jacobian_shape(solve):
    with pytest.raises(ValueError, match=r"jacobian .* returned shape \(3, 2\), expected \(2, 2\)"):
        least_squares(rosenbrock, [1.0, 2.0], jac=lambda x: tf.ones([3, 2], F64),
                      solve=solve)
    with pytest.raises(ValueError, match=r"jac must return an \(m, n\) = \(2, 2\) array"):
        least_squares(rosenbrock_numpy, [1.0, 2.0], jac=lambda x: np.ones((3, 2)),
                      solve=solve)


@pytest.mark.parametrize("options, match", [
    (dict(solve="tf"), "solve"), (dict(damping="levenberg"), "damping"),
    (dict(scaling="more"), "scaling"), (dict(chunk=0), "chunk"),
    (dict(max_iter=-1), "max_iter"), (dict(mu0=-1.0), "mu0"), (dict(mu0=0.0), "mu0 must"),
    (dict(mu_dec=2.0), "mu_dec"),
    (dict(mu_inc=0.5), "mu_inc"), (dict(max_fail=0), "max_fail"), (dict(max_time=0), "max_time"),
    (dict(solve="scipy", validation=rosenbrock), "validation"),
    (dict(solve="scipy", damping="nielsen"), "damping"),
])
def test_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        least_squares(rosenbrock, [1.0, 2.0], **options)


# --- Result record ----------------------------------------------------------------------

@pytest.mark.parametrize("solve", ["numpy", "scipy"])
def test_result_fields_and_history(solve):
    result = least_squares(rosenbrock, [-1.2, 1.0], solve=solve, max_iter=200)
    assert isinstance(result, LMResult) and result.success
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-6)
    assert result.cost == pytest.approx(0.5 * result.ssq)
    assert result.nfev == result.nit + 1 and 1 <= result.njev <= result.nfev
    assert result.compile_s > 0 and result.time_s > 0
    assert result.batch_wall_s == result.time_s and result.batch_size == 1
    history = result.history
    assert set(history) == {"iteration", "ssq", "mu", "accepted", "fallback", "vetoed",
                            "time_s"}
    assert all(len(v) == result.nit + 1 for v in history.values())
    assert np.all(np.diff(history["ssq"]) <= 0) and np.all(np.diff(history["time_s"]) >= 0)
    if solve == "numpy":  # the loop's time is the sum of its iterations' (MINPACK's: a wall)
        assert history["time_s"][-1] == result.time_s
    assert history["ssq"][-1] == pytest.approx(result.ssq, abs=1e-20)


def test_history_is_the_same_whatever_the_chunk():
    one = least_squares(rosenbrock, [-1.2, 1.0], chunk=1)
    many = least_squares(rosenbrock, [-1.2, 1.0], chunk=7)
    for name in ("ssq", "mu", "accepted"):
        np.testing.assert_array_equal(one.history[name], many.history[name])
    np.testing.assert_array_equal(one.x, many.x)


def test_without_xla_gives_the_same_iterates():  # TensorFlow functions, compiled or not
    xla = least_squares(rosenbrock_plus_one, [-1.2, 1.0], max_iter=30)
    graph = least_squares(rosenbrock_plus_one, [-1.2, 1.0], max_iter=30, jit_compile=False)
    np.testing.assert_array_equal(xla.history["accepted"], graph.history["accepted"])
    np.testing.assert_allclose(xla.x, graph.x, rtol=1e-10)


def test_progress_is_called_once_per_chunk():
    infos = []
    least_squares(rosenbrock_plus_one, [-1.2, 1.0], max_iter=20, chunk=5, **NO_TOL,
                  progress=infos.append)
    assert [info["iteration"] for info in infos] == [5, 10, 15, 20]
    assert set(infos[0]) == {"iteration", "ssq", "mu", "elapsed", "status", "x", "best_x",
                             "best_val_ssq", "nit", "nfev", "njev", "time_s"}
    assert np.ndim(infos[0]["ssq"]) == 0 and infos[0]["x"].shape == (2,)
    assert infos[1]["nit"] == 10 and infos[1]["time_s"] >= infos[0]["time_s"]


def test_scipy_progress_sees_each_accepted_point_and_can_stop():
    """solve='scipy': progress sees x0, then every accepted point of MINPACK's run (the
    same points as a run without a callback); True stops there with CALLBACK, the
    result being that point."""
    full = least_squares(rosenbrock_plus_one, [-1.2, 1.0], solve="scipy", max_iter=200)
    infos = []
    watched = least_squares(rosenbrock_plus_one, [-1.2, 1.0], solve="scipy", max_iter=200,
                            progress=lambda info: infos.append(info) or False)
    np.testing.assert_array_equal(watched.x, full.x)
    assert watched.status == full.status
    assert infos[0]["iteration"] == 0 and np.array_equal(infos[0]["x"], [-1.2, 1.0])
    assert set(infos[0]) == {"iteration", "ssq", "mu", "elapsed", "status", "x", "row"}
    accepted = np.flatnonzero(full.history["accepted"])
    assert [info["iteration"] for info in infos] == [0, *accepted]
    np.testing.assert_array_equal([info["ssq"] for info in infos],
                                  full.history["ssq"][[0, *accepted]])
    stop_at = infos[3]["iteration"]
    stopped = least_squares(rosenbrock_plus_one, [-1.2, 1.0], solve="scipy", max_iter=200,
                            progress=lambda info: info["iteration"] >= stop_at)
    assert stopped.status == Status.CALLBACK and not stopped.success
    assert stopped.nit == stop_at and stopped.nfev == stop_at + 1 and stopped.njev == 4
    np.testing.assert_array_equal(stopped.x, infos[3]["x"])
    assert stopped.ssq == infos[3]["ssq"]
    assert len(stopped.history["ssq"]) == stop_at + 1


# --- The article's problem ---------------------------------------------------------------

def test_article_problem_reaches_97_percent(article):
    result = least_squares(article["residuals"], article["w0"],
                           jac=article["jacobian"], max_iter=1000)
    assert article["accuracy"](result.x) >= 0.97
    assert result.nit <= 1000 and np.all(np.diff(result.history["ssq"]) <= 0)


def test_fit_keras_follows_least_squares(article):
    keras_model = model.build_keras_model(dtype="float64")
    model.set_flat_weights(keras_model, article["w0"])
    val = article["spirals"][article["val"]]
    result = fit_keras(keras_model, article["x"].numpy(), article["y"].numpy(),
                       validation_data=(val[:, 0:2], val[:, 2:4]), max_fail=None,
                       max_iter=40, **TRAINLM)
    reference = least_squares(article["residuals"], article["w0"],
                              jac=article["jacobian"], max_iter=40)
    np.testing.assert_allclose(result.history["ssq"], reference.history["ssq"], rtol=1e-9)
    np.testing.assert_array_equal(result.history["accepted"], reference.history["accepted"])
    np.testing.assert_allclose(model.get_flat_weights(keras_model), reference.x, rtol=1e-7,
                               atol=1e-10)
    predictions = keras_model(article["x"]).numpy()
    np.testing.assert_allclose(predictions.reshape(-1) - article["y"].numpy().reshape(-1),
                               result.fun, atol=1e-12)
    assert np.isfinite(result.history["val_ssq"]).all()


# --- Termination: MINPACK's tests, confirmed at the point ----------------------------------

CRITERIA = Criteria(mu_max=1e10, ssq_goal=0.0, gtol=0.0, ftol=1e-6, xtol=1e-6, max_fail=None)


def candidates(ssq_trial, predicted, rho, step_norm=1.0, x_norm=1.0):
    small_f, small_x = step_candidates(CRITERIA, ssq_old=np.array([1.0]),
                                       ssq_trial=np.array([ssq_trial]),
                                       predicted=np.array([predicted]),
                                       rho=np.array([rho]),
                                       step_norm=np.array([step_norm]),
                                       x_norm=np.array([x_norm]))
    return bool(small_f[0]), bool(small_x[0])


def test_ftol_candidate_is_minpacks_test():
    """|actred| <= ftol, prered <= ftol, 0.5 rho <= 1 (MINPACK lmder)."""
    assert candidates(1 - 5e-7, 5e-7, 1.0) == (True, False)
    assert candidates(1 - 5e-7, 1e-7, 5.0) == (False, False)      # rho > 2: model off
    assert candidates(1 + 1e-7, 5e-7, -0.2) == (True, False)      # tiny rejected step
    assert candidates(1 - 1e-3, 5e-7, 2000.0) == (False, False)   # real reduction
    assert candidates(1 - 5e-7, 1e-3, 5e-4) == (False, False)     # model promises more
    assert candidates(1e3, 1e-7, -1e4) == (False, False)          # actred = -1 (MINPACK)
    assert candidates(1.0, 1.0, 0.0, step_norm=1e-7) == (False, True)
    assert candidates(1.0, 1.0, 0.0, step_norm=1e-7, x_norm=0.0) == (False, False)


def test_gradient_cosine_is_minpacks_gnorm():
    """max_j |J_j^T r| / (||J_j|| ||r||), zero columns skipped, 0 at r = 0."""
    jac, r = np.array([[3.0, 0.0, 1.0], [4.0, 0.0, 0.0]]), np.array([1.0, 0.0])
    colsq = np.sum(jac ** 2, axis=0)[None]
    cos = gradient_cosine(*arrays(colsq, (jac.T @ r)[None], [r @ r]))
    assert cos[0] == pytest.approx(max(3 / 5, 1.0))
    zero = gradient_cosine(*arrays(colsq, np.zeros((1, 3)), [0.0]))
    assert zero[0] == 0.0


def test_small_steps_from_large_damping_are_not_convergence():
    """mu0 = 1e12 makes the first steps tiny: their actual and predicted reductions are
    below ftol with rho ~ 1, so MINPACK's step test holds far from the minimum. The
    check at the point refuses it (the gradient cosine is ~1) and the run goes on to
    the minimum."""
    result = least_squares(rosenbrock_plus_one, [-1.2, 1.0], mu0=1e12, mu_max=1e20,
                           ftol=1e-8, gtol=0.0, xtol=0.0, max_iter=500)
    assert result.history["vetoed"][1] and result.history["accepted"][1]
    assert result.status == Status.FTOL and result.success
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-4)
    assert result.ssq == pytest.approx(1.0, abs=1e-8)


def test_every_reported_success_is_stationary():
    """A success is a point passing a first-order test: cosine <= sqrt(ftol) (ftol),
    a tiny Gauss-Newton step (xtol) or the cosine itself (gtol)."""
    for damping in ("marquardt", "nielsen"):
        for mu0 in (1e-3, 1.0, 1e4):
            result = least_squares(rosenbrock_plus_one, [-1.2, 1.0], damping=damping,
                                   mu0=mu0, max_iter=2000)
            jac = np.array([[-20.0 * result.x[0], 10.0], [-1.0, 0.0], [0.0, 0.0]])
            r = result.fun
            norms = np.linalg.norm(jac, axis=0) * np.linalg.norm(r)
            assert result.success, (damping, mu0, result.status)
            assert np.max(np.abs(jac.T @ r) / norms) <= 1e-6


def test_nielsen_mu_shrinks_by_a_third_on_a_linear_problem():
    """Linear residuals: the model is exact, rho = 1, so every accepted step multiplies
    mu by max(1/3, 1 - (2 rho - 1)^3) = 1/3 (Nielsen 1999)."""
    residuals = linear([[2.0, 0.0], [1.0, 3.0], [0.0, 1.0]], [1.0, 2.0, 3.0])
    result = least_squares(residuals, [0.0, 0.0], damping="nielsen", mu0=100.0, max_iter=6,
                           **NO_TOL)
    assert result.history["accepted"][1:].all()
    np.testing.assert_allclose(result.history["mu"], 100.0 * (1 / 3) ** np.arange(7),
                               rtol=1e-12)


def test_mu_never_reaches_zero():
    """r = exp(-x): every step is accepted for hundreds of iterations, so Marquardt's
    mu * 0.1**k would underflow to 0, an absorbing state; the floor keeps mu > 0."""
    def residuals(x):
        return tf.exp(-x)

    result = least_squares(residuals, [0.0], mu0=1.0, max_iter=330, **NO_TOL)
    assert result.history["accepted"][1:].all() and result.nit == 330
    assert np.all(result.history["mu"] > 0)


@pytest.mark.parametrize("solve", ["numpy", "scipy"])
def test_gtol_means_the_same_for_both_solvers(solve):
    """gtol is MINPACK's cosine test for solve='numpy' and solve='scipy' alike."""
    result = least_squares(rosenbrock_plus_one, [-1.2, 1.0], solve=solve, gtol=1e-3,
                           ftol=0.0, xtol=0.0, max_iter=500)
    jac = np.array([[-20.0 * result.x[0], 10.0], [-1.0, 0.0], [0.0, 0.0]])
    norms = np.linalg.norm(jac, axis=0) * np.linalg.norm(result.fun)
    assert result.status == Status.GTOL
    assert np.max(np.abs(jac.T @ result.fun) / norms) <= 1e-3


def test_a_floor_above_mu_max_is_no_failure():
    """J^T J = 1e40: the floor eps * 1e40 is above the absolute mu_max = 1e10 before any
    step; MU_MAX needs mu raised by failed steps, so the run goes on and converges."""
    result = least_squares(linear([[1e20]], [1e20]), [0.0], max_iter=50)
    assert result.nit > 0 and result.success, result.status
    np.testing.assert_allclose(result.x, [1.0])


def test_vanished_residuals_need_the_model_to_explain_them():
    """f <= eps^2 f0 and the Gauss-Newton model accounts for r (a zero-residual
    solution); f down by 1/eps from a huge start at a stall is not zero."""
    from secondorder.optim.lm.termination import vanished

    eps2 = np.finfo(float).eps ** 2
    f = 0.5 * eps2 * 10.0
    assert vanished(*arrays([f], [10.0], [f]))[0]
    assert not vanished(*arrays([4 * f], [10.0], [4 * f]))[0]
    assert not vanished(*arrays([260.0], [1e34], [0.5 * 260.0]))[0]


def test_sample_space_loop_follows_the_parameter_space_loop():
    """More parameters than residuals (n = 30 > m = 12): the loop solving its steps in
    sample space takes the same iterates, up to rounding, as in parameter space, for
    both scalings; ``auto`` picks sample space here."""
    rng = np.random.default_rng(7)
    a, b = tf.constant(rng.normal(size=(12, 30)) / 4), tf.constant(rng.uniform(-0.5, 0.5, 12))

    def residuals(w):
        return tf.tanh(tf.linalg.matvec(a, w)) - b

    x0 = rng.normal(size=30)
    for scaling in ("identity", "jtj_diag"):
        runs = {space: least_squares(residuals, x0, step_space=space, scaling=scaling,
                                     max_iter=25, **NO_TOL)
                for space in ("parameters", "samples", "auto")}
        ref = runs["parameters"]
        for space in ("samples", "auto"):
            np.testing.assert_allclose(runs[space].history["ssq"], ref.history["ssq"],
                                       rtol=1e-7, atol=1e-14)
            np.testing.assert_allclose(runs[space].x, ref.x, rtol=1e-6, atol=1e-9)
        # it did move (a real comparison): 25 steps, the SSQ more than halved
        assert ref.nit == 25 and ref.ssq < 0.5 * ref.history["ssq"][0]
    with pytest.raises(ValueError, match="step_space must be one of"):
        least_squares(residuals, x0, step_space="dual")


# --- numpy residuals (scipy's convention) ---------------------------------------------

def test_numpy_residuals_with_jac_follow_the_tensorflow_run():
    """A scipy user's numpy ``fun`` and ``jac`` run the same loop: the same iterates as
    the TensorFlow form of the function (Jacobians exact in both)."""
    ours = least_squares(rosenbrock_numpy, [-1.2, 1.0], jac=rosenbrock_numpy_jacobian)
    tf_run = least_squares(rosenbrock, [-1.2, 1.0])
    assert ours.success and (ours.status, ours.nit) == (tf_run.status, tf_run.nit)
    # the same to rounding: XLA's and numpy's arithmetic differ in the last bits, which
    # shows only where the SSQ has fallen to ~1e-16
    np.testing.assert_allclose(ours.history["ssq"], tf_run.history["ssq"], rtol=1e-6)
    np.testing.assert_allclose(ours.history["ssq"][:40], tf_run.history["ssq"][:40],
                               rtol=1e-12)
    np.testing.assert_allclose(ours.x, [1.0, 1.0], atol=1e-8)
    assert ours.compile_s >= 0 and ours.time_s > 0


def test_numpy_residuals_without_jac_get_finite_differences():
    """As in scipy: numpy residuals without ``jac`` get ``"2-point"`` differences (the
    run is tested against scipy's in ``test_lm_scipy_compat.py``); residuals that fail
    on numpy and on tensors are named with the numpy error."""
    result = least_squares(rosenbrock_numpy, [-1.2, 1.0])
    assert result.success and result.njev is None
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-6)

    def needs_floats(x):  # numpy calls that fail on a TensorFlow tensor
        return np.array([float(x[0]) - 1.0, float(x[1]) + 2.0])
    assert least_squares(needs_floats, [0.0, 0.0]).success

    def fails(x):
        raise KeyError("no such column")
    with pytest.raises(ValueError, match="residuals failed at the starting point: KeyError"):
        least_squares(fails, [0.0, 0.0])


def test_plain_arithmetic_runs_as_numpy_without_jac():
    """``x - 1`` works on numpy and on tensors: given numpy, it returns numpy, so it
    runs as numpy with finite differences (as in scipy)."""
    result = least_squares(lambda x: x - 1.0, [3.0, -2.0], gtol=1e-12)
    assert result.success and result.njev is None
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-8)


def test_numpy_nan_trial_is_refused_and_a_bad_jacobian_is_named():
    """NaN residuals mid-run are a refused step, with numpy functions too; a Jacobian
    whose shape changes mid-run stops the run with an error naming it."""
    def residuals(x):
        return np.where(x > 2.0, np.nan, x - 5.0)

    result = least_squares(residuals, [0.0], jac=lambda x: np.ones((1, 1)), max_iter=200)
    trials = result.history["accepted"][1:]
    assert trials.any() and not trials.all() and 1.9 < result.x[0] <= 2.0

    calls = []

    def bad_jac(x):
        calls.append(1)
        return np.ones((1, 1)) if len(calls) < 4 else np.ones((2, 1))
    with pytest.raises(ValueError, match=r"jacobian .* returned shape \(2, 1\), expected \(1, 1\)"):
        least_squares(lambda x: x - 5.0 if np.ndim(x) else x, [0.0], jac=bad_jac)


def test_the_jacobian_option_is_called_jac():
    with pytest.raises(TypeError, match="called jac, as in scipy"):
        least_squares(rosenbrock, [1.0, 2.0], jacobian=None)


# --- Geodesic acceleration (Transtrum & Sethna 2012) -------------------------------------

def test_geodesic_acceleration_of_a_quadratic_is_exact():
    """``r = (x0^2 - 1, x0 x1 - 2)``: along ``v`` the second directional derivative is
    ``(2 v0^2, 2 v0 v1)`` exactly, and the finite difference of the engine finds it
    (the residuals are quadratic), so ``a = -(J^T J + mu I)^-1 J^T r_vv``."""
    from secondorder.optim.lm.engine import LMSettings, init_state
    from secondorder.optim.lm.steps import Geodesic
    from secondorder.optim.lm.termination import Criteria

    def fun(x):
        return np.array([x[0] ** 2 - 1.0, x[0] * x[1] - 2.0])

    def jac(x):
        return np.array([[2 * x[0], 0.0], [x[1], x[0]]])

    provider = lm.NumpyProvider(fun, jac, 2, m=2)
    settings = LMSettings(damping=Marquardt(), scaling=identity_scaling, mu0=0.5,
                          criteria=Criteria(1e10, 0.0, 0.0, 0.0, 0.0, None),
                          step=Geodesic())
    state = init_state(provider, settings, np.array([[1.5, 0.5]]))
    space = settings.space
    system = space.system(state.curvature[0], state.mu[0], state.d2[0])
    v = space.step(system, state.grad[0], state.r[0], state.jac[0], state.d2[0])
    accel, ratio = settings.step.acceleration(provider, space, system, v, state.x[0],
                                              state.r[0], state.jac[0], state.d2[0])
    j = jac(np.array([1.5, 0.5]))
    r_vv = np.array([2 * v[0] ** 2, 2 * v[0] * v[1]])
    expected = -np.linalg.solve(j.T @ j + 0.5 * np.eye(2), j.T @ r_vv)
    np.testing.assert_allclose(accel, expected, rtol=1e-8)
    assert ratio == pytest.approx(2 * np.linalg.norm(expected) / np.linalg.norm(v), rel=1e-8)


def test_geodesic_acceleration_changes_nothing_on_a_linear_problem():
    """Linear residuals have no second derivative: the acceleration is zero (to
    rounding) and the iterates are those without it, at one more evaluation each."""
    residuals = linear([[2.0, 0.0], [1.0, 3.0], [0.0, 1.0]], [1.0, 2.0, 3.0])
    plain = least_squares(residuals, [0.0, 0.0], mu0=100.0, max_iter=8, **NO_TOL)
    geo = least_squares(residuals, [0.0, 0.0], mu0=100.0, max_iter=8, geodesic=True,
                        **NO_TOL)
    np.testing.assert_allclose(geo.history["ssq"], plain.history["ssq"], rtol=1e-9)
    assert geo.nfev == plain.nfev + geo.nit


@pytest.mark.parametrize("damping", ["marquardt", "nielsen"])
def test_geodesic_runs_converge_and_report_only_true_successes(damping):
    result = least_squares(rosenbrock_plus_one, [-1.2, 1.0], damping=damping,
                           geodesic=True, max_iter=500)
    assert result.success and result.nfev > result.nit + 1
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-5)
    jac = np.array([[-20.0 * result.x[0], 10.0], [-1.0, 0.0], [0.0, 0.0]])
    norms = np.linalg.norm(jac, axis=0) * np.linalg.norm(result.fun)
    assert np.max(np.abs(jac.T @ result.fun) / norms) <= 1e-5


# --- Bayesian regularisation (MacKay 1992; Foresee & Hagan 1997; trainbr) ---------------

def test_damped_system_adds_its_diagonal_whatever_the_memory_order():
    """``dsyrk`` returns Fortran-ordered matrices, a scaled copy keeps that order: the
    damping and the shift must land on the diagonal either way."""
    jac = np.random.default_rng(0).normal(size=(20, 5))
    d2 = np.arange(1.0, 6.0)
    for curvature in (gram(jac), np.ascontiguousarray(gram(jac))):
        for scale, shift in ((1.0, 0.0), (0.7, 23.0)):
            system = DampedSystem(curvature, 0.1, d2, scale=scale, shift=shift)
            matrix = scale * jac.T @ jac + np.diag(0.1 * d2 + shift)
            np.testing.assert_allclose(system.solve(np.ones(5)),
                                       np.linalg.solve(matrix, np.ones(5)), rtol=1e-12)
            assert system.inverse_trace() == pytest.approx(np.trace(np.linalg.inv(matrix)))


def test_bayesian_reestimates_are_mackays():
    """gamma = N - alpha tr((beta J^T J + alpha I)^-1), alpha = gamma / (2 E_W),
    beta = (n - gamma) / (2 E_D); alpha = 0 counts every parameter."""
    from secondorder.optim.lm.regularization import reestimate

    jac = np.random.default_rng(1).normal(size=(30, 4))
    x, ssq, m = np.array([0.5, -1.0, 2.0, 0.1]), 3.0, 30
    alpha, beta, gamma = reestimate(gram(jac), ssq, x, 2.0, 0.5, m)
    expected_gamma = 4 - 2.0 * np.trace(np.linalg.inv(0.5 * jac.T @ jac + 2.0 * np.eye(4)))
    assert gamma == pytest.approx(expected_gamma)
    assert alpha == pytest.approx(expected_gamma / (2 * x @ x))
    assert beta == pytest.approx((m - expected_gamma) / (2 * ssq))
    assert reestimate(gram(jac), ssq, x, 0.0, 1.0, m)[2] == 4.0


def test_bayesian_regularisation_smooths_a_noisy_regression():
    """A 1-20-1 network on 40 noisy samples of sin(3x): plain LM overfits; trainbr's
    rule converges with ~9 of 61 parameters effective and a lower error on the
    noise-free curve, from either of two initial weights."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (60, 1))
    y = np.sin(3 * x) + 0.15 * rng.normal(size=x.shape)
    grid = np.linspace(-1, 1, 200)[:, None]
    problem = data.Problem(np.vstack([x, grid]), np.vstack([y, np.sin(3 * grid)]),
                           np.arange(40), np.arange(40, 60), "raw")
    arch = model.Architecture(1, 20, 1, output="linear")
    from secondorder.optim.lm_network import lm_provider

    provider = lm_provider(problem, arch, "closed_form")
    for seed in (1, 2):
        w0 = model.init_weights(seed, arch, -0.5, 0.5)[None]
        fits = {reg: lm.least_squares_batch(provider, w0, max_iter=500, damping="marquardt",
                                            scaling="identity", regularization=reg,
                                            progress=lambda info: False)[0]
                for reg in (None, "bayesian")}
        error = {reg: np.mean((model.mlp_numpy(grid, fit.x, arch) - np.sin(3 * grid)) ** 2)
                 for reg, fit in fits.items()}
        bayes = fits["bayesian"]
        assert bayes.success and set(bayes.history) >= {"alpha", "beta", "gamma"}
        assert 3 < bayes.history["gamma"][-1] < 20 < arch.n_params
        assert error["bayesian"] < 0.5 * error[None]


def test_bayesian_regularisation_refuses_sample_space_and_minpack():
    with pytest.raises(ValueError, match="parameter space"):
        least_squares(rosenbrock, [1.0, 2.0], regularization="bayesian",
                      step_space="samples")
    with pytest.raises(ValueError, match="regularization"):
        least_squares(rosenbrock, [1.0, 2.0], solve="scipy", regularization="bayesian")
    with pytest.raises(ValueError, match="regularization must be"):
        least_squares(rosenbrock, [1.0, 2.0], regularization="l2")
