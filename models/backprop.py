"""The backward pass by hand, for any depth, in the notes' notation.

For the output unit paired with its loss (models/losses.py), the error at the output is

    dZ[L] = A[L] - Y                                     (1, m)

and for every layer l = L, ..., 1

    dW[l]   = 1/m dZ[l] A[l-1]ᵀ                          (n_l, n_{l-1})
    db[l]   = 1/m Σ_examples dZ[l]  (keepdims)           (n_l, 1)
    dZ[l-1] = W[l]ᵀ dZ[l] * g[l-1]'(Z[l-1])              (n_{l-1}, m)

which for the 2-layer network of the notes is exactly

    dZ2 = A2 - Y
    dW2 = 1/m dZ2 A1ᵀ
    db2 = 1/m np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = W2ᵀ dZ2 * g1'(Z1)
    dW1 = 1/m dZ1 Xᵀ
    db1 = 1/m np.sum(dZ1, axis=1, keepdims=True)
"""

from __future__ import annotations

import jax.numpy as jnp

from models.activations import resolve
from models.losses import LOSS_OF_OUTPUT, loss_of_output
from models.network import Cache, Params, forward, num_layers


def backward(
    params: Params,
    cache: Cache,
    Y: jnp.ndarray,
    hidden_activation: str,
    slope: float | jnp.ndarray = 0.01,
) -> Params:
    """Hand-derived gradients of the paired loss, from the forward pass's cache.

    Args:
      params: {"W1", "b1", ..., "WL", "bL"}.
      cache: the `forward` cache of the same params on the same X.
      Y: (1, m) labels.
      hidden_activation: g[l] for l < L (its derivative is used; the output's is not,
        because dZ[L] = A[L] - Y already folds it in).
      slope: the leaky-ReLU slope α.

    Returns:
      Gradients keyed like `params` ({"W1": dW1, "b1": db1, ...}), each of its shape, so an
      optax optimizer takes them in place of jax.grad's.
    """
    L = num_layers(params)
    m = Y.shape[1]
    g_prime = resolve(hidden_activation).g_prime
    grads: Params = {}
    d_Z = cache.A[L] - Y
    for l in range(L, 0, -1):
        grads[f"W{l}"] = (d_Z @ cache.A[l - 1].T) / m
        grads[f"b{l}"] = jnp.sum(d_Z, axis=1, keepdims=True) / m
        if l > 1:
            d_Z = (params[f"W{l}"].T @ d_Z) * g_prime(cache.Z[l - 1], slope)
    return grads


def loss(
    params: Params,
    X: jnp.ndarray,
    Y: jnp.ndarray,
    hidden_activation: str,
    output_activation: str,
    slope: float | jnp.ndarray = 0.01,
) -> jnp.ndarray:
    """J(params) = 1/m Σ L(ŷ, y): the scalar that jax.grad differentiates and training lowers."""
    cache = forward(params, X, hidden_activation, output_activation, slope)
    return loss_of_output(output_activation, cache.Z[-1], cache.A[-1], Y)


def loss_and_hand_grads(
    params: Params,
    X: jnp.ndarray,
    Y: jnp.ndarray,
    hidden_activation: str,
    output_activation: str,
    slope: float | jnp.ndarray = 0.01,
) -> tuple[jnp.ndarray, Params]:
    """(J, hand-derived gradients) from one forward pass; the counterpart of jax.value_and_grad."""
    if output_activation not in LOSS_OF_OUTPUT:
        raise ValueError(
            f"dZ[L] = A[L] - Y holds only for the paired outputs {', '.join(LOSS_OF_OUTPUT)}, not {output_activation!r}"
        )
    cache = forward(params, X, hidden_activation, output_activation, slope)
    value = loss_of_output(output_activation, cache.Z[-1], cache.A[-1], Y)
    return value, backward(params, cache, Y, hidden_activation, slope)
