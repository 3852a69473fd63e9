"""The command line end to end: `python -m pipeline ...` in a temporary directory, read back from MLflow."""

from __future__ import annotations

import numpy as np
import pytest

from _cli import client, run_cli, runs

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
    result = run_cli(tmp_path, *multirun, *overrides)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert named in lines[0]
    assert "Traceback" not in result.stderr
    # Refused before any run was created (the store may not even exist).
    if (tmp_path / "mlflow.db").exists():
        assert client(tmp_path).search_experiments() == [] or all(
            len(runs(tmp_path, e.name)) == 0 for e in client(tmp_path).search_experiments()
        )
