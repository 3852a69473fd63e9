"""Losses L(ŷ, y) averaged over the m examples, one per kind of output unit.

Each output activation is paired with the loss that makes the output error of the backward
pass the same simple expression, dZ[L] = A[L] - Y (see models/backprop.py):

    sigmoid  + binary cross-entropy   dL/dZ[L] = A[L] - Y   (the notes' logistic regression)
    identity + half squared error     dL/dZ[L] = A[L] - Y   (regression, the house-price example)
    step     + perceptron criterion   dL/dZ[L] = A[L] - Y   (the perceptron learning rule)

All take the output layer's Z[L] and A[L], (1, m), and labels Y, (1, m), and return a scalar.
"""

from __future__ import annotations

import jax.numpy as jnp

Array = jnp.ndarray


def binary_cross_entropy(A: Array, Y: Array) -> Array:
    """The notes' L(ŷ, y) = -(y log ŷ + (1 - y) log(1 - ŷ)), averaged over m.

    Shown for reference and tests; training uses the logit form below, since log ŷ is -inf
    once sigmoid(z) rounds to exactly 0 or 1 in floating point.
    """
    return -jnp.mean(Y * jnp.log(A) + (1.0 - Y) * jnp.log(1.0 - A))


def binary_cross_entropy_from_logits(Z: Array, Y: Array) -> Array:
    """Binary cross-entropy of ŷ = sigmoid(Z), computed from Z without forming log(ŷ).

    With ŷ = σ(z): -(y log σ(z) + (1-y) log(1-σ(z))) = log(1 + e^{z}) - z·y, and
    log(1 + e^{z}) = logaddexp(0, z) is evaluated without overflow for every z.

    Not the common max(z, 0) - z·y + log(1 + e^{-|z|}): that form is right in value but
    autodiff of max and |z| at exactly z = 0 (where a ReLU network with all hidden units
    off puts its output) gives a wrong gradient. logaddexp is smooth, so jax.grad agrees
    with dZ = A - Y everywhere.
    """
    return jnp.mean(jnp.logaddexp(0.0, Z) - Z * Y)


def half_squared_error(A: Array, Y: Array) -> Array:
    """1/(2m) Σ (ŷ - y)²: the mean squared error halved, so that dL/dŷ = ŷ - y per example."""
    return 0.5 * jnp.mean((A - Y) ** 2)


def perceptron_criterion(Z: Array, A: Array, Y: Array) -> Array:
    """1/m Σ (ŷ - y)·z with ŷ = step(z): the sum of |z| over the misclassified examples.

    Zero for a correctly classified example, |z| for a wrong one. Its gradient in z is
    ŷ - y (ŷ is flat in z), so gradient descent on it is exactly the perceptron rule
    w ← w + lr (y - ŷ) x.
    """
    return jnp.mean((A - Y) * Z)


LOSS_OF_OUTPUT = {
    "sigmoid": "binary_cross_entropy",
    "identity": "half_squared_error",
    "step": "perceptron_criterion",
}


def loss_of_output(output_activation: str, Z: Array, A: Array, Y: Array) -> Array:
    """The loss paired with `output_activation` (see the module docstring), a scalar."""
    if output_activation == "sigmoid":
        return binary_cross_entropy_from_logits(Z, Y)
    if output_activation == "identity":
        return half_squared_error(A, Y)
    if output_activation == "step":
        return perceptron_criterion(Z, A, Y)
    raise ValueError(
        f"output activation {output_activation!r} has no paired loss; allowed: {', '.join(LOSS_OF_OUTPUT)}"
    )
