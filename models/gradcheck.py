"""Gradient checking, three ways: hand-derived vs jax.grad vs centred finite differences.

The comparison measure is the one of the classic gradient-checking exercise,

    rel(a, b) = ‖a - b‖ / (‖a‖ + ‖b‖)        (0 where both are 0)

over all parameters flattened into one vector, plus the same per parameter so that a
failure can name the layer at fault. Run it in float64: in float32 the finite differences
alone are only good to about 1e-3.

Finite differences cost two evaluations of the loss per parameter element, so on a large
network (40,000 parameters: 80,000 forward passes) they would cost far more than training.
Beyond `max_fd_coordinates` elements they are taken at a sample of coordinates only: the
same number from every parameter array (so a wrong b2 of one element is still seen), spread
evenly through each array from a start drawn with a fixed key. The comparison with jax.grad
always covers every element.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from models.network import Params


def relative_error(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """‖a - b‖ / (‖a‖ + ‖b‖) over all elements; 0 where a and b are both all zero."""
    a, b = jnp.ravel(a), jnp.ravel(b)
    # Scaled by the largest magnitude first, so that norms of huge (1e200) but finite gradients
    # do not overflow into inf / inf = NaN; the ratio is the same.
    scale = jnp.maximum(jnp.max(jnp.abs(a), initial=0.0), jnp.max(jnp.abs(b), initial=0.0))
    scale = jnp.where((scale > 0) & jnp.isfinite(scale), scale, 1.0)
    a, b = a / scale, b / scale
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


# Above this many parameter elements, finite differences are taken at a sample of coordinates.
MAX_FD_COORDINATES = 512
# The perturbed copies of θ evaluated at once stay under this many bytes (a large network's
# θ times `chunk` would not).
_FD_CHUNK_BYTES = 2**27


def fd_sample(params: Params, max_coordinates: int, key: Optional[jax.Array] = None) -> jnp.ndarray:
    """Indices into ravel_pytree(params)[0]: all of them if there are at most `max_coordinates`,
    else about max_coordinates / (number of arrays) from each parameter array, evenly spread
    through it from a start drawn with `key` (PRNGKey(0) if None). Distinct; shape static."""
    leaves = jax.tree_util.tree_leaves(params)
    sizes = [math.prod(jnp.shape(leaf)) for leaf in leaves]
    if sum(sizes) <= max_coordinates:
        return jnp.arange(sum(sizes))
    key = jax.random.PRNGKey(0) if key is None else key
    per_leaf = max(1, max_coordinates // len(leaves))
    parts, offset = [], 0
    for number, size in enumerate(sizes):
        if size <= per_leaf:
            parts.append(offset + jnp.arange(size))
        else:  # evenly spaced, at least 1 apart: distinct, and from every row and column of W
            start = jax.random.uniform(jax.random.fold_in(key, number))
            spread = jnp.floor((jnp.arange(per_leaf) + start) * (size / per_leaf)).astype(jnp.int32)
            parts.append(offset + jnp.clip(spread, 0, size - 1))
        offset += size
    return jnp.concatenate(parts)


def finite_difference_at(
    loss_fn: Callable[[Params], jnp.ndarray],
    params: Params,
    coordinates: jnp.ndarray,
    epsilon: float = 1e-6,
    chunk: int = 256,
) -> jnp.ndarray:
    """Centred differences (J(θ + εe_i) - J(θ - εe_i)) / 2ε at the flat coordinates i given.

    Every element is perturbed in its own evaluation of `loss_fn` (2 per coordinate), `chunk`
    at a time (fewer for a large θ), so memory stays bounded for the larger MLPs.
    """
    theta, unravel = ravel_pytree(params)
    chunk = max(1, min(chunk, _FD_CHUNK_BYTES // max(1, 2 * theta.size * theta.dtype.itemsize)))

    def centred_difference(i):
        e_i = jnp.zeros_like(theta).at[i].set(epsilon)
        return (loss_fn(unravel(theta + e_i)) - loss_fn(unravel(theta - e_i))) / (2 * epsilon)

    if coordinates.size <= chunk:  # all at once: a plain vmap compiles faster than a loop of one chunk
        return jax.vmap(centred_difference)(coordinates)
    return jax.lax.map(centred_difference, coordinates, batch_size=chunk)


def finite_difference_grads(
    loss_fn: Callable[[Params], jnp.ndarray], params: Params, epsilon: float = 1e-6, chunk: int = 256
) -> Params:
    """Centred differences (J(θ + εe_i) - J(θ - εe_i)) / 2ε for every parameter element i.

    Every element is perturbed in its own evaluation of `loss_fn` (2·P of them for P
    parameters), `chunk` at a time, so memory stays bounded for the larger MLPs.
    """
    theta, unravel = ravel_pytree(params)
    return unravel(finite_difference_at(loss_fn, params, jnp.arange(theta.size), epsilon, chunk))


class GradCheck(NamedTuple):
    """Relative errors of the hand-derived gradients, total and per parameter."""

    rel_error: jnp.ndarray  # hand vs jax.grad, scalar
    fd_rel_error: jnp.ndarray  # hand vs finite differences (at fd_coordinates elements), scalar
    per_parameter: dict  # {"W1": rel, ...}, hand vs jax.grad
    fd_coordinates: int = 0  # how many parameter elements the finite differences covered
    n_params: int = 0  # of how many
    loss: jnp.ndarray | float = jnp.nan  # the loss at the checked parameters
    finite: jnp.ndarray | bool = True  # the loss and jax.grad's gradient are finite numbers (no overflow)


def check_gradients(
    loss_fn: Callable[[Params], jnp.ndarray],
    hand_grads_fn: Callable[[Params], Params],
    params: Params,
    epsilon: float = 1e-6,
    fd_chunk: int = 256,
    max_fd_coordinates: int = MAX_FD_COORDINATES,
) -> GradCheck:
    """Compare `hand_grads_fn(params)` with jax.grad(loss_fn) (every element) and with finite
    differences (every element, or a sample of `max_fd_coordinates`: see `fd_sample`)."""
    hand = hand_grads_fn(params)
    value, autodiff = jax.value_and_grad(loss_fn)(params)
    coordinates = fd_sample(params, max_fd_coordinates)
    numeric = finite_difference_at(loss_fn, params, coordinates, epsilon, fd_chunk)
    hand_flat, autodiff_flat = ravel_pytree(hand)[0], ravel_pytree(autodiff)[0]
    return GradCheck(
        rel_error=tree_relative_error(hand, autodiff),
        fd_rel_error=relative_error(hand_flat[coordinates], numeric),
        per_parameter=per_parameter_relative_error(hand, autodiff),
        fd_coordinates=int(coordinates.size),
        n_params=int(hand_flat.size),
        loss=value,
        finite=jnp.isfinite(value) & jnp.all(jnp.isfinite(autodiff_flat)),
    )
