"""Mini-batch Adam with a cosine schedule: the schedule's values, a tiny problem learns,
a fit is reproducible bit for bit, each init draws its own mini-batches."""

import numpy as np
import pandas as pd
import pytest

from secondorder.optim import minibatch


@pytest.fixture(scope="module")
def iris():
    from secondorder.pipeline.suite.runner import architecture
    from secondorder.problem import datasets, model

    problem, info = datasets.load_problem("iris")
    arch = architecture(info, [4])
    return problem, arch, np.stack([model.init_weights(s, arch, -0.5, 0.5) for s in (1, 2)])


ARM = {"optimizer": "adam_minibatch", "inputs": "standardised", "learning_rate": 0.05,
       "final_fraction": 0.1, "decay_epochs": 20, "batch_size": 16, "epochs": 40,
       "patience": 1000, "chunk": 8, "seed": 0, "loss": "ssq", "max_time": None}


def test_the_cosine_schedule():
    rate = minibatch.cosine_learning_rate
    assert rate(0, 0.1, 0.0, 10) == pytest.approx(0.1)
    assert rate(5, 0.1, 0.0, 10) == pytest.approx(0.05)  # half way: the mean
    assert rate(5, 0.1, 0.2, 10) == pytest.approx(0.1 * (0.2 + 0.8 * 0.5))
    assert rate(10, 0.1, 0.1, 10) == pytest.approx(0.01)
    assert rate(25, 0.1, 0.1, 10) == pytest.approx(0.01)  # stays at the end value
    np.testing.assert_allclose(rate([0, 2.5, 7.5], 1.0, 0.0, 10),
                               [1.0, (1 + np.cos(np.pi / 4)) / 2, (1 - np.cos(np.pi / 4)) / 2])


def test_steps_per_epoch_and_seeds():
    descent = minibatch.MiniBatches(90, 16, 0.01, 0.0, 10)
    assert (descent.size, descent.steps) == (16, 5)  # 10 rows sit each epoch out
    assert minibatch.MiniBatches(10, 16, 0.01, 0.0, 10).steps == 1  # fewer rows: one batch
    w = np.linspace(-1, 1, 7)
    assert minibatch.fit_seed(0, w) == minibatch.fit_seed(0, w.astype(np.float32))
    assert minibatch.fit_seed(0, w) != minibatch.fit_seed(0, -w)
    assert minibatch.fit_seed(0, w) != minibatch.fit_seed(1, w)
    assert 0 <= minibatch.fit_seed(2**31 - 1, w) < 2**31


def test_a_tiny_problem_learns_and_the_schedule_is_applied(iris):
    problem, arch, W0 = iris
    reports = []
    fits = minibatch.train_batch(ARM, problem, W0, arch, progress=reports.append)
    for fit in fits:
        assert fit.iterations == 40 and fit.status == "max_iter"
        val = fit.history["ssq_val"].to_numpy()
        assert val.min() < 0.5 * val[0]  # it learns
        assert fit.extra["best_epoch"] == int(np.argmin(val)) + 1
    assert [r["epoch"] for r in reports] == [8, 16, 24, 32, 40]
    # a full-batch fit of the same Adam takes one step per epoch and learns less
    from secondorder.optim.first_order import fit_first_order_batch

    full = fit_first_order_batch(problem, W0, arch=arch, learning_rate=0.05, epochs=40,
                                 patience=1000, chunk=8)
    assert fits[0].history["ssq_val"].min() < full[0].history["ssq_val"].min()
    # the schedule is applied: the optimizer's rate is that of the last epoch (0-based 39),
    # and a constant learning rate gives another fit
    from secondorder.optim import first_order

    fits = minibatch.train_batch({**ARM, "decay_epochs": 60}, problem, W0, arch)
    opt = first_order._LOOP_CACHE[2][1]
    assert float(opt.learning_rate.numpy()) == pytest.approx(
        minibatch.cosine_learning_rate(39, 0.05, 0.1, 60), rel=1e-6)
    constant = minibatch.train_batch({**ARM, "final_fraction": 1.0}, problem, W0, arch)
    assert not np.array_equal(constant[0].weights, fits[0].weights)


def test_a_fit_is_reproducible_and_each_init_draws_its_own_batches(iris):
    """Two runs of a fit give the same bits (the compiled loop is reused by the second,
    so clear it to compile anew); a fit with another seed draws other mini-batches."""
    from secondorder.optim import first_order

    problem, arch, W0 = iris
    first_order._LOOP_CACHE.clear()
    one = minibatch.train_batch(ARM, problem, W0[:1], arch)[0]
    first_order._LOOP_CACHE.clear()
    again = minibatch.train_batch(ARM, problem, W0[:1], arch)[0]
    np.testing.assert_array_equal(one.weights, again.weights)
    pd.testing.assert_frame_equal(one.history.drop(columns="time_s"),
                                  again.history.drop(columns="time_s"))
    reseeded = minibatch.train_batch({**ARM, "seed": 1}, problem, W0[:1], arch)[0]
    assert not np.array_equal(one.weights, reseeded.weights)


def test_early_stopping_and_the_anytime_records(iris):
    """Patience stops a fit as in the full-batch loop; an anytime recorder gets every
    improvement (the last is the restored best epoch)."""
    from secondorder.pipeline.anytime import AnytimeRecorder

    problem, arch, W0 = iris
    recorder = AnytimeRecorder(W0[:1], lambda w: (float(w[0]), float(w[1])),
                               work=lambda info: np.asarray(info["nit"], dtype=float))
    fit = minibatch.train_batch({**ARM, "learning_rate": 0.3, "final_fraction": 1.0,
                                 "patience": 3, "epochs": 400}, problem, W0[:1], arch,
                                progress=recorder)[0]
    assert fit.status == "early_stopping" and fit.iterations < 400
    np.testing.assert_array_equal(recorder.best_x[0], fit.weights)
