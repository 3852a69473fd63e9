"""models/gradcheck.py: the relative-error measure, centred finite differences on a function
whose gradient is known, and that check_gradients catches (and locates) a wrong gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.backprop import loss, loss_and_hand_grads
from models.gradcheck import (
    GradCheck,
    check_gradients,
    finite_difference_grads,
    per_parameter_relative_error,
    relative_error,
    tree_relative_error,
)
from models.network import init_params


pytestmark = pytest.mark.usefixtures("float64")  # tests/conftest.py


def random_vector(seed, n=13):
    return jax.random.normal(jax.random.key(seed), (n,))


def test_relative_error_of_two_zero_vectors_is_zero():
    zeros = jnp.zeros(5)
    value = relative_error(zeros, zeros)
    assert value == 0.0
    assert jnp.isfinite(value)


def test_relative_error_of_equal_vectors_is_zero():
    a = random_vector(0)
    assert relative_error(a, a) == 0.0
    assert relative_error(a, jnp.array(a)) == 0.0


def test_relative_error_of_a_and_minus_a_is_one():
    a = random_vector(1)
    np.testing.assert_allclose(relative_error(a, -a), 1.0, rtol=1e-14)


def test_relative_error_against_zero_is_one():
    a = random_vector(2)
    np.testing.assert_allclose(relative_error(a, jnp.zeros_like(a)), 1.0, rtol=1e-14)


def test_relative_error_is_symmetric_and_matches_the_formula():
    a, b = random_vector(3), random_vector(4)
    np.testing.assert_allclose(relative_error(a, b), relative_error(b, a), rtol=1e-15)
    a_, b_ = np.asarray(a), np.asarray(b)
    expected = np.linalg.norm(a_ - b_) / (np.linalg.norm(a_) + np.linalg.norm(b_))
    np.testing.assert_allclose(relative_error(a, b), expected, rtol=1e-13)
    assert 0.0 < float(relative_error(a, b)) <= 1.0


def test_relative_error_flattens_any_shape():
    a = jax.random.normal(jax.random.key(5), (3, 4))
    b = a + 1e-3
    np.testing.assert_allclose(relative_error(a, b), relative_error(a.ravel(), b.ravel()), rtol=1e-15)


def test_tree_and_per_parameter_relative_error():
    a = {"W1": random_vector(6, 6).reshape(2, 3), "b1": jnp.ones((2, 1))}
    b = {"W1": a["W1"], "b1": 2.0 * jnp.ones((2, 1))}
    per = per_parameter_relative_error(a, b)
    assert per["W1"] == 0.0
    np.testing.assert_allclose(per["b1"], 1.0 / 3.0, rtol=1e-14)
    flat_a = np.concatenate([np.ravel(a["W1"]), np.ravel(a["b1"])])
    flat_b = np.concatenate([np.ravel(b["W1"]), np.ravel(b["b1"])])
    expected = np.linalg.norm(flat_a - flat_b) / (np.linalg.norm(flat_a) + np.linalg.norm(flat_b))
    np.testing.assert_allclose(tree_relative_error(a, b), expected, rtol=1e-13)


def test_finite_differences_of_a_quadratic_return_theta():
    """J(θ) = Σ θ² / 2 has gradient θ; centred differences are exact for it up to rounding."""
    params = {
        "W1": jax.random.normal(jax.random.key(7), (3, 4)),
        "b1": jax.random.normal(jax.random.key(8), (3, 1)),
    }
    quadratic = lambda p: sum(jnp.sum(v**2) for v in jax.tree_util.tree_leaves(p)) / 2
    grads = finite_difference_grads(quadratic, params)
    assert set(grads) == set(params)
    for name in params:
        assert grads[name].shape == params[name].shape
        np.testing.assert_allclose(grads[name], params[name], rtol=1e-7, atol=1e-8)


def test_finite_differences_handle_more_params_than_one_chunk():
    """More than 256 elements, so lax.map runs in several chunks plus a remainder."""
    theta = {"W": jax.random.normal(jax.random.key(9), (600,))}
    cubic = lambda p: jnp.sum(p["W"] ** 3) / 3  # gradient θ²
    grads = finite_difference_grads(cubic, theta)
    np.testing.assert_allclose(grads["W"], theta["W"] ** 2, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("chunk", [1, 7, 25, 26, 1000])
def test_finite_differences_are_the_same_in_chunks_or_all_at_once(chunk):
    """26 elements: in chunks of 1 or 7 (a loop plus a remainder), 25 (one chunk plus one),
    26 or more (one vmap): the same 2·P evaluations, the same numbers up to rounding (XLA may
    order a batched sum differently, and the division by 2ε magnifies the last bits)."""
    params = {"W": jax.random.normal(jax.random.key(13), (5, 4)), "b": jax.random.normal(jax.random.key(14), (6,))}
    cubic = lambda p: sum(jnp.sum(v**3) for v in jax.tree_util.tree_leaves(p)) / 3
    reference = finite_difference_grads(cubic, params, chunk=1)
    grads = finite_difference_grads(cubic, params, chunk=chunk)
    for name in params:
        # JAX 0.12 orders one small sum differently: 6e-10 apart in absolute terms.
        np.testing.assert_allclose(grads[name], reference[name], rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(grads[name], params[name] ** 2, rtol=1e-5, atol=1e-6)


def _problem():
    params = init_params(jax.random.key(10), (3, 4, 1), scheme="xavier", dtype=jnp.float64)
    X = jax.random.normal(jax.random.key(11), (3, 20))
    Y = (jax.random.uniform(jax.random.key(12), (1, 20)) < 0.5).astype(X.dtype)
    loss_fn = lambda p: loss(p, X, Y, "tanh", "sigmoid")
    hand_fn = lambda p: loss_and_hand_grads(p, X, Y, "tanh", "sigmoid")[1]
    return params, loss_fn, hand_fn


def test_check_gradients_passes_the_right_gradient():
    params, loss_fn, hand_fn = _problem()
    result = check_gradients(loss_fn, hand_fn, params)
    assert isinstance(result, GradCheck)
    assert result.rel_error < 1e-10
    assert result.fd_rel_error < 1e-6
    assert set(result.per_parameter) == set(params)
    assert all(v < 1e-10 for v in result.per_parameter.values())


def test_check_gradients_catches_and_locates_a_wrong_gradient():
    params, loss_fn, hand_fn = _problem()

    def wrong_hand_fn(p):
        grads = dict(hand_fn(p))
        grads["W1"] = grads["W1"] * 1.01  # a 1 % error in one layer
        return grads

    result = check_gradients(loss_fn, wrong_hand_fn, params)
    assert result.rel_error > 1e-5
    assert result.fd_rel_error > 1e-5
    # the per-parameter errors name W1 as the culprit: 0.01 / 2.01 for it, rounding for the rest
    np.testing.assert_allclose(result.per_parameter["W1"], 0.01 / 2.01, rtol=1e-6)
    culprit = max(result.per_parameter, key=lambda k: result.per_parameter[k])
    assert culprit == "W1"
    for name in ("b1", "W2", "b2"):
        assert result.per_parameter[name] < 1e-10, name
