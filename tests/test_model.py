"""The perceptron in its numpy, TensorFlow and Keras forms, all from one flat vector."""

import numpy as np
import pytest
import tensorflow as tf

import article_reference as ref
from secondorder.problem import model


@pytest.fixture(scope="module")
def points():
    return ref.spiral_data(500)[:, :2]


def test_numpy_forward_is_the_articles(points):
    ws = model.init_weights(3)
    assert np.array_equal(model.mlp_numpy(points, ws), ref.mlp(points, ws, 25, 2))


def test_pack_unpack_round_trip_other_sizes():
    arch = model.Architecture(3, 7, 4)
    ws = model.init_weights(0, arch)
    assert ws.shape == (arch.n_params,) == ((3 + 1) * 7 + (7 + 1) * 4,)
    w_hid, b_hid, w_out, b_out = model.unpack(ws, arch)
    assert w_hid.shape == (3, 7) and b_hid.shape == (7,)
    assert w_out.shape == (7, 4) and b_out.shape == (4,)
    assert np.array_equal(model.pack(w_hid, b_hid, w_out, b_out), ws)


def test_keras_mapping_is_exact_float64():
    ws = model.init_weights(1)
    keras_model = model.build_keras_model(dtype="float64")
    model.set_flat_weights(keras_model, ws)
    assert np.array_equal(model.get_flat_weights(keras_model), ws)
    _, keras_ref = ref.initial_weights()
    for mine, theirs in zip(keras_model.get_weights(), keras_ref):
        assert np.array_equal(mine, theirs)


def test_keras_mapping_float32_is_the_cast():
    ws = model.init_weights(1)
    keras_model = model.build_keras_model(dtype="float32")
    model.set_flat_weights(keras_model, ws)
    flat = model.get_flat_weights(keras_model)
    assert flat.dtype == np.float32 and np.array_equal(flat, ws.astype(np.float32))


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-9), ("float32", 1e-6)])
def test_keras_forward_equals_articles_mlp(points, dtype, tol):
    ws = model.init_weights(1) * 30  # large weights: a non-trivial function
    keras_model = model.build_keras_model(dtype=dtype)
    model.set_flat_weights(keras_model, ws)
    expected = ref.mlp(points.astype(dtype).astype(float),
                       ws.astype(dtype).astype(float), 25, 2)
    # call the model: predict() would cast numpy inputs to Keras' floatx (float32)
    got = keras_model(points.astype(dtype)).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=tol)


def test_tf_forward_equals_articles_mlp(points):
    ws = model.init_weights(2) * 30
    got = model.mlp_batch(tf.constant(points), tf.constant(ws[None])).numpy()[0]
    np.testing.assert_allclose(got, ref.mlp(points, ws, 25, 2), rtol=0, atol=1e-14)
    single = model.mlp_batch(tf.constant(points[7:8]), tf.constant(ws[None])).numpy()[0, 0]
    np.testing.assert_allclose(single, got[7], rtol=0, atol=1e-15)


@pytest.mark.parametrize("bad", [np.zeros(126), np.zeros((127, 1)), np.zeros(127, dtype=int)])
def test_wrong_weight_vectors_are_rejected(bad):
    with pytest.raises(ValueError, match="expected|floating"):
        model.unpack(bad)


def test_architecture_rejects_nonpositive_sizes():
    with pytest.raises(ValueError, match="nhid"):
        model.Architecture(2, 0, 2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batched_forward_and_gradient_are_the_keras_models_bit_for_bit(dtype):
    """Row b of mlp_batch, and the SSQ gradient, equal the Keras model holding w[b]
    exactly (compiled, as the first-order loop runs them): why a fit does not depend
    on the batch it trains in."""
    spiral = ref.spiral_data(500)
    x, y = (tf.constant(a.astype(dtype)) for a in (spiral[:80, :2], spiral[:80, 2:]))
    W = np.stack([model.init_weights(s) * 10 for s in (1, 2, 3)]).astype(dtype)

    @tf.function(jit_compile=True)
    def batched(w):
        with tf.GradientTape() as tape:
            tape.watch(w)
            p = model.mlp_batch(x, w)
            loss = tf.reduce_sum(tf.square(y - p))
        return p, tape.gradient(loss, w)

    p, grad = (t.numpy() for t in batched(tf.constant(W)))
    assert p.shape == (3, 80, 2)
    for b, w in enumerate(W):
        keras_model = model.build_keras_model(dtype=dtype)
        model.set_flat_weights(keras_model, w)

        @tf.function(jit_compile=True)
        def alone():
            with tf.GradientTape() as tape:
                q = keras_model(x)
                loss = tf.reduce_sum(tf.square(y - q))
            return q, tape.gradient(loss, keras_model.trainable_variables)

        q, g = alone()
        assert np.array_equal(p[b], q.numpy())
        assert np.array_equal(grad[b], model.pack(*[v.numpy() for v in g]))
        np.testing.assert_allclose(p[b], ref.mlp(spiral[:80, :2], w.astype(float), 25, 2),
                                   rtol=0, atol=1e-6 if dtype == "float32" else 1e-14)


DEEP = [model.Architecture(3, 7, 4, nhid2=5),
        model.Architecture(3, 6, 2, nhid2=4, output="linear"),
        model.Architecture(2, 5, 1, output="linear")]


@pytest.mark.parametrize("arch", DEEP, ids=lambda a: a.name)
def test_deeper_and_linear_perceptrons_agree_in_every_form(arch):
    """Two hidden layers and linear outputs (the suite): the flat vector packs layer by
    layer; numpy, the batched TensorFlow pass and Keras give the same outputs, and
    linear outputs are not normalised."""
    sizes = [(a + 1) * b for a, b in arch.layers]
    ws = model.init_weights(2, arch, -1.0, 1.0)
    assert ws.shape == (arch.n_params,) == (sum(sizes),)
    arrays = model.unpack(ws, arch)
    assert [a.shape for a in arrays[::2]] == [(a, b) for a, b in arch.layers]
    assert np.array_equal(model.pack(*arrays), ws)
    x = np.random.default_rng(0).normal(size=(11, arch.nin))
    # by hand: the article's recipe, one (fan_in + 1, fan_out) Fortran block per layer
    out, start = x, 0
    for k, (a, b) in enumerate(arch.layers):
        block = ws[start:start + (a + 1) * b].reshape((a + 1, b), order="F")
        out = np.hstack([out, np.ones((len(out), 1))]) @ block
        start += (a + 1) * b
        if k < len(arch.layers) - 1:
            out = 1 / (1 + np.exp(-out))
    if arch.output == "softmax":
        out = np.exp(out) / np.exp(out).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.mlp_numpy(x, ws, arch), out, rtol=1e-13, atol=1e-15)
    batch = model.mlp_batch(tf.constant(x), tf.constant(np.stack([ws, -ws])), arch).numpy()
    np.testing.assert_allclose(batch[0], out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(batch[1], model.mlp_numpy(x, -ws, arch), rtol=1e-12,
                               atol=1e-14)
    keras_model = model.build_keras_model(arch, dtype="float64")
    model.set_flat_weights(keras_model, ws, arch)
    assert np.array_equal(model.get_flat_weights(keras_model), ws)
    np.testing.assert_allclose(keras_model(x).numpy(), out, rtol=1e-12, atol=1e-14)
    if arch.output == "linear":
        assert not np.allclose(out.sum(axis=1), 1.0)


def test_architecture_names_and_bad_layers():
    assert model.ARTICLE.name == "2-25-2" and model.ARTICLE.n_params == 127
    assert model.Architecture(4, 10, 3, nhid2=8).name == "4-10-8-3"
    assert model.Architecture(4, 10, 1, output="linear").name == "4-10-1 linear"
    with pytest.raises(ValueError, match="nhid2 must be a non-negative integer"):
        model.Architecture(2, 5, 2, nhid2=-1)
    with pytest.raises(ValueError, match="output must be one of"):
        model.Architecture(2, 5, 2, output="tanh")
