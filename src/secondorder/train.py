"""Dispatch one arm (an optimizer with its settings, a config entry) to its engine."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .data import Problem
from .fit import FitResult
from .model import Architecture

log = logging.getLogger(__name__)


def log_progress(info: dict) -> None:
    log.info("  ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in info.items()))


def check_arm(arm) -> dict:
    """``arm`` checked against the config schema of its optimizer (the same check the
    pipeline runs on ``config/*.yaml``), or ``ValueError`` naming the setting and what
    is allowed. Returns a copy with the schema's defaults filled in."""
    import copy

    from .config import ARM_SCHEMA, ConfigError, _check, load_schema

    if not isinstance(arm, dict):
        raise ValueError(f"arm must be a dict of settings (a config entry of arms), got "
                         f"{type(arm).__name__}")
    optimizer = arm.get("optimizer")
    if not isinstance(optimizer, str) or optimizer not in ARM_SCHEMA:
        raise ValueError(f"arm['optimizer'] must be one of {sorted(ARM_SCHEMA)}, got "
                         f"{optimizer!r}")
    schema = load_schema()
    arm = {k: v.item() if isinstance(v, np.generic) else copy.deepcopy(v)
           for k, v in arm.items()}  # numpy scalars as the plain numbers YAML gives
    problems = _check(arm, schema["$defs"][ARM_SCHEMA[optimizer]], schema, prefix="arm")
    if problems:
        raise ConfigError("invalid arm settings:\n  " + "\n  ".join(problems))
    return arm


def fit_arm(arm: dict, problem: Problem, ws0, arch: Architecture) -> FitResult:
    """Train ``arm`` (a config entry) on ``problem`` from the flat ``ws0``.

    Malformed input raises ``ValueError`` before any training, saying what was expected:
    settings outside the config schema (:func:`check_arm`), a problem whose inputs or
    targets do not match ``arch`` (:func:`secondorder.first_order.check_problem`), or
    initial weights of the wrong length, dtype or with non-finite values.
    """
    from .first_order import check_init, check_problem

    arm = check_arm(arm)
    check_problem(problem, arch)
    ws0 = check_init(ws0, arch)
    optimizer = arm["optimizer"]
    if optimizer in ("adam", "sgd", "rmsprop"):
        from .first_order import fit_first_order

        return fit_first_order(
            problem, ws0, arch=arch, optimizer=optimizer, learning_rate=arm["learning_rate"],
            momentum=arm.get("momentum", 0.0), loss=arm.get("loss", "ssq"),
            epochs=arm["epochs"], patience=arm["patience"],
            engine=arm.get("engine", "compiled"), chunk=arm.get("chunk", 250),
            seed=arm.get("seed", 0), progress=log_progress)
    if optimizer == "lm":
        return fit_lm(arm, problem, ws0, arch)
    if optimizer == "lbfgs":
        from .quasi_newton import fit_lbfgs

        return fit_lbfgs(problem, ws0, arch=arch, max_iter=arm["max_iter"],
                         memory=arm.get("memory", 10))
    if optimizer == "scipy_lm_fd":
        from .article_lm import fit_scipy_fd

        return fit_scipy_fd(problem, ws0, arch=arch, max_nfev=arm["max_nfev"],
                            progress=log_progress)
    raise ValueError(f"unknown optimizer {optimizer!r}")


def mlp_residuals(problem: Problem, arch: Architecture):
    """The article's SSQ residuals as TensorFlow functions of the flat float64 weights:
    ``(residuals, jacobian, validation_residuals)``, residuals row-major
    ``mlp(x_train, w) - y_train`` and their per-sample autodiff Jacobian."""
    import tensorflow as tf

    from . import lm
    from .model import mlp_tf

    x, y = tf.constant(problem.x_train), tf.constant(problem.y_train)
    xv, yv = tf.constant(problem.x_val), tf.constant(problem.y_val)

    def residuals(w):
        return tf.reshape(mlp_tf(x, w, arch) - y, [-1])

    def validation_residuals(w):
        return tf.reshape(mlp_tf(xv, w, arch) - yv, [-1])

    jacobian = lm.per_sample_jacobian(lambda w, x_i: mlp_tf(x_i, w, arch), x)
    return residuals, jacobian, validation_residuals


def fit_lm(arm: dict, problem: Problem, ws0, arch: Architecture) -> FitResult:
    """Levenberg-Marquardt (:mod:`secondorder.lm`) on the article's SSQ residuals.

    Validation SSQ is recorded each accepted step; with ``max_fail`` set it also stops
    early and returns the best-validation weights (trainlm), otherwise the last ones
    (the article's LM has no early stopping).
    """
    from . import lm

    residuals, jacobian, val_residuals = mlp_residuals(problem, arch)
    solve = arm.get("solve", "tf")
    res = lm.least_squares(
        residuals, np.asarray(ws0, dtype=np.float64), jacobian=jacobian, solve=solve,
        damping=arm.get("damping", "marquardt"), scaling=arm.get("scaling", "identity"),
        mu0=arm.get("mu0", 1e-3), mu_max=arm.get("mu_max", 1e10), max_iter=arm["max_iter"],
        **({} if solve == "scipy" else {
            "max_time": arm.get("max_time"), "validation": val_residuals,
            "max_fail": arm.get("max_fail"), "chunk": arm.get("chunk", 50),
            "progress": _lm_progress}))
    hist = res.history
    history = pd.DataFrame({"iteration": hist["iteration"], "ssq_train": hist["ssq"],
                            "ssq_val": hist.get("val_ssq", np.nan), "wall_s": hist["wall_s"],
                            "mu": hist.get("mu", np.nan)})
    return FitResult(weights=res.x, history=history, status=res.status.name.lower(),
                     status_code=int(res.status), message=res.message, success=res.success,
                     iterations=res.nit, evaluations=res.nfev, wall_s=res.wall_s,
                     compile_s=res.compile_s, extra={"njev": res.njev, "cost": res.cost})


def _lm_progress(info: dict) -> None:
    log_progress({k: info[k] for k in ("iteration", "ssq", "val_ssq", "mu", "elapsed")
               if k in info})
