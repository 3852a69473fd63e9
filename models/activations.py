"""Activation functions g(z), each with its hand-derived derivative g'(z) right under it.

The derivatives are the ones the notes derive, written in terms of the forward value where
the notes do so (sigmoid: g(1 - g), tanh: 1 - g²). Every function is elementwise, so it
takes and returns arrays of any shape.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp

Array = jnp.ndarray


def step(z: Array) -> Array:
    """The perceptron's threshold unit: 1 if z > 0 else 0."""
    return jnp.where(z > 0, 1.0, 0.0).astype(z.dtype)


def step_prime(z: Array) -> Array:
    # Flat on both sides of the jump, undefined at it: 0 almost everywhere. That is why a
    # step network is trained with the perceptron rule and never by gradient descent.
    return jnp.zeros_like(z)


def sigmoid(z: Array) -> Array:
    """g(z) = 1 / (1 + e^{-z})."""
    # Two branches so exp never overflows: for z < 0, 1/(1+e^{-z}) = e^{z}/(1+e^{z}).
    e = jnp.exp(-jnp.abs(z))
    return jnp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_prime(z: Array) -> Array:
    # d/dz (1 + e^{-z})^{-1} = e^{-z} / (1 + e^{-z})² = g(z) (1 - g(z))
    g = sigmoid(z)
    return g * (1.0 - g)


def tanh(z: Array) -> Array:
    """g(z) = (e^z - e^{-z}) / (e^z + e^{-z})."""
    return jnp.tanh(z)


def tanh_prime(z: Array) -> Array:
    # Quotient rule on (e^z - e^{-z}) / (e^z + e^{-z}) gives 1 - tanh(z)².
    g = jnp.tanh(z)
    return 1.0 - g**2


def relu(z: Array) -> Array:
    """g(z) = max(0, z)."""
    # Written with `where` (not jnp.maximum, whose autodiff splits the gradient 0.5/0.5 at a
    # tie) so that jax.grad and the hand-derived derivative agree at z = 0 too.
    return jnp.where(z > 0, z, 0.0)


def relu_prime(z: Array) -> Array:
    # 1 for z > 0, 0 for z < 0; at z = 0 we take 0, the convention jax.grad also uses.
    return jnp.where(z > 0, 1.0, 0.0).astype(z.dtype)


def leaky_relu(z: Array, slope: float | Array = 0.01) -> Array:
    """g(z) = max(slope·z, z) for 0 <= slope < 1."""
    slope = jnp.asarray(slope, z.dtype)  # a float64 slope must not promote a float32 network
    return jnp.where(z > 0, z, slope * z)


def leaky_relu_prime(z: Array, slope: float | Array = 0.01) -> Array:
    # 1 for z > 0, slope otherwise (so the unit never stops learning); slope at z = 0.
    return jnp.where(z > 0, 1.0, jnp.asarray(slope, z.dtype)).astype(z.dtype)


def identity(z: Array) -> Array:
    """g(z) = z: the output unit of a regression network, and the 'no activation' case."""
    return z


def identity_prime(z: Array) -> Array:
    return jnp.ones_like(z)


class Activation(NamedTuple):
    """An activation and its derivative, both taking (z, slope); slope is used by leaky ReLU only."""

    g: Callable[[Array, float | Array], Array]
    g_prime: Callable[[Array, float | Array], Array]


def _ignore_slope(fn: Callable[[Array], Array]) -> Callable[[Array, float | Array], Array]:
    return lambda z, slope: fn(z)


ACTIVATIONS: dict[str, Activation] = {
    "step": Activation(_ignore_slope(step), _ignore_slope(step_prime)),
    "sigmoid": Activation(_ignore_slope(sigmoid), _ignore_slope(sigmoid_prime)),
    "tanh": Activation(_ignore_slope(tanh), _ignore_slope(tanh_prime)),
    "relu": Activation(_ignore_slope(relu), _ignore_slope(relu_prime)),
    "leaky_relu": Activation(leaky_relu, leaky_relu_prime),
    "identity": Activation(_ignore_slope(identity), _ignore_slope(identity_prime)),
}


def resolve(activation: "str | Activation") -> Activation:
    """An activation given by name (the usual case) or as an Activation built elsewhere."""
    return ACTIVATIONS[activation] if isinstance(activation, str) else activation


# Activations a gradient-trained network may use in its hidden layers: step is excluded
# because its derivative is zero almost everywhere (gradient descent would never move).
GRADIENT_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name != "step")


def masked(activation: "str | Activation", unit_mask: Array) -> Activation:
    """`activation` with some units switched off: g(z)·mask and g'(z)·mask.

    `unit_mask` ((n, 1) of 0/1) marks a layer's own units among the padding units of a
    wider array (pipeline/inputs.py pads every hidden layer to a multiple of 8 units). A
    masked unit outputs 0 and passes back no gradient, so its weights, which start at 0,
    stay exactly 0, and the padded network computes what the unpadded one would.
    """
    inner = resolve(activation)

    def g(z, slope):
        return inner.g(z, slope) * unit_mask.astype(z.dtype)

    def g_prime(z, slope):
        return inner.g_prime(z, slope) * unit_mask.astype(z.dtype)

    return Activation(g, g_prime)
