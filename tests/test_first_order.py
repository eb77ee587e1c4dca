"""First-order training: the compiled loop (a fit is a batch of one) against Keras' own
model.fit and EarlyStopping rule, and how a fit ends."""

import numpy as np
import pandas as pd
import pytest

import article_reference as ref
from secondorder.problem import data, model
from secondorder.optim.first_order import fit_first_order, fit_first_order_batch


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


def test_compiled_cross_entropy_matches_model_fit(article_problem):
    """The one cross-entropy (Keras', summed) serves model.fit and the compiled loop."""
    ws0 = model.init_weights(2)
    kwargs = dict(arch=model.ARTICLE, loss="crossentropy", epochs=15, patience=500)
    fit = fit_first_order(article_problem, ws0, engine="keras_fit", **kwargs)
    compiled = fit_first_order(article_problem, ws0, **kwargs)
    np.testing.assert_allclose(compiled.history["crossentropy_train"],
                               fit.history["crossentropy_train"], rtol=1e-5)
    np.testing.assert_allclose(compiled.weights, fit.weights, rtol=0, atol=1e-5)


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


def each_fit_alone(problem, W0, together, kwargs):
    """Assert that each row of the batch ``together`` is, bit for bit, the fit run alone
    from its row of ``W0`` (a batch of one); return the lone fits."""
    lone = []
    for w0, row in zip(W0, together):
        alone = fit_first_order(problem, w0, **kwargs)
        assert (row.status, row.iterations, row.extra["best_epoch"], row.message) == (
            alone.status, alone.iterations, alone.extra["best_epoch"], alone.message)
        np.testing.assert_array_equal(row.weights, alone.weights)
        pd.testing.assert_frame_equal(row.history.drop(columns="time_s"),
                                      alone.history.drop(columns="time_s"))
        lone.append(alone)
    return lone


def test_a_fit_does_not_depend_on_its_batch(article_problem):
    """Each row of a batch is, bit for bit, the fit run alone (a batch of one); rows
    stop independently."""
    W0 = np.stack([model.init_weights(s) for s in (1, 2, 3)])
    kwargs = dict(arch=model.ARTICLE, learning_rate=0.05, epochs=400, patience=30, chunk=64)
    together = fit_first_order_batch(article_problem, W0, **kwargs)
    for row, alone in zip(together, each_fit_alone(article_problem, W0, together, kwargs)):
        assert (row.batch_size, alone.batch_size) == (3, 1)
        # alone, a fit's own compute is its wall time
        assert alone.time_s == alone.batch_wall_s == alone.history["time_s"].iloc[-1] > 0
        assert 0 < row.time_s == row.history["time_s"].iloc[-1] < row.batch_wall_s
        assert np.all(np.diff(row.history["time_s"]) > 0)
    assert len({r.iterations for r in together}) > 1
    # in a batch, a fit is charged its share: the shares add up to the batch's wall time,
    # and a fit that stopped earlier is charged less
    assert sum(r.time_s for r in together) == pytest.approx(together[0].batch_wall_s)
    assert len({r.batch_wall_s for r in together}) == 1
    short, long = sorted(together, key=lambda r: r.iterations)[::len(together) - 1]
    assert short.time_s < long.time_s


@pytest.mark.parametrize("optimizer,momentum", [("adam", 0.0), ("rmsprop", 0.9)])
def test_a_compacted_batch_gives_the_same_fits(article_problem, monkeypatch, optimizer,
                                               momentum):
    """Once half of a batch has stopped, the loop may go on with the running rows alone
    (their weights, optimizer moments and step count carried over): each fit is still,
    bit for bit, the fit run alone, and the time shares still add up to the batch's
    wall time. Compaction forced here whenever half the rows have stopped."""
    from secondorder.optim import first_order

    monkeypatch.setattr(first_order, "_worth_compacting",
                        lambda running, rows, *rest: 0 < running <= rows / 2)
    loops = []
    compiled_loop = first_order._compiled_loop

    def counting(arm, data, arch, state, *args, **kwargs):
        loops.append(len(state["w"]))
        return compiled_loop(arm, data, arch, state, *args, **kwargs)

    monkeypatch.setattr(first_order, "_compiled_loop", counting)
    W0 = np.stack([model.init_weights(s) for s in (1, 2, 3, 4, 5)])
    kwargs = dict(arch=model.ARTICLE, optimizer=optimizer, momentum=momentum,
                  learning_rate=0.05, epochs=600, patience=25, chunk=16)
    together = fit_first_order_batch(article_problem, W0, **kwargs)
    assert len(loops) > 1 and loops[0] == 5 and loops == sorted(loops, reverse=True), loops
    assert len({r.iterations for r in together}) > 2
    each_fit_alone(article_problem, W0, together, kwargs)
    assert sum(r.time_s for r in together) == pytest.approx(together[0].batch_wall_s)


def test_compacting_pays_only_for_enough_work():
    from secondorder.optim.first_order import _worth_compacting

    # half the rows stopped, 40 rows x 4000 epochs x 0.1 ms = 16 s saved >= 2 x 1 s
    assert _worth_compacting(40, 80, epoch=4000, epochs=10000, row_epoch_s=1e-4,
                             compile_s=1.0)
    assert not _worth_compacting(41, 80, epoch=4000, epochs=10000, row_epoch_s=1e-4,
                                 compile_s=1.0)  # more than half still running
    # early on (few epochs run) or near the end of the budget it does not pay
    assert not _worth_compacting(10, 80, epoch=100, epochs=10000, row_epoch_s=1e-4,
                                 compile_s=1.0)
    assert not _worth_compacting(10, 80, epoch=9900, epochs=10000, row_epoch_s=1e-4,
                                 compile_s=1.0)
    assert not _worth_compacting(0, 80, epoch=4000, epochs=10000, row_epoch_s=1e-4,
                                 compile_s=1.0)  # nothing left to run


def test_patience_running_out_on_the_last_epoch_is_early_stopping(article_problem):
    """The patience rule firing on the budget's last epoch is labelled
    ``early_stopping`` (as Keras' EarlyStopping reports it), one epoch less
    ``max_iter``."""
    W0 = np.stack([model.init_weights(s) for s in (1, 2)])
    kwargs = dict(arch=model.ARTICLE, learning_rate=0.05, patience=30, chunk=64)
    free = fit_first_order_batch(article_problem, W0, epochs=1000, **kwargs)
    last = free[0].iterations
    assert free[0].status == "early_stopping" and last < 1000
    exact = fit_first_order_batch(article_problem, W0, epochs=last, **kwargs)[0]
    assert (exact.status, exact.iterations) == ("early_stopping", last)
    assert "stopped after epoch" in exact.message
    np.testing.assert_array_equal(exact.weights, free[0].weights)
    short = fit_first_order(article_problem, W0[0], epochs=last - 1, **kwargs)
    assert (short.status, short.iterations) == ("max_iter", last - 1)


def test_nan_loss_returns_the_restored_best_weights(article_problem):
    """A loss that becomes NaN mid-run stops the fit with ``nan_loss`` and the weights
    of its best epoch (restore_best_weights), in a batch as alone (one code path);
    model.fit agrees."""
    W0 = np.stack([model.init_weights(s) for s in (1, 2)])
    kwargs = dict(arch=model.ARTICLE, learning_rate=1e37, patience=100, chunk=16)
    fits = fit_first_order_batch(article_problem, W0, epochs=60, **kwargs)
    for w0, fit in zip(W0, fits):
        assert fit.status == "nan_loss" and not fit.success and 1 < fit.iterations < 60
        assert not np.isfinite(fit.history["ssq_val"].iloc[-1])
        best = fit.extra["best_epoch"]
        assert 1 <= best < fit.iterations and np.all(np.isfinite(fit.weights))
        assert f"restored the weights of epoch {best}" in fit.message
        rerun = fit_first_order(article_problem, w0, epochs=best, **kwargs)
        assert rerun.status == "max_iter"
        np.testing.assert_array_equal(fit.weights, rerun.weights)
    reference = fit_first_order(article_problem, W0[0], epochs=60, engine="keras_fit",
                                **kwargs)
    assert reference.status == "nan_loss"
    assert reference.extra["best_epoch"] == fits[0].extra["best_epoch"]
    np.testing.assert_allclose(reference.weights, fits[0].weights, rtol=1e-5)


def test_nan_from_the_first_epoch_keeps_the_initial_weights(article_problem):
    bad = data.Problem(np.where(np.arange(500)[:, None] == 3, np.nan,
                                article_problem.x_all), article_problem.y_all,
                       article_problem.train, article_problem.validation, "scaled")
    ws0 = model.init_weights(1)
    res = fit_first_order(bad, ws0, arch=model.ARTICLE, epochs=20, patience=100)
    assert res.status == "nan_loss" and not res.success and res.iterations == 1
    assert res.extra["best_epoch"] == 0 and "kept the initial weights" in res.message
    np.testing.assert_array_equal(res.weights, ws0.astype(np.float32))


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


@pytest.mark.parametrize("optimizer,lr", [("sgd", 1e-4), ("rmsprop", 1e-3)])
def test_momentum_is_used(article_problem, optimizer, lr):
    ws0 = model.init_weights(1)
    kwargs = dict(arch=model.ARTICLE, optimizer=optimizer, learning_rate=lr, epochs=5,
                  patience=100)
    plain = fit_first_order(article_problem, ws0, momentum=0.0, **kwargs)
    heavy = fit_first_order(article_problem, ws0, momentum=0.9, **kwargs)
    assert not np.array_equal(plain.weights, heavy.weights)
    assert not np.array_equal(plain.history["ssq_train"], heavy.history["ssq_train"])


def test_adam_refuses_a_momentum(article_problem):
    """Adam has no momentum argument: a momentum is refused, not silently dropped."""
    from secondorder.optim.arms import Arm

    with pytest.raises(ValueError, match=r"'arm.momentum': must be 0, got 0.9"):
        fit_first_order(article_problem, model.init_weights(1), arch=model.ARTICLE,
                        momentum=0.9, epochs=2, patience=2)
    arm = {"optimizer": "adam", "inputs": "scaled", "learning_rate": 1e-3, "epochs": 5,
           "patience": 5}
    with pytest.raises(ValueError, match="momentum"):
        Arm({**arm, "momentum": 0.5})
    assert Arm(arm)["momentum"] == 0


@pytest.mark.parametrize("kwargs,match", [
    ({"engine": "eager"}, "engine"), ({"loss": "mae"}, "loss"),
    ({"optimizer": "lbfgs"}, "optimizer"), ({"epochs": 0}, "epochs"),
    ({"lr": 0.1}, r"unknown key\(s\) \['lr'\]")])
def test_bad_settings_raise(article_problem, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_first_order(article_problem, model.init_weights(1), arch=model.ARTICLE, **kwargs)


def test_time_shares_split_each_step_over_its_active_rows():
    from secondorder.optim.fit_result import time_shares

    step_s = [1.0, 2.0, 3.0, 4.0]
    active = [[1, 1], [1, 1], [0, 1], [0, 0]]
    shares = time_shares(step_s, active)
    np.testing.assert_allclose(shares, [[0.5, 0.5], [1.5, 1.5], [1.5, 4.5], [1.5, 4.5]])
    # the shares add up to the time of the steps someone took part in
    assert shares[-1].sum() == pytest.approx(6.0)
    # alone, a fit is charged its own wall time
    np.testing.assert_allclose(time_shares([0.2, 0.3], [[1], [1]])[:, 0], [0.2, 0.5])
    with pytest.raises(ValueError, match="step_s must be"):
        time_shares([1.0], [[True], [True]])


def test_clock_shares_charge_the_batch_wall_and_a_lone_fit_its_clock():
    from secondorder.optim.fit_result import clock_shares

    # readings at the end of three steps, then 0.5 s of closing work: charged to the
    # rows of the last step, so the shares add up to the batch's wall time
    shares = clock_shares([1.0, 2.0, 3.0], [[1, 1], [1, 0], [1, 0]], batch_wall_s=3.5)
    np.testing.assert_allclose(shares, [[0.5, 0.5], [1.5, 0.5], [3.0, 0.5]])
    assert shares[-1].sum() == 3.5
    # a fit alone is charged its own clock, to the last bit
    clock = np.cumsum([0.1, 0.2, 0.7])
    alone = clock_shares(clock, np.ones((3, 1), bool), batch_wall_s=1.25)
    assert alone[:, 0].tolist() == [*clock[:2], 1.25]


def _recorder(problem, W0):
    """An anytime recorder whose "errors" are the validation and training SSQ (float64):
    every improvement of the validation loss changes them, so every one is recorded."""
    from secondorder.pipeline.anytime import AnytimeRecorder

    def ssq(w, rows):
        out = model.mlp_numpy(problem.x_all[rows], w, model.ARTICLE)
        return float(np.sum((out - problem.y_all[rows]) ** 2))

    return AnytimeRecorder(
        W0, lambda w: (ssq(w, problem.validation), ssq(w, problem.train)),
        work=lambda info: np.asarray(info["nit"], dtype=float))


def test_recording_every_improvement_changes_no_fit(article_problem, monkeypatch):
    """With an anytime recorder the loop also writes each epoch's weights out and lists
    the improvements: the fits (weights, histories, statuses), with a compaction on
    the way, are bit for bit those of the loop without it, and the last improvement of
    each row is its restored best epoch and weights."""
    from secondorder.optim import first_order

    monkeypatch.setattr(first_order, "_worth_compacting",
                        lambda running, rows, *rest: 0 < running <= rows / 2)
    W0 = np.stack([model.init_weights(s) for s in (1, 2, 3, 4)])
    kwargs = dict(arch=model.ARTICLE, learning_rate=0.05, epochs=300, patience=25,
                  chunk=16)
    plain = fit_first_order_batch(article_problem, W0, **kwargs)
    recorder = _recorder(article_problem, W0)
    reports = []

    def record(info):
        reports.append(info)
        return recorder(info)

    record.improvements = True
    recorded = fit_first_order_batch(article_problem, W0, progress=record, **kwargs)
    assert len({r.iterations for r in plain}) > 1
    for a, b in zip(plain, recorded):
        assert (a.status, a.iterations, a.extra, a.message) == (
            b.status, b.iterations, b.extra, b.message)
        np.testing.assert_array_equal(a.weights, b.weights)
        pd.testing.assert_frame_equal(a.history.drop(columns="time_s"),
                                      b.history.drop(columns="time_s"))
    improvements = [imp for info in reports for imp in info["improvements"]]
    for row, fit in enumerate(recorded):
        own = [imp for imp in improvements if imp[0] == row]
        epochs = [imp[1]["nit"] for imp in own]
        # the epochs whose validation loss beat every earlier one (Keras' rule)
        val = fit.history["ssq_val"].to_numpy()
        assert epochs == [e + 1 for e in range(len(val))
                          if val[e] < np.min(val[:e], initial=np.inf)]
        assert epochs[-1] == fit.extra["best_epoch"]
        np.testing.assert_array_equal(own[-1][3], fit.weights)
        # each improvement is stamped with its epoch's own time in the fit's history
        times = fit.history["time_s"].to_numpy()
        assert [imp[2] for imp in own] == [times[e - 1] for e in epochs]
        assert len(recorder.table().query(f"row == {row} and not final")) == len(epochs) + 1


def test_records_of_a_chunked_run_are_those_of_a_run_reporting_every_epoch(
        article_problem):
    """The records (row, work, errors) of a run reporting every 16 epochs equal those of
    a run reporting every epoch; only the times differ (interpolated in a chunk)."""
    W0 = np.stack([model.init_weights(s) for s in (1, 2)])
    kwargs = dict(arch=model.ARTICLE, learning_rate=0.05, epochs=120, patience=25)
    tables = []
    for chunk in (16, 1):
        recorder = _recorder(article_problem, W0)
        fits = fit_first_order_batch(article_problem, W0, chunk=chunk, progress=recorder,
                                     **kwargs)
        tables.append(recorder.table())
    chunked, every = tables
    assert len(chunked) == len(every) > 2 * 10
    columns = ["row", "work", "val_error", "test_error", "final"]
    pd.testing.assert_frame_equal(chunked[columns], every[columns])
    assert not np.array_equal(chunked["time_s"], every["time_s"])
    assert (chunked.groupby("row")["time_s"].diff().dropna() >= 0).all()
    assert [fit.iterations for fit in fits] == chunked[chunked["final"]]["work"].tolist()


def test_fits_one_after_another_reuse_one_compilation(article_problem):
    """A loop compiled for one fit is reused by the next fit of the same graph, at
    another learning rate too (a variable of the optimizer): each fit is, bit for bit,
    the one a new compilation gives, and its compilation time is near zero."""
    from secondorder.optim import first_order

    kwargs = dict(arch=model.ARTICLE, epochs=80, patience=20, chunk=16)
    fresh = []
    for seed, lr in ((1, 0.05), (2, 0.01)):
        first_order._LOOP_CACHE.clear()
        fresh.append(fit_first_order(article_problem, model.init_weights(seed),
                                     learning_rate=lr, **kwargs))
    first_order._LOOP_CACHE.clear()
    reused = [fit_first_order(article_problem, model.init_weights(seed), learning_rate=lr,
                              **kwargs) for seed, lr in ((1, 0.05), (2, 0.01))]
    for a, b in zip(fresh, reused):
        np.testing.assert_array_equal(a.weights, b.weights)
        pd.testing.assert_frame_equal(a.history.drop(columns="time_s"),
                                      b.history.drop(columns="time_s"))
    assert reused[1].compile_s < 0.2 * reused[0].compile_s
    assert not np.array_equal(fresh[0].weights, fresh[1].weights)
