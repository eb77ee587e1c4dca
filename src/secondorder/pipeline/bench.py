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
* our LM, :func:`secondorder.optim.lm.least_squares` with ``solve="tf"`` (the compiled loop
  with the options of the pipeline's ``lm`` arm, :func:`lm_options`, and the same with
  Nielsen's damping rule) and ``solve="scipy"`` (MINPACK with the TensorFlow Jacobian),
  raw inputs;
* tf-levenberg-marquardt (PyPI), when it is installed, on a float64 Keras model with
  the same weights, raw inputs, MSE loss, full batch;
* jaxopt's ``LevenbergMarquardt`` (PyPI ``jaxopt`` on ``jax``), when it imports, on
  the same residuals written in JAX (float64, raw inputs, both outputs' residuals),
  jaxopt's defaults (:func:`bench_jaxopt`);
* Adam per epoch: Keras ``model.fit`` (the article's procedure, validation data and
  EarlyStopping) and our compiled loop, both on the scaled inputs (as in the article).

"Time to target" is the time until the accuracy on all 500 points first reaches
``target``; accuracy checks are either excluded from the timed run (our LM: the
iteration count is found first, then exactly that many iterations are timed) or
timed and subtracted. Compilation and tracing are reported apart, never included.
"The best peer" is the faster, to the target, of the two other LM libraries measured in
the same run (tf-levenberg-marquardt and jaxopt; keys ``best_peer`` and
``best_peer_time_to_target_s``): the goals against a peer are against it.
:func:`bench_table` turns the summary into a short table for the article.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from typing import Callable

import numpy as np
import pandas as pd

from secondorder import provenance
from secondorder.problem import data, model
from secondorder.problem.model import ARTICLE, mlp_numpy

log = logging.getLogger(__name__)

#: The other LM libraries ("peers"): name in ``best_peer``, their time-to-target key.
PEERS = {"tflm": "tflm_time_to_target_s", "jaxopt": "jaxopt_time_to_target_s"}

#: Speed-ups: summary key, (time of the slower engine, time of the faster one).
#: ``*_vs_best_peer`` divide by the faster peer of this run (:func:`best_peer`); the
#: ratios against each peer alone are kept as information.
SPEEDUPS = {
    "speedup_lm_vs_seed_fd": ("seed_fd_time_to_target_s", "lm_time_to_target_s"),
    "speedup_lm_vs_best_peer": ("best_peer_time_to_target_s", "lm_time_to_target_s"),
    "speedup_lm_vs_tflm": ("tflm_time_to_target_s", "lm_time_to_target_s"),
    "speedup_lm_vs_jaxopt": ("jaxopt_time_to_target_s", "lm_time_to_target_s"),
    "speedup_lm_nielsen_vs_seed_fd": ("seed_fd_time_to_target_s",
                                      "lm_nielsen_time_to_target_s"),
    "speedup_lm_nielsen_vs_best_peer": ("best_peer_time_to_target_s",
                                        "lm_nielsen_time_to_target_s"),
    "speedup_lm_nielsen_vs_tflm": ("tflm_time_to_target_s", "lm_nielsen_time_to_target_s"),
    "speedup_lm_nielsen_vs_jaxopt": ("jaxopt_time_to_target_s",
                                     "lm_nielsen_time_to_target_s"),
    "speedup_lm_vs_lm_scipy": ("lm_scipy_time_to_target_s", "lm_time_to_target_s"),
    "speedup_seed_fd_vs_modern": ("seed_fd_modern_total_s", "seed_fd_total_s"),
    "speedup_adam_compiled_vs_fit": ("adam_fit_ms_per_epoch", "adam_compiled_ms_per_epoch"),
}

#: The goals: summary key, comparison, threshold. Speed-ups are against the article's
#: call as it ran (scipy <= 1.15 semantics, ``lm_fd``) and against the best peer measured
#: in the same run (the faster of tf-levenberg-marquardt and jaxopt to the target, among
#: those installed and reaching it). ``lm_vs_tflm`` and ``lm_vs_jaxopt`` hold the same
#: goal against each peer alone (information: the goal is ``lm_vs_best_peer``).
TARGETS = {
    "lm_vs_article_call": ("speedup_lm_vs_seed_fd", ">=", 100.0),
    "lm_vs_best_peer": ("speedup_lm_vs_best_peer", ">=", 10.0),
    "lm_vs_tflm": ("speedup_lm_vs_tflm", ">=", 10.0),
    "lm_vs_jaxopt": ("speedup_lm_vs_jaxopt", ">=", 10.0),
    "adam_compiled_vs_fit": ("speedup_adam_compiled_vs_fit", ">=", 50.0),
    # the same goals for our LM with Nielsen's damping rule
    "lm_nielsen_vs_article_call": ("speedup_lm_nielsen_vs_seed_fd", ">=", 100.0),
    "lm_nielsen_vs_best_peer": ("speedup_lm_nielsen_vs_best_peer", ">=", 10.0),
}

#: Settings of the article's problem.
N_SAMPLES, TRAIN_FRACTION, SPLIT_SEED, INIT_SEED = 500, 0.8, 0, 1


# --- problem and scoring ------------------------------------------------------------------

def article_problems() -> tuple[data.Problem, data.Problem]:
    """The article's 500 spirals with its split: ``(raw, scaled)`` problems."""
    spiral = data.spiral_data(N_SAMPLES)
    x, y = spiral[:, :2], spiral[:, 2:]
    trn, val = data.split_indices(N_SAMPLES, TRAIN_FRACTION, SPLIT_SEED)
    scaled = data.apply_scaler(x, data.article_scaler(x[trn]))
    return (data.Problem(x, y, trn, val, "raw"),
            data.Problem(scaled, y, trn, val, "scaled"))


def accuracy(problem: data.Problem, weights) -> float:
    """Accuracy on all points, scored as :mod:`.evaluate` does (numpy ``mlp``, float64,
    max-shifted softmax, predicted class = the larger output)."""
    proba = mlp_numpy(problem.x_all, np.asarray(weights, dtype=np.float64), ARTICLE,
                      stable=True)
    return float(np.mean(np.argmax(proba, axis=1) == np.argmax(problem.y_all, axis=1)))


def _ratio(slow, fast):
    return None if slow is None or fast is None or fast <= 0 else float(slow / fast)


def _scipy_version() -> str:
    import scipy

    return scipy.__version__


# --- the article's finite-difference call ----------------------------------------------

#: Summary keys of the modern call (``None`` when ``include_fd_modern`` is false).
SEED_FD_MODERN_FIELDS = tuple(f"seed_fd_modern_{key}" for key in (
    "time_to_target_s", "nfev_to_target", "accuracy_at_target", "total_s", "nfev",
    "ms_per_jacobian_cycle", "final_accuracy", "status", "check_s"))


def bench_article_fd(problem, ws0, *, target, max_nfev, modern=False) -> dict:
    """The article's ``least_squares(fun, ws0, method="lm", max_nfev=max_nfev)`` run to
    the end, noting when the accuracy first reaches ``target``.

    ``modern=False`` (keys ``seed_fd_*``) runs it as the article ran it, scipy <= 1.15's
    algorithm (MINPACK ``lmdif``, ``max_nfev`` counting the finite differences);
    ``modern=True`` (keys ``seed_fd_modern_*``) runs the line under the installed scipy,
    where from 1.16 on ``max_nfev`` counts MINPACK's own evaluations only, not the
    ``n_params`` of each finite-difference Jacobian, and the variables are rescaled
    (another algorithm). The residuals are the article's (numpy ``mlp`` on the raw
    training inputs, without its per-call printing). Every ``n_params + 1`` residual
    evaluations (about one forward-difference Jacobian) the accuracy is checked at the
    lowest-SSQ point evaluated so far, which is MINPACK's current iterate up to a
    finite-difference perturbation. The bookkeeping and checks are timed and
    subtracted.
    """
    from secondorder.optim.article_lm import least_squares_lm_115, least_squares_lm_modern

    solver = least_squares_lm_modern if modern else least_squares_lm_115
    prefix = "seed_fd_modern" if modern else "seed_fd"
    x, y = problem.x_train, problem.y_train
    cycle = ARTICLE.n_params + 1
    st = {"count": 0, "check_s": 0.0, "best_ssq": np.inf, "best_x": None, "reached": None}

    def residuals(ws):
        st["count"] += 1
        res = mlp_numpy(x, ws, ARTICLE) - y
        if st["reached"] is None:
            tic = time.perf_counter()
            ssq = float(np.sum(res ** 2))
            if ssq < st["best_ssq"]:
                st["best_ssq"], st["best_x"] = ssq, np.array(ws)
            if st["count"] % cycle == 0:
                acc = accuracy(problem, st["best_x"])
                if acc >= target:
                    st["reached"] = {"t": tic - start - st["check_s"], "nfev": st["count"],
                                     "accuracy": acc}
            st["check_s"] += time.perf_counter() - tic
        return res.flatten()

    start = time.perf_counter()
    with warnings.catch_warnings():  # the article's sigmoid overflows (harmlessly) at times
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        sol = solver(residuals, np.asarray(ws0, dtype=float), max_nfev=max_nfev)
    total = time.perf_counter() - start - st["check_s"]
    reached = st["reached"] or {}
    fields = {
        "time_to_target_s": reached.get("t"),
        "nfev_to_target": reached.get("nfev"),
        "accuracy_at_target": reached.get("accuracy"),
        "total_s": total,
        "nfev": st["count"],
        "ms_per_jacobian_cycle": 1e3 * total * cycle / st["count"],
        "final_accuracy": accuracy(problem, sol.x),
        "status": int(sol.status),
        "check_s": st["check_s"],
    }
    return {f"{prefix}_{key}": value for key, value in fields.items()}


# --- our LM, compiled loop ----------------------------------------------------------------

#: The options of the pipeline's ``lm`` arm that the benchmark's LM rows take.
LM_OPTIONS = ("damping", "scaling", "mu0", "mu_max")


def lm_options(lm_arm: dict | None) -> dict:
    """The benchmark's options of our LM: those of the pipeline's ``lm`` arm (a config
    entry, checked against its schema; None: an ``lm`` arm with the schema's defaults),
    so the bench times the option set the study and the article's ``lm`` fit use. The
    arm must use the compiled loop (``solve: tf``)."""
    from secondorder.optim import arms

    arm = arms.check_arm(lm_arm or {"optimizer": "lm", "inputs": "raw", "max_iter": 1})
    if arm["optimizer"] != "lm" or arm["solve"] != "tf":
        raise ValueError(f"the bench times an lm arm with solve 'tf', got optimizer "
                         f"{arm['optimizer']!r}, solve {arm.get('solve')!r}")
    return {key: arm[key] for key in LM_OPTIONS}


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


# --- our LM through MINPACK ---------------------------------------------------------------

class _Reached(Exception):
    """Raised from the Jacobian callback to stop MINPACK at the target."""


def bench_lm_scipy(problem, ws0, *, target, max_iter) -> dict:
    """Our ``solve="scipy"`` path (MINPACK ``lmder`` with the XLA-compiled TensorFlow
    residuals and Jacobian), stopped when the accuracy reaches ``target``.

    ``least_squares(solve="scipy")`` takes no callback, so this makes the call
    :func:`secondorder.optim.lm.scipy_backend.solve_scipy` makes (same compiled functions,
    same :class:`~secondorder.optim.lm.scipy_backend.Recorder` wrappers, same MINPACK
    options with the defaults of ``least_squares``) with a Recorder whose Jacobian
    callback also checks the accuracy. MINPACK evaluates the Jacobian once at ``x0``
    and once per accepted step, so the check sees every iterate; its time is
    subtracted.
    """
    import scipy.optimize
    import tensorflow as tf

    from secondorder.optim.lm.scipy_backend import FROM_SCIPY, Recorder
    from secondorder.optim.lm_network import mlp_residuals

    residuals, jacobian, _ = mlp_residuals(problem, ARTICLE)
    fun = tf.function(residuals, jit_compile=True)
    jac = tf.function(jacobian, jit_compile=True)
    x0 = np.asarray(ws0, dtype=np.float64)
    tic = time.perf_counter()
    fun(tf.constant(x0)).numpy()
    jac(tf.constant(x0)).numpy()
    compile_s = time.perf_counter() - tic

    class Checking(Recorder):
        check_s, reached = 0.0, None

        def jac(self, x):
            out = super().jac(x)
            tic = time.perf_counter()
            acc = accuracy(problem, x)
            if acc >= target:
                self.reached = {"t": tic - self.start - self.check_s,
                                "nit": len(self.ssq) - 1, "accuracy": acc}
                raise _Reached
            self.check_s += time.perf_counter() - tic
            return out

    rec = Checking(fun, jac)
    eps = np.finfo(np.float64).eps
    try:
        out = scipy.optimize.least_squares(rec.fun, x0, jac=rec.jac, method="lm",
                                           max_nfev=max_iter + 1, gtol=max(1e-10, eps),
                                           ftol=max(1e-12, eps), xtol=max(1e-12, eps),
                                           x_scale=1.0)
        status, x_end = FROM_SCIPY[out.status].name.lower(), out.x
    except _Reached:
        status, x_end = "target", rec.last_x
    wall = time.perf_counter() - rec.start - rec.check_s
    reached = rec.reached or {}
    nit = max(len(rec.ssq) - 1, 1)
    return {
        "lm_scipy_time_to_target_s": reached.get("t"),
        "lm_scipy_iters_to_target": reached.get("nit"),
        "lm_scipy_compile_s": compile_s,
        "lm_scipy_wall_s": wall,
        "lm_scipy_iters": len(rec.ssq) - 1,
        "lm_scipy_ms_per_iter": 1e3 * wall / nit,
        "lm_scipy_final_accuracy": reached.get("accuracy", accuracy(problem, x_end)),
        "lm_scipy_status": status,
    }


# --- tf-levenberg-marquardt ---------------------------------------------------------------

def tflm_version() -> str | None:
    return provenance.installed_version("tf-levenberg-marquardt")


@contextlib.contextmanager
def _floatx(dtype: str):
    """Keras' default float type set to ``dtype`` for the block (``fit`` casts numpy
    inputs and targets to it, and tf-levenberg-marquardt's damping factor takes it)."""
    import keras

    old = keras.backend.floatx()
    keras.backend.set_floatx(dtype)
    try:
        yield
    finally:
        keras.backend.set_floatx(old)


def bench_tflm(problem, ws0, *, target, max_steps) -> dict:
    """tf-levenberg-marquardt: ``ModelWrapper`` around the float64 Keras model with the
    shared weights, SGD(1.0), its MSE loss, full batch, raw inputs, default damping.

    One warm-up step (tracing its Jacobian function) is run and reported as
    ``tflm_compile_s``; then weights, damping factor and backup are reset to the start
    and up to ``max_steps`` steps are timed, the accuracy checked after each (timed and
    subtracted); training stops at ``target``.
    """
    import keras
    import tf_levenberg_marquardt as tflm

    x, y = problem.x_train, problem.y_train
    with _floatx("float64"):
        inner = model.build_keras_model(ARTICLE, dtype="float64")
        model.set_flat_weights(inner, ws0, ARTICLE)
        wrapper = tflm.model.ModelWrapper(inner)
        wrapper.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0),
                        loss=tflm.loss.MeanSquaredError())
        tic = time.perf_counter()
        wrapper.fit(x, y, epochs=1, batch_size=len(x), verbose=0)
        compile_s = time.perf_counter() - tic
        model.set_flat_weights(inner, ws0, ARTICLE)
        wrapper.trainer.reset_damping_factor()
        wrapper.trainer.backup_variables()

        class Check(keras.callbacks.Callback):
            steps, check_s, reached = 0, 0.0, None

            def on_train_begin(self, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                tic = time.perf_counter()
                self.steps = epoch + 1
                acc = accuracy(problem, model.get_flat_weights(inner))
                if acc >= target:
                    self.reached = {"t": tic - self.start - self.check_s,
                                    "steps": epoch + 1, "accuracy": acc}
                    self.model.stop_training = True
                self.end = time.perf_counter()
                self.check_s += self.end - tic

        check = Check()
        wrapper.fit(x, y, epochs=int(max_steps), batch_size=len(x), verbose=0,
                    callbacks=[check])
    wall = check.end - check.start - check.check_s
    reached = check.reached or {}
    return {
        "tflm_time_to_target_s": reached.get("t"),
        "tflm_steps_to_target": reached.get("steps"),
        "tflm_ms_per_step": 1e3 * wall / max(check.steps, 1),
        "tflm_compile_s": compile_s,
        "tflm_wall_s": wall,
        "tflm_steps": check.steps,
        "tflm_final_accuracy": accuracy(problem, model.get_flat_weights(inner)),
    }


TFLM_FIELDS = ("tflm_time_to_target_s", "tflm_steps_to_target", "tflm_ms_per_step",
               "tflm_compile_s", "tflm_wall_s", "tflm_steps", "tflm_final_accuracy")


# --- jaxopt -------------------------------------------------------------------------------

#: Summary keys of jaxopt's LM (``None`` when it is not run; ``*_to_target`` also when
#: the target is not reached).
JAXOPT_FIELDS = ("jaxopt_time_to_target_s", "jaxopt_iters_to_target", "jaxopt_ms_per_iter",
                 "jaxopt_compile_s", "jaxopt_wall_s", "jaxopt_iters", "jaxopt_final_accuracy",
                 "jaxopt_status")

#: The distributions behind :func:`bench_jaxopt`, whose versions the summary records.
JAXOPT_PACKAGES = ("jax", "jaxlib", "jaxopt")


def jaxopt_versions() -> dict[str, str | None]:
    """Installed versions of jax, jaxlib and jaxopt (``None`` for one not installed)."""
    return {name: provenance.installed_version(name) for name in JAXOPT_PACKAGES}


def jaxopt_importable() -> bool:
    """Whether ``jax`` and ``jaxopt`` import (the optional ``bench`` extra)."""
    try:
        import jax  # noqa: F401
        import jaxopt  # noqa: F401
    except ImportError:
        return False
    return True


def _enable_x64() -> None:
    """Turn on JAX's 64-bit mode. A global, process-wide switch: from here on every
    JAX array of this process defaults to float64/int64 (nothing else in this package
    uses JAX)."""
    import jax

    jax.config.update("jax_enable_x64", True)


def jax_mlp_residuals(problem, arch=ARTICLE):
    """The article's residuals in JAX, a function of the flat float64 weight vector:
    ``mlp(x_train, w) - y_train`` flattened row-major, ``N * nout`` numbers (both
    softmax outputs' residuals, as the article's ``least_squares`` call has them; our
    LM pairs them instead, see :func:`secondorder.optim.lm_network.mlp_residuals_batch`).

    The same perceptron as :func:`secondorder.problem.model.mlp_numpy`: the flat vector
    unpacked in Fortran order, one ``(fan_in + 1, fan_out)`` block per layer with the
    bias in the last row (:func:`secondorder.problem.model.unpack`), sigmoid hidden
    units, softmax outputs (``jax.nn.softmax``, max-shifted: the same function, equal
    to rounding; linear outputs for an ``arch`` that has them), on ``problem``'s
    training inputs as they are (raw for the article's LM). Turns on JAX's 64-bit mode
    (:func:`_enable_x64`, a global switch).
    """
    import jax
    import jax.numpy as jnp

    _enable_x64()
    x = jnp.asarray(problem.x_train, dtype=jnp.float64)
    y = jnp.asarray(problem.y_train, dtype=jnp.float64)
    layers = list(getattr(arch, "layers", [(arch.nin, arch.nhid), (arch.nhid, arch.nout)]))
    softmax_out = getattr(arch, "output", "softmax") == "softmax"

    def residuals(w):
        out, start = x, 0
        for k, (fan_in, fan_out) in enumerate(layers):
            size = (fan_in + 1) * fan_out
            # Fortran order: (fan_in + 1, fan_out) is C-order (fan_out, fan_in + 1) transposed
            block = jnp.reshape(w[start:start + size], (fan_out, fan_in + 1)).T
            out = out @ block[:-1] + block[-1]
            start += size
            if k < len(layers) - 1:
                out = jax.nn.sigmoid(out)
        if softmax_out:
            out = jax.nn.softmax(out, axis=1)
        return jnp.ravel(out - y)

    return residuals


def bench_jaxopt(problem, ws0, *, target, max_iter) -> dict:
    """jaxopt's ``LevenbergMarquardt(residual_fun=..., maxiter=max_iter, jit=True)`` on
    the article's residuals in JAX (:func:`jax_mlp_residuals`: float64, raw inputs,
    both outputs' residuals, ``m = N * nout``) from ``ws0``.

    Everything else is jaxopt's default (0.8.x): ``damping_parameter=1e-6`` (initial
    damping ``1e-6 * max diag(JᵀJ)``), Nielsen's damping rule (Madsen & Nielsen's
    algorithm 6.18: after an accepted step, gain ratio ``rho > 0``,
    ``mu *= max(1/3, 1 - (2 rho - 1)^3)`` and ``nu = 2``; after a rejected one
    ``mu *= nu``, ``nu *= 2``), ``materialize_jac=False`` (the Jacobian is never formed:
    Jacobian products by ``jvp``/``vjp``), ``solver=solve_cg`` (the damped normal
    equations ``(JᵀJ + mu I) d = -Jᵀr`` by matrix-free conjugate gradients,
    ``jax.scipy.sparse.linalg.cg`` at its default tolerance, warm-started from the last
    step), no geodesic acceleration, and ``stop_criterion="grad-l2-norm"`` with
    ``tol=1e-3``: like ``run``, the loop here also stops (``jaxopt_status``
    ``"converged"``) once ``||Jᵀr||_2 <= tol`` (``"diverged"`` if that norm is not
    finite). An iteration is one ``update`` call, rejected steps included.

    Side effect: turns on JAX's 64-bit mode for the whole process
    (``jax.config.update("jax_enable_x64", True)``).

    Timing as :func:`bench_lm_tf` and :func:`bench_tflm`: compilation apart
    (``jaxopt_compile_s``: ``init_state``, jitted here, and two ``update`` calls, the
    second retracing for the state ``update`` returns); then from ``ws0`` again the
    jitted ``init_state`` and up to ``max_iter`` calls of the jitted ``update``, each
    waited for (``block_until_ready``), the accuracy on all points (:func:`accuracy`,
    numpy, float64) checked after each, its time subtracted; the loop stops at
    ``target``. Keys start with ``jaxopt_``.
    """
    import jax
    import jax.numpy as jnp
    import jaxopt

    residuals = jax_mlp_residuals(problem, ARTICLE)  # turns on the 64-bit mode
    solver = jaxopt.LevenbergMarquardt(residual_fun=residuals, maxiter=int(max_iter),
                                       jit=True)
    init_state = jax.jit(solver.init_state)
    w0 = jnp.asarray(np.asarray(ws0, dtype=np.float64))

    tic = time.perf_counter()
    params, state = w0, init_state(w0)
    for _ in range(2):
        params, state = solver.update(params, state)
    jax.block_until_ready((params, state))
    compile_s = time.perf_counter() - tic

    check_s, reached, status, iters = 0.0, None, "max_iter", 0
    start = time.perf_counter()
    params, state = w0, init_state(w0)
    while iters < max_iter:
        params, state = solver.update(params, state)
        jax.block_until_ready((params, state))
        iters += 1
        tic = time.perf_counter()
        acc = accuracy(problem, np.asarray(params, dtype=np.float64))
        error = float(state.error)
        if acc >= target:
            reached, status = {"t": tic - start - check_s, "iters": iters}, "target"
        elif not np.isfinite(error):
            status = "diverged"
        elif error <= solver.tol:
            status = "converged"
        check_s += time.perf_counter() - tic
        if status != "max_iter":
            break
    wall = time.perf_counter() - start - check_s
    reached = reached or {}
    return {
        "jaxopt_time_to_target_s": reached.get("t"),
        "jaxopt_iters_to_target": reached.get("iters"),
        "jaxopt_ms_per_iter": 1e3 * wall / max(iters, 1),
        "jaxopt_compile_s": compile_s,
        "jaxopt_wall_s": wall,
        "jaxopt_iters": iters,
        "jaxopt_final_accuracy": accuracy(problem, np.asarray(params, dtype=np.float64)),
        "jaxopt_status": status,
    }


def best_peer(summary: dict) -> tuple[str | None, float | None]:
    """The best peer of a run: ``(name, time to target)`` of the fastest engine of
    :data:`PEERS` that reached the target in it, ``(None, None)`` when none did (or
    none was run)."""
    times = {name: summary.get(key) for name, key in PEERS.items()
             if summary.get(key) is not None}
    if not times:
        return None, None
    name = min(times, key=times.get)
    return name, float(times[name])


# --- Adam per epoch -----------------------------------------------------------------------

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


# --- the whole benchmark ------------------------------------------------------------------

def _s(seconds) -> str:
    return "not reached" if seconds is None else f"{seconds:.3f} s"


def _met(value, op, threshold):
    if value is None:
        return None
    return bool(value <= threshold if op == "<=" else value >= threshold)


#: Rough shares of each stage in a benchmark run (seconds on a 2-core CPU), for the
#: percent done and time left of the progress lines; never used in the results.
STAGE_WEIGHTS = {"lm": 3, "lm_nielsen": 2, "lm_scipy": 4, "tflm": 20, "jaxopt": 12,
                 "seed_fd": 30, "seed_fd_modern": 45, "adam": 12}


def _stage_progress(say, *, include_tflm, include_fd_modern, include_jaxopt=False):
    """``step(stage)``: log the benchmark's percent done and time left once ``stage``
    has finished (stages weighted by :data:`STAGE_WEIGHTS`)."""
    from secondorder.progress import Progress

    skipped = {"tflm": not include_tflm, "jaxopt": not include_jaxopt,
               "seed_fd_modern": not include_fd_modern}
    stages = [s for s in STAGE_WEIGHTS if not skipped.get(s, False)]
    clock = Progress(sum(STAGE_WEIGHTS[s] for s in stages))
    finished = []

    def step(stage):
        finished.append(stage)
        done = sum(STAGE_WEIGHTS[s] for s in finished)
        say(f"benchmark: {len(finished)}/{len(stages)} stages, {clock.line(done)}")

    return step


def run_bench(*, target=0.98, lm_max_iter=2000, fd_max_nfev=50000, tflm_max_steps=1000,
              fit_epochs=100, compiled_epochs=5000, include_tflm=None,
              include_fd_modern=True, fd_modern_max_nfev=None, include_jaxopt=None,
              jaxopt_max_iter=2000, in_article=False, lm_arm: dict | None = None,
              progress: Callable | None = None) -> dict:
    """Run every measurement (see the module docstring) and return a JSON-ready summary.

    ``include_tflm``: ``None`` runs tf-levenberg-marquardt when it is importable, True
    requires it, False skips it (its fields are then ``None``). ``include_jaxopt`` does
    the same for jaxopt's LM (``jaxopt_max_iter`` iterations at most; running it turns
    on JAX's 64-bit mode for the process). ``best_peer`` and
    ``best_peer_time_to_target_s`` name the faster of the two to the target
    (:func:`best_peer`). ``in_article`` is a workflow setting (whether the article shows
    the table), accepted with the rest of the ``bench`` config and not used here.
    ``lm_arm``: the pipeline's ``lm`` arm, whose options the "LM tf" rows take
    (:func:`lm_options`; the Nielsen row changes only its damping rule).
    ``include_fd_modern``
    also times the article's line under the installed scipy (``seed_fd_modern_*``,
    ``None`` when skipped) with ``max_nfev = fd_modern_max_nfev`` (``None``: the same
    ``fd_max_nfev``); "the article's call" (``seed_fd_*`` and every ratio against
    it) is always scipy <= 1.15's algorithm, the one the article ran. ``progress(line)``
    receives one line per stage (default: logged at INFO level).

    Times are seconds, compilation excluded; ``None`` where a method did not reach
    ``target`` within its budget. ``speedup_*`` are ratios of times measured here
    (slower / faster); ``targets`` compares them with the issue's goals, ``met`` being
    ``None`` where a value is missing.
    """
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
    modern_nfev = fd_max_nfev if fd_modern_max_nfev is None else fd_modern_max_nfev
    out = {"target": float(target), "initial_accuracy": accuracy(raw, ws0),
           "settings": {"target": target, "lm_max_iter": lm_max_iter, "lm_options": options,
                        "fd_max_nfev": fd_max_nfev, "tflm_max_steps": tflm_max_steps,
                        "fit_epochs": fit_epochs, "compiled_epochs": compiled_epochs,
                        "include_tflm": bool(include_tflm),
                        "include_fd_modern": bool(include_fd_modern),
                        "fd_modern_max_nfev": modern_nfev,
                        "include_jaxopt": bool(include_jaxopt),
                        "jaxopt_max_iter": jaxopt_max_iter},
           "started": provenance.now()}
    t0 = time.perf_counter()
    step = _stage_progress(say, include_tflm=include_tflm, include_fd_modern=include_fd_modern,
                           include_jaxopt=include_jaxopt)

    say("LM solve='tf' ...")
    out.update(bench_lm_tf(raw, ws0, target=target, max_iter=lm_max_iter, say=say,
                           options=options))
    say(f"LM tf: {_s(out['lm_time_to_target_s'])} to target "
        f"({out['lm_iters_to_target']} iterations), {out['lm_ms_per_iter']:.3f} "
        f"ms/iteration, compile {out['lm_compile_s']:.2f} s")
    step("lm")

    say("LM solve='tf', Nielsen damping ...")
    out.update(bench_lm_tf(raw, ws0, target=target, max_iter=lm_max_iter, say=say,
                           options={**options, "damping": "nielsen"}, prefix="lm_nielsen"))
    say(f"LM tf, Nielsen: {_s(out['lm_nielsen_time_to_target_s'])} to target "
        f"({out['lm_nielsen_iters_to_target']} iterations), "
        f"{out['lm_nielsen_ms_per_iter']:.3f} ms/iteration")
    step("lm_nielsen")

    say("LM solve='scipy' (MINPACK, TF Jacobian) ...")
    out.update(bench_lm_scipy(raw, ws0, target=target, max_iter=lm_max_iter))
    say(f"LM scipy: {_s(out['lm_scipy_time_to_target_s'])} to target "
        f"({out['lm_scipy_iters']} iterations, final accuracy "
        f"{out['lm_scipy_final_accuracy']:.3f})")
    step("lm_scipy")

    if include_tflm:
        say(f"tf-levenberg-marquardt {version}, up to {tflm_max_steps} steps ...")
        out.update(bench_tflm(raw, ws0, target=target, max_steps=tflm_max_steps))
        say(f"tflm: {_s(out['tflm_time_to_target_s'])} to target "
            f"({out['tflm_steps']} steps run), {out['tflm_ms_per_step']:.1f} ms/step, "
            f"final accuracy {out['tflm_final_accuracy']:.3f}")
        step("tflm")
    else:
        out.update(dict.fromkeys(TFLM_FIELDS))

    if include_jaxopt:
        jax_versions = jaxopt_versions()
        say(f"jaxopt {jax_versions['jaxopt']} LevenbergMarquardt (jax "
            f"{jax_versions['jax']}), up to {jaxopt_max_iter} iterations ...")
        out.update(bench_jaxopt(raw, ws0, target=target, max_iter=jaxopt_max_iter))
        say(f"jaxopt: {_s(out['jaxopt_time_to_target_s'])} to target "
            f"({out['jaxopt_iters']} iterations run, {out['jaxopt_status']}), "
            f"{out['jaxopt_ms_per_iter']:.2f} ms/iteration, compile "
            f"{out['jaxopt_compile_s']:.2f} s, final accuracy "
            f"{out['jaxopt_final_accuracy']:.3f}")
        step("jaxopt")
    else:
        out.update(dict.fromkeys(JAXOPT_FIELDS))

    say(f"the article's scipy LM as it ran (scipy <= 1.15), max_nfev {fd_max_nfev} ...")
    out.update(bench_article_fd(raw, ws0, target=target, max_nfev=fd_max_nfev))
    say(f"article LM: {_s(out['seed_fd_time_to_target_s'])} to target, "
        f"{out['seed_fd_total_s']:.1f} s in all ({out['seed_fd_nfev']} evaluations), "
        f"final accuracy {out['seed_fd_final_accuracy']:.3f}")
    step("seed_fd")
    if include_fd_modern:
        say(f"the same line under scipy {_scipy_version()}, max_nfev {modern_nfev} ...")
        out.update(bench_article_fd(raw, ws0, target=target, max_nfev=modern_nfev,
                                    modern=True))
        say(f"same line, scipy {_scipy_version()}: "
            f"{_s(out['seed_fd_modern_time_to_target_s'])} to target, "
            f"{out['seed_fd_modern_total_s']:.1f} s in all "
            f"({out['seed_fd_modern_nfev']} evaluations), final accuracy "
            f"{out['seed_fd_modern_final_accuracy']:.3f}")
        step("seed_fd_modern")
    else:
        out.update(dict.fromkeys(SEED_FD_MODERN_FIELDS))

    say(f"Adam: model.fit {fit_epochs} epochs, compiled loop {compiled_epochs} epochs ...")
    out.update(bench_adam(scaled, ws0, fit_epochs=fit_epochs,
                          compiled_epochs=compiled_epochs))
    say(f"Adam: model.fit {out['adam_fit_ms_per_epoch']:.1f} ms/epoch, compiled "
        f"{out['adam_compiled_ms_per_epoch']:.3f} ms/epoch")
    step("adam")

    out["best_peer"], out["best_peer_time_to_target_s"] = best_peer(out)
    if out["best_peer"]:
        say(f"best peer: {out['best_peer']}, {_s(out['best_peer_time_to_target_s'])} "
            "to target")
    for name, (slow, fast) in SPEEDUPS.items():
        out[name] = _ratio(out[slow], out[fast])
    out["targets"] = {
        name: {"key": key, "op": op, "threshold": threshold, "value": out[key],
               "met": _met(out[key], op, threshold)}
        for name, (key, op, threshold) in TARGETS.items()}
    out["bench_wall_s"] = time.perf_counter() - t0
    out["finished"] = provenance.now()
    env = provenance.environment(with_device=True)
    out["device"] = env["device"]
    out["versions"] = {**env["versions"], "tf-levenberg-marquardt": version,
                       **jaxopt_versions()}
    out["environment"] = env
    say(f"benchmark done in {out['bench_wall_s']:.0f} s")
    return out


def options_text(options: dict | None) -> str:
    """``damping marquardt, scaling identity, mu0 0.001, mu_max 1e+10``; "options not
    recorded" for a summary written before they were."""
    if not options:
        return "options not recorded"
    return ", ".join(f"{key} {options[key]:g}" if isinstance(options[key], float)
                     else f"{key} {options[key]}" for key in LM_OPTIONS)


def bench_table(summary: dict) -> pd.DataFrame:
    """A short table: method, time to target, time per iteration, speed-up.

    ``speedup`` is how many times faster the row is than the article's own code for
    the same optimizer: the article's finite-difference LM call as it ran (scipy <=
    1.15) for the LM rows (time to target), Keras ``model.fit`` for the Adam rows (time
    per epoch). The same line under the installed scipy has its own row (empty when it
    was not run); below 1 it is slower than the article's call. The peers
    (tf-levenberg-marquardt, jaxopt) have a row each, empty when not run.
    """
    s = summary
    lm = s.get("settings", {}).get("lm_options")
    nielsen = {**lm, "damping": "nielsen"} if lm else None
    fd = s.get("seed_fd_time_to_target_s")
    fit = s.get("adam_fit_ms_per_epoch")
    rows = [
        (f"LM, compiled TensorFlow loop, the lm arm's options ({options_text(lm)}; ours)",
         s.get("lm_time_to_target_s"), s.get("lm_ms_per_iter"), "iteration",
         _ratio(fd, s.get("lm_time_to_target_s"))),
        (f"LM, compiled TensorFlow loop, the same with Nielsen damping ({options_text(nielsen)}; "
         "ours)",
         s.get("lm_nielsen_time_to_target_s"), s.get("lm_nielsen_ms_per_iter"), "iteration",
         _ratio(fd, s.get("lm_nielsen_time_to_target_s"))),
        ("LM, MINPACK + TensorFlow Jacobian (ours)", s.get("lm_scipy_time_to_target_s"),
         s.get("lm_scipy_ms_per_iter"), "iteration",
         _ratio(fd, s.get("lm_scipy_time_to_target_s"))),
        ("LM, tf-levenberg-marquardt", s.get("tflm_time_to_target_s"),
         s.get("tflm_ms_per_step"), "step", _ratio(fd, s.get("tflm_time_to_target_s"))),
        ("LM, jaxopt LevenbergMarquardt (JAX, float64)", s.get("jaxopt_time_to_target_s"),
         s.get("jaxopt_ms_per_iter"), "iteration",
         _ratio(fd, s.get("jaxopt_time_to_target_s"))),
        ("LM, the article's scipy call as it ran (scipy <= 1.15, finite differences)", fd,
         s.get("seed_fd_ms_per_jacobian_cycle"), f"{ARTICLE.n_params + 1} evaluations",
         1.0 if fd else None),
        (f"LM, the same line under scipy {s.get('versions', {}).get('scipy', '(installed)')} "
         "(not the article's algorithm)", s.get("seed_fd_modern_time_to_target_s"),
         s.get("seed_fd_modern_ms_per_jacobian_cycle"), f"{ARTICLE.n_params + 1} evaluations",
         _ratio(fd, s.get("seed_fd_modern_time_to_target_s"))),
        ("Adam, Keras model.fit (the article's)", None, fit, "epoch", 1.0 if fit else None),
        ("Adam, compiled loop (ours)", None, s.get("adam_compiled_ms_per_epoch"), "epoch",
         _ratio(fit, s.get("adam_compiled_ms_per_epoch"))),
    ]
    return pd.DataFrame(rows, columns=["method", "time_to_target_s", "per_iteration_ms",
                                       "per", "speedup"])
