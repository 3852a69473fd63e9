"""models/losses.py: the stable logit form of cross-entropy against the notes' formula, the
squared error and the perceptron criterion on hand-checked examples, and the output pairing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.activations import sigmoid, step
from models.losses import (
    LOSS_OF_OUTPUT,
    binary_cross_entropy,
    binary_cross_entropy_from_logits,
    half_squared_error,
    loss_of_output,
    perceptron_criterion,
)


def test_cross_entropy_from_logits_equals_the_notes_formula():
    with jax.enable_x64(True):
        Z = jax.random.normal(jax.random.key(0), (1, 50)) * 5.0
        Y = (jax.random.uniform(jax.random.key(1), (1, 50)) < 0.5).astype(Z.dtype)
        A = 1.0 / (1.0 + jnp.exp(-Z))
        np.testing.assert_allclose(binary_cross_entropy_from_logits(Z, Y), binary_cross_entropy(A, Y), rtol=1e-12)
        # and the notes' formula itself, written out per example in numpy
        z, y = np.asarray(Z), np.asarray(Y)
        a = 1.0 / (1.0 + np.exp(-z))
        per_example = -(y * np.log(a) + (1 - y) * np.log(1 - a))
        np.testing.assert_allclose(binary_cross_entropy(A, Y), per_example.mean(), rtol=1e-12)


def test_cross_entropy_from_logits_gradient_is_sigmoid_minus_y_everywhere():
    """dL/dZ = (σ(Z) - Y) / m, the dZ[L] = A[L] - Y of the backward pass, including at exactly
    Z = 0, where a ReLU network with every hidden unit off puts its output (and where autodiff
    of the max(z, 0) + log(1 + e^{-|z|}) form picks wrong one-sided derivatives)."""
    with jax.enable_x64(True):
        Z = jnp.concatenate([jnp.zeros((1, 4)), -jnp.zeros((1, 2)), jnp.linspace(-8, 8, 10)[None]], axis=1)
        Y = jnp.tile(jnp.asarray([[0.0, 1.0]]), (1, Z.shape[1] // 2))
        m = Z.shape[1]
        grad = jax.grad(binary_cross_entropy_from_logits)(Z, Y)
        np.testing.assert_allclose(grad, (sigmoid(Z) - Y) / m, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(grad[0, :4] * m, [0.5, -0.5, 0.5, -0.5], rtol=1e-15)


def test_cross_entropy_from_logits_in_float32():
    Z = jnp.asarray([[-3.0, -0.5, 0.0, 0.5, 3.0]])
    Y = jnp.asarray([[0.0, 1.0, 1.0, 0.0, 1.0]])
    value = binary_cross_entropy_from_logits(Z, Y)
    assert value.dtype == jnp.float32
    np.testing.assert_allclose(value, binary_cross_entropy(sigmoid(Z), Y), rtol=1e-5)


def test_cross_entropy_of_half_is_log_two():
    Z = jnp.zeros((1, 4))
    Y = jnp.asarray([[0.0, 1.0, 0.0, 1.0]])
    np.testing.assert_allclose(binary_cross_entropy_from_logits(Z, Y), np.log(2.0), rtol=1e-6)


def test_cross_entropy_from_logits_is_finite_at_extreme_logits():
    """At z = ±500 sigmoid rounds to 0 or 1 in float32, so log ŷ or log(1 - ŷ) is -inf."""
    Z = jnp.asarray([[500.0, -500.0, 500.0, -500.0]], jnp.float32)
    Y = jnp.asarray([[0.0, 1.0, 1.0, 0.0]], jnp.float32)
    naive = binary_cross_entropy(sigmoid(Z), Y)
    assert not jnp.isfinite(naive)  # the notes' form breaks down ...
    stable = binary_cross_entropy_from_logits(Z, Y)
    assert jnp.isfinite(stable)  # ... the logit form does not:
    # two confidently wrong examples cost |z| = 500 each, two confidently right ones ~0.
    np.testing.assert_allclose(stable, (500.0 + 500.0) / 4, rtol=1e-6)
    # and its gradient is finite too: dL/dz = (sigmoid(z) - y) / m
    grad = jax.grad(binary_cross_entropy_from_logits)(Z, Y)
    assert jnp.all(jnp.isfinite(grad))
    np.testing.assert_allclose(grad, (sigmoid(Z) - Y) / 4, atol=1e-7)


def test_each_confident_mistake_costs_its_logit():
    for z in (500.0, -500.0):
        Z = jnp.asarray([[z]])
        wrong = jnp.asarray([[0.0 if z > 0 else 1.0]])
        right = 1.0 - wrong
        np.testing.assert_allclose(binary_cross_entropy_from_logits(Z, wrong), abs(z), rtol=1e-6)
        assert binary_cross_entropy_from_logits(Z, right) == pytest.approx(0.0, abs=1e-6)


def test_half_squared_error_hand_checked():
    A = jnp.asarray([[1.0, 2.0, 3.0]])
    Y = jnp.asarray([[1.0, 0.0, 5.0]])
    # differences 0, 2, -2 -> squares 0, 4, 4 -> mean 8/3 -> halved 4/3
    np.testing.assert_allclose(half_squared_error(A, Y), 4.0 / 3.0, rtol=1e-6)
    assert half_squared_error(Y, Y) == 0.0


def test_half_squared_error_gradient_is_residual_over_m():
    A = jnp.asarray([[1.0, 2.0, 3.0, -1.0]])
    Y = jnp.asarray([[0.5, 0.0, 5.0, -1.0]])
    np.testing.assert_allclose(jax.grad(half_squared_error)(A, Y), (A - Y) / 4, rtol=1e-6)


def test_perceptron_criterion_is_zero_when_all_correct():
    Z = jnp.asarray([[2.0, -1.0, 0.3, -4.0, 0.0]])
    A = step(Z)
    Y = A  # every example correctly classified (z = 0 is class 0)
    assert perceptron_criterion(Z, A, Y) == 0.0


def test_perceptron_criterion_is_mean_abs_z_of_the_mistakes():
    Z = jnp.asarray([[2.0, -1.0, 0.5, -4.0, 3.0, -0.25]])
    Y = jnp.asarray([[1.0, 0.0, 0.0, 1.0, 0.0, 1.0]])
    A = step(Z)
    wrong = np.asarray(A != Y)
    assert wrong.tolist() == [[False, False, True, True, True, True]]
    expected = np.where(wrong, np.abs(np.asarray(Z)), 0.0).sum() / Z.shape[1]
    np.testing.assert_allclose(perceptron_criterion(Z, A, Y), expected, rtol=1e-6)
    assert perceptron_criterion(Z, A, Y) > 0.0


@pytest.mark.parametrize("output", list(LOSS_OF_OUTPUT))
def test_loss_of_output_dispatches_to_the_paired_loss(output):
    Z = jnp.asarray([[1.5, -0.5, 0.25, -2.0]])
    Y = jnp.asarray([[1.0, 1.0, 0.0, 0.0]])
    A = {"sigmoid": sigmoid(Z), "identity": Z, "step": step(Z)}[output]
    expected = {
        "sigmoid": binary_cross_entropy_from_logits(Z, Y),
        "identity": half_squared_error(A, Y),
        "step": perceptron_criterion(Z, A, Y),
    }[output]
    assert loss_of_output(output, Z, A, Y) == expected


@pytest.mark.parametrize("output", ["relu", "tanh", "softmax", ""])
def test_loss_of_output_raises_for_unpaired_output(output):
    Z = jnp.zeros((1, 3))
    with pytest.raises(ValueError, match="no paired loss"):
        loss_of_output(output, Z, Z, Z)
