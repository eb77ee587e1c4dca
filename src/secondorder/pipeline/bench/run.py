"""The whole benchmark: :func:`run_bench` runs the stages of
:data:`~secondorder.pipeline.bench.stages.STAGES` in one process and returns the
JSON-ready summary (``results/bench/summary.json``)."""

from __future__ import annotations

import logging
import time
from typing import Callable

from secondorder import provenance
from secondorder.optim.minpack_memory import stop_scrubbing
from secondorder.pipeline.bench.engines import lm_options
from secondorder.pipeline.bench.peers import jaxopt_importable, jaxopt_versions, tflm_version
from secondorder.pipeline.bench.report import conclude
from secondorder.pipeline.bench.scoring import INIT_SEED, accuracy, article_problems
from secondorder.pipeline.bench.stages import STAGES, Bench, seconds
from secondorder.problem import model
from secondorder.problem.model import ARTICLE

log = logging.getLogger(__name__)

def fast_options() -> dict:
    """The fastest documented option set of our loop, timed on top of the ``lm`` arm's
    options: the settings schema's default of ``bench.lm_fast``, its one home."""
    from secondorder import schema

    return schema.read()["properties"]["bench"]["properties"]["lm_fast"]["default"]


def run_bench(*, target=0.98, lm_max_iter=2000, fd_max_nfev=50000, tflm_max_steps=1000,
              fit_epochs=100, compiled_epochs=5000, include_tflm=None,
              include_fd_modern=True, fd_modern_max_nfev=None, include_jaxopt=None,
              jaxopt_max_iter=2000, in_article=False, lm_fast: dict | None = None,
              lm_arm: dict | None = None, progress: Callable | None = None) -> dict:
    """Run every measurement (see :mod:`secondorder.pipeline.bench`) and return a
    JSON-ready summary.

    ``include_tflm``: ``None`` runs tf-levenberg-marquardt when it is importable, True
    requires it, False skips it (its fields are then ``None``). ``include_jaxopt`` does
    the same for jaxopt's LM (``jaxopt_max_iter`` iterations at most; running it turns
    on JAX's 64-bit mode for the process). ``best_peer`` and
    ``best_peer_time_to_target_s`` name the faster of the two to the target
    (:func:`~secondorder.pipeline.bench.peers.best_peer`). ``in_article`` is a workflow
    setting (whether the article shows the table), accepted with the rest of the
    ``bench`` config and not used here. ``lm_arm``: the pipeline's ``lm`` arm, whose
    options the "LM tf" rows take (:func:`~secondorder.pipeline.bench.engines.lm_options`;
    the Nielsen row changes only its damping rule) and the MINPACK row those of them
    MINPACK takes. ``include_fd_modern`` also times the article's line under the
    installed scipy (``seed_fd_modern_*``, ``None`` when skipped) with ``max_nfev =
    fd_modern_max_nfev`` (``None``: the same ``fd_max_nfev``); "the article's call"
    (``seed_fd_*`` and every ratio against it) is always scipy <= 1.15's algorithm,
    the one the article ran. ``progress(line)`` receives a line before and after each
    stage and the percent done (default: logged at INFO level).

    Times are seconds, compilation excluded; ``None`` where a method did not reach
    ``target`` within its budget. ``speedup_*`` are ratios of times measured here
    (slower / faster); ``targets`` compares them with the issue's goals, ``met`` being
    ``None`` where a value is missing
    (:func:`~secondorder.pipeline.bench.report.conclude`).
    """
    from secondorder.progress import Progress

    say = progress or log.info
    raw, scaled = article_problems()
    ws0 = model.init_weights(INIT_SEED, ARTICLE)
    version = tflm_version()
    if include_tflm is None:
        include_tflm = version is not None
    elif include_tflm and version is None:
        raise ImportError("include_tflm=True but tf-levenberg-marquardt is not installed")
    if include_jaxopt is None:
        include_jaxopt = jaxopt_importable()
    elif include_jaxopt and not jaxopt_importable():
        raise ImportError("include_jaxopt=True but jax and jaxopt do not import (install "
                          "the bench extra)")

    options = lm_options(lm_arm)  # a malformed arm fails before any timing
    fast = {**options, **(fast_options() if lm_fast is None else lm_fast)}
    modern_nfev = fd_max_nfev if fd_modern_max_nfev is None else fd_modern_max_nfev
    settings = {"target": target, "lm_max_iter": lm_max_iter, "lm_options": options,
                "lm_fast": fast,
                "fd_max_nfev": fd_max_nfev, "tflm_max_steps": tflm_max_steps,
                "fit_epochs": fit_epochs, "compiled_epochs": compiled_epochs,
                "include_tflm": bool(include_tflm),
                "include_fd_modern": bool(include_fd_modern),
                "fd_modern_max_nfev": modern_nfev,
                "include_jaxopt": bool(include_jaxopt),
                "jaxopt_max_iter": jaxopt_max_iter}
    out = {"target": float(target), "initial_accuracy": accuracy(raw, ws0),
           "settings": settings, "started": provenance.now()}
    t0 = time.perf_counter()
    bench = Bench(raw=raw, scaled=scaled, ws0=ws0, options=options, settings=settings,
                  say=say)
    running = [stage for stage in STAGES if stage.on(settings)]
    clock, done = Progress(sum(stage.weight for stage in running)), 0
    for stage in STAGES:
        if not stage.on(settings):
            out.update(dict.fromkeys(stage.fields))
            continue
        say(stage.start(bench))
        # the job's MINPACK remedy fills freed blocks; no stage pays for it (a MINPACK
        # stage turns it on again for its own call)
        stop_scrubbing()
        result = stage.measure(bench)
        out.update(result)
        say(stage.done(result))
        done += 1
        say(f"benchmark: {done}/{len(running)} stages, "
            f"{clock.line(sum(s.weight for s in running[:done]))}")

    conclude(out)
    if out["best_peer"]:
        say(f"best peer: {out['best_peer']}, {seconds(out['best_peer_time_to_target_s'])} "
            "to target")
    out["bench_wall_s"] = time.perf_counter() - t0
    out["finished"] = provenance.now()
    env = provenance.environment(with_device=True)
    out["device"] = env["device"]
    out["versions"] = {**env["versions"], "tf-levenberg-marquardt": version,
                       **jaxopt_versions()}
    out["environment"] = env
    say(f"benchmark done in {out['bench_wall_s']:.0f} s")
    return out
