"""Tests for pipeline.provenance: flattening, the config hash, git state, package versions."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess

import pytest
from omegaconf import OmegaConf

from pipeline.config import Config
from pipeline.provenance import (
    PROJECT_ROOT,
    config_hash,
    flatten,
    git_state,
    package_versions,
    resolved_config,
)


def _config(**changes):
    """The schema's default config as a DictConfig, with dotted-key changes."""
    cfg = OmegaConf.structured(Config)
    for key, value in changes.items():
        OmegaConf.update(cfg, key.replace("__", "."), value, merge=False)
    return cfg


def test_flatten_nested_dicts_to_dotted_keys():
    tree = {
        "model": {"hidden": 4, "activation": "tanh", "init": {"scheme": "small"}},
        "device": "cpu",
        "empty": {},
        "list": [1, 2],
    }
    assert flatten(tree) == {
        "model.hidden": 4,
        "model.activation": "tanh",
        "model.init.scheme": "small",
        "device": "cpu",
        "list": [1, 2],  # a list is a value, not a level
    }
    assert flatten({}) == {}
    assert flatten({"a": 1}, prefix="x.") == {"x.a": 1}


def test_flatten_a_whole_config_has_every_leaf():
    flat = flatten(resolved_config(_config()))
    assert flat["model.hidden"] == 4
    assert flat["optim.lr"] == 1.2
    assert flat["tracking.uri"] == "sqlite:///mlflow.db"
    assert all(not isinstance(v, dict) for v in flat.values())


def test_resolved_config_resolves_interpolations_and_drops_hydra():
    cfg = OmegaConf.create({"a": 2, "b": "${a}", "hydra": {"run": {"dir": "x"}}})
    assert resolved_config(cfg) == {"a": 2, "b": 2}


def test_config_hash_is_stable_for_equal_configs():
    h = config_hash(_config())
    assert re.fullmatch(r"[0-9a-f]{64}", h)
    assert config_hash(_config()) == h
    # Built another way (plain dict, keys in another order), the same config: the same hash.
    plain = OmegaConf.to_container(_config())
    reordered = OmegaConf.create({k: plain[k] for k in reversed(list(plain))})
    assert config_hash(reordered) == h


@pytest.mark.parametrize(
    "key, value",
    [
        ("model.hidden", 5),
        ("model.activation", "relu"),
        ("optim.lr", 0.5),
        ("train.seed", 1),
        ("train.steps", 9999),
        ("data.name", "moons"),
        ("train.batch_size", 32),
    ],
)
def test_config_hash_changes_with_what_determines_the_result(key, value):
    assert config_hash(_config(**{key: value})) != config_hash(_config())


@pytest.mark.parametrize(
    "key, value",
    [
        ("tracking.uri", "sqlite:////elsewhere/mlflow.db"),
        ("tracking.experiment", "another"),
        ("tracking.plots", False),
        ("tracking.loss_curve", False),
    ],
)
def test_config_hash_ignores_where_results_go(key, value):
    assert config_hash(_config(**{key: value})) == config_hash(_config())


def test_config_hash_ignores_a_hydra_node():
    cfg = _config()
    with_hydra = OmegaConf.merge(OmegaConf.to_container(cfg), {"hydra": {"run": {"dir": "outputs/x"}}})
    assert config_hash(with_hydra) == config_hash(cfg)


def test_package_versions_has_the_installed_versions():
    versions = package_versions()
    import jax
    import mlflow

    assert versions["jax"] == jax.__version__
    assert versions["mlflow"] == mlflow.__version__
    assert versions["hydra-core"] == importlib.metadata.version("hydra-core")
    assert re.fullmatch(r"3\.\d+\.\d+.*", versions["python"])
    assert "not installed" not in {versions[k] for k in ("jax", "mlflow", "optax", "numpy")}


def test_git_state_is_this_checkouts_commit():
    state = git_state()
    assert re.fullmatch(r"[0-9a-f]{40}", state["git_commit"]), state
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert state["git_commit"] == head
    assert state["git_dirty"] in ("true", "false")


def test_git_state_outside_git_is_unknown(tmp_path, monkeypatch):
    import pipeline.provenance as provenance

    monkeypatch.setattr(provenance, "PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # no repository above it
    provenance.git_state.cache_clear()
    try:
        state = provenance.git_state()
        assert state == {"git_commit": "unknown", "git_dirty": "unknown"}
    finally:
        monkeypatch.undo()
        provenance.git_state.cache_clear()


def test_a_tables_hash_is_of_the_file_the_job_reads_also_from_its_own_folder(tmp_path, monkeypatch):
    """hydra.job.chdir=true: the job runs in outputs/..., its relative data.path is the starting folder's."""
    from pipeline.data import COMMAND_DIR_VARIABLE

    started, job_folder = tmp_path / "started", tmp_path / "started" / "outputs" / "job"
    job_folder.mkdir(parents=True)
    (started / "t.csv").write_text("x,y\n1,0\n2,1\n")
    cfg = _config(data__name="csv", data__path="t.csv")
    monkeypatch.chdir(started)
    from_start = config_hash(cfg)
    monkeypatch.setenv(COMMAND_DIR_VARIABLE, str(started))
    monkeypatch.chdir(job_folder)
    assert config_hash(cfg) == from_start
    (started / "t.csv").write_text("x,y\n1,0\n3,1\n")  # edited: not the same experiment any more
    assert config_hash(cfg) != from_start
