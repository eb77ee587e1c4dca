"""Many fits of one arm at once: the perceptron and first-order training batched over
initial weights.

A batch is a ``(B, n_params)`` matrix whose rows are flat weight vectors (the article's
packing, :mod:`secondorder.model`). The batched forward pass is one ``einsum`` per
layer; the loss of row ``b`` depends only on row ``b``, so the gradient of the summed
loss is, row by row, the gradient each fit would get alone. Adam, RMSprop and SGD with
momentum are elementwise, so one Keras optimizer on the ``(B, n_params)`` variable is
``B`` independent optimizers. Rows stop independently (Keras' EarlyStopping rule, see
:mod:`secondorder.first_order`) and a stopped row is frozen at its weights.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .data import Problem
from .fit import FitResult
from .first_order import _check, check_init, check_problem, make_optimizer
from .model import Architecture


def mlp_batch(x, w, arch: Architecture):
    """Class probabilities ``(B, N, nout)`` of ``B`` weight rows ``w`` on inputs ``x``
    ``(N, nin)`` (same maths as :func:`secondorder.model.mlp_tf`)."""
    import tensorflow as tf

    batch = tf.shape(w)[0]
    k = arch.n_hidden_params
    w_hid = tf.transpose(tf.reshape(w[:, :k], (batch, arch.nhid, arch.nin + 1)), (0, 2, 1))
    w_out = tf.transpose(tf.reshape(w[:, k:], (batch, arch.nout, arch.nhid + 1)), (0, 2, 1))
    hid = tf.sigmoid(tf.einsum("nd,bdh->bnh", x, w_hid[:, :-1]) + w_hid[:, -1:, :])
    return tf.nn.softmax(tf.einsum("bnh,bho->bno", hid, w_out[:, :-1]) + w_out[:, -1:, :])


def batch_loss(name: str):
    """Per-row loss ``(B,)``: summed squared error or summed cross-entropy (probabilities
    clipped to ``[1e-7, 1 - 1e-7]`` as Keras does)."""
    import tensorflow as tf

    if name == "ssq":
        return lambda y, p: tf.reduce_sum(tf.square(y - p), axis=(1, 2))
    eps = 1e-7
    return lambda y, p: -tf.reduce_sum(y * tf.math.log(tf.clip_by_value(p, eps, 1 - eps)),
                                       axis=(1, 2))


def fit_first_order_batch(problem: Problem, ws0, *, arch: Architecture, optimizer="adam",
                          learning_rate=1e-3, momentum=0.0, loss="ssq", epochs=10000,
                          patience=500, chunk=250, progress=None) -> list[FitResult]:
    """Train ``len(ws0)`` fits together (float32), one :class:`FitResult` per row of the
    ``(B, n_params)`` matrix ``ws0`` (a 1-D vector is an error, not one fit: pass
    ``w[None, :]``).

    Each row follows Keras' EarlyStopping(val_loss, patience, restore_best_weights):
    its history ends where it stopped and its weights are its best-validation ones.
    Wall time is shared: each result's ``wall_s`` is the batch's time divided by the
    batch size (``extra["batch_wall_s"]`` holds the whole).
    """
    import keras
    import tensorflow as tf

    _check("compiled", loss, epochs, patience, optimizer=optimizer,
           learning_rate=learning_rate, momentum=momentum, chunk=chunk)
    check_problem(problem, arch)
    ws0 = check_init(ws0, arch, batched=True).astype(np.float32)
    batch, chunk = len(ws0), int(chunk)
    x, y, xv, yv = (tf.constant(a, tf.float32) for a in
                    (problem.x_train, problem.y_train, problem.x_val, problem.y_val))
    loss_fn = batch_loss(loss)
    w = keras.Variable(ws0, name="weights")  # a Keras variable, for the Keras optimizer
    opt = make_optimizer(optimizer, learning_rate, momentum)
    opt.build([w])
    best = tf.Variable(ws0)
    best_val = tf.Variable(tf.fill([batch], np.float32(np.inf)))
    best_epoch = tf.Variable(tf.zeros([batch], tf.int32))
    wait = tf.Variable(tf.zeros([batch], tf.int32))
    active = tf.Variable(tf.ones([batch], tf.bool))
    finite = tf.Variable(tf.ones([batch], tf.bool))
    epochs_run = tf.Variable(tf.zeros([batch], tf.int32))
    epoch = tf.Variable(0)

    @tf.function(jit_compile=True)
    def run_chunk(limit):
        train_ta = tf.TensorArray(tf.float32, size=chunk)
        val_ta = tf.TensorArray(tf.float32, size=chunk)

        def body(i, train_ta, val_ta):
            was_active = active.read_value()
            before = tf.identity(w.value)
            with tf.GradientTape() as tape:
                tape.watch(before)
                losses = loss_fn(y, mlp_batch(x, before, arch))
                total = tf.reduce_sum(losses)
            opt.apply_gradients([(tape.gradient(total, before), w)])
            w.assign(tf.where(was_active[:, None], w.value, before))
            val = loss_fn(yv, mlp_batch(xv, w.value, arch))
            ok = tf.math.is_finite(losses) & tf.math.is_finite(val)
            improved = was_active & ok & (val < best_val)
            best.assign(tf.where(improved[:, None], w.value, best))
            best_val.assign(tf.where(improved, val, best_val))
            best_epoch.assign(tf.where(improved, epoch, best_epoch))
            wait.assign(tf.where(improved, 0, wait + tf.cast(was_active, tf.int32)))
            patience_out = (wait >= patience) & (epoch > 0)
            finite.assign(finite & (ok | ~was_active))
            active.assign(was_active & ok & ~patience_out)
            epochs_run.assign_add(tf.cast(was_active, tf.int32))
            epoch.assign_add(1)
            nan = tf.fill([batch], np.float32(np.nan))
            return (i + 1, train_ta.write(i, tf.where(was_active, losses, nan)),
                    val_ta.write(i, tf.where(was_active, val, nan)))

        i, train_ta, val_ta = tf.while_loop(
            lambda i, *_: (i < limit) & tf.reduce_any(active), body,
            (tf.constant(0), train_ta, val_ta))
        return i, train_ta.stack(), val_ta.stack()

    t0 = time.perf_counter()
    run_chunk(tf.constant(0))
    compile_s = time.perf_counter() - t0
    train_loss, val_loss, wall = [], [], []
    start = time.perf_counter()
    while bool(tf.reduce_any(active)) and int(epoch.numpy()) < epochs:
        i, tl, vl = run_chunk(tf.constant(min(chunk, epochs - int(epoch.numpy()))))
        n = int(i)
        elapsed = time.perf_counter() - start
        previous = wall[-1] if wall else 0.0
        wall.extend(np.linspace(previous, elapsed, n + 1)[1:])
        train_loss.append(tl.numpy()[:n])
        val_loss.append(vl.numpy()[:n])
        if progress:
            progress({"epoch": int(epoch.numpy()), "active": int(tf.reduce_sum(
                tf.cast(active, tf.int32))), "elapsed_s": elapsed})
    batch_wall = time.perf_counter() - start
    train_loss, val_loss = np.concatenate(train_loss), np.concatenate(val_loss)
    wall = np.asarray(wall)
    results = []
    for b in range(batch):
        n = int(epochs_run[b])
        ok = bool(finite[b])
        stopped = ok and n < epochs
        status = ("early_stopping" if stopped else "max_iter") if ok else "nan_loss"
        message = {"early_stopping": "validation loss did not improve for the patience "
                   "window; restored the best-validation weights",
                   "max_iter": "epoch budget used up; restored the best-validation weights",
                   "nan_loss": "the loss became NaN or infinite; training stopped"}[status]
        history = pd.DataFrame({"iteration": np.arange(1, n + 1),
                                f"{loss}_train": train_loss[:n, b],
                                f"{loss}_val": val_loss[:n, b], "wall_s": wall[:n] / batch})
        results.append(FitResult(
            weights=best.numpy()[b].astype(np.float64) if ok else w.numpy()[b].astype(
                np.float64), history=history, status=status, message=message, success=ok,
            iterations=n, evaluations=n, wall_s=batch_wall / batch, compile_s=compile_s,
            extra={"best_epoch": int(best_epoch[b]) + 1, "batch_wall_s": batch_wall,
                   "batch_size": batch}))
    return results
