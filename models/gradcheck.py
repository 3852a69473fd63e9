"""Gradient checking, three ways: hand-derived vs jax.grad vs centred finite differences.

The comparison measure is the one of the classic gradient-checking exercise,

    rel(a, b) = ‖a - b‖ / (‖a‖ + ‖b‖)        (0 where both are 0)

over all parameters flattened into one vector, plus the same per parameter so that a
failure can name the layer at fault. Run it in float64: in float32 the finite differences
alone are only good to about 1e-3.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from models.network import Params


def relative_error(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """‖a - b‖ / (‖a‖ + ‖b‖) over all elements; 0 where a and b are both all zero."""
    a, b = jnp.ravel(a), jnp.ravel(b)
    denominator = jnp.linalg.norm(a) + jnp.linalg.norm(b)
    safe = jnp.where(denominator > 0, denominator, 1.0)
    error = jnp.where(denominator > 0, jnp.linalg.norm(a - b) / safe, 0.0)
    # A NaN anywhere must not pass as "0 where both are 0": it is no agreement at all.
    return jnp.where(jnp.isnan(denominator), jnp.nan, error)


def tree_relative_error(a: Params, b: Params) -> jnp.ndarray:
    """`relative_error` over every parameter at once, flattened into one vector."""
    return relative_error(ravel_pytree(a)[0], ravel_pytree(b)[0])


def per_parameter_relative_error(a: Params, b: Params) -> dict[str, jnp.ndarray]:
    """{"W1": rel, "b1": rel, ...}: which parameter disagrees, when the total does."""
    return {name: relative_error(a[name], b[name]) for name in a}


def finite_difference_grads(
    loss_fn: Callable[[Params], jnp.ndarray], params: Params, epsilon: float = 1e-6, chunk: int = 256
) -> Params:
    """Centred differences (J(θ + εe_i) - J(θ - εe_i)) / 2ε for every parameter element i.

    Every element is perturbed in its own evaluation of `loss_fn` (2·P of them for P
    parameters), `chunk` at a time, so memory stays bounded for the larger MLPs.
    """
    theta, unravel = ravel_pytree(params)

    def centred_difference(i):
        e_i = jnp.zeros_like(theta).at[i].set(epsilon)
        return (loss_fn(unravel(theta + e_i)) - loss_fn(unravel(theta - e_i))) / (2 * epsilon)

    elements = jnp.arange(theta.size)
    if theta.size <= chunk:  # all at once: a plain vmap compiles faster than a loop of one chunk
        return unravel(jax.vmap(centred_difference)(elements))
    return unravel(jax.lax.map(centred_difference, elements, batch_size=chunk))


class GradCheck(NamedTuple):
    """Relative errors of the hand-derived gradients, total and per parameter."""

    rel_error: jnp.ndarray  # hand vs jax.grad, scalar
    fd_rel_error: jnp.ndarray  # hand vs finite differences, scalar
    per_parameter: dict  # {"W1": rel, ...}, hand vs jax.grad


def check_gradients(
    loss_fn: Callable[[Params], jnp.ndarray],
    hand_grads_fn: Callable[[Params], Params],
    params: Params,
    epsilon: float = 1e-6,
    fd_chunk: int = 256,
) -> GradCheck:
    """Compare `hand_grads_fn(params)` with jax.grad(loss_fn) and with finite differences."""
    hand = hand_grads_fn(params)
    autodiff = jax.grad(loss_fn)(params)
    numeric = finite_difference_grads(loss_fn, params, epsilon, fd_chunk)
    return GradCheck(
        rel_error=tree_relative_error(hand, autodiff),
        fd_rel_error=tree_relative_error(hand, numeric),
        per_parameter=per_parameter_relative_error(hand, autodiff),
    )
