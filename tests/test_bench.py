"""Smoke test of the speed benchmark: tiny budgets, keys, types and consistent ratios
(no assertion on how fast anything is)."""

import json
import math

import numpy as np
import pytest

from secondorder.pipeline import bench, evaluate
from secondorder.problem import model
from secondorder.pipeline.bench import (JAXOPT_FIELDS, SEED_FD_MODERN_FIELDS, TFLM_FIELDS,
                                        bench_table, run_bench)

HAVE_TFLM = bench.tflm_version() is not None
HAVE_JAXOPT = bench.jaxopt_importable()

TIMES = ["lm_time_to_target_s", "lm_compile_s", "lm_ms_per_iter", "lm_fast_time_to_target_s",
         "lm_fast_ms_per_iter", "lm_geodesic_ms_per_iter",
         "lm_scipy_time_to_target_s", "seed_fd_time_to_target_s", "seed_fd_total_s",
         "seed_fd_modern_total_s", "adam_fit_ms_per_epoch", "adam_compiled_ms_per_epoch"]
RATIOS = {"speedup_lm_vs_seed_fd": ("seed_fd_time_to_target_s", "lm_time_to_target_s"),
          "speedup_lm_vs_tflm": ("tflm_time_to_target_s", "lm_time_to_target_s"),
          "speedup_lm_vs_jaxopt": ("jaxopt_time_to_target_s", "lm_time_to_target_s"),
          "speedup_lm_vs_best_peer": ("best_peer_time_to_target_s", "lm_time_to_target_s"),
          "speedup_lm_marquardt_vs_best_peer": ("best_peer_time_to_target_s",
                                                "lm_marquardt_time_to_target_s"),
          "speedup_lm_fast_vs_seed_fd": ("seed_fd_time_to_target_s",
                                         "lm_fast_time_to_target_s"),
          "speedup_lm_fast_vs_best_peer": ("best_peer_time_to_target_s",
                                           "lm_fast_time_to_target_s"),
          "speedup_seed_fd_vs_modern": ("seed_fd_modern_total_s", "seed_fd_total_s"),
          "speedup_adam_compiled_vs_fit": ("adam_fit_ms_per_epoch",
                                           "adam_compiled_ms_per_epoch")}


@pytest.fixture(scope="module")
def summary():
    lines = []
    # The article's call (scipy <= 1.15: max_nfev counts the finite differences) needs
    # ~900 evaluations to reach 0.6; the modern line gets 20 (about 20 Jacobians).
    out = run_bench(target=0.6, lm_max_iter=50, fd_max_nfev=1000, tflm_max_steps=10,
                    fit_epochs=3, compiled_epochs=50, include_tflm=HAVE_TFLM,
                    fd_modern_max_nfev=20, include_jaxopt=HAVE_JAXOPT, jaxopt_max_iter=30,
                    in_article=False, progress=lines.append)
    out["_lines"] = lines
    return out


def test_summary_has_every_field_with_its_type(summary):
    for key in TIMES:
        assert isinstance(summary[key], float) and summary[key] > 0, key
    assert isinstance(summary["lm_iters_to_target"], int)
    assert summary["lm_iters_to_target"] > 0
    assert summary["lm_status"] == "target" and summary["lm_final_accuracy"] >= 0.6
    # the time to target is the run's own compute up to the iteration that reached it
    assert summary["lm_time_to_target_s"] == summary["lm_time_s"]
    assert summary["lm_iters"] == summary["lm_iters_to_target"]
    # the fastest documented option set: the lm arm's, Nielsen's rule, closed form
    assert summary["settings"]["lm_fast"] == {**bench.lm_options(None), "damping": "nielsen",
                                              "jacobian": "closed_form"}
    assert summary["lm_fast_device"] == "CPU (numpy)"
    assert summary["lm_device"] in ("CPU (TensorFlow)",) or "GPU" in summary["lm_device"]
    assert summary["target"] == 0.6 and summary["device"]["type"] in ("CPU", "GPU")
    assert summary["versions"]["tensorflow"]
    assert summary["adam_fit_epochs"] == 3 and summary["adam_compiled_epochs"] == 50
    for key in set(TFLM_FIELDS) - {"tflm_time_to_target_s", "tflm_steps_to_target"}:
        assert (summary[key] is not None) == HAVE_TFLM, key  # None only when not run
    assert (summary["tflm_time_to_target_s"] is None) == (summary["tflm_steps_to_target"]
                                                          is None)
    assert summary["settings"]["include_tflm"] == HAVE_TFLM
    assert summary["settings"]["lm_options"] == bench.lm_options(None)  # the lm arm's
    for key in set(JAXOPT_FIELDS) - {"jaxopt_time_to_target_s", "jaxopt_iters_to_target"}:
        assert (summary[key] is not None) == HAVE_JAXOPT, key  # None only when not run
    assert (summary["jaxopt_time_to_target_s"] is None) == (summary["jaxopt_iters_to_target"]
                                                            is None)
    assert summary["settings"]["include_jaxopt"] == HAVE_JAXOPT
    assert summary["settings"]["jaxopt_max_iter"] == 30
    if HAVE_JAXOPT:
        assert 1 <= summary["jaxopt_iters"] <= 30
        assert summary["jaxopt_ms_per_iter"] > 0 and summary["jaxopt_compile_s"] > 0
        for name in bench.JAXOPT_PACKAGES:
            assert summary["versions"][name], name
    # the best peer is the faster of the peers that reached the target
    reached = {name: summary[key] for name, key in bench.PEERS.items()
               if summary[key] is not None}
    if reached:
        assert summary["best_peer"] == min(reached, key=reached.get)
        assert summary["best_peer_time_to_target_s"] == min(reached.values())
    else:
        assert summary["best_peer"] is None and summary["best_peer_time_to_target_s"] is None
    assert summary["settings"]["include_fd_modern"] is True
    assert summary["settings"]["fd_modern_max_nfev"] == 20
    for key in SEED_FD_MODERN_FIELDS:
        assert key in summary, key
    assert summary["seed_fd_status"] == 0 and summary["seed_fd_modern_status"] == 0
    # The two calls are different algorithms: the article's counts its finite
    # differences against max_nfev (1000 -> a handful of Jacobians), the modern one not.
    cycle = model.ARTICLE.n_params + 1
    assert summary["seed_fd_nfev"] < 1000 + 4 * cycle
    assert summary["seed_fd_modern_nfev"] > 10 * cycle
    assert summary["_lines"], "progress lines go to the callable"
    running = [stage.name for stage in bench.STAGES if stage.on(summary["settings"])]
    assert f"benchmark: {len(running)}/{len(running)} stages, 100% done" in "\n".join(
        summary["_lines"])
    json.dumps({k: v for k, v in summary.items() if k != "_lines"})  # JSON-ready as is


def test_speedup_is_the_slow_time_over_the_fast_one():
    """Known values: a 10 s baseline against a 2 s engine is a speed-up of 5 (not 0.2);
    a missing or zero time gives no ratio rather than a number."""
    assert bench.speedup(10.0, 2.0) == 5.0
    assert bench.speedup(None, 2.0) is None and bench.speedup(3.0, None) is None
    assert bench.speedup(3.0, 0.0) is None


def test_best_peer_is_the_fastest_peer_that_reached_the_target():
    """Known values: the faster of the peers that reached the target; a peer that did
    not (None) or was not run is never the best; none reached -> (None, None)."""
    assert bench.best_peer({"tflm_time_to_target_s": 4.0,
                            "jaxopt_time_to_target_s": 1.5}) == ("jaxopt", 1.5)
    assert bench.best_peer({"tflm_time_to_target_s": 1.0,
                            "jaxopt_time_to_target_s": 1.5}) == ("tflm", 1.0)
    assert bench.best_peer({"tflm_time_to_target_s": 4.0,
                            "jaxopt_time_to_target_s": None}) == ("tflm", 4.0)
    assert bench.best_peer({"tflm_time_to_target_s": None}) == (None, None)
    assert bench.best_peer({}) == (None, None)


def test_best_peer_goals_use_the_best_peer():
    """The goals against "the best peer" divide by the best peer's time, not by one
    peer's; each peer alone keeps its own ratio."""
    for name, threshold in (("lm_vs_best_peer", 2.0), ("lm_fast_vs_best_peer", 10.0)):
        key, op, limit = bench.TARGETS[name]
        assert bench.SPEEDUPS[key][0] == "best_peer_time_to_target_s"
        assert (op, limit) == (">=", threshold)
    assert bench.SPEEDUPS["speedup_lm_vs_jaxopt"][0] == "jaxopt_time_to_target_s"
    assert bench.SPEEDUPS["speedup_lm_vs_tflm"][0] == "tflm_time_to_target_s"
    assert bench.TARGETS["lm_vs_article_call"][2] == 10.0
    assert bench.TARGETS["lm_fast_vs_article_call"][2] == 100.0


def test_each_speedup_names_the_right_pair(summary):
    """Each speed-up key divides the time of the slower engine its name says by the
    faster one's (so a swapped or mismatched pair fails)."""
    for ratio, (slow, fast) in RATIOS.items():
        if summary[slow] is None or summary[fast] is None:
            assert summary[ratio] is None
        else:
            assert summary[ratio] == bench.speedup(summary[slow], summary[fast]), ratio


def test_targets_compare_values_with_goals(summary):
    assert set(summary["targets"]) == set(bench.TARGETS)
    for name, goal in summary["targets"].items():
        value = summary[goal["key"]]
        assert goal["value"] == value
        if value is None:
            assert goal["met"] is None
        else:
            limit = goal["threshold"]
            assert goal["met"] is (value <= limit if goal["op"] == "<=" else value >= limit)


def test_table(summary):
    table = bench_table(summary)
    assert list(table.columns) == ["method", "time_to_target_s", "per_iteration_ms", "per",
                                   "speedup"]
    # LM (the arm's, Nielsen, fastest, geodesic, MINPACK), tflm, jaxopt, the article's LM
    # (as it ran, and the same line under the installed scipy), 2 Adam
    assert len(table) == 11
    ours = table.iloc[0]
    assert "jacobian tf, damping nielsen, scaling identity, mu0 0.001" in ours["method"]
    assert "trainlm" in table.iloc[1]["method"]
    assert "damping marquardt, scaling identity" in table.iloc[1]["method"]
    assert "fastest" in table.iloc[2]["method"] and "closed_form" in table.iloc[2]["method"]
    assert "geodesic True" in table.iloc[3]["method"]
    assert ours["time_to_target_s"] == summary["lm_time_to_target_s"]
    assert ours["speedup"] == pytest.approx(summary["speedup_lm_vs_seed_fd"])
    jaxopt_row = table.iloc[6]
    assert "jaxopt" in jaxopt_row["method"]
    if HAVE_JAXOPT:
        assert jaxopt_row["per_iteration_ms"] == summary["jaxopt_ms_per_iter"]
    article, modern = table.iloc[7], table.iloc[8]
    assert "scipy <= 1.15" in article["method"] and article["speedup"] == 1.0
    assert article["time_to_target_s"] == summary["seed_fd_time_to_target_s"]
    assert "not the article's algorithm" in modern["method"]
    assert modern["per_iteration_ms"] == summary["seed_fd_modern_ms_per_jacobian_cycle"]
    compiled = table.iloc[-1]
    assert compiled["speedup"] == pytest.approx(summary["speedup_adam_compiled_vs_fit"])
    # A summary without tf-levenberg-marquardt still makes a table.
    missing = {**summary, **dict.fromkeys(TFLM_FIELDS)}
    tflm_row = bench_table(missing).set_index("method").loc["LM, tf-levenberg-marquardt"]
    assert math.isnan(tflm_row["time_to_target_s"])
    # ... and one without jaxopt ...
    no_jax = bench_table({**summary, **dict.fromkeys(JAXOPT_FIELDS)})
    assert len(no_jax) == 11 and math.isnan(no_jax.iloc[6]["per_iteration_ms"])
    # ... and so does one without the modern call (include_fd_modern: false).
    skipped = bench_table({**summary, **dict.fromkeys(SEED_FD_MODERN_FIELDS)})
    assert len(skipped) == 11 and math.isnan(skipped.iloc[8]["per_iteration_ms"])


def test_table_rows_are_the_stages_rows(summary):
    """The table lists the rows of the stage table, in its order (adding a stage with
    rows adds them to the table)."""
    table = bench_table(summary)
    rows = [row for stage in bench.STAGES for row in stage.rows]
    assert list(table["method"]) == [row.label(summary) for row in rows]
    assert list(table["per"]) == [row.per for row in rows]


def test_stages_have_unique_names_and_off_stages_name_their_fields():
    names = [stage.name for stage in bench.STAGES]
    assert len(set(names)) == len(names)
    for stage in bench.STAGES:
        assert (stage.switch is None) == (not stage.fields), stage.name


def test_check_time_takes_the_checks_off(monkeypatch):
    """Known values on a fake clock: a run of 10 s with checks of 1 s and 2 s took 7 s;
    a time read at the start of the second check is its time less the first check."""
    from secondorder.pipeline.bench import scoring

    now = iter([100.0, 101.0, 104.0, 106.0])  # check 1: 100-101, check 2: 104-106
    monkeypatch.setattr(scoring.time, "perf_counter", lambda: next(now))
    checks, start = bench.CheckTime(), 99.0
    with checks.measure() as tic:
        assert tic == 100.0
    with checks.measure() as tic:
        assert checks.off(tic - start) == 4.0  # 5 s in, 1 s of it checking
    assert checks.seconds == 3.0 and checks.last_end == 106.0
    assert checks.off(10.0) == 7.0


def test_the_minpack_row_runs_the_packages_scipy_path():
    """The MINPACK row is ``least_squares(solve="scipy")`` with the lm arm's options
    that MINPACK takes: over a few iterations it ends where that call ends; a target
    met at the start is met at iteration 0."""
    from secondorder.optim import lm
    from secondorder.optim.lm_network import mlp_residuals_batch

    raw, _ = bench.article_problems()
    ws0 = model.init_weights(bench.INIT_SEED)
    options = bench.lm_options(None)
    out = bench.bench_lm_scipy(raw, ws0, target=1.01, max_iter=4, options=options)
    residuals, jacobian, _ = mlp_residuals_batch(raw, model.ARTICLE)
    ref = lm.least_squares_batch(residuals, ws0[None], jac=jacobian, solve="scipy",
                                 max_iter=4, scaling=options["scaling"])[0]
    assert out["lm_scipy_iters"] == ref.nit and out["lm_scipy_status"] == ref.status.name.lower()
    assert out["lm_scipy_final_accuracy"] == bench.accuracy(raw, ref.x)
    assert out["lm_scipy_time_to_target_s"] is None and out["lm_scipy_iters_to_target"] is None
    hit = bench.bench_lm_scipy(raw, ws0, target=0.0, max_iter=4, options=options)
    assert hit["lm_scipy_status"] == "target" and hit["lm_scipy_iters_to_target"] == 0
    assert hit["lm_scipy_iters"] == 0
    assert 0 <= hit["lm_scipy_time_to_target_s"] <= hit["lm_scipy_time_s"]


def test_accuracy_matches_evaluation():
    raw, _ = bench.article_problems()
    ws = model.init_weights(3)
    scores, _ = evaluate.metrics(raw, ws, model.ARTICLE)
    assert bench.accuracy(raw, ws) == scores["accuracy_all"]
    assert len(raw.x_all) == 500 and len(raw.train) == 400


# --- jaxopt (optional bench dependency) ---------------------------------------------------

def test_jax_residuals_equal_the_article_mlp():
    """The JAX residuals are the article's: ``mlp_numpy(x_train, w) - y_train`` flattened
    row-major, to rounding, at the shared init and at large weights (where the softmax
    saturates)."""
    pytest.importorskip("jax", reason="jax is an optional bench dependency (not installed)")
    raw, _ = bench.article_problems()
    residuals = bench.jax_mlp_residuals(raw, model.ARTICLE)
    for ws in (model.init_weights(bench.INIT_SEED), 5.0 * model.init_weights(3)):
        expected = (model.mlp_numpy(raw.x_train, ws, model.ARTICLE) - raw.y_train).ravel()
        got = np.asarray(residuals(ws))
        assert got.dtype == np.float64 and got.shape == (2 * len(raw.x_train),)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_bench_jaxopt_tiny_run():
    """A few jaxopt iterations: an unreachable target runs the whole budget (no time to
    target), a reachable one stops when the accuracy first reaches it."""
    pytest.importorskip("jaxopt", reason="jaxopt is an optional bench dependency "
                                         "(not installed)")
    raw, _ = bench.article_problems()
    ws0 = model.init_weights(bench.INIT_SEED)
    out = bench.bench_jaxopt(raw, ws0, target=1.01, max_iter=3)
    assert set(out) == set(JAXOPT_FIELDS)
    assert out["jaxopt_iters"] == 3 and out["jaxopt_status"] == "max_iter"
    assert out["jaxopt_time_to_target_s"] is None and out["jaxopt_iters_to_target"] is None
    assert out["jaxopt_ms_per_iter"] > 0 and out["jaxopt_compile_s"] > 0
    assert out["jaxopt_wall_s"] == pytest.approx(1e-3 * 3 * out["jaxopt_ms_per_iter"])
    assert 0 <= out["jaxopt_final_accuracy"] <= 1
    hit = bench.bench_jaxopt(raw, ws0, target=0.0, max_iter=3)  # reached at the first check
    assert hit["jaxopt_status"] == "target" and hit["jaxopt_iters_to_target"] == 1
    assert 0 < hit["jaxopt_time_to_target_s"] <= hit["jaxopt_wall_s"]


def test_the_lm_rows_take_the_lm_arms_options():
    assert bench.lm_options(None) == {"jacobian": "tf", "damping": "nielsen",
                                      "scaling": "identity", "mu0": 1e-3, "mu_max": 1e10}
    arm = {"optimizer": "lm", "inputs": "raw", "max_iter": 5, "damping": "nielsen",
           "scaling": "jtj_diag", "mu0": 0.01, "jacobian": "closed_form"}
    assert bench.lm_options(arm) == {"jacobian": "closed_form", "damping": "nielsen",
                                     "scaling": "jtj_diag", "mu0": 0.01, "mu_max": 1e10}
    with pytest.raises(ValueError, match="solve 'numpy'"):
        bench.lm_options({**arm, "solve": "scipy"})
    with pytest.raises(ValueError, match="optimizer"):
        bench.lm_options({"optimizer": "lbfgs", "inputs": "raw", "max_iter": 5})


def test_the_articles_goal_lines_name_the_lm_options(summary):
    from secondorder.article.speed import GOALS, findings

    assert set(GOALS) == set(bench.TARGETS)  # the article names every goal
    text = findings(summary)
    assert "The `lm` arm's options: jacobian tf, damping nielsen, scaling identity" in text
    assert "(`bench.lm_fast`): jacobian closed_form, damping nielsen" in text
    assert text.count("\n- ") == len(summary["targets"]) + 1  # device, goals, options
