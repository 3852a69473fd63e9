"""A job's config turned into the inputs of its training program: structure, numbers, arrays.

Every run, alone or in a sweep, goes through here, so a job's inputs (and so its numbers)
are a function of its config alone.

Padding. Every hidden layer is computed `UNIT_BLOCK` units at a time: a layer of 3 units is
an array of 8 rows, the 5 extra units masked off (models/activations.masked: they output 0,
pass back no gradient, and their weights start and stay exactly 0). Mathematically nothing
changes. In floating point, the width of an array decides how XLA's kernels split and order
their sums, so a job padded to 8 alone and padded to 64 beside a wider job would round
differently. Padding to a width that depends on the job's own size only (the next multiple
of 8) lets jobs of hidden sizes 1 to 8 share one compiled program while each computes
exactly what it computes alone.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from omegaconf import DictConfig

from models.network import Params, init_params, init_std, layer_keys
from pipeline.config import hidden_layers
from pipeline.data import Dataset
from pipeline.train import Hyper, TrainSpec, make_hyper

UNIT_BLOCK = 8  # hidden layers are padded to a multiple of this many units (a CPU vector of float32)


def padded_width(hidden: int) -> int:
    """The number of units a hidden layer of `hidden` units is computed with."""
    return -(-hidden // UNIT_BLOCK) * UNIT_BLOCK


def output_activation(cfg: DictConfig, ds: Dataset) -> str:
    """The output unit follows the data: sigmoid for binary labels, identity for regression."""
    if cfg.model.name == "perceptron":
        return "step"
    if cfg.model.output != "auto":
        return cfg.model.output
    return "identity" if ds.task == "regression" else "sigmoid"


def layer_sizes(cfg: DictConfig, ds: Dataset) -> tuple[int, ...]:
    """(n_x, n_1, ..., 1): the configured network's own sizes."""
    return (ds.n_features, *[cfg.model.hidden] * hidden_layers(cfg), 1)


def program_sizes(cfg: DictConfig, ds: Dataset) -> tuple[int, ...]:
    """`layer_sizes` with every hidden layer padded to its `padded_width`."""
    sizes = layer_sizes(cfg, ds)
    return (sizes[0], *[padded_width(n) for n in sizes[1:-1]], sizes[-1])


def train_spec(cfg: DictConfig, ds: Dataset) -> TrainSpec:
    return TrainSpec(
        hidden_activation=cfg.model.activation if hidden_layers(cfg) else "identity",
        output_activation=output_activation(cfg, ds),
        task=ds.task,
        optimizer=cfg.optim.name,
        grad=cfg.train.grad,
        steps=cfg.train.steps,
        log_every=cfg.train.log_every,
        batch_size=cfg.train.batch_size,
    )


def hyper_of(cfg: DictConfig, xp=np) -> Hyper:
    """The job's numbers; with hidden layers, also the mask of its own units among the padded
    ones. xp=numpy gives host arrays (stacked or transferred later), xp=jnp device arrays."""
    o = cfg.optim
    hyper = make_hyper(o.lr, cfg.model.leaky_slope, o.momentum, o.b1, o.b2, o.eps, dtype=cfg.train.dtype, xp=xp)
    if not hidden_layers(cfg):
        return hyper
    width = padded_width(cfg.model.hidden)
    mask = (np.arange(width) < cfg.model.hidden).astype(cfg.train.dtype)[:, None]
    return hyper._replace(unit_mask=xp.asarray(mask))


def device_arrays(ds: Dataset, dtype: str) -> tuple[jnp.ndarray, ...]:
    """(X, Y, X_val, Y_val) in the run's dtype, on the default device. Converted by NumPy and
    copied with device_put: through JAX (`jnp.asarray`), each copy would compile a small
    program (`jit(stage)`) per shape."""
    return tuple(jax.device_put(np.asarray(a, dtype)) for a in (ds.X_train, ds.Y_train, ds.X_val, ds.Y_val))


def metric_names(task: str) -> tuple[str, str]:
    return ("train_rmse", "val_rmse") if task == "regression" else ("train_accuracy", "val_accuracy")


# -- initial parameters ---------------------------------------------------------------------


def seed_keys(seed) -> jax.Array:
    """(init_key, batch_key) from train.seed (an int, or a traced uint32 under vmap)."""
    return jax.random.split(jax.random.PRNGKey(seed))


def initial_state(cfg: DictConfig, sizes: tuple[int, ...]):
    """(params0, batch_key) of the unpadded network, drawn as `init_params` draws them: the
    notes' initialisation, which `initial_states` reproduces (to the bit on JAX 0.10; to float32
    rounding of the normal transform on later JAX: tests/test_inputs.py)."""
    init_key, batch_key = seed_keys(cfg.train.seed)
    params0 = init_params(init_key, sizes, cfg.model.init, cfg.model.init_scale, dtype=cfg.train.dtype)
    return params0, batch_key


@partial(jax.jit, static_argnames=("counts", "dtype"))
def _seeded_draw(seed, counts: tuple[int, ...], dtype):
    """counts[l - 1] N(0, 1) draws from layer l's init key, and the batch key, for one seed."""
    init_key, batch_key = seed_keys(seed)
    keys = layer_keys(init_key, len(counts))
    return [jax.random.normal(k, (n,), dtype) for k, n in zip(keys, counts)], batch_key


def initial_states(configs: list[DictConfig], ds: Dataset) -> list[tuple[Params, np.ndarray]]:
    """Each job's (params0, batch_key) as host arrays, unpadded: the same numbers whether the job
    is drawn alone or beside others.

    Each job is drawn by its own call of one small program whose shape depends on the job's
    padded sizes only (so a program serves every job of a block of 8 units, and threefry, slow
    to compile, compiles once per block). A vmap over the jobs' seeds would be one call, but
    XLA vectorises the normal transform over the batch, and the float32 rounding of an element
    would then depend on how many jobs were drawn with it (seen with JAX 0.12). A layer's
    weights are the first n_l·n_{l-1} values of the draw (JAX's partitionable threefry gives a
    position the same bits whatever the draw's length), scaled here in NumPy: one IEEE
    multiply per weight (inside a program, XLA may fuse it into the draw and round differently).
    """
    pending = []
    for cfg in configs:
        padded = program_sizes(cfg, ds)
        counts = tuple(padded[l] * padded[l - 1] for l in range(1, len(padded)))
        pending.append(_seeded_draw(np.uint32(cfg.train.seed), counts, cfg.train.dtype))
    states = []
    for cfg, (draws, key) in zip(configs, jax.device_get(pending)):
        sizes, m, params = layer_sizes(cfg, ds), cfg.model, {}
        for l in range(1, len(sizes)):
            normal = draws[l - 1][: sizes[l] * sizes[l - 1]].reshape(sizes[l], sizes[l - 1])
            params[f"W{l}"] = normal * np.asarray(init_std(m.init, sizes[l - 1], m.init_scale), cfg.train.dtype)
            params[f"b{l}"] = np.zeros((sizes[l], 1), cfg.train.dtype)
        states.append((params, key))
    return states


def pad_params(params: Params, sizes: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Zero-pad every layer of `params` to `sizes` (from `program_sizes`): rows and columns."""
    padded = {}
    for l in range(1, len(sizes)):
        W, b = np.asarray(params[f"W{l}"]), np.asarray(params[f"b{l}"])
        padded[f"W{l}"] = np.pad(W, ((0, sizes[l] - W.shape[0]), (0, sizes[l - 1] - W.shape[1])))
        padded[f"b{l}"] = np.pad(b, ((0, sizes[l] - b.shape[0]), (0, 0)))
    return padded


def unpad_params(params: Params | dict[str, np.ndarray], sizes: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The network's own parameters (of `layer_sizes`) out of padded ones."""
    return {
        name: np.asarray(params[name])[: sizes[l], : sizes[l - 1] if name[0] == "W" else 1]
        for l in range(1, len(sizes))
        for name in (f"W{l}", f"b{l}")
    }


class ProgramInputs(NamedTuple):
    """Everything a job's training program takes, padded, as host arrays."""

    spec: TrainSpec
    sizes: tuple[int, ...]  # the network's own layer sizes
    program_sizes: tuple[int, ...]  # padded
    params0: dict[str, np.ndarray]  # padded
    hyper: Hyper
    batch_key: np.ndarray


def program_inputs(configs: list[DictConfig], ds: Dataset) -> list[ProgramInputs]:
    """Each job's ProgramInputs; the configs share a dataset and a dtype."""
    out = []
    for cfg, (params0, key) in zip(configs, initial_states(configs, ds)):
        padded = program_sizes(cfg, ds)
        out.append(
            ProgramInputs(
                train_spec(cfg, ds), layer_sizes(cfg, ds), padded, pad_params(params0, padded), hyper_of(cfg), key
            )
        )
    return out
