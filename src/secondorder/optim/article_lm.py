"""The article's Levenberg-Marquardt call: ``scipy.optimize.least_squares(fun, ws_init,
method="lm", max_nfev=50000)`` on numpy residuals of the article's ``mlp``, with the
default finite-difference Jacobian.

The same line of code runs two different algorithms depending on the installed scipy:

* **scipy <= 1.15** (what the article ran in 2021): MINPACK ``lmdif``, which forms a
  forward-difference Jacobian itself (``epsfcn`` = machine epsilon) and counts those
  ``n_params`` evaluations per Jacobian against ``max_nfev``; ``x_scale=1.0``, i.e.
  MINPACK ``diag = ones`` (``mode = 2``, no rescaling of the variables).
  :func:`least_squares_lm_115` runs exactly that algorithm under any later scipy,
  through ``scipy.optimize.leastsq`` (still ``lmdif``), and reports what 1.15's
  ``least_squares`` reported (status, message, ``nfev``, cost, optimality).
  :func:`fit_scipy_fd` (optimizer ``scipy_lm_fd``) is the pipeline's arm built on it.
* **scipy >= 1.16**: the default ``x_scale`` became ``"jac"`` (MINPACK ``diag=None``,
  Jacobian column-norm scaling), the finite differences moved into scipy's own
  ``VectorFunction`` feeding ``lmder``, and ``max_nfev`` stopped counting them. That
  is a different algorithm with a different result; :func:`least_squares_lm_modern`
  runs the line as written under the installed scipy, and :func:`fit_scipy_fd_modern`
  (optimizer ``scipy_lm_fd_modern``) is the arm built on it. **It is not the article's
  algorithm.**

Both arms are slow on purpose (every Jacobian costs ``n_params`` extra residual
evaluations); they are the published baseline, kept beside the fast engines in
:mod:`secondorder.optim.lm`.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pandas as pd
import scipy.optimize
from scipy.optimize._numdiff import approx_derivative  # what 1.15 used (ls.py:10)

from secondorder.optim.fit_result import FitResult
from secondorder.optim.lm.linalg import EPS  # machine epsilon, scipy's EPS in ls.py
from secondorder.optim.minpack_memory import scrub_freed_blocks
from secondorder.problem.data import Problem
from secondorder.problem.model import Architecture, mlp_numpy

# Everything below pins scipy 1.15.3's behaviour, read from its source,
# scipy/optimize/_lsq/least_squares.py (cited as "ls.py:<line>" of the 1.15.3 wheel):
#
# * signature (ls.py:241-244): ftol=xtol=gtol=1e-8, x_scale=1.0, diff_step=None,
#   jac='2-point', max_nfev=None.
# * x_scale (ls.py:823, check_x_scale ls.py:130-150): a scalar 1.0 is resized to
#   ones(n); call_minpack then passes diag = 1 / x_scale = ones(n) (ls.py:48-53), so
#   MINPACK runs with mode 2 and a fixed unit scaling.
# * the Jacobian (ls.py:885-895): for method 'lm' with jac '2-point' no Jacobian is
#   passed (jac_wrapped = None), so call_minpack takes the lmdif branch (ls.py:59-65).
# * epsfcn (ls.py:43-46): diff_step None -> epsfcn = EPS (machine epsilon).
# * factor (ls.py:57): 100.0; col_deriv False; full_output True.
# * maxfev (ls.py:60-65): lmdif's maxfev is max_nfev itself (None -> 100 * n * (n + 1)),
#   and lmdif counts its finite-difference evaluations in nfev.
# * residual calls: fun(x0) once before anything else (ls.py:838, "f0"), then lmdif's
#   own calls, then after lmdif one approx_derivative(fun, x) (ls.py:75-78; its default
#   method is '3-point': 2 n + 1 more calls) for the reported jac/grad/optimality.
# * results (ls.py:80-92): cost = 0.5 f.f with f = info['fvec']; nfev = info['nfev']
#   (MINPACK's count); njev = info.get('njev') (None: lmdif reports none); status mapped
#   by FROM_MINPACK_TO_COMMON (ls.py:28-37); message TERMINATION_MESSAGES[status] and
#   success = status > 0 (ls.py:963-964).

#: ``least_squares``' messages by status (scipy 1.15.3 ls.py:18-25).
TERMINATION_MESSAGES = {
    -1: "Improper input parameters status returned from `leastsq`",
    0: "The maximum number of function evaluations is exceeded.",
    1: "`gtol` termination condition is satisfied.",
    2: "`ftol` termination condition is satisfied.",
    3: "`xtol` termination condition is satisfied.",
    4: "Both `ftol` and `xtol` termination conditions are satisfied.",
}

#: MINPACK ``info`` -> ``least_squares`` status (scipy 1.15.3 ls.py:28-37). MINPACK's
#: 6, 7 and 8 (a tolerance too small to make progress) have no entry: 1.15 raised
#: ``KeyError`` there, and so does :func:`least_squares_lm_115` (with a message).
FROM_MINPACK_TO_COMMON = {0: -1, 1: 2, 2: 3, 3: 4, 4: 1, 5: 0}

#: scipy's ``status`` codes for ``method="lm"`` as short tokens.
SCIPY_STATUS = {-1: "improper_input", 0: "max_nfev", 1: "gtol", 2: "ftol", 3: "xtol",
                4: "ftol_xtol"}


def least_squares_lm_115(fun: Callable, x0, *, max_nfev: int | None = None
                         ) -> scipy.optimize.OptimizeResult:
    """What scipy <= 1.15's ``least_squares(fun, x0, method="lm", max_nfev=max_nfev)``
    computed (all other arguments at their defaults), under the installed scipy.

    Runs MINPACK ``lmdif`` through ``scipy.optimize.leastsq`` with the options 1.15
    passed (see the notes above), calls ``fun`` exactly as often and in the same order
    as 1.15 did, and returns 1.15's fields: ``x, cost, fun, jac, grad, optimality,
    active_mask, nfev, njev, status, message, success``. Checked against scipy 1.15.3
    itself in ``tests/test_article_lm.py`` (weights bit for bit).
    """
    x0 = np.atleast_1d(x0).astype(float)  # ls.py:796
    if x0.ndim > 1:
        raise ValueError("`x0` must have at most 1 dimension.")
    if max_nfev is not None and max_nfev <= 0:  # ls.py:790
        raise ValueError("`max_nfev` must be None or positive integer.")
    n = x0.size
    ftol = xtol = gtol = 1e-8  # ls.py:243 defaults
    diag = 1 / np.resize(np.asarray(1.0), x0.shape)  # x_scale=1.0: ls.py:144-145, 53
    maxfev = 100 * n * (n + 1) if max_nfev is None else int(max_nfev)  # ls.py:60-62

    def fun_wrapped(x):  # ls.py:835-836
        return np.atleast_1d(fun(x))

    f0 = fun_wrapped(x0)  # ls.py:838, the call 1.15 made before MINPACK
    if f0.ndim != 1:
        raise ValueError(f"`fun` must return at most 1-d array_like. f0.shape: {f0.shape}")
    if not np.all(np.isfinite(f0)):
        raise ValueError("Residuals are not finite in the initial point.")
    if f0.size < n:
        raise ValueError("Method 'lm' doesn't work when the number of residuals is less "
                         "than the number of variables.")

    # leastsq calls its function once at x0 to check shapes (_minpack_py.py
    # _check_func); 1.15's call_minpack called _lmdif directly. Handing that check the
    # f0 above keeps the calls of ``fun`` exactly those 1.15 made.
    pending = [f0]

    def minpack_fun(x):
        return pending.pop() if pending else fun_wrapped(x)

    scrub_freed_blocks()  # scipy >= 1.16's qrfac reads one double past fjac
    x, _cov, info, mesg, ier = scipy.optimize.leastsq(
        minpack_fun, x0, full_output=True, ftol=ftol, xtol=xtol, gtol=gtol,
        maxfev=maxfev, epsfcn=EPS, factor=100.0, diag=diag)  # ls.py:43-65

    f = info["fvec"]
    jac = np.atleast_2d(approx_derivative(fun_wrapped, x))  # ls.py:78 ('3-point')
    if ier not in FROM_MINPACK_TO_COMMON:
        raise KeyError(f"MINPACK lmdif returned info {ier} ({mesg!r}); scipy 1.15's "
                       "least_squares has no status for it and raised KeyError "
                       "(least_squares.py:87)")
    status = FROM_MINPACK_TO_COMMON[ier]
    grad = jac.T.dot(f)
    return scipy.optimize.OptimizeResult(
        x=x, cost=0.5 * np.dot(f, f), fun=f, jac=jac, grad=grad,
        optimality=np.linalg.norm(grad, ord=np.inf), active_mask=np.zeros_like(x0, dtype=int),
        nfev=info["nfev"], njev=info.get("njev", None), status=status,
        message=TERMINATION_MESSAGES[status], success=status > 0)


def least_squares_lm_modern(fun: Callable, x0, *, max_nfev: int | None = None
                            ) -> scipy.optimize.OptimizeResult:
    """The article's line as written, under the installed scipy:
    ``least_squares(fun, x0, method="lm", max_nfev=max_nfev)``. With scipy >= 1.16 this
    is **not** the article's algorithm (see the module docstring)."""
    scrub_freed_blocks()  # its qrfac reads one double past the Jacobian
    return scipy.optimize.least_squares(fun=fun, x0=np.asarray(x0, dtype=float),
                                        method="lm", max_nfev=max_nfev)


#: What each arm's result reports as ``scipy_semantics`` in ``fit.json``.
SEMANTICS = {least_squares_lm_115: "scipy<=1.15 (lmdif, x_scale=1.0)",
             least_squares_lm_modern: f"scipy {scipy.__version__} as installed"}


def _fit(solver: Callable, problem: Problem, ws0, arch: Architecture, max_nfev,
         record_every, progress) -> FitResult:
    """Run ``solver`` (one of the two above) on the article's SSQ residuals of
    ``problem`` and record the history; shared by both arms.

    ``history`` has one row every ``record_every`` residual evaluations (default: one
    per forward-difference Jacobian, ``n_params + 1``) and one for the last; its
    ``iteration`` column counts residual evaluations, not LM iterations, which MINPACK
    does not expose (so ``iterations`` of the result is ``None``). ``evaluations``
    counts every call of the residual function (scipy's own checks and final Jacobian
    included); ``extra["scipy_nfev"]`` is the ``nfev`` scipy reported (for the 1.15
    algorithm MINPACK's count, finite differences included; under scipy >= 1.16 the
    evaluations outside the finite differences). The fit runs alone: its ``time_s``
    (and the history's) is its wall time from the start of the call.
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
               "time_s": time.perf_counter() - start}
        if progress and len(rows) % 100 == 0:
            progress({"evaluations": count, "ssq_train": row["ssq_train"],
                      "ssq_val": ssq_val, "elapsed_s": row["time_s"]})
        return row

    sol = solver(residuals, np.asarray(ws0, dtype=float), max_nfev=max_nfev)
    wall = time.perf_counter() - start
    rows.append(_row(count, sol.x, mlp_numpy(x, sol.x, arch) - y))
    rows[-1]["time_s"] = wall
    return FitResult(
        weights=sol.x, history=pd.DataFrame(rows), status=SCIPY_STATUS.get(sol.status, "?"),
        status_code=int(sol.status), message=sol.message, success=bool(sol.success),
        iterations=None, evaluations=count, time_s=wall,
        extra={"cost": float(sol.cost), "njev": None if sol.njev is None else int(sol.njev),
               "scipy_nfev": int(sol.nfev), "optimality": float(sol.optimality),
               "scipy_semantics": SEMANTICS[solver]})


def fit_scipy_fd(problem: Problem, ws0, *, arch: Architecture, max_nfev=50000,
                 record_every=None, progress=None) -> FitResult:
    """The article's LM arm (optimizer ``scipy_lm_fd``): the algorithm the article ran,
    scipy <= 1.15's ``least_squares(fun, ws0, method="lm", max_nfev=max_nfev)``, through
    :func:`least_squares_lm_115`. History and counts as :func:`_fit` says."""
    return _fit(least_squares_lm_115, problem, ws0, arch, max_nfev, record_every, progress)


def fit_scipy_fd_modern(problem: Problem, ws0, *, arch: Architecture, max_nfev=50000,
                        record_every=None, progress=None) -> FitResult:
    """The same line under the installed scipy (optimizer ``scipy_lm_fd_modern``),
    through :func:`least_squares_lm_modern`: under scipy >= 1.16 **not the article's
    algorithm** (column-norm scaling, scipy's own finite differences, ``max_nfev`` not
    counting them). History and counts as :func:`_fit` says."""
    return _fit(least_squares_lm_modern, problem, ws0, arch, max_nfev, record_every,
                progress)
