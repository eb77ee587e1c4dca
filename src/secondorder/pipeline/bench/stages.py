"""The benchmark's stages, one table (:data:`STAGES`): for each, the function that
measures it, what it says before and after, roughly how long it takes (for the
progress lines) and the rows of the article's table it fills.

Adding an engine to the benchmark is one :class:`Stage` here plus its function
(``measure(bench) -> dict`` of summary keys with one prefix): :func:`run_bench
<secondorder.pipeline.bench.run.run_bench>` runs the stages in this order and
:func:`~secondorder.pipeline.bench.report.bench_table` lists their rows in this order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from secondorder.pipeline.bench.article_call import (SEED_FD_MODERN_FIELDS, bench_article_fd,
                                                     scipy_version)
from secondorder.pipeline.bench.engines import (bench_adam, bench_lm, bench_lm_scipy,
                                                options_text)
from secondorder.pipeline.bench.peers import (JAXOPT_FIELDS, TFLM_FIELDS, bench_jaxopt,
                                              bench_tflm, jaxopt_versions, tflm_version)
from secondorder.problem.data import Problem
from secondorder.problem.model import ARTICLE


@dataclass(frozen=True)
class Bench:
    """What every stage measures from: the article's problem with ``raw`` and ``scaled``
    inputs, the shared initial weights ``ws0``, the ``lm`` arm's ``options``
    (:func:`~secondorder.pipeline.bench.engines.lm_options`), the run's ``settings``
    (the summary's ``settings``: budgets, target, the fastest documented option set
    ``lm_fast``, which optional stages run) and ``say(line)`` for progress."""

    raw: Problem
    scaled: Problem
    ws0: object
    options: dict
    settings: dict
    say: Callable[[str], None]

    @property
    def target(self) -> float:
        return self.settings["target"]


@dataclass(frozen=True)
class Row:
    """One row of the article's table (:func:`~secondorder.pipeline.bench.report.bench_table`).

    ``method``: its label, or a function of the summary giving it. ``time_key``: the
    summary key of its time to target (None: the row has none, e.g. Adam per epoch).
    ``per_key``: its time per ``per`` (iteration, step, epoch), ms. ``baseline``: the
    summary key of the article's own code for the same optimizer; the row's speed-up
    is that over the row's own value of the same kind (time to target if the row has
    one, else time per ``per``)."""

    method: str | Callable[[dict], str]
    time_key: str | None
    per_key: str
    per: str
    baseline: str

    def label(self, summary: dict) -> str:
        return self.method(summary) if callable(self.method) else self.method


@dataclass(frozen=True)
class Stage:
    """One stage of :data:`STAGES`.

    ``measure(bench) -> dict``: the stage's summary keys. ``start(bench)`` and
    ``done(result)``: the progress lines before and after (``result``: what
    ``measure`` returned). ``weight``: rough seconds on a 2-core CPU, only for the
    percent done and time left of the progress lines, never in a result. ``switch``:
    the setting that turns the stage on (None: always on); when off, its ``fields``
    are ``None`` in the summary. ``rows``: its rows of the article's table.
    """

    name: str
    weight: float
    measure: Callable[[Bench], dict]
    start: Callable[[Bench], str]
    done: Callable[[dict], str]
    rows: tuple[Row, ...] = ()
    switch: str | None = None
    fields: tuple[str, ...] = ()

    def on(self, settings: dict) -> bool:
        return self.switch is None or bool(settings[self.switch])


def seconds(value) -> str:
    """A time to target for a progress line: ``0.123 s`` or ``not reached``."""
    return "not reached" if value is None else f"{value:.3f} s"


#: The article's code for each optimizer, the yardstick of every row's speed-up.
ARTICLE_LM, ARTICLE_ADAM = "seed_fd_time_to_target_s", "adam_fit_ms_per_epoch"
FD_CYCLE = f"{ARTICLE.n_params + 1} evaluations"


def _options(summary: dict, key: str = "lm_options", **changes) -> dict | None:
    options = summary.get("settings", {}).get(key)
    return {**options, **changes} if options else None


def _lm_label(summary: dict) -> str:
    return f"LM, our loop, the lm arm's options ({options_text(_options(summary))}; ours)"


def _marquardt_label(summary: dict) -> str:
    return (f"LM, our loop, the same with MATLAB trainlm's damping "
            f"({options_text(_options(summary, damping='marquardt'))}; ours)")


def _fast_label(summary: dict) -> str:
    return (f"LM, our loop, the fastest documented option set "
            f"({options_text(_options(summary, 'lm_fast'))}; ours)")


def _geodesic_label(summary: dict) -> str:
    return (f"LM, our loop, the same with geodesic acceleration "
            f"({options_text(_options(summary, 'lm_fast', geodesic=True))}; ours)")


def _lm_stage(name: str, weight: float, label, options, say: str) -> Stage:
    """A stage of our loop: ``options(bench)`` its option set, keys ``<name>_*``."""
    return Stage(
        name, weight,
        lambda b: bench_lm(b.raw, b.ws0, target=b.target,
                           max_iter=b.settings["lm_max_iter"], options=options(b),
                           prefix=name),
        lambda b: f"{say} ({options_text(options(b))}) ...",
        lambda o: (f"{say}: {seconds(o[f'{name}_time_to_target_s'])} to target "
                   f"({o[f'{name}_iters_to_target']} iterations), "
                   f"{o[f'{name}_ms_per_iter']:.3f} ms/iteration, compile "
                   f"{o[f'{name}_compile_s']:.2f} s"),
        rows=(Row(label, f"{name}_time_to_target_s", f"{name}_ms_per_iter", "iteration",
                  ARTICLE_LM),))


def _modern_label(summary: dict) -> str:
    return (f"LM, the same line under scipy "
            f"{summary.get('versions', {}).get('scipy', '(installed)')} "
            "(not the article's algorithm)")


STAGES: tuple[Stage, ...] = (
    _lm_stage("lm", 2, _lm_label, lambda b: b.options, "LM, the lm arm's options"),
    _lm_stage("lm_marquardt", 3, _marquardt_label,
              lambda b: {**b.options, "damping": "marquardt"}, "LM, trainlm's damping"),
    _lm_stage("lm_fast", 2, _fast_label, lambda b: b.settings["lm_fast"],
              "LM, the fastest documented option set"),
    _lm_stage("lm_geodesic", 2, _geodesic_label,
              lambda b: {**b.settings["lm_fast"], "geodesic": True},
              "LM, with geodesic acceleration"),
    Stage(
        "lm_scipy", 4,
        lambda b: bench_lm_scipy(b.raw, b.ws0, target=b.target,
                                 max_iter=b.settings["lm_max_iter"], options=b.options),
        lambda b: "LM solve='scipy' (MINPACK, TensorFlow Jacobian) ...",
        lambda o: (f"LM scipy: {seconds(o['lm_scipy_time_to_target_s'])} to target "
                   f"({o['lm_scipy_iters']} iterations, final accuracy "
                   f"{o['lm_scipy_final_accuracy']:.3f})"),
        rows=(Row("LM, MINPACK + TensorFlow Jacobian (ours)", "lm_scipy_time_to_target_s",
                  "lm_scipy_ms_per_iter", "iteration", ARTICLE_LM),)),
    Stage(
        "tflm", 20,
        lambda b: bench_tflm(b.raw, b.ws0, target=b.target,
                             max_steps=b.settings["tflm_max_steps"]),
        lambda b: (f"tf-levenberg-marquardt {tflm_version()}, up to "
                   f"{b.settings['tflm_max_steps']} steps ..."),
        lambda o: (f"tflm: {seconds(o['tflm_time_to_target_s'])} to target "
                   f"({o['tflm_steps']} steps run), {o['tflm_ms_per_step']:.1f} ms/step, "
                   f"final accuracy {o['tflm_final_accuracy']:.3f}"),
        rows=(Row("LM, tf-levenberg-marquardt", "tflm_time_to_target_s", "tflm_ms_per_step",
                  "step", ARTICLE_LM),),
        switch="include_tflm", fields=TFLM_FIELDS),
    Stage(
        "jaxopt", 12,
        lambda b: bench_jaxopt(b.raw, b.ws0, target=b.target,
                               max_iter=b.settings["jaxopt_max_iter"]),
        lambda b: (f"jaxopt {jaxopt_versions()['jaxopt']} LevenbergMarquardt (jax "
                   f"{jaxopt_versions()['jax']}), up to {b.settings['jaxopt_max_iter']} "
                   "iterations ..."),
        lambda o: (f"jaxopt: {seconds(o['jaxopt_time_to_target_s'])} to target "
                   f"({o['jaxopt_iters']} iterations run, {o['jaxopt_status']}), "
                   f"{o['jaxopt_ms_per_iter']:.2f} ms/iteration, compile "
                   f"{o['jaxopt_compile_s']:.2f} s, final accuracy "
                   f"{o['jaxopt_final_accuracy']:.3f}"),
        rows=(Row("LM, jaxopt LevenbergMarquardt (JAX, float64)", "jaxopt_time_to_target_s",
                  "jaxopt_ms_per_iter", "iteration", ARTICLE_LM),),
        switch="include_jaxopt", fields=JAXOPT_FIELDS),
    Stage(
        "seed_fd", 30,
        lambda b: bench_article_fd(b.raw, b.ws0, target=b.target,
                                   max_nfev=b.settings["fd_max_nfev"]),
        lambda b: (f"the article's scipy LM as it ran (scipy <= 1.15), max_nfev "
                   f"{b.settings['fd_max_nfev']} ..."),
        lambda o: (f"article LM: {seconds(o['seed_fd_time_to_target_s'])} to target, "
                   f"{o['seed_fd_total_s']:.1f} s in all ({o['seed_fd_nfev']} evaluations), "
                   f"final accuracy {o['seed_fd_final_accuracy']:.3f}"),
        rows=(Row("LM, the article's scipy call as it ran (scipy <= 1.15, finite "
                  "differences)", "seed_fd_time_to_target_s", "seed_fd_ms_per_jacobian_cycle",
                  FD_CYCLE, ARTICLE_LM),)),
    Stage(
        "seed_fd_modern", 45,
        lambda b: bench_article_fd(b.raw, b.ws0, target=b.target,
                                   max_nfev=b.settings["fd_modern_max_nfev"], modern=True),
        lambda b: (f"the same line under scipy {scipy_version()}, max_nfev "
                   f"{b.settings['fd_modern_max_nfev']} ..."),
        lambda o: (f"same line, scipy {scipy_version()}: "
                   f"{seconds(o['seed_fd_modern_time_to_target_s'])} to target, "
                   f"{o['seed_fd_modern_total_s']:.1f} s in all "
                   f"({o['seed_fd_modern_nfev']} evaluations), final accuracy "
                   f"{o['seed_fd_modern_final_accuracy']:.3f}"),
        rows=(Row(_modern_label, "seed_fd_modern_time_to_target_s",
                  "seed_fd_modern_ms_per_jacobian_cycle", FD_CYCLE, ARTICLE_LM),),
        switch="include_fd_modern", fields=SEED_FD_MODERN_FIELDS),
    Stage(
        "adam", 12,
        lambda b: bench_adam(b.scaled, b.ws0, fit_epochs=b.settings["fit_epochs"],
                             compiled_epochs=b.settings["compiled_epochs"]),
        lambda b: (f"Adam: model.fit {b.settings['fit_epochs']} epochs, compiled loop "
                   f"{b.settings['compiled_epochs']} epochs ..."),
        lambda o: (f"Adam: model.fit {o['adam_fit_ms_per_epoch']:.1f} ms/epoch, compiled "
                   f"{o['adam_compiled_ms_per_epoch']:.3f} ms/epoch"),
        rows=(Row("Adam, Keras model.fit (the article's)", None, "adam_fit_ms_per_epoch",
                  "epoch", ARTICLE_ADAM),
              Row("Adam, compiled loop (ours)", None, "adam_compiled_ms_per_epoch", "epoch",
                  ARTICLE_ADAM))),
)
