"""The command line end to end: `python -m pipeline ...` in a temporary directory, read back from MLflow."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from _cli import assert_refused, client, run_cli, runs

pytestmark = pytest.mark.slow

QUICK = ("train.steps=300", "train.log_every=50")


def test_default_run_is_one_tracked_run(tmp_path):
    result = run_cli(tmp_path, *QUICK)
    assert result.returncode == 0, result.stderr
    # The command closed its store: the database file alone holds it, no write-ahead log beside.
    assert not list(tmp_path.glob("mlflow.db-*"))
    table = runs(tmp_path, "Default")
    assert len(table) == 1
    run = table.iloc[0]
    assert run["status"] == "FINISHED"
    # The defaults of the issue: shallow network, 4 tanh units, plain gd, flower.
    assert run["params.model.name"] == "shallow"
    assert run["params.model.activation"] == "tanh"
    assert run["params.model.hidden"] == "4"
    assert run["params.optim.name"] == "gd"
    assert run["params.data.name"] == "flower"
    assert run["params.train.steps"] == "300"
    for metric in ("loss", "train_accuracy", "val_accuracy", "gradcheck_rel_error", "gradcheck_fd_rel_error"):
        assert np.isfinite(run[f"metrics.{metric}"]), metric
    assert run["metrics.gradcheck_rel_error"] < 1e-10
    assert run["metrics.gradcheck_fd_rel_error"] < 1e-6
    assert 0.5 < run["metrics.train_accuracy"] <= 1.0
    for tag in ("config_hash", "git_commit", "version.jax", "version.mlflow", "jax.backend", "data.sha256"):
        assert run[f"tags.{tag}"], tag
    assert run["tags.jax.backend"] == "cpu"
    assert run["tags.jax.matmul_precision"] == "highest"  # float32 means float32, on a GPU too
    assert "--xla_gpu_deterministic_ops=true" in run["tags.jax.xla_flags"]  # the same GPU kernels in every process

    mlflow_client = client(tmp_path)
    history = mlflow_client.get_metric_history(run["run_id"], "loss")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == [0, 50, 100, 150, 200, 250, 300]
    values = [m.value for m in sorted(history, key=lambda m: m.step)]
    assert values[-1] < values[0]  # it learned
    artifacts = {a.path for a in mlflow_client.list_artifacts(run["run_id"])}
    assert {
        "resolved_config.yaml",
        "overrides.yaml",
        "params.npz",
        "decision_boundary.png",
    } <= artifacts
    assert "loss_curve.png" not in artifacts  # the run's Model metrics tab charts it; tracking.loss_curve=true draws it
    assert (tmp_path / "mlflow.db").exists()
    assert f"run {run['run_id']} FINISHED" in result.stdout


@pytest.mark.parametrize(
    "overrides, task, metric",
    [
        (("model=perceptron", "data=blobs"), "binary", "train_accuracy"),
        (("model=logistic", "data=moons", "optim=adam", "tracking.loss_curve=true"), "binary", "val_accuracy"),
        (("model=deep", "model.depth=2", "model.activation=leaky_relu", "train.grad=hand"), "binary", "val_accuracy"),
        (("data=diabetes", "optim.lr=0.1", "train.batch_size=64", "optim=momentum"), "regression", "val_rmse"),
        (("data=breast_cancer", "model.activation=sigmoid", "optim.lr=0.5"), "binary", "val_accuracy"),
    ],
)
def test_each_model_kind_trains_and_is_tracked(tmp_path, overrides, task, metric):
    result = run_cli(tmp_path, *QUICK, *overrides)
    assert result.returncode == 0, result.stderr
    run = runs(tmp_path, "Default").iloc[0]
    assert run["status"] == "FINISHED"
    assert run["tags.data.task"] == task
    assert np.isfinite(run[f"metrics.{metric}"])
    assert run["metrics.gradcheck_rel_error"] < 1e-10
    artifacts = {a.path for a in client(tmp_path).list_artifacts(run["run_id"])}
    assert ("loss_curve.png" in artifacts) == ("tracking.loss_curve=true" in overrides)  # drawn when asked


# Each kind of bad input once, through the real command line: exit 2, one line naming the value,
# no traceback, no MLflow run. (The rest of the refusal logic: tests/test_admission.py, test_config.py.)
BAD_INPUTS = [
    # Hydra refuses it while composing
    (("model=resnet",), ("resnet",)),  # an unknown group option
    (("model.hiden=4",), ("hiden", "model.hidden")),  # an unknown key, the near miss suggested
    (("optim.lr=fast",), ("fast",)),  # a wrong type
    (("+experiment=no_such_experiment",), ("no_such_experiment",)),
    # a value out of range, or not allowed with another
    (("optim.lr=-1",), ("optim.lr=-1",)),
    (("gradcheck.tolerance=nan",), ("gradcheck.tolerance=nan", "finite")),
    (("model.activation=step",), ("perceptron",)),
    (("data=diabetes", "model.output=sigmoid"), ("sigmoid", "regression")),
    (("model.depth=3",), ("model.depth=3", "model=shallow")),  # a value the model ignores
    # the data: a generator's value, a split with no validation example
    (("data=moons", "data.noise=-1"), ("data.noise=-1",)),
    (("data=moons", "data.n_samples=4", "data.val_fraction=0.1"), ("data.val_fraction=0.1", "4 examples")),
    # sizes: the job's memory, a grid's size (counted, not expanded)
    (("model.hidden=100000000",), ("model.hidden=100000000", "memory", "available")),
    (("-m", "model.hidden=range(1,1000)", "optim.lr=range(1,1000)"), ("998,001 jobs", "sweep.max_jobs=998001")),
    # a sweep with one bad member is refused whole, naming the job
    (("+experiment=relu_sweep", "optim.lr=0.1,-1"), ("optim.lr=-1", "in the sweep's job")),
    # where it writes: the store, the output folder; the device
    (("tracking.uri=file:./mlruns",), ("file:./mlruns", "sqlite:///")),
    (("tracking.uri=http://127.0.0.1:9",), ("http://127.0.0.1:9",)),
    (("tracking.uri=postgresql+psycopg2://me:secret@127.0.0.1:9/db",), ("127.0.0.1:9", "no database answers")),
    (("tracking.uri=sqlite:////nonexistent/folder/mlflow.db",), ("/nonexistent/folder",)),
    (("tracking.experiment=",), ("tracking.experiment", "empty")),
    (("hydra.run.dir=/proc/forbidden/run",), ("/proc/forbidden/run",)),
    (("device=tpu",), ("device=tpu",)),
]


@pytest.mark.parametrize("overrides, named", BAD_INPUTS, ids=[" ".join(o) for o, _ in BAD_INPUTS])
def test_bad_input_is_one_clear_line_and_creates_no_run(tmp_path, overrides, named):
    started = time.monotonic()
    line = assert_refused(run_cli(tmp_path, *overrides), tmp_path, *named)
    assert "secret" not in line
    assert time.monotonic() - started < 60  # a dead store is refused in seconds, not minutes


def test_an_unwritable_home_is_one_line(tmp_path):
    env = {**os.environ, "HOME": "/proc/no-home"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("XDG_CACHE_HOME", None)
    result = subprocess.run(
        [sys.executable, "-m", "pipeline"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert_refused(result, tmp_path, "/proc/no-home", "JAX_COMPILATION_CACHE_DIR")


def test_an_experiment_file_that_does_not_parse_is_one_line(tmp_path):
    extra = tmp_path / "more_conf" / "experiment"
    extra.mkdir(parents=True)
    (extra / "broken.yaml").write_text("# @package _global_\nmodel: [unclosed\n")
    result = run_cli(tmp_path, f"hydra.searchpath=[file://{tmp_path / 'more_conf'}]", "+experiment=broken")
    assert_refused(result, tmp_path, "broken.yaml", "line 2")


# -- exit status: 1 when a run ends FAILED, after it is recorded ------------------------------


def test_a_failed_run_exits_1_once_it_is_recorded(tmp_path):
    result = run_cli(tmp_path, "optim.lr=100", "model.activation=relu", "model.init=he", *QUICK, "tracking.plots=false")
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    run = runs(tmp_path, "Default").iloc[0]
    assert run["status"] == "FAILED" and run["tags.failure_reason"]
    assert f"run {run['run_id']} FAILED" in result.stderr


def test_an_overflow_is_named_an_overflow(tmp_path):
    result = run_cli(tmp_path, "model.init_scale=1e300", *QUICK, "tracking.plots=false")
    assert result.returncode == 1, result.stderr[-2000:]
    reason = runs(tmp_path, "Default").iloc[0]["tags.failure_reason"]
    assert reason.startswith("overflow") and "disagrees" not in reason


# -- data.val_fraction=0: the course's setting, every example trains ------------------------


def test_val_fraction_zero_trains_on_every_example(tmp_path):
    result = run_cli(tmp_path, "data.val_fraction=0", *QUICK, "tracking.plots=false")
    assert result.returncode == 0, result.stderr[-2000:]
    run = runs(tmp_path, "Default").iloc[0]
    assert run["status"] == "FINISHED"
    assert run["params.data.val_fraction"] == "0.0"
    assert np.isfinite(run["metrics.train_accuracy"])
    assert "metrics.val_accuracy" not in run or not np.isfinite(run["metrics.val_accuracy"])


# -- data=csv: the user's own table, end to end --------------------------------------------


HOUSES = Path(__file__).resolve().parents[1] / "examples/houses.csv"


def test_csv_table_trains_as_regression_and_is_tracked(tmp_path):
    shutil.copy(HOUSES, tmp_path / "houses.csv")
    result = run_cli(tmp_path, "data=csv", "data.path=houses.csv", "data.target=price_k", *QUICK, "optim.lr=0.1")
    assert result.returncode == 0, result.stderr
    table = runs(tmp_path, "Default")
    assert len(table) == 1
    run = table.iloc[0]
    assert run["status"] == "FINISHED"
    assert run["tags.data.task"] == "regression"
    assert run["params.data.name"] == "csv"
    assert run["params.data.path"] == "houses.csv"
    assert run["params.data.target"] == "price_k"
    assert run["tags.data.sha256"]
    # Better than predicting the mean: val_rmse (in thousands, the target's own unit) under its std.
    with open(tmp_path / "houses.csv", newline="") as handle:
        price = np.array([float(row["price_k"]) for row in csv.DictReader(handle)])
    val_rmse = run["metrics.val_rmse"]
    assert np.isfinite(val_rmse) and 0 < val_rmse < price.std(), (val_rmse, price.std())
    assert run["metrics.gradcheck_rel_error"] < 1e-10
    assert f"run {run['run_id']} FINISHED" in result.stdout


BAD_TABLES = [
    # (id, the table's text or None for no file, overrides after data=csv, what the line must name);
    # one of each kind through the command line, every case of each kind in tests/test_data.py
    ("missing-file", None, ("data.path=nope.csv", "data.target=y"), ("nope.csv", "no such file")),
    (
        "non-numeric",
        "a,b,y\n1,2,0\n3,cheap,1\n5,6,0\n",
        ("data.path=t.csv", "data.target=y"),
        ("'b'", "'cheap'", "row 3"),
    ),
    (
        "duplicate-columns",
        "a,a,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n",
        ("data.path=t.csv", "data.target=y"),
        ("duplicate column", "'a'"),
    ),
    (
        "one-class-in-training",
        "a,b,y\n1,2,0\n3,4,0\n5,6,0\n7,8,1\n",
        ("data.path=t.csv", "data.target=y", "data.val_fraction=0.25", "data.seed=2"),
        ("one class",),
    ),
    ("too-few-rows", "a,b,y\n1,2,0\n3,4,1\n", ("data.path=t.csv", "data.target=y"), ("data.val_fraction",)),
    (
        "perceptron-on-regression-table",
        "a,b,y\n1,2,10.5\n3,4,20.1\n5,6,30.7\n7,8,41.2\n9,10,50.9\n",
        ("data.path=t.csv", "data.target=y", "model=perceptron"),
        ("perceptron",),
    ),
    ("no-target", "a,b,y\n1,2,0\n3,4,1\n", ("data.path=t.csv",), ("data=csv", "data.target")),
    # A sweep over a bad table is refused whole, before its parent run exists.
    (
        "sweep",
        "a,b,y\n1,2,0\n3,NaN,1\n5,6,0\n",
        ("data.path=t.csv", "data.target=y", "model.hidden=1,2"),
        ("'b'", "row 3", "in the sweep's job"),
    ),
]


@pytest.mark.parametrize("text, overrides, named", [pytest.param(*case[1:], id=case[0]) for case in BAD_TABLES])
def test_bad_csv_table_is_one_clear_line_and_creates_no_run(tmp_path, text, overrides, named):
    if text is not None:
        (tmp_path / "t.csv").write_text(text)
    multirun = ("-m",) if any("," in o for o in overrides) else ()
    assert_refused(run_cli(tmp_path, *multirun, "data=csv", *overrides, *QUICK), tmp_path, *named)


def test_an_interrupt_while_the_stores_close_is_one_line_and_exit_130(tmp_path):
    """Ctrl-C just as a command ends lands in `leave` (closing the SQLite stores): no traceback."""
    code = (
        "import pipeline.tracking as tracking\n"
        "def interrupted():\n"
        "    raise KeyboardInterrupt('signal SIGINT')\n"
        "tracking.close_stores = interrupted\n"
        "import pipeline.__main__ as command\n"
        "command.leave()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 130, result.stderr[-2000:]
    assert result.stderr.strip() == "interrupted while closing the tracking store: what was written stays in it"


LONG_NAME = "x" * 300
LEAVES_NOTHING = [
    # (id, overrides, what the line must name); tracking.uri's {cwd}: the test's folder
    ("swept-device", ("-m", "device=cpu,gpu"), ("device=cpu,gpu", "one value per command")),
    ("swept-experiment", ("-m", "tracking.experiment=ea,eb"), ("tracking.experiment=ea,eb", "one value per command")),
    ("a-csv-as-store", ("tracking.uri=sqlite:///{cwd}/existing.csv",), ("existing.csv", "not a SQLite database")),
    ("a-folder-as-store", ("tracking.uri=sqlite:///{cwd}/existing_folder",), ("existing_folder", "is a folder")),
    ("upper-case-scheme", ("tracking.uri=SQLITE:///M.db",), ("SQLITE:///M.db", "lower case")),
    ("escaping-experiment", ("tracking.experiment=../../escaped",), ("'../../escaped'", "must not contain /")),
    ("long-experiment", ("tracking.experiment=" + LONG_NAME,), ("too long (300 bytes)", "at most 255")),
    ("long-experiment-sweep", ("-m", "optim.lr=0.1,0.5", "tracking.experiment=" + LONG_NAME), ("too long",)),
]


@pytest.mark.parametrize("overrides, named", [pytest.param(*case[1:], id=case[0]) for case in LEAVES_NOTHING])
def test_a_refusal_leaves_nothing_behind(tmp_path, overrides, named):
    """One line, exit 2, and no store, lock file, outputs/ or multirun/ folder made in the folder."""
    (tmp_path / "existing.csv").write_text("a,b\n1,2\n")
    (tmp_path / "existing_folder").mkdir()
    there = sorted(p.name for p in tmp_path.iterdir())
    typed = [override.format(cwd=tmp_path) for override in overrides]
    assert_refused(run_cli(tmp_path, *typed, "train.steps=100"), tmp_path, *named)
    assert sorted(p.name for p in tmp_path.iterdir()) == there
    assert list((tmp_path / "existing_folder").iterdir()) == []


def test_relative_paths_mean_the_starting_folder_when_hydra_moves_the_job(tmp_path):
    """hydra.job.chdir=true: the store (sqlite:///mlflow.db) and data.path=houses.csv are where the
    command was started, as the printed `see it:` line says, not in the job's own folder."""
    shutil.copy(HOUSES, tmp_path / "houses.csv")
    table = ("data=csv", "data.path=houses.csv", "data.target=price_k", "optim.lr=0.1")
    result = run_cli(tmp_path, "hydra.job.chdir=true", *table, *QUICK)
    assert result.returncode == 0, result.stderr
    assert "--backend-store-uri sqlite:///mlflow.db," in result.stdout
    assert len(runs(tmp_path, "Default")) == 1
    assert not list((tmp_path / "outputs").rglob("mlflow.db*")) and not list(
        (tmp_path / "outputs").rglob("mlartifacts")
    )


def test_a_run_without_tracking_prints_its_result(tmp_path):
    """tracking.enabled=false printed nothing: its metrics were nowhere."""
    result = run_cli(tmp_path, "tracking.enabled=false", *QUICK)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-2].startswith("run FINISHED val_accuracy=") and "last 5 mean" in lines[-2], result.stdout
    assert lines[-1] == "not recorded in MLflow (tracking.enabled=false)"
    assert not (tmp_path / "mlflow.db").exists()
