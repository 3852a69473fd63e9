"""Recording a job in a real temporary SQLite store: what the run holds, and that every metric
is what its name says, computed again here from the run's params.npz and the data alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline import job
from pipeline.batching import dataset_of
from pipeline.recording import OBJECTIVE_POINTS
from pipeline.tracking import tracker_for

QUICK = ["train.steps=200", "train.log_every=50", "tracking.plots=false"]


@pytest.fixture
def make_config(compose, store):
    """A job's config, tracked in a temporary SQLite store (tests/conftest.py)."""
    return lambda *overrides: compose([*QUICK, f"tracking.uri={store.uri}", *overrides])


def numpy_forward(params: dict, X: np.ndarray, hidden: str, output: str, slope: float = 0.01) -> np.ndarray:
    """ŷ by the notes' equations, in NumPy: independent of models/."""
    g = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0), "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
         "leaky_relu": lambda z: np.where(z > 0, z, slope * z), "identity": lambda z: z,
         "step": lambda z: (z > 0).astype(z.dtype)}
    L = len(params) // 2
    A = X
    for l in range(1, L + 1):
        A = g[output if l == L else hidden](params[f"W{l}"] @ A + params[f"b{l}"])
    return A


def score(y_hat: np.ndarray, Y: np.ndarray, task: str, scale: float) -> float:
    if task == "regression":
        return float(np.sqrt(np.mean((y_hat - Y) ** 2)) * scale)
    return float(np.mean((y_hat > 0.5) == Y))


# Every output unit × task the pipeline accepts (a sigmoid or step output on regression data is refused).
COMBINATIONS = {
    "sigmoid-binary": ["data=moons"],
    "identity-binary": ["data=moons", "model.output=identity", "optim.lr=0.1"],
    "step-binary": ["data=blobs", "model=perceptron", "optim.lr=0.1"],
    "identity-regression": ["data=diabetes", "optim.lr=0.05"],
}


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_every_recorded_metric_is_what_its_name_says(make_config, combination):
    cfg = make_config(*COMBINATIONS[combination])
    result = job.run(cfg)
    assert result.status == "FINISHED", result.reason
    tracker = tracker_for(cfg.tracking.uri)
    run = tracker.get_run(result.run_id)
    params_file = tracker.download_artifacts(result.run_id, "params.npz", Path(cfg.tracking.uri[10:]).parent)
    params = dict(np.load(params_file))
    ds = dataset_of(cfg)
    hidden, output = cfg.model.activation, run.tags["model.output_activation"]
    names = ("train_rmse", "val_rmse") if ds.task == "regression" else ("train_accuracy", "val_accuracy")
    for name, X, Y in ((names[0], ds.X_train, ds.Y_train), (names[1], ds.X_val, ds.Y_val)):
        expected = score(numpy_forward(params, X, hidden, output), Y, ds.task, ds.target_scale)
        assert run.metrics[name] == pytest.approx(expected, rel=1e-4, abs=1.5 / Y.shape[1]), name
    other = {"train_accuracy", "val_accuracy", "train_rmse", "val_rmse"} - set(names)
    assert not other & set(run.metrics), "a metric of the other task was recorded"
    assert run.tags["objective"] == names[1]


def test_a_finished_run_holds_its_histories_tags_and_files(make_config):
    cfg = make_config("model.hidden=3")
    result = job.run(cfg)
    tracker = tracker_for(cfg.tracking.uri)
    run = tracker.get_run(result.run_id)
    assert run.status == "FINISHED"
    assert [p.step for p in tracker.metric_history(result.run_id, "loss")] == [0, 50, 100, 150, 200]
    objective = f"val_accuracy_last{OBJECTIVE_POINTS}_mean"
    history = [p.value for p in tracker.metric_history(result.run_id, "val_accuracy")]
    assert run.metrics[objective] == pytest.approx(np.mean(history[-OBJECTIVE_POINTS:]))
    assert result.objective == pytest.approx(run.metrics[objective])
    assert run.tags["model.layer_sizes"] == "2-3-1" and run.tags["model.padded_sizes"] == "2-8-1"
    assert run.tags["data.n_val"] == str(dataset_of(cfg).m_val)
    assert run.params["model.hidden"] == "3" and "lesson" not in run.params
    stored = Path(cfg.tracking.uri[10:]).parent / "check"
    stored.mkdir()
    for name in ("resolved_config.yaml", "params.npz"):
        assert tracker.download_artifacts(result.run_id, name, stored).exists()


def test_a_run_that_diverged_is_failed_with_its_metrics_up_to_then(make_config):
    cfg = make_config("model.activation=relu", "optim.lr=1e6")
    result = job.run(cfg)
    assert result.status == "FAILED" and result.reason.startswith("diverged: ")
    tracker = tracker_for(cfg.tracking.uri)
    run = tracker.get_run(result.run_id)
    assert run.status == "FAILED" and run.tags["failure_reason"] == result.reason
    steps = [p.step for p in tracker.metric_history(result.run_id, "loss")]
    assert steps and max(steps) < int(run.tags["diverged_at_step"])


def test_without_a_validation_set_the_training_metric_is_the_objective(make_config):
    cfg = make_config("data.val_fraction=0")
    result = job.run(cfg)
    assert result.status == "FINISHED", result.reason
    run = tracker_for(cfg.tracking.uri).get_run(result.run_id)
    assert "val_accuracy" not in run.metrics and "train_accuracy" in run.metrics
    assert result.objective_name == "train_accuracy" and run.tags["objective"] == "train_accuracy"
    assert run.tags["data.n_val"] == "0" and run.tags["data.n_train"] == "400"
