"""The batched launcher: which jobs share a program, and that sharing changes no result."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from _cli import client, run_cli, runs
from pipeline import batching, provenance
from pipeline.config import register_configs
from pipeline.run import initial_state, layer_sizes, train_alone, train_spec

CONF = str(Path(__file__).resolve().parents[1] / "conf")
QUICK = ["train.steps=120", "train.log_every=40"]


@pytest.fixture(scope="module")
def make_config():
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        yield lambda *overrides: compose("config", overrides=[*QUICK, *overrides])


def sizes_of(batches):
    return sorted(len(b) for b in batches)


def test_numbers_and_activations_share_one_program(make_config):
    configs = [make_config(f"model.activation={a}", f"model.hidden={h}", f"optim.lr={lr}")
               for a in ("relu", "tanh", "leaky_relu") for h in (1, 2, 4, 8) for lr in (0.01, 0.1, 0.5, 1.2)]
    batches = batching.plan(configs)
    assert sizes_of(batches) == [48]


def test_structure_splits_groups(make_config):
    configs = [make_config("data=moons"), make_config("data=flower"),
               make_config("model=deep", "model.depth=2"), make_config("model=deep", "model.depth=3"),
               make_config("optim=adam"), make_config("train.grad=hand")]
    assert sizes_of(batching.plan(configs)) == [1, 1, 1, 1, 1, 1]


def test_far_apart_hidden_sizes_are_not_padded_together(make_config):
    # Padded to 200 units, the five would do 1000 units' work for 210 units' worth: over
    # PADDING_WASTE, so the group is cut at its widest gap. Close sizes stay together.
    configs = [make_config(f"model.hidden={h}") for h in (1, 2, 3, 4, 200)]
    batches = batching.plan(configs)
    assert sorted(sorted(j.hidden for j in b) for b in batches) == [[1, 2, 3, 4], [200]]
    configs = [make_config(f"model.hidden={h}") for h in (1, 2, 4, 8, 20, 50)]
    assert sizes_of(batching.plan(configs)) == [6]


def test_a_group_too_large_for_memory_is_chunked(make_config):
    configs = [make_config(f"optim.lr={lr}") for lr in (0.1, 0.2, 0.3, 0.4, 0.5)]
    per_job = batching.bytes_per_job(configs[0], batching.dataset_of(configs[0]), 4)
    batches = batching.plan(configs, memory_budget_mb=(2 * per_job) / 2**20)
    assert sizes_of(batches) == [1, 2, 2]


def _alone(cfg):
    ds = batching.dataset_of(cfg)
    return train_alone(cfg, ds, train_spec(cfg, ds), *initial_state(cfg, layer_sizes(cfg, ds)))


def _batched(configs, budget_mb=1024):
    shares = {}
    for jobs in batching.plan(configs, budget_mb):
        run = batching.BatchRun(jobs, "test")
        for index, job in enumerate(jobs):
            shares[job.config_hash] = run.trained(index)
    return [shares[provenance.config_hash(c)] for c in configs]


# vmapped and unbatched XLA programs need not agree to the last bit (reduction order). In
# float64 the padded, masked, batched program agrees with each job alone to about 1e-15, so
# the batching is exact math; in float32 the rounding differences (about 1e-7) can grow
# through training, much more for chaotic settings (a deep tanh net at lr 1.2: 1e-2).
RTOL, ATOL = 1e-4, 1e-5  # float32, tame settings


def _assert_same(batched, alone, rtol, atol):
    assert set(batched.result.params) == set(alone.result.params)
    for name, value in alone.result.params.items():
        assert batched.result.params[name].shape == value.shape  # unpadded back to the job's size
        np.testing.assert_allclose(batched.result.params[name], value, rtol=rtol, atol=atol, err_msg=name)
    for field in ("loss", "train_metric", "val_metric", "grad_norm"):
        np.testing.assert_allclose(getattr(batched.result.history, field), getattr(alone.result.history, field),
                                   rtol=rtol, atol=atol, err_msg=field)
    np.testing.assert_allclose(batched.check_at_init.rel_error, alone.check_at_init.rel_error, atol=1e-12)
    assert float(batched.check_at_end().rel_error) < 1e-10


@pytest.mark.parametrize("model", [("model=shallow",), ("model=deep", "model.depth=2"), ("model=logistic",),
                                   ("model=perceptron", "data=blobs")], ids=lambda m: m[0])
def test_batched_results_equal_training_alone_in_float64(make_config, model):
    jobs = [("tanh", 2, 1.2, 0), ("relu", 5, 0.5, 1), ("leaky_relu", 3, 0.1, 2)]
    configs = [make_config(*model, "train.dtype=float64", f"model.activation={a}", f"model.hidden={h}",
                           f"optim.lr={lr}", f"train.seed={s}") for a, h, lr, s in jobs]
    if model[0] == "model=perceptron":
        configs = [make_config(*model, "train.dtype=float64", f"optim.lr={lr}", f"train.seed={s}")
                   for lr, s in [(0.1, 0), (1.0, 1)]]
    with jax.enable_x64(True):
        assert len(batching.plan(configs)) == 1
        for cfg, batched in zip(configs, _batched(configs)):
            _assert_same(batched, _alone(cfg), rtol=1e-10, atol=1e-12)


def test_batched_results_equal_training_alone_in_float32(make_config):
    configs = [make_config(f"model.activation={a}", f"model.hidden={h}", f"optim.lr={lr}")
               for a, h, lr in [("tanh", 4, 1.2), ("relu", 20, 0.5), ("sigmoid", 3, 0.1)]]
    for cfg, batched in zip(configs, _batched(configs)):
        _assert_same(batched, _alone(cfg), rtol=RTOL, atol=ATOL)


def test_a_diverging_job_does_not_spoil_its_batch(make_config):
    configs = [make_config("model.activation=relu", "model.init=he", f"optim.lr={lr}") for lr in (0.5, 1e9, 1.2)]
    shares = _batched(configs)
    assert len(batching.plan(configs)) == 1  # they did share one program
    diverged = [int(s.result.diverged_at) for s in shares]
    assert diverged[1] >= 1 and diverged[0] == diverged[2] == -1
    for cfg, share in zip([configs[0], configs[2]], [shares[0], shares[2]]):
        np.testing.assert_allclose(share.result.params["W1"], _alone(cfg).result.params["W1"], rtol=RTOL, atol=ATOL)
    assert all(np.isfinite(np.asarray(v)).all() for v in shares[1].result.params.values())


def test_chunked_and_whole_batches_give_the_same_results(make_config):
    configs = [make_config(f"optim.lr={lr}", "model.activation=tanh") for lr in (0.1, 0.5, 1.2)]
    whole = _batched(configs)
    per_job = batching.bytes_per_job(configs[0], batching.dataset_of(configs[0]), 4)
    chunked = _batched(configs, budget_mb=per_job / 2**20)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a.result.params["W2"], b.result.params["W2"], rtol=RTOL, atol=ATOL)


@pytest.mark.slow
def test_batched_and_basic_launchers_write_the_same_mlflow_structure(tmp_path):
    grid = ["+experiment=relu_sweep", *QUICK, "model.hidden=1,3", "optim.lr=0.1,1.2"]
    stores = {}
    for launcher in ("basic", "batched"):
        where = tmp_path / launcher
        where.mkdir()
        result = run_cli(where, *grid, f"hydra/launcher={launcher}")
        assert result.returncode == 0, result.stderr
        stores[launcher] = where

    def structure(where):
        table = runs(where, "relu_sweep")
        children = table[table["tags.mlflow.parentRunId"].notna()]
        columns = {c for c in table.columns if not c.startswith("tags.batch.")}
        artifacts = {a.path for a in client(where).list_artifacts(children.iloc[0]["run_id"])}
        finals = {(r["params.model.hidden"], r["params.optim.lr"]): r["metrics.val_accuracy"]
                  for _, r in children.iterrows()}
        return len(children), set(children["status"]), columns, artifacts, finals

    basic, batched = structure(stores["basic"]), structure(stores["batched"])
    assert basic[:4] == batched[:4]
    for key, value in basic[4].items():
        assert batched[4][key] == pytest.approx(value, abs=1e-6)
    batched_runs = runs(stores["batched"], "relu_sweep")
    assert set(batched_runs["tags.batch.size"].dropna()) == {"4"}  # all four in one program


@pytest.mark.parametrize("init", ["small", "xavier", "he"])
def test_batched_initial_states_are_each_jobs_own(make_config, init):
    # One vmapped program draws every job's initial parameters; they must be the very numbers
    # each job draws alone (pipeline.run.initial_state), to the bit.
    configs = [make_config(f"model.hidden={h}", f"train.seed={seed}", f"model.init={init}",
                           f"model.init_scale={scale}")
               for h, seed, scale in ((1, 0, 0.01), (4, 7, 0.5), (4, 2**32 - 1, 0.01), (8, 123456, 2.0))]
    ds = batching.dataset_of(configs[0])
    jobs = [batching.Job(c, provenance.config_hash(c), c.model.hidden) for c in configs]
    for (params, key), cfg in zip(batching.initial_states(jobs, ds), configs):
        own_params, own_key = initial_state(cfg, layer_sizes(cfg, ds))
        np.testing.assert_array_equal(key, np.asarray(own_key))
        assert params.keys() == own_params.keys()
        for name in params:
            np.testing.assert_array_equal(params[name], np.asarray(own_params[name]), err_msg=name)
