"""Batched sweeps: a group of jobs trained as ONE jit(vmap(scan(train step))) program.

On networks this small, a sweep's time goes to overhead, not arithmetic: each job compiles
its own XLA program (about 0.8 s here, against well under a second of training), then
dispatches it. So jobs are grouped, and each group is compiled once and trained at once.

How jobs are grouped, and why (the costs measured on a 2-core CPU for the 48-job
benchmark, activations × hidden sizes × learning rates):

- Numbers become vmapped axes: learning rate, seed (the initial parameters and the batch
  key), leaky slope, momentum, Adam's betas and eps, the init scheme and scale (the
  initial parameters are computed per job before batching).
- The hidden activation becomes a number too: an index that `lax.switch` turns into the
  job's activation (under vmap every branch is computed and one selected, a few extra
  elementwise ops against a whole extra compile).
- Hidden sizes are padded to the group's largest, with a 0/1 mask on the units, so a
  narrower job computes exactly what it would alone (models/activations.chosen_by_index).
  One program per (activation, hidden size) pair would cost about 0.8 s of compile each,
  10 s for the benchmark; padded and selected, one program compiles in about 1.4 s. Padding
  wastes arithmetic, so a group whose padded work would exceed `PADDING_WASTE` times its
  real work is split at its widest gap in hidden size.
- What changes shapes or code stays apart: the dataset, the model kind and depth, the
  output unit, the optimizer, the gradient mode, steps, logging interval, batch size, dtype.
- A group too large for memory is cut into chunks (`memory_budget_mb`).

Results of batched and unbatched programs agree to float tolerance, not to the bit: XLA
may order a vmapped reduction differently. In float64 they agree to about 1e-15 (the
padding and masking are exact); in float32 rounding differences of about 1e-7 can grow
through training, to 1e-4 relative on tame settings and far more on chaotic ones (a deep
tanh network at lr 1.2: 1e-2 after 120 steps). Reruns with the same launcher are bitwise
identical. Runs record `batch.group`, `batch.size` and `batch.padded_hidden` as tags.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Sequence

import jax
import numpy as np
from omegaconf import DictConfig

from models.activations import GRADIENT_ACTIVATIONS
from models.network import init_std, layer_keys
from pipeline import precomputed, provenance
from pipeline.config import hidden_layers
from pipeline.data import Dataset, load_from_config
from pipeline.gradcheck import as_float64, check_examples, gradient_errors
from pipeline.run import Trained, device_arrays, hyper_of, layer_sizes, seed_keys, train_spec
from pipeline.train import CHOSEN_BY_INDEX, Hyper, TrainResult, TrainSpec, train

PADDING_WASTE = 4.0  # at most this many times the real arithmetic, else split the group
# Finite-difference evaluations at once, per job (vmapped over the jobs): all of them for a
# small network (one vmap compiles in about half the time of a loop), else FD_CHUNK at a time.
FD_CHUNK, FD_ALL_AT_ONCE_UP_TO = 32, 256

# Keys whose values change the program's shapes or code: jobs differing here never share one.
STRUCTURAL_KEYS = (
    "data", "model.name", "model.depth", "model.output", "optim.name", "train.grad", "train.steps",
    "train.log_every", "train.batch_size", "train.dtype", "gradcheck", "device",
)


@dataclass
class Job:
    config: DictConfig
    config_hash: str
    hidden: int  # units per hidden layer (0 without hidden layers)


def group_key(cfg: DictConfig) -> tuple:
    """Jobs with equal keys can share a compiled program."""
    flat = provenance.flatten(provenance.resolved_config(cfg))
    key = tuple(sorted((k, repr(v)) for k, v in flat.items() if k.startswith(STRUCTURAL_KEYS)))
    # Without hidden layers the depth key of a deep model is the only structure left.
    return key + (("hidden_layers", hidden_layers(cfg)),)


def split_by_padding(jobs: list[Job], waste: float = PADDING_WASTE) -> list[list[Job]]:
    """Cut a group (sorted by hidden size) where padding everyone to the widest would waste too much."""
    jobs = sorted(jobs, key=lambda j: j.hidden)
    widest, real = jobs[-1].hidden, sum(max(j.hidden, 1) for j in jobs)
    if len(jobs) < 2 or widest * len(jobs) <= waste * real:
        return [jobs]
    gaps = [jobs[i + 1].hidden / max(jobs[i].hidden, 1) for i in range(len(jobs) - 1)]
    cut = int(np.argmax(gaps)) + 1
    return split_by_padding(jobs[:cut], waste) + split_by_padding(jobs[cut:], waste)


def bytes_per_job(cfg: DictConfig, ds: Dataset, hidden: int) -> int:
    """A generous estimate of one job's memory inside a batched program."""
    itemsize = 8 if cfg.train.dtype == "float64" else 4
    sizes = [ds.n_features] + [hidden] * hidden_layers(cfg) + [1]
    n_params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    activations = ds.m_train * sum(sizes[1:]) * 6  # Z, A, dZ, g'(Z), and a copy or two
    history = (cfg.train.steps // cfg.train.log_every + 2) * (3 + len(sizes))
    check = fd_chunk(n_params) * (n_params + cfg.gradcheck.max_examples * sum(sizes[1:]) * 2) * 8
    return itemsize * (n_params * 6 + activations + history) + check


def fd_chunk(n_params: int) -> int:
    return n_params if n_params <= FD_ALL_AT_ONCE_UP_TO else FD_CHUNK


def params_per_job(stacked_params) -> int:
    """The number of parameters of one job, from the batch's stacked (job axis first) params."""
    return sum(int(np.prod(np.shape(leaf)[1:])) for leaf in jax.tree_util.tree_leaves(stacked_params))


def chunks(jobs: list[Job], ds: Dataset, budget_bytes: int) -> list[list[Job]]:
    per_job = bytes_per_job(jobs[0].config, ds, max(j.hidden for j in jobs))
    size = max(1, int(budget_bytes // per_job))
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


def plan(configs: Sequence[DictConfig], memory_budget_mb: int = 1024) -> list[list[Job]]:
    """The sweep's jobs, in batches that each become one compiled program."""
    groups: dict[tuple, list[Job]] = {}
    for cfg in configs:
        job = Job(cfg, provenance.config_hash(cfg), cfg.model.hidden if hidden_layers(cfg) else 0)
        groups.setdefault(group_key(cfg), []).append(job)
    batches = []
    for members in groups.values():
        ds = dataset_of(members[0].config)
        for part in split_by_padding(members):
            batches += chunks(part, ds, memory_budget_mb * 2**20)
    return batches


def dataset_of(cfg: DictConfig) -> Dataset:
    return load_from_config(cfg.data)


# -- one batch, one program -----------------------------------------------------------------


def pad_params(params: dict[str, np.ndarray], hidden: int, L: int) -> dict[str, np.ndarray]:
    """Zero-pad every hidden layer of `params` to `hidden` units (rows, and columns after layer 1)."""
    padded = {}
    for l in range(1, L + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        rows = hidden - W.shape[0] if l < L else 0
        cols = hidden - W.shape[1] if l > 1 else 0
        padded[f"W{l}"] = np.pad(W, ((0, rows), (0, cols)))
        padded[f"b{l}"] = np.pad(b, ((0, rows), (0, 0)))
    return padded


def unpad_params(params: dict[str, np.ndarray], hidden: int, L: int) -> dict[str, np.ndarray]:
    out = {}
    for l in range(1, L + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        rows = hidden if l < L else W.shape[0]
        cols = hidden if l > 1 else W.shape[1]
        out[f"W{l}"], out[f"b{l}"] = W[:rows, :cols], b[:rows]
    return out


def stack(trees: list) -> Any:
    """Per-job trees of host arrays -> one tree with a leading job axis (stacked in NumPy: an
    eager jnp.stack would compile a small program for every new shape)."""
    return jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *trees)


@partial(jax.jit, static_argnames=("counts", "dtype"))
def _seeded_draws(seeds, counts: tuple[int, ...], dtype):
    """For many seeds at once: counts[l - 1] N(0, 1) draws from layer l's init key, and the batch key."""

    def one(seed):
        init_key, batch_key = seed_keys(seed)
        keys = layer_keys(init_key, len(counts))
        return [jax.random.normal(k, (n,), dtype) for k, n in zip(keys, counts)], batch_key

    return jax.vmap(one)(seeds)


def initial_states(jobs: list[Job], ds: Dataset) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Each job's (params0, batch_key) as host arrays: the very numbers of its own `initial_state`.

    Drawing each job alone costs a compile of about 0.2 s per weight shape (threefry is slow
    to compile). With JAX's partitionable threefry (its default), the value at a position of
    a draw does not depend on the draw's size, so a layer's weights are the first
    n_l·n_{l-1} values of one long flat draw: one program draws for all jobs of the batch
    (vmapped over seeds), whatever their widths. The scaling is done here, in NumPy: one
    IEEE multiply per weight, like init_params' eager `normal * std` (inside a program, XLA
    may fuse that multiply into the draw and round differently). tests/test_batching.py
    checks the result bit for bit.
    """
    if not jax.config.jax_threefry_partitionable:  # then a draw's values depend on its shape
        from pipeline.run import initial_state

        return [jax.device_get(initial_state(j.config, layer_sizes(j.config, ds))) for j in jobs]
    all_sizes = [layer_sizes(j.config, ds) for j in jobs]
    counts = tuple(max(sizes[l] * sizes[l - 1] for sizes in all_sizes) for l in range(1, len(all_sizes[0])))
    dtype = jobs[0].config.train.dtype  # one per batch (a structural key)
    seeds = np.array([j.config.train.seed for j in jobs], np.uint32)
    draws, keys = jax.device_get(_seeded_draws(seeds, counts, dtype))
    states = []
    for row, (job, sizes) in enumerate(zip(jobs, all_sizes)):
        m, params = job.config.model, {}
        for l in range(1, len(sizes)):
            normal = draws[l - 1][row, : sizes[l] * sizes[l - 1]].reshape(sizes[l], sizes[l - 1])
            params[f"W{l}"] = normal * np.asarray(init_std(m.init, sizes[l - 1], m.init_scale), dtype)
            params[f"b{l}"] = np.zeros((sizes[l], 1), dtype)
        states.append((params, keys[row]))
    return states


@partial(jax.jit, static_argnums=0)
def _train_batch(spec: TrainSpec, params, data, hyper, keys):
    return jax.vmap(partial(train, spec), in_axes=(0, None, 0, 0))(params, data, hyper, keys)


@partial(jax.jit, static_argnames=("spec", "epsilon"))
def _check_batch(spec: TrainSpec, params, X, Y, hyper, epsilon):
    """The gradient check of every job, in float64 (cast here, in the program: cast outside,
    each array's conversion would be an eager op, compiled for its shape)."""
    check = partial(gradient_errors, spec, epsilon=epsilon, fd_chunk=fd_chunk(params_per_job(params)))
    return jax.vmap(lambda p, h: check(p, X, Y, h))(as_float64(params), as_float64(hyper))


def batch_spec(cfg: DictConfig, ds: Dataset) -> TrainSpec:
    spec = train_spec(cfg, ds)
    # With hidden layers, each job picks its activation by index; without, none is used.
    return spec._replace(hidden_activation=CHOSEN_BY_INDEX if hidden_layers(cfg) else "identity")


def job_hyper(cfg: DictConfig, hidden: int, widest: int) -> Hyper:
    """The job's numbers as host arrays, plus its activation index and unit mask when it has
    hidden layers."""
    hyper = hyper_of(cfg, xp=np)
    if not hidden_layers(cfg):
        return hyper
    mask = (np.arange(widest) < hidden).astype(cfg.train.dtype)[:, None]
    return hyper._replace(activation_index=np.asarray(GRADIENT_ACTIVATIONS.index(cfg.model.activation), np.int32),
                          unit_mask=mask)


class BatchRun:
    """One batch dispatched to XLA; each job's share is taken when the job records it.

    JAX dispatches asynchronously, so while the first jobs of the sweep are written to
    MLflow the later batches are still training: recording overlaps with computing.
    """

    def __init__(self, jobs: list[Job], label: str):
        self.jobs, self.label = jobs, label
        first = jobs[0].config
        self.ds = dataset_of(first)
        self.spec = batch_spec(first, self.ds)
        self.L = hidden_layers(first) + 1
        self.widest = max(j.hidden for j in jobs)
        with jax.enable_x64(first.train.dtype == "float64"):
            self._dispatch(first)

    def _dispatch(self, first: DictConfig) -> None:
        states = initial_states(self.jobs, self.ds)
        params0 = stack([pad_params(p, self.widest, self.L) for p, _ in states])
        keys = np.stack([k for _, k in states])
        hyper = stack([job_hyper(j.config, j.hidden, self.widest) for j in self.jobs])
        data = device_arrays(self.ds, first.train.dtype)
        started = time.perf_counter()
        program = _train_batch.lower(self.spec, params0, data, hyper, keys).compile()
        self.compile_seconds = time.perf_counter() - started
        self.dispatched = time.perf_counter()
        self.result: TrainResult = program(params0, data, hyper, keys)  # asynchronous
        self.train_seconds = None
        with jax.enable_x64(True):
            X, Y = check_examples(self.ds, first.gradcheck)
            check = partial(_check_batch, self.spec, X=X, Y=Y, hyper=hyper, epsilon=first.gradcheck.epsilon)
            self.check_at_init, self.check_at_end = check(params0), check(self.result.params)

    def trained(self, index: int) -> Trained:
        """Job `index`'s share, unpadded, as if it had trained alone (blocks until the batch is done)."""
        if self.train_seconds is None:
            jax.block_until_ready(self.result)
            self.train_seconds = time.perf_counter() - self.dispatched
            # To the host once; each job's share is then a NumPy view, not a device op.
            self.result, self.check_at_init, self.check_at_end = jax.device_get(
                (self.result, self.check_at_init, self.check_at_end))
        job = self.jobs[index]
        take = lambda tree: jax.tree_util.tree_map(lambda x: x[index], tree)
        result = take(self.result)
        result = result._replace(params=unpad_params(result.params, job.hidden, self.L))
        check_at_end = take(self.check_at_end)
        return Trained(
            check_at_init=take(self.check_at_init),
            result=result,
            timings={"compile_seconds": self.compile_seconds, "train_seconds": self.train_seconds},
            check_at_end=lambda: check_at_end,
            tags={"batch.group": self.label, "batch.size": str(len(self.jobs)),
                  "batch.padded_hidden": str(self.widest)},
        )


def precompute(configs: Sequence[DictConfig], memory_budget_mb: int = 1024) -> list[BatchRun]:
    """Plan the batches, dispatch each as one program, and offer each job its share."""
    batches = plan(configs, memory_budget_mb)
    runs = []
    for number, jobs in enumerate(batches):
        run = BatchRun(jobs, f"{number + 1}/{len(batches)}")
        for index, job in enumerate(jobs):
            precomputed.offer(job.config_hash, partial(run.trained, index))
        runs.append(run)
    return runs
