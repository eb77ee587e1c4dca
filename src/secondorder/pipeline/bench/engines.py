"""Our engines' rows: our LM (:func:`secondorder.optim.lm.least_squares_batch`, our
loop and the MINPACK path, with the options of the pipeline's ``lm`` arm) and Adam per
epoch (Keras ``model.fit``, the article's procedure, and our compiled loop)."""

from __future__ import annotations

import logging

import numpy as np

from secondorder.pipeline.bench.scoring import accuracy
from secondorder.problem.model import ARTICLE

log = logging.getLogger(__name__)

#: The options of the pipeline's ``lm`` arm that the benchmark's LM rows take
#: (``jacobian`` chooses the provider, the others go to the loop).
LM_OPTIONS = ("jacobian", "damping", "scaling", "mu0", "mu_max")

#: Those of :data:`LM_OPTIONS` that ``solve="scipy"`` takes: MINPACK has its own
#: trust-region rule instead of a damping rule, ``mu0`` and ``mu_max`` (as the
#: pipeline's ``lm`` arm with ``solve: scipy``,
#: :func:`secondorder.optim.lm_network.fit_lm_batch`).
MINPACK_OPTIONS = ("scaling",)


def lm_options(lm_arm: dict | None) -> dict:
    """The benchmark's options of our LM: those of the pipeline's ``lm`` arm (an
    :class:`~secondorder.optim.arms.Arm`, or settings checked here; None: an ``lm`` arm
    with the schema's defaults), so the bench times the option set the study and the
    article's ``lm`` fit use. The arm must use our loop (``solve: numpy``)."""
    from secondorder.optim.arms import as_arm

    arm = as_arm(lm_arm or {"optimizer": "lm", "inputs": "raw", "max_iter": 1})
    if arm["optimizer"] != "lm" or arm["solve"] != "numpy":
        raise ValueError(f"the bench times an lm arm with solve 'numpy', got optimizer "
                         f"{arm['optimizer']!r}, solve {arm.get('solve')!r}")
    return {key: arm[key] for key in LM_OPTIONS}


def options_text(options: dict | None) -> str:
    """``damping marquardt, scaling identity, mu0 0.001, mu_max 1e+10``; "options not
    recorded" for a summary written before they were."""
    if not options:
        return "options not recorded"
    return ", ".join(f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
                     for key, value in options.items())


def bench_lm(problem, ws0, *, target, max_iter, options: dict, prefix="lm") -> dict:
    """Our LM (``solve="numpy"``) with ``options`` (``jacobian`` picks the provider,
    :func:`secondorder.optim.lm_network.lm_provider`; the rest go to the loop: see
    :func:`lm_options`), stopped when the accuracy reaches ``target``.

    The progress callback checks the accuracy after every iteration (``chunk=1``) and
    stops the run at the target; the loop does not count a callback's time (its
    ``time_s`` is its own compute), so the time to target is the run's ``time_s`` with
    every check taken off: the benchmark's rule for every engine, "time minus
    checks". Summary keys start with ``prefix``."""
    from secondorder.optim import lm
    from secondorder.optim.lm_network import lm_provider

    options = dict(options)
    provider = lm_provider(problem, ARTICLE, options.pop("jacobian", "tf"), validation=False)
    reached = {}

    def stop_at_target(info):
        acc = accuracy(problem, info["x"][0])
        if acc >= target:
            reached.update(nit=int(info["iteration"]), accuracy=acc)
        return bool(reached)

    res = lm.least_squares_batch(provider, np.asarray(ws0, dtype=np.float64)[None],
                                 **options, max_iter=max_iter, chunk=1,
                                 progress=stop_at_target)[0]
    fields = {
        "time_to_target_s": res.time_s if reached else None,
        "compile_s": res.compile_s,
        "iters_to_target": reached.get("nit"),
        "ms_per_iter": 1e3 * res.time_s / max(res.nit, 1),
        "iters": res.nit,
        "time_s": res.time_s,
        "njev": res.njev,
        "final_accuracy": reached.get("accuracy", accuracy(problem, res.x)),
        "status": "target" if reached else res.status.name.lower(),
        "device": provider.device,
    }
    return {f"{prefix}_{key}": value for key, value in fields.items()}


def bench_lm_scipy(problem, ws0, *, target, max_iter, options: dict) -> dict:
    """Our ``solve="scipy"`` path (MINPACK ``lmder`` with the XLA-compiled TensorFlow
    residuals and Jacobian) with the ``lm`` arm's options that MINPACK takes
    (:data:`MINPACK_OPTIONS` of ``options``, see :func:`lm_options`) and the package's
    default tolerances, stopped when the accuracy reaches ``target``.

    The progress callback checks the accuracy after each Jacobian evaluation (at ``x0``
    and after every accepted step, so it sees every iterate) and stops the run at the
    target; its time is not counted (``elapsed`` and ``time_s`` leave the callbacks
    out), the time to target being the run's time when the check that found it
    started. Keys start with ``lm_scipy_``.
    """
    from secondorder.optim import lm
    from secondorder.optim.lm_network import lm_provider

    provider = lm_provider(problem, ARTICLE, "tf", validation=False)
    reached = {}

    def stop_at_target(info):
        acc = accuracy(problem, info["x"][0])
        if acc >= target:
            reached.update(t=info["elapsed"], nit=info["iteration"], accuracy=acc)
        return bool(reached)

    res = lm.least_squares_batch(provider, np.asarray(ws0, dtype=np.float64)[None],
                                 solve="scipy",
                                 **{key: options[key] for key in MINPACK_OPTIONS},
                                 max_iter=max_iter, progress=stop_at_target)[0]
    return {
        "lm_scipy_time_to_target_s": reached.get("t"),
        "lm_scipy_iters_to_target": reached.get("nit"),
        "lm_scipy_compile_s": res.compile_s,
        "lm_scipy_time_s": res.time_s,
        "lm_scipy_iters": res.nit,
        "lm_scipy_ms_per_iter": 1e3 * res.time_s / max(res.nit, 1),
        "lm_scipy_final_accuracy": reached.get("accuracy", accuracy(problem, res.x)),
        "lm_scipy_status": "target" if reached else res.status.name.lower(),
    }


def bench_adam(problem, ws0, *, fit_epochs, compiled_epochs) -> dict:
    """Adam (lr 1e-3, SSQ loss, full batch, scaled inputs) per epoch: Keras ``model.fit``
    with validation data and EarlyStopping (the article's procedure), and our compiled
    loop. Patience is at least the epoch budget, so both run every epoch. ``model.fit``'s
    first epoch (which traces its train function) is left out of its per-epoch time and
    reported apart; the compiled loop's compilation is excluded."""
    from secondorder.optim.first_order import fit_first_order

    fit = fit_first_order(problem, ws0, arch=ARTICLE, engine="keras_fit",
                          epochs=fit_epochs, patience=max(500, fit_epochs))
    wall = fit.history["time_s"].to_numpy()  # alone: its wall time per epoch
    fit_ms = 1e3 * ((wall[-1] - wall[0]) / (len(wall) - 1) if len(wall) > 1 else wall[0])
    comp = fit_first_order(problem, ws0, arch=ARTICLE, engine="compiled",
                           epochs=compiled_epochs, patience=max(500, compiled_epochs))
    return {
        "adam_fit_ms_per_epoch": fit_ms,
        "adam_fit_first_epoch_s": float(wall[0]),
        "adam_fit_epochs": fit.iterations,
        "adam_compiled_ms_per_epoch": 1e3 * comp.time_s / max(comp.iterations, 1),
        "adam_compiled_compile_s": comp.compile_s,
        "adam_compiled_epochs": comp.iterations,
    }
