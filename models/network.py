"""The fully connected network of the notes: parameters, initialisation and the forward pass.

Notation (the notes'): examples are columns. X = A[0] is (n_x, m), layer l has n_l units,
W[l] is (n_l, n_{l-1}), b[l] is (n_l, 1), and

    Z[l] = W[l] A[l-1] + b[l]          A[l] = g[l](Z[l])

with g[l] the hidden activation for l < L and the output activation for l = L. Parameters
are a flat dict {"W1": ..., "b1": ..., "W2": ...} so they read like the notes and form a
pytree that jax.grad, optax and vmap take as is.

One structure covers every model of the notes:
    perceptron           layer sizes (n_x, 1), output step
    logistic regression  layer sizes (n_x, 1), output sigmoid (a one-neuron network)
    shallow network      layer sizes (n_x, n_1, 1)
    deep MLP             layer sizes (n_x, n_1, ..., n_{L-1}, 1)
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from models.activations import Activation, resolve

Params = dict[str, jnp.ndarray]

INIT_SCHEMES = ("small", "xavier", "he")


class Cache(NamedTuple):
    """What the forward pass keeps for the backward pass.

    Z[l] and A[l] for l = 1..L are at index l; Z[0] is None and A[0] is X.
    """

    Z: tuple
    A: tuple


def num_layers(params: Params) -> int:
    """L, the number of layers with parameters (the input layer is not counted, as in the notes)."""
    return len(params) // 2


def layer_sizes_of(params: Params) -> tuple[int, ...]:
    """(n_0, n_1, ..., n_L) read back from the parameter shapes."""
    L = num_layers(params)
    return (params["W1"].shape[1],) + tuple(params[f"W{l}"].shape[0] for l in range(1, L + 1))


def init_params(
    key: jax.Array,
    layer_sizes: Sequence[int],
    scheme: str = "small",
    scale: float = 0.01,
    dtype=jnp.float32,
) -> Params:
    """Random weights, zero biases.

    Args:
      key: a jax.random key.
      layer_sizes: (n_0, n_1, ..., n_L), n_0 = n_x.
      scheme: "small": W ~ N(0, 1) · scale, the notes' `np.random.randn(n_l, n_{l-1}) * 0.01`
        (small so that tanh/sigmoid units start in their steep, non-saturated region);
        "xavier": N(0, 1/n_{l-1}), keeps the variance of Z constant through tanh/sigmoid layers;
        "he": N(0, 2/n_{l-1}), the same for ReLU layers, which zero half their inputs.
      scale: the multiplier of the "small" scheme.

    Returns:
      {"W1": (n_1, n_0), "b1": (n_1, 1), ..., "WL": (n_L, n_{L-1}), "bL": (n_L, 1)}.
      b is zero: the random W already breaks the symmetry between units.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init scheme {scheme!r} is not one of {', '.join(INIT_SCHEMES)}")
    params: Params = {}
    for l, normal in enumerate(standard_normal_weights(key, layer_sizes, dtype), start=1):
        params[f"W{l}"] = normal * init_std(scheme, layer_sizes[l - 1], scale)
        params[f"b{l}"] = jnp.zeros((layer_sizes[l], 1), dtype)
    return params


def standard_normal_weights(key: jax.Array, layer_sizes: Sequence[int], dtype=jnp.float32) -> list[jax.Array]:
    """The N(0, 1) draws behind init_params' weights: [(n_1, n_0), ..., (n_L, n_{L-1})]."""
    keys = layer_keys(key, len(layer_sizes) - 1)
    return [
        jax.random.normal(keys[l - 1], (layer_sizes[l], layer_sizes[l - 1]), dtype) for l in range(1, len(layer_sizes))
    ]


def layer_keys(key: jax.Array, L: int) -> jax.Array:
    """One key per layer, [l - 1] for layer l: where layer l's weights are drawn from."""
    return jax.random.split(key, L)


def init_std(scheme: str, n_in: int, scale: float = 0.01) -> float:
    """The standard deviation of a layer's weights under `scheme`, given its fan-in n_{l-1}."""
    return {"small": scale, "xavier": math.sqrt(1.0 / n_in), "he": math.sqrt(2.0 / n_in)}[scheme]


def activation_of_layer(l: int, L: int, hidden_activation, output_activation):
    """g[l]: the hidden activation for l < L, the output activation for the last layer."""
    return output_activation if l == L else hidden_activation


def forward(
    params: Params,
    X: jnp.ndarray,
    hidden_activation: str | Activation,
    output_activation: str,
    slope: float | jnp.ndarray = 0.01,
) -> Cache:
    """The vectorised forward pass over all m examples at once.

    Args:
      params: {"W1", "b1", ..., "WL", "bL"} as made by `init_params`.
      X: (n_x, m), examples as columns.
      hidden_activation, output_activation: names in `models.activations.ACTIVATIONS`
        (the hidden one may also be an `Activation`, e.g. a masked one: models.activations.masked).
      slope: the leaky-ReLU slope α (ignored by the other activations).

    Returns:
      Cache with Z[l], A[l] of shape (n_l, m) for l = 1..L; A[L] is ŷ, (1, m).
    """
    L = num_layers(params)
    Z: list[jnp.ndarray | None] = [None]
    A = [X]
    for l in range(1, L + 1):
        g = resolve(activation_of_layer(l, L, hidden_activation, output_activation)).g
        Z_l = params[f"W{l}"] @ A[l - 1] + params[f"b{l}"]
        Z.append(Z_l)
        A.append(g(Z_l, slope))
    return Cache(tuple(Z), tuple(A))


def predict(
    params: Params,
    X: jnp.ndarray,
    hidden_activation: str,
    output_activation: str,
    slope: float | jnp.ndarray = 0.01,
) -> jnp.ndarray:
    """ŷ = A[L], (1, m): a probability for sigmoid outputs, 0/1 for step, a value for identity."""
    return forward(params, X, hidden_activation, output_activation, slope).A[-1]
