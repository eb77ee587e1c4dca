"""Mini-batch Adam with a cosine learning-rate schedule: the rival a referee asks for.

The full-batch arms take one step per epoch on the summed loss of every training row
(the article's Adam). This one takes ``floor(N / b)`` steps per epoch, each on the
summed loss of ``b`` training rows (``batch_size``; ``b = N`` when ``N < b``), in an
order drawn anew every epoch (a random permutation of the rows; the last ``N mod b``
rows of it sit that epoch out, PyTorch's ``drop_last``, so every step has ``b`` rows and
one compilation serves every step). The learning rate of epoch ``e`` (0-based) follows
a cosine from ``learning_rate`` (``lr_0``) down to ``final_fraction`` of it (``a``) over
``decay_epochs`` (``T``) epochs and stays there after (Loshchilov & Hutter 2017, "SGDR:
Stochastic gradient descent with warm restarts", ICLR, eq. 5 without restarts; Keras'
``CosineDecay`` with ``alpha = a``):

    lr_e = lr_0 (a + (1 - a) (1 + cos(pi min(e, T) / T)) / 2).

Everything else is the compiled first-order loop's
(:mod:`secondorder.optim.first_order`): Keras' Adam, XLA, the validation loss after
every epoch and Keras' early-stopping rule (``patience``, the best-validation weights
restored), ``max_time``, progress reports with every improvement. The epoch's
training loss (the history's ``<loss>_train``) is the sum of its steps' mini-batch
losses, each at the weights before that step (what Keras reports, summed rather than
averaged).

Reproducibility: epoch ``e``'s permutation of row ``b`` is drawn by TensorFlow's
counter-based generator from the key ``(seed_b, e)``
(``tf.random.stateless_uniform``, then ``argsort``); ``seed_b`` comes from the arm's
``seed`` and the fit's initial weights (:func:`fit_seed`), so a fit draws the same
mini-batches wherever it runs and every init its own. A fit is the same bit for bit
from run to run (tested).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from secondorder.optim.fit_result import FitResult
from secondorder.problem.data import Problem
from secondorder.problem.model import Architecture


def cosine_learning_rate(epoch, learning_rate: float, final_fraction: float,
                         decay_epochs: int):
    """The learning rate of ``epoch`` (0-based, numbers or an array): the cosine of the
    module docstring, ``final_fraction * learning_rate`` from ``decay_epochs`` on."""
    done = np.minimum(np.asarray(epoch, dtype=float), decay_epochs) / decay_epochs
    return learning_rate * (final_fraction + (1.0 - final_fraction) * 0.5 * (
        1.0 + np.cos(np.pi * done)))


def fit_seed(seed: int, w0) -> int:
    """The seed of a fit's mini-batch draws: the arm's ``seed`` mixed with a checksum
    (CRC-32) of its float32 initial weights, as a non-negative int32."""
    return (zlib.crc32(np.asarray(w0, dtype=np.float32).tobytes()) ^ int(seed)) & 0x7FFFFFFF


@dataclass(frozen=True)
class MiniBatches:
    """The descent of a mini-batch epoch (the module docstring), for the compiled
    first-order loop (:class:`secondorder.optim.first_order.FullBatch` is the full-batch
    one): ``batch_size`` rows per step out of ``rows`` training rows, the cosine
    schedule's ``learning_rate``, ``final_fraction`` and ``decay_epochs``."""

    rows: int
    batch_size: int
    learning_rate: float
    final_fraction: float
    decay_epochs: int

    @property
    def size(self) -> int:
        """Rows per step: ``batch_size``, or every row when there are fewer."""
        return min(self.batch_size, self.rows)

    @property
    def steps(self) -> int:
        """Optimizer steps per epoch: ``floor(rows / size)``."""
        return self.rows // self.size

    @property
    def key(self) -> tuple:
        return ("minibatch", self.rows, self.batch_size, self.learning_rate,
                self.final_fraction, self.decay_epochs)

    def build(self, *, w, opt, x, y, loss_fn, arch, epoch, seed):
        """``descend(was_active) -> losses``: one epoch of ``steps`` Adam steps of the
        loop's weights ``w`` (rows not active left as they were), the epoch's learning
        rate set first; ``losses`` per row, the sum of the steps' mini-batch losses."""
        import tensorflow as tf

        from secondorder.optim.first_order import optimizer_step

        size, steps, batch = self.size, self.steps, int(w.shape[0])
        rate_0, fraction = np.float32(self.learning_rate), np.float32(self.final_fraction)
        decay = float(self.decay_epochs)

        def rate(e):
            done = tf.minimum(tf.cast(e, tf.float32), decay) / decay
            cosine = 0.5 * (1.0 + tf.cos(np.pi * done))
            return rate_0 * (fraction + (1.0 - fraction) * cosine)

        def descend(was_active):
            opt.learning_rate.assign(rate(epoch))
            order = tf.stack([tf.argsort(tf.random.stateless_uniform(
                [self.rows], seed=tf.stack([seed[b], epoch])), stable=True)
                for b in range(batch)])  # (B, rows): each row's permutation

            def step(s, total):
                rows = tf.slice(order, [0, s * size], [batch, size])  # (B, size)
                losses = optimizer_step(w, opt, tf.gather(x, rows), tf.gather(y, rows),
                                        loss_fn, arch, was_active)
                return s + 1, total + losses

            _, total = tf.while_loop(lambda s, _: s < steps, step,
                                     (tf.constant(0), tf.zeros([batch], tf.float32)))
            return total

        return descend


def train_batch(arm, problem: Problem, W0, arch: Architecture,
                progress=None) -> list[FitResult]:
    """Train the mini-batch Adam ``arm`` (checked, defaults filled in: ``learning_rate``,
    ``final_fraction``, ``decay_epochs``, ``batch_size``, ``epochs``,
    ``patience``, ``chunk``, ``seed``, ``loss``, ``max_time``) from every row of
    ``W0`` ``(B, n_params)`` in the compiled first-order loop; one
    :class:`FitResult` per row, as
    :func:`secondorder.optim.first_order.fit_first_order_batch` gives them (history,
    statuses, times, progress reports)."""
    from secondorder.optim.first_order import run_compiled

    descent = MiniBatches(len(problem.x_train), int(arm["batch_size"]),
                          float(arm["learning_rate"]), float(arm["final_fraction"]),
                          int(arm["decay_epochs"]))
    engine = {**arm, "optimizer": "adam", "momentum": 0.0}  # Keras' Adam does the steps
    return run_compiled(engine, problem, W0, arch, progress, descent=descent,
                        seeds=[fit_seed(arm["seed"], w0) for w0 in W0])
