"""Our engines' rows: our LM (:func:`secondorder.optim.lm.least_squares`, the compiled
loop and the MINPACK path, with the options of the pipeline's ``lm`` arm) and Adam per
epoch (Keras ``model.fit``, the article's procedure, and our compiled loop)."""

from __future__ import annotations

import logging

import numpy as np

from secondorder.pipeline.bench.scoring import CheckTime, accuracy
from secondorder.problem.model import ARTICLE

log = logging.getLogger(__name__)

#: The options of the pipeline's ``lm`` arm that the benchmark's LM rows take.
LM_OPTIONS = ("damping", "scaling", "mu0", "mu_max")

#: Those of :data:`LM_OPTIONS` that ``solve="scipy"`` takes: MINPACK has its own
#: trust-region rule instead of a damping rule, ``mu0`` and ``mu_max`` (as the
#: pipeline's ``lm`` arm with ``solve: scipy``,
#: :func:`secondorder.optim.lm_network.fit_lm_batch`).
MINPACK_OPTIONS = ("scaling",)


def lm_options(lm_arm: dict | None) -> dict:
    """The benchmark's options of our LM: those of the pipeline's ``lm`` arm (a config
    entry, checked against its schema; None: an ``lm`` arm with the schema's defaults),
    so the bench times the option set the study and the article's ``lm`` fit use. The
    arm must use the compiled loop (``solve: tf``)."""
    from secondorder.config import check_arm

    arm = check_arm(lm_arm or {"optimizer": "lm", "inputs": "raw", "max_iter": 1})
    if arm["optimizer"] != "lm" or arm["solve"] != "tf":
        raise ValueError(f"the bench times an lm arm with solve 'tf', got optimizer "
                         f"{arm['optimizer']!r}, solve {arm.get('solve')!r}")
    return {key: arm[key] for key in LM_OPTIONS}


def options_text(options: dict | None) -> str:
    """``damping marquardt, scaling identity, mu0 0.001, mu_max 1e+10``; "options not
    recorded" for a summary written before they were."""
    if not options:
        return "options not recorded"
    return ", ".join(f"{key} {options[key]:g}" if isinstance(options[key], float)
                     else f"{key} {options[key]}" for key in LM_OPTIONS)


def bench_lm_tf(problem, ws0, *, target, max_iter, say, options: dict, prefix="lm") -> dict:
    """Our LM (``solve="tf"``) with ``options`` (``damping, scaling, mu0, mu_max``: see
    :func:`lm_options`): first the iterations to ``target`` (``chunk=1``, accuracy
    checked by the progress callback, which stops the run), then a clean timing run of
    exactly that many iterations in one chunk. Summary keys start with ``prefix``."""
    from secondorder.optim import lm
    from secondorder.optim.lm_network import mlp_residuals

    residuals, jacobian, _ = mlp_residuals(problem, ARTICLE)
    ws0 = np.asarray(ws0, dtype=np.float64)

    def stop_at_target(info):
        return accuracy(problem, info["x"]) >= target

    damping = options["damping"]
    search = lm.least_squares(residuals, ws0, jacobian=jacobian, solve="tf", **options,
                              max_iter=max_iter, chunk=1, progress=stop_at_target)
    reached = search.status == lm.Status.CALLBACK
    n = search.nit if reached else max_iter
    say(f"LM tf ({damping}): {'target reached after' if reached else 'target not reached in'} "
        f"{n} iterations (search run, chunk=1: {search.wall_s:.2f} s); timing {n} "
        "iterations in one chunk")
    timed = lm.least_squares(residuals, ws0, jacobian=jacobian, solve="tf", **options,
                             max_iter=n, chunk=max(n, 1), progress=lambda info: False)
    final = accuracy(problem, timed.x)
    verified = bool(reached and timed.nit == n and final >= target)
    if reached and not verified:
        log.warning("LM tf timing run ended at iteration %d with accuracy %.4f (search "
                    "run: %d iterations); time to target not reported", timed.nit, final, n)
    fields = {
        "time_to_target_s": timed.wall_s if verified else None,
        "compile_s": timed.compile_s,
        "iters_to_target": n if reached else None,
        "ms_per_iter": 1e3 * timed.wall_s / max(timed.nit, 1),
        "timed_iters": timed.nit,
        "timed_wall_s": timed.wall_s,
        "accuracy_at_target": final if reached else None,
        "final_accuracy": final,
        "status": timed.status.name.lower(),
        "timing_verified": verified,
        "search_wall_s": search.wall_s,
    }
    return {f"{prefix}_{key}": value for key, value in fields.items()}


def bench_lm_scipy(problem, ws0, *, target, max_iter, options: dict) -> dict:
    """Our ``solve="scipy"`` path (MINPACK ``lmder`` with the XLA-compiled TensorFlow
    residuals and Jacobian) with the ``lm`` arm's options that MINPACK takes
    (:data:`MINPACK_OPTIONS` of ``options``, see :func:`lm_options`) and the package's
    default tolerances, stopped when the accuracy reaches ``target``.

    The progress callback checks the accuracy after each Jacobian evaluation (at ``x0``
    and after every accepted step, so it sees every iterate) and stops the run at the
    target; the checks are timed and subtracted
    (:class:`~secondorder.pipeline.bench.scoring.CheckTime`), the time to target being
    the run's time when the check that found it started. Keys start with ``lm_scipy_``.
    """
    from secondorder.optim import lm
    from secondorder.optim.lm_network import mlp_residuals

    residuals, jacobian, _ = mlp_residuals(problem, ARTICLE)
    checks, reached = CheckTime(), {}

    def stop_at_target(info):
        with checks.measure():
            acc = accuracy(problem, info["x"])
            if acc >= target:
                reached.update(t=checks.off(info["elapsed"]), nit=info["iteration"],
                               accuracy=acc)
        return bool(reached)

    res = lm.least_squares(residuals, np.asarray(ws0, dtype=np.float64), jacobian=jacobian,
                           solve="scipy", **{key: options[key] for key in MINPACK_OPTIONS},
                           max_iter=max_iter, progress=stop_at_target)
    wall = checks.off(res.wall_s)
    return {
        "lm_scipy_time_to_target_s": reached.get("t"),
        "lm_scipy_iters_to_target": reached.get("nit"),
        "lm_scipy_compile_s": res.compile_s,
        "lm_scipy_wall_s": wall,
        "lm_scipy_iters": res.nit,
        "lm_scipy_ms_per_iter": 1e3 * wall / max(res.nit, 1),
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
    wall = fit.history["wall_s"].to_numpy()
    fit_ms = 1e3 * ((wall[-1] - wall[0]) / (len(wall) - 1) if len(wall) > 1 else wall[0])
    comp = fit_first_order(problem, ws0, arch=ARTICLE, engine="compiled",
                           epochs=compiled_epochs, patience=max(500, compiled_epochs))
    return {
        "adam_fit_ms_per_epoch": fit_ms,
        "adam_fit_first_epoch_s": float(wall[0]),
        "adam_fit_epochs": fit.iterations,
        "adam_compiled_ms_per_epoch": 1e3 * comp.wall_s / max(comp.iterations, 1),
        "adam_compiled_compile_s": comp.compile_s,
        "adam_compiled_epochs": comp.iterations,
    }
