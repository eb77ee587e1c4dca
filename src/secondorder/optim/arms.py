"""The optimizers an arm can use, as a small registry.

An arm is a config entry (``arms.<name>``): an ``optimizer`` and its settings. The
config schema says which of its ``$defs`` checks an arm of each optimizer
(:data:`secondorder.config.ARM_SCHEMA`); for each optimizer the registry says how a
batch of fits trains and whether the fits of a batch train together. The schema is
the one place where settings and their defaults are written:
:func:`secondorder.config.check_arm` fills the defaults in, and the trainers read every
setting from the checked arm.

:func:`train` is the one entry point: ``train(arm, problem, W0, arch)`` trains ``arm``
from every row of ``W0`` ``(B, n_params)``. A single fit is a batch of one
(:func:`fit_arm`, the pipeline's training stage), a block of the study a batch of many
(:func:`secondorder.pipeline.study.train_block`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import logging

import numpy as np

from secondorder.config import check_arm
from secondorder.optim.first_order import FIRST_ORDER
from secondorder.problem.checks import check_init, check_problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Optimizer:
    """One entry of :data:`REGISTRY`.

    ``train(arm, problem, W0, arch, progress) -> list[FitResult]``: one result per row
    of ``W0`` (``arm`` checked, defaults filled in).
    ``batches(arm)``: whether ``train`` runs the rows together (then a study block is
    one call) or one after the other.
    """

    train: Callable
    batches: Callable[[dict], bool]


def _first_order(arm, problem, W0, arch, progress):
    from secondorder.optim.first_order import fit_first_order_batch

    settings = {k: v for k, v in arm.items() if k not in ("optimizer", "inputs")}
    return fit_first_order_batch(problem, W0, arch=arch, optimizer=arm["optimizer"],
                                 progress=progress, **settings)


def _lm(arm, problem, W0, arch, progress):
    from secondorder.optim.lm_network import fit_lm_batch

    return fit_lm_batch(arm, problem, W0, arch, progress=progress)


#: The compiled loss of the last problem L-BFGS trained on: ``(problem, arch,
#: functions)``. A study block trains its fits one call each (L-BFGS does not batch) on
#: the same :class:`~secondorder.problem.data.Problem` object, so one compilation
#: serves the block; any other problem (by identity) or architecture compiles anew.
_LBFGS_COMPILED: list = []


def _lbfgs(arm, problem, W0, arch, progress):
    from secondorder.optim.quasi_newton import fit_lbfgs, ssq_and_gradient

    if not (_LBFGS_COMPILED and _LBFGS_COMPILED[0] is problem
            and _LBFGS_COMPILED[1] == arch):
        _LBFGS_COMPILED[:] = [problem, arch, ssq_and_gradient(problem, arch)]
    functions = _LBFGS_COMPILED[2]
    return [fit_lbfgs(problem, w0, arch=arch, max_iter=arm["max_iter"], memory=arm["memory"],
                      max_time=arm["max_time"], restore_best=arm["restore_best"],
                      functions=functions, progress=progress) for w0 in W0]


def _scipy_lm_fd(arm, problem, W0, arch, progress):
    from secondorder.optim import article_lm

    fit = {"scipy_lm_fd": article_lm.fit_scipy_fd,
           "scipy_lm_fd_modern": article_lm.fit_scipy_fd_modern}[arm["optimizer"]]
    return [fit(problem, w0, arch=arch, max_nfev=arm["max_nfev"], progress=progress)
            for w0 in W0]


def _always(arm) -> bool:
    return True


def _never(arm) -> bool:
    return False


_FIRST_ORDER = Optimizer(_first_order,
                         batches=lambda arm: arm["engine"] == "compiled")

#: Every optimizer an arm can name.
REGISTRY: dict[str, Optimizer] = {
    **dict.fromkeys(FIRST_ORDER, _FIRST_ORDER),
    "lm": Optimizer(_lm, _always),
    "lbfgs": Optimizer(_lbfgs, _never),
    "scipy_lm_fd": Optimizer(_scipy_lm_fd, _never),
    "scipy_lm_fd_modern": Optimizer(_scipy_lm_fd, _never),
}


def batches(arm) -> bool:
    """Whether :func:`train` runs the fits of ``arm`` together."""
    arm = check_arm(arm)
    return REGISTRY[arm["optimizer"]].batches(arm)


def train(arm, problem, W0, arch, progress=None) -> list:
    """Train ``arm`` (a config entry) on ``problem`` from every row of ``W0``
    ``(B, n_params)``: one :class:`secondorder.optim.fit_result.FitResult` per row, in order.

    Malformed input raises ``ValueError`` before any training, saying what was expected:
    settings outside the config schema (:func:`secondorder.config.check_arm`), a problem
    whose inputs or targets do not match ``arch``
    (:func:`secondorder.problem.checks.check_problem`), or initial weights of the wrong
    shape, dtype or with non-finite values
    (:func:`secondorder.problem.checks.check_init`). ``progress(dict)``, where the
    optimizer reports progress, is called now and then.
    """
    arm = check_arm(arm)
    check_problem(problem, arch)
    W0 = check_init(W0, arch, batched=True)
    return REGISTRY[arm["optimizer"]].train(arm, problem, W0, arch, progress)


def log_progress(info: dict) -> None:
    """A progress report as one log line of ``key value`` pairs (its scalars; per-row
    arrays such as the best weights so far are left out)."""
    log.info("  ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in info.items() if np.ndim(v) == 0))


def fit_arm(arm, problem, ws0, arch):
    """Train ``arm`` (a config entry) on ``problem`` from the flat ``ws0``: :func:`train`
    with a batch of one, progress logged. Malformed input raises ``ValueError`` as
    :func:`train` does (initial weights: a 1-D vector of ``arch.n_params`` numbers)."""
    arm = check_arm(arm)  # settings, problem, then weights: the order of the messages
    check_problem(problem, arch)
    ws0 = check_init(ws0, arch)
    return train(arm, problem, ws0[None], arch, progress=log_progress)[0]
