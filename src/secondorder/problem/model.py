"""The article's 2-25-2 perceptron: weight packing, numpy, TensorFlow and Keras forms.

The article keeps all weights in one flat vector ``ws`` of
``(nin + 1) * nhid + (nhid + 1) * nout`` numbers (127 for 2-25-2). The first
``(nin + 1) * nhid`` are reshaped in Fortran order into a ``(nin + 1, nhid)`` matrix,
the rest into ``(nhid + 1, nout)``; in each matrix the last row is the bias. Hidden
units are logistic sigmoids and the outputs a softmax.

The multi-dataset suite needs a second hidden layer and linear outputs (regression):
:class:`Architecture` has both, and the packing goes on layer by layer the same way
(one Fortran-order ``(fan_in + 1, fan_out)`` block per layer, bias in the last row), so
the article's 2-25-2 vector is unchanged.

Every representation here (numpy, a pure-TensorFlow function of the flat vector, a
Keras model) maps to and from that vector exactly, so all arms start from the same
``shared_init``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Output layers: ``softmax`` (classification, the article's) or ``linear`` (regression).
OUTPUTS = ("softmax", "linear")


@dataclass(frozen=True)
class Architecture:
    """Layer sizes of a perceptron with one hidden layer of ``nhid`` sigmoid units, or
    two when ``nhid2 > 0``, and ``nout`` softmax or linear outputs."""

    nin: int = 2
    nhid: int = 25
    nout: int = 2
    nhid2: int = 0
    output: str = "softmax"

    def __post_init__(self):
        for name in ("nin", "nhid", "nout"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.nhid2, (int, np.integer)) or self.nhid2 < 0:
            raise ValueError(f"nhid2 must be a non-negative integer (0: one hidden layer), "
                             f"got {self.nhid2!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {list(OUTPUTS)}, got {self.output!r}")

    @property
    def layers(self) -> list[tuple[int, int]]:
        """``(fan_in, fan_out)`` of each dense layer, input to output."""
        widths = [self.nin, self.nhid] + ([self.nhid2] if self.nhid2 else []) + [self.nout]
        return list(zip(widths[:-1], widths[1:]))

    @property
    def name(self) -> str:
        """``nin-nhid[-nhid2]-nout``, with `` linear`` for linear outputs."""
        sizes = "-".join(str(b) for _, b in self.layers)
        return f"{self.nin}-{sizes}" + ("" if self.output == "softmax" else " linear")

    @property
    def n_params(self) -> int:
        """All weights and biases, ``sum (fan_in + 1) * fan_out`` over the layers
        (``(nin + 1) * nhid + (nhid + 1) * nout`` with one hidden layer)."""
        return sum((a + 1) * b for a, b in self.layers)


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
            f"{arch.name} perceptron, got shape {ws.shape}")
    if not np.issubdtype(ws.dtype, np.floating):
        raise ValueError(f"weights must be floating point, got dtype {ws.dtype}")
    return ws


def blocks(ws, arch: Architecture = ARTICLE) -> list[np.ndarray]:
    """The flat vector as the article reads it: one Fortran-order ``(fan_in + 1,
    fan_out)`` block per layer (views of ``ws``), the bias in the last row."""
    ws = check_flat(ws, arch)
    out, start = [], 0
    for fan_in, fan_out in arch.layers:
        size = (fan_in + 1) * fan_out
        out.append(np.reshape(ws[start:start + size], (fan_in + 1, fan_out), order="F"))
        start += size
    return out


def unpack(ws, arch: Architecture = ARTICLE) -> tuple:
    """``(kernel, bias)`` of each layer, flattened: ``(w_hid, b_hid, w_out, b_out)`` for
    one hidden layer (Keras' ``get_weights`` order); see :func:`blocks`."""
    return tuple(a for block in blocks(ws, arch) for a in (block[:-1, :], block[-1, :]))


def pack(*kernels_and_biases) -> np.ndarray:
    """Inverse of :func:`unpack`: the flat vector from Keras-shaped arrays
    ``kernel_1, bias_1, kernel_2, bias_2, ...``."""
    if len(kernels_and_biases) % 2:
        raise ValueError("pack takes (kernel, bias) pairs, one per layer")
    blocks = [np.vstack([np.asarray(kernel), np.asarray(bias)[None, :]]).ravel(order="F")
              for kernel, bias in zip(kernels_and_biases[::2], kernels_and_biases[1::2])]
    return np.concatenate(blocks)


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
    """The article's ``mlp``: outputs ``(n, nout)`` for inputs ``x`` ``(n, nin)`` (class
    probabilities with softmax outputs).

    ``stable=True`` uses the max-shifted softmax and silences the harmless overflow of
    ``exp`` in the sigmoid (large weights, as a diverged optimizer leaves them).
    """
    out = np.asarray(x, dtype=float)
    layers = blocks(ws, arch)
    for k, block in enumerate(layers):
        # the article's form: a column of ones appended, times the (fan_in + 1) block
        out = np.matmul(np.hstack((out, np.ones((out.shape[0], 1)))), block)
        if k < len(layers) - 1:
            with np.errstate(over="ignore" if stable else "warn"):
                out = sigmoid(out)
    return softmax(out, stable) if arch.output == "softmax" else out


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

    batch, start, out = tf.shape(w)[0], 0, x
    for k, (fan_in, fan_out) in enumerate(arch.layers):
        size = (fan_in + 1) * fan_out
        block = tf.transpose(tf.reshape(w[:, start:start + size], (batch, fan_out, fan_in + 1)),
                             (0, 2, 1))
        out = tf.matmul(out, block[:, :-1]) + block[:, -1:, :]
        start += size
        if k < len(arch.layers) - 1:
            out = tf.sigmoid(out)
    return tf.nn.softmax(out) if arch.output == "softmax" else out


def build_keras_model(arch: Architecture = ARTICLE, dtype: str = "float32"):
    """The article's Keras model: ``Dense(nhid, sigmoid) [-> Dense(nhid2, sigmoid)] ->
    Dense(nout, softmax or linear)``.

    With ``dtype="float64"`` call the model directly (``model(x)``): ``predict`` and
    ``fit`` cast numpy inputs to Keras' ``floatx`` (float32) first.
    """
    import keras

    inp = out = keras.Input(shape=(arch.nin,), dtype=dtype)
    for k, (_, fan_out) in enumerate(arch.layers):
        last = k == len(arch.layers) - 1
        activation = (arch.output if arch.output == "softmax" else None) if last else "sigmoid"
        out = keras.layers.Dense(fan_out, activation=activation, dtype=dtype)(out)
    return keras.Model(inputs=inp, outputs=out)


def set_flat_weights(model, ws, arch: Architecture = ARTICLE) -> None:
    """Load the flat vector into a model from :func:`build_keras_model` (``set_weights``
    order: hidden kernel, hidden bias, output kernel, output bias)."""
    model.set_weights(list(unpack(ws, arch)))


def get_flat_weights(model) -> np.ndarray:
    """The flat vector of a model from :func:`build_keras_model` (inverse of
    :func:`set_flat_weights`), in the model's dtype."""
    return pack(*model.get_weights())



def mlp_layers(x, ws, arch: Architecture = ARTICLE, layers=None):
    """The forward pass layer by layer: ``(inputs, z)``, the input of each layer
    (``x``, then the hidden activations) and the last layer's pre-activations. Each
    layer is ``a @ kernel + bias`` (the Keras/TensorFlow form, not the article's
    appended column of ones: the same numbers to rounding). ``layers``: the
    :func:`blocks` of ``ws``, when the caller has them."""
    layers = blocks(ws, arch) if layers is None else layers
    inputs, a = [], np.asarray(x, dtype=float)
    for k, block in enumerate(layers):
        inputs.append(a)
        z = a @ block[:-1] + block[-1]
        if k < len(layers) - 1:
            with np.errstate(over="ignore"):
                a = sigmoid(z)
    return inputs, z


def output_activation(z, arch: Architecture = ARTICLE) -> np.ndarray:
    """The output layer: a stable softmax (with two outputs in the form ``p_1 = 1 / (1 +
    exp(z_2 - z_1))``, ``p_2 = 1 - p_1``: the same function, fewer operations) or linear."""
    if arch.output != "softmax":
        return z
    if z.shape[1] == 2:
        with np.errstate(over="ignore"):
            first = 1.0 / (1.0 + np.exp(z[:, 1] - z[:, 0]))
        return np.stack([first, 1.0 - first], axis=1)
    return softmax(z, stable=True)


@dataclass
class Forward:
    """One forward pass of the perceptron at ``ws``: its layer blocks (views of
    ``ws``), each layer's input, the last layer's pre-activations ``z`` and the outputs
    ``out``; what :func:`mlp_jacobian` back-propagates through."""

    layers: list
    inputs: list
    z: np.ndarray
    out: np.ndarray


def mlp_forward(x, ws, arch: Architecture = ARTICLE) -> Forward:
    """The :class:`Forward` pass of ``ws`` on ``x`` (:func:`mlp_layers`,
    :func:`output_activation`)."""
    layers = blocks(ws, arch)
    inputs, z = mlp_layers(x, ws, arch, layers)
    return Forward(layers, inputs, z, output_activation(z, arch))


def mlp_outputs(x, ws, arch: Architecture = ARTICLE) -> np.ndarray:
    """The perceptron's outputs ``(N, nout)``: :func:`mlp_numpy` with ``stable=True``, to
    rounding."""
    return mlp_forward(x, ws, arch).out


#: Below this many inputs (or units) a layer's Jacobian block is written one column at
#: a time: numpy's broadcast product into a strided view is slow along a short axis.
SHORT_AXIS = 8


def mlp_jacobian(x, ws, arch: Architecture = ARTICLE, outputs=None,
                 forward: Forward | None = None):
    """The perceptron's outputs and their Jacobian in closed form (numpy): ``(out, jac)``
    with ``out`` ``(N, nout)`` as :func:`mlp_outputs` and ``jac`` ``(N, k, n_params)``,
    ``jac[s, o, q] = d out[s, keep[o]] / d ws[q]`` for the ``k`` kept outputs.

    Back-propagation layer by layer for ``k`` output cotangents at once: at the output,
    ``d out_o / d z_c`` is ``p_o (delta_oc - p_c)`` (softmax) or ``delta_oc``
    (linear); a layer with inputs ``a`` (and the bias input 1) and output cotangents
    ``g`` has the weight block ``g_j a_i`` at parameter ``offset + i + (fan_in + 1) j``
    (the Fortran packing of :func:`blocks`), and passes ``(g W^T) * a (1 - a)`` to the
    layer below (sigmoid units). ``outputs`` (indices or a slice) keeps only those
    outputs, and back-propagates only them (e.g. ``[0]`` for the article's paired
    softmax residuals). ``forward``: the :class:`Forward` pass of ``ws`` on ``x``, when
    the caller has it (it is not computed again).
    """
    forward = mlp_forward(x, ws, arch) if forward is None else forward
    layers, inputs, z, out = forward.layers, forward.inputs, forward.z, forward.out
    n, nout = z.shape
    keep = np.arange(nout) if outputs is None else np.arange(nout)[outputs]
    k = len(keep)
    if arch.output == "softmax":
        grad = out[:, keep, None] * (np.eye(nout)[keep][None] - out[:, None, :])
    else:
        out = z
        grad = np.broadcast_to(np.eye(nout)[keep], (n, k, nout))
    grad = grad.reshape(n * k, nout)  # one row per (sample, kept output)
    jac = np.empty((n * k, arch.n_params))
    offset, shapes = arch.n_params, arch.layers
    for layer in range(len(layers) - 1, -1, -1):
        a, (fan_in, fan_out) = inputs[layer], shapes[layer]
        if k > 1:
            a = np.repeat(a, k, axis=0)
        offset -= (fan_in + 1) * fan_out
        block = jac[:, offset:offset + (fan_in + 1) * fan_out].reshape(
            n * k, fan_out, fan_in + 1)  # a view: Fortran packing, unit j then input i
        block[:, :, fan_in] = grad
        if fan_in <= SHORT_AXIS:  # a loop over a short axis keeps each product long
            for i in range(fan_in):
                np.multiply(grad, a[:, i, None], out=block[:, :, i])
        elif fan_out <= SHORT_AXIS:
            for j in range(fan_out):
                np.multiply(a, grad[:, j, None], out=block[:, j, :fan_in])
        else:
            np.multiply(grad[:, :, None], a[:, None, :], out=block[:, :, :fan_in])
        if layer:
            grad = (grad @ layers[layer][:-1].T) * (a * (1.0 - a))
    return out, jac.reshape(n, k, arch.n_params)
