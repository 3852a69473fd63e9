"""models/network.py: parameter shapes and initial scales, the forward pass against the notes'
equations written out in numpy, and the notes' "why a non-linear activation" argument."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.network import forward, init_params, layer_sizes_of, num_layers, predict


pytestmark = pytest.mark.usefixtures("float64")  # tests/conftest.py


LAYER_SIZES = [(2, 1), (2, 4, 1), (3, 5, 5, 1)]


@pytest.mark.parametrize("layer_sizes", LAYER_SIZES)
def test_init_params_shapes_and_zero_biases(layer_sizes):
    params = init_params(jax.random.key(0), layer_sizes)
    L = len(layer_sizes) - 1
    assert set(params) == {f"{p}{l}" for l in range(1, L + 1) for p in "Wb"}
    for l in range(1, L + 1):
        assert params[f"W{l}"].shape == (layer_sizes[l], layer_sizes[l - 1])
        assert params[f"b{l}"].shape == (layer_sizes[l], 1)
        assert jnp.all(params[f"b{l}"] == 0.0)
        assert jnp.any(params[f"W{l}"] != 0.0)


@pytest.mark.parametrize("layer_sizes", LAYER_SIZES)
def test_layer_sizes_round_trip(layer_sizes):
    params = init_params(jax.random.key(0), layer_sizes)
    assert num_layers(params) == len(layer_sizes) - 1
    assert layer_sizes_of(params) == tuple(layer_sizes)


def test_init_dtype_is_honoured():
    params = init_params(jax.random.key(0), (3, 4, 1), dtype=jnp.float32)
    assert all(p.dtype == jnp.float32 for p in params.values())
    params = init_params(jax.random.key(0), (3, 4, 1), dtype=jnp.float64)
    assert all(p.dtype == jnp.float64 for p in params.values())


def test_init_layers_are_not_copies_of_each_other():
    """Each layer gets its own key: two equal-shaped layers get different weights."""
    params = init_params(jax.random.key(0), (5, 5, 5, 1), scheme="xavier")
    assert not jnp.allclose(params["W1"], params["W2"])


N_IN, N_OUT = 400, 500  # 200 000 weights: the sample std is good to well under 1 %


@pytest.mark.parametrize(
    "scheme, kwargs, expected_std",
    [
        ("small", {}, 0.01),
        ("small", {"scale": 0.1}, 0.1),
        ("xavier", {}, math.sqrt(1.0 / N_IN)),
        ("he", {}, math.sqrt(2.0 / N_IN)),
    ],
)
def test_init_scale(scheme, kwargs, expected_std):
    params = init_params(jax.random.key(42), (N_IN, N_OUT, 1), scheme=scheme, **kwargs)
    W1 = np.asarray(params["W1"])
    assert abs(W1.std() / expected_std - 1.0) < 0.03
    assert abs(W1.mean()) < 0.03 * expected_std
    # the second layer's fan-in is N_OUT
    if scheme in ("xavier", "he"):
        fan_in_factor = {"xavier": 1.0, "he": 2.0}[scheme]
        W2 = np.asarray(params["W2"])  # only 500 samples: looser
        assert abs(W2.std() / math.sqrt(fan_in_factor / N_OUT) - 1.0) < 0.15


def test_unknown_init_scheme_raises():
    with pytest.raises(ValueError, match="glorot"):
        init_params(jax.random.key(0), (2, 3, 1), scheme="glorot")


@pytest.mark.parametrize("layer_sizes", LAYER_SIZES)
def test_forward_cache_shapes(layer_sizes):
    m = 23
    params = init_params(jax.random.key(0), layer_sizes)
    X = jax.random.normal(jax.random.key(1), (layer_sizes[0], m))
    cache = forward(params, X, "tanh", "sigmoid")
    L = len(layer_sizes) - 1
    assert len(cache.Z) == len(cache.A) == L + 1
    assert cache.Z[0] is None
    np.testing.assert_array_equal(cache.A[0], X)
    assert cache.A[0].shape == X.shape
    for l in range(1, L + 1):
        assert cache.Z[l].shape == (layer_sizes[l], m)
        assert cache.A[l].shape == (layer_sizes[l], m)
    np.testing.assert_array_equal(predict(params, X, "tanh", "sigmoid"), cache.A[L])


def test_forward_equals_the_notes_two_layer_equations():
    """Z1 = W1 X + b1, A1 = tanh(Z1), Z2 = W2 A1 + b2, A2 = sigmoid(Z2), written out in numpy."""
    rng = np.random.default_rng(0)
    n_x, n_h, m = 3, 4, 20
    W1, b1 = rng.normal(size=(n_h, n_x)), rng.normal(size=(n_h, 1))
    W2, b2 = rng.normal(size=(1, n_h)), rng.normal(size=(1, 1))
    X = rng.normal(size=(n_x, m))

    Z1 = W1 @ X + b1
    A1 = np.tanh(Z1)
    Z2 = W2 @ A1 + b2
    A2 = 1.0 / (1.0 + np.exp(-Z2))

    params = {k: jnp.asarray(v) for k, v in dict(W1=W1, b1=b1, W2=W2, b2=b2).items()}
    cache = forward(params, jnp.asarray(X), "tanh", "sigmoid")
    for got, want in zip(cache.Z[1:] + cache.A[1:], (Z1, Z2, A1, A2)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "hidden, output, g_hidden, g_output",
    [
        ("relu", "identity", lambda z: np.maximum(z, 0.0), lambda z: z),
        ("sigmoid", "step", lambda z: 1 / (1 + np.exp(-z)), lambda z: (z > 0).astype(float)),
        ("leaky_relu", "sigmoid", lambda z: np.where(z > 0, z, 0.01 * z), lambda z: 1 / (1 + np.exp(-z))),
    ],
)
def test_forward_uses_hidden_activation_below_and_output_activation_on_top(hidden, output, g_hidden, g_output):
    rng = np.random.default_rng(1)
    sizes, m = (2, 3, 3, 1), 17
    params = {}
    for l in range(1, len(sizes)):
        params[f"W{l}"] = rng.normal(size=(sizes[l], sizes[l - 1]))
        params[f"b{l}"] = rng.normal(size=(sizes[l], 1))
    X = rng.normal(size=(sizes[0], m))
    A = X
    for l in range(1, len(sizes)):
        g = g_output if l == len(sizes) - 1 else g_hidden
        A = g(params[f"W{l}"] @ A + params[f"b{l}"])
    jparams = {k: jnp.asarray(v) for k, v in params.items()}
    np.testing.assert_allclose(predict(jparams, jnp.asarray(X), hidden, output), A, rtol=1e-12, atol=1e-14)


def test_identity_hidden_layers_collapse_to_one_linear_layer():
    """The notes' argument for non-linear activations: with g = identity a 3-layer network is
    W = W3 W2 W1, b = W3 (W2 b1 + b2) + b3, a single linear layer."""
    key_params, key_bias, key_x = jax.random.split(jax.random.key(7), 3)
    sizes = (4, 6, 5, 1)
    params = init_params(key_params, sizes, scheme="xavier", dtype=jnp.float64)
    # non-zero biases, or the b-formula would be tested only trivially
    bias_keys = jax.random.split(key_bias, 3)
    for l in (1, 2, 3):
        params[f"b{l}"] = jax.random.normal(bias_keys[l - 1], (sizes[l], 1))
    X = jax.random.normal(key_x, (sizes[0], 30))

    W1, W2, W3 = (params[f"W{l}"] for l in (1, 2, 3))
    b1, b2, b3 = (params[f"b{l}"] for l in (1, 2, 3))
    W = W3 @ W2 @ W1
    b = W3 @ (W2 @ b1 + b2) + b3

    deep = forward(params, X, "identity", "identity")
    one_layer = forward({"W1": W, "b1": b}, X, "identity", "identity")
    assert W.shape == (1, 4) and b.shape == (1, 1)
    np.testing.assert_allclose(deep.Z[-1], one_layer.Z[-1], rtol=1e-12, atol=1e-12)

    # ... and the argument really needs the identity: with tanh the collapse no longer holds.
    nonlinear = forward(params, X, "tanh", "identity")
    assert not np.allclose(nonlinear.Z[-1], one_layer.Z[-1], atol=1e-3)
