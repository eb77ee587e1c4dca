"""The compiled Adam loop against Keras' own model.fit and EarlyStopping rule."""

import numpy as np
import pytest

import article_reference as ref
from secondorder import data, model
from secondorder.first_order import fit_first_order


@pytest.fixture(scope="module")
def article_problem():
    spiral = ref.spiral_data(500)
    trn, val = ref.split(spiral)
    return data.Problem(ref.scaled_inputs(spiral, trn), spiral[:, 2:], trn, val, "scaled")


def keras_early_stopping(val_ssq, patience):
    """Keras' EarlyStopping(monitor=val_loss, min_delta=0, restore_best_weights=True)
    replayed on a validation history: (epochs run, best epoch), 1-based."""
    best, best_epoch, wait = np.inf, 0, 0
    for epoch, current in enumerate(val_ssq):
        wait += 1
        if current < best:
            best, best_epoch, wait = current, epoch, 0
            continue
        if wait >= patience and epoch > 0:
            return epoch + 1, best_epoch + 1
    return len(val_ssq), best_epoch + 1


def test_compiled_matches_model_fit(article_problem):
    ws0 = model.init_weights(1)
    kwargs = dict(arch=model.ARTICLE, learning_rate=1e-3, epochs=200, patience=500)
    fit = fit_first_order(article_problem, ws0, engine="keras_fit", **kwargs)
    compiled = fit_first_order(article_problem, ws0, engine="compiled", chunk=64, **kwargs)
    assert fit.iterations == compiled.iterations == 200
    np.testing.assert_allclose(compiled.weights, fit.weights, rtol=0, atol=1e-5)
    np.testing.assert_allclose(compiled.history["ssq_train"], fit.history["ssq_train"],
                               rtol=1e-5)
    np.testing.assert_allclose(compiled.history["ssq_val"], fit.history["ssq_val"], rtol=1e-5)
    assert not np.array_equal(compiled.weights, ws0)


def test_compiled_early_stopping_follows_keras_rule(article_problem):
    ws0 = model.init_weights(1)
    kwargs = dict(arch=model.ARTICLE, learning_rate=0.05, chunk=32)
    stopped = fit_first_order(article_problem, ws0, epochs=3000, patience=40, **kwargs)
    assert stopped.status == "early_stopping"
    epochs_run, best_epoch = keras_early_stopping(stopped.history["ssq_val"].to_numpy(), 40)
    assert stopped.iterations == epochs_run < 3000
    assert stopped.extra["best_epoch"] == best_epoch
    # the restored weights are those after the best epoch: rerun exactly that long
    rerun = fit_first_order(article_problem, ws0, epochs=best_epoch, patience=10**6, **kwargs)
    assert rerun.status == "max_iter"
    np.testing.assert_array_equal(rerun.weights, stopped.weights)


@pytest.mark.parametrize("optimizer,loss,lr", [("sgd", "ssq", 1e-4),
                                               ("rmsprop", "crossentropy", 1e-2)])
def test_other_optimizers_and_losses_train(article_problem, optimizer, loss, lr):
    ws0 = model.init_weights(1)
    res = fit_first_order(article_problem, ws0, arch=model.ARTICLE, optimizer=optimizer,
                          loss=loss, learning_rate=lr, momentum=0.9, epochs=50,
                          patience=100)
    assert res.iterations == 50 and res.success
    curve = res.history[f"{loss}_train"]
    assert curve.iloc[-1] < curve.iloc[0]


def test_nan_loss_ends_with_failed_status(article_problem):
    bad = data.Problem(np.where(np.arange(500)[:, None] == 3, np.nan,
                                article_problem.x_all), article_problem.y_all,
                       article_problem.train, article_problem.validation, "scaled")
    res = fit_first_order(bad, model.init_weights(1), arch=model.ARTICLE, epochs=20,
                          patience=100)
    assert res.status == "nan_loss" and not res.success


@pytest.mark.parametrize("kwargs,match", [
    ({"engine": "eager"}, "engine"), ({"loss": "mae"}, "loss"),
    ({"optimizer": "lbfgs"}, "optimizer"), ({"epochs": 0}, "epochs")])
def test_bad_settings_raise(article_problem, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_first_order(article_problem, model.init_weights(1), arch=model.ARTICLE, **kwargs)
