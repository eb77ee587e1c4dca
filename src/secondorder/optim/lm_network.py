"""The LM arm on the network: its residuals and Jacobian, from many initial weights.

The article's residuals ``mlp(x_train, w) - y_train`` come from one of two providers
(:mod:`secondorder.optim.lm.providers`), chosen by the arm's ``jacobian``:

* ``tf`` (the article's arm): TensorFlow, :func:`mlp_residuals_batch` -- the one forward
  pass :func:`secondorder.problem.model.mlp_batch` and its per-sample autodiff
  Jacobian, XLA-compiled;
* ``closed_form``: numpy, :func:`secondorder.problem.model.mlp_jacobian` -- the
  layer-by-layer Jacobian of the perceptron, no compilation.

Both give the same numbers to rounding (tested). :func:`fit_lm_batch` trains one LM arm
from every row of a ``(B, n_params)`` matrix (a lone fit is a batch of one).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from secondorder.optim.fit_result import FitResult
from secondorder.problem.data import Problem
from secondorder.problem.model import Architecture, mlp_batch, mlp_forward, mlp_jacobian

log = logging.getLogger(__name__)

#: Where an LM arm's Jacobian comes from (the arm's ``jacobian`` setting).
JACOBIANS = ("tf", "closed_form")


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
    outputs, vectorised over samples), vectorised over the rows of ``W``.

    Two softmax outputs with one-hot targets (:func:`paired_softmax`; the article's
    problem): each sample's residuals are ``(e, -e)``, so the SSQ is ``sum 2 e^2`` and
    ``J^T J``, ``J^T r`` are twice those of the first outputs' rows. With
    ``pair_outputs`` (default) the residuals are then ``sqrt(2) e``, shape ``(B, N)``:
    the same SSQ, normal equations and iterates up to rounding, at half the cost of
    the Jacobian and of ``J^T J``.
    """
    import tensorflow as tf

    from secondorder.optim.lm.jacobian import per_sample_jacobian

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


def mlp_residuals_numpy(problem: Problem, arch: Architecture, pair_outputs: bool = True):
    """The same residuals as :func:`mlp_residuals_batch` as numpy functions of one flat
    weight vector ``w``: ``(residuals, jacobian, validation_residuals)``, the Jacobian
    in closed form (:func:`secondorder.problem.model.mlp_jacobian`), with the same
    pairing of two softmax outputs."""
    paired = pair_outputs and paired_softmax(problem, arch)
    scale, keep = (np.sqrt(2.0), [0]) if paired else (1.0, None)

    def select(values):
        return values if keep is None else values[:, keep]

    x_train, last = problem.x_train, {"w": None}

    def train_forward(w):
        """The forward pass on the training rows, kept for the Jacobian at the same
        point (the loop asks for it right after the residuals of a step it takes)."""
        if last["w"] is None or not np.array_equal(last["w"], w):
            w = np.array(w, dtype=np.float64)  # its own copy: the blocks are views of it
            last.update(w=w, forward=mlp_forward(x_train, w, arch))
        return last["forward"]

    def make(x, y, forward):
        target = scale * select(y)

        def residuals(w):
            return (scale * select(forward(w).out) - target).ravel()
        return residuals

    def validation_forward(w):
        return mlp_forward(problem.x_val, w, arch)

    def jacobian(w):
        _, jac = mlp_jacobian(x_train, w, arch, outputs=keep, forward=train_forward(w))
        jac = jac.reshape(-1, arch.n_params)
        if paired:
            jac *= scale  # in place: no second (m, n) array
        return jac

    return (make(x_train, problem.y_train, train_forward), jacobian,
            make(problem.x_val, problem.y_val, validation_forward))


def lm_provider(problem: Problem, arch: Architecture, jacobian: str = "tf",
                validation: bool = True):
    """The provider of the LM loop for ``problem`` and ``arch``: TensorFlow
    (``jacobian="tf"``) or closed form (``"closed_form"``); with ``validation`` it also
    gives the validation residuals."""
    from secondorder.optim.lm import NumpyProvider, TFProvider

    if jacobian == "tf":
        residuals, jac, val = mlp_residuals_batch(problem, arch)
        m = len(problem.x_train) * (1 if paired_softmax(problem, arch) else arch.nout)
        p = len(problem.x_val) * (1 if paired_softmax(problem, arch) else arch.nout)
        return TFProvider(residuals, arch.n_params, m, jacobian=jac,
                          validation=val if validation else None,
                          p=p if validation else None)
    if jacobian == "closed_form":
        residuals, jac, val = mlp_residuals_numpy(problem, arch)
        m = residuals(np.zeros(arch.n_params)).size
        p = val(np.zeros(arch.n_params)).size
        return NumpyProvider(residuals, jac, arch.n_params, m=m,
                             validation=val if validation else None,
                             p=p if validation else None)
    raise ValueError(f"jacobian must be one of {list(JACOBIANS)}, got {jacobian!r}")


#: The provider of the last problem an LM arm trained on: ``(problem, key, provider)``.
#: The suite trains several grid points on one :class:`Problem` object; one provider
#: (one compilation of the TensorFlow functions) serves them all. Any other problem
#: (by identity), architecture or Jacobian builds anew.
_PROVIDER: list = []


def cached_provider(problem: Problem, arch: Architecture, jacobian: str, validation: bool):
    """:func:`lm_provider`, built once for consecutive fits on the same problem object."""
    key = (arch, jacobian, validation)
    if not (_PROVIDER and _PROVIDER[0] is problem and _PROVIDER[1] == key):
        _PROVIDER[:] = [problem, key, lm_provider(problem, arch, jacobian, validation)]
    return _PROVIDER[2]


def fit_lm_batch(arm: dict, problem: Problem, W0, arch: Architecture,
                 progress=None) -> list[FitResult]:
    """Train the LM ``arm`` (a config entry, schema defaults filled in) from every row
    of ``W0`` ``(B, n_params)``; a lone fit is ``B = 1``.

    Validation SSQ is recorded each accepted step (not with ``solve="scipy"``, which
    MINPACK drives); with ``max_fail`` set it also stops early and returns the
    best-validation weights (trainlm), otherwise the last ones (the article's LM has
    no early stopping). History columns ``iteration, ssq_train, ssq_val, time_s, mu``.
    Times (:class:`FitResult`): ``time_s`` is the row's own compute, its share of the
    batch (the loop's own accounting, :class:`secondorder.optim.lm.LMResult`);
    ``batch_wall_s``, ``batch_size`` and ``compile_s`` are the batch's.
    """
    from secondorder.optim import lm

    W0 = np.atleast_2d(np.asarray(W0, dtype=np.float64))
    numpy_loop = arm["solve"] == "numpy"
    provider = cached_provider(problem, arch, arm.get("jacobian", "tf"), numpy_loop)
    options = {k: arm[k] for k in ("solve", "scaling", "max_iter")}
    if numpy_loop:  # MINPACK (solve="scipy") has its own damping and stops
        regularization = arm["regularization"]
        options.update(damping=arm["damping"], mu0=arm["mu0"], mu_max=arm["mu_max"],
                       mu0_relative=arm["mu0_relative"], geodesic=arm["geodesic"],
                       regularization=None if regularization == "none" else regularization,
                       max_time=arm["max_time"], max_fail=arm["max_fail"],
                       chunk=arm["chunk"],
                       progress=_progress if progress is None else _reporting(progress))
    results = lm.least_squares_batch(provider, W0, **options)
    fits = []
    for res in results:
        hist = res.history
        history = pd.DataFrame({"iteration": hist["iteration"], "ssq_train": hist["ssq"],
                                "ssq_val": hist.get("val_ssq", np.nan),
                                "time_s": hist["time_s"], "mu": hist["mu"]})
        fits.append(FitResult(
            weights=res.x, history=history, status=res.status.name.lower(),
            status_code=int(res.status), message=res.message, success=res.success,
            iterations=res.nit, evaluations=res.nfev, time_s=res.time_s,
            compile_s=res.compile_s, batch_wall_s=res.batch_wall_s,
            batch_size=res.batch_size,
            extra={"njev": res.njev, "cost": res.cost,
                   **({"effective_parameters": float(hist["gamma"][-1])}
                      if "gamma" in hist else {})}))
    return fits


def _reporting(progress):
    """``progress`` as an LM progress callback: it gets each report's per-row arrays
    (:func:`secondorder.optim.lm.engine.report`) with the scalars ``iteration``, rows
    still ``running``, their lowest ``ssq`` and ``elapsed_s``, and never stops the
    fits."""
    def report(info: dict) -> bool:
        progress({**info, "iteration": int(info["iteration"]), "running": int(info["running"]),
                  "ssq": float(np.nanmin(info["ssq"])), "elapsed_s": float(info["elapsed"])})
        return False

    return report


def _progress(info: dict) -> None:
    log.info("iteration %d  running %d  lowest ssq %.6g  elapsed %.3f s",
             info["iteration"], info["running"], np.nanmin(info["ssq"]), info["elapsed"])
