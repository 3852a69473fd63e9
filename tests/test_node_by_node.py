"""models/node_by_node.py: the 2-layer network node by node equals the vectorised forward pass."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.activations import sigmoid
from models.network import forward, init_params
from models.node_by_node import layer, output_node_by_node, output_one_example, sigmoid_scalar, unit


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def test_one_unit_is_w_transpose_x_plus_b():
    assert unit([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], 0.5) == 1 * 4 + 2 * 5 + 3 * 6 + 0.5


@pytest.mark.parametrize("z", [-800.0, -10.0, 0.0, 1e-3, 10.0, 800.0])
def test_sigmoid_scalar_is_the_vectorised_sigmoid_without_overflow(z):
    assert sigmoid_scalar(z) == pytest.approx(float(sigmoid(jnp.float64(z))), rel=1e-15, abs=1e-300)
    assert math.isfinite(sigmoid_scalar(z))


def test_a_layer_is_one_unit_per_row():
    W, b, x = [[1.0, 0.0], [0.0, -1.0]], [[0.0], [2.0]], [3.0, 4.0]
    assert layer(W, b, x) == [sigmoid_scalar(3.0), sigmoid_scalar(-2.0)]


@pytest.mark.parametrize("n_x, hidden, m", [(3, 4, 1), (3, 4, 7), (2, 5, 30)])
def test_node_by_node_equals_the_vectorised_forward_pass(n_x, hidden, m):
    params = init_params(jax.random.key(0), (n_x, hidden, 1), scheme="xavier", dtype=jnp.float64)
    X = jnp.asarray(np.random.default_rng(1).standard_normal((n_x, m)))
    vectorised = forward(params, X, "sigmoid", "sigmoid").A[-1]  # (1, m)
    as_lists = {k: v.tolist() for k, v in params.items()}
    by_node = output_node_by_node(as_lists, X.tolist())
    assert len(by_node) == m
    np.testing.assert_allclose(by_node, vectorised[0], rtol=0, atol=1e-15)
    assert output_one_example(as_lists, X[:, 0].tolist()) == by_node[0]
