"""The host loop's iterates against the compiled TensorFlow engine it replaced.

``tests/reference/lm_reference.json.gz`` holds the iterates of that engine (main
55f5e5c, recorded by ``tests/reference/record_lm_reference.py`` before it went): the
article's problem and every Moré-Garbow-Hillstrom run of ``snakemake lm_robustness``.
The two engines do the same arithmetic in another order (``dsyrk`` and LAPACK against
TensorFlow's kernels), so they agree to rounding, and rounding differences grow along a
run as in any chaotic fit (README, "Fits are chaotic"): a damping rule with discrete
steps (Marquardt's) keeps them small for 1000 iterations, Nielsen's continuous rule
amplifies them ~10x every three iterations.
"""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from secondorder.optim import lm
from secondorder.optim.lm_network import lm_provider
from secondorder.problem import data, model

REFERENCE = Path(__file__).parent / "reference" / "lm_reference.json.gz"
SUCCESS = {"GTOL", "FTOL", "XTOL", "FTOL_XTOL", "SSQ_GOAL"}

#: Runs recorded as MU_MAX that now end as XTOL: zero-residual problems whose residuals
#: reach the rounding of their terms (``termination.at_rounding``), where every step
#: fails; the recording ended them on ``mu_max`` after a run of failed steps, the loop
#: now confirms ``xtol`` at the first (iterates unchanged until then: a run stops
#: earlier, never elsewhere). Keys are "problem|start|options" (26 runs).
ALL = ("marquardt/identity", "marquardt/jtj_diag", "nielsen/identity", "nielsen/jtj_diag")
AT_ROUNDING = {f"{name}|{start}|{label}" for name, start, labels in [
    ("gulf", 1, ALL), ("gulf", 10, ALL), ("box_3d", 1, ALL),
    ("box_3d", 10, ("marquardt/identity", "nielsen/identity")), ("biggs_exp6", 1, ALL),
    ("biggs_exp6", 10, ALL), ("discrete_boundary_value", 1, ALL)] for label in labels}


@pytest.fixture(scope="module")
def reference():
    with gzip.open(REFERENCE, "rt") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def spirals():
    points = data.spiral_data(500)
    trn, val = data.split_indices(500)
    return data.Problem(points[:, :2], points[:, 2:], trn, val, "raw")


@pytest.mark.parametrize("jacobian", ["tf", "closed_form"])
def test_article_lm_arm_follows_the_compiled_engine(reference, spirals, jacobian):
    """The lm arm's options (Marquardt, D = I) from the shared init: the same 1000
    iterates (SSQ to 1e-6, every acceptance, validation SSQ), status and counts, with
    either Jacobian."""
    ref = reference["article"]["marquardt/identity"]
    res = lm.least_squares_batch(lm_provider(spirals, model.ARTICLE, jacobian),
                                 model.init_weights(1)[None], damping="marquardt",
                                 scaling="identity", mu0=1e-3, max_iter=1000,
                                 progress=lambda info: False)[0]
    assert (res.status.name, res.nit, res.nfev, res.njev) == (
        ref["status"], ref["nit"], ref["nfev"], ref["njev"])
    np.testing.assert_array_equal(res.history["accepted"], np.array(ref["accepted"], bool))
    np.testing.assert_allclose(res.history["ssq"], ref["ssq"], rtol=1e-6)
    # the validation SSQ falls 5 decades, to ~2e-4: its last digits move first
    np.testing.assert_allclose(res.history["val_ssq"], ref["val_ssq"], rtol=1e-4)
    np.testing.assert_allclose(res.history["mu"], ref["mu"], rtol=1e-12)


def test_article_nielsen_follows_the_compiled_engine_to_rounding(reference, spirals):
    """Nielsen's rule with Moré's scaling: the first 10 iterates agree to 1e-10 (the
    differences start at 1e-15 and grow; by iteration 35 they pass 1e-6)."""
    ref = reference["article"]["nielsen/jtj_diag"]
    res = lm.least_squares_batch(lm_provider(spirals, model.ARTICLE, "tf"),
                                 model.init_weights(1)[None], damping="nielsen",
                                 scaling="jtj_diag", mu0=1e-3, max_iter=10,
                                 progress=lambda info: False)[0]
    np.testing.assert_allclose(res.history["ssq"], ref["ssq"][:11], rtol=1e-10)
    np.testing.assert_allclose(res.history["mu"], ref["mu"][:11], rtol=1e-8)
    np.testing.assert_array_equal(res.history["accepted"],
                                  np.array(ref["accepted"][:11], bool))


@pytest.mark.slow
def test_mgh_runs_follow_the_compiled_engine(reference):
    """All 444 runs (37 problems x 3 starts x 4 option sets), XLA-compiled as recorded:

    * the same runs solved (final cost within 1e-6 of the best known minimum);
    * the same reported successes, but for the runs of :data:`AT_ROUNDING`, recorded
      as MU_MAX, now XTOL in at most as many iterations, and for at most 1% of the
      runs, whose status is decided where the SSQ has reached rounding level (seen: 1
      of 444, Broyden tridiagonal from x0, Marquardt, D = I: recorded MU_MAX, now XTOL;
      before ``at_rounding``, 2, both Broyden tridiagonal, one each way);
    * the first iterate's SSQ within 1e-5 relative wherever the start is not at
      rounding level (SSQ > 1e-20) and ``mu`` starts above its floor (at the floor,
      ``mu`` is ``eps max diag(J^T J)`` and the step is set by the rounding of
      ``J^T J``: Chebyquad from 10 and 100 x0, ``J^T J ~ 1e36``).
    """
    from secondorder.pipeline import lm_robustness as bench
    from secondorder.problem.mgh import PROBLEMS

    runs, success_differs, first = 0, [], []
    for name, problem in PROBLEMS.items():
        X0 = np.stack([s * problem.x0 for s in bench.STARTS])
        provider = bench.lm_provider(problem)
        for label, options in bench.LM_OPTIONS.items():
            results = bench.run_lm(provider, X0, options, max_iter=bench.budget(problem.n))
            for start, res in zip(bench.STARTS, results):
                key = f"{name}|{start}|{label}"
                ref = reference["mgh"][key]
                runs += 1
                best = problem.f_min / 2
                assert (bench.is_solved(ref["ssq"][-1] / 2, best)
                        == bench.is_solved(res.cost, best)), key
                if key in AT_ROUNDING:
                    assert (ref["status"], res.status.name) == ("MU_MAX", "XTOL"), key
                    assert res.nit <= ref["nit"], key
                elif (ref["status"] in SUCCESS) != res.success:
                    success_differs.append((name, start, label))
                above_floor = res.history["mu"][0] == options.get("mu0", 1e-3)
                if ref["ssq"][0] > 1e-20 and above_floor and len(ref["ssq"]) > 1:
                    first.append(abs(res.history["ssq"][1] - ref["ssq"][1]) / ref["ssq"][1])
    assert runs == 444 and len(AT_ROUNDING) == 26
    assert len(success_differs) <= 4, success_differs
    assert len(first) > 400 and max(first) <= 1e-5
