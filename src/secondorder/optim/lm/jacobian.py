"""Jacobians of residual functions by TensorFlow automatic differentiation.

Plain TensorFlow functions, compiled by :class:`.providers.TFProvider`:

* :func:`autodiff_jacobian`, for any residual function: forward mode (one
  Jacobian-vector product per parameter, batched with ``tf.vectorized_map``) when
  there are at least as many residuals as parameters, reverse mode
  (``GradientTape.jacobian`` with ``pfor``) otherwise. Measured under XLA on the
  article's 800 x 127 problem (2-core CPU): forward ~8 ms, reverse ~58 ms, because
  reverse mode back-propagates every one of the 800 rows through the whole batch.
* :func:`per_sample_jacobian`, when residuals are ``fn(w, x_i) - y_i`` sample by
  sample: reverse mode on one sample's few outputs, vectorised over samples
  (~0.5-0.7 ms on the same problem). This is the fast path for networks.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf


def autodiff_jacobian(residuals: Callable, num_residuals: int,
                      num_params: int) -> Callable:
    """Return ``w -> J(w)``, the ``(m, n)`` Jacobian ``dr_i/dw_j`` of ``residuals``.

    Forward mode when ``m >= n`` (``n`` tangents), reverse mode otherwise (``m``
    cotangents): the cheaper number of passes.
    """
    if num_residuals >= num_params:
        def jacobian(w):
            def jvp(tangent):
                with tf.autodiff.ForwardAccumulator(w, tangent) as acc:
                    r = residuals(w)
                return acc.jvp(r)
            basis = tf.eye(num_params, dtype=w.dtype)
            return tf.transpose(tf.vectorized_map(jvp, basis))
    else:
        def jacobian(w):
            with tf.GradientTape() as tape:
                tape.watch(w)
                r = residuals(w)
            return tape.jacobian(r, w, experimental_use_pfor=True)
    return jacobian


def per_sample_jacobian(fn: Callable, inputs) -> Callable:
    """Return ``w -> J(w)`` for residuals built sample by sample.

    ``fn(w, x_i)`` maps the flat parameters and one input row ``x_i`` (a slice
    ``inputs[i]``) to that sample's outputs (any shape, ``k`` numbers). The residual
    vector is ``(fn(w, X) - Y).reshape(-1)`` in row-major order, so its rows
    ``i*k .. i*k+k-1`` belong to sample ``i``; the returned Jacobian has shape
    ``(N * k, n)`` in the same order. Each sample's ``(k, n)`` block is one reverse
    pass per output, and ``tf.vectorized_map`` batches the samples.
    """
    inputs = tf.convert_to_tensor(inputs)

    def jacobian(w):
        def sample_jacobian(x_i):
            with tf.GradientTape() as tape:
                tape.watch(w)
                out = tf.reshape(fn(w, x_i), [-1])
            return tape.jacobian(out, w, experimental_use_pfor=True)
        blocks = tf.vectorized_map(sample_jacobian, inputs)
        return tf.reshape(blocks, [-1, tf.shape(w)[0]])
    return jacobian


def rowwise_autodiff_jacobian(residuals: Callable, num_residuals: int,
                              num_params: int) -> Callable:
    """``W -> (B, m, n)``: :func:`autodiff_jacobian` of each row's residuals, for
    batched ``residuals`` ``W (B, n) -> (B, m)`` whose row ``b`` depends on ``W[b]``
    only."""
    def one_row(w):
        return residuals(tf.expand_dims(w, 0))[0]

    one = autodiff_jacobian(one_row, num_residuals, num_params)

    def jacobian(W):
        return tf.vectorized_map(one, W)
    return jacobian
