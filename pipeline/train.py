"""The training program: the whole loop as one jit-compiled `lax.scan`, metrics gathered inside it.

The structure of a run (activations, optimizer kind, gradient mode, step counts, batch size)
is static and decides what XLA compiles; the numbers (learning rate, leaky slope, momentum,
Adam's betas, the mask of padding units) are traced arguments, so one compiled program
serves every run of the same shapes that differs only in numbers.

Nothing here logs: the loop returns its history as arrays and the caller records them.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from models.activations import masked
from models.backprop import loss, loss_and_hand_grads
from models.network import Params, forward, num_layers

# A run whose loss grows past this many times its start (or past this, if it started below
# 1) is diverging even while its numbers are still finite: it is stopped there and failed.
DIVERGENCE_GROWTH = 1e6

# TrainResult.diverged_how: why a run stopped early.
NOT_DIVERGED, NON_FINITE, GREW = 0, 1, 2


class TrainSpec(NamedTuple):
    """What a compiled training program is specialised on (hashable, static)."""

    hidden_activation: str  # a name in models.activations.ACTIVATIONS
    output_activation: str  # sigmoid | identity | step
    task: str  # binary (scored by accuracy of ŷ > 0.5) | regression (scored by RMSE)
    optimizer: str  # gd | momentum | adam
    grad: str  # autodiff | hand
    steps: int
    log_every: int
    batch_size: Optional[int]  # None: full batch


class Hyper(NamedTuple):
    """The numbers of a run: scalars, traced (and vmappable)."""

    lr: jnp.ndarray
    slope: jnp.ndarray  # leaky-ReLU α
    momentum: jnp.ndarray
    b1: jnp.ndarray
    b2: jnp.ndarray
    eps: jnp.ndarray
    unit_mask: Optional[jnp.ndarray] = None  # (H, 1): 1 for the network's own hidden units, 0 for padding


def make_hyper(lr, slope=0.01, momentum=0.9, b1=0.9, b2=0.999, eps=1e-8, dtype=jnp.float32, xp=jnp) -> Hyper:
    """xp=numpy gives host arrays (for stacking many jobs before one transfer)."""
    return Hyper(*(xp.asarray(v, dtype) for v in (lr, slope, momentum, b1, b2, eps)))


class History(NamedTuple):
    """Metrics at steps 0, log_every, 2·log_every, ..., and at the last step; k points."""

    step: jnp.ndarray  # (k,) int
    loss: jnp.ndarray  # (k,) training loss on the whole training set
    train_metric: jnp.ndarray  # (k,) accuracy (binary) or RMSE in standardised units (regression)
    val_metric: jnp.ndarray  # (k,)
    grad_norm: jnp.ndarray  # (k, L) ‖dW[l]‖ of the full-batch gradient, per layer


class TrainResult(NamedTuple):
    params: Params | dict[str, np.ndarray]  # host arrays once fetched (jax.device_get)
    history: History
    diverged_at: jnp.ndarray  # the step whose loss or update went non-finite or grew too far; -1 if none
    diverged_how: jnp.ndarray  # NOT_DIVERGED, NON_FINITE or GREW


def history_steps(steps: int, log_every: int) -> list[int]:
    """The steps at which History holds a point: 0, every log_every, and the last."""
    points = list(range(0, steps + 1, log_every))
    return points if points[-1] == steps else points + [steps]


def make_optimizer(name: str, hyper: Hyper) -> optax.GradientTransformation:
    """The Optax optimizer for `name`; plain gd is the notes' update W := W - lr·dW."""
    if name == "gd":
        return optax.sgd(hyper.lr)
    if name == "momentum":
        return optax.sgd(hyper.lr, momentum=hyper.momentum)
    if name == "adam":
        return optax.adam(hyper.lr, b1=hyper.b1, b2=hyper.b2, eps=hyper.eps)
    raise ValueError(f"optimizer {name!r} is not one of gd, momentum, adam")


def hidden_of(spec: TrainSpec, hyper: Hyper):
    """The hidden activation, its padding units masked off when the layers are padded."""
    if hyper.unit_mask is None:
        return spec.hidden_activation
    return masked(spec.hidden_activation, hyper.unit_mask)


def loss_and_grads(spec: TrainSpec, params: Params, X, Y, hyper: Hyper) -> tuple[jnp.ndarray, Params]:
    """J and dJ/dparams, by jax.grad or by the hand-derived backward pass (train.grad)."""
    hidden = hidden_of(spec, hyper)
    if spec.grad == "hand":
        return loss_and_hand_grads(params, X, Y, hidden, spec.output_activation, hyper.slope)
    return jax.value_and_grad(loss)(params, X, Y, hidden, spec.output_activation, hyper.slope)


def quality(spec: TrainSpec, params: Params, X, Y, hyper: Hyper) -> jnp.ndarray:
    """Accuracy of ŷ > 0.5 for binary labels (whatever the output unit: a sigmoid's probability,
    a step's 0/1, an identity output's value); RMSE (standardised units) for regression.
    NaN on an empty set (data.val_fraction=0 has no validation examples)."""
    A = forward(params, X, hidden_of(spec, hyper), spec.output_activation, hyper.slope).A[-1]
    if spec.task == "regression":
        return jnp.sqrt(jnp.mean((A - Y) ** 2))
    return jnp.mean(((A > 0.5).astype(Y.dtype) == Y).astype(A.dtype))


def _is_finite(value, tree) -> jnp.ndarray:
    leaves = [value] + jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _measure(spec, params, data, hyper):
    X, Y, X_val, Y_val = data
    value, grads = loss_and_grads(spec, params, X, Y, hyper)
    grad_norm = jnp.stack([jnp.linalg.norm(grads[f"W{l}"]) for l in range(1, num_layers(params) + 1)])
    return value, quality(spec, params, X, Y, hyper), quality(spec, params, X_val, Y_val, hyper), grad_norm


class Carry(NamedTuple):
    """The state of a run between steps: everything needed to continue it (a checkpoint)."""

    params: Params
    opt_state: optax.OptState
    diverged_at: jnp.ndarray  # -1, or the step that diverged
    diverged_how: jnp.ndarray  # NOT_DIVERGED, NON_FINITE or GREW
    loss_limit: jnp.ndarray  # DIVERGENCE_GROWTH × the starting loss (at least 1)


def start(spec: TrainSpec, params: Params, data, hyper: Hyper):
    """(Carry at step 0, the metrics at step 0)."""
    first = _measure(spec, params, data, hyper)
    loss_limit = DIVERGENCE_GROWTH * jnp.maximum(first[0], 1.0)
    optimizer = make_optimizer(spec.optimizer, hyper)
    no = jnp.asarray(-1, jnp.int32), jnp.asarray(NOT_DIVERGED, jnp.int32)
    return Carry(params, optimizer.init(params), *no, loss_limit), first


def _run_steps(spec: TrainSpec, carry: Carry, data, hyper: Hyper, key, first_step, count: int) -> Carry:
    """`count` optimizer steps, numbered from `first_step`."""
    X, Y = data[0], data[1]
    optimizer = make_optimizer(spec.optimizer, hyper)
    m = X.shape[1]

    def one_step(carry: Carry, step):
        params, opt_state, diverged_at, diverged_how, loss_limit = carry
        if spec.batch_size is None or spec.batch_size >= m:
            X_batch, Y_batch = X, Y
        else:
            # A fresh random batch each step: permutation of the examples, the first batch_size.
            index = jax.random.permutation(jax.random.fold_in(key, step), m)[: spec.batch_size]
            X_batch, Y_batch = X[:, index], Y[:, index]
        value, grads = loss_and_grads(spec, params, X_batch, Y_batch, hyper)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        finite = _is_finite(value, new_params)
        ok = (diverged_at < 0) & finite & (value <= loss_limit)
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)
        newly = (diverged_at < 0) & ~ok
        diverged_at = jnp.where(newly, step.astype(diverged_at.dtype), diverged_at)
        diverged_how = jnp.where(newly, jnp.where(finite, GREW, NON_FINITE), diverged_how).astype(jnp.int32)
        return Carry(
            keep(new_params, params), keep(new_opt_state, opt_state), diverged_at, diverged_how, loss_limit
        ), None

    carry, _ = jax.lax.scan(one_step, carry, first_step + jnp.arange(count))
    return carry


def run_chunks(spec: TrainSpec, carry: Carry, data, hyper: Hyper, key, first_chunk, count: int):
    """`count` logged chunks of `spec.log_every` steps from chunk `first_chunk` (traced): (Carry,
    the metrics after each chunk, `count` points)."""

    def logged_chunk(carry, chunk_index):
        carry = _run_steps(spec, carry, data, hyper, key, 1 + chunk_index * spec.log_every, spec.log_every)
        return carry, _measure(spec, carry.params, data, hyper)

    return jax.lax.scan(logged_chunk, carry, first_chunk + jnp.arange(count))


def finish(spec: TrainSpec, carry: Carry, data, hyper: Hyper, key):
    """The steps after the last whole chunk, if any: (Carry, the metrics at the last step)."""
    full_chunks, remainder = divmod(spec.steps, spec.log_every)
    carry = _run_steps(spec, carry, data, hyper, key, 1 + full_chunks * spec.log_every, remainder)
    return carry, _measure(spec, carry.params, data, hyper)


def assemble(spec: TrainSpec, carry: Carry, points: list) -> TrainResult:
    """The TrainResult of a run from its final Carry and its metric points (each with a leading axis)."""
    loss_h, train_h, val_h, norm_h = (jnp.concatenate(parts) for parts in zip(*points))
    step = jnp.asarray(history_steps(spec.steps, spec.log_every), jnp.int32)
    return TrainResult(
        carry.params, History(step, loss_h, train_h, val_h, norm_h), carry.diverged_at, carry.diverged_how
    )


def train(spec: TrainSpec, params: Params, data, hyper: Hyper, key: jax.Array) -> TrainResult:
    """Run `spec.steps` optimizer steps from `params`; pure, so `jax.jit(train, static_argnums=0)`.

    Args:
      spec: the static structure.
      params: initial {"W1", "b1", ...}.
      data: (X (n_x, m), Y (1, m), X_val (n_x, m_val), Y_val (1, m_val)).
      hyper: the numbers; scalars.
      key: mini-batch order (unused for full batch).

    A step whose loss or updated parameters are not finite, or whose loss has grown past
    DIVERGENCE_GROWTH times its start, is not applied: from then on the parameters stay at
    their last values and `diverged_at` records the step (`diverged_how` why), so the
    caller can keep the history up to it and fail the run with the reason.

    pipeline/segments.py runs the same pieces (start, run_chunks, finish) as several
    programs, for long runs; tests/test_segments.py checks that the bits are the same.
    """
    carry, first = start(spec, params, data, hyper)
    full_chunks, remainder = divmod(spec.steps, spec.log_every)
    carry, chunks = run_chunks(spec, carry, data, hyper, key, jnp.asarray(0, jnp.int32), full_chunks)
    points = [jax.tree_util.tree_map(lambda x: x[None], first), chunks]
    if remainder:
        carry, last = finish(spec, carry, data, hyper, key)
        points.append(jax.tree_util.tree_map(lambda x: x[None], last))
    return assemble(spec, carry, points)


train_jit = jax.jit(train, static_argnums=0)

_compiled: dict = {}


def compiled_train(
    spec: TrainSpec, params: Params | dict[str, np.ndarray], data, hyper: Hyper, key: jax.Array | np.ndarray
):
    """`train` compiled ahead of time for these shapes; reused by every later job of the same shapes.

    Compiling explicitly (lower, then compile) lets the caller time compilation apart from
    training. The returned callable takes (params, data, hyper, key).
    """
    shapes = jax.tree_util.tree_map(lambda a: (jnp.shape(a), jnp.result_type(a)), (params, data, hyper, key))
    signature = (spec, str(shapes))  # str: the tree of (shape, dtype) pairs is not hashable itself
    if signature not in _compiled:
        _compiled[signature] = train_jit.lower(spec, params, data, hyper, key).compile()
    return _compiled[signature]
