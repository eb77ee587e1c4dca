"""Tests of ``secondorder.optim.lm.least_squares_batch``: each row is the run
``least_squares`` makes from that row alone (CPU, no timings)."""

import numpy as np
import pytest
import tensorflow as tf

from secondorder.config import check_arm
from secondorder.optim import arms, lm_network
from secondorder.problem import data, model
from secondorder.optim import lm
from secondorder.optim.lm import Status

F64 = tf.float64

#: trainlm's rules (Marquardt, D = I) unless a test says otherwise (see test_lm.py).
TRAINLM = dict(damping="marquardt", scaling="identity")


def least_squares(*args, **options):
    return lm.least_squares(*args, **{**TRAINLM, **options})


def least_squares_batch(*args, **options):
    if options.get("solve") != "scipy":
        options = {**TRAINLM, **options}
    return lm.least_squares_batch(*args, **options)
NO_TOL = dict(gtol=0.0, ftol=0.0, xtol=0.0)


@pytest.fixture(scope="module")
def article():
    """The article's LM problem (raw inputs), single-row and batched functions."""
    spirals = data.spiral_data(500)
    trn, val = data.split_indices(500)
    problem = data.Problem(spirals[:, 0:2], spirals[:, 2:4], trn, val, "raw")
    batch = lm_network.mlp_residuals_batch(problem, model.ARTICLE)
    return dict(problem=problem, single=tuple(one_row(fn) for fn in batch), batch=batch)


def assert_same_run(batch, single, rtol=1e-10):
    """A batch row against the run from its starting point alone."""
    assert (batch.status, batch.nit, batch.nfev, batch.njev) == (
        single.status, single.nit, single.nfev, single.njev)
    assert set(batch.history) == set(single.history)
    np.testing.assert_array_equal(batch.history["accepted"], single.history["accepted"])
    np.testing.assert_array_equal(batch.history["fallback"], single.history["fallback"])
    np.testing.assert_array_equal(batch.history["vetoed"], single.history["vetoed"])
    for name in ("ssq", "mu") + (("val_ssq",) if "val_ssq" in single.history else ()):
        np.testing.assert_allclose(batch.history[name], single.history[name], rtol=rtol)
    np.testing.assert_allclose(batch.x, single.x, rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(batch.fun, single.fun, rtol=rtol, atol=1e-14)


def rosenbrock_batch(w):
    """Rosenbrock residuals ``(10 (x1 - x0^2), 1 - x0)`` of each row."""
    return tf.stack([10.0 * (w[:, 1] - w[:, 0] ** 2), 1.0 - w[:, 0]], axis=1)


def rosenbrock_jacobian(w):
    zero, one = tf.zeros_like(w[:, 0]), tf.ones_like(w[:, 0])
    return tf.stack([tf.stack([-20.0 * w[:, 0], 10.0 * one], axis=1),
                     tf.stack([-one, zero], axis=1)], axis=1)


def one_row(fn):
    """The single-run form ``w -> fn(w[None])[0]`` of a batched function."""
    return lambda w: fn(w[None])[0]


# --- The article's problem -------------------------------------------------------------

@pytest.mark.parametrize("damping", ["marquardt", "nielsen"])
def test_article_rows_follow_their_single_runs(article, damping):
    seeds = [1, 2, 3, 4]
    residuals, jacobian, validation = article["batch"]
    batch = least_squares_batch(residuals, [model.init_weights(s) for s in seeds],
                                jac=jacobian, damping=damping, max_iter=150,
                                validation=validation)
    residuals, jacobian, validation = article["single"]
    for seed, row in zip(seeds, batch):
        single = least_squares(residuals, model.init_weights(seed), jac=jacobian,
                               damping=damping, max_iter=150, validation=validation,
                               max_fail=None)
        assert_same_run(row, single)
    assert all(row.time_s > 0 and row.compile_s > 0 for row in batch)
    # each row is charged its share: the shares add up to the batch's time
    assert sum(row.time_s for row in batch) == pytest.approx(batch[0].batch_wall_s)


def central_differences_batch(fn, w, h=1e-6):
    """``(B, m, n)`` Jacobian of the batched numpy ``fn`` by central differences."""
    cols = []
    for j in range(w.shape[1]):
        e = np.zeros_like(w)
        e[:, j] = h
        cols.append((fn(w + e) - fn(w - e)) / (2 * h))
    return np.stack(cols, axis=2)


@pytest.mark.parametrize("pair", [True, False], ids=["paired", "full"])
def test_batched_mlp_jacobian_matches_finite_differences(article, pair):
    residuals, jacobian, _ = lm_network.mlp_residuals_batch(article["problem"], model.ARTICLE,
                                                          pair_outputs=pair)
    w = np.stack([model.init_weights(seed) for seed in (1, 2, 3)])
    w[2] *= 30.0  # saturated hidden units: a harder row
    jac = tf.function(jacobian)(tf.constant(w)).numpy()
    fd = central_differences_batch(lambda v: residuals(tf.constant(v)).numpy(), w)
    assert jac.shape == fd.shape == (3, 400 if pair else 800, 127)
    for b in range(3):
        assert np.max(np.abs(jac[b] - fd[b])) / np.max(np.abs(fd[b])) < 1e-6


@pytest.mark.parametrize("damping", ["marquardt", "nielsen"])
def test_paired_outputs_give_the_same_iterates(article, damping):
    """Two softmax outputs: the sqrt(2) e residuals give the SSQ, steps and iterates of
    the full (e, -e) residuals, up to rounding. (Rounding differences grow like any
    others in this chaotic fit: ~1e-6 relative after 30-40 iterations; 25 are
    compared.)"""
    w0 = np.stack([model.init_weights(s) for s in (1, 2)])
    runs = []
    for pair in (True, False):
        residuals, jacobian, _ = lm_network.mlp_residuals_batch(
            article["problem"], model.ARTICLE, pair_outputs=pair)
        runs.append(least_squares_batch(residuals, w0, jac=jacobian, damping=damping,
                                        max_iter=25))
    for paired, full in zip(*runs):
        assert (paired.status, paired.nit) == (full.status, full.nit)
        np.testing.assert_array_equal(paired.history["accepted"], full.history["accepted"])
        np.testing.assert_allclose(paired.history["ssq"], full.history["ssq"], rtol=1e-9)
        np.testing.assert_allclose(paired.x, full.x, rtol=1e-7, atol=1e-9)


def test_pairing_needs_one_hot_targets(article):
    problem = article["problem"]
    assert lm_network.paired_softmax(problem, model.ARTICLE)
    soft = data.Problem(problem.x_all, 0.9 * problem.y_all, problem.train,
                        problem.validation, "raw")
    assert not lm_network.paired_softmax(soft, model.ARTICLE)
    assert lm_network.mlp_residuals_batch(soft, model.ARTICLE)[0](
        tf.constant(model.init_weights(1)[None])).shape == (1, 800)


ARM = check_arm({"optimizer": "lm", "inputs": "raw", "solve": "numpy",
                 "damping": "marquardt", "scaling": "identity", "mu0": 1e-3,
                 "mu_max": 1e10, "max_iter": 40, "max_time": None, "max_fail": 6,
                 "chunk": 16})


@pytest.mark.parametrize("scaling", ["identity", "jtj_diag"])
def test_fit_lm_batch_matches_fit_lm(article, scaling):
    """The stage's lone fit (``arms.fit_arm``) is row ``b`` of the study's batch."""
    arm = {**ARM, "scaling": scaling}
    seeds = [1, 2, 3]
    w0 = np.stack([model.init_weights(s) for s in seeds])
    fits = lm_network.fit_lm_batch(arm, article["problem"], w0, model.ARTICLE)
    for seed, fit in zip(seeds, fits):
        alone = arms.fit_arm(arm, article["problem"], model.init_weights(seed), model.ARTICLE)
        assert (fit.status, fit.status_code, fit.success, fit.iterations, fit.evaluations) == (
            alone.status, alone.status_code, alone.success, alone.iterations,
            alone.evaluations)
        assert list(fit.history.columns) == list(alone.history.columns)
        for column in ("iteration", "ssq_train", "ssq_val", "mu"):
            np.testing.assert_allclose(fit.history[column], alone.history[column], rtol=1e-10)
        np.testing.assert_allclose(fit.weights, alone.weights, rtol=1e-10, atol=1e-14)
        assert fit.extra["njev"] == alone.extra["njev"] and fit.batch_size == 3
        # alone, a fit's own compute is its wall time
        assert alone.batch_size == 1 and alone.time_s == alone.batch_wall_s > 0
        assert alone.time_s == alone.history["time_s"].iloc[-1]
        # in the batch, its share: less than the batch's wall, the history's last time
        assert 0 < fit.time_s < fit.batch_wall_s
        assert fit.time_s == fit.history["time_s"].iloc[-1]
        assert np.all(np.diff(fit.history["time_s"]) >= 0)
    # the shares add up to the batch's wall time
    assert sum(f.time_s for f in fits) == pytest.approx(fits[0].batch_wall_s)


def test_fit_lm_batch_with_minpack(article):
    """``solve: scipy`` runs MINPACK row by row on the same residuals."""
    arm = {**ARM, "solve": "scipy", "max_iter": 30}
    fits = lm_network.fit_lm_batch(arm, article["problem"],
                                 np.stack([model.init_weights(s) for s in (1, 2)]),
                                 model.ARTICLE)
    assert [f.batch_size for f in fits] == [1, 1]
    # each row ran alone: its own compute is its wall time
    assert all(f.time_s == f.batch_wall_s == f.history["time_s"].iloc[-1] > 0 for f in fits)
    assert all(f.iterations <= 30 and f.history["ssq_train"].iloc[-1] < 200 for f in fits)


# --- Rows that stop at different times ------------------------------------------------

@pytest.mark.parametrize("scaling", ["identity", "jtj_diag"])
@pytest.mark.parametrize("damping", ["marquardt", "nielsen"])
def test_rows_stop_on_their_own_and_stay_frozen(damping, scaling):
    """Row 0 starts at the minimum, SSQ 0 (SSQ_GOAL before any step); the others
    converge after different numbers of iterations, across chunk boundaries."""
    x0 = np.array([[1.0, 1.0], [-1.2, 1.0], [0.5, 0.5], [2.0, -1.0]])
    batch = least_squares_batch(rosenbrock_batch, x0, jac=rosenbrock_jacobian,
                                damping=damping, scaling=scaling, chunk=3, max_iter=200,
                                gtol=1e-9)
    assert batch[0].status == Status.SSQ_GOAL and batch[0].nit == 0
    np.testing.assert_array_equal(batch[0].x, x0[0])
    assert len(set(row.nit for row in batch[1:])) > 1
    for start, row in zip(x0, batch):
        single = least_squares(one_row(rosenbrock_batch), start, damping=damping,
                               scaling=scaling, chunk=3, max_iter=200, gtol=1e-9,
                               jac=one_row(rosenbrock_jacobian))
        assert_same_run(row, single)
        assert all(len(values) == row.nit + 1 for values in row.history.values())


def test_nonfinite_start_row_is_left_alone():
    """Row 1 has log of a negative number at its start: status -1, nothing done, while
    the others converge."""
    def residuals(w):
        return tf.stack([tf.math.log(w[:, 0]) - 1.0, w[:, 1] - 2.0, 0.1 * w[:, 0] * w[:, 1]],
                        axis=1)

    def jacobian(w):
        zero = tf.zeros_like(w[:, 0])
        return tf.stack([tf.stack([1.0 / w[:, 0], zero], axis=1),
                         tf.stack([zero, zero + 1.0], axis=1),
                         tf.stack([0.1 * w[:, 1], 0.1 * w[:, 0]], axis=1)], axis=1)

    x0 = np.array([[1.0, 0.0], [-1.0, 0.0], [5.0, 3.0]])
    batch = least_squares_batch(residuals, x0, jac=jacobian, max_iter=100)
    bad = batch[1]
    assert bad.status == Status.NONFINITE_START and not bad.success and bad.nit == 0
    assert bad.nfev == bad.njev == 1 and len(bad.history["ssq"]) == 1
    np.testing.assert_array_equal(bad.x, x0[1])
    for b in (0, 2):
        single = least_squares(one_row(residuals), x0[b], jac=one_row(jacobian),
                               max_iter=100)
        assert batch[b].nit > 0 and batch[b].success
        assert_same_run(batch[b], single)


def test_fallback_only_in_the_rows_whose_cholesky_fails():
    """mu0 = 1e-20. ``r = (w0 + w1 - 1, w0 + w1 - 3 + (w0 - w1)^2)``: on the diagonal
    ``w0 = w1`` the Jacobian has rank 1, so row 0 (from the origin) needs the QR step
    of the augmented system; row 1 starts off it and never needs one."""
    def residuals(w):
        s, d = w[:, 0] + w[:, 1], w[:, 0] - w[:, 1]
        return tf.stack([s - 1.0, s - 3.0 + d ** 2], axis=1)

    batch = least_squares_batch(residuals, np.array([[0.0, 0.0], [2.0, 0.0]]), mu0=1e-20,
                                gtol=1e-12, max_iter=100)
    assert batch[0].history["fallback"][1] and not batch[1].history["fallback"].any()
    assert batch[0].success and batch[1].success
    assert batch[1].ssq < 1e-20  # the zero-residual solution, w0 + w1 = 1, |w0 - w1| = sqrt 2
    for b, start in enumerate(([0.0, 0.0], [2.0, 0.0])):
        assert_same_run(batch[b], least_squares(one_row(residuals), start, mu0=1e-20,
                                                gtol=1e-12, max_iter=100))


def linear(a, rhs):
    """Residuals ``A w - rhs`` of each row (one matrix for all rows)."""
    a, rhs = tf.constant(a, F64), tf.constant(rhs, F64)
    return lambda w: tf.linalg.matvec(a, w) - rhs


# --- Batch-wide stops, validation, inputs ----------------------------------------------

def test_max_iter_and_callback_stop_the_running_rows():
    x0 = np.array([[1.0, 1.0], [-1.2, 1.0], [2.0, -1.0]])
    capped = least_squares_batch(rosenbrock_batch, x0, jac=rosenbrock_jacobian, max_iter=4,
                                 **NO_TOL)
    assert [row.status for row in capped] == [Status.SSQ_GOAL] + [Status.MAX_ITER] * 2
    assert [row.nit for row in capped] == [0, 4, 4]
    infos = []

    def stop_after_two_chunks(info):
        infos.append(info)
        return len(infos) == 2

    stopped = least_squares_batch(rosenbrock_batch, x0, jac=rosenbrock_jacobian, chunk=2,
                                  progress=stop_after_two_chunks, **NO_TOL)
    assert stopped[0].status == Status.SSQ_GOAL and stopped[0].nit == 0
    assert [row.status for row in stopped[1:]] == [Status.CALLBACK] * 2
    assert not any(row.success for row in stopped[1:])  # a callback stop is no success
    assert [info["iteration"] for info in infos] == [2, 4]
    assert infos[0]["running"] == 2 and infos[0]["ssq"].shape == (3,)


def test_validation_early_stopping_returns_each_rows_best():
    """Train x -> 1, validate x -> 0.5, mu0 = 10: from 0 (row 0) the validation is best
    at 6/11 then fails twice; from 2 (row 1) it improves every step."""
    batch = least_squares_batch(linear([[1.0]], [1.0]), np.array([[0.0], [2.0]]), mu0=10.0,
                                validation=linear([[1.0]], [0.5]), max_fail=2, max_iter=6,
                                **NO_TOL)
    assert batch[0].status == Status.VALIDATION and batch[0].nit == 4
    assert not batch[0].success  # early stopping is not convergence
    np.testing.assert_allclose(batch[0].x, [6 / 11])
    np.testing.assert_allclose(batch[0].fun, [6 / 11 - 1.0])
    assert batch[1].status == Status.MAX_ITER and batch[1].nit == 6
    assert batch[1].x[0] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("x0, residuals, match", [
    (np.zeros(2), rosenbrock_batch, "2-D"),
    (np.array([[np.nan, 1.0]]), rosenbrock_batch, "finite"),
    (np.zeros((2, 2)), lambda w: tf.reduce_sum(w, axis=1), "1-D array per row"),
    (np.zeros((2, 2)), lambda w: tf.cast(w, tf.float32), "float64"),
])
def test_bad_inputs(x0, residuals, match):
    with pytest.raises(ValueError, match=match):
        least_squares_batch(residuals, x0, jac=rosenbrock_jacobian)


def test_bad_jacobian_shape():
    with pytest.raises(ValueError, match="rows x residuals x parameters"):
        least_squares_batch(rosenbrock_batch, np.zeros((2, 2)),
                            jac=lambda w: tf.ones([2, 3, 2], F64))


def test_consecutive_fits_on_one_problem_share_their_provider(article):
    """The suite trains grid points one call each on the same problem object: one
    provider (one compilation) serves them; another problem object builds its own."""
    arm = {**ARM, "max_iter": 2}
    w0 = model.init_weights(1)[None]
    lm_network.fit_lm_batch(arm, article["problem"], w0, model.ARTICLE)
    first = lm_network._PROVIDER[2]
    lm_network.fit_lm_batch({**arm, "mu0": 1.0}, article["problem"], w0, model.ARTICLE)
    assert lm_network._PROVIDER[2] is first
    other = data.Problem(article["problem"].x_all, article["problem"].y_all,
                         article["problem"].train, article["problem"].validation, "raw")
    lm_network.fit_lm_batch(arm, other, w0, model.ARTICLE)
    assert lm_network._PROVIDER[2] is not first
