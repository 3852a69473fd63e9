"""The training program: the whole loop as one jit-compiled `lax.scan`, metrics gathered inside it.

The structure of a run (activations, optimizer kind, gradient mode, step counts, batch size)
is static and decides what XLA compiles; the numbers (learning rate, leaky slope, momentum,
Adam's betas) are traced arguments, so one compiled program serves every run that differs
only in numbers and can be vmapped over them.

Nothing here logs: the loop returns its history as arrays and the caller records them.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from models.activations import chosen_by_index
from models.backprop import loss, loss_and_hand_grads
from models.network import Params, forward, num_layers, predict


# TrainSpec.hidden_activation for a program whose jobs choose their activation by index
# (Hyper.activation_index) and mask padding units (Hyper.unit_mask): see pipeline/batching.py.
CHOSEN_BY_INDEX = "chosen_by_index"


class TrainSpec(NamedTuple):
    """What a compiled training program is specialised on (hashable, static)."""

    hidden_activation: str  # a name, or CHOSEN_BY_INDEX
    output_activation: str  # sigmoid | identity | step
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
    activation_index: Optional[jnp.ndarray] = None  # with CHOSEN_BY_INDEX: index into GRADIENT_ACTIVATIONS
    unit_mask: Optional[jnp.ndarray] = None  # with CHOSEN_BY_INDEX: (H, 1), 1 for the job's own units


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
    params: Params
    history: History
    diverged_at: jnp.ndarray  # step whose loss or update went non-finite; -1 if none


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
    """The hidden activation: its name, or the one this job's index picks (batched programs)."""
    if spec.hidden_activation == CHOSEN_BY_INDEX:
        return chosen_by_index(hyper.activation_index, hyper.unit_mask)
    return spec.hidden_activation


def loss_and_grads(spec: TrainSpec, params: Params, X, Y, hyper: Hyper) -> tuple[jnp.ndarray, Params]:
    """J and dJ/dparams, by jax.grad or by the hand-derived backward pass (train.grad)."""
    hidden = hidden_of(spec, hyper)
    if spec.grad == "hand":
        return loss_and_hand_grads(params, X, Y, hidden, spec.output_activation, hyper.slope)
    return jax.value_and_grad(loss)(params, X, Y, hidden, spec.output_activation, hyper.slope)


def quality(spec: TrainSpec, params: Params, X, Y, hyper: Hyper) -> jnp.ndarray:
    """Accuracy of ŷ > 0.5 for binary outputs; RMSE (standardised units) for regression."""
    A = forward(params, X, hidden_of(spec, hyper), spec.output_activation, hyper.slope).A[-1]
    if spec.output_activation == "identity":
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


def train(spec: TrainSpec, params: Params, data, hyper: Hyper, key: jax.Array) -> TrainResult:
    """Run `spec.steps` optimizer steps from `params`; pure, so `jax.jit(train, static_argnums=0)`.

    Args:
      spec: the static structure.
      params: initial {"W1", "b1", ...}.
      data: (X (n_x, m), Y (1, m), X_val (n_x, m_val), Y_val (1, m_val)).
      hyper: the numbers; scalars (or, under vmap, one row of a batch).
      key: mini-batch order (unused for full batch).

    A step whose loss or updated parameters are not finite is not applied: from then on the
    parameters stay at their last finite values and `diverged_at` records the step, so the
    caller can keep the history up to it and fail the run with the reason.
    """
    X, Y = data[0], data[1]
    optimizer = make_optimizer(spec.optimizer, hyper)
    m = X.shape[1]

    def one_step(carry, step):
        params, opt_state, diverged_at = carry
        if spec.batch_size is None or spec.batch_size >= m:
            X_batch, Y_batch = X, Y
        else:
            # A fresh random batch each step: permutation of the examples, the first batch_size.
            index = jax.random.permutation(jax.random.fold_in(key, step), m)[: spec.batch_size]
            X_batch, Y_batch = X[:, index], Y[:, index]
        value, grads = loss_and_grads(spec, params, X_batch, Y_batch, hyper)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        ok = (diverged_at < 0) & _is_finite(value, new_params)
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)
        diverged_at = jnp.where((diverged_at < 0) & ~ok, step.astype(diverged_at.dtype), diverged_at)
        return (keep(new_params, params), keep(new_opt_state, opt_state), diverged_at), None

    def run_steps(carry, first_step, count):
        carry, _ = jax.lax.scan(one_step, carry, first_step + jnp.arange(count))
        return carry

    def logged_chunk(carry, chunk_index):
        carry = run_steps(carry, 1 + chunk_index * spec.log_every, spec.log_every)
        return carry, _measure(spec, carry[0], data, hyper)

    carry = (params, optimizer.init(params), jnp.asarray(-1, jnp.int32))
    first = _measure(spec, params, data, hyper)
    full_chunks, remainder = divmod(spec.steps, spec.log_every)
    carry, chunks = jax.lax.scan(logged_chunk, carry, jnp.arange(full_chunks))
    points = [jax.tree_util.tree_map(lambda x: x[None], first), chunks]
    if remainder:
        carry = run_steps(carry, 1 + full_chunks * spec.log_every, remainder)
        points.append(jax.tree_util.tree_map(lambda x: x[None], _measure(spec, carry[0], data, hyper)))
    loss_h, train_h, val_h, norm_h = (jnp.concatenate(parts) for parts in zip(*points))
    step = jnp.asarray(history_steps(spec.steps, spec.log_every), jnp.int32)
    return TrainResult(carry[0], History(step, loss_h, train_h, val_h, norm_h), carry[2])


train_jit = jax.jit(train, static_argnums=0)

_compiled: dict = {}


def compiled_train(spec: TrainSpec, params: Params, data, hyper: Hyper, key: jax.Array):
    """`train` compiled ahead of time for these shapes; reused by every later job of the same shapes.

    Compiling explicitly (lower, then compile) lets the caller time compilation apart from
    training. The returned callable takes (params, data, hyper, key).
    """
    shapes = jax.tree_util.tree_map(lambda a: (jnp.shape(a), jnp.result_type(a)), (params, data, hyper, key))
    signature = (spec, str(shapes))  # str: the tree of (shape, dtype) pairs is not hashable itself
    if signature not in _compiled:
        _compiled[signature] = train_jit.lower(spec, params, data, hyper, key).compile()
    return _compiled[signature]


# ŷ for plots; one compile per shape and activation, shared by every job of a sweep.
predict_jit = jax.jit(predict, static_argnames=("hidden_activation", "output_activation"))


def predict_numpy(params, hidden_activation: str, output_activation: str, slope: float, points) -> np.ndarray:
    """`predict_jit` from NumPy to NumPy: picklable with functools.partial, for a plotting worker."""
    params = {k: jnp.asarray(v) for k, v in params.items()}
    dtype = params["W1"].dtype
    return np.asarray(predict_jit(params, jnp.asarray(points, dtype), hidden_activation, output_activation,
                                  jnp.asarray(slope, dtype)))
