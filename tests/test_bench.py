"""Smoke test of the speed benchmark: tiny budgets, keys, types and consistent ratios
(no assertion on how fast anything is)."""

import json
import math

import pytest

from secondorder.pipeline import bench, evaluate
from secondorder.problem import model
from secondorder.pipeline.bench import SEED_FD_MODERN_FIELDS, TFLM_FIELDS, bench_table, run_bench

HAVE_TFLM = bench.tflm_version() is not None

TIMES = ["lm_time_to_target_s", "lm_compile_s", "lm_ms_per_iter",
         "lm_scipy_time_to_target_s", "seed_fd_time_to_target_s", "seed_fd_total_s",
         "seed_fd_modern_total_s", "adam_fit_ms_per_epoch", "adam_compiled_ms_per_epoch"]
RATIOS = {"speedup_lm_vs_seed_fd": ("seed_fd_time_to_target_s", "lm_time_to_target_s"),
          "speedup_lm_vs_tflm": ("tflm_time_to_target_s", "lm_time_to_target_s"),
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
                    fd_modern_max_nfev=20, progress=lines.append)
    out["_lines"] = lines
    return out


def test_summary_has_every_field_with_its_type(summary):
    for key in TIMES:
        assert isinstance(summary[key], float) and summary[key] > 0, key
    assert isinstance(summary["lm_iters_to_target"], int)
    assert summary["lm_iters_to_target"] > 0
    assert summary["lm_timing_verified"] is True
    assert summary["lm_accuracy_at_target"] >= 0.6
    assert summary["target"] == 0.6 and summary["device"]["type"] in ("CPU", "GPU")
    assert summary["versions"]["tensorflow"]
    assert summary["adam_fit_epochs"] == 3 and summary["adam_compiled_epochs"] == 50
    for key in set(TFLM_FIELDS) - {"tflm_time_to_target_s", "tflm_steps_to_target"}:
        assert (summary[key] is not None) == HAVE_TFLM, key  # None only when not run
    assert (summary["tflm_time_to_target_s"] is None) == (summary["tflm_steps_to_target"]
                                                          is None)
    assert summary["settings"]["include_tflm"] == HAVE_TFLM
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
    json.dumps({k: v for k, v in summary.items() if k != "_lines"})  # JSON-ready as is


def test_speedup_is_the_slow_time_over_the_fast_one():
    """Known values: a 10 s baseline against a 2 s engine is a speed-up of 5 (not 0.2);
    a missing or zero time gives no ratio rather than a number."""
    assert bench._ratio(10.0, 2.0) == 5.0
    assert bench._ratio(None, 2.0) is None and bench._ratio(3.0, None) is None
    assert bench._ratio(3.0, 0.0) is None


def test_each_speedup_names_the_right_pair(summary):
    """Each speed-up key divides the time of the slower engine its name says by the
    faster one's (so a swapped or mismatched pair fails)."""
    for ratio, (slow, fast) in RATIOS.items():
        if summary[slow] is None or summary[fast] is None:
            assert summary[ratio] is None
        else:
            assert summary[ratio] == bench._ratio(summary[slow], summary[fast]), ratio


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
    # LM (Marquardt, Nielsen, MINPACK), tflm, the article's LM (as it ran, and the same
    # line under the installed scipy), 2 Adam
    assert len(table) == 8
    ours = table.iloc[0]
    assert ours["time_to_target_s"] == summary["lm_time_to_target_s"]
    assert ours["speedup"] == pytest.approx(summary["speedup_lm_vs_seed_fd"])
    article, modern = table.iloc[4], table.iloc[5]
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
    # ... and so does one without the modern call (include_fd_modern: false).
    skipped = bench_table({**summary, **dict.fromkeys(SEED_FD_MODERN_FIELDS)})
    assert len(skipped) == 8 and math.isnan(skipped.iloc[5]["per_iteration_ms"])


def test_accuracy_matches_evaluation():
    raw, _ = bench.article_problems()
    ws = model.init_weights(3)
    scores, _ = evaluate.metrics(raw, ws, model.ARTICLE)
    assert bench.accuracy(raw, ws) == scores["accuracy_all"]
    assert len(raw.x_all) == 500 and len(raw.train) == 400
