"""The multi-dataset suite's protocol: jobs, grids, budgets, caps, and its summary."""

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from secondorder import config as cfg
from secondorder.pipeline import suite


@pytest.fixture(scope="module")
def settings(root):
    conf = yaml.safe_load((root / "config" / "config.yaml").read_text())
    return cfg.validate(cfg.with_suite(conf, root / "config" / "suite.yaml"))["suite"]


def test_jobs_one_per_problem_size_and_applicable_arm(settings):
    full = suite.jobs(settings, "full")
    arms = set(settings["arms"])
    classification = {p for p in settings["problems"] if p not in ("diabetes", "friedman1")}
    expected = sum(len(arms) if p in classification else len(arms) - 2
                   for p in settings["problems"]) * len(settings["sizes"])
    assert len(full) == len(set(full)) == expected
    # cross-entropy arms on classification problems only
    assert not [j for j in full if j[0] in ("diabetes", "friedman1") and j[2].endswith("_ce")]
    part = suite.jobs(settings, "slice")
    assert set(part) <= set(full)
    assert {p for p, _, _ in part} == set(settings["slice"]["problems"])
    with pytest.raises(ValueError, match="scope must be 'slice' or 'full'"):
        suite.jobs(settings, "medium")


def test_every_arm_has_the_same_tuning_budget(settings):
    """Grid points x inits is the same for every arm (LM's options count as its grid),
    every grid point runs on standardised inputs and passes its optimizer's schema."""
    from secondorder.optim.arms import check_arm

    for arm in settings["arms"]:
        points = suite.grid(settings, arm)
        assert len(points) == settings["grid_points"]
        assert all(p["inputs"] == "standardised" for p in points)
        assert len({repr(sorted(p.items())) for p in points}) == len(points)  # distinct
        for point in points:
            check_arm(point)
    unfair = copy.deepcopy(settings)
    unfair["arms"]["lm"]["grid"] = unfair["arms"]["lm"]["grid"][:2]
    with pytest.raises(ValueError, match="every arm must have grid_points = 3"):
        suite.grid(unfair, "lm")


def test_architectures_span_the_sizes(settings):
    info = {"n_inputs": 4, "n_outputs": 3, "task": "classification"}
    small = suite.architecture(info, settings["sizes"]["small"])
    large = suite.architecture(info, settings["sizes"]["large"])
    assert small.nhid2 == 0 and large.nhid2 > 0 and small.output == "softmax"
    assert 50 <= small.n_params <= 1000 and 3000 <= large.n_params <= 20000
    regression = suite.architecture({**info, "n_outputs": 1, "task": "regression"}, [5])
    assert regression.output == "linear" and regression.n_params == 5 * 5 + 6 * 1
    with pytest.raises(ValueError, match="one or two hidden layers"):
        suite.architecture(info, [4, 4, 4])


def test_lm_memory_and_step_space_estimates():
    # parameter space: 2 m n + 4 n^2 doubles; sample space (n > m): 4 m n + 2 m^2
    assert suite.lm_row_bytes(100, 10) == 8 * (2 * 100 * 10 + 4 * 100)
    assert suite.lm_row_bytes(10, 100) == 8 * (4 * 10 * 100 + 2 * 100)
    assert suite.lm_iteration_flops(100, 10) == 2 * 100 * 10 * 10
    assert suite.lm_iteration_flops(10, 100) == 2 * 10 * 100 * 10


def test_a_memory_cap_is_recorded_not_dropped(settings):
    """An LM row that would need more than lm_memory_gb is not run: every fit of the
    job is a ``memory_cap`` row with the reason, an infinite time and no errors."""
    tight = {**settings, "lm_memory_gb": 1e-6}
    table, record = suite.run_job(tight, scope="slice", problem_name="iris", size="small",
                                  arm_name="lm")
    assert len(table) == settings["grid_points"] * settings["slice"]["inits"]
    assert (table["status"] == "memory_cap").all()
    assert table["message"].str.contains("lm_memory_gb").all()
    assert np.isinf(table["time_s"]).all() and table["val_error"].isna().all()
    assert record["n_params"] == table["n_params"].iloc[0]
    assert record["seeds"] == [settings["first_seed"] + k
                               for k in range(settings["slice"]["inits"])]


def test_the_wall_time_cap_binds(settings):
    """A batched arm whose fits could run for ever stops at its cap (checked between
    chunks, so at most one chunk over); a fit's time is its share of the batch."""
    quick = copy.deepcopy(settings)
    quick["cap_s"] = 0.05
    quick["slice"]["inits"] = 2
    quick["arms"]["adam"]["base"].update(epochs=10**7, patience=10**6, chunk=20)
    table, _ = suite.run_job(quick, scope="slice", problem_name="iris", size="small",
                             arm_name="adam")
    assert (table["status"] == "max_time").all()
    assert (table["batch_size"] == 2).all()
    # both fits ran every step of their batch: each is charged half of its wall time
    np.testing.assert_allclose(table["time_s"], table["batch_wall_s"] / 2)
    assert (table["batch_wall_s"] >= 2 * 0.05).all()
    assert (table["batch_wall_s"] < 2 * 0.05 + 5.0).all()  # one chunk of 20 epochs over
    assert table[["val_error", "test_error"]].apply(lambda c: c.between(0, 1)).all().all()


def _fit(problem, arm, grid_point, init, val_error, time_s, family="generated"):
    return {"problem": problem, "family": family, "size": "small", "arm": arm,
            "grid_point": grid_point, "init": init, "val_error": val_error, "time_s": time_s,
            "n_params": 50, "n_residuals": 100, "ms_per_iteration": 1.0,
            "peak_rss_mb": 500.0, "status": "converged"}


def test_summarise_tunes_then_times_the_chosen_grid_point():
    """Two arms on one instance. LM: grid point 1 has the lower median validation error
    (0.10 vs 0.30), so it is chosen; adam: grid point 0. Target = best error 0.10 + 0.01;
    LM's chosen fits both reach it (times 2 and 4: median 3), adam's do not (inf)."""
    fits = pd.DataFrame([
        _fit("p", "lm", 0, 0, 0.30, 1.0), _fit("p", "lm", 0, 1, 0.30, 1.0),
        _fit("p", "lm", 1, 0, 0.10, 2.0), _fit("p", "lm", 1, 1, 0.105, 4.0),
        _fit("p", "adam", 0, 0, 0.20, 0.5), _fit("p", "adam", 0, 1, 0.25, 0.5),
        _fit("p", "adam", 1, 0, 0.40, 0.1), _fit("p", "adam", 1, 1, 0.40, 0.1),
    ])
    out = suite.summarise(fits, tolerance=0.01)
    chosen = out["selected"].set_index("arm")["grid_point"].to_dict()
    assert chosen == {"lm": 1, "adam": 0}
    assert out["targets"]["target"].iloc[0] == pytest.approx(0.11)
    times = out["instance_times"].set_index(["problem", "size"])
    assert times.loc[("p", "small"), "lm"] == pytest.approx(3.0)
    assert np.isinf(times.loc[("p", "small"), "adam"])
    success = out["success"].set_index("arm")
    assert success.loc["lm", "successes"] == 2 and success.loc["adam", "successes"] == 0
    assert out["verdict"]["verdict"].tolist() == ["holds"]
    assert out["verdict_instances"][["problem", "verdict"]].values.tolist() == [["p", "holds"]]
    profile = out["profile"].set_index("tau")
    assert profile.loc[1.0, "lm"] == 1.0 and profile.loc[1.0, "adam"] == 0.0
