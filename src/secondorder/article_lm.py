"""The article's Levenberg-Marquardt call, kept exactly: MINPACK ``lmdif`` through
``scipy.optimize.least_squares(method="lm")`` with its default forward-difference
Jacobian, on numpy residuals of the article's ``mlp``.

It is the published baseline (slow: every Jacobian costs ``n_params`` extra residual
evaluations), kept beside the fast engines in :mod:`secondorder.lm`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.optimize

from .data import Problem
from .fit import FitResult
from .model import Architecture, mlp_numpy

#: scipy's ``status`` codes for ``method="lm"`` as short tokens.
SCIPY_STATUS = {-1: "improper_input", 0: "max_nfev", 1: "gtol", 2: "ftol", 3: "xtol",
                4: "ftol_xtol"}


def fit_scipy_fd(problem: Problem, ws0, *, arch: Architecture, max_nfev=50000,
                 record_every=None, progress=None) -> FitResult:
    """Run ``least_squares(fun, ws0, method="lm", max_nfev=max_nfev)`` as the article does.

    ``history`` has one row every ``record_every`` residual evaluations (default: one
    per forward-difference Jacobian, ``n_params + 1``) and one for the last; its
    ``iteration`` column counts residual evaluations, not LM iterations, which MINPACK
    does not expose (so ``iterations`` of the result is ``None``).
    """
    x, y = problem.x_train, problem.y_train
    record_every = int(record_every or arch.n_params + 1)
    rows, start, count = [], time.perf_counter(), 0

    def residuals(ws):
        nonlocal count
        count += 1
        res = mlp_numpy(x, ws, arch) - y
        if count % record_every == 0:
            rows.append(_row(count, ws, res))
        return res.flatten()

    def _row(count, ws, res):
        ssq_val = float(np.sum((mlp_numpy(problem.x_val, ws, arch) - problem.y_val) ** 2))
        row = {"iteration": count, "ssq_train": float(np.sum(res ** 2)), "ssq_val": ssq_val,
               "wall_s": time.perf_counter() - start}
        if progress and len(rows) % 100 == 0:
            progress({"evaluations": count, "ssq_train": row["ssq_train"],
                      "ssq_val": ssq_val, "elapsed_s": row["wall_s"]})
        return row

    sol = scipy.optimize.least_squares(fun=residuals, x0=np.asarray(ws0, dtype=float),
                                       method="lm", max_nfev=max_nfev)
    wall = time.perf_counter() - start
    rows.append(_row(count, sol.x, mlp_numpy(x, sol.x, arch) - y))
    rows[-1]["wall_s"] = wall
    return FitResult(
        weights=sol.x, history=pd.DataFrame(rows), status=SCIPY_STATUS.get(sol.status, "?"),
        status_code=int(sol.status), message=sol.message, success=bool(sol.success),
        iterations=None, evaluations=count, wall_s=wall,
        extra={"cost": float(sol.cost), "njev": None if sol.njev is None else int(sol.njev),
               "scipy_nfev": int(sol.nfev)})
