"""Job configs derived from one composition per shape equal Hydra's own, job by job."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, RunMode
from omegaconf import OmegaConf

from hydra_plugins.batched_launcher.batched_launcher import BatchedLauncher
from pipeline import composing
from pipeline.config import register_configs
from pipeline.grid import expand_grid

CONF = str(Path(__file__).resolve().parents[1] / "conf")
EXPERIMENTS = sorted(p.stem for p in (Path(CONF) / "experiment").glob("*.yaml") if p.stem != "lr_search")


@pytest.fixture
def loader():
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        yield GlobalHydra.instance().config_loader()


def master_config(loader, *overrides: str):
    """The sweep's own config, as `python -m pipeline -m OVERRIDES` composes it."""
    return loader.load_configuration("config", list(overrides), run_mode=RunMode.MULTIRUN)


def grid(master) -> list[list[str]]:
    return expand_grid(master)


def as_data(config) -> dict:
    return OmegaConf.to_container(config, resolve=False)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_job_of_every_experiment_equals_hydras_composition(loader, experiment):
    master = master_config(loader, f"+experiment={experiment}")
    composer = composing.JobComposer(loader, master)
    jobs = grid(master)
    for overrides in jobs:
        assert as_data(composer.compose(overrides)) == as_data(loader.load_sweep_config(master, overrides)), overrides
    # ...and Hydra composed once per shape (the config-group choices, the added keys), not per job.
    assert all(shape.derivable is not False for shape in composer.shapes.values())
    groups = {d.name for d in Path(CONF).iterdir() if d.is_dir()}
    not_plain = lambda o: o.startswith(("+", "~")) or o.split("=")[0] in groups
    assert len(composer.shapes) == len({tuple(filter(not_plain, o)) for o in jobs})


def counted(loader, monkeypatch) -> list:
    """Every composition Hydra's loader does from now on, one entry each."""
    calls, real = [], type(loader).load_sweep_config
    monkeypatch.setattr(
        type(loader),
        "load_sweep_config",
        lambda self, master, overrides: (calls.append(overrides), real(self, master, overrides))[1],
    )
    return calls


def test_group_choices_and_added_keys_are_shapes_of_their_own(loader, monkeypatch):
    master = master_config(loader, "data=moons,circles", "optim.lr=0.1,0.5,0.9", "+train.note=a,b")
    composer = composing.JobComposer(loader, master)
    jobs = grid(master)
    assert len(jobs) == 12
    calls = counted(loader, monkeypatch)
    derived = [composer.compose(o) for o in jobs]
    monkeypatch.undo()
    for config, overrides in zip(derived, jobs):
        composed = loader.load_sweep_config(master, overrides)
        assert as_data(config) == as_data(composed)
        assert config.data.name in ("moons", "circles") and config.train.note in ("a", "b")
    # 4 shapes (2 data sets x 2 notes), each composed by Hydra for its first two jobs only.
    assert len(composer.shapes) == 4 and len(calls) == 8


def test_override_dirname_and_task_overrides_are_each_jobs_own(loader):
    master = master_config(loader, "optim.lr=0.1,0.5", "model.hidden=3")
    composer = composing.JobComposer(loader, master)
    configs = [composer.compose(o) for o in grid(master)]
    assert [list(c.hydra.overrides.task) for c in configs] == [
        ["optim.lr=0.1", "model.hidden=3"],
        ["optim.lr=0.5", "model.hidden=3"],
    ]
    assert [c.hydra.job.override_dirname for c in configs] == [
        "model.hidden=3,optim.lr=0.1",
        "model.hidden=3,optim.lr=0.5",
    ]
    assert [c.optim.lr for c in configs] == [0.1, 0.5]


def test_a_derivation_that_differs_falls_back_to_hydra(loader, monkeypatch, caplog):
    master = master_config(loader, "optim.lr=0.1,0.2,0.3,0.4")
    composer = composing.JobComposer(loader, master)
    real_derive = composer._derive

    def wrong(shape, parsed, plain):
        config = real_derive(shape, parsed, plain)
        config.train.steps += 1
        return config

    monkeypatch.setattr(composer, "_derive", wrong)
    with caplog.at_level(logging.WARNING, logger="pipeline.composing"):
        configs = [composer.compose(o) for o in grid(master)]
    assert "composed one by one" in caplog.text
    assert [c.optim.lr for c in configs] == [0.1, 0.2, 0.3, 0.4]
    assert {c.train.steps for c in configs} == {master.train.steps}  # every one is Hydra's own


def test_a_nan_value_is_derived_as_hydra_composes_it_without_a_warning(loader, caplog):
    """NaN != NaN: compared naively, a sweep over optim.lr=0.1,nan,0.3 would look like a failed
    derivation (a warning printed before the checks refuse the NaN, and Hydra composing every job)."""
    master = master_config(loader, "optim.lr=0.1,nan,0.3")
    composer = composing.JobComposer(loader, master)
    with caplog.at_level(logging.WARNING, logger="pipeline.composing"):
        configs = [composer.compose(o) for o in grid(master)]
    assert caplog.text == ""
    assert configs[1].optim.lr != configs[1].optim.lr and [configs[0].optim.lr, configs[2].optim.lr] == [0.1, 0.3]
    assert all(shape.derivable for shape in composer.shapes.values())


def test_the_batched_launcher_gives_the_sweepers_check_the_deriving_loader(loader, monkeypatch):
    master = master_config(loader, "optim.lr=0.1,0.2,0.3,0.4,0.5,0.6")
    context = HydraContext(config_loader=loader, callbacks=None)
    BatchedLauncher().setup(hydra_context=context, task_function=lambda cfg: None, config=master)
    assert isinstance(context.config_loader, composing.DerivingConfigLoader)
    calls = counted(loader, monkeypatch)
    sweeper = SimpleNamespace(hydra_context=context, config=master)  # all the check reads of a sweeper
    Sweeper.validate_batch_is_legal(sweeper, grid(master))  # what Hydra's sweepers do before launching
    assert len(calls) == 2  # not 6: the first job of the shape, and the check of the second


def test_an_unknown_key_is_still_refused_by_hydra(loader):
    master = master_config(loader, "optim.lr=0.1,0.2")
    composer = composing.JobComposer(loader, master)
    composer.compose(["optim.lr=0.1"])
    with pytest.raises(Exception, match="optim.lrr"):
        composer.compose(["optim.lrr=0.2"])  # another shape: Hydra composes it and refuses it


def test_configs_to_read_are_right_and_share_one_scratch_copy(loader):
    master = master_config(loader, "optim.lr=0.1,0.2,0.3,0.4", "model.hidden=2,5")
    composer = composing.JobComposer(loader, master)
    jobs = grid(master)
    read = [as_data(composer.compose(o, to_read=True)) for o in jobs]
    assert read == [as_data(loader.load_sweep_config(master, o)) for o in jobs]
    later = [composer.compose(o, to_read=True) for o in jobs[2:]]
    assert all(c is later[0] for c in later)  # one scratch copy, values applied anew each time


def test_the_launcher_takes_the_config_the_sweepers_check_composed(loader):
    master = master_config(loader, "optim.lr=0.1,0.2,0.3")
    composer = composing.JobComposer(loader, master)
    jobs = grid(master)
    checked = [composer.compose_for_check(o) for o in jobs]
    taken = [composer.take(o) for o in jobs]
    assert all(a is b for a, b in zip(checked, taken))
    again = composer.take(jobs[2])  # taken already: composed anew, equal
    assert again is not taken[2] and as_data(again) == as_data(taken[2])


def test_jobs_to_check_hold_hydras_values_and_hydra_composes_once_per_shape(loader, monkeypatch):
    master = master_config(
        loader, "data=moons,circles", "optim.lr=0.1,0.5,1", "train.seed=range(0,4)", "train.batch_size=null,16"
    )
    composer = composing.JobComposer(loader, master)
    jobs = grid(master)
    assert len(jobs) == 48
    calls = counted(loader, monkeypatch)
    views = []
    for overrides in jobs:
        config = composer.to_check(overrides)
        views.append(config if isinstance(config, composing.ConfigView) else None)  # the first two are Hydra's
    monkeypatch.undo()
    assert len(calls) == 4  # 2 shapes (the data sets), each composed by Hydra for its first two jobs only
    assert sum(view is not None for view in views) == 44
    for view, overrides in zip(views, jobs):
        if view is None:
            continue
        composed = as_data(loader.load_sweep_config(master, overrides))
        del composed["hydra"]
        assert view.as_dict() == composed, overrides
    view = views[-1]  # data=circles optim.lr=1 train.seed=3 train.batch_size=16
    assert (view.data.name, view.optim.lr, view.train.seed, view.train.batch_size) == ("circles", 1.0, 3, 16)
    assert isinstance(view.optim.lr, float) and isinstance(view.train.seed, int)  # typed by the schema, as Hydra does
    assert getattr(getattr(view, "model"), "hidden") == master.model.hidden and "model" in view
    with pytest.raises(AttributeError):
        view.optim.lrr  # noqa: B018
    with pytest.raises(AttributeError):
        view.optim = None


def test_a_value_of_the_wrong_type_is_refused_by_hydras_own_step_when_checked(loader):
    master = master_config(loader, "model.hidden=1,2,3,abc")
    composer = composing.JobComposer(loader, master)
    jobs = grid(master)
    for overrides in jobs[:3]:
        composer.to_check(overrides)
    with pytest.raises(Exception, match="model.hidden"):
        composer.to_check(jobs[3])


def test_a_template_with_interpolations_or_missing_values_is_composed_to_check(loader):
    assert composing._has_references({"a": {"b": "x${c}"}}) and composing._has_references({"a": ["???"]})
    assert not composing._has_references({"a": {"b": "x", "c": [1, None]}})
    master = master_config(loader, "optim.lr=0.1,0.2,0.3")
    composer = composing.JobComposer(loader, master)
    jobs = grid(master)
    composer.to_check(jobs[0])
    (shape,) = composer.shapes.values()
    shape._values = None  # as if the template read something else through an interpolation
    checked = [composer.to_check(o) for o in jobs[1:]]
    assert not any(isinstance(c, composing.ConfigView) for c in checked)
    assert checked[-1].optim.lr == 0.3


def test_the_launcher_reads_resumes_finished_runs_once_per_sweep_not_once_per_chunk():
    launcher, queried = BatchedLauncher(chunk_size=2), []

    def query(configs):
        queried.append(configs[0].tracking.experiment)
        return {f"hash-in-{configs[0].tracking.experiment}"}

    def job(experiment: str, resume: bool = True):
        return OmegaConf.create(
            {"tracking": {"enabled": True, "uri": "sqlite:///x.db", "experiment": experiment}, "resume": resume}
        )

    assert launcher._finished_hashes([job("a"), job("a")], query) == {"hash-in-a"}  # the first chunk
    assert launcher._finished_hashes([job("a"), job("b")], query) == {"hash-in-a", "hash-in-b"}  # the next
    assert launcher._finished_hashes([job("a", resume=False)], query) == set()
    assert queried == ["a", "b"]  # each experiment's runs read once, before this sweep made any
