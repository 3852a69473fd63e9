"""models/backprop.py: the hand-derived backward pass against jax.grad (every hidden activation,
every paired output, four depths), against centred finite differences, against the notes'
six equations written out in numpy, and the perceptron as a gradient step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.activations import GRADIENT_ACTIVATIONS, step
from models.backprop import backward, loss, loss_and_hand_grads
from models.gradcheck import finite_difference_grads
from models.network import forward, init_params

N_X = 3
M = 20
OUTPUTS = ("sigmoid", "identity", "step")
DEPTHS = {
    "1-layer": (N_X, 1),
    "2-layer": (N_X, 4, 1),
    "3-layer": (N_X, 5, 3, 1),
    "5-layer": (N_X, 3, 3, 3, 3, 1),
}


pytestmark = pytest.mark.usefixtures("float64")  # tests/conftest.py


def rel_error(a, b):
    """‖a - b‖ / (‖a‖ + ‖b‖), 0 where both are 0 (written here, independent of models.gradcheck)."""
    a, b = np.ravel(np.asarray(a)), np.ravel(np.asarray(b))
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denominator == 0 else np.linalg.norm(a - b) / denominator


def make_problem(layer_sizes, output, seed=0, dtype=jnp.float64):
    """Float64 params with non-zero biases, inputs X (n_x, m) and labels Y (1, m) fit for `output`."""
    k_params, k_bias, k_x, k_y = jax.random.split(jax.random.key(seed), 4)
    params = init_params(k_params, layer_sizes, scheme="xavier", dtype=dtype)
    bias_keys = jax.random.split(k_bias, len(layer_sizes) - 1)
    for l in range(1, len(layer_sizes)):
        params[f"b{l}"] = 0.3 * jax.random.normal(bias_keys[l - 1], (layer_sizes[l], 1), dtype)
    X = jax.random.normal(k_x, (layer_sizes[0], M), dtype)
    if output == "identity":
        Y = jax.random.normal(k_y, (1, M), dtype)
    else:
        Y = (jax.random.uniform(k_y, (1, M)) < 0.5).astype(dtype)
    return params, X, Y


def hand_and_autodiff(params, X, Y, hidden, output, slope=0.01):
    value, hand = loss_and_hand_grads(params, X, Y, hidden, output, slope)
    auto = jax.grad(loss)(params, X, Y, hidden, output, slope)
    return value, hand, auto


@pytest.mark.parametrize("depth", list(DEPTHS))
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", GRADIENT_ACTIVATIONS)
def test_hand_grads_match_jax_grad(hidden, output, depth):
    params, X, Y = make_problem(DEPTHS[depth], output)
    value, hand, auto = hand_and_autodiff(params, X, Y, hidden, output)
    assert set(hand) == set(params)
    for name in params:
        assert hand[name].shape == params[name].shape, name
        assert hand[name].dtype == jnp.float64, name
        assert rel_error(hand[name], auto[name]) < 1e-10, (name, rel_error(hand[name], auto[name]))
    # a test that compares two all-zero gradients would prove nothing
    assert sum(np.linalg.norm(np.asarray(g)) for g in auto.values()) > 1e-6
    np.testing.assert_allclose(value, loss(params, X, Y, hidden, output), rtol=1e-14)


@pytest.mark.parametrize("slope", [0.0, 0.1, 0.3, jnp.asarray(0.2)])
def test_leaky_relu_slope_reaches_the_backward_pass(slope):
    params, X, Y = make_problem(DEPTHS["3-layer"], "sigmoid", seed=3)
    _, hand, auto = hand_and_autodiff(params, X, Y, "leaky_relu", "sigmoid", slope)
    for name in params:
        assert rel_error(hand[name], auto[name]) < 1e-10, name
    # and the slope matters: the default slope would give different first-layer gradients
    _, default_hand, _ = hand_and_autodiff(params, X, Y, "leaky_relu", "sigmoid")
    assert rel_error(hand["W1"], default_hand["W1"]) > 1e-6


@pytest.mark.parametrize("hidden", GRADIENT_ACTIVATIONS)
def test_hand_grads_match_jax_grad_at_the_kink(hidden):
    """An all-zero input column and zero biases put every Z[l] of that example exactly at 0,
    where relu and leaky ReLU have a kink; the hand convention must be jax.grad's."""
    params, X, Y = make_problem((N_X, 4, 4, 1), "sigmoid", seed=5)
    params = {k: (jnp.zeros_like(v) if k.startswith("b") else v) for k, v in params.items()}
    X = X.at[:, :3].set(0.0)
    cache = forward(params, X, hidden, "sigmoid")
    assert jnp.all(cache.Z[1][:, 0] == 0.0)
    _, hand, auto = hand_and_autodiff(params, X, Y, hidden, "sigmoid")
    for name in params:
        assert rel_error(hand[name], auto[name]) < 1e-10, name


@pytest.mark.parametrize("depth", ["2-layer", "3-layer"])
@pytest.mark.parametrize("output", ["sigmoid", "identity"])
@pytest.mark.parametrize("hidden", GRADIENT_ACTIVATIONS)
def test_hand_grads_match_finite_differences(hidden, output, depth):
    params, X, Y = make_problem(DEPTHS[depth], output, seed=1)
    _, hand = loss_and_hand_grads(params, X, Y, hidden, output)
    numeric = finite_difference_grads(lambda p: loss(p, X, Y, hidden, output), params)
    flat = lambda g: np.concatenate([np.ravel(np.asarray(g[k])) for k in sorted(params)])
    assert rel_error(flat(hand), flat(numeric)) < 1e-6
    for name in params:
        assert rel_error(hand[name], numeric[name]) < 1e-6, name


G_PRIME_NUMPY = {
    "sigmoid": lambda z: (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z))),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "relu": lambda z: (z > 0).astype(float),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.01),
    "identity": lambda z: np.ones_like(z),
}
G_NUMPY = {
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "identity": lambda z: z,
}


@pytest.mark.parametrize("hidden", GRADIENT_ACTIVATIONS)
def test_two_layer_case_is_the_notes_six_equations(hidden):
    assert set(G_PRIME_NUMPY) == set(GRADIENT_ACTIVATIONS)
    params, X, Y = make_problem((N_X, 4, 1), "sigmoid", seed=2)
    W1, b1, W2, b2 = (np.asarray(params[k]) for k in ("W1", "b1", "W2", "b2"))
    X_, Y_ = np.asarray(X), np.asarray(Y)
    m = X_.shape[1]

    # forward, as in the notes
    Z1 = W1 @ X_ + b1
    A1 = G_NUMPY[hidden](Z1)
    Z2 = W2 @ A1 + b2
    A2 = 1 / (1 + np.exp(-Z2))
    # backward, the six equations
    dZ2 = A2 - Y_
    dW2 = 1 / m * dZ2 @ A1.T
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = W2.T @ dZ2 * G_PRIME_NUMPY[hidden](Z1)
    dW1 = 1 / m * dZ1 @ X_.T
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)

    _, hand = loss_and_hand_grads(params, X, Y, hidden, "sigmoid")
    for name, want in dict(W1=dW1, b1=db1, W2=dW2, b2=db2).items():
        np.testing.assert_allclose(hand[name], want, rtol=1e-12, atol=1e-15, err_msg=name)
    # `backward` from a cache gives the same as loss_and_hand_grads
    cache = forward(params, X, hidden, "sigmoid")
    for name, g in backward(params, cache, Y, hidden).items():
        np.testing.assert_array_equal(g, hand[name])


def separable_2d(m=40, margin=0.15, seed=0):
    """2-D points in [-1, 1]² labelled by a line 1.5 x1 - x2 + 0.2 > 0, kept only outside a margin."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1, 1, size=(4 * m, 2))
    score = points @ np.array([1.5, -1.0]) + 0.2
    keep = np.abs(score) / np.hypot(1.5, 1.0) > margin
    points, score = points[keep][:m], score[keep][:m]
    X = points.T
    Y = (score > 0).astype(float)[None, :]
    assert 0 < Y.sum() < m  # both classes present
    return jnp.asarray(X), jnp.asarray(Y)


def test_perceptron_hand_grad_is_the_perceptron_rule():
    X, Y = separable_2d()
    m = X.shape[1]
    params = {
        "W1": jnp.asarray([[-0.4, 0.9]]),
        "b1": jnp.asarray([[0.1]]),
    }
    _, hand = loss_and_hand_grads(params, X, Y, "relu", "step")  # hidden unused: no hidden layer
    y_hat = np.asarray(step(params["W1"] @ X + params["b1"]))
    assert np.any(y_hat != np.asarray(Y))  # some mistakes, so the gradient is not trivially 0
    np.testing.assert_allclose(hand["W1"], (y_hat - np.asarray(Y)) @ np.asarray(X).T / m, rtol=1e-14)
    np.testing.assert_allclose(hand["b1"], np.sum(y_hat - np.asarray(Y), axis=1, keepdims=True) / m)

    # one gradient step W -= lr dW is the (batch) perceptron rule w <- w + lr/m Σ (y - ŷ) x
    lr = 0.5
    w, b = np.asarray(params["W1"]).copy(), np.asarray(params["b1"]).copy()
    for i in range(m):
        x_i = np.asarray(X)[:, i : i + 1]
        error = np.asarray(Y)[0, i] - y_hat[0, i]  # 0 when right, ±1 when wrong
        w = w + lr / m * error * x_i.T
        b = b + lr / m * error
    np.testing.assert_allclose(params["W1"] - lr * hand["W1"], w, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(params["b1"] - lr * hand["b1"], b, rtol=1e-13, atol=1e-15)


def test_perceptron_trained_by_gradient_steps_separates_separable_data():
    X, Y = separable_2d(m=40)
    params = {"W1": jnp.zeros((1, 2)), "b1": jnp.zeros((1, 1))}
    lr, max_steps = 1.0, 2000

    @jax.jit
    def train_step(params):
        _, grads = loss_and_hand_grads(params, X, Y, "relu", "step")
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

    def accuracy(params):
        return float(jnp.mean(step(params["W1"] @ X + params["b1"]) == Y))

    assert accuracy(params) < 1.0
    for steps in range(max_steps):
        if accuracy(params) == 1.0:
            break
        params = train_step(params)
    assert accuracy(params) == 1.0, f"not separated after {max_steps} steps"
    value, grads = loss_and_hand_grads(params, X, Y, "relu", "step")
    assert value == 0.0
    assert all(jnp.all(g == 0.0) for g in grads.values())  # separated: the rule stops moving


def test_hand_grads_keep_float32_with_a_float64_slope():
    params, X, Y = make_problem(DEPTHS["3-layer"], "sigmoid", dtype=jnp.float32)
    slope = jnp.asarray(0.05, jnp.float64)
    value, hand = loss_and_hand_grads(params, X, Y, "leaky_relu", "sigmoid", slope)
    assert value.dtype == jnp.float32
    assert all(g.dtype == jnp.float32 for g in hand.values())


@pytest.mark.parametrize("output", ["relu", "tanh", "leaky_relu", "softmax"])
def test_unpaired_output_is_refused(output):
    params, X, Y = make_problem(DEPTHS["2-layer"], "sigmoid")
    with pytest.raises(ValueError, match="paired"):
        loss_and_hand_grads(params, X, Y, "tanh", output)
