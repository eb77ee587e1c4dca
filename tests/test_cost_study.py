"""The scaling study's floor (one Gram matrix plus one Cholesky of the LM's shape) and
the per-size check of the LM against it: known shapes and values; one tiny timed run
per engine."""

import math

import numpy as np
import pandas as pd
import pytest

from secondorder.pipeline import cost_study
from secondorder.pipeline.cost_study import (FLOOR_FACTOR, floor_cost, floor_kind,
                                             gram_cholesky, lm_shape, within_floor)


def test_lm_shape_counts_the_paired_residuals():
    """The article's problem pairs its two softmax outputs: one residual per training
    sample (400), whatever the size; n = 5 h + 2 weights for 2-h-2."""
    assert lm_shape(25) == (400, 127)
    assert lm_shape(5) == (400, 27)
    assert lm_shape(400) == (400, 2002)


def test_floor_kind_switches_when_weights_outnumber_residuals():
    assert floor_kind(400, 400) == "JtJ"
    assert floor_kind(400, 401) == "JJt"
    # on the study's sizes: JᵀJ up to 79 hidden units (397 weights), JJᵀ from 80 (402)
    assert [floor_kind(*lm_shape(h)) for h in (5, 25, 50, 79, 80, 100, 400)] == [
        "JtJ", "JtJ", "JtJ", "JtJ", "JJt", "JJt", "JJt"]


def test_gram_cholesky_known_values():
    """RᵀR = JᵀJ + I (n <= m) or JJᵀ + I (n > m), R upper triangular."""
    tall = np.asfortranarray([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])  # JᵀJ + I = diag(2, 5)
    np.testing.assert_allclose(gram_cholesky(tall), np.diag(np.sqrt([2.0, 5.0])), atol=1e-15)
    wide = np.asfortranarray([[1.0, 2.0, 0.0]])  # JJᵀ + I = [[6]]
    np.testing.assert_allclose(gram_cholesky(wide), [[math.sqrt(6.0)]])
    rng = np.random.default_rng(0)
    for shape in ((9, 4), (4, 9)):
        J = np.asfortranarray(rng.standard_normal(shape))
        R = gram_cholesky(J)
        gram = J.T @ J if shape[1] <= shape[0] else J @ J.T
        k = min(shape)
        assert R.shape == (k, k) and np.allclose(np.tril(R, -1), 0)
        np.testing.assert_allclose(R.T @ R, gram + np.eye(k), atol=1e-12)


def test_floor_cost_shape_kind_and_positive_time():
    for (m, n), kind in (((400, 127), "JtJ"), ((400, 502), "JJt")):
        out = floor_cost(m, n, repeats=2, min_time=0.005)
        assert out["floor_kind"] == kind and (out["m"], out["n"]) == (m, n)
        assert out["floor_ms"] > 0 and out["calls"] >= 2
    with pytest.raises(ValueError):
        floor_cost(0, 5)


def _table(lm_ms, floor_ms):
    rows = []
    for i, (lm, floor) in enumerate(zip(lm_ms, floor_ms)):
        hidden = 5 * (i + 1)
        for engine, ms in (("lm_tf", lm), ("adam_compiled", 0.01)):
            rows.append({"hidden": hidden, "n_params": 5 * hidden + 2, "engine": engine,
                         "device": "cpu", "ms_per_iter": ms, "peak_mem_mb": 1.0,
                         "floor_ms": floor, "floor_kind": "JtJ", "lm_vs_floor": math.nan})
    return pd.DataFrame(rows)


def test_within_floor_known_values():
    """1x and exactly 1.5x the floor are met, 2x is not, a missing time is None; Adam
    rows are not judged."""
    assert FLOOR_FACTOR == 1.5
    out = within_floor(_table([1.0, 3.0, 4.0, 2.0], [1.0, 2.0, 2.0, math.nan]))
    assert list(out["hidden"]) == [5, 10, 15, 20]
    np.testing.assert_allclose(out["lm_vs_floor"][:3], [1.0, 1.5, 2.0])
    assert list(out["met"]) == [True, True, False, None]
    assert list(within_floor(_table([3.0], [1.0]), factor=3.0)["met"]) == [True]


def test_scaling_table_adds_the_floor(monkeypatch):
    """The floor columns: the size's floor on every engine's row, lm_vs_floor = LM ms /
    floor ms on the LM rows only (engines faked; the floor really timed)."""
    lm_ms = {"lm_tf": 2.0, "lm_closed_form": 1.5}

    def fake(sizes, engine, *, iterations, repeats):
        return [{"hidden": hidden, "n_params": 5 * hidden + 2, "engine": engine,
                 "device": "cpu", "ms_per_iter": lm_ms.get(engine, 0.1), "peak_mem_mb": 1.0}
                for hidden in sorted(sizes)]

    monkeypatch.setattr(cost_study, "measure", fake)
    monkeypatch.setattr(cost_study, "measure_floors", lambda sizes, repeats: {
        h: cost_study.floor_cost(*cost_study.lm_shape(h), repeats=repeats) for h in sizes})
    table = cost_study.scaling_table([100, 5], lm_iterations=2, adam_epochs=2, repeats=1)
    assert list(table.columns) == list(cost_study.COLUMNS)
    assert list(table["hidden"]) == [5] * 3 + [100] * 3
    assert list(table["engine"]) == list(cost_study.ENGINES) * 2
    assert list(table["floor_kind"]) == ["JtJ"] * 3 + ["JJt"] * 3
    assert (table["floor_ms"] > 0).all()
    for engine, ms in lm_ms.items():
        lm = table[table["engine"] == engine]
        np.testing.assert_allclose(lm["lm_vs_floor"], ms / lm["floor_ms"])
        assert list(within_floor(table, engine=engine)["ms_per_iter"]) == [ms, ms]
    assert table[table["engine"] == "adam_compiled"]["lm_vs_floor"].isna().all()
    for _, group in table.groupby("hidden"):
        assert group["floor_ms"].nunique() == 1


def test_chunk_ms_is_the_median_chunk_per_iteration():
    # chunks of 10 iterations took 0.5 s (first use), 0.1 s and 0.2 s
    assert cost_study.chunk_ms(1.0, [1.5, 1.6, 1.8], 10) == pytest.approx(20.0)
    assert cost_study.chunk_ms(0.0, [0.02], 4) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="no complete chunk"):
        cost_study.chunk_ms(0.0, [], 4)


@pytest.mark.parametrize("engine", cost_study.ENGINES)
def test_measure_here_times_chunks_of_one_compiled_run(engine):
    row = cost_study.measure_here(3, engine, iterations=4, repeats=3)
    assert row["hidden"] == 3 and row["n_params"] == 5 * 3 + 2 and row["engine"] == engine
    assert np.isfinite(row["ms_per_iter"]) and row["ms_per_iter"] > 0


def test_measure_runs_an_engine_at_every_size_in_one_process():
    rows = cost_study.measure([4, 3], "lm_closed_form", iterations=2, repeats=1)
    assert [r["hidden"] for r in rows] == [3, 4]
    assert all(r["engine"] == "lm_closed_form" and r["ms_per_iter"] > 0 for r in rows)
    assert all(r["peak_mem_mb"] >= 0 for r in rows)
    floors = cost_study.measure_floors([4, 3], repeats=1)
    assert list(floors) == [3, 4] and all(f["floor_ms"] > 0 for f in floors.values())
