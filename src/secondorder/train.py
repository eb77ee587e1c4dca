"""Dispatch one arm (an optimizer with its settings, a config entry) to its engine."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .data import Problem
from .fit import FitResult
from .model import Architecture

log = logging.getLogger(__name__)


def _progress(info: dict) -> None:
    log.info("  ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in info.items()))


def fit_arm(arm: dict, problem: Problem, ws0, arch: Architecture) -> FitResult:
    """Train ``arm`` (a validated config entry) on ``problem`` from the flat ``ws0``."""
    optimizer = arm["optimizer"]
    if optimizer in ("adam", "sgd", "rmsprop"):
        from .first_order import fit_first_order

        return fit_first_order(
            problem, ws0, arch=arch, optimizer=optimizer, learning_rate=arm["learning_rate"],
            momentum=arm.get("momentum", 0.0), loss=arm.get("loss", "ssq"),
            epochs=arm["epochs"], patience=arm["patience"],
            engine=arm.get("engine", "compiled"), chunk=arm.get("chunk", 250),
            seed=arm.get("seed", 0), progress=_progress)
    if optimizer == "lm":
        return fit_lm(arm, problem, ws0, arch)
    if optimizer == "scipy_lm_fd":
        from .article_lm import fit_scipy_fd

        return fit_scipy_fd(problem, ws0, arch=arch, max_nfev=arm["max_nfev"],
                            progress=_progress)
    raise ValueError(f"unknown optimizer {optimizer!r}")


def fit_lm(arm: dict, problem: Problem, ws0, arch: Architecture) -> FitResult:
    """Levenberg-Marquardt (:mod:`secondorder.lm`) on the article's SSQ residuals."""
    from . import lm

    residuals, jacobian, val_residuals = lm.mlp_residuals(problem, arch)
    res = lm.least_squares(
        residuals, np.asarray(ws0, dtype=np.float64), jacobian=jacobian,
        solve=arm.get("solve", "tf"), damping=arm.get("damping", "marquardt"),
        scaling=arm.get("scaling", "identity"), mu0=arm.get("mu0", 1e-3),
        mu_max=arm.get("mu_max", 1e10), max_iter=arm["max_iter"],
        max_time=arm.get("max_time"), validation=val_residuals,
        max_fail=arm.get("max_fail"), chunk=arm.get("chunk", 50), progress=_progress)
    hist = res.history
    history = pd.DataFrame({"iteration": hist["iteration"], "ssq_train": hist["ssq"],
                            "ssq_val": hist["val_ssq"], "wall_s": hist["wall_s"],
                            "mu": hist["mu"]})
    return FitResult(weights=res.x, history=history, status=res.status_name,
                     status_code=int(res.status), message=res.message, success=res.success,
                     iterations=res.nit, evaluations=res.nfev, wall_s=res.wall_s,
                     compile_s=res.compile_s,
                     extra={"njev": res.njev, "cost": float(res.cost)})
