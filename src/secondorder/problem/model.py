"""The article's 2-25-2 perceptron: weight packing, numpy, TensorFlow and Keras forms.

The article keeps all weights in one flat vector ``ws`` of
``(nin + 1) * nhid + (nhid + 1) * nout`` numbers (127 for 2-25-2). The first
``(nin + 1) * nhid`` are reshaped in Fortran order into a ``(nin + 1, nhid)`` matrix,
the rest into ``(nhid + 1, nout)``; in each matrix the last row is the bias. Hidden
units are logistic sigmoids and the outputs a softmax.

Every representation here (numpy, a pure-TensorFlow function of the flat vector, a
Keras model) maps to and from that vector exactly, so all arms start from the same
``shared_init``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Architecture:
    """Layer sizes of a one-hidden-layer perceptron."""

    nin: int = 2
    nhid: int = 25
    nout: int = 2

    def __post_init__(self):
        for name in ("nin", "nhid", "nout"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @property
    def n_hidden_params(self) -> int:
        """Weights and biases into the hidden layer, ``(nin + 1) * nhid``."""
        return (self.nin + 1) * self.nhid

    @property
    def n_params(self) -> int:
        """All weights and biases, ``(nin + 1) * nhid + (nhid + 1) * nout``."""
        return self.n_hidden_params + (self.nhid + 1) * self.nout


ARTICLE = Architecture(2, 25, 2)


def init_weights(seed: int, arch: Architecture = ARTICLE, low: float = -0.1,
                 high: float = 0.1) -> np.ndarray:
    """The article's initial weights: ``np.random.seed(seed)`` then
    ``np.random.uniform(low, high, n_params)`` (seed 1 is the article's ``ws_init``)."""
    if not low < high:
        raise ValueError(f"init bounds need low < high, got low={low!r}, high={high!r}")
    np.random.seed(seed)
    return np.random.uniform(low, high, arch.n_params)


def check_flat(ws, arch: Architecture = ARTICLE) -> np.ndarray:
    """Return ``ws`` as a 1-D float array, or raise ``ValueError`` saying what was expected."""
    ws = np.asarray(ws)
    if ws.ndim != 1 or ws.shape[0] != arch.n_params:
        raise ValueError(
            f"expected a flat weight vector of {arch.n_params} numbers for a "
            f"{arch.nin}-{arch.nhid}-{arch.nout} perceptron, got shape {ws.shape}")
    if not np.issubdtype(ws.dtype, np.floating):
        raise ValueError(f"weights must be floating point, got dtype {ws.dtype}")
    return ws


def unpack(ws, arch: Architecture = ARTICLE):
    """Split the flat vector into ``(w_hid, b_hid, w_out, b_out)`` as the article does:
    Fortran-order ``(nin+1, nhid)`` and ``(nhid+1, nout)`` blocks, bias in the last row."""
    ws = check_flat(ws, arch)
    k = arch.n_hidden_params
    w_hid = np.reshape(ws[:k], (arch.nin + 1, arch.nhid), order="F")
    w_out = np.reshape(ws[k:], (arch.nhid + 1, arch.nout), order="F")
    return w_hid[:-1, :], w_hid[-1, :], w_out[:-1, :], w_out[-1, :]


def pack(w_hid, b_hid, w_out, b_out) -> np.ndarray:
    """Inverse of :func:`unpack`: the flat vector from the four Keras-shaped arrays."""
    hid = np.vstack([np.asarray(w_hid), np.asarray(b_hid)[None, :]])
    out = np.vstack([np.asarray(w_out), np.asarray(b_out)[None, :]])
    return np.concatenate([hid.ravel(order="F"), out.ravel(order="F")])


def sigmoid(z):
    """Logistic function ``1 / (1 + exp(-z))``."""
    return 1 / (1 + np.exp(-z))


def softmax(z, stable: bool = False):
    """Row-wise softmax. ``stable=False`` is the article's formula (no max shift: it
    overflows for large activations); ``stable=True`` subtracts each row's maximum
    first (the same function, safe for any weights)."""
    if stable:
        z = z - np.max(z, axis=1, keepdims=True)
    ez = np.exp(z)
    return ez / np.atleast_2d(np.sum(ez, axis=1)).T


def mlp_numpy(x, ws, arch: Architecture = ARTICLE, stable: bool = False) -> np.ndarray:
    """The article's ``mlp``: class probabilities ``(n, nout)`` for inputs ``x`` ``(n, nin)``.

    ``stable=True`` uses the max-shifted softmax and silences the harmless overflow of
    ``exp`` in the sigmoid (large weights, as a diverged optimizer leaves them).
    """
    x = np.asarray(x, dtype=float)
    ws = check_flat(ws, arch)
    k = arch.n_hidden_params
    w_hid = np.reshape(ws[:k], (arch.nin + 1, arch.nhid), order="F")
    w_out = np.reshape(ws[k:], (arch.nhid + 1, arch.nout), order="F")
    x = np.hstack((x, np.ones((x.shape[0], 1))))
    with np.errstate(over="ignore" if stable else "warn"):
        hid = sigmoid(np.matmul(x, w_hid))
    hid = np.hstack((hid, np.ones((hid.shape[0], 1))))
    return softmax(np.matmul(hid, w_out), stable)


def ssq(y_true, y_pred):
    """Sum of squared errors, the loss every arm of the article minimises."""
    return float(np.sum((np.asarray(y_true) - np.asarray(y_pred)) ** 2))


# --- TensorFlow ---------------------------------------------------------------------

def mlp_batch(x, w, arch: Architecture = ARTICLE):
    """The perceptron in TensorFlow for ``B`` flat weight rows at once: class
    probabilities ``(B, N, nout)`` of the rows of ``w`` ``(B, n_params)`` on the inputs
    ``x`` ``(N, nin)`` that they share. The package's one TensorFlow forward pass (one
    weight vector ``w`` is the batch ``w[None]``).

    Each layer is the Keras ``Dense`` layer's arithmetic, ``matmul`` then bias: ``x``
    times the stacked ``(B, in, out)`` kernels (``tf.matmul`` broadcasts ``x`` over the
    rows). Row ``b``'s outputs and gradients are then, bit for bit, those of
    :func:`build_keras_model` holding ``w[b]`` (float32 and float64; an ``einsum``
    rounds the gradient differently), which is what lets a first-order fit run as a
    batch of one (:mod:`secondorder.optim.first_order`).
    """
    import tensorflow as tf

    batch = tf.shape(w)[0]
    k = arch.n_hidden_params
    w_hid = tf.transpose(tf.reshape(w[:, :k], (batch, arch.nhid, arch.nin + 1)), (0, 2, 1))
    w_out = tf.transpose(tf.reshape(w[:, k:], (batch, arch.nout, arch.nhid + 1)), (0, 2, 1))
    hid = tf.sigmoid(tf.matmul(x, w_hid[:, :-1]) + w_hid[:, -1:, :])
    return tf.nn.softmax(tf.matmul(hid, w_out[:, :-1]) + w_out[:, -1:, :])


def build_keras_model(arch: Architecture = ARTICLE, dtype: str = "float32"):
    """The article's Keras model: ``Dense(nhid, sigmoid) -> Dense(nout, softmax)``.

    With ``dtype="float64"`` call the model directly (``model(x)``): ``predict`` and
    ``fit`` cast numpy inputs to Keras' ``floatx`` (float32) first.
    """
    import keras

    inp = keras.Input(shape=(arch.nin,), dtype=dtype)
    hid = keras.layers.Dense(arch.nhid, activation="sigmoid", dtype=dtype)(inp)
    out = keras.layers.Dense(arch.nout, activation="softmax", dtype=dtype)(hid)
    return keras.Model(inputs=inp, outputs=out)


def set_flat_weights(model, ws, arch: Architecture = ARTICLE) -> None:
    """Load the flat vector into a model from :func:`build_keras_model` (``set_weights``
    order: hidden kernel, hidden bias, output kernel, output bias)."""
    model.set_weights(list(unpack(ws, arch)))


def get_flat_weights(model) -> np.ndarray:
    """The flat vector of a model from :func:`build_keras_model` (inverse of
    :func:`set_flat_weights`), in the model's dtype."""
    return pack(*model.get_weights())
