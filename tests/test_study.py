"""The study's pieces: training a block, seed blocks, Wilson intervals, summaries."""

import numpy as np
import pandas as pd
import pytest

import article_reference as ref
from secondorder.optim.arms import Arm
from secondorder.pipeline import cost_study, study
from secondorder.problem import data, model


@pytest.fixture(scope="module")
def scaled_problem():
    spiral = ref.spiral_data(500)
    trn, val = ref.split(spiral)
    return data.Problem(ref.scaled_inputs(spiral, trn), spiral[:, 2:], trn, val, "scaled")


def test_a_block_is_one_batch_and_each_fit_is_the_single_fit(scaled_problem):
    """A first-order block trains as one batch; each of its fits is, bit for bit, what
    the training stage (a batch of one) gives from that seed."""
    from secondorder.optim.arms import fit_arm

    arm = {"optimizer": "adam", "inputs": "scaled", "learning_rate": 0.05, "epochs": 80,
           "patience": 30, "chunk": 64}
    results = study.train_block(arm, scaled_problem, [1, 2], model.ARTICLE)
    assert [r.batch_size for r in results] == [2, 2]
    for seed, res in zip([1, 2], results):
        single = fit_arm(arm, scaled_problem, model.init_weights(seed), model.ARTICLE)
        assert (res.status, res.iterations) == (single.status, single.iterations)
        np.testing.assert_array_equal(res.weights, single.weights)


def test_a_failed_batch_is_retried_fit_by_fit(scaled_problem, monkeypatch):
    import dataclasses

    from secondorder.optim import arms

    sgd = arms.REGISTRY["sgd"]

    def fails_together(arm, problem, W0, arch, progress):
        if len(W0) > 1:
            raise RuntimeError("out of memory")
        return sgd.train(arm, problem, W0, arch, progress)

    monkeypatch.setitem(arms.REGISTRY, "sgd", dataclasses.replace(sgd, train=fails_together))
    arm = {"optimizer": "sgd", "inputs": "scaled", "learning_rate": 1e-4, "epochs": 3,
           "patience": 5}
    results = study.train_block(arm, scaled_problem, [1, 2], model.ARTICLE)
    assert [(r.iterations, r.batch_size) for r in results] == [(3, 1), (3, 1)]


def test_seed_blocks_cover_every_seed_once():
    blocks = study.seed_blocks(50, 20)
    assert blocks == ["1-20", "21-40", "41-50"]
    seeds = [s for b in blocks for s in study.block_seeds(b)]
    assert seeds == list(range(1, 51))
    assert study.seed_blocks(3, 50, first=7) == ["7-9"]
    with pytest.raises(ValueError, match="looks like"):
        study.block_seeds("9-3")


@pytest.mark.parametrize("k,n,low,high", [
    (0, 10, 0.0, 0.27753), (5, 10, 0.23659, 0.76341), (10, 10, 0.72247, 1.0),
    (1, 50, 0.00354, 0.10496), (48, 50, 0.86539, 0.98896)])
def test_success_rates_have_wilson_intervals(k, n, low, high):
    fits = pd.DataFrame({"arm": "lm", "inputs": "raw", "init_seed": range(n),
                         "accuracy_all": [1.0] * k + [0.5] * (n - k), "time_s": 1.0,
                         "batch_wall_s": 1.0})
    row = study.robustness(fits, 0.95).iloc[0]
    assert (row["successes"], row["n"]) == (k, n)
    assert row["ci_low"] == pytest.approx(low, abs=1e-5)
    assert row["ci_high"] == pytest.approx(high, abs=1e-5)
    assert row["ci_low"] <= row["rate"] <= row["ci_high"]


def test_robustness_counts_failures_as_no_success():
    fits = pd.DataFrame({
        "arm": ["lm"] * 4 + ["adam"] * 2, "inputs": ["raw"] * 6,
        "init_seed": [1, 2, 3, 4, 1, 2],
        "accuracy_all": [0.99, 0.95, 0.5, np.nan, 0.96, 0.2],
        "time_s": [1.0, 2.0, 3.0, np.nan, 0.5, 0.5],
        "batch_wall_s": [6.0, 6.0, 6.0, np.nan, 1.0, 1.0],
        "status": ["max_iter", "max_iter", "max_iter", "error", "early_stopping", "nan_loss"]})
    table = study.robustness(fits, 0.95).set_index("arm")
    assert table.loc["lm", "n"] == 4 and table.loc["lm", "successes"] == 2
    assert table.loc["lm", "rate"] == 0.5
    assert table.loc["adam", "successes"] == 1
    # the median time is the fits' own compute, the batch's wall beside it
    assert table.loc["lm", "median_time_s"] == 2.0
    assert table.loc["lm", "median_batch_wall_s"] == 6.0
    assert table.loc["lm", ["ci_low", "ci_high"]].tolist() == pytest.approx([0.15004, 0.84996],
                                                                            abs=1e-5)


def test_a_failing_fit_becomes_a_row(scaled_problem):
    arm = {"optimizer": "lbfgs", "inputs": "scaled", "max_iter": 5}
    bad = data.Problem(np.where(np.arange(500)[:, None] == 3, np.nan, scaled_problem.x_all),
                       scaled_problem.y_all, scaled_problem.train, scaled_problem.validation,
                       "scaled")
    results = study.train_block(arm, bad, [1, 2], model.ARTICLE)
    table = study.rows("lbfgs", arm, bad, [1, 2], results, model.ARTICLE)
    assert len(table) == 2
    assert set(table["status"]) <= {"error", "nan_loss", "failed"}


def test_thin_history_keeps_ends():
    hist = pd.DataFrame({"iteration": np.arange(1, 1001), "ssq_train": np.linspace(9, 1, 1000)})
    thin = study.thin_history(hist, 50)
    assert len(thin) <= 52 and thin["iteration"].iloc[0] == 1
    assert thin["iteration"].iloc[-1] == 1000


def test_median_curve_carries_final_values():
    hist = pd.DataFrame({"init_seed": [1, 1, 2, 2, 2],
                         "iteration": [1, 10, 1, 10, 100],
                         "ssq_train": [8.0, 4.0, 6.0, 2.0, 1.0]})
    curve = study.median_curve(hist, "iteration", points=3)
    assert curve["iteration"].tolist() == pytest.approx([1, 10, 100])
    assert curve["median"].tolist() == pytest.approx([7.0, 3.0, 2.5])


def test_crossover():
    costs = pd.DataFrame({"n_params": [10, 100, 1000], "lm_fit_s": [0.1, 1.0, 100.0],
                          "adam_fit_s": [1.0, 1.0, 1.0]})
    assert cost_study.crossover(costs) == pytest.approx(100.0)
    costs["lm_fit_s"] = [0.1, 0.5, 10.0]
    assert 100 < cost_study.crossover(costs) < 1000
    assert cost_study.crossover(costs.assign(lm_fit_s=0.01)) is None
    assert cost_study.crossover(costs.assign(lm_fit_s=5.0)) == 0.0


def test_growth_exponents_recover_a_power_law():
    n = np.array([100, 200, 400, 800])
    table = pd.DataFrame({"n_params": np.tile(n, 2), "engine": ["lm_tf"] * 4 + ["adam_compiled"] * 4,
                          "ms_per_iter": np.concatenate([1e-4 * n**2.5, 1e-3 * n])})
    slopes = cost_study.growth_exponents(table, min_params=100)
    assert slopes["lm_tf"] == pytest.approx(2.5) and slopes["adam_compiled"] == pytest.approx(1.0)


def test_rounding_sensitivity_pairs_fits_by_seed():
    """Seed 1 succeeds in both orders, seed 2 flips, seed 3 fails in both; the Adam
    arm has no reordered fits and no row."""
    fits = pd.DataFrame({
        "arm": ["lm"] * 6 + ["adam"],
        "inputs": ["raw", "raw", "raw", "raw_reordered", "raw_reordered", "raw_reordered",
                   "raw"],
        "init_seed": [1, 2, 3, 1, 2, 3, 1],
        "accuracy_all": [0.99, 0.96, 0.5, 0.98, 0.90, 0.6, 0.99],
    })
    table = study.rounding_sensitivity(fits, 0.95)
    assert table.to_dict("records") == [{
        "arm": "lm", "n": 3, "successes_raw": 2, "successes_reordered": 1, "flipped": 1,
        "max_accuracy_change": pytest.approx(0.1)}]


def test_reordered_rows_are_the_same_rows_in_another_order():
    rows = np.arange(400)
    moved = data.reorder_rows(rows)
    assert sorted(moved) == list(rows) and not np.array_equal(moved, rows)
    np.testing.assert_array_equal(moved, data.reorder_rows(rows))  # fixed by its seed


def test_the_study_can_compute_its_lm_arms_jacobian_in_closed_form():
    """study.lm_jacobian changes the LM arms' Jacobian, nothing else, and no other arm."""
    lm = Arm({"optimizer": "lm", "inputs": "raw", "jacobian": "tf", "max_iter": 5})
    adam = Arm({"optimizer": "adam", "inputs": "scaled", "learning_rate": 0.001,
                "epochs": 2, "patience": 2})
    closed = study.study_arm(lm, {"lm_jacobian": "closed_form"})
    assert isinstance(closed, Arm) and closed == {**lm, "jacobian": "closed_form"}
    assert study.study_arm(lm, {"lm_jacobian": None}) == lm
    assert study.study_arm(lm, None) == lm
    assert study.study_arm(adam, {"lm_jacobian": "closed_form"}) == adam
