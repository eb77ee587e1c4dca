"""The LM arm from many initial weight vectors at once.

:func:`mlp_residuals_batch` gives the article's SSQ residuals of a batch of weight rows
and their Jacobians; :func:`fit_lm_batch` trains one LM arm from every row of a
``(B, n_params)`` matrix with :func:`secondorder.optim.lm.least_squares_batch` (a lone fit
is a batch of one).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from secondorder.problem.data import Problem
from secondorder.optim.fit_result import FitResult
from secondorder.problem.model import Architecture, mlp_batch

log = logging.getLogger(__name__)


def paired_softmax(problem: Problem, arch: Architecture) -> bool:
    """Whether the two-output trick of :func:`mlp_residuals_batch` applies: two softmax
    outputs and one-hot targets, so ``p_2 = 1 - p_1``, ``y_2 = 1 - y_1`` and each
    sample's two residuals are exact negatives of each other."""
    targets = np.concatenate([problem.y_train, problem.y_val])
    return (arch.output == "softmax" and arch.nout == 2
            and bool(np.all((targets == 0) | (targets == 1)))
            and bool(np.all(targets.sum(axis=1) == 1)))


def mlp_residuals_batch(problem: Problem, arch: Architecture, pair_outputs: bool = True):
    """The article's residuals for ``B`` weight rows at once, as TensorFlow functions
    of a ``(B, n_params)`` float64 matrix ``W``: ``(residuals, jacobian,
    validation_residuals)``.

    Row ``b`` of ``residuals(W)`` is ``mlp(x_train, W[b]) - y_train`` flattened
    row-major, shape ``(B, N * nout)``. All three come from the one TensorFlow forward
    pass :func:`mlp_batch`: ``jacobian(W)`` ``(B, N * nout, n_params)`` is
    :func:`secondorder.optim.lm.per_sample_jacobian` of it (reverse mode on each sample's
    outputs, vectorised over samples), vectorised over the rows of ``W``. The LM
    engine XLA-compiles all three.

    Two softmax outputs with one-hot targets (:func:`paired_softmax`; the article's
    problem): each sample's residuals are ``(e, -e)``, so the SSQ is ``sum 2 e^2`` and
    ``J^T J``, ``J^T r`` are twice those of the first outputs' rows. With
    ``pair_outputs`` (default) the residuals are then ``sqrt(2) e``, shape ``(B, N)``:
    the same SSQ, normal equations and iterates up to rounding, at half the cost of
    the Jacobian and of ``J^T J``.
    """
    import tensorflow as tf

    from secondorder.optim.lm import per_sample_jacobian

    x, y = tf.constant(problem.x_train), tf.constant(problem.y_train)
    xv, yv = tf.constant(problem.x_val), tf.constant(problem.y_val)
    if pair_outputs and paired_softmax(problem, arch):
        def outputs(out):
            return np.sqrt(2.0) * out[..., :1]
    else:
        def outputs(out):
            return out

    def flat(out, target):
        return tf.reshape(outputs(out) - outputs(target), [tf.shape(out)[0], -1])

    def residuals(w):
        return flat(mlp_batch(x, w, arch), y)

    def validation_residuals(w):
        return flat(mlp_batch(xv, w, arch), yv)

    row_jacobian = per_sample_jacobian(
        lambda w, x_i: outputs(mlp_batch(x_i[None], w[None], arch)), x)

    def jacobian(w):
        return tf.vectorized_map(row_jacobian, w)

    return residuals, jacobian, validation_residuals


def mlp_residuals(problem: Problem, arch: Architecture):
    """:func:`mlp_residuals_batch` as functions of one flat weight vector ``w`` (each
    applied to ``w`` as a one-row batch), for code that drives one start itself (the
    benchmark, the cost study)."""
    from secondorder.optim.lm.solver import row_function

    return tuple(row_function(fn) for fn in mlp_residuals_batch(problem, arch))


def fit_lm_batch(arm: dict, problem: Problem, W0, arch: Architecture,
                 progress=None) -> list[FitResult]:
    """Train the LM ``arm`` (a config entry, schema defaults filled in) from every row
    of ``W0`` ``(B, n_params)``; a lone fit is ``B = 1``.

    Validation SSQ is recorded each accepted step (not with ``solve="scipy"``, which
    MINPACK drives); with ``max_fail`` set it also stops early and returns the
    best-validation weights (trainlm), otherwise the last ones (the article's LM has
    no early stopping). History columns ``iteration, ssq_train, ssq_val, time_s, mu``.
    Times (:class:`FitResult`): ``time_s`` is the row's own compute, its share of the
    batch (:func:`own_times`); ``batch_wall_s``, ``batch_size`` and ``compile_s`` are
    the batch's (see :class:`secondorder.optim.lm.LMResult`).
    """
    from secondorder.optim import lm

    W0 = np.atleast_2d(np.asarray(W0, dtype=np.float64))
    residuals, jacobian, val_residuals = mlp_residuals_batch(problem, arch)
    options = {k: arm[k] for k in ("solve", "scaling", "max_iter")}
    if arm["solve"] == "tf":  # MINPACK (solve="scipy") has its own damping and stops
        options.update(damping=arm["damping"], mu0=arm["mu0"], mu_max=arm["mu_max"],
                       max_time=arm["max_time"], validation=val_residuals,
                       max_fail=arm["max_fail"], chunk=arm["chunk"],
                       progress=_progress if progress is None else _reporting(progress))
    results = lm.least_squares_batch(residuals, W0, jacobian=jacobian, **options)
    fits = []
    for res, own in zip(results, own_times(results)):
        hist = res.history
        history = pd.DataFrame({"iteration": hist["iteration"], "ssq_train": hist["ssq"],
                                "ssq_val": hist.get("val_ssq", np.nan),
                                "time_s": own, "mu": hist["mu"]})
        fits.append(FitResult(
            weights=res.x, history=history, status=res.status.name.lower(),
            status_code=int(res.status), message=res.message, success=res.success,
            iterations=res.nit, evaluations=res.nfev,
            time_s=float(own[-1]) if len(own) else float(res.wall_s),
            compile_s=res.compile_s, batch_wall_s=res.batch_wall_s,
            batch_size=res.batch_size, extra={"njev": res.njev, "cost": res.cost}))
    return fits


def own_times(results) -> list[np.ndarray]:
    """Each row's own compute, cumulated per history row, from the engine's results.

    The results of one batch (``batch_size`` > 1) share the batch's clock: each row's
    history ``wall_s`` is that clock at the end of its iterations (row 0: after the
    start), the longest row's holding every reading. Row ``b`` took part in reading
    ``k`` while ``k <= nit[b]``; each step's seconds are split over the rows that took
    part (:func:`secondorder.optim.fit_result.clock_shares`, the batch's closing
    seconds charged to its last step), so the shares add up to ``batch_wall_s``. A row
    run alone (a batch of one, or ``solve="scipy"``, which runs each row by itself) is
    charged its own clock, ending at its ``wall_s``."""
    from secondorder.optim.fit_result import clock_shares

    if len(results) > 1 and all(r.batch_size == len(results) for r in results):
        clock = max((r.history["wall_s"] for r in results), key=len)
        lengths = np.array([len(r.history["wall_s"]) for r in results])
        active = np.arange(len(clock))[:, None] < lengths[None, :]
        shares = clock_shares(clock, active, batch_wall_s=results[0].batch_wall_s)
        return [shares[:n, b] for b, n in enumerate(lengths)]
    out = []
    for r in results:
        own = np.asarray(r.history["wall_s"], dtype=float).copy()
        if len(own):
            own[-1] = r.wall_s  # alone: its wall time, start to stop (closing work included)
        out.append(own)
    return out


def _reporting(progress):
    """``progress`` as an LM progress callback: it gets the scalars of each report
    (``iteration``, rows still ``running``, their lowest ``ssq``, ``elapsed`` s) and
    never stops the fits."""
    def report(info: dict) -> bool:
        progress({"iteration": int(info["iteration"]), "running": int(info["running"]),
                  "ssq": float(np.nanmin(info["ssq"])), "elapsed_s": float(info["elapsed"])})
        return False

    return report


def _progress(info: dict) -> None:
    log.info("iteration %d  running %d  lowest ssq %.6g  elapsed %.3f s",
             info["iteration"], info["running"], np.nanmin(info["ssq"]), info["elapsed"])
