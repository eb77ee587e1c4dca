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
