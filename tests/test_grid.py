"""Tests for pipeline/grid.py: what a sweep varies, and its values written short."""

from omegaconf import OmegaConf

from pipeline.grid import job_label, remember_swept, remembered_swept, short_value, swept_keys


def _config(params=None, task=()):
    return OmegaConf.create({"hydra": {"sweeper": {"params": params or {}}, "overrides": {"task": list(task)}}})


def test_swept_keys_from_the_grid_and_the_command_line():
    config = _config(
        {"model.hidden": "1,2,3"},
        ["+experiment=relu_sweep", "optim.lr=0.1,1.2", "train.steps=200", "model.depth=range(2,5)"],
    )
    assert swept_keys(config) == {"model.hidden": "1,2,3", "optim.lr": "0.1,1.2", "model.depth": "range(2,5)"}
    assert swept_keys(_config()) == {}


def test_values_are_short():
    assert short_value("0.08096384026619578") == "0.081"
    assert short_value(0.08096384026619578) == "0.081"
    assert short_value("1e-05") == "1e-05"
    assert short_value("1.2") == "1.2"
    assert short_value("50") == "50" and short_value(50) == "50"
    assert short_value("relu") == "relu"
    assert short_value(True) == "true"


def test_a_jobs_label_keeps_only_its_swept_values():
    overrides = ["+experiment=lr_search", "optim.lr=0.08096384026619578", "model.hidden=20", "train.steps=100"]
    swept = {"optim.lr", "model.hidden"}
    assert job_label(overrides, swept) == "optim.lr=0.081 model.hidden=20"
    assert job_label(overrides, swept, short_keys=True) == "lr=0.081 hidden=20"
    assert job_label(["train.steps=100"], swept) == "job"


def test_a_sweeps_keys_are_remembered_for_its_jobs_by_its_parent_run():
    assert remembered_swept("no-such-parent") is None  # a worker process: its jobs read the parent run
    remember_swept("parent-1", {"data": "flower,moons", "model.hidden": "1,2"})
    assert remembered_swept("parent-1") == ("data", "model.hidden")


def test_a_swept_config_group_is_labelled_by_its_option():
    overrides = ["+experiment=logistic_vs_shallow", "data=moons", "model=logistic"]
    assert job_label(overrides, {"data", "model"}) == "data=moons model=logistic"
