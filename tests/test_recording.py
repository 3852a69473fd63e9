"""Recording a job in a real temporary SQLite store: what the run holds, and that every metric
is what its name says, computed again here from the run's params.npz and the data alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline import job
from pipeline.batching import dataset_of
from pipeline.recording import LOG10_FLOOR, OBJECTIVE_POINTS, LiveMetrics, log10_error, settled_history
from pipeline.tracking import tracker_for

QUICK = ["train.steps=200", "train.log_every=50", "tracking.plots=false"]


@pytest.fixture
def make_config(compose, store):
    """A job's config, tracked in a temporary SQLite store (tests/conftest.py)."""
    return lambda *overrides: compose([*QUICK, f"tracking.uri={store.uri}", *overrides])


def numpy_forward(params: dict, X: np.ndarray, hidden: str, output: str, slope: float = 0.01) -> np.ndarray:
    """ŷ by the notes' equations, in NumPy: independent of models/."""
    g = {
        "tanh": np.tanh,
        "relu": lambda z: np.maximum(z, 0),
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "leaky_relu": lambda z: np.where(z > 0, z, slope * z),
        "identity": lambda z: z,
        "step": lambda z: (z > 0).astype(z.dtype),
    }
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
    # A history: at each logged step, the mean of the objective's last points up to it.
    settled = tracker.metric_history(result.run_id, objective)
    assert [p.step for p in settled] == [0, 50, 100, 150, 200]
    assert [p.value for p in settled] == pytest.approx(
        [np.mean(history[max(0, i - OBJECTIVE_POINTS + 1) : i + 1]) for i in range(len(history))]
    )
    # It is the run's first metric: MLflow's Compare page opens its parallel-coordinates plot on it.
    assert next(iter(tracker.client.get_run(result.run_id).data.metrics)) == objective
    # The gradient checks' errors (about 1e-16: a chart's axis reads "0 0 0") also as their log10.
    for name in ("rel_error", "fd_rel_error"):
        errors = tracker.metric_history(result.run_id, f"gradcheck_{name}")
        logs = tracker.metric_history(result.run_id, f"gradcheck_log10_{name}")
        assert [p.step for p in logs] == [p.step for p in errors] == [0, 200]
        assert [p.value for p in logs] == pytest.approx([log10_error(p.value) for p in errors])
        assert all(LOG10_FLOOR <= p.value < -5 for p in logs), logs
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


def test_log10_errors_floor_exact_agreement():
    assert log10_error(1e-16) == pytest.approx(-16)
    assert log10_error(0.0) == LOG10_FLOOR == log10_error(1e-300)  # 0: exact agreement, not -inf
    assert np.isnan(log10_error(float("nan")))  # a failed check stays visible as such


def test_a_live_runs_settled_objective_is_logged_first_with_the_same_bits(monkeypatch):
    """Logged segment by segment, the settled objective has the bits of the whole history's."""
    from types import SimpleNamespace

    class Store:
        batches: list = []

        def log_batch(self, run_id, metrics):
            self.batches.append(metrics)

    ds = SimpleNamespace(task="binary", m_val=80, target_scale=1.0)
    val = np.random.default_rng(0).random(12).astype(np.float32)
    live = LiveMetrics(ds, 10, Store(), "run")
    zeros = np.zeros_like(val)
    for start, stop in ((0, 1), (1, 6), (6, 7), (7, 12)):  # the first point, then segments
        live([(zeros[start:stop], zeros[start:stop], val[start:stop], np.zeros((stop - start, 2)))], (stop - 1) * 10)
    name = f"val_accuracy_last{OBJECTIVE_POINTS}_mean"
    assert all(batch[0][0] == name for batch in Store.batches)
    logged = [(step, value) for batch in Store.batches for key, value, step in batch if key == name]
    assert logged == list(zip(range(0, 120, 10), settled_history(val).tolist()))


class CountingTracker:
    """The real tracker, counting the log_batch requests it is asked for."""

    def __init__(self, tracker):
        self.tracker, self.batches = tracker, []

    def log_batch(self, run_id, **entries):
        self.batches.append(entries)
        self.tracker.log_batch(run_id, **entries)

    def __getattr__(self, name):
        return getattr(self.tracker, name)


@pytest.mark.parametrize("first", ["record", "failure", "nothing"])
def test_a_new_runs_params_go_with_its_first_write(store, first):
    from pipeline.recording import ParamsWithFirstWrite

    tracker = tracker_for(store.uri)
    counting = CountingTracker(tracker)
    run_id = tracker.start_run("exp", "r", {})
    writer = ParamsWithFirstWrite(counting, run_id, {"model.hidden": 4, "optim.lr": 0.5})
    if first == "record":  # a job's whole record: one request, params with it
        writer.log_batch(run_id, metrics=[("loss", 0.5, 0)], tags={"t": "1"})
        writer.set_tags(run_id, {"u": "2"})
    elif first == "failure":
        writer.set_tags(run_id, {"failure_reason": "boom"})
    writer.end_run(run_id, "FINISHED" if first == "record" else "FAILED")
    assert sum(bool(batch.get("params")) for batch in counting.batches) == 1  # once, never again
    assert len(counting.batches) == {"record": 2, "failure": 1, "nothing": 1}[first]
    run = tracker.get_run(run_id)
    assert run.params == {"model.hidden": "4", "optim.lr": "0.5"}
    assert run.status == ("FINISHED" if first == "record" else "FAILED")


def test_a_diverged_run_says_its_metrics_are_kept_only_where_they_are(make_config):
    tracked = job.run(make_config("model.activation=relu", "optim.lr=1e6"))
    assert tracked.reason.endswith("; the metrics up to that step are kept")
    untracked = job.run(make_config("model.activation=relu", "optim.lr=1e6", "tracking.enabled=false"))
    assert untracked.status == "FAILED" and untracked.run_id is None
    assert untracked.reason.startswith("diverged: ") and "kept" not in untracked.reason
