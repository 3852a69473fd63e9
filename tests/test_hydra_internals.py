"""Hydra's private functions behind pipeline/hydra_internals.py: each one removed in turn, a
sweep's jobs still compose exactly as Hydra composes them (by Hydra's public API), with one
warning, and the grid still expands in Hydra's order."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from pipeline import hydra_internals
from pipeline.composing import JobComposer
from pipeline.config import register_configs

CONF = str(Path(__file__).resolve().parents[1] / "conf")
JOBS = [
    ["optim.lr=0.1", "model.hidden=3"],
    ["optim.lr=0.5", "model.hidden=3"],
    ["optim.lr=1.2", "model.hidden=5"],
    ["data=moons", "optim.lr=0.1"],
]

# Each private name renamed, as a Hydra upgrade might; the config repository's method too.
RENAMED = ["apply_overrides", "overrides_dirname", "config_repository"]


@pytest.fixture(scope="module")
def master_and_loader():
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        master = compose("config", return_hydra_config=True)
        yield master, GlobalHydra.instance().config_loader()


def plain(config) -> dict:
    return OmegaConf.to_container(config, resolve=False)


@pytest.mark.parametrize("internal", RENAMED)
def test_without_each_internal_every_job_is_still_hydras_own_composition(
    master_and_loader, internal, monkeypatch, caplog
):
    master, loader = master_and_loader
    expected = [plain(loader.load_sweep_config(master, job)) for job in JOBS]
    if internal == "config_repository":
        monkeypatch.setattr(hydra_internals, "CONFIG_REPOSITORY", "_renamed_in_a_future_hydra")
    else:
        monkeypatch.setitem(hydra_internals.PRIVATE, internal, hydra_internals.PRIVATE[internal] + "_renamed")
    hydra_internals._warned.clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.hydra_internals"):
        composer = JobComposer(loader, master)
        composed = [plain(composer.compose(job)) for job in JOBS]
    assert composed == expected
    warnings = [r for r in caplog.records if r.name == "pipeline.hydra_internals"]
    assert len(warnings) == 1 and "renamed" in warnings[0].getMessage()


def test_with_the_internals_siblings_are_derived_not_composed(master_and_loader):
    master, loader = master_and_loader
    composer = JobComposer(loader, master)
    for job in JOBS:
        assert plain(composer.compose(job)) == plain(loader.load_sweep_config(master, job))
    shape = composer.shapes[((), ("optim.lr", "model.hidden"))]
    assert shape.derivable is True


def test_the_grid_expands_in_hydras_order_with_or_without_the_sweeper_internal(monkeypatch):
    parser = OverridesParser.create()
    overrides = parser.parse_overrides(["model.hidden=1,2,3", "optim.lr=0.1,1.2", "train.steps=10"])
    with_hydra = hydra_internals.split_sweep_arguments(overrides)
    assert len(with_hydra) == 6 and with_hydra[0] == ["model.hidden=1", "optim.lr=0.1", "train.steps=10"]
    monkeypatch.setitem(hydra_internals.PRIVATE, "split_arguments", "hydra._internal.core_plugins.basic_sweeper:Gone")
    assert hydra_internals.split_sweep_arguments(overrides) == with_hydra


def test_a_failed_jobs_error_is_read_without_hydras_stderr_line_and_through_the_public_api_if_need_be(capfd):
    from hydra.core.utils import JobReturn, JobStatus

    error = RuntimeError("boom")
    failed = JobReturn(status=JobStatus.FAILED, _return_value=error, overrides=["optim.lr=9"])
    assert hydra_internals.job_error(failed) is error
    assert hydra_internals.job_error(JobReturn(status=JobStatus.COMPLETED, _return_value=1.0)) is None
    assert capfd.readouterr().err == ""  # the public return_value writes "Error executing job ..." first

    class RenamedField:  # a Hydra release without the private field: its public property re-raises
        status = JobStatus.FAILED

        @property
        def return_value(self):
            raise error

    assert hydra_internals.job_error(RenamedField()) is error


@pytest.mark.parametrize(
    "overrides",
    [[], ["model=deep", "model.activation=leaky_relu"], ["data=moons", "optim=adam"], ["model=perceptron"]],
)
@pytest.mark.parametrize("renamed", [False, True], ids=["omegaconf's dumper", "public fallback"])
def test_plain_yaml_is_byte_for_byte_omegaconfs_yaml(master_and_loader, overrides, renamed, monkeypatch):
    from pipeline.provenance import resolved_config

    master, loader = master_and_loader
    config = loader.load_sweep_config(master, overrides)
    # What a run's resolved_config.yaml and overrides.yaml hold, and values that need quoting.
    awkward = {"text": "yes", "number_text": "1e-3", "empty": "", "null": None, "nested": [{"a": [1, 2.5, "b: c"]}]}
    if renamed:
        monkeypatch.setitem(hydra_internals.PRIVATE, "yaml_dumper", "omegaconf._utils:renamed_in_a_future_omegaconf")
    for data in ({"defaults": ["schema", "_self_"], **resolved_config(config)}, list(overrides), awkward):
        assert hydra_internals.plain_yaml(data) == OmegaConf.to_yaml(data)
