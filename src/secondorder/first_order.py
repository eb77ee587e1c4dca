"""First-order training of the Keras model: the article's ``model.fit`` and a compiled loop.

Two engines run the same Keras model, loss and Keras optimizer, full batch:

``keras_fit``
    The article's literal procedure: ``model.compile(loss=ssq, optimizer=Adam(lr))``,
    ``model.fit(..., batch_size=len(train), epochs=E, callbacks=EarlyStopping(
    monitor="val_loss", patience=P, restore_best_weights=True))``. About 60-130 ms per
    epoch on a small CPU, nearly all of it Keras' per-epoch Python machinery.

``compiled``
    The same update inside a ``tf.while_loop`` compiled with XLA, ``chunk`` epochs per
    call, with Keras' EarlyStopping semantics reproduced in-graph: after epoch ``e`` the
    validation SSQ ``v_e`` (at the updated weights) is compared with the best so far; an
    improvement (``v_e < best``) stores the weights and resets the wait counter, anything
    else increments it, and training stops once ``wait >= patience`` (never at epoch 0).
    The best weights are restored at the end, as ``restore_best_weights=True`` does.
    The reported training loss of epoch ``e`` is the SSQ before that epoch's update, as
    Keras reports it.

Both agree to float32 rounding (``model.fit`` shuffles rows inside the one batch, which
changes summation order only).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from .data import Problem
from .fit import FitResult
from .model import (Architecture, build_keras_model, check_flat, get_flat_weights,
                    set_flat_weights)

log = logging.getLogger(__name__)

ENGINES = ("compiled", "keras_fit")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
LOSSES = ("ssq", "crossentropy")


def ssq_loss(y_true, y_pred):
    """The article's loss: ``sum((y_true - y_pred)**2)`` over the whole batch."""
    import tensorflow as tf

    return tf.reduce_sum(tf.square(y_true - y_pred))


def crossentropy_loss(y_true, y_pred):
    """Summed categorical cross-entropy (summed, like the SSQ, so the scales compare)."""
    import keras
    import tensorflow as tf

    return tf.reduce_sum(keras.losses.categorical_crossentropy(y_true, y_pred))


def make_optimizer(name: str, learning_rate: float, momentum: float = 0.0):
    """A Keras optimizer by name: ``adam``, ``sgd`` (with ``momentum``) or ``rmsprop``."""
    import keras

    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {OPTIMIZERS}")


def _is_count(value) -> bool:
    """An integral number (``10``, ``np.int64(10)``, ``1e4``), not a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer())


def _check(engine, loss, epochs, patience, *, optimizer="adam", learning_rate=1e-3,
           momentum=0.0, chunk=1):
    """``ValueError`` naming the first setting outside its domain."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {OPTIMIZERS}")
    for name, value in (("epochs", epochs), ("patience", patience), ("chunk", chunk)):
        if not _is_count(value) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(learning_rate, (bool, np.bool_)) or not isinstance(
            learning_rate, (int, float, np.integer, np.floating)) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a number > 0, got {learning_rate!r}")
    if isinstance(momentum, (bool, np.bool_)) or not isinstance(
            momentum, (int, float, np.integer, np.floating)) or not 0 <= momentum <= 1:
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")


def check_problem(problem: Problem, arch: Architecture) -> None:
    """``ValueError`` unless ``problem`` fits the perceptron ``arch``: real inputs with
    ``arch.nin`` columns, real targets with ``arch.nout`` columns (one-hot), and
    training/validation rows given as integer indices of existing rows. Nothing is
    broadcast: targets with 3 columns for a 2-output model are an error, not a bug
    found later. Non-finite values are allowed (training reports them as a status)."""
    if not isinstance(arch, Architecture):
        raise ValueError(f"arch must be a secondorder.model.Architecture, got "
                         f"{type(arch).__name__}")
    if not isinstance(problem, Problem):
        raise ValueError(f"expected a secondorder.data.Problem, got {type(problem).__name__}")
    name = f"{arch.nin}-{arch.nhid}-{arch.nout}"
    for what, values, columns, per in (("inputs", problem.x_all, arch.nin, "input"),
                                       ("targets", problem.y_all, arch.nout, "output")):
        values = np.asarray(values)
        if values.dtype.kind not in "iuf":
            raise ValueError(f"{what} must be real numbers, got dtype {values.dtype}")
        if values.ndim != 2 or values.shape[1] != columns:
            raise ValueError(f"{what} must be an (n, {columns}) array, one column per "
                             f"{per} of the {name} perceptron, got shape {values.shape}")
    rows = len(problem.x_all)
    if rows == 0:
        raise ValueError("the data have no rows")
    for what, index in (("train", problem.train), ("validation", problem.validation)):
        index = np.asarray(index)
        if index.ndim != 1 or index.size == 0 or index.dtype.kind not in "iu":
            raise ValueError(f"{what} must be a non-empty 1-D array of integer row indices, "
                             f"got dtype {index.dtype}, shape {index.shape}")
        if index.min() < 0 or index.max() >= rows:
            raise ValueError(f"{what} indices must lie in 0..{rows - 1} (the rows of the "
                             f"data), got {index.min()}..{index.max()}")


def check_init(ws0, arch: Architecture, batched: bool = False) -> np.ndarray:
    """``ws0`` as a float array after checking it: a flat vector of ``arch.n_params``
    finite numbers, or with ``batched`` a ``(B, n_params)`` matrix (one row per fit)."""
    if not batched:
        ws0 = check_flat(ws0, arch)
    else:
        ws0 = np.asarray(ws0)
        if ws0.ndim != 2 or ws0.shape[0] == 0 or ws0.shape[1] != arch.n_params:
            raise ValueError(
                f"expected a (B, {arch.n_params}) matrix of initial weights, one row per fit "
                f"of a {arch.nin}-{arch.nhid}-{arch.nout} perceptron (B >= 1; one fit: "
                f"w[None, :]), got shape {ws0.shape}")
        if not np.issubdtype(ws0.dtype, np.floating):
            raise ValueError(f"weights must be floating point, got dtype {ws0.dtype}")
    if not np.all(np.isfinite(ws0)):
        raise ValueError("initial weights must be finite (no NaN or infinity)")
    return ws0


def fit_first_order(problem: Problem, ws0, *, arch: Architecture, optimizer="adam",
                    learning_rate=1e-3, momentum=0.0, loss="ssq", epochs=10000,
                    patience=500, engine="compiled", chunk=250, seed=0,
                    progress=None) -> FitResult:
    """Train the Keras model from the flat weights ``ws0`` on ``problem`` (float32).

    Returns a :class:`FitResult` whose weights are the restored best-validation weights
    (cast to float64) and whose history has one row per epoch run, with the loss in
    columns ``ssq_train``/``ssq_val`` (or ``crossentropy_train``/``crossentropy_val``).
    ``progress(dict)`` is called now and then with the epoch, SSQs and elapsed time.
    Malformed input (shapes, dtypes, settings) raises ``ValueError`` saying what was
    expected (:func:`check_problem`, :func:`check_init`).
    """
    import keras

    _check(engine, loss, epochs, patience, optimizer=optimizer, learning_rate=learning_rate,
           momentum=momentum, chunk=chunk)
    check_problem(problem, arch)
    ws0 = check_init(ws0, arch)
    keras.utils.set_random_seed(seed)
    model = build_keras_model(arch, dtype="float32")
    set_flat_weights(model, np.asarray(ws0, dtype=np.float32), arch)
    opt = make_optimizer(optimizer, learning_rate, momentum)
    loss_fn = ssq_loss if loss == "ssq" else crossentropy_loss
    data = [a.astype(np.float32) for a in
            (problem.x_train, problem.y_train, problem.x_val, problem.y_val)]
    run = _run_keras_fit if engine == "keras_fit" else _run_compiled
    train_loss, val_loss, wall, stopped, best_epoch, compile_s = run(
        model, opt, loss_fn, data, int(epochs), int(patience), int(chunk),
        progress or (lambda info: None))
    return _result(model, loss, train_loss, val_loss, wall, stopped, best_epoch, compile_s)


def _result(model, loss_name, train_loss, val_loss, wall, stopped, best_epoch, compile_s=0.0):
    n = len(train_loss)
    history = pd.DataFrame({"iteration": np.arange(1, n + 1), f"{loss_name}_train": train_loss,
                            f"{loss_name}_val": val_loss, "wall_s": wall})
    finite = np.isfinite(train_loss).all() and np.isfinite(val_loss).all()
    if not finite:
        status, message = "nan_loss", "the loss became NaN or infinite; training stopped"
    elif stopped:
        status = "early_stopping"
        message = (f"validation SSQ did not improve for the patience window; stopped after "
                   f"epoch {n}, restored the weights of epoch {best_epoch + 1}")
    else:
        status = "max_iter"
        message = (f"epoch budget of {n} used up; restored the weights of epoch "
                   f"{best_epoch + 1}")
    return FitResult(
        weights=get_flat_weights(model).astype(np.float64), history=history,
        status=status, message=message, success=bool(finite), iterations=n,
        evaluations=n, wall_s=float(wall[-1]) if n else 0.0, compile_s=compile_s,
        extra={"best_epoch": int(best_epoch) + 1})


def _run_keras_fit(model, opt, loss_fn, data, epochs, patience, chunk, progress):
    import keras

    x, y, xv, yv = data

    class Record(keras.callbacks.Callback):
        """Per-epoch wall time and progress lines (Keras logs carry the SSQs)."""

        def on_train_begin(self, logs=None):
            self.start, self.wall = time.perf_counter(), []

        def on_epoch_end(self, epoch, logs=None):
            self.wall.append(time.perf_counter() - self.start)
            if (epoch + 1) % chunk == 0:
                progress({"epoch": epoch + 1, "ssq_train": logs["loss"],
                          "ssq_val": logs["val_loss"], "elapsed_s": self.wall[-1]})

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=patience,
                                         mode="min", restore_best_weights=True)
    record = Record()
    model.compile(loss=loss_fn, optimizer=opt)
    hist = model.fit(x=x, y=y, validation_data=(xv, yv), epochs=epochs, batch_size=len(x),
                     callbacks=[stop, record, keras.callbacks.TerminateOnNaN()], verbose=0)
    return (np.asarray(hist.history["loss"]), np.asarray(hist.history["val_loss"]),
            np.asarray(record.wall), stop.stopped_epoch > 0, stop.best_epoch, 0.0)


def _run_compiled(model, opt, loss_fn, data, epochs, patience, chunk, progress):
    import tensorflow as tf

    x, y, xv, yv = (tf.constant(a) for a in data)
    weights = model.trainable_variables
    opt.build(weights)
    best = [tf.Variable(w) for w in weights]
    best_val = tf.Variable(np.inf, dtype=tf.float32)
    best_epoch = tf.Variable(0)
    wait = tf.Variable(0)
    epoch = tf.Variable(0)

    @tf.function(jit_compile=True)
    def run_chunk(limit):
        # A fixed-size chunk keeps shapes static, so XLA compiles once; ``limit`` cuts
        # the last chunk short.
        train_ta = tf.TensorArray(tf.float32, size=chunk)
        val_ta = tf.TensorArray(tf.float32, size=chunk)

        def body(i, stop, train_ta, val_ta):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
            val = loss_fn(yv, model(xv, training=False))
            improved = val < best_val
            for b, w in zip(best, weights):
                b.assign(tf.where(improved, w, b))
            best_val.assign(tf.where(improved, val, best_val))
            best_epoch.assign(tf.where(improved, epoch, best_epoch))
            wait.assign(tf.where(improved, 0, wait + 1))
            stop = ((wait >= patience) & (epoch > 0)) | ~tf.math.is_finite(loss + val)
            epoch.assign_add(1)
            return i + 1, stop, train_ta.write(i, loss), val_ta.write(i, val)

        i, stop, train_ta, val_ta = tf.while_loop(
            lambda i, stop, *_: (i < limit) & ~stop, body,
            (tf.constant(0), tf.constant(False), train_ta, val_ta))
        return i, stop, train_ta.stack(), val_ta.stack()

    t0 = time.perf_counter()
    run_chunk(tf.constant(0))  # trace and compile only: a zero-epoch chunk
    compile_s = time.perf_counter() - t0
    train_loss, val_loss, wall = [], [], []
    start = time.perf_counter()
    stopped = False
    while not stopped and int(epoch.numpy()) < epochs:
        i, stop, tl, vl = run_chunk(tf.constant(min(chunk, epochs - int(epoch.numpy()))))
        tl, vl = tl.numpy()[: int(i)], vl.numpy()[: int(i)]
        elapsed = time.perf_counter() - start
        previous = wall[-1] if wall else 0.0
        # Wall time is measured per chunk and spread evenly over its epochs.
        wall.extend(np.linspace(previous, elapsed, len(tl) + 1)[1:])
        train_loss.extend(tl)
        val_loss.extend(vl)
        stopped = bool(stop.numpy())
        progress({"epoch": len(train_loss), "ssq_train": float(tl[-1]),
                  "ssq_val": float(vl[-1]), "elapsed_s": elapsed})
    for w, b in zip(weights, best):
        w.assign(b)
    return (np.asarray(train_loss), np.asarray(val_loss), np.asarray(wall), stopped,
            int(best_epoch.numpy()), compile_s)
