"""The LM arm from many initial weight vectors at once.

:func:`mlp_residuals_batch` gives the article's SSQ residuals of a batch of weight rows
and their Jacobians; :func:`fit_lm_batch` trains one LM arm from every row of a
``(B, n_params)`` matrix with :func:`secondorder.lm.least_squares_batch` and returns
what :func:`secondorder.train.fit_lm` returns for each row alone.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .batch import mlp_batch
from .data import Problem
from .fit import FitResult
from .model import Architecture, mlp_tf

log = logging.getLogger(__name__)


def mlp_residuals_batch(problem: Problem, arch: Architecture):
    """The article's residuals for ``B`` weight rows at once, as TensorFlow functions
    of a ``(B, n_params)`` float64 matrix ``W``: ``(residuals, jacobian,
    validation_residuals)``.

    Row ``b`` of ``residuals(W)`` is ``mlp(x_train, W[b]) - y_train`` flattened
    row-major (the residuals of :func:`secondorder.train.mlp_residuals`), shape
    ``(B, N * nout)``; the forward pass is :func:`secondorder.batch.mlp_batch`.
    ``jacobian(W)`` is ``(B, N * nout, n_params)``: the per-sample Jacobian of
    :func:`secondorder.lm.per_sample_jacobian` (reverse mode on each sample's
    outputs, vectorised over samples), vectorised over the rows of ``W`` with
    ``tf.vectorized_map``. The LM engine XLA-compiles all three.
    """
    import tensorflow as tf

    from .lm import per_sample_jacobian

    x, y = tf.constant(problem.x_train), tf.constant(problem.y_train)
    xv, yv = tf.constant(problem.x_val), tf.constant(problem.y_val)

    def flat(out, target):
        return tf.reshape(out - target, [tf.shape(out)[0], -1])

    def residuals(w):
        return flat(mlp_batch(x, w, arch), y)

    def validation_residuals(w):
        return flat(mlp_batch(xv, w, arch), yv)

    row_jacobian = per_sample_jacobian(lambda w, x_i: mlp_tf(x_i, w, arch), x)

    def jacobian(w):
        return tf.vectorized_map(row_jacobian, w)

    return residuals, jacobian, validation_residuals


def fit_lm_batch(arm: dict, problem: Problem, W0, arch: Architecture) -> list[FitResult]:
    """:func:`secondorder.train.fit_lm` from every row of ``W0`` ``(B, n_params)``.

    Same options from ``arm`` (``damping, mu0, mu_max, max_iter, max_time, max_fail,
    chunk``), same history columns ``iteration, ssq_train, ssq_val, wall_s, mu`` and
    result fields; ``solve`` must be ``"tf"`` and ``scaling`` ``"identity"``. Times
    are shared: ``wall_s`` and ``compile_s`` are the batch's divided by ``B``
    (``extra`` holds ``batch_wall_s``, ``batch_compile_s``, ``batch_size``).
    """
    from . import lm

    if arm.get("solve", "tf") != "tf" or arm.get("scaling", "identity") != "identity":
        raise ValueError("fit_lm_batch runs solve='tf' with scaling='identity' only, got "
                         f"solve={arm.get('solve')!r}, scaling={arm.get('scaling')!r}")
    W0 = np.atleast_2d(np.asarray(W0, dtype=np.float64))
    residuals, jacobian, val_residuals = mlp_residuals_batch(problem, arch)
    results = lm.least_squares_batch(
        residuals, jacobian, W0, damping=arm.get("damping", "marquardt"),
        mu0=arm.get("mu0", 1e-3), mu_max=arm.get("mu_max", 1e10), max_iter=arm["max_iter"],
        max_time=arm.get("max_time"), validation=val_residuals,
        max_fail=arm.get("max_fail"), chunk=arm.get("chunk", 50), progress=_progress)
    size = len(results)
    fits = []
    for res in results:
        hist = res.history
        history = pd.DataFrame({"iteration": hist["iteration"], "ssq_train": hist["ssq"],
                                "ssq_val": hist["val_ssq"], "wall_s": hist["wall_s"],
                                "mu": hist["mu"]})
        fits.append(FitResult(
            weights=res.x, history=history, status=res.status.name.lower(),
            status_code=int(res.status), message=res.message, success=res.success,
            iterations=res.nit, evaluations=res.nfev, wall_s=res.wall_s,
            compile_s=res.compile_s,
            extra={"njev": res.njev, "cost": res.cost, "batch_wall_s": res.wall_s * size,
                   "batch_compile_s": res.compile_s * size, "batch_size": size}))
    return fits


def _progress(info: dict) -> None:
    log.info("iteration %d  running %d  lowest ssq %.6g  elapsed %.3f", info["iteration"],
             info["running"], np.nanmin(info["ssq"]), info["elapsed"])
