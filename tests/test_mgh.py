"""The MGH test problems (:mod:`secondorder.problem.mgh`) and the robustness benchmark's
classification and runner (:mod:`secondorder.pipeline.lm_robustness`).

Reference values of ``f(x0)`` are the initial residual norms printed by MINPACK-1's
test drivers (``lmder`` and ``hybrj``, Moré, Garbow & Hillstrom 1980, ANL-80-74; as
in cminpack's ``examples/ref/lmddrv.fortran.ref`` and ``hyjdrv.fortran.ref``), 8
significant digits, or exact values worked by hand from MGH's definitions.
"""

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from secondorder import io
from secondorder.pipeline import lm_robustness as rb
from secondorder.problem.mgh import PROBLEMS

# name: (start factor, ||r(factor * x0)||) from MINPACK's lmder / hybrj drivers.
MINPACK_NORMS = {
    "linear_full_rank": [(1, 5.0000000e+00)],
    "linear_rank_1": [(1, 2.9152187e+02)],
    "linear_rank_1_zero": [(1, 1.2603968e+02)],
    "rosenbrock": [(1, 4.9193496e+00), (10, 1.3400631e+03), (100, 1.4300005e+05)],
    "helical_valley": [(1, 5.0000000e+01), (10, 1.0295630e+02), (100, 9.9126182e+02)],
    "powell_singular": [(1, 1.4662878e+01), (10, 1.2709839e+03), (100, 1.2688790e+05)],
    "freudenstein_roth": [(1, 2.0012496e+01), (10, 1.2432834e+04), (100, 1.1426455e+07)],
    "bard": [(1, 6.4561363e+00), (10, 3.6141853e+01), (100, 3.8411468e+02)],
    "kowalik_osborne": [(1, 7.2891510e-02), (10, 2.9793701e+00), (100, 2.9959062e+01)],
    "meyer": [(1, 4.1153467e+04), (10, 4.1682169e+06)],
    "watson_6": [(1, 5.4772256e+00)],
    "watson_9": [(1, 5.4772256e+00)],
    "watson_12": [(1, 5.4772256e+00)],
    "box_3d": [(1, 3.2111584e+01)],
    "jennrich_sampson": [(1, 6.4585650e+01)],
    "brown_dennis": [(1, 2.8154384e+03), (10, 5.5507335e+05), (100, 6.1211252e+07)],
    "chebyquad": [(1, 1.9651386e-01)],
    "brown_almost_linear": [(1, 1.6530216e+01), (10, 9.7656240e+06)],
    "osborne_1": [(1, 9.3756402e-01)],
    "osborne_2": [(1, 1.4468654e+00)],
    # hybrj driver (square systems with the same residuals)
    "powell_badly_scaled": [(1, 1.0654866e+00)],
    "discrete_boundary_value": [(1, 2.8080582e-02), (10, 5.2555258e-01)],
    "discrete_integral_equation": [(1, 2.5182701e-01), (10, 6.1168330e+00)],
    "trigonometric": [(1, 8.4117534e-02), (10, 2.0305195e+01)],
    "broyden_tridiagonal": [(1, 4.5825757e+00), (10, 6.3910093e+02)],
    "broyden_banded": [(1, 1.8973666e+01), (10, 1.7130922e+04)],
}

# f(x0) worked by hand from MGH's definitions.
EXACT_F0 = {
    "beale": 1.5 ** 2 + 2.25 ** 2 + 2.625 ** 2,                       # x1 = x2 = 1
    "brown_badly_scaled": (1 - 1e6) ** 2 + (1 - 2e-6) ** 2 + 1.0,
    "wood": 100.0 ** 2 + 16 + 90 * 100 + 16 + 10 * 16,               # 19192
    "extended_rosenbrock": 5 * 24.2,
    "extended_powell_singular": 3 * 215.0,
    "penalty_1": 1e-5 * sum((j - 1) ** 2 for j in range(1, 11)) + (385 - 0.25) ** 2,
    # x_j - 1 = -j/10: sum (j/10)^2 = 3.85, s = -38.5
    "variably_dimensioned": 3.85 + 38.5 ** 2 + 38.5 ** 4,
}

# f at x0 from MGH's formulas written out term by term (no published value).
def _gaussian_f0():
    t = (8 - np.arange(1, 16)) / 2
    y = [9e-4, 44e-4, 175e-4, 540e-4, 1295e-4, 2420e-4, 3521e-4, 3989e-4, 3521e-4,
         2420e-4, 1295e-4, 540e-4, 175e-4, 44e-4, 9e-4]
    return sum((0.4 * np.exp(-t[i] ** 2 / 2) - y[i]) ** 2 for i in range(15))


def _gulf_f0():
    total = 0.0
    for i in range(1, 100):
        t = i / 100
        y = 25 + (-50 * np.log(t)) ** (2 / 3)
        total += (np.exp(-abs(y - 2.5) ** 0.15 / 5) - t) ** 2
    return total


def _biggs_f0():
    total = 0.0
    for i in range(1, 14):
        t = 0.1 * i
        y = np.exp(-t) - 5 * np.exp(-10 * t) + 3 * np.exp(-4 * t)
        total += (np.exp(-t) - np.exp(-2 * t) + np.exp(-t) - y) ** 2
    return total


def _penalty_2_f0():
    a, total = 1e-5, (0.5 - 0.2) ** 2
    for i in range(2, 11):
        y = np.exp(i / 10) + np.exp((i - 1) / 10)
        total += a * (2 * np.exp(0.05) - y) ** 2
    total += 9 * a * (np.exp(0.05) - np.exp(-0.1)) ** 2
    return total + (0.25 * 55 - 1) ** 2


WRITTEN_OUT_F0 = {"gaussian": _gaussian_f0, "gulf": _gulf_f0, "biggs_exp6": _biggs_f0,
                  "penalty_2": _penalty_2_f0}

# MGH's tabulated minima (f, as printed): the 16-digit f_min must round to them.
MGH_PRINTED = {
    "jennrich_sampson": 124.362, "bard": 8.21487e-3, "gaussian": 1.12793e-8,
    "meyer": 87.9458, "kowalik_osborne": 3.07505e-4, "brown_dennis": 85822.2,
    "osborne_1": 5.46489e-5, "osborne_2": 4.01377e-2, "watson_6": 2.28767e-3,
    "watson_9": 1.39976e-6, "watson_12": 4.72238e-10, "penalty_1": 7.08765e-5,
    "penalty_2": 2.93660e-4, "chebyquad": 3.51687e-3, "linear_full_rank": 5.0,
}


def test_collection():
    assert len(PROBLEMS) == 37
    assert sorted({p.number for p in PROBLEMS.values()}) == list(range(1, 36))
    for p in PROBLEMS.values():
        assert p.x0.shape == (p.n,) and p.m >= p.n and p.f_min >= 0 and p.source
        r = p.residuals(tf.constant(p.x0))
        assert r.dtype == tf.float64 and r.shape == (p.m,)


@pytest.mark.parametrize("name", sorted(MINPACK_NORMS))
def test_f_at_start_matches_minpack(name):
    p = PROBLEMS[name]
    for factor, norm in MINPACK_NORMS[name]:
        assert np.sqrt(p.f(factor * p.x0)) == pytest.approx(norm, rel=1e-7)


@pytest.mark.parametrize("name", sorted(EXACT_F0) + sorted(WRITTEN_OUT_F0))
def test_f_at_start_by_hand(name):
    expected = EXACT_F0[name] if name in EXACT_F0 else WRITTEN_OUT_F0[name]()
    assert PROBLEMS[name].f(PROBLEMS[name].x0) == pytest.approx(expected, rel=1e-12)


def test_every_problem_has_a_checked_start():
    checked = set(MINPACK_NORMS) | set(EXACT_F0) | set(WRITTEN_OUT_F0)
    assert checked == set(PROBLEMS)


@pytest.mark.parametrize("name", sorted(n for n, p in PROBLEMS.items()
                                        if p.x_min is not None))
def test_f_at_documented_minimiser(name):
    p = PROBLEMS[name]
    assert p.f(p.x_min) == pytest.approx(p.f_min, rel=1e-8, abs=1e-20)


def test_documented_local_minima():
    # Freudenstein-Roth's local minimum (GSL's 15-digit point) and Bard's at infinity
    # (x1 = 0.8406..., x2, x3 -> -inf: approached along x2 = x3 = -1e8).
    fr = PROBLEMS["freudenstein_roth"]
    assert fr.f([11.4127789869021, -0.896805253274477]) == pytest.approx(
        fr.other_minima[0], rel=1e-12)
    bard = PROBLEMS["bard"]
    assert bard.f([0.8406666666666666, -1e8, -1e8]) == pytest.approx(
        bard.other_minima[0], rel=1e-6)


@pytest.mark.parametrize("name", sorted(MGH_PRINTED))
def test_f_min_rounds_to_mgh(name):
    assert PROBLEMS[name].f_min == pytest.approx(MGH_PRINTED[name], rel=6e-6)


def test_helical_valley_theta_is_mghs():
    """MGH: theta = atan(x2/x1) / 2pi, plus 1/2 when x1 < 0."""
    p = PROBLEMS["helical_valley"]
    for x1, x2 in [(1.0, 2.0), (1.0, -2.0), (-1.0, 2.0), (-1.0, -2.0), (-3.0, 0.0)]:
        theta = np.arctan(x2 / x1) / (2 * np.pi) + (0.5 if x1 < 0 else 0.0)
        r = p.residuals(tf.constant([x1, x2, 0.7], tf.float64)).numpy()
        assert r[0] == pytest.approx(10 * (0.7 - 10 * theta), rel=1e-14)


def _jac_r(name, x):
    """Reverse-mode autodiff Jacobian (eager, one gradient per residual) and residuals."""
    p = PROBLEMS[name]
    x = tf.constant(np.asarray(x, np.float64))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        r = p.residuals(x)
    return tape.jacobian(r, x, experimental_use_pfor=False).numpy(), r.numpy()


def central_differences(fun, x, step):
    x = np.asarray(x, np.float64)
    cols = []
    for j in range(x.size):
        h = step * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        cols.append((fun(up) - fun(down)) / (up[j] - down[j]))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_autodiff_jacobian_matches_central_differences(name):
    p = PROBLEMS[name]

    def fun(x):
        return p.residuals(tf.constant(x)).numpy()

    jac, _ = _jac_r(name, p.x0)
    # The best of a few relative steps: rounding error grows as the step shrinks
    # (Brown badly scaled has residuals of 1e6), truncation error as it grows.
    error = min(np.linalg.norm(jac - central_differences(fun, p.x0, step))
                for step in (1e-2, 1e-4, 1e-6))
    assert np.all(np.isfinite(jac))
    assert error <= 1e-6 * np.linalg.norm(jac)


@pytest.mark.parametrize("name", ["helical_valley", "bard"])
def test_numpy_functions_for_scipy(name):
    """scipy's fun and jac: the compiled residuals and the package's (forward-mode)
    autodiff Jacobian, equal to the eager reverse-mode one."""
    p = PROBLEMS[name]
    fun, jac = rb.numpy_functions(p)
    x = 10 * p.x0
    jac_ref, r_ref = _jac_r(name, x)
    np.testing.assert_allclose(fun(x), r_ref, rtol=1e-13, atol=0)
    np.testing.assert_allclose(jac(x), jac_ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_residuals_take_a_batch_of_rows(name):
    """Rows (B, n) -> (B, m), each row what the lone point gives: the batched solver
    gets the residual functions as they are."""
    p = PROBLEMS[name]
    X = np.stack([p.x0, 10 * p.x0 + 0.5])
    batch = p.residuals(tf.constant(X)).numpy()
    assert batch.shape == (2, p.m)
    for x, row in zip(X, batch):
        np.testing.assert_allclose(row, p.residuals(tf.constant(x)).numpy(),
                                   rtol=1e-13, atol=0)


# --- classification ---------------------------------------------------------------------


def test_is_solved():
    assert rb.is_solved(1.0 + 5e-7, 1.0)
    assert not rb.is_solved(1.0 + 2e-6, 1.0)
    assert rb.is_solved(5e-13, 0.0)
    assert not rb.is_solved(2e-12, 0.0)
    assert rb.is_solved(0.5, 1.0)               # below the best known: solved
    assert not rb.is_solved(float("nan"), 0.0)
    assert not rb.is_solved(float("inf"), 0.0)


def test_max_cosine_and_stationary():
    eye = np.eye(2)
    assert rb.max_cosine(eye, [1.0, 0.0]) == pytest.approx(1.0)
    assert not rb.is_stationary(eye, [1.0, 0.0])
    # r orthogonal to the columns: a stationary point with a residual left.
    jac = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    assert rb.max_cosine(jac, [0.0, 0.0, 3.0]) == 0.0
    assert rb.is_stationary(jac, [0.0, 0.0, 3.0])
    # zero columns are left out of the test
    assert rb.max_cosine(np.array([[1.0, 0.0], [0.0, 0.0]]), [0.0, 1.0]) == 0.0
    # a tiny residual is stationary whatever the cosine
    assert rb.is_stationary(np.eye(1), [1e-11])
    assert not rb.is_stationary(np.eye(1), [1e-9])
    # solved counts as stationary; non-finite Jacobians never are
    assert rb.is_stationary(eye, [1.0, 0.0], solved=True)
    assert not rb.is_stationary(np.array([[np.nan, 0.0], [0.0, 1.0]]), [1.0, 0.0])
    cos = rb.max_cosine(np.array([[1.0, 1.0], [0.0, 1e-3]]), [1e-9, 1.0])
    assert cos == pytest.approx(max(1e-9, (1e-9 + 1e-3) / np.sqrt(1 + 1e-6)), rel=1e-9)


def test_false_success_cases():
    # Reported success at a non-stationary point: a false success.
    assert rb.is_false_success(True, rb.is_stationary(np.eye(2), [1.0, 0.0]))
    # MINPACK's ftol stop on Bard from 10 x0 (cminpack's reference point) is far out
    # along the valley towards the minimum at infinity: not stationary, so a reported
    # success there is false.
    jac, r = _jac_r("bard", [8.4066667e-01, -1.5884803e+08, -1.6437867e+08])
    assert not rb.is_stationary(jac, r)
    assert rb.is_false_success(True, rb.is_stationary(jac, r))
    # Freudenstein-Roth's local minimum: stationary, not solved. A success reported
    # there is a failure to solve, not a false success.
    fr = PROBLEMS["freudenstein_roth"]
    x_local = [11.4127789869021, -0.896805253274477]
    jac, r = _jac_r("freudenstein_roth", x_local)
    cost = 0.5 * float(r @ r)
    solved = rb.is_solved(cost, fr.f_min / 2)
    assert not solved and rb.is_stationary(jac, r, solved)
    assert not rb.is_false_success(True, rb.is_stationary(jac, r, solved))
    assert rb.at_other_minimum(fr, cost)
    # No reported success is never a false success.
    assert not rb.is_false_success(False, False)


def test_default_options_are_the_packages():
    from secondorder.optim.lm import solver
    defaults = solver.DEFAULTS
    assert rb.default_options() == f"{defaults['damping']}/{defaults['scaling']}"
    assert rb.default_options() in rb.LM_OPTIONS
    assert rb.budget(2) == 300


def test_summary_and_minpack_comparison():
    rows = []
    outcomes = {("a", 1): (True, True), ("a", 10): (False, True), ("b", 1): (True, False)}
    for (problem, start), (ours, minpack) in outcomes.items():
        for solver, options, solved in ((rb.OURS, "marquardt/identity", ours),
                                        ("minpack", "default", minpack)):
            rows.append({"problem": problem, "start": start, "solver": solver,
                         "options": options, "default": solver == rb.OURS,
                         "solved": solved, "stationary": solved,
                         "reported_success": True, "false_success": not solved,
                         "other_minimum": False, "status": "FTOL", "time_s": 0.1,
                         "final_cost": 1.0, "best_cost": 1.0})
    table = pd.DataFrame(rows)
    per = rb.summary_table(table).set_index("solver")
    assert per.loc[rb.OURS, "runs"] == 3 and per.loc[rb.OURS, "solved"] == 2
    assert per.loc["minpack", "false_successes"] == 1
    cmp = rb.compare_with_minpack(table, "marquardt/identity")
    assert cmp["solved"] == 2 and cmp["minpack_solved"] == 2 and cmp["solved_ge_minpack"]
    assert cmp["minpack_only"] == ["a x10"] and cmp["ours_only"] == ["b x1"]


# --- the runner -------------------------------------------------------------------------


def test_runner_writes_the_table(tmp_path):
    """Two problems, two starts, the default options, MINPACK and trf."""
    table, summary = rb.run_benchmark(problems=["rosenbrock", "beale"], starts=[1, 10],
                                      lm_options=[rb.default_options()])
    assert list(table.columns) == rb.COLUMNS
    assert len(table) == 2 * 2 * 3
    assert set(table.solver) == {rb.OURS, "minpack", "trf"}
    assert table[table.solver == rb.OURS].default.all()
    assert not (table.status == "error").any()
    # Rosenbrock from x0: everyone solves it, and says so.
    first = table[(table.problem == "rosenbrock") & (table.start == 1)]
    assert first.solved.all() and first.reported_success.all()
    assert not first.false_success.any()
    assert (table.final_cost >= 0).all() and (table.nfev >= 1).all()
    assert np.allclose(table.best_cost, 0.0)
    io.write_csv(tmp_path / "table.csv", table)
    io.write_json(tmp_path / "summary.json", summary)
    back = pd.read_csv(tmp_path / "table.csv")
    assert list(back.columns) == rb.COLUMNS and len(back) == len(table)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["runs"] == 12 and saved["n_problems"] == 2
    assert {s["solver"] for s in saved["solvers"]} == {rb.OURS, "minpack", "trf"}
    assert saved["default_vs_minpack"]["runs"] == 4
    assert set(saved["definitions"]) >= {"solved", "stationary", "false_success"}


def test_runner_keeps_failures_as_error_rows(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("engine broke")

    real_scipy = rb.run_scipy

    def nan_scipy(fun, jac, x0, method, max_nfev):
        res, wall = real_scipy(fun, jac, x0, method, max_nfev)
        res.x = np.full_like(res.x, np.nan)
        return res, wall

    monkeypatch.setattr(rb, "run_lm", broken)
    monkeypatch.setattr(rb, "run_scipy", nan_scipy)
    table, summary = rb.run_benchmark(problems=["rosenbrock"], starts=[1, 10],
                                      lm_options=[rb.default_options()],
                                      scipy_methods=["minpack"])
    assert len(table) == 4 and (table.status == "error").all()
    assert table[table.solver == rb.OURS].error.str.contains("engine broke").all()
    assert table[table.solver == "minpack"].error.str.contains("non-finite").all()
    assert not table.solved.any()
    assert {s["errors"] for s in summary["solvers"]} == {2}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_batched_default_jacobian_compiles_with_xla(name):
    """The package's default Jacobian of a batch (autodiff of each row, vectorised over
    rows) XLA-compiles for every problem and agrees with the eager one. (tf.concat in
    residuals once broke this; the problems use stack/unstack instead.)"""
    from secondorder.optim.lm.jacobian import rowwise_autodiff_jacobian as rowwise

    p = PROBLEMS[name]
    X = np.stack([p.x0, 2 * p.x0 + 0.25])
    jac = tf.function(rowwise(p.residuals, p.m, p.n), jit_compile=True)
    got = jac(tf.constant(X)).numpy()
    for x, row in zip(X, got):
        np.testing.assert_allclose(row, _jac_r(name, x)[0], rtol=1e-10, atol=1e-12)
