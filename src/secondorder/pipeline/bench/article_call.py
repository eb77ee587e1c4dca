"""The article's own Levenberg-Marquardt call: ``scipy.optimize.least_squares(fun, ws0,
method="lm", max_nfev=...)`` with MINPACK's forward-difference Jacobian on numpy
residuals of the raw inputs, as it ran (scipy <= 1.15, the yardstick of every speed-up
"over the article's call") and, as its own row, under the installed scipy."""

from __future__ import annotations

import time
import warnings

import numpy as np

from secondorder.pipeline.bench.scoring import CheckTime, accuracy
from secondorder.problem.model import ARTICLE, mlp_numpy

#: Summary keys of the modern call (``None`` when ``include_fd_modern`` is false).
SEED_FD_MODERN_FIELDS = tuple(f"seed_fd_modern_{key}" for key in (
    "time_to_target_s", "nfev_to_target", "accuracy_at_target", "total_s", "nfev",
    "ms_per_jacobian_cycle", "final_accuracy", "status", "check_s"))


def scipy_version() -> str:
    import scipy

    return scipy.__version__


def bench_article_fd(problem, ws0, *, target, max_nfev, modern=False) -> dict:
    """The article's ``least_squares(fun, ws0, method="lm", max_nfev=max_nfev)`` run to
    the end, noting when the accuracy first reaches ``target``.

    ``modern=False`` (keys ``seed_fd_*``) runs it as the article ran it, scipy <= 1.15's
    algorithm (MINPACK ``lmdif``, ``max_nfev`` counting the finite differences;
    :func:`secondorder.optim.article_lm.least_squares_lm_115`); ``modern=True`` (keys
    ``seed_fd_modern_*``) runs the line under the installed scipy
    (:func:`~secondorder.optim.article_lm.least_squares_lm_modern`), where from 1.16 on
    ``max_nfev`` counts MINPACK's own evaluations only, not the ``n_params`` of each
    finite-difference Jacobian, and the variables are rescaled (another algorithm).
    The residuals are the article's (numpy ``mlp`` on the raw training inputs, without
    its per-call printing). Every ``n_params + 1`` residual evaluations (about one
    forward-difference Jacobian) the accuracy is checked at the lowest-SSQ point
    evaluated so far, which is MINPACK's current iterate up to a finite-difference
    perturbation. The bookkeeping and checks are timed and subtracted
    (:class:`~secondorder.pipeline.bench.scoring.CheckTime`).
    """
    from secondorder.optim.article_lm import least_squares_lm_115, least_squares_lm_modern

    solver = least_squares_lm_modern if modern else least_squares_lm_115
    prefix = "seed_fd_modern" if modern else "seed_fd"
    x, y = problem.x_train, problem.y_train
    cycle = ARTICLE.n_params + 1
    checks = CheckTime()
    st = {"count": 0, "best_ssq": np.inf, "best_x": None, "reached": None}

    def residuals(ws):
        st["count"] += 1
        res = mlp_numpy(x, ws, ARTICLE) - y
        if st["reached"] is None:
            with checks.measure() as tic:
                ssq = float(np.sum(res ** 2))
                if ssq < st["best_ssq"]:
                    st["best_ssq"], st["best_x"] = ssq, np.array(ws)
                if st["count"] % cycle == 0:
                    acc = accuracy(problem, st["best_x"])
                    if acc >= target:
                        st["reached"] = {"t": checks.off(tic - start), "nfev": st["count"],
                                         "accuracy": acc}
        return res.flatten()

    start = time.perf_counter()
    with warnings.catch_warnings():  # the article's sigmoid overflows (harmlessly) at times
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        sol = solver(residuals, np.asarray(ws0, dtype=float), max_nfev=max_nfev)
    total = checks.off(time.perf_counter() - start)
    reached = st["reached"] or {}
    fields = {
        "time_to_target_s": reached.get("t"),
        "nfev_to_target": reached.get("nfev"),
        "accuracy_at_target": reached.get("accuracy"),
        "total_s": total,
        "nfev": st["count"],
        "ms_per_jacobian_cycle": 1e3 * total * cycle / st["count"],
        "final_accuracy": accuracy(problem, sol.x),
        "status": int(sol.status),
        "check_s": checks.seconds,
    }
    return {f"{prefix}_{key}": value for key, value in fields.items()}
