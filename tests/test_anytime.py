"""Anytime records: time shares, work counts, records on change, and trainers whose
clocks leave their callbacks' time out."""

import time

import numpy as np
import pytest

from secondorder.pipeline import anytime


def _lm_like(info):
    """Work that reads two counters: residual evaluations + 2 x Jacobian evaluations."""
    return np.asarray(info["nfev"], dtype=float) + 2 * np.asarray(info["njev"], dtype=float)


def _epochs(info):
    return np.asarray(info["nit"], dtype=float)


def _recorder(W0, work=_lm_like, relative=0.0):
    # a fit's "errors" are its first two weights: easy to steer by hand
    return anytime.AnytimeRecorder(W0, lambda w: (float(w[0]), float(w[1])), work=work,
                                   relative=relative)


def test_records_time_shares_work_and_changes():
    W0 = np.array([[0.5, 0.6, 9.0], [0.7, 0.8, 9.0]])
    rec = _recorder(W0)
    # both rows worked for 1 s: 0.5 s each; row 1's best weights changed
    best = W0.copy()
    best[1] = [0.4, 0.5, 1.0]
    rec({"elapsed": 1.0, "nit": [2, 2], "nfev": [3, 3], "njev": [2, 1], "best_x": best})
    np.testing.assert_allclose(rec.time_s, [0.5, 0.5])
    np.testing.assert_allclose(rec.work, [3 + 2 * 2, 3 + 2 * 1])  # the work function's
    # row 0 stopped (its nit no longer grows): the next 0.6 s are row 1's alone; row 1's
    # best weights moved but its errors did not: no record
    best[1, 2] = 2.0
    rec({"elapsed_s": 1.6, "nit": [2, 5], "nfev": [3, 6], "njev": [2, 4], "best_x": best})
    np.testing.assert_allclose(rec.time_s, [0.5, 1.1])
    table = rec.table()
    got = [tuple(r) for r in table[["row", "time_s", "work", "val_error", "test_error",
                                    "final"]].itertuples(index=False)]
    assert got == [(0, 0.0, 0.0, 0.5, 0.6, False), (0, 0.5, 7.0, 0.5, 0.6, True),
                   (1, 0.0, 0.0, 0.7, 0.8, False), (1, 0.5, 5.0, 0.4, 0.5, False),
                   (1, 1.1, 14.0, 0.4, 0.5, True)]
    assert list(table.columns) == list(anytime.RECORD_COLUMNS)


def test_a_trainers_own_time_shares_win_and_small_moves_are_not_recorded():
    W0 = np.array([[1.0, 1.0]])
    rec = _recorder(W0, work=_epochs, relative=1e-3)
    rec({"elapsed_s": 5.0, "time_s": [0.25], "nit": [10], "best_x": [[1.0005, 1.0]]})
    assert rec.time_s.tolist() == [0.25] and rec.work.tolist() == [10.0]
    assert len(rec.records) == 1  # 0.05% is below the resolution
    rec({"elapsed_s": 6.0, "time_s": [0.5], "nit": [20], "best_x": [[0.9, 1.0]]})
    assert len(rec.records) == 2 and rec.records[-1][1:3] == (0.5, 20.0)


def test_several_improvements_per_report_are_recorded_at_their_own_time_and_work():
    """A trainer reporting every few epochs lists the improvements in between: one
    record per improvement whose errors changed, at its own time and work; the
    report's own time and work go to the final record."""
    W0 = np.array([[0.5, 0.6, 0.0], [0.7, 0.8, 0.0]])
    rec = _recorder(W0, work=_epochs)
    assert rec.improvements  # it asks the compiled loop for them
    improvements = [(0, {"nit": 3}, 0.1, [0.4, 0.6, 0.0]),
                    (1, {"nit": 3}, 0.15, [0.6, 0.8, 0.0]),
                    (0, {"nit": 5}, 0.2, [0.4, 0.6, 1.0]),  # same errors: no record
                    (0, {"nit": 7}, 0.3, [0.3, 0.5, 0.0])]
    rec({"elapsed_s": 9.0, "time_s": [0.4, 0.45], "nit": [8, 8],
         "best_x": [[9.0, 9.0, 9.0]] * 2, "improvements": improvements})
    got = [tuple(r) for r in rec.table().itertuples(index=False)]
    assert got == [(0, 0.0, 0.0, 0.5, 0.6, False), (0, 0.1, 3.0, 0.4, 0.6, False),
                   (0, 0.3, 7.0, 0.3, 0.5, False), (0, 0.4, 8.0, 0.3, 0.5, True),
                   (1, 0.0, 0.0, 0.7, 0.8, False), (1, 0.15, 3.0, 0.6, 0.8, False),
                   (1, 0.45, 8.0, 0.6, 0.8, True)]


@pytest.fixture(scope="module")
def iris():
    from secondorder.pipeline.suite.runner import architecture
    from secondorder.problem import datasets, model

    problem, info = datasets.load_problem("iris")
    arch = architecture(info, [4])
    return problem, arch, np.stack([model.init_weights(s, arch, -0.5, 0.5) for s in (1, 2)])


@pytest.mark.parametrize("arm", [
    {"optimizer": "adam", "learning_rate": 0.01, "epochs": 40, "patience": 1000, "chunk": 10},
    {"optimizer": "lbfgs", "max_iter": 4, "restore_best": True},
    {"optimizer": "lm", "max_iter": 8, "chunk": 2, "max_fail": None},
])
def test_trainers_report_best_weights_and_leave_callbacks_out_of_their_clocks(iris, arm):
    """Each report carries per-row best weights and counters; a callback that sleeps
    0.25 s per report adds nothing to the fit's times."""
    from secondorder.optim import arms

    problem, arch, W0 = iris
    W0 = W0[:1] if arm["optimizer"] == "lbfgs" else W0
    reports = []

    def slow(info):
        reports.append(info)
        time.sleep(0.25)
        return False

    results = arms.train({**arm, "inputs": "standardised"}, problem, W0, arch, progress=slow)
    assert len(reports) >= 4
    slept = 0.25 * len(reports)
    for res in results:
        assert res.time_s < slept - 0.25, (res.time_s, slept)
    last = reports[-1]
    assert np.asarray(last["best_x"]).shape == W0.shape
    assert np.asarray(last["nit"]).shape == (len(W0),)
    # the weights the run returns are its best-so-far weights (LM without max_fail
    # returns its last ones; the suite's records use best_x for every arm alike)
    if arm["optimizer"] != "lm":
        np.testing.assert_allclose(results[0].weights, np.asarray(last["best_x"])[0],
                                   rtol=1e-6)
