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
from .model import Architecture, build_keras_model, get_flat_weights, set_flat_weights

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


def _check(engine, loss, epochs, patience):
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    if int(epochs) < 1 or int(patience) < 1:
        raise ValueError(f"epochs and patience must be >= 1, got {epochs!r}, {patience!r}")


def fit_first_order(problem: Problem, ws0, *, arch: Architecture, optimizer="adam",
                    learning_rate=1e-3, momentum=0.0, loss="ssq", epochs=10000,
                    patience=500, engine="compiled", chunk=250, seed=0,
                    progress=None) -> FitResult:
    """Train the Keras model from the flat weights ``ws0`` on ``problem`` (float32).

    Returns a :class:`FitResult` whose weights are the restored best-validation weights
    (cast to float64) and whose history has one row per epoch run, with the loss in
    columns ``ssq_train``/``ssq_val`` (or ``crossentropy_train``/``crossentropy_val``).
    ``progress(dict)`` is called now and then with the epoch, SSQs and elapsed time.
    """
    import keras

    _check(engine, loss, epochs, patience)
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
