"""The speed benchmark: every engine from the shared init on the article's problem.

:func:`run_bench` times, in one process and from ``model.init_weights(1)`` (the
article's ``ws_init``) on the article's 500 spirals and split:

* the article's own Levenberg-Marquardt call, ``scipy.optimize.least_squares(method=
  "lm", max_nfev=...)`` with MINPACK's forward-difference Jacobian on numpy residuals
  of raw inputs (as published), run as the article ran it: scipy <= 1.15's algorithm
  (:func:`secondorder.optim.article_lm.least_squares_lm_115`). Every speed-up "over the
  article's call" is against this one;
* optionally (``include_fd_modern``) the same line under the installed scipy, which
  from 1.16 on runs another algorithm
  (:func:`~secondorder.optim.article_lm.least_squares_lm_modern`), timed as its own row
  (keys ``seed_fd_modern_*``);
* our LM, :func:`secondorder.optim.lm.least_squares_batch` with ``solve="numpy"`` (our
  loop with the options of the pipeline's ``lm`` arm, :func:`lm_options`; the same with
  Nielsen's damping rule; the fastest documented option set, ``bench.lm_fast`` in the
  config; and that set with geodesic acceleration) and ``solve="scipy"`` (MINPACK with
  the TensorFlow Jacobian, with those options of the ``lm`` arm that MINPACK takes),
  raw inputs;
* tf-levenberg-marquardt (PyPI), when it is installed, on a float64 Keras model with
  the same weights, raw inputs, MSE loss, full batch;
* jaxopt's ``LevenbergMarquardt`` (PyPI ``jaxopt`` on ``jax``), when it imports, on
  the same residuals written in JAX (float64, raw inputs, both outputs' residuals),
  jaxopt's defaults (:func:`bench_jaxopt`);
* Adam per epoch: Keras ``model.fit`` (the article's procedure, validation data and
  EarlyStopping) and our compiled loop, both on the scaled inputs (as in the article).

"Time to target" is the time until the accuracy on all 500 points first reaches
``target``, the accuracy checks taken off (one rule for every row): our loops do not
count their callbacks' time, the others time their checks and subtract them
(:class:`~.scoring.CheckTime`). Compilation and tracing are reported apart, never
included.
"The best peer" is the faster, to the target, of the two other LM libraries measured in
the same run (tf-levenberg-marquardt and jaxopt; keys ``best_peer`` and
``best_peer_time_to_target_s``): the goals against a peer are against it.
:func:`bench_table` turns the summary into a short table for the article.

The package, one module per idea:

* :mod:`.scoring` -- the article's problem and split, the shared init's seed, the
  accuracy every row is scored by, and :class:`~.scoring.CheckTime` ("time minus
  checks");
* :mod:`.engines` -- our engines' rows: our LM (our loop, MINPACK path) with the
  ``lm`` arm's options, Adam per epoch;
* :mod:`.peers` -- the other LM libraries (tf-levenberg-marquardt, jaxopt), the one
  place for their optional imports, and the best peer;
* :mod:`.article_call` -- the article's finite-difference call, as it ran and under
  the installed scipy;
* :mod:`.stages` -- the table of stages (:data:`~.stages.STAGES`): adding an engine is
  one entry there plus its function;
* :mod:`.run` -- :func:`run_bench`, which runs the stages;
* :mod:`.report` -- speed-ups, goals and :func:`bench_table`, the article's table.

The names below are this package's public ones (the workflow's script, the article
and the cost study use them).
"""

from secondorder.pipeline.bench.article_call import SEED_FD_MODERN_FIELDS, bench_article_fd
from secondorder.pipeline.bench.engines import (LM_OPTIONS, MINPACK_OPTIONS, bench_adam,
                                                bench_lm, bench_lm_scipy, lm_options,
                                                options_text)
from secondorder.pipeline.bench.peers import (JAXOPT_FIELDS, JAXOPT_PACKAGES, PEERS,
                                              TFLM_FIELDS, best_peer, bench_jaxopt,
                                              bench_tflm, jax_mlp_residuals,
                                              jaxopt_importable, jaxopt_versions,
                                              tflm_version)
from secondorder.pipeline.bench.report import SPEEDUPS, TARGETS, bench_table, speedup
from secondorder.pipeline.bench.run import run_bench
from secondorder.pipeline.bench.scoring import (INIT_SEED, CheckTime, accuracy,
                                                article_problems)
from secondorder.pipeline.bench.stages import STAGES, Row, Stage

__all__ = [
    "CheckTime", "INIT_SEED", "JAXOPT_FIELDS", "JAXOPT_PACKAGES", "LM_OPTIONS",
    "MINPACK_OPTIONS", "PEERS", "Row", "SEED_FD_MODERN_FIELDS", "SPEEDUPS", "STAGES",
    "Stage", "TARGETS", "TFLM_FIELDS", "accuracy", "article_problems", "bench_adam",
    "bench_article_fd", "bench_jaxopt", "bench_lm", "bench_lm_scipy", "bench_table",
    "bench_tflm", "best_peer", "jax_mlp_residuals", "jaxopt_importable", "jaxopt_versions",
    "lm_options", "options_text", "run_bench", "speedup", "tflm_version",
]
