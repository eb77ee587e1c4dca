"""Train a Keras model by Levenberg-Marquardt on sum-of-squares residuals."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .jacobian import per_sample_jacobian
from .result import LMResult
from .solver import least_squares


def fit_keras(model, inputs, targets, *, validation_data=None, **options) -> LMResult:
    """Fit ``model``'s trainable weights to minimise ``sum((model(x) - y)**2)``.

    The trainable weights, in ``model.trainable_variables`` order, each flattened
    row-major, form one float64 parameter vector ``w``; the residuals are
    ``model(x) - y`` flattened row-major, computed with
    ``model.stateless_call(weights(w), non_trainable, x)`` (TensorFlow backend) so
    the weights are explicit tensors, and the Jacobian is
    :func:`.per_sample_jacobian`. The trained weights are written back into the
    model. ``options`` go to :func:`.least_squares`; ``validation_data=(x, y)``
    becomes its ``validation``.

    The model should be float64 (e.g. ``dtype="float64"`` on its layers): then the
    residuals are exact to float64 and the trajectory matches ``least_squares`` on
    the same function. A lower-precision model is run with its weights cast from
    float64 and its outputs cast back, so LM sees residuals rounded to that
    precision and stalls at its level.

    Single-input models only (``inputs`` one array of shape ``(N, ...)``).
    """
    if not model.built:
        raise ValueError("model must be built (call it once or give it an Input) "
                         "so that its weights exist")
    trainable = list(model.trainable_variables)
    if not trainable:
        raise ValueError("model has no trainable weights")
    non_trainable = [tf.convert_to_tensor(v.value) for v in model.non_trainable_variables]
    shapes = [tuple(v.shape) for v in trainable]
    sizes = [int(np.prod(shape)) for shape in shapes]
    dtypes = [tf.as_dtype(v.dtype) for v in trainable]

    def weights(w):
        parts = tf.split(w, sizes)
        return [tf.cast(tf.reshape(p, s), d) for p, s, d in zip(parts, shapes, dtypes)]

    def predict(w, x):
        outputs, _ = model.stateless_call(weights(w), non_trainable, x)
        return tf.cast(outputs, tf.float64)

    def residual_fn(x, y):
        x = tf.constant(np.asarray(x, dtype=np.float64))
        y = tf.constant(np.asarray(y, dtype=np.float64))
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"inputs and targets need the same number of samples, got "
                             f"{x.shape[0]} and {y.shape[0]}")
        return x, (lambda w: tf.reshape(predict(w, x) - y, [-1]))

    x, residuals = residual_fn(inputs, targets)
    validation = None
    if validation_data is not None:
        _, validation = residual_fn(*validation_data)
    jacobian = per_sample_jacobian(lambda w, x_i: predict(w, x_i[None])[0], x)
    w0 = np.concatenate([np.asarray(v.value, dtype=np.float64).reshape(-1)
                         for v in trainable])
    result = least_squares(residuals, w0, jac=jacobian, validation=validation,
                           **options)
    for variable, value in zip(trainable, weights(tf.constant(result.x))):
        variable.assign(value)
    return result
