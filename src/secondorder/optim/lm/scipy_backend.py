"""``solve="scipy"``: MINPACK's LM via ``scipy.optimize.least_squares(method="lm")``.

MINPACK ``lmder`` (Moré 1978) controls a trust radius rather than ``mu`` directly,
so the damping options do not apply. The residuals and Jacobian are the provider's
(:mod:`.providers`), the same functions as for ``solve="numpy"``; scipy calls them
through numpy once per trial step. ``progress(info)`` is called after each Jacobian
evaluation, that is at ``x0`` and after every accepted step, and stops the run
(``CALLBACK``) if it returns True.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import scipy.optimize

from secondorder.optim.minpack_memory import scrub_freed_blocks

from .providers import Provider
from .result import LMResult, Status, make_result

#: scipy's ``least_squares`` status codes mapped to ours (they agree on -1..4).
FROM_SCIPY = {0: Status.MAX_ITER, 1: Status.GTOL, 2: Status.FTOL, 3: Status.XTOL,
              4: Status.FTOL_XTOL}


class Stopped(Exception):
    """Raised from the Jacobian callback when ``progress`` asks to stop."""


class Recorder:
    """numpy wrappers of the provider's functions that log every call for the history.

    MINPACK evaluates the Jacobian only at accepted points (and at ``x0``), so a
    Jacobian call at the point of the latest residual call marks that trial as
    accepted; there ``progress(info)`` is called (when given) with the numbers of the
    current point: ``iteration`` (trials so far), ``running`` (1), ``elapsed`` (s
    since the start, the callbacks' own time excluded), and one-row arrays ``ssq, mu``
    (NaN: MINPACK's is not exposed), ``status`` (running) and ``x`` ``(1, n)``. If it
    returns True, :class:`Stopped` ends the run.
    """

    def __init__(self, provider: Provider, progress: Callable | None = None):
        self.provider, self.progress = provider, progress
        self.start = time.perf_counter()
        self.paused = 0.0  # seconds spent in progress callbacks
        self.last_x = self.last_r = None
        self.njev = 0
        self.ssq, self.accepted, self.time_s = [], [], []

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def fun(self, x):
        r = self.provider.residuals(x)
        self.last_x, self.last_r = np.array(x), r
        self.ssq.append(float(np.dot(r, r)))
        self.accepted.append(False)
        self.time_s.append(self.elapsed())
        return r

    def jac(self, x):
        if self.last_x is not None and np.array_equal(x, self.last_x):
            self.accepted[-1] = True
        jac = self.provider.jacobian(x)
        self.njev += 1
        if self.progress is not None:
            tic = time.perf_counter()
            stop = self.progress({
                "iteration": len(self.ssq) - 1, "running": 1, "elapsed": self.elapsed(),
                "ssq": np.array([self.ssq[-1]]), "mu": np.array([np.nan]),
                "status": np.array([int(Status.RUNNING)]), "x": np.array(x)[None]})
            self.paused += time.perf_counter() - tic
            if stop:
                raise Stopped
        return jac

    def history(self) -> dict:
        """Row 0 is ``x0``, later rows are trials; ``ssq`` is that of the current
        point, the last accepted trial. MINPACK's ``mu`` is not exposed: NaN."""
        trial = np.array(self.ssq)
        accepted = np.array(self.accepted)
        accepted[0] = False
        rows = np.arange(trial.size)
        last_accepted = np.maximum.accumulate(np.where(accepted, rows, 0))
        return {"iteration": rows, "ssq": trial[last_accepted],
                "mu": np.full(trial.size, np.nan), "accepted": accepted,
                "fallback": np.zeros(trial.size, bool), "vetoed": np.zeros(trial.size, bool),
                "time_s": np.array(self.time_s)}


def solve_scipy(provider: Provider, x0: np.ndarray, *, max_iter: int, gtol: float,
                ftol: float, xtol: float, scaling: str,
                progress: Callable | None = None) -> LMResult:
    """Solve with MINPACK from ``x0`` and map its result into an :class:`.LMResult`.

    ``max_nfev = max_iter + 1`` (one evaluation at ``x0``, one per trial step), so
    ``nit = nfev - 1`` as for ``solve="numpy"``. ``scaling="identity"`` is
    ``x_scale=1.0`` (``D = I``); ``"jtj_diag"`` is ``x_scale="jac"``, MINPACK's
    scaling by the running maximum of the Jacobian column norms (Moré 1978, eq. 6.3),
    the closest analogue of Marquardt's. ``gtol``, ``ftol``, ``xtol`` keep MINPACK's
    meanings (``gtol`` bounds the cosine between ``r`` and the columns of ``J``) and
    are raised to machine epsilon if smaller, as MINPACK requires. ``gtol`` is the
    same cosine test as ``solve="numpy"``'s (:mod:`.termination`); ``ftol`` and
    ``xtol`` are MINPACK's own step tests, without the confirmation ``solve="numpy"``
    adds. ``progress``: see :class:`Recorder`; a stop returns the point it was called
    at, status ``CALLBACK``.
    """
    provider.prepare(x0)
    recorder = Recorder(provider)
    r0 = recorder.fun(x0)
    j0 = provider.jacobian(x0)
    if not (np.isfinite(np.dot(r0, r0)) and np.all(np.isfinite(j0))):
        return make_result(x0, r0, Status.NONFINITE_START, nit=0, nfev=1, njev=1,
                           time_s=time.perf_counter() - recorder.start,
                           compile_s=provider.compile_s, history=recorder.history())
    recorder = Recorder(provider, progress)
    eps = np.finfo(np.float64).eps
    scrub_freed_blocks()  # MINPACK's qrfac reads one double past the Jacobian
    try:
        out = scipy.optimize.least_squares(
            recorder.fun, x0, jac=recorder.jac, method="lm", max_nfev=max_iter + 1,
            gtol=max(gtol, eps), ftol=max(ftol, eps), xtol=max(xtol, eps),
            x_scale="jac" if scaling == "jtj_diag" else 1.0)
    except Stopped:
        nfev = len(recorder.ssq)
        return make_result(recorder.last_x, recorder.last_r, Status.CALLBACK, nit=nfev - 1,
                           nfev=nfev, njev=recorder.njev, time_s=recorder.elapsed(),
                           compile_s=provider.compile_s, history=recorder.history())
    time_s = recorder.elapsed()
    history = recorder.history()
    history["time_s"][-1] = time_s  # MINPACK's closing work, charged to its last step
    return make_result(out.x, out.fun, FROM_SCIPY[out.status], nit=out.nfev - 1,
                       nfev=out.nfev, njev=out.njev, time_s=time_s,
                       compile_s=provider.compile_s, history=history)
