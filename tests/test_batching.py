"""Batching: which jobs share a compiled program, and that sharing changes no bit of any result.

A job's numbers must be a function of its config alone: the same bits alone as in any
batch, beside any batch-mates. The end-to-end counterpart (alone vs every launcher, through
the real command line) is tests/test_invariance.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml
from hydra import compose, initialize_config_dir

import pipeline.train
from pipeline import batching
from pipeline.config import register_configs

CONF = Path(__file__).resolve().parents[1] / "conf"
QUICK = ["train.steps=120", "train.log_every=40"]
# Optuna's search spaces are not a grid: a few values from each, to have jobs of every shape.
SEARCH_SAMPLES = {"tag(log, interval(0.001, 3.0))": ["0.003", "0.7", "2.5"]}


@pytest.fixture(scope="module")
def make_config():
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield lambda *overrides: compose("config", overrides=[*QUICK, *overrides])


def batch_sizes(configs) -> list[int]:
    return sorted(len(b.configs) for b in batching.plan(configs))


def assert_bitwise_equal(a: batching.Trained, b: batching.Trained) -> None:
    """Everything a run records from its training, compared bit for bit (NaN equal to NaN)."""
    left = jax.tree_util.tree_leaves((a.result, a.check_at_init, a.check_at_end()))
    right = jax.tree_util.tree_leaves((b.result, b.check_at_init, b.check_at_end()))
    assert len(left) == len(right)
    for x, y in zip(left, right):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def alone(cfg, compile_anew: bool = True) -> batching.Trained:
    """The job trained by itself, its programs compiled anew (nothing reused from the batch, not
    even from JAX's persistent cache on disk) unless `compile_anew` is False: then a program
    compiled for an earlier job alone may serve."""
    if not compile_anew:
        with jax.enable_x64(cfg.train.dtype == "float64"):
            return batching.train_alone(cfg)
    pipeline.train._compiled.clear()
    jax.clear_caches()
    cache_on = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        with jax.enable_x64(cfg.train.dtype == "float64"):
            trained = batching.train_alone(cfg)
            trained.check_at_end()  # compiled now, while the cache is off (it is computed on demand)
            return trained
    finally:
        jax.config.update("jax_enable_compilation_cache", cache_on)


def in_batch(configs) -> list[batching.Trained]:
    """Each job's share, in the order of `configs` (dispatch returns them batch by batch)."""
    with jax.enable_x64(configs[0].train.dtype == "float64"):
        shares = {id(cfg): trained() for cfg, trained in batching.dispatch(configs)}
    return [shares[id(cfg)] for cfg in configs]


# -- which jobs share a program -------------------------------------------------------------


def test_numbers_share_one_program_and_activations_one_each(make_config):
    configs = [
        make_config(f"model.activation={a}", f"model.hidden={h}", f"optim.lr={lr}")
        for a in ("relu", "tanh", "leaky_relu")
        for h in (1, 2, 4, 8)
        for lr in (0.01, 0.1, 0.5, 1.2)
    ]
    assert batch_sizes(configs) == [16, 16, 16]


def test_hidden_sizes_share_a_program_within_a_block_of_eight(make_config):
    configs = [make_config(f"model.hidden={h}") for h in (1, 2, 3, 4, 5, 8, 9, 20, 24, 50)]
    batches = batching.plan(configs)
    assert sorted(sorted(c.model.hidden for c in b.configs) for b in batches) == [
        [1, 2, 3, 4, 5, 8],
        [9],
        [20, 24],
        [50],
    ]


def test_structure_splits_programs(make_config):
    configs = [
        make_config("data=moons"),
        make_config("data=flower"),
        make_config("model=deep", "model.depth=2"),
        make_config("model=deep", "model.depth=3"),
        make_config("optim=adam"),
        make_config("train.grad=hand"),
        make_config("train.batch_size=64"),
        make_config("train.dtype=float64"),
    ]
    assert batch_sizes(configs) == [1] * 8


# -- the bits of a job do not depend on its batch ---------------------------------------------


# A depth is a program of its own (a train and a gradient-check program, compiled for each
# activation): the shallowest and the deepest of an experiment's depths stand for those between.
ENDS_ONLY = {"model.depth"}


def experiment_jobs(make_config, name: str) -> list:
    """Every job of an experiment's grid (a few values of a search space; of its depths, the
    first and the last), with short training."""
    params = yaml.safe_load((CONF / "experiment" / f"{name}.yaml").read_text())["hydra"]["sweeper"]["params"]
    axes = []
    for key, declared in params.items():
        values = SEARCH_SAMPLES.get(str(declared)) or _values(str(declared))
        if key in ENDS_ONLY:
            values = [values[0], values[-1]] if len(values) > 1 else values
        axes.append([f"{key}={value}" for value in values])
    return [make_config(f"+experiment={name}", *QUICK, *combo) for combo in itertools.product(*axes)]


def _values(declared: str) -> list[str]:
    if declared.startswith("choice("):
        declared = declared[len("choice(") : -1]
    return [v.strip() for v in declared.split(",")]


def one_of_each_program(configs) -> list:
    """(first, last) job of each program (every distinct shape, and a batch-mate; last None if alone)."""
    return [(b.configs[0], b.configs[-1] if len(b.configs) > 1 else None) for b in batching.plan(configs)]


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiments_jobs_have_the_bits_they_have_alone(make_config, experiment):
    configs = experiment_jobs(make_config, experiment)
    by_hash = {}
    for dtype_configs in _by_dtype(configs):
        for cfg, trained in zip(dtype_configs, in_batch(dtype_configs)):
            by_hash[id(cfg)] = trained
    # Alone, each job gets the program its batch ran (a job's program depends on its own config:
    # its padding, its structure), so what is compared is everything else a batch could change:
    # its initial state, its data, its place among batch-mates. The last program is compiled anew
    # too (caches cleared): the same bits from a fresh compile. (Compiling every program twice
    # made this test take minutes; tests/test_invariance.py runs jobs alone in their own processes.)
    programs = one_of_each_program(configs)
    for i, (first, last) in enumerate(programs):
        if last is not None:
            assert_bitwise_equal(by_hash[id(last)], alone(last, compile_anew=False))
        assert_bitwise_equal(by_hash[id(first)], alone(first, compile_anew=i == len(programs) - 1))


def _by_dtype(configs):
    return [
        [c for c in configs if c.train.dtype == d]
        for d in ("float32", "float64")
        if any(c.train.dtype == d for c in configs)
    ]


def test_a_sweeps_first_program_compiled_ahead_is_the_one_its_batch_uses(make_config):
    job = make_config("model.activation=tanh", "model.hidden=3", "optim.lr=0.5", "train.seed=1")
    mate = make_config("model.activation=tanh", "model.hidden=5", "optim.lr=0.1", "train.seed=2")
    pipeline.train._compiled.clear()
    jax.clear_caches()
    batching.compile_ahead(job)
    for thread in batching._ahead:
        thread.join()
    ahead = dict(pipeline.train._compiled)
    assert len(ahead) == 1  # the job's training program
    trained = in_batch([job, mate])
    assert pipeline.train._compiled == ahead  # the batch took it, compiled nothing new
    assert_bitwise_equal(trained[0], alone(job))


STRUCTURES = {
    "default": [],
    "hand": ["train.grad=hand"],
    "minibatch": ["train.batch_size=64"],
    "momentum": ["optim=momentum"],
    "adam": ["optim=adam"],
    "deep": ["model=deep", "model.depth=3"],
    "float64": ["train.dtype=float64"],
    "logistic": ["model=logistic"],
    "perceptron": ["model=perceptron", "data=blobs"],
}


@pytest.mark.parametrize(
    "structure", [s if s == "default" else pytest.param(s, marks=pytest.mark.slow) for s in STRUCTURES]
)
def test_a_jobs_bits_do_not_depend_on_its_batch_mates(make_config, structure):
    extra = STRUCTURES[structure]
    job = make_config(*extra, "model.activation=tanh", "model.hidden=3", "optim.lr=0.5", "train.seed=1")
    mates_a = [
        make_config(*extra, "model.activation=tanh", f"model.hidden={h}", f"optim.lr={lr}", f"train.seed={s}")
        for h, lr, s in [(1, 1.2, 0), (8, 0.01, 5), (5, 0.1, 9)]
    ]
    mates_b = [make_config(*extra, "model.activation=tanh", "model.hidden=7", "optim.lr=3.0", "train.seed=4")]
    first = in_batch([*mates_a, job])[-1]
    second = in_batch([job, *mates_b])[0]
    assert_bitwise_equal(first, second)
    assert_bitwise_equal(first, alone(job))


def test_a_diverging_job_does_not_spoil_its_batch(make_config):
    configs = [make_config("model.activation=relu", "model.init=he", f"optim.lr={lr}") for lr in (0.5, 1e9, 1.2)]
    shares = in_batch(configs)
    assert batch_sizes(configs) == [3]  # they did share one program
    diverged = [int(s.result.diverged_at) for s in shares]
    assert diverged[1] >= 1 and diverged[0] == diverged[2] == -1
    assert all(np.isfinite(np.asarray(v)).all() for v in shares[1].result.params.values())
    assert_bitwise_equal(shares[2], alone(configs[2]))


def test_shares_are_unpadded_and_timed_per_job(make_config):
    configs = [make_config(f"model.hidden={h}", f"optim.lr={lr}") for h, lr in [(3, 0.1), (5, 1.2)]]
    shares = in_batch(configs)
    assert shares[0].result.params["W1"].shape == (3, 2) and shares[1].result.params["W2"].shape == (1, 5)
    assert shares[0].tags["model.padded_sizes"] == "2-8-1" and shares[0].tags["batch.size"] == "2"
    for share in shares:
        assert share.timings["train_seconds"] > 0
        # A job's compile time is its share of the one compile of its batch's program.
        assert share.timings["compile_seconds"] == pytest.approx(
            float(share.tags["batch.compile_seconds"]) / 2, rel=1e-3, abs=1e-3
        )
