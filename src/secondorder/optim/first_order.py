"""First-order training (Adam, SGD, RMSprop) of the perceptron, full batch, float32.

Two engines run the same loss and the same Keras optimizer:

``compiled`` (:func:`fit_first_order_batch`)
    Trains ``B`` fits at once, one per row of a ``(B, n_params)`` matrix of initial
    weights; a single fit is a batch of one (:func:`fit_first_order`). The weights are
    one ``(B, n_params)`` variable and the forward pass is
    :func:`secondorder.problem.model.mlp_batch`. The loss of row ``b`` depends on row ``b``
    only, so the gradient of the summed loss is, row by row, the gradient that fit
    would get alone, and Adam, RMSprop and SGD with momentum are elementwise, so one
    Keras optimizer on the matrix is ``B`` independent optimizers. A row's arithmetic
    is that of the Keras model holding its weights (same ``matmul``s, loss and
    optimizer update), so a fit does not depend on the batch it runs in: bit for bit
    on the article's problem (tested), but not at every shape, since XLA may pick
    another kernel, summing in another order, for a batch than for one row (measured:
    the suite's diabetes, 10 inputs and 10 hidden units, RMSprop, a fit in a batch of
    2 ends 4e-3 away from the same fit alone; the suite trains every fit alone).

    The epochs run inside a ``tf.while_loop`` compiled with XLA, ``chunk`` epochs per
    call. Every row of the batch costs an epoch's arithmetic, stopped or not, so once
    most rows have stopped and enough epochs seem to be left, the batch is compacted to
    the rows still running (compiled again; the same fits, bit for bit). Fits trained
    one after another reuse the last compilation when only the initial weights or the
    learning rate differ: the loop's variables and the optimizer's are reset to the
    new fit's start (the same fit, bit for bit).

    Each row follows Keras' ``EarlyStopping(monitor="val_loss", min_delta=0,
    patience, restore_best_weights=True)`` on its own: after epoch ``e`` the
    validation loss ``v_e`` (at the updated weights) is compared with the row's best;
    an improvement (``v_e < best``) stores the weights and resets the wait counter,
    anything else increments it, and the row stops once ``wait >= patience`` (never
    at epoch 0) or when its training or validation loss is not finite. A stopped row
    is frozen. The reported training loss of epoch ``e`` is the loss before that
    epoch's update, as Keras reports it.

``keras_fit`` (one fit after the other; the reference)
    The article's literal procedure: ``model.compile(loss=ssq, optimizer=Adam(lr))``,
    ``model.fit(..., batch_size=len(train), epochs=E, callbacks=EarlyStopping(
    monitor="val_loss", patience=P, restore_best_weights=True))``. About 60-130 ms per
    epoch on a small CPU, nearly all of it Keras' per-epoch Python machinery. It
    agrees with ``compiled`` to float32 rounding (``model.fit`` shuffles rows inside
    the one batch, which changes summation order only).

How a fit ends, with both engines (the ``status`` of its :class:`FitResult`):

``nan_loss``
    the training or validation loss became NaN or infinite; training stopped there
    and the weights are the restored best-validation ones, as
    ``restore_best_weights`` does (``compiled``: the initial weights when no epoch
    had a finite validation loss);
``early_stopping``
    the patience rule stopped it, also when that happened on the last epoch of the
    budget (Keras' EarlyStopping reports that epoch as ``stopped_epoch`` too);
``max_iter``
    the epoch budget was used up without the patience rule firing;
``max_time``
    (``compiled`` with ``max_time`` set) the wall-time budget of the batch ran out
    first; it is checked between chunks, so a batch can overrun it by up to one chunk.

The weights are always the restored best-validation ones; ``extra["best_epoch"]``
says which epoch they are from (1-based; 0: the initial weights).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from secondorder import schema
from secondorder.problem.checks import check_init, check_problem
from secondorder.problem.data import Problem
from secondorder.optim.fit_result import FitResult, clock_shares
from secondorder.problem.model import (Architecture, build_keras_model, check_flat, get_flat_weights,
                    mlp_batch, set_flat_weights)

log = logging.getLogger(__name__)

#: The first-order optimizers: one Keras optimizer each, one arm schema, one trainer.
FIRST_ORDER = ("adam", "sgd", "rmsprop")

#: How each loss is named in a history's columns and messages.
LOSS_NAMES = {"ssq": "SSQ", "crossentropy": "cross-entropy"}


def ssq_loss(y_true, y_pred):
    """The article's loss, ``sum((y_true - y_pred)**2)`` over the samples and outputs:
    a scalar for ``(N, nout)`` predictions (a Keras loss), one per row for a batch
    ``(B, N, nout)``."""
    import tensorflow as tf

    return tf.reduce_sum(tf.square(y_true - y_pred), axis=(-2, -1))


def crossentropy_loss(y_true, y_pred):
    """Keras' categorical cross-entropy summed over the samples (summed, like the SSQ,
    so the scales compare); a scalar, or one per row of a batch ``(B, N, nout)``."""
    import keras
    import tensorflow as tf

    y_true = tf.broadcast_to(tf.cast(y_true, y_pred.dtype), tf.shape(y_pred))
    return tf.reduce_sum(keras.losses.categorical_crossentropy(y_true, y_pred), axis=-1)


LOSSES = {"ssq": ssq_loss, "crossentropy": crossentropy_loss}


def make_optimizer(name: str, learning_rate: float, momentum: float):
    """A Keras optimizer by name: ``adam`` (it has no momentum; the config schema
    refuses one), ``sgd`` or ``rmsprop`` with ``momentum``."""
    import keras

    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate, momentum=momentum)
    raise ValueError(f"unknown first-order optimizer {name!r}")


def check_settings(optimizer, inputs: str, settings: dict) -> dict:
    """The first-order arm ``{optimizer, inputs, **settings}`` checked against the
    settings schema (``$defs/first_order``, the one place its defaults are written)
    with the defaults filled in; ``ValueError`` naming each setting outside its
    domain."""
    if not isinstance(optimizer, str) or optimizer not in FIRST_ORDER:
        raise ValueError(f"unknown optimizer {optimizer!r}; a first-order fit takes one of "
                         f"{list(FIRST_ORDER)}")
    arm, found = schema.check_block({"optimizer": optimizer, "inputs": inputs, **settings},
                                    "first_order")
    if found:
        raise schema.invalid(found)
    return arm


def fit_first_order(problem: Problem, ws0, *, arch: Architecture, optimizer="adam",
                    learning_rate=1e-3, epochs=10000, patience=500, progress=None,
                    **options) -> FitResult:
    """Train one fit from the flat weights ``ws0``: :func:`fit_first_order_batch`
    with a batch of one (same settings, same result)."""
    ws0 = check_init(ws0, arch)
    return fit_first_order_batch(problem, ws0[None], arch=arch, optimizer=optimizer,
                                 learning_rate=learning_rate, epochs=epochs,
                                 patience=patience, progress=progress, **options)[0]


def fit_first_order_batch(problem: Problem, ws0, *, arch: Architecture, optimizer="adam",
                          learning_rate=1e-3, epochs=10000, patience=500, progress=None,
                          **options) -> list[FitResult]:
    """Train one fit per row of the ``(B, n_params)`` matrix ``ws0`` (a 1-D vector is
    an error, not one fit: pass ``w[None, :]`` or use :func:`fit_first_order`).

    The settings are those of a first-order arm in the config schema: ``optimizer``,
    ``learning_rate``, ``epochs``, ``patience`` (defaults here: the article's Adam)
    and, in ``options``, ``engine``, ``momentum``, ``loss``, ``chunk``, ``seed``, whose
    defaults are the schema's (compiled, 0, ssq, 250, 0). With ``engine="compiled"``
    the rows train together; ``keras_fit`` runs ``model.fit`` for one row after the
    other (``seed`` seeds Keras before each: its shuffling).

    Each :class:`FitResult` holds the restored best-validation weights (float64), the
    history of the epochs that row ran (columns ``iteration``, ``<loss>_train``,
    ``<loss>_val``, ``time_s``) and the status of the module docstring. Times
    (:class:`FitResult`): a row's ``time_s`` is its own compute, its share of the
    batch: each chunk's seconds are spread evenly over the chunk's epochs and each
    epoch's seconds split over the rows that ran it
    (:func:`secondorder.optim.fit_result.time_shares`); ``batch_wall_s`` is the whole
    batch's wall time, ``batch_size`` its rows and ``compile_s`` the batch's
    compilation, or the few milliseconds of resetting an earlier fit's compiled loop
    (alone, ``B = 1``, ``time_s == batch_wall_s``). ``keras_fit`` runs each
    fit alone: its ``time_s`` is its ``model.fit`` wall time (Keras traces the step in
    the first epoch, so that epoch includes the compilation). ``progress(dict)`` is
    called after every ``chunk`` epochs with the epoch, the rows still running, the
    lowest training and validation loss among them at that epoch and the elapsed time
    (``elapsed_s``, the callback's own time excluded), and per row the epochs run
    (``nit``), its own compute so far (``time_s``), the best-validation weights so far
    (``best_x``) and their validation loss (``best_val_loss``): what an anytime record
    needs. A callback with a true attribute ``improvements`` (an anytime recorder,
    :class:`secondorder.pipeline.anytime.AnytimeRecorder`) also gets, in each report,
    every epoch of the chunk at which a row's best-validation weights changed, in
    order: ``improvements``, a list of ``(row, {"nit": epoch}, time_s, weights)``
    (the weights after that epoch's update, those early stopping keeps; ``time_s``
    the row's own compute at the end of that epoch, the chunk's clock reading spread
    evenly over its epochs). The loop then writes each epoch's weights out as well:
    a copy, the fits are the same bit for bit (tested).
    Malformed input (shapes, dtypes, settings) raises ``ValueError`` saying what was
    expected (:func:`check_problem`, :func:`check_init`, :func:`check_settings`).
    """
    check_problem(problem, arch)
    arm = check_settings(optimizer, problem.inputs, {
        "learning_rate": learning_rate, "epochs": epochs, "patience": patience, **options})
    return train_batch(arm, problem, check_init(ws0, arch, batched=True), arch, progress)


def train_batch(arm, problem: Problem, ws0, arch: Architecture,
                progress=None) -> list[FitResult]:
    """:func:`fit_first_order_batch` for an arm already checked (an
    :class:`secondorder.optim.arms.Arm`, or :func:`check_settings`' result), on a
    problem and ``(B, n_params)`` initial weights already checked: the trainer of the
    optimizer registry."""
    if arm["engine"] == "compiled":
        return run_compiled(arm, problem, ws0, arch, progress)
    _check_loss(arm, arch)
    progress = progress or (lambda info: None)
    return [_run_keras_fit(arm, w0, _float32_data(problem), arch, progress)
            for w0 in np.asarray(ws0).astype(np.float32)]


def run_compiled(arm, problem: Problem, ws0, arch: Architecture, progress=None, *,
                 descent=None, seeds=None) -> list[FitResult]:
    """The compiled engine on a checked arm, problem and ``(B, n_params)`` initial
    weights (float32 from here on), each epoch's update made by ``descent``
    (:class:`FullBatch` by default; :class:`secondorder.optim.minibatch.MiniBatches`),
    ``seeds`` each row's seed of its random draws; every improvement is listed in the
    reports when ``progress`` asks for them (its ``improvements`` attribute)."""
    _check_loss(arm, arch)
    return _run_compiled(arm, np.asarray(ws0).astype(np.float32), _float32_data(problem),
                         arch, progress or (lambda info: None),
                         record=bool(getattr(progress, "improvements", False)),
                         descent=descent or FULL_BATCH, seeds=seeds)


def _check_loss(arm, arch: Architecture) -> None:
    if arm["loss"] == "crossentropy" and arch.output != "softmax":
        raise ValueError(f"the cross-entropy loss needs softmax outputs; the {arch.name} "
                         "perceptron has linear ones (use loss 'ssq')")


def _float32_data(problem: Problem) -> list:
    """Training and validation inputs and targets, float32 (the first-order loops')."""
    return [a.astype(np.float32) for a in
            (problem.x_train, problem.y_train, problem.x_val, problem.y_val)]


def _outcome(arm, *, weights, train_loss, val_loss, time_s, stopped, best_epoch,
             compile_s, batch_wall_s, batch_size, timed_out=False) -> FitResult:
    """One row's :class:`FitResult`; ``time_s`` is its own compute up to each epoch it
    ran (cumulative), ``best_epoch`` is 1-based (0: the initial weights), ``stopped``
    says whether the patience rule fired and ``timed_out`` whether the wall-time budget
    stopped the row while it was still running."""
    loss, n = arm["loss"], len(train_loss)
    history = pd.DataFrame({"iteration": np.arange(1, n + 1), f"{loss}_train": train_loss,
                            f"{loss}_val": val_loss, "time_s": time_s})
    finite = bool(np.isfinite(train_loss).all() and np.isfinite(val_loss).all())
    restored = (f"restored the weights of epoch {best_epoch}" if best_epoch else
                "no epoch had a finite validation loss: kept the initial weights")
    if not finite:
        status = "nan_loss"
        message = f"the loss became NaN or infinite at epoch {n}; training stopped, {restored}"
    elif stopped:
        status = "early_stopping"
        message = (f"validation {LOSS_NAMES[loss]} did not improve for the patience window; "
                   f"stopped after epoch {n}, {restored}")
    elif timed_out:
        status = "max_time"
        message = (f"wall-time budget of {arm['max_time']} s used up after epoch {n}; "
                   f"{restored}")
    else:
        status = "max_iter"
        message = f"epoch budget of {n} used up; {restored}"
    return FitResult(
        weights=np.asarray(weights, dtype=np.float64), history=history, status=status,
        message=message, success=finite, iterations=n, evaluations=n,
        time_s=float(time_s[-1]) if n else 0.0, compile_s=compile_s,
        batch_wall_s=float(batch_wall_s), batch_size=int(batch_size),
        extra={"best_epoch": int(best_epoch)})


def _run_keras_fit(arm, w0, data, arch, progress) -> FitResult:
    import keras

    x, y, xv, yv = data
    chunk = arm["chunk"]
    keras.utils.set_random_seed(arm["seed"])
    model = build_keras_model(arch, dtype="float32")
    set_flat_weights(model, w0, arch)

    class Record(keras.callbacks.Callback):
        """Per-epoch wall time (the fit runs alone: its own compute) and progress lines
        (Keras logs carry the losses)."""

        def on_train_begin(self, logs=None):
            self.start, self.wall = time.perf_counter(), []

        def on_epoch_end(self, epoch, logs=None):
            self.wall.append(time.perf_counter() - self.start)
            if (epoch + 1) % chunk == 0:
                progress({"epoch": epoch + 1, "running": 1,
                          f"{arm['loss']}_train": logs["loss"],
                          f"{arm['loss']}_val": logs["val_loss"], "elapsed_s": self.wall[-1]})

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0,
                                         patience=arm["patience"], mode="min",
                                         restore_best_weights=True)
    record = Record()
    model.compile(loss=LOSSES[arm["loss"]],
                  optimizer=make_optimizer(arm["optimizer"], arm["learning_rate"],
                                           arm["momentum"]))
    hist = model.fit(x=x, y=y, validation_data=(xv, yv), epochs=arm["epochs"],
                     batch_size=len(x), callbacks=[stop, record,
                                                   keras.callbacks.TerminateOnNaN()],
                     verbose=0)
    wall = np.asarray(record.wall)
    return _outcome(arm, weights=get_flat_weights(model), train_loss=np.asarray(
        hist.history["loss"]), val_loss=np.asarray(hist.history["val_loss"]), time_s=wall,
        stopped=stop.stopped_epoch > 0, best_epoch=stop.best_epoch + 1, compile_s=0.0,
        batch_wall_s=wall[-1] if len(wall) else 0.0, batch_size=1)


#: The per-row state of the compiled loop (one entry per row of the batch), then the
#: shared epoch counter; :func:`_compiled_loop` makes them, a compacted batch carries them.
ROW_STATE = ("w", "best", "best_val", "best_epoch", "wait", "active", "patience_out",
             "epochs_run", "seed")

#: A batch is compacted (the stopped rows dropped, the loop compiled again for the rows
#: still running) after a chunk at whose end at most this share of its rows still runs,
#: when that is expected to pay (:func:`_worth_compacting`).
COMPACT_SHARE = 0.5


def _worth_compacting(running: int, rows: int, epoch: int, epochs: int,
                      row_epoch_s: float, compile_s: float) -> bool:
    """Whether to drop the stopped rows of a batch of ``rows`` of which ``running`` still
    run after ``epoch`` of ``epochs`` epochs: at most :data:`COMPACT_SHARE` of them
    run, and the seconds it saves, the dropped rows' ``row_epoch_s`` (measured: a
    chunk's seconds per row and epoch) over the epochs still to come, are at least
    twice a compilation's (``compile_s``, the first one's). How many epochs are still to
    come is not known: rows that ran ``epoch`` epochs are taken to run about as many
    again, within the budget. Compacting never changes a fit, only its cost."""
    to_come = min(epoch, epochs - epoch)
    return (0 < running <= COMPACT_SHARE * rows
            and (rows - running) * to_come * row_epoch_s >= 2 * compile_s)


def _initial_state(ws0, seeds=None) -> dict:
    """The loop's state (:data:`ROW_STATE` and ``epoch``) before the first epoch of the
    rows of ``ws0`` (``seeds``: each row's seed of its descent's random draws, 0 by
    default)."""
    batch = len(ws0)
    return {"w": ws0.copy(), "best": ws0.copy(),
            "best_val": np.full(batch, np.inf, np.float32),
            "best_epoch": np.zeros(batch, np.int32),  # 1-based; 0: the initial weights
            "wait": np.zeros(batch, np.int32), "active": np.ones(batch, bool),
            "patience_out": np.zeros(batch, bool), "epochs_run": np.zeros(batch, np.int32),
            "seed": (np.zeros(batch, np.int32) if seeds is None
                     else np.asarray(seeds, dtype=np.int32)),
            "epoch": np.int32(0)}


def _fresh_slots(arm, shape) -> list:
    """The values of a new Keras optimizer's variables (step count, learning rate,
    moments), built for weights of ``shape``: what a fit starts from."""
    import keras

    opt = make_optimizer(arm["optimizer"], arm["learning_rate"], arm["momentum"])
    opt.build([keras.Variable(np.zeros(shape, np.float32))])
    return [v.numpy() for v in opt.variables]


def _load(variables, opt, state, slots) -> None:
    """Set a compiled loop's variables to ``state`` and its optimizer's to ``slots``
    (:func:`_compiled_loop`'s arguments): the loop then runs from there exactly as one
    built with them."""
    for name, value in state.items():
        variables[name].assign(value)
    for variable, value in zip(opt.variables, slots):
        variable.assign(value)


class FullBatch:
    """The descent of an epoch of the full-batch arms: one optimizer step on the summed
    loss of every training row (the article's Adam). ``key`` names it in a compiled
    loop's graph key; ``build(...)`` returns ``descend(was_active) -> losses``, the
    epoch's update of the loop's weights ``w`` (rows not active left as they were) and
    each row's training loss before it."""

    key = ("full_batch",)

    def build(self, *, w, opt, x, y, loss_fn, arch, epoch, seed):
        def descend(was_active):
            return optimizer_step(w, opt, x, y, loss_fn, arch, was_active)

        return descend


def optimizer_step(w, opt, x, y, loss_fn, arch, was_active):
    """One step of the Keras optimizer ``opt`` on the loop's weights ``w`` ``(B, n)``,
    down the gradient of the summed loss on the rows ``x``, ``y`` (shared ``(N, .)``
    or one set per row ``(B, N, .)``); rows not ``was_active`` are left as they were
    (stopped: frozen). Returns each row's loss before the step (TensorFlow, inside the
    compiled loop)."""
    import tensorflow as tf

    before = tf.identity(w.value)
    with tf.GradientTape() as tape:
        tape.watch(before)
        losses = loss_fn(y, mlp_batch(x, before, arch))
        total = tf.reduce_sum(losses)
    opt.apply_gradients([(tape.gradient(total, before), w)])
    w.assign(tf.where(was_active[:, None], w.value, before))
    return losses


FULL_BATCH = FullBatch()


def _compiled_loop(arm, data, arch, state: dict, slots=None, record: bool = False,
                   descent=FULL_BATCH):
    """The compiled epochs of a batch: its variables (:data:`ROW_STATE` and ``epoch``,
    from the numpy values of ``state``), its Keras optimizer (its slot variables from
    ``slots`` when given: a compacted batch's rows carry their moments and the step
    count on) and ``run_chunk(limit)``, which runs up to ``limit`` epochs of the rows
    still active (at most ``arm["chunk"]``) and returns how many it ran with, per
    epoch and row, the training and validation losses (NaN for the rows not running)
    and whether the row's validation loss improved on its best (the early-stopping
    rule's ``improved``: the weights it keeps), and with ``record`` also every row's
    weights after each epoch's update ``(chunk, B, n)``: only a copy written out, the
    training arithmetic is the same with or without it (tested). ``descent`` makes
    each epoch's update (:class:`FullBatch`, or
    :class:`secondorder.optim.minibatch.MiniBatches`)."""
    import keras
    import tensorflow as tf

    batch, chunk, patience = len(state["w"]), arm["chunk"], arm["patience"]
    x, y, xv, yv = (tf.constant(a) for a in data)
    loss_fn = LOSSES[arm["loss"]]
    w = keras.Variable(state["w"], name="weights")  # a Keras variable, for the optimizer
    opt = make_optimizer(arm["optimizer"], arm["learning_rate"], arm["momentum"])
    opt.build([w])
    for variable, value in zip(opt.variables, slots or ()):
        variable.assign(value)
    best, best_val, best_epoch, wait, active, patience_out, epochs_run, seed, epoch = (
        tf.Variable(state[name]) for name in (*ROW_STATE[1:], "epoch"))
    descend = descent.build(w=w, opt=opt, x=x, y=y, loss_fn=loss_fn, arch=arch, epoch=epoch,
                            seed=seed)

    @tf.function(jit_compile=True)
    def run_chunk(limit):
        # A fixed-size chunk keeps shapes static, so XLA compiles once; ``limit`` cuts
        # the last chunk short.
        arrays = [tf.TensorArray(dtype, size=chunk)
                  for dtype in (tf.float32, tf.float32, tf.bool)]
        if record:
            arrays.append(tf.TensorArray(tf.float32, size=chunk))

        def body(i, *arrays):
            was_active = active.read_value()
            losses = descend(was_active)
            val = loss_fn(yv, mlp_batch(xv, w.value, arch))
            ok = tf.math.is_finite(losses) & tf.math.is_finite(val)
            improved = was_active & ok & (val < best_val)
            best.assign(tf.where(improved[:, None], w.value, best))
            best_val.assign(tf.where(improved, val, best_val))
            best_epoch.assign(tf.where(improved, epoch + 1, best_epoch))
            wait.assign(tf.where(improved, 0, wait + tf.cast(was_active, tf.int32)))
            out = was_active & (wait >= patience) & (epoch > 0)
            patience_out.assign(patience_out | out)
            active.assign(was_active & ok & ~out)
            epochs_run.assign_add(tf.cast(was_active, tf.int32))
            epoch.assign_add(1)
            nan = tf.fill([batch], np.float32(np.nan))
            values = [tf.where(was_active, losses, nan), tf.where(was_active, val, nan),
                      improved, w.value][:len(arrays)]
            return (i + 1, *(a.write(i, v) for a, v in zip(arrays, values)))

        i, *arrays = tf.while_loop(lambda i, *_: (i < limit) & tf.reduce_any(active), body,
                                   (tf.constant(0), *arrays))
        return (i, *(a.stack() for a in arrays))

    variables = dict(zip((*ROW_STATE, "epoch"), (w, best, best_val, best_epoch, wait, active,
                                                 patience_out, epochs_run, seed, epoch)))
    return variables, opt, run_chunk


#: The last compiled loop of a batch's start: ``(key, data, (variables, opt,
#: run_chunk))``. Fits trained one after another with the same graph (same problem,
#: architecture, batch size and settings but the learning rate, a variable of the
#: optimizer) reuse it: its variables and the optimizer's are set to the new fit's
#: start (:func:`_load`), so the fit is the one a new compilation gives, bit for bit
#: (tested), without compiling again.
_LOOP_CACHE: list = []


def _graph_key(arm, arch, batch: int, record: bool, descent) -> tuple:
    """What a compiled loop's graph depends on besides the data (the learning rate is a
    variable, ``epochs`` and ``max_time`` are the host's)."""
    return (arm["optimizer"], arm["loss"], arm.get("momentum", 0.0), arm["patience"],
            arm["chunk"], arch, batch, record, descent.key)


def _start_loop(arm, data, arch, state, record, descent):
    """A compiled loop (:func:`_compiled_loop`) at ``state`` with a new optimizer: the
    cached one when its graph and data are this fit's (:data:`_LOOP_CACHE`), else a new
    compilation (then cached). Returns ``(variables, opt, run_chunk, compiled)``."""
    import tensorflow as tf

    key = _graph_key(arm, arch, len(state["w"]), record, descent)
    if _LOOP_CACHE and _LOOP_CACHE[0] == key and all(
            a.shape == b.shape and np.array_equal(a, b)
            for a, b in zip(_LOOP_CACHE[1], data)):
        variables, opt, run_chunk = _LOOP_CACHE[2]
        _load(variables, opt, state, _fresh_slots(arm, state["w"].shape))
        return variables, opt, run_chunk, False
    variables, opt, run_chunk = _compiled_loop(arm, data, arch, state, record=record,
                                               descent=descent)
    run_chunk(tf.constant(0))  # trace and compile only: a zero-epoch chunk
    _LOOP_CACHE[:] = [key, [a.copy() for a in data], (variables, opt, run_chunk)]
    return variables, opt, run_chunk, True


def _run_compiled(arm, ws0, data, arch, progress, record=False, descent=FULL_BATCH,
                  seeds=None) -> list[FitResult]:
    """The compiled engine (module docstring): chunks of epochs of the whole batch; after
    a chunk that leaves at most :data:`COMPACT_SHARE` of its rows running, when it
    pays (:func:`_worth_compacting`), the batch is compacted to those rows (their
    weights, optimizer moments and step count, best weights and counters carried
    over), so the epochs after it cost what the running rows cost. Rows are
    independent, so a row's arithmetic, and its fit, are the same in any batch (bit
    for bit, tested). Every compilation is timed apart, in ``compile_s``, and kept off
    the batch's clock; a loop compiled for an earlier batch of the same graph is
    reused (:data:`_LOOP_CACHE`).

    Times: the batch's clock is read after each chunk and the chunk's seconds spread
    evenly over its epochs (an epoch inside a chunk gets an interpolated time); each
    epoch's seconds are split over the rows that ran it
    (:func:`secondorder.optim.fit_result.clock_shares`; alone, a fit's time is the
    clock itself). With ``record`` every progress report also lists the chunk's
    improvements (:func:`fit_first_order_batch`). ``descent`` makes each epoch's update
    (:class:`FullBatch`), ``seeds`` seeds each row's random draws (mini-batches)."""
    import tensorflow as tf

    batch, chunk, epochs = len(ws0), arm["chunk"], arm["epochs"]
    # each row's state (the running rows' as of the last compaction)
    final = _initial_state(ws0, seeds)
    rows = np.arange(batch)  # the batch row of each row of the loop
    t0 = time.perf_counter()
    variables, opt, run_chunk, _ = _start_loop(arm, data, arch, final, record, descent)
    compile_s = first_compile_s = time.perf_counter() - t0
    train_loss, val_loss, wall, own = [], [], [], []
    start, off_clock = time.perf_counter(), 0.0  # compilations after the start: off it
    max_time, timed_out = arm.get("max_time"), False
    def epoch():
        return int(variables["epoch"].numpy())

    while bool(tf.reduce_any(variables["active"])) and epoch() < epochs:
        if max_time is not None and wall and wall[-1] >= max_time:
            timed_out = True
            break
        first = epoch()
        i, tl, vl, improved, *weights = run_chunk(tf.constant(min(chunk, epochs - first)))
        n = int(i)
        elapsed = time.perf_counter() - start - off_clock
        previous = wall[-1] if wall else 0.0
        # The batch's clock is read per chunk and spread evenly over its epochs.
        clock = np.linspace(previous, elapsed, n + 1)[1:]
        wall.extend(clock)
        for out, part in ((train_loss, tl), (val_loss, vl)):
            full = np.full((n, batch), np.nan, np.float32)
            full[:, rows] = part.numpy()[:n]
            out.append(full)
        running = variables["active"].numpy()
        anytime = {name: final[name].copy() for name in ("epochs_run", "best", "best_val")}
        for name in anytime:
            anytime[name][rows] = variables[name].numpy()
        # rows stop for good: row b ran epochs 0 .. epochs_run[b] - 1
        ran = first + np.arange(n)[:, None] < anytime["epochs_run"][None, :]
        own.append(clock_shares(clock, ran, start=previous,
                                before=own[-1][-1] if own else np.zeros(batch)))
        info = {"epoch": epoch(), "running": int(running.sum()),
                f"{arm['loss']}_train": float(np.fmin.reduce(train_loss[-1][-1])),
                f"{arm['loss']}_val": float(np.fmin.reduce(val_loss[-1][-1])),
                "elapsed_s": elapsed, "time_s": own[-1][-1].copy(),
                "nit": anytime["epochs_run"], "best_x": anytime["best"],
                "best_val_loss": anytime["best_val"]}
        if record:
            better, after = improved.numpy()[:n], weights[0].numpy()[:n]
            info["improvements"] = [
                (int(rows[r]), {"nit": first + j + 1}, float(own[-1][j, rows[r]]),
                 after[j, r].copy()) for j, r in zip(*np.nonzero(better))]
        told = time.perf_counter()
        progress(info)
        off_clock += time.perf_counter() - told  # the callback's time is nobody's compute
        if _worth_compacting(int(running.sum()), len(rows), epoch(), epochs,
                             (elapsed - previous) / (n * len(rows)), first_compile_s):
            tic = time.perf_counter()
            state = {name: variables[name].numpy() for name in (*ROW_STATE, "epoch")}
            for name in ROW_STATE:
                final[name][rows] = state[name]
            slots = [v.numpy()[running] if v.shape == variables["w"].shape else v.numpy()
                     for v in opt.variables]
            rows = rows[running]
            state = {name: value if name == "epoch" else value[running]
                     for name, value in state.items()}
            variables, opt, run_chunk = _compiled_loop(arm, data, arch, state, slots,
                                                       record, descent)
            run_chunk(tf.constant(0))
            spent = time.perf_counter() - tic
            compile_s += spent
            off_clock += spent
            log.info("epoch %d: %d of %d rows still running; the batch goes on with them "
                     "alone (compiled in %.1f s)", epoch(), len(rows), batch, spent)
    for name in ROW_STATE:
        final[name][rows] = variables[name].numpy()
    train_loss, val_loss = np.concatenate(train_loss), np.concatenate(val_loss)
    wall = np.asarray(wall)
    runs, stopped = final["epochs_run"], final["patience_out"]
    cut = final["active"] & timed_out  # rows still running when the time ran out
    # each row's own compute, cumulated per epoch (rows stop for good: row b's first
    # runs[b] epochs)
    shares = np.concatenate(own) if own else np.zeros((0, batch))
    return [_outcome(arm, weights=final["best"][b], train_loss=train_loss[:runs[b], b],
                     val_loss=val_loss[:runs[b], b], time_s=shares[:runs[b], b],
                     stopped=bool(stopped[b]), best_epoch=int(final["best_epoch"][b]),
                     compile_s=compile_s, batch_wall_s=wall[-1], batch_size=batch,
                     timed_out=bool(cut[b]))
            for b in range(batch)]
