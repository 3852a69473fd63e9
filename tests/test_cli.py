"""The command line end to end: `python -m pipeline ...` in a temporary directory, read back from MLflow."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from _cli import assert_refused, client, run_cli, runs

pytestmark = pytest.mark.slow

QUICK = ("train.steps=300", "train.log_every=50")


def test_default_run_is_one_tracked_run(tmp_path):
    result = run_cli(tmp_path, *QUICK)
    assert result.returncode == 0, result.stderr
    table = runs(tmp_path, "default")
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

    mlflow_client = client(tmp_path)
    history = mlflow_client.get_metric_history(run["run_id"], "loss")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == [0, 50, 100, 150, 200, 250, 300]
    values = [m.value for m in sorted(history, key=lambda m: m.step)]
    assert values[-1] < values[0]  # it learned
    artifacts = {a.path for a in mlflow_client.list_artifacts(run["run_id"])}
    assert {"resolved_config.yaml", "overrides.yaml", "params.npz", "loss_curve.png", "decision_boundary.png"} <= artifacts
    assert (tmp_path / "mlflow.db").exists()
    assert f"run {run['run_id']} FINISHED" in result.stdout


@pytest.mark.parametrize(
    "overrides, task, metric",
    [
        (("model=perceptron", "data=blobs"), "binary", "train_accuracy"),
        (("model=logistic", "data=moons", "optim=adam"), "binary", "val_accuracy"),
        (("model=deep", "model.depth=2", "model.activation=leaky_relu", "train.grad=hand"), "binary", "val_accuracy"),
        (("data=diabetes", "optim.lr=0.1", "train.batch_size=64", "optim=momentum"), "regression", "val_rmse"),
        (("data=breast_cancer", "model.activation=sigmoid", "optim.lr=0.5"), "binary", "val_accuracy"),
    ],
)
def test_each_model_kind_trains_and_is_tracked(tmp_path, overrides, task, metric):
    result = run_cli(tmp_path, *QUICK, *overrides)
    assert result.returncode == 0, result.stderr
    run = runs(tmp_path, "default").iloc[0]
    assert run["status"] == "FINISHED"
    assert run["tags.data.task"] == task
    assert np.isfinite(run[f"metrics.{metric}"])
    assert run["metrics.gradcheck_rel_error"] < 1e-10


BAD_INPUTS = [
    (("model=resnet",), "resnet"),
    (("model.activation=swish",), "swish"),
    (("data=iris",), "iris"),
    (("data.name=iris",), "iris"),
    (("optim=sgdx",), "sgdx"),
    (("optim.name=sgdx",), "sgdx"),
    (("model.hidden=0",), "model.hidden=0"),
    (("model=deep", "model.depth=0"), "model.depth=0"),
    (("optim.lr=0",), "optim.lr=0"),
    (("optim.lr=-1",), "optim.lr=-1"),
    (("train.steps=0",), "train.steps=0"),
    (("optim.lr=fast",), "fast"),
    (("model.hiden=4",), "hiden"),
    (("model.activation=step",), "perceptron"),
    (("model.hidden=1,0",), "model.hidden=0"),  # a sweep with one bad member is refused whole
]


@pytest.mark.parametrize("overrides, named", BAD_INPUTS, ids=[" ".join(o) for o, _ in BAD_INPUTS])
def test_bad_input_is_one_clear_line_and_creates_no_run(tmp_path, overrides, named):
    multirun = ("-m",) if any("," in o for o in overrides) else ()
    assert_refused(run_cli(tmp_path, *multirun, *overrides), tmp_path, named)


# -- data=csv: the user's own table, end to end --------------------------------------------


HOUSES = Path(__file__).resolve().parents[1] / "examples/houses.csv"


def test_csv_table_trains_as_regression_and_is_tracked(tmp_path):
    shutil.copy(HOUSES, tmp_path / "houses.csv")
    result = run_cli(tmp_path, "data=csv", "data.path=houses.csv", "data.target=price_k",
                     *QUICK, "optim.lr=0.1")
    assert result.returncode == 0, result.stderr
    table = runs(tmp_path, "default")
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


_GOOD = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n"
BAD_TABLES = [
    # (id, the table's text or None for no file, overrides after data=csv, what the line must name)
    ("missing-file", None, ("data.path=nope.csv", "data.target=y"), ("nope.csv", "no such file")),
    ("missing-target", _GOOD, ("data.path=t.csv", "data.target=price"), ("'price'", "a, b, y")),
    ("non-numeric", "a,b,y\n1,2,0\n3,cheap,1\n5,6,0\n", ("data.path=t.csv", "data.target=y"),
     ("'b'", "'cheap'", "row 3")),
    ("nan-cell", "a,b,y\n1,2,0\n3,NaN,1\n5,6,0\n", ("data.path=t.csv", "data.target=y"), ("'b'", "row 3")),
    ("empty-cell", "a,b,y\n1,2,0\n3,,1\n5,6,0\n", ("data.path=t.csv", "data.target=y"), ("'b'", "row 3")),
    ("ragged-row", "a,b,y\n1,2,0\n3,4\n5,6,0\n", ("data.path=t.csv", "data.target=y"), ("row 3", "2 cells")),
    ("header-only", "a,b,y\n", ("data.path=t.csv", "data.target=y"), ("t.csv", "no data rows")),
    ("single-class", "a,b,y\n1,2,0\n3,4,0\n5,6,0\n7,8,0\n", ("data.path=t.csv", "data.target=y", "data.task=binary"),
     ("'y'", "single class")),
    ("binary-not-0-1", "a,b,y\n1,2,0\n3,4,2\n5,6,0\n7,8,1\n", ("data.path=t.csv", "data.target=y", "data.task=binary"),
     ("'y'", "0 and 1")),
    ("no-path", None, ("data.target=y",), ("data=csv", "data.path")),
    ("no-target", _GOOD, ("data.path=t.csv",), ("data=csv", "data.target")),
    # A sweep over a bad table is refused whole, before its parent run exists.
    ("sweep", "a,b,y\n1,2,0\n3,NaN,1\n5,6,0\n", ("data.path=t.csv", "data.target=y", "model.hidden=1,2"),
     ("'b'", "row 3", "in the sweep's job")),
]


# Caught only once the table is read and split, still before any run.
_KNOWN_GAPS = [
    # Too few rows for data.val_fraction: the split is checked up front too.
    pytest.param("a,b,y\n1,2,0\n3,4,1\n", ("data.path=t.csv", "data.target=y"), ("data.val_fraction",),
                 id="too-few-rows"),
    # model=perceptron on a regression table is refused like on the built-in regression set.
    pytest.param("a,b,y\n1,2,10.5\n3,4,20.1\n5,6,30.7\n7,8,41.2\n9,10,50.9\n",
                 ("data.path=t.csv", "data.target=y", "model=perceptron"), ("perceptron",),
                 id="perceptron-on-regression-table"),
]


@pytest.mark.parametrize("text, overrides, named",
                         [pytest.param(*case[1:], id=case[0]) for case in BAD_TABLES] + _KNOWN_GAPS)
def test_bad_csv_table_is_one_clear_line_and_creates_no_run(tmp_path, text, overrides, named):
    if text is not None:
        (tmp_path / "t.csv").write_text(text)
    multirun = ("-m",) if any("," in o for o in overrides) else ()
    assert_refused(run_cli(tmp_path, *multirun, "data=csv", *overrides, *QUICK), tmp_path, *named)
