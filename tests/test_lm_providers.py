"""The LM loop's providers: every Jacobian equal to autodiff (and to finite
differences), the products where they are computed, the checks on what comes back."""

import numpy as np
import pytest
import tensorflow as tf

from secondorder.optim import lm
from secondorder.optim.lm import NumpyProvider, TFProvider
from secondorder.optim.lm.jacobian import autodiff_jacobian
from secondorder.optim.lm_network import lm_provider, mlp_residuals_batch, paired_softmax
from secondorder.problem import data, model
from secondorder.problem.datasets import load_problem

ARCHITECTURES = {
    "article 2-25-2 softmax (paired)": model.ARTICLE,
    "4-6-5-3 softmax": model.Architecture(4, 6, 3, nhid2=5),
    "3-4-2 linear": model.Architecture(3, 4, 2, output="linear"),
    "5-7-4-1 linear": model.Architecture(5, 7, 1, nhid2=4, output="linear"),
}


def problem_for(arch: model.Architecture, rng) -> data.Problem:
    """Random inputs; one-hot targets for softmax outputs, real ones for linear."""
    n = 40
    x = rng.normal(size=(n, arch.nin))
    if arch.output == "softmax":
        y = np.eye(arch.nout)[rng.integers(0, arch.nout, n)]
    else:
        y = rng.normal(size=(n, arch.nout))
    return data.Problem(x, y, np.arange(30), np.arange(30, 40), "raw")


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_closed_form_provider_equals_tensorflow_autodiff(name):
    """Residuals and Jacobian of the closed-form provider against the TensorFlow one
    (per-sample reverse mode) and against plain autodiff of the residual vector, at
    weights that saturate some units."""
    arch, rng = ARCHITECTURES[name], np.random.default_rng(len(name))
    problem = problem_for(arch, rng)
    closed, tf_provider = (lm_provider(problem, arch, jac) for jac in ("closed_form", "tf"))
    residuals, _, _ = mlp_residuals_batch(problem, arch)
    generic = tf.function(autodiff_jacobian(lambda w: residuals(w[None])[0], closed.m,
                                            arch.n_params), jit_compile=True)
    assert (closed.m, closed.p) == (tf_provider.m, tf_provider.p)
    for scale in (0.5, 5.0):
        w = scale * rng.normal(size=arch.n_params)
        np.testing.assert_allclose(closed.residuals(w), tf_provider.residuals(w),
                                   rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(closed.validation(w), tf_provider.validation(w),
                                   rtol=1e-12, atol=1e-14)
        jac = closed.jacobian(w)
        np.testing.assert_allclose(jac, tf_provider.jacobian(w), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(jac, generic(tf.constant(w)).numpy(), rtol=1e-10,
                                   atol=1e-13)


def test_closed_form_jacobian_matches_finite_differences():
    arch, rng = model.Architecture(3, 5, 3, nhid2=4), np.random.default_rng(5)
    x, w = rng.normal(size=(6, 3)), rng.normal(size=arch.n_params)
    _, jac = model.mlp_jacobian(x, w, arch)
    h = 1e-6
    fd = np.stack([(model.mlp_numpy(x, w + h * e, arch, stable=True)
                    - model.mlp_numpy(x, w - h * e, arch, stable=True)) / (2 * h)
                   for e in np.eye(arch.n_params)], axis=-1)
    assert jac.shape == (6, 3, arch.n_params)
    assert np.max(np.abs(jac - fd)) / np.max(np.abs(fd)) < 1e-8


def test_the_article_pairs_its_two_outputs_in_both_providers():
    spirals = data.spiral_data(500)
    trn, val = data.split_indices(500)
    problem = data.Problem(spirals[:, :2], spirals[:, 2:], trn, val, "raw")
    assert paired_softmax(problem, model.ARTICLE)
    for jacobian in ("tf", "closed_form"):
        provider = lm_provider(problem, model.ARTICLE, jacobian)
        assert (provider.m, provider.n, provider.p) == (400, 127, 100)


@pytest.mark.parametrize("damping", ["marquardt", "nielsen"])
def test_either_jacobian_gives_the_same_fit_to_rounding(damping):
    """The suite's shapes (a bundled data set, two hidden layers): the same iterates
    from either provider (20 iterations), to rounding (~1e-15 at first, growing as in any chaotic fit:
    ~1e-7 by iteration 20), and each row of a batch of three is the fit alone."""
    problem, _ = load_problem("iris")
    arch = model.Architecture(problem.x_train.shape[1], 6, problem.y_train.shape[1],
                              nhid2=4)
    W0 = np.stack([model.init_weights(s, arch, -0.5, 0.5) for s in (1, 2, 3)])
    runs = {jac: lm.least_squares_batch(lm_provider(problem, arch, jac), W0,
                                        damping=damping, max_iter=20,
                                        progress=lambda info: False)
            for jac in ("tf", "closed_form")}
    for tf_run, closed in zip(runs["tf"], runs["closed_form"]):
        assert (tf_run.status, tf_run.nit) == (closed.status, closed.nit)
        np.testing.assert_allclose(closed.history["ssq"][:11], tf_run.history["ssq"][:11],
                                   rtol=1e-10)
        np.testing.assert_allclose(closed.history["ssq"], tf_run.history["ssq"], rtol=1e-5)
    alone = lm.least_squares_batch(lm_provider(problem, arch, "closed_form"), W0[1:2],
                                   damping=damping, max_iter=20, progress=lambda info: False)
    np.testing.assert_array_equal(alone[0].history["ssq"], runs["closed_form"][1].history["ssq"])
    np.testing.assert_array_equal(alone[0].x, runs["closed_form"][1].x)


def test_providers_name_a_function_whose_shape_is_wrong():
    provider = NumpyProvider(lambda x: np.zeros(3), lambda x: np.zeros((3, 2)), 2, m=4)
    with pytest.raises(ValueError, match=r"residuals returned shape \(3,\), expected \(4,\)"):
        provider.residuals(np.zeros(2))
    with pytest.raises(ValueError, match=r"jacobian .* returned shape \(3, 2\), expected \(4, 2\)"):
        provider.jacobian(np.zeros(2))


def test_tensorflow_provider_compiles_once_for_one_row():
    """One row at a time, shape (1, n): the functions trace once, whatever the batch."""
    traces = []

    def residuals(W):
        traces.append(1)
        return tf.stack([W[:, 0] - 1.0, 2.0 * (W[:, 1] + 1.0)], axis=1)

    provider = TFProvider(residuals, 2, 2)
    res = lm.least_squares_batch(provider, np.random.default_rng(0).normal(size=(5, 2)),
                                 max_iter=20, progress=lambda info: False)
    assert all(r.success for r in res)
    assert len(traces) <= 3  # the residuals, and their trace inside the autodiff Jacobian
    assert provider.device.startswith("CPU") or provider.device.startswith("GPU")
