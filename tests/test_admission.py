"""Tests for pipeline.admission: every kind of bad input refused in one line, before anything runs.

Fast and in-process: configs are composed against the real conf/ folder (tests/conftest.py)
and handed to admission's public functions. Each kind is also run once through the real
command line in tests/test_cli.py.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from conftest import CONF_DIR, config_of
from pipeline import admission
from pipeline.admission import admit_jobs, check_job, check_memory, check_tracking, job_memory
from pipeline.config import ConfigError
from pipeline.data import DataError
from pipeline.errors import InputRefused


def refused(configs, overrides=None) -> str:
    """admit_jobs refuses: InputRefused (exit status 2) with one line; returns it."""
    with pytest.raises(InputRefused) as info:
        admit_jobs(configs, overrides)
    message = info.value.message
    assert info.value.code == 2
    assert message and "\n" not in message, message
    return message


# -- one job: config, data, memory ------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, named",
    [
        (["data=moons", "data.n_samples=4", "data.val_fraction=0.1"], ["data.val_fraction=0.1", "4 examples"]),
        (["data=gaussian_quantiles", "data.n_samples=4", "data.val_fraction=0.5", "data.seed=2"], ["one class"]),
        (["data=moons", "data.noise=-1"], ["data.noise=-1"]),
        (["optim.lr=nan"], ["optim.lr=nan"]),
        (["gradcheck.tolerance=nan"], ["gradcheck.tolerance=nan"]),
        (["data=diabetes", "model.output=sigmoid"], ["sigmoid", "regression"]),
        (["train.batch_size=1000"], ["train.batch_size=1000", "320"]),
        (["model.depth=3"], ["model.depth=3", "shallow"]),
        (["model=logistic", "model.hidden=8"], ["model.hidden=8", "logistic"]),
        (["model.hidden=100000000"], ["model.hidden=100000000", "memory"]),
        # Hydra adds a key given with a + to the structured config; nothing would read it.
        (["+model.hiden=3"], ["unknown key 'model.hiden'", "did you mean 'model.hidden'"]),
        (["+foo=1"], ["unknown key 'foo'"]),
        (["+train.sed=3", "data=moons"], ["unknown key 'train.sed'", "train.seed"]),
        # A lesson's keys, before Hydra's run_job (which would print its own line first).
        (["+lesson=derivatives", "lesson.points=[]"], ["lesson.points=[]"]),
        (["+lesson=computation_graph", "lesson.inputs=[1,2]"], ["lesson.inputs=[1.0, 2.0]", "three"]),
        (["tracking.uri=sqlite:///"], ["tracking.uri='sqlite:///'", "in memory"]),
        (["tracking.uri=sqlite:///:memory:"], ["names no database file"]),
    ],
)
def test_a_bad_job_is_refused_in_one_line_naming_the_value(overrides, named):
    message = refused([config_of(overrides)])
    for fragment in named:
        assert fragment in message, (fragment, message)


def test_the_split_that_leaves_one_class_is_found_by_its_seed():
    # Which seeds of 4 quantile points held out by half leave one class to train on: at least one.
    outcomes = []
    for seed in range(10):
        try:
            check_job(
                config_of(["data=gaussian_quantiles", "data.n_samples=4", "data.val_fraction=0.5", f"data.seed={seed}"])
            )
            outcomes.append("ok")
        except DataError as error:
            assert "one class" in str(error)
            outcomes.append("refused")
    assert "refused" in outcomes


def test_a_good_job_is_admitted_with_its_data():
    (ds,) = admit_jobs([config_of([])])
    assert ds.name == "flower" and ds.m_train == 320 and ds.m_val == 80


def test_val_fraction_zero_is_admitted_and_trains_on_all_400_flower_points():
    ds = check_job(config_of(["data.val_fraction=0"]))
    assert ds.m_train == 400 and ds.m_val == 0


def _table(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    return str(path)


def test_a_table_is_read_and_checked_against_the_model(tmp_path):
    regression = _table(tmp_path, "a,b,y\n1,2,10.5\n3,4,20.1\n5,6,30.7\n7,8,41.2\n9,10,50.9\n")
    base = ["data=csv", f"data.path={regression}", "data.target=y"]
    assert "perceptron" in refused([config_of([*base, "model=perceptron"])])
    assert "sigmoid" in refused([config_of([*base, "model.output=sigmoid"])])
    assert check_job(config_of(base)).task == "regression"
    duplicated = _table(tmp_path, "a,a,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n")
    assert "duplicate column" in refused([config_of(["data=csv", f"data.path={duplicated}", "data.target=y"])])


def test_a_sweep_names_the_job_refused():
    configs = [config_of(["optim.lr=0.1"]), config_of(["optim.lr=-1"])]
    message = refused(configs, [["optim.lr=0.1"], ["optim.lr=-1"]])
    assert "optim.lr=-1" in message and "(in the sweep's job optim.lr=-1)" in message


def test_a_value_one_job_ignores_is_allowed_when_another_job_reads_it():
    # logistic_vs_shallow: model.hidden=8 is for the shallow jobs; the logistic ones ignore it.
    jobs = [config_of(["model=logistic", "model.hidden=8"]), config_of(["model.hidden=8"])]
    admit_jobs(jobs)
    assert "model.hidden=8" in refused(jobs[:1])


def test_some_of_a_commands_jobs_are_checked_each_alone():
    # A search's round (hydra_plugins/optuna_sweeper): its logistic trials ignore model.hidden,
    # which the search's shallow trials read; that was checked over the search's ends.
    logistic = [config_of(["model=logistic", "model.hidden=8"])]
    admit_jobs(logistic, whole_command=False)
    with pytest.raises(InputRefused, match="optim.lr=-1"):
        admit_jobs([config_of(["model=logistic", "optim.lr=-1"])], whole_command=False)


# -- memory ------------------------------------------------------------------------------------


def test_memory_estimate_grows_with_the_sizes_and_the_default_is_small():
    small, large = (sum(job_memory(config_of([f"model.hidden={h}"]), 2, 400).values()) for h in (4, 4000))
    assert small < 50 * 2**20 < large
    assert sum(job_memory(config_of(["model.hidden=100000000"]), 2, 400).values()) > 2**40


def test_memory_beyond_what_is_available_is_refused_with_the_estimate():
    cfg = config_of(["model.hidden=5000"])
    check_memory(cfg, 2, 400, available=2**40)
    with pytest.raises(ConfigError) as info:
        check_memory(cfg, 2, 400, available=2**20)
    message = str(info.value)
    assert "model.hidden=5000" in message and "MiB" in message and "1 MiB available" in message


# -- once per command: grid, store, caches ----------------------------------------------------


def _multirun_config(task_overrides, experiment="relu_sweep"):
    """A multirun's base config as Hydra hands it to the callback, with `task_overrides` typed."""
    from hydra import compose, initialize_config_dir

    from pipeline.config import register_configs

    register_configs()
    context = initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3")
    context.__enter__()
    cfg = compose(config_name="config", overrides=[f"+experiment={experiment}"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.overrides.task = [f"+experiment={experiment}", *task_overrides]
    return cfg, context


def test_grid_size_is_counted_without_expanding_it():
    cfg, context = _multirun_config(["train.seed=range(0,100000)", "optim.lr=0.1,0.5"])
    try:
        started = time.perf_counter()
        size, swept = admission.grid_size(cfg)
        assert time.perf_counter() - started < 2
        # The command line's optim.lr replaces the experiment's four learning rates, as in Hydra.
        assert size == 7 * 2 * 100000 and swept == {"model.hidden": 7, "optim.lr": 2, "train.seed": 100000}
        with pytest.raises(ConfigError) as info:
            admission.check_grid_size(cfg)
        message = str(info.value)
        assert "1,400,000 jobs" in message and "sweep.max_jobs=50000" in message
        assert "sweep.max_jobs=1400000" in message  # how to raise the cap
        cfg.hydra.overrides.task.append("sweep.max_jobs=2000000")
        admission.check_grid_size(cfg)
    finally:
        context.__exit__(None, None, None)


@pytest.mark.parametrize(
    "swept, named",
    [
        ("model.hidden=range(5,1)", "gives no value"),  # counts up from 5: stops at once
        ("optim.lr=range(0.5,0.1,0.1)", "gives no value"),
        ("train.seed=range(3,3)", "gives no value"),
        ("model.hidden=range(1,3,0)", "step must not be 0"),
        ("optim.lr=interval(0.1,1)", "hydra/sweeper=optuna"),  # a search space, not a grid
    ],
)
def test_a_grid_of_no_jobs_or_a_value_it_cannot_list_is_refused_naming_it(swept, named):
    """Such a sweep would launch nothing, and its parent run would end FINISHED with nothing in it."""
    cfg, context = _multirun_config([swept])
    try:
        with pytest.raises(ConfigError) as info:
            admission.check_grid_size(cfg)
    finally:
        context.__exit__(None, None, None)
    message = str(info.value)
    assert message.startswith(swept) and named in message and "\n" not in message


@pytest.mark.parametrize(
    "typed, refused",
    [
        (["+lesson=derivatives", "train.seed=3"], "train.seed=3"),
        (["+lesson=derivatives", "data=moons"], "data=moons"),
        (["+lesson=derivatives", "lesson.nudge=0.01", "tracking.plots=false", "device=cpu"], None),
        (["train.seed=3"], None),  # no lesson: a training key is read
    ],
)
def test_a_key_typed_beside_a_lesson_that_it_does_not_read_is_refused(typed, refused):
    cfg, context = _multirun_config(typed, experiment="relu_sweep")
    context.__exit__(None, None, None)
    with open_dict(cfg):
        cfg.hydra.sweeper.params = {}  # the experiment's own grid aside: only what was typed
    if refused is None:
        admission.check_lesson_overrides(cfg)
        return
    with pytest.raises(ConfigError) as info:
        admission.check_lesson_overrides(cfg)
    assert str(info.value).startswith(f"{refused} would be ignored: a lesson trains no network")


@pytest.mark.parametrize("n_jobs, allowed", [(0, False), (1, True), (-1, True), (2, True)])
def test_joblibs_n_jobs_zero_is_refused_before_the_sweep(n_jobs, allowed):
    cfg, context = _multirun_config([])
    context.__exit__(None, None, None)
    with open_dict(cfg):
        cfg.hydra.launcher = {"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"}
        cfg.hydra.launcher.n_jobs = n_jobs
    if allowed:
        admission.check_launcher(cfg)
    else:
        with pytest.raises(ValueError, match="hydra.launcher.n_jobs=0 is not allowed"):
            admission.check_launcher(cfg)


@pytest.mark.parametrize(
    "launcher, allowed",
    [
        ("hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", False),
        ("hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher", False),
        ("hydra._internal.core_plugins.basic_launcher.BasicLauncher", True),
        ("hydra_plugins.batched_launcher.batched_launcher.BatchedLauncher", True),
    ],
)
def test_tracking_off_is_refused_with_a_launcher_whose_jobs_report_elsewhere(launcher, allowed):
    """A job's failure in a joblib worker would leave the command's exit status 0, with no table."""
    cfg, context = _multirun_config([])
    context.__exit__(None, None, None)
    with open_dict(cfg):
        cfg.hydra.launcher = {"_target_": launcher, "n_jobs": 2}
        cfg.tracking.enabled = False
    if allowed:
        admission.check_launcher(cfg)
    else:
        with pytest.raises(ValueError, match=r"tracking.enabled=false with hydra.launcher \w+Launcher is not allowed"):
            admission.check_launcher(cfg)


def test_a_database_that_does_not_answer_is_refused_within_seconds():
    started = time.perf_counter()
    with pytest.raises(ValueError) as info:
        check_tracking("postgresql+psycopg2://user:secret@127.0.0.1:9/mlflow")
    assert time.perf_counter() - started < admission.CONNECT_TIMEOUT_S + 2
    message = str(info.value)
    assert "127.0.0.1:9" in message and "secret" not in message


def test_a_database_driver_that_is_missing_or_unknown_is_named():
    with pytest.raises(ValueError) as info:
        check_tracking("postgresql+pg8000://user@127.0.0.1:9/mlflow")
    assert "pg8000" in str(info.value) and "not installed" in str(info.value)
    with pytest.raises(ValueError) as info:
        check_tracking("mysql://user@127.0.0.1:9/mlflow")  # the module is MySQLdb, its package mysqlclient
    assert "(MySQLdb)" in str(info.value) and "pip install mysqlclient" in str(info.value)
    with pytest.raises(ValueError) as info:
        check_tracking("postgresql+nosuchdriver://user@127.0.0.1:9/mlflow")
    assert "nosuchdriver" in str(info.value)


def test_an_sqlite_store_in_a_missing_folder_is_refused():
    with pytest.raises(ValueError) as info:
        check_tracking("sqlite:////nonexistent/folder/mlflow.db")
    assert "/nonexistent/folder" in str(info.value)


def test_an_unwritable_cache_folder_under_home_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/proc/no/such/cache")
    with pytest.raises(ValueError) as info:
        admission.check_caches()
    message = str(info.value)
    assert "/proc/no/such/cache" in message and "JAX_COMPILATION_CACHE_DIR" in message
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "cache"))
    admission.check_caches()


# -- every key, valid and not: one line, or a config admission accepts -----------------------

FINITE_OR_NOT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -1.0, 1e-12, 0.5, 1.0, 1e300, math.nan]),
)
INTS = st.one_of(st.integers(min_value=-10, max_value=100), st.sampled_from([2**31, 10**12, 2**63 - 1]))
OVERRIDES = {
    "data.name": st.sampled_from(
        ["flower", "moons", "circles", "blobs", "gaussian_quantiles", "breast_cancer", "diabetes", "iris"]
    ),
    "data.seed": INTS,
    "data.val_fraction": FINITE_OR_NOT,
    "data.n_samples": INTS,
    "data.noise": FINITE_OR_NOT,
    "model.name": st.sampled_from(["perceptron", "logistic", "shallow", "deep", "resnet"]),
    "model.activation": st.sampled_from(["step", "sigmoid", "tanh", "relu", "leaky_relu", "identity", "swish"]),
    "model.hidden": INTS,
    "model.depth": INTS,
    "model.output": st.sampled_from(["auto", "sigmoid", "identity", "step", "softmax"]),
    "model.init": st.sampled_from(["small", "xavier", "he", "zeros"]),
    "model.init_scale": FINITE_OR_NOT,
    "model.leaky_slope": FINITE_OR_NOT,
    "optim.name": st.sampled_from(["gd", "momentum", "adam", "sgdx"]),
    "optim.lr": FINITE_OR_NOT,
    "optim.momentum": FINITE_OR_NOT,
    "optim.b1": FINITE_OR_NOT,
    "optim.b2": FINITE_OR_NOT,
    "optim.eps": FINITE_OR_NOT,
    "train.steps": INTS,
    "train.seed": INTS,
    "train.log_every": INTS,
    "train.grad": st.sampled_from(["autodiff", "hand", "numeric"]),
    "train.batch_size": st.one_of(st.none(), INTS),
    "train.dtype": st.sampled_from(["float32", "float64", "int8"]),
    "gradcheck.tolerance": FINITE_OR_NOT,
    "gradcheck.fd_tolerance": FINITE_OR_NOT,
    "gradcheck.epsilon": FINITE_OR_NOT,
    "gradcheck.max_examples": INTS,
    "tracking.experiment": st.sampled_from(["default", "", " ", "x"]),
}


def _override(key, value) -> str:
    if value is None:
        return f"{key}=null"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{key}={'nan' if math.isnan(value) else ('inf' if value > 0 else '-inf')}"
    if isinstance(value, str):
        return f"{key}='{value}'"
    return f"{key}={value!r}"


@st.composite
def drawn_configs(draw):
    keys = draw(st.lists(st.sampled_from(sorted(OVERRIDES)), min_size=1, max_size=5, unique=True))
    overrides = [_override(key, draw(OVERRIDES[key])) for key in keys]
    cfg = config_of([])
    for override in overrides:  # values set on the typed config, as Hydra's override would
        key, _, value = override.partition("=")
        try:
            OmegaConf.update(cfg, key, _parsed(value), merge=False)
        except OmegaConfBaseException:  # a wrong type: the schema refuses it while Hydra composes
            return overrides, None
    return overrides, cfg


def _parsed(value: str):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_override(f"k={value}").value()


ACCEPTED: list[list[str]] = []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn_configs())
def test_every_drawn_config_is_refused_in_one_line_or_admitted(drawn):
    overrides, cfg = drawn
    if cfg is None:
        return
    try:
        admit_jobs([cfg], [overrides])
    except InputRefused as refusal:
        assert refusal.message and "\n" not in refusal.message and refusal.code == 2
        return
    # Admitted: the config is one that trains. Its values passed every check in range.
    assert cfg.optim.lr > 0 and math.isfinite(cfg.optim.lr)
    assert 0 <= cfg.data.val_fraction < 1
    assert cfg.train.steps >= 1 and cfg.train.log_every <= cfg.train.steps


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn_configs())
def test_a_drawn_config_that_is_admitted_trains(drawn):
    """Admitted means trainable: the job runs to FINISHED, or to FAILED with a reason (diverged,
    an overflow), never to a traceback. Steps, sizes and data are kept small so it runs quickly."""
    from pipeline.job import run

    overrides, cfg = drawn
    if cfg is None:
        return
    with open_dict(cfg):
        cfg.train.steps, cfg.train.log_every = min(cfg.train.steps, 20), min(cfg.train.log_every, 10)
        cfg.tracking.enabled = False
    try:
        admit_jobs([cfg], [overrides])
    except InputRefused:
        return
    if cfg.train.log_every > cfg.train.steps or sum(job_memory(cfg, 30, 600).values()) > 2**30:
        return  # made invalid, or too large for a quick test, by the caps above
    result = run(cfg)
    assert result.status in ("FINISHED", "FAILED"), result
    assert result.status == "FINISHED" or result.reason


def test_a_big_grid_is_checked_whole_up_front_and_its_last_jobs_bad_value_refused(tmp_path, monkeypatch):
    """Every job of a grid is checked before anything runs, not only the first chunk the launcher
    gets; each job's values, without composing it (Hydra composes one job per shape, and a second
    to check the derivation: pipeline/composing.py)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from pipeline.config import register_configs

    monkeypatch.chdir(tmp_path)
    register_configs()
    seeds = ",".join(map(str, range(4999))) + f",{2**32}"  # 5,000 jobs; the last one's seed is out of range
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "config", ["optim.lr=0.1,0.5", f"train.seed={seeds}"], run_mode=RunMode.MULTIRUN
        )
        composed, real = [], type(loader).load_sweep_config
        monkeypatch.setattr(
            type(loader),
            "load_sweep_config",
            lambda self, m, overrides: (composed.append(overrides), real(self, m, overrides))[1],
        )
        with pytest.raises(InputRefused) as info:
            admission.admit_sweep(master)
    message = info.value.message
    assert f"train.seed={2**32}" in message and f"(in the sweep's job optim.lr=0.1 train.seed={2**32})" in message
    assert len(composed) == 2  # one shape: its first job, and the check of its second
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "multirun").exists()  # nothing made


# -- keys a command takes one value of; where it writes ----------------------------------------


def _sweep_master(tmp_path, monkeypatch, overrides):
    """The config of `python -m pipeline -m OVERRIDES` in tmp_path, as the sweep's callback gets it."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from pipeline.config import register_configs

    monkeypatch.chdir(tmp_path)
    register_configs()
    context = initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3")
    context.__enter__()
    loader = GlobalHydra.instance().config_loader()
    return context, loader.load_configuration("config", list(overrides), run_mode=RunMode.MULTIRUN)


def _sweep_refused(tmp_path, monkeypatch, overrides) -> str:
    context, master = _sweep_master(tmp_path, monkeypatch, overrides)
    try:
        with pytest.raises(InputRefused) as info:
            admission.admit_sweep(master)
    finally:
        context.__exit__(None, None, None)
    assert list(tmp_path.iterdir()) == []  # no store, no sweep folder: refused before anything exists
    return info.value.message


@pytest.mark.parametrize(
    "swept",
    [
        "device=cpu,gpu",  # JAX starts one backend per process: the gpu job was refused after the cpu one FINISHED
        "tracking.experiment=ea,eb",  # the parent run in one experiment, its jobs in others: an empty summary
        "tracking.uri=sqlite:///a.db,sqlite:///b.db",
        "tracking.enabled=true,false",
        "tracking.plots=true,false",
        "sweep.max_jobs=10,20",
        "device=choice(cpu,auto)",
        "device=cpu,cpu",  # one value, but set on the jobs only: the sweep's own config keeps device=auto
    ],
)
def test_a_sweep_over_a_key_taken_once_per_command_is_refused_whole(tmp_path, monkeypatch, swept):
    message = _sweep_refused(tmp_path, monkeypatch, ["train.steps=100", swept])
    key = swept.partition("=")[0]
    assert message.startswith(f"{swept} sweeps {key}, which takes one value per command"), message


def test_jobs_whose_groups_set_another_experiment_than_the_sweeps_are_refused(tmp_path, monkeypatch):
    """Not swept by name: each experiment file sets its own tracking.experiment, the sweep's parent
    run would be in 'Default'."""
    message = _sweep_refused(tmp_path, monkeypatch, ["+experiment=seeds,lr_sweep", "train.steps=100"])
    assert "tracking.experiment='seeds' differs from the sweep's tracking.experiment='Default'" in message
    assert "(in the sweep's job +experiment=seeds" in message


def test_a_sweep_of_lessons_in_their_own_experiment_is_admitted(tmp_path, monkeypatch):
    """Each lesson is its own run in the 'lessons' experiment, under no parent: not the sweep's."""
    context, master = _sweep_master(tmp_path, monkeypatch, ["+lesson=derivatives,computation_graph"])
    try:
        jobs = admission.admit_sweep(master)
    finally:
        context.__exit__(None, None, None)
    assert [job[0] for job in jobs] == ["+lesson=derivatives", "+lesson=computation_graph"]


def test_a_malformed_search_space_gets_the_sweepers_own_message(tmp_path, monkeypatch):
    from omegaconf import read_write

    context, master = _sweep_master(tmp_path, monkeypatch, ["+experiment=lr_search"])
    try:
        with read_write(master.hydra.sweeper.params):
            master.hydra.sweeper.params["optim.lr"] = "interval(0.1,"  # as an experiment file could have it
        with pytest.raises(InputRefused) as info:
            admission.admit_sweep(master)
    finally:
        context.__exit__(None, None, None)
    assert "search space 'optim.lr=interval(0.1,' does not parse" in info.value.message
    assert "allowed: choice(a, b, ...)" in info.value.message


def test_an_output_folder_that_cannot_be_made_leaves_no_folder_behind(tmp_path, monkeypatch):
    """outputs/<a name too long>/...: `outputs/` was made on the way, then left behind."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="File name too long"):
        admission.make_output_folder(Path("outputs") / ("x" * 300) / "run")
    assert list(tmp_path.iterdir()) == []
