"""hydra/sweeper=optuna (hydra_plugins/optuna_sweeper): the search space, asking in rounds of
n_jobs, telling (failures as FAIL), resuming from a storage; then the real command line."""

from __future__ import annotations

import math
import re
import sqlite3
from pathlib import Path

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.optuna_sweeper.optuna_sweeper import (
    OptunaSweeper,
    Probes,
    describe,
    job_outcome,
    probe_trials,
    resolve_direction,
    save_plots,
)
from hydra_plugins.optuna_sweeper.search_space import format_value, parse_search_space
from pipeline.job import JobResult

from _cli import assert_refused, client, run_cli

LR_SEARCH_SPACE = {"optim.lr": "tag(log, interval(0.001, 3.0))", "model.hidden": "choice(1, 2, 3, 4, 5, 10, 20, 50)"}


# -- the search space ------------------------------------------------------------------------------


def refused(match=None):
    """pytest.raises for a SearchSpaceError, by name: Hydra's plugin scan executes the plugin's
    modules again, so the class a test imported need not be the one raised."""
    return pytest.raises(ValueError, match=match)


def test_the_experiment_files_syntax_becomes_optuna_distributions():
    space = parse_search_space(
        {
            **LR_SEARCH_SPACE,
            "train.steps": "range(100, 1000, 100)",
            "model.leaky_slope": "interval(0.01, 0.3)",
            "model.activation": "tanh,relu",
            "train.seed": "tag(int, interval(0, 7))",
            "data.name": "flower",
        }
    )
    d = space.distributions
    assert d["optim.lr"] == FloatDistribution(0.001, 3.0, log=True)
    assert d["model.hidden"] == CategoricalDistribution([1, 2, 3, 4, 5, 10, 20, 50])
    assert d["train.steps"] == IntDistribution(100, 900, step=100)  # range's stop is excluded, as in Hydra
    assert d["model.leaky_slope"] == FloatDistribution(0.01, 0.3)
    assert d["model.activation"] == CategoricalDistribution(["tanh", "relu"])
    assert d["train.seed"] == IntDistribution(0, 7)
    assert space.fixed == ["data.name=flower"]


def test_a_trials_overrides_carry_every_value_in_full():
    space = parse_search_space(LR_SEARCH_SPACE, ["+experiment=lr_search", "train.steps=100"])
    overrides = space.overrides({"optim.lr": 0.08096384026619578, "model.hidden": 50})
    assert overrides == ["+experiment=lr_search", "train.steps=100", "optim.lr=0.08096384026619578", "model.hidden=50"]
    assert [format_value(v) for v in (None, True, 1e-05, "tanh")] == ["null", "true", "1e-05", "tanh"]


def test_the_command_line_overrides_the_experiment_files_search_space():
    space = parse_search_space(LR_SEARCH_SPACE, ["model.hidden=4", "optim.lr=interval(0.1, 1)"])
    assert set(space.distributions) == {"optim.lr"}
    assert space.distributions["optim.lr"] == FloatDistribution(0.1, 1.0)
    assert space.fixed == ["model.hidden=4"]


@pytest.mark.parametrize(
    "value, named",
    [
        ("interval(3, 1)", "low < high"),
        ("tag(log, interval(0, 1))", "low > 0"),
        ("choice()", "choice"),
        ("range(5, 1)", "holds no value"),
        ("tag(fancy, interval(1, 2))", "unknown tag 'fancy'"),
        ("tag(log, choice(1, 2))", "interval(...) only"),
        ("choice(1, 1)", "listed twice"),
        ("interval(1", "does not parse"),
    ],
)
def test_a_malformed_search_space_is_refused_naming_it(value, named):
    with refused() as error:
        parse_search_space({"optim.lr": value})
    assert type(error.value).__name__ == "SearchSpaceError"
    message = str(error.value)
    assert named in message and "optim.lr" in message and "\n" not in message


def test_a_search_space_with_nothing_to_search_is_refused():
    with refused(match="nothing to search"):
        parse_search_space({"optim.lr": "0.5"})


# -- asking and telling, with a launcher that only records ----------------------------------------


class RecordingLauncher:
    """Stands in for Hydra's launcher: records each launch call, returns what `objective` says."""

    def __init__(self, objective):
        self.objective, self.launches = objective, []

    def launch(self, job_overrides, initial_job_idx):
        self.launches.append([list(o) for o in job_overrides])
        returns = []
        for overrides in job_overrides:
            values = dict(o.split("=", 1) for o in overrides)
            outcome = self.objective(values)
            if isinstance(outcome, Exception):
                returns.append(JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=outcome))
                continue
            status = "FAILED" if outcome is None else "FINISHED"
            result = JobResult(
                status,
                f"run{len(returns)}",
                "val_accuracy",
                math.nan if outcome is None else outcome,
                reason="diverged at step 3" if outcome is None else "",
            )
            returns.append(JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=result))
        return returns


def accuracy_like(values):
    """A smooth objective with its maximum at lr = 1 (no hidden-size effect)."""
    return 1 - abs(math.log10(float(values["optim.lr"])))


def sweeper_with(launcher, tmp_path, **settings):
    settings = {
        "direction": "maximize",
        "n_trials": 10,
        "n_jobs": 4,
        "params": dict(LR_SEARCH_SPACE),
        "sampler": {"name": "tpe", "seed": 0},
        "study_name": "test",
        **settings,
    }
    sweeper = OptunaSweeper(**settings)
    sweeper.config = OmegaConf.create(
        {"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}, "tracking": {"enabled": False}}
    )
    sweeper.launcher = launcher
    sweeper.validate_batch_is_legal = lambda batch: None  # composing configs is the launcher's test's business
    return sweeper


def test_trials_are_asked_in_rounds_of_n_jobs_each_launched_once(tmp_path):
    launcher = RecordingLauncher(accuracy_like)
    best = sweeper_with(launcher, tmp_path, n_trials=10, n_jobs=4).sweep(["+experiment=lr_search"])
    assert [len(batch) for batch in launcher.launches] == [4, 4, 2]
    for batch in launcher.launches:
        assert all(o[0] == "+experiment=lr_search" for o in batch)
        assert len({tuple(o) for o in batch}) == len(batch)  # the constant liar: no two alike in a round
    assert best["best_value"] == pytest.approx(
        max(accuracy_like(dict(x.split("=", 1) for x in o)) for batch in launcher.launches for o in batch)
    )


def test_a_continued_studys_seed_wraps_within_the_samplers_range(tmp_path):
    sweeper = sweeper_with(RecordingLauncher(accuracy_like), tmp_path, sampler={"name": "tpe", "seed": 2**32 - 1})
    space = {"x": optuna.distributions.FloatDistribution(0, 1)}

    def first_ask(sampler):
        return optuna.create_study(sampler=sampler).ask(space).params

    # Seed 2**32 - 1 continued after 5 trials is seed 4 (NumPy refuses 2**32 + 4).
    assert first_ask(sweeper._sampler(seed_offset=5)) == first_ask(
        sweeper_with(RecordingLauncher(accuracy_like), tmp_path, sampler={"name": "tpe", "seed": 4})._sampler()
    )
    assert first_ask(sweeper._sampler(seed_offset=5)) != first_ask(sweeper._sampler(seed_offset=6))


def test_the_same_seed_asks_the_same_trials(tmp_path):
    first, second = RecordingLauncher(accuracy_like), RecordingLauncher(accuracy_like)
    sweeper_with(first, tmp_path / "a").sweep([])
    sweeper_with(second, tmp_path / "b").sweep([])
    assert first.launches == second.launches


@pytest.mark.parametrize("sampler", ["random", "cmaes", "tpe"])
def test_each_sampler_runs_a_search(tmp_path, sampler):
    launcher = RecordingLauncher(accuracy_like)
    best = sweeper_with(
        launcher, tmp_path, sampler={"name": sampler, "seed": 1, "n_startup_trials": 2}, n_trials=6, n_jobs=3
    ).sweep([])
    assert sum(map(len, launcher.launches)) == 6 and best["best_value"] is not None


def test_failed_jobs_are_told_fail_never_a_number(tmp_path):
    def flaky(values):
        lr = float(values["optim.lr"])
        if lr > 1:
            return None  # the run FAILED (diverged): JobResult status FAILED, objective nan
        if lr < 0.01:
            return RuntimeError("the job raised")
        return accuracy_like(values)

    sweeper = sweeper_with(RecordingLauncher(flaky), tmp_path, n_trials=12)
    sweeper.sweep([])
    trials = sweeper.study.trials
    assert len(trials) == 12
    for trial in trials:
        lr = trial.params["optim.lr"]
        if lr > 1 or lr < 0.01:
            assert trial.state == TrialState.FAIL and trial.value is None
            assert trial.user_attrs["failure"] in ("diverged at step 3", "the job raised RuntimeError: the job raised")
        else:
            assert trial.state == TrialState.COMPLETE and trial.value == pytest.approx(accuracy_like({"optim.lr": lr}))
    assert any(t.state == TrialState.FAIL for t in trials)


def test_job_outcomes():
    ok = JobReturn(status=JobStatus.COMPLETED, _return_value=JobResult("SKIPPED", "r1", "val_accuracy", 0.9))
    assert job_outcome(ok) == (0.9, "", "r1")
    nan = JobReturn(status=JobStatus.COMPLETED, _return_value=JobResult("FINISHED", "r2", "val_accuracy", math.nan))
    assert job_outcome(nan)[0] is None
    not_a_number = JobReturn(status=JobStatus.COMPLETED, _return_value="fast")
    assert job_outcome(not_a_number)[0] is None


def test_a_stopped_search_continues_without_training_told_trials_again(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    first = RecordingLauncher(accuracy_like)
    sweeper_with(first, tmp_path, n_trials=6, n_jobs=4, storage=storage).sweep([])
    asked_before = [o for batch in first.launches for o in batch]
    # A search killed mid-round leaves a trial asked but never told: it is retired and asked again.
    study = optuna.load_study(study_name="test", storage=storage)
    stale = study.ask({"optim.lr": FloatDistribution(0.001, 3.0, log=True)})

    second = RecordingLauncher(accuracy_like)
    sweeper_with(second, tmp_path, n_trials=10, n_jobs=4, storage=storage).sweep([])
    asked_after = [o for batch in second.launches for o in batch]
    assert len(asked_after) == 4  # 10 in the study, 6 of them told already
    # The stale trial's values come first: its job runs the same config again (a finished run is
    # taken from the store, a stopped one continues from its checkpoint), not a new one from scratch.
    assert f"optim.lr={format_value(stale.params['optim.lr'])}" in asked_after[0]
    assert not {tuple(o) for o in asked_after} & {tuple(o) for o in asked_before}
    states = [t.state for t in optuna.load_study(study_name="test", storage=storage).trials]
    assert states.count(TrialState.COMPLETE) == 10 and states.count(TrialState.FAIL) == 1  # the stale one

    third = RecordingLauncher(accuracy_like)
    sweeper_with(third, tmp_path, n_trials=10, storage=storage).sweep([])
    assert third.launches == []  # nothing left to do


def test_the_trials_probed_reach_every_end_of_the_search_space():
    space = parse_search_space(
        {"optim.lr": "tag(log, interval(0.001, 3.0))", "model.hidden": "choice(1, 20, 50)"}, ["train.steps=100"]
    )
    assert probe_trials(space) == [
        ["train.steps=100", "optim.lr=0.001", "model.hidden=1"],
        ["train.steps=100", "optim.lr=3.0", "model.hidden=1"],
        ["train.steps=100", "optim.lr=0.001", "model.hidden=20"],
        ["train.steps=100", "optim.lr=0.001", "model.hidden=50"],
    ]
    written = {"optim.lr": "tag(log, interval(0.001, 3.0))", "h": "tag(int, interval(1, 50))", "s": "range(2, 10, 2)"}
    assert {key: describe(d) for key, d in parse_search_space(written).distributions.items()} == {
        "optim.lr": "tag(log, interval(0.001, 3))",
        "h": "tag(int, interval(1, 50))",
        "s": "range(2, 10, 2)",
    }


@pytest.mark.parametrize(
    "direction, tasks, resolved",
    [
        ("auto", ["binary"], "maximize"),
        ("auto", ["regression", "regression"], "minimize"),
        ("maximize", ["binary"], "maximize"),
        ("minimize", ["binary"], "an accuracy) is better higher; use direction=maximize"),
        ("maximize", ["regression"], "an RMSE) is better lower; use direction=minimize"),
        ("auto", ["binary", "regression"], "mix classification and regression"),
        ("auto", None, "direction=auto needs the pipeline's config"),
        ("minimize", None, "minimize"),
    ],
)
def test_the_direction_is_the_objectives_own_and_a_contrary_one_is_refused(direction, tasks, resolved):
    probes = None if tasks is None else Probes(tasks=tasks, shared_config={})
    if resolved in ("maximize", "minimize"):
        assert resolve_direction(direction, probes) == resolved
    else:
        with refused(match=re.escape(resolved)):
            resolve_direction(direction, probes)


def test_bad_settings_and_storages_are_refused_before_anything_runs(tmp_path):
    def check(settings, task=()):
        OptunaSweeper.check(OmegaConf.create({"hydra": {"sweeper": settings, "overrides": {"task": list(task)}}}))

    base = {"_target_": "x", "direction": "maximize", "study_name": "s0", "params": dict(LR_SEARCH_SPACE)}
    with refused(match=r"'optim.lr=interval\(3, 1\)': interval\(low, high\) needs"):
        check(OmegaConf.create(base), ["+experiment=lr_search", "optim.lr=interval(3, 1)"])
    with refused(match=r"sampler.name='annealing' is not allowed; choose one of: tpe, "):
        check({**base, "sampler": {"name": "annealing"}})
    with refused(match="n_jobs=0"):
        check({**base, "n_jobs": 0})
    for seed in (-1, 2**32):
        with refused(match=rf"sampler.seed={seed} is not allowed; it must be null or an integer in \[0, 2\*\*32 - 1\]"):
            check({**base, "sampler": {"name": "tpe", "seed": seed}})
    with refused(match=r"sampler.n_startup_trials=-1 is not allowed; it must be an integer >= 0"):
        check({**base, "sampler": {"name": "cmaes", "n_startup_trials": -1}})
    with refused(
        match=r"hydra.sweeper.pruner is not a setting of the Optuna sweeper; its settings under hydra.sweeper: "
    ):
        check({**base, "pruner": "median"})
    with refused(match=r"hydra.sweeper.sampler.multivariate is not a setting .*: name, seed, n_startup_trials$"):
        check({**base, "sampler": {"name": "tpe", "multivariate": True}})
    with refused(match=r"storage=sqlite:///optuna.db without a study_name would start a new, unnamed study"):
        check({**base, "study_name": None, "storage": "sqlite:///optuna.db"})
    # The MLflow store is no study's storage, however its path is spelled.
    tracked = {"hydra": {"sweeper": {**base, "storage": f"sqlite:///{tmp_path}/m.db"}, "overrides": {"task": []}}}
    with refused(match=r"is the MLflow store \(tracking.uri\)"):
        OptunaSweeper.check(OmegaConf.create({**tracked, "tracking": {"uri": f"sqlite:///{tmp_path}/./m.db"}}))
    OptunaSweeper.check(OmegaConf.create({**tracked, "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db"}}))
    # A round is one launch: no more trials in it than sweep.max_jobs, from the config or typed.
    for max_jobs, typed in ((8, []), (50_000, ["sweep.max_jobs=8"])):
        config = {
            "hydra": {"sweeper": {**base, "n_jobs": 9}, "overrides": {"task": typed}},
            "sweep": {"max_jobs": max_jobs},
        }
        with refused(match=r"n_jobs=9 is more than sweep.max_jobs=8, .* with sweep.max_jobs=9$"):
            OptunaSweeper.check(OmegaConf.create(config))
    with refused(match=r"storage=sqlite:////no/such/folder/optuna.db cannot be opened"):
        check({**base, "storage": "sqlite:////no/such/folder/optuna.db"})
    with refused(match=r"storage=postgresql\+psycopg2://u:\*\*\*@127.0.0.1:9/x cannot"):
        check({**base, "storage": "postgresql+psycopg2://u:secret@127.0.0.1:9/x"})
    with refused(match="storage=nonsense cannot be opened"):
        check({**base, "storage": "nonsense"})
    storage = f"sqlite:///{tmp_path}/optuna.db"
    optuna.create_study(study_name="s", storage=storage, direction="minimize")
    with refused(match="was made to minimize"):
        check({**base, "storage": storage, "study_name": "s", "direction": "maximize"})


def test_optunas_plots_of_a_study_are_pngs(tmp_path):
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("lr", 1e-3, 3, log=True) + t.suggest_categorical("h", [1, 2]), 6)
    assert sorted(save_plots(study, tmp_path)) == ["optimization_history.png", "param_importances.png", "slice.png"]
    for png in tmp_path.iterdir():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the real command line ---------------------------------------------------------------------------

QUICK_SEARCH = ("+experiment=lr_search", "train.steps=200", "train.log_every=100", "tracking.plots=false")


def parent_and_children(cwd: Path):
    c = client(cwd)
    experiment = c.get_experiment_by_name("lr_search")
    runs = c.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("sweep") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return c, parents, children


@pytest.mark.slow
def test_a_search_launches_rounds_tags_its_best_and_continues_from_its_storage(tmp_path):
    result = run_cli(tmp_path, *QUICK_SEARCH, "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2")
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert output.count("(2 trials, one launch) told") == 2  # two rounds of n_jobs, each one launch
    assert "\x1b[" not in output  # no colour codes when not on a terminal
    c, parents, children = parent_and_children(tmp_path)
    assert len(parents) == 1 and len(children) == 4
    tags = parents[0].data.tags
    study = optuna.load_study(study_name="lr_search", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert tags["optuna.best_trial"] == str(study.best_trial.number)
    assert float(tags["optuna.best_value"]) == study.best_value
    assert tags["optuna.best_run_id"] in {r.info.run_id for r in children}
    best_child = c.get_run(tags["optuna.best_run_id"])
    # The objective the job returned (float(JobResult)) is one of the run's metrics.
    assert any(value == pytest.approx(study.best_value) for value in best_child.data.metrics.values())
    assert best_child.data.params["model.hidden"] == tags["optuna.best.model.hidden"]
    plots = {a.path for a in c.list_artifacts(parents[0].info.run_id, "optuna")}
    assert plots == {f"optuna/{name}" for name in ("optimization_history.png", "param_importances.png", "slice.png")}

    # Again with a larger n_trials: the 4 told trials are not trained again, 2 more are.
    again = run_cli(tmp_path, *QUICK_SEARCH, "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2")
    assert again.returncode == 0, again.stderr[-3000:]
    _, parents, children = parent_and_children(tmp_path)
    assert len(parents) == 2 and len(children) == 6
    newest = max(parents, key=lambda r: r.info.start_time)
    assert len([r for r in children if r.data.tags["mlflow.parentRunId"] == newest.info.run_id]) == 2
    assert len(optuna.load_study(study_name="lr_search", storage=f"sqlite:///{tmp_path}/optuna.db").trials) == 6

    # It continues only as the same search: trials trained otherwise would mix with its own.
    for changed, named in [
        ("train.steps=300", "this search's trials have train.steps=300, but the study 'lr_search'"),
        ("optim.lr=interval(0.1, 3)", "this search asks optim.lr=interval(0.1, 3), but the study 'lr_search'"),
        ("data=diabetes", "hydra.sweeper.direction=minimize, but the study 'lr_search'"),
    ]:
        refusal = run_cli(tmp_path, *QUICK_SEARCH, "hydra.sweeper.n_trials=8", changed)
        assert refusal.returncode == 2 and named in refusal.stderr, refusal.stderr[-2000:]
        assert len(parent_and_children(tmp_path)[1]) == 2, "no parent run for a refused search"


@pytest.mark.slow
def test_a_search_over_a_key_some_of_its_models_ignore_is_admitted_as_its_grid_would_be(tmp_path):
    """model.activation is read by the shallow model only: the logistic trials ignore it, as a
    grid's logistic jobs would; the search's ends are checked together, and a round whose trials
    are all logistic (seed 2 asks two) is not refused for a key its shallow trials read."""
    result = run_cli(
        tmp_path,
        "-m",
        "hydra/sweeper=optuna",
        "model=choice(logistic, shallow)",
        "model.activation=choice(tanh, relu)",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.sampler.seed=2",
        "train.steps=100",
        "tracking.plots=false",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "optuna: round 1 (2 trials, one launch) told, 2/2" in result.stdout


@pytest.mark.slow
def test_diverged_trials_are_told_fail(tmp_path):
    result = run_cli(
        tmp_path,
        *QUICK_SEARCH,
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=4",
        "model.activation=relu",
        "model.init=he",
        "optim.lr=tag(log, interval(1e8, 1e9))",  # a search space on the command line
    )
    assert result.returncode == 1, result.stderr[-3000:]  # a run ended FAILED: the command says so
    assert "[W " not in result.stdout + result.stderr  # Optuna's "no complete trials" warnings stay quiet
    states = {
        t.state for t in optuna.load_study(study_name="lr_search", storage=f"sqlite:///{tmp_path}/optuna.db").trials
    }
    assert states == {TrialState.FAIL}
    _, parents, _ = parent_and_children(tmp_path)
    assert parents[0].data.tags["optuna.trials_failed"] == "4" and "optuna.best_trial" not in parents[0].data.tags


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, named",
    [
        ("hydra.sweeper.sampler.name=annealing", "annealing"),
        ("optim.lr=interval(3, 1)", "interval(3, 1)"),
        ("model.hidden=choice()", "choice()"),
        ("hydra.sweeper.storage=sqlite:////no/such/folder/optuna.db", "/no/such/folder/optuna.db"),
        ("hydra.sweeper.sampler.n_startup_trials=-1", "n_startup_trials=-1"),
        ("optim.lr=interval(-1, 1)", "optim.lr=-1.0 is not allowed"),
        ("model.hidden=interval(1, 50)", "write model.hidden=tag(int, interval(1, 50))"),
        ("hydra.sweeper.direction=minimize", "use direction=maximize"),
        ("hydra.sweeper.storage=sqlite:///mlflow.db", "is the MLflow store"),
        ("+hydra.sweeper.pruner=median", "hydra.sweeper.pruner is not a setting"),
        ("data=choice(flower, diabetes)", "mix classification and regression"),
        ("hydra.sweeper.sampler.seed=-3", "sampler.seed=-3"),
    ],
)
def test_bad_search_input_is_refused_in_one_line_before_any_run(tmp_path, override, named):
    result = run_cli(tmp_path, *QUICK_SEARCH, override)
    assert_refused(result, tmp_path, named)
    if (tmp_path / "optuna.db").exists():
        with sqlite3.connect(tmp_path / "optuna.db") as db:
            assert db.execute("SELECT COUNT(*) FROM trials").fetchone() == (0,)
