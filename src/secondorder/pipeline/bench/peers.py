"""The peers: the other LM libraries the benchmark times, both optional (the ``bench``
extra). This module is the one place that imports them: tf-levenberg-marquardt (PyPI
``tf-levenberg-marquardt``, on Keras) and jaxopt's ``LevenbergMarquardt`` (PyPI
``jaxopt`` on ``jax``). "The best peer" of a run is the faster of them to the target
(:func:`best_peer`)."""

from __future__ import annotations

import contextlib
import time

import numpy as np

from secondorder import provenance
from secondorder.pipeline.bench.scoring import CheckTime, accuracy
from secondorder.problem import model
from secondorder.problem.model import ARTICLE

#: The other LM libraries ("peers"): name in ``best_peer``, their time-to-target key.
PEERS = {"tflm": "tflm_time_to_target_s", "jaxopt": "jaxopt_time_to_target_s"}


def tflm_version() -> str | None:
    """Installed version of tf-levenberg-marquardt (``None``: not installed)."""
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
            steps, reached = 0, None

            def on_train_begin(self, logs=None):
                self.checks = CheckTime()
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                with self.checks.measure() as tic:
                    self.steps = epoch + 1
                    acc = accuracy(problem, model.get_flat_weights(inner))
                    if acc >= target:
                        self.reached = {"t": self.checks.off(tic - self.start),
                                        "steps": epoch + 1, "accuracy": acc}
                        self.model.stop_training = True

        check = Check()
        wrapper.fit(x, y, epochs=int(max_steps), batch_size=len(x), verbose=0,
                    callbacks=[check])
    wall = check.checks.off(check.checks.last_end - check.start)  # to the last step's check
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

    checks, reached, status, iters = CheckTime(), None, "max_iter", 0
    start = time.perf_counter()
    params, state = w0, init_state(w0)
    while iters < max_iter:
        params, state = solver.update(params, state)
        jax.block_until_ready((params, state))
        iters += 1
        with checks.measure() as tic:
            acc = accuracy(problem, np.asarray(params, dtype=np.float64))
            error = float(state.error)
            if acc >= target:
                reached, status = {"t": checks.off(tic - start), "iters": iters}, "target"
            elif not np.isfinite(error):
                status = "diverged"
            elif error <= solver.tol:
                status = "converged"
        if status != "max_iter":
            break
    wall = checks.off(time.perf_counter() - start)
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
