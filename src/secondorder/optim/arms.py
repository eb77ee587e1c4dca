"""The optimizers an arm can use: one registry, and the typed arm.

An arm is one optimizer with its settings (a config entry ``arms.<name>``).
:data:`REGISTRY` holds one :class:`Optimizer` per optimizer name, and everything else
about optimizers is read from it: which block of the settings schema checks an arm
(``$defs/<settings>`` of ``config.schema.yaml``, the one place where settings and their
defaults are written; the schema's optimizer names are filled in from here,
:func:`settings_schema`), how a batch of fits trains and whether its fits train
together, what a progress report's counters mean (the budget a job's progress is
measured against, how often anytime records are taken, the work done), what the arm's
``max_time`` bounds, how much memory a batched fit needs, and whether its training job
asks for a GPU. Adding an optimizer is its module and one entry here (with an arm in
the config and, for new settings, a ``$defs`` block in the schema).

:class:`Arm` is an arm checked once against its optimizer's schema block, defaults
filled in: the pipeline makes them when it loads its config
(:func:`secondorder.config.validate`), a library user's plain dict becomes one at the
public entries (:func:`train`, :func:`batches`, :func:`fit_arm`, :func:`as_arm`), and
nothing below checks it again.

:func:`train` is the one entry point: ``train(arm, problem, W0, arch)`` trains ``arm``
from every row of ``W0`` ``(B, n_params)``. A single fit is a batch of one
(:func:`fit_arm`, the pipeline's training stage), a block of the study a batch of many
(:func:`secondorder.pipeline.study.train_block`).
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

import numpy as np

from secondorder import schema
from secondorder.optim import first_order, flops, lm_network, minibatch
from secondorder.optim.first_order import FIRST_ORDER
from secondorder.problem.checks import check_init, check_problem

log = logging.getLogger(__name__)


# --- trainers: (arm, problem, W0, arch, progress) -> one FitResult per row of W0 -----------

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


def _lm_choices() -> dict:
    from secondorder.optim.lm.damping import RULES

    return {"damping": list(RULES), "jacobian": list(lm_network.JACOBIANS)}


# --- the registry ------------------------------------------------------------------------

@dataclass(frozen=True)
class Optimizer:
    """One entry of :data:`REGISTRY`: what the package needs to know of an optimizer.

    ``settings``: the block of the settings schema (``$defs/<settings>``) that checks
    its arms. ``train(arm, problem, W0, arch, progress) -> list[FitResult]``: one result
    per row of ``W0`` (``arm`` an :class:`Arm`; problem and weights checked).
    ``batches(arm)``: whether ``train`` runs the rows together (a study block is then
    one call, a suite grid point one batch) or one after another.

    Its progress reports: ``budget = (counter, setting)``, the report's counter that
    counts against the arm's setting bounding the run (``("epoch", "epochs")``: how far
    along a job is, :func:`secondorder.progress.study_callback`); it reports every
    ``arm[every]`` ``unit``\\ s (``every`` None: every one), which is how often anytime
    records are taken (``every`` None: its records are kept every unit; the compiled
    first-order loop reports every ``chunk`` epochs and lists each epoch's improvement
    in its reports); ``work(arm, arch, n_train, n_val, columns)`` makes the
    ``counters -> FLOPs`` function of its fits (:mod:`secondorder.optim.flops`, the work
    of the anytime records, :func:`work_counter`; None: its reports carry no per-row
    counters, so it keeps no anytime record).

    ``max_time``: what the arm's ``max_time`` bounds, ``"fit"`` (each fit's own
    compute) or ``"batch"`` (the batch's wall time); None: it has none.
    ``row_bytes(m, n)``: the memory of one row of a batch with ``m`` residuals and ``n``
    weights (None: its batches are not limited by memory). ``choices()``: the allowed
    values of settings that its code defines (filled into its schema block). ``gpu``:
    its training job asks for a GPU (``resources: gpu`` of the workflow's ``train``
    rule).
    """

    settings: str
    train: Callable
    batches: Callable[[Mapping], bool]
    budget: tuple[str, str]
    unit: str
    every: str | None = None
    work: Callable | None = None
    max_time: str | None = None
    row_bytes: Callable[[int, int], int] | None = None
    choices: Callable[[], dict] | None = None
    gpu: bool = False


def _always(arm) -> bool:
    return True


def _never(arm) -> bool:
    return False


_FIRST_ORDER = Optimizer("first_order", first_order.train_batch,
                         batches=lambda arm: arm["engine"] == "compiled",
                         budget=("epoch", "epochs"), unit="epoch",
                         work=flops.first_order_work, max_time="batch", gpu=True)
_SCIPY_LM_FD = dict(train=_scipy_lm_fd, batches=_never, budget=("evaluations", "max_nfev"),
                    unit="evaluation")

#: Every optimizer an arm can name, in the order the schema lists them.
REGISTRY: dict[str, Optimizer] = {
    **dict.fromkeys(FIRST_ORDER, _FIRST_ORDER),
    "lm": Optimizer("lm", lm_network.fit_lm_batch, _always,
                    budget=("iteration", "max_iter"), unit="iteration", every="chunk",
                    work=flops.lm_work, max_time="fit", row_bytes=lm_network.row_bytes,
                    choices=_lm_choices),
    "adam_minibatch": Optimizer("minibatch", minibatch.train_batch, _always,
                                budget=("epoch", "epochs"), unit="epoch",
                                work=flops.minibatch_work, max_time="batch", gpu=True),
    "lbfgs": Optimizer("lbfgs", _lbfgs, _never, budget=("iteration", "max_iter"),
                       unit="iteration", work=flops.lbfgs_work, max_time="fit"),
    "scipy_lm_fd": Optimizer("scipy_lm_fd", **_SCIPY_LM_FD),
    "scipy_lm_fd_modern": Optimizer("scipy_lm_fd_modern", **_SCIPY_LM_FD),
}


@functools.cache
def _schema() -> dict:
    """The settings schema with the registry's words filled in (shared, read only)."""
    out = schema.read()
    generic = out["properties"]["arms"]["additionalProperties"]["properties"]["optimizer"]
    generic["enum"] = list(REGISTRY)
    for block in out["$defs"]:
        names = [name for name, entry in REGISTRY.items() if entry.settings == block]
        out["$defs"][block]["properties"]["optimizer"].update(
            {"const": names[0]} if len(names) == 1 else {"enum": names})
    for entry in REGISTRY.values():
        for key, values in (entry.choices() if entry.choices else {}).items():
            out["$defs"][entry.settings]["properties"][key]["enum"] = list(values)
    return out


def settings_schema() -> dict:
    """The settings schema (``config.schema.yaml``) with what the registry says filled
    in: the optimizer names an arm may take (every arm, and each ``$defs`` block's own)
    and the allowed values each optimizer's code defines (``choices``: LM's damping
    rules and Jacobians). A fresh copy."""
    return copy.deepcopy(_schema())


# --- the typed arm -------------------------------------------------------------------------

def check(settings, prefix: str = "arm") -> tuple[Arm | None, list[str]]:
    """``settings`` (a mapping with a known ``optimizer``; ``ValueError`` otherwise)
    checked against its optimizer's block of the settings schema: ``(the arm, [])``, or
    ``(None, problems)`` with one line per problem, each naming the key under
    ``prefix``. Numpy scalars become the plain numbers YAML gives."""
    if not isinstance(settings, Mapping):
        raise ValueError(f"arm must be a dict of settings (a config entry of arms), got "
                         f"{type(settings).__name__}")
    optimizer = settings.get("optimizer")
    if not isinstance(optimizer, str) or optimizer not in REGISTRY:
        raise ValueError(f"arm['optimizer'] must be one of {sorted(REGISTRY)}, got "
                         f"{optimizer!r}")
    values, found = schema.check_block(settings, REGISTRY[optimizer].settings, _schema(),
                                       prefix)
    return (None, found) if found else (Arm._checked(values), [])


class Arm(dict):
    """One arm: an optimizer of :data:`REGISTRY` and its settings, checked against the
    optimizer's block of the settings schema with the defaults filled in
    (``Arm(settings)`` raises ``ValueError``, a :class:`~secondorder.schema.ConfigError`
    for settings outside the schema, naming each setting and what is allowed).

    Read only: :meth:`replace` makes a changed copy (checked). It is the dict of its
    settings (``arm["max_iter"]``), so it pickles, compares, prints and serialises to
    JSON as the config entry it was made from: Snakemake's params, the provenance
    records and ``fit.json`` hold the same mapping, and Snakemake still sees a change
    of settings (its params' ``repr``).
    """

    def __init__(self, settings):
        if not isinstance(settings, Arm):
            settings, found = check(settings)
            if found:
                raise schema.invalid(found)
        super().__init__(settings)

    @classmethod
    def _checked(cls, values: dict) -> Arm:
        """An arm of settings already checked (no second check)."""
        arm = dict.__new__(cls)
        dict.update(arm, values)
        return arm

    def __reduce__(self):
        return Arm._checked, (dict(self),)

    def _read_only(self, *args, **kwargs):
        raise TypeError("an Arm is read only; make a changed copy with arm.replace(...)")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    @property
    def optimizer(self) -> str:
        return self["optimizer"]

    @property
    def inputs(self) -> str:
        return self["inputs"]

    @property
    def settings(self) -> Mapping:
        """Its settings other than ``optimizer`` and ``inputs``."""
        from types import MappingProxyType

        return MappingProxyType({k: v for k, v in self.items()
                                 if k not in ("optimizer", "inputs")})

    @property
    def entry(self) -> Optimizer:
        """Its optimizer's entry of :data:`REGISTRY`."""
        return REGISTRY[self["optimizer"]]

    def replace(self, **changes) -> Arm:
        """A copy with ``changes`` (checked)."""
        return Arm({**self, **changes})

    @property
    def budget(self) -> tuple[str, float]:
        """``(counter, value)``: the progress counter of its optimizer and the setting
        it counts against (:attr:`Optimizer.budget`), e.g. ``("epoch", 10000)``."""
        counter, setting = self.entry.budget
        return counter, self[setting]

    @property
    def record_every(self) -> str:
        """How often it keeps anytime records: ``1 epoch``, ``1 iteration``, ``50
        iterations`` (an LM arm with ``chunk: 50``), ..."""
        k = int(self[self.entry.every]) if self.entry.every else 1
        return f"{k} {self.entry.unit}{'s' if k != 1 else ''}"


def as_arm(arm) -> Arm:
    """``arm`` itself when it is an :class:`Arm`, else ``Arm(arm)`` (checked once here)."""
    return arm if isinstance(arm, Arm) else Arm(arm)


# --- training ------------------------------------------------------------------------------

def batches(arm) -> bool:
    """Whether :func:`train` runs the fits of ``arm`` together."""
    arm = as_arm(arm)
    return arm.entry.batches(arm)


def train(arm, problem, W0, arch, progress=None) -> list:
    """Train ``arm`` (an :class:`Arm`, or settings made one here) on ``problem`` from
    every row of ``W0`` ``(B, n_params)``: one
    :class:`secondorder.optim.fit_result.FitResult` per row, in order.

    Malformed input raises ``ValueError`` before any training, saying what was expected:
    settings outside the settings schema (:class:`Arm`), a problem whose inputs or
    targets do not match ``arch`` (:func:`secondorder.problem.checks.check_problem`),
    or initial weights of the wrong shape, dtype or with non-finite values
    (:func:`secondorder.problem.checks.check_init`). ``progress(dict)``, where the
    optimizer reports progress, is called now and then.
    """
    arm = as_arm(arm)
    check_problem(problem, arch)
    W0 = check_init(W0, arch, batched=True)
    return arm.entry.train(arm, problem, W0, arch, progress)


def work_counter(arm, arch, n_train: int, n_val: int, columns: int = 1):
    """``counters -> FLOPs`` of fits of ``arm`` on a problem of ``n_train`` training and
    ``n_val`` validation rows (``columns``: LM's residuals per row): its entry's
    ``work`` (:mod:`secondorder.optim.flops`); ``ValueError`` for an optimizer that
    keeps no count."""
    arm = as_arm(arm)
    if arm.entry.work is None:
        known = sorted(name for name, entry in REGISTRY.items() if entry.work)
        raise ValueError(f"no FLOP count for optimizer {arm.optimizer!r}; known: {known}")
    return arm.entry.work(arm, arch, n_train, n_val, columns)


def log_progress(info: dict) -> None:
    """A progress report as one log line of ``key value`` pairs (its scalars; per-row
    arrays such as the best weights so far are left out)."""
    log.info("  ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in info.items() if np.ndim(v) == 0))


def fit_arm(arm, problem, ws0, arch):
    """Train ``arm`` on ``problem`` from the flat ``ws0``: :func:`train` with a batch of
    one, progress logged. Malformed input raises ``ValueError`` as :func:`train` does
    (initial weights: a 1-D vector of ``arch.n_params`` numbers)."""
    arm = as_arm(arm)  # settings, problem, then weights: the order of the messages
    check_problem(problem, arch)
    ws0 = check_init(ws0, arch)
    return arm.entry.train(arm, problem, ws0[None], arch, log_progress)[0]
