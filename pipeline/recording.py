"""Recording a job's training in its MLflow run: metric histories, checks, files, plots.

The training returns arrays; here they become the run's metrics (one log_batch), its tags,
its files (`resolved_config.yaml`, `overrides.yaml`, `params.npz`) and its plots. A run
that diverged or whose gradient check failed keeps everything it computed up to that
point, and the caller fails it with the reason.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import jax
import numpy as np
from omegaconf import DictConfig

from pipeline import provenance
from pipeline.batching import Trained
from pipeline.data import Dataset
from pipeline.errors import RunFailure
from pipeline.finishing import FileCall, finish_run, npz_file, yaml_file
from pipeline.gradcheck import report_or_fail
from pipeline.inputs import hyper_of, metric_names
from pipeline.predict import NetworkPredict
from pipeline.train import DIVERGENCE_GROWTH, GREW, TrainResult, TrainSpec

# The objective is the mean of the validation metric over the last OBJECTIVE_POINTS logged
# points (a one-step wobble of a noisy run cannot flip a ranking); also logged as a metric.
OBJECTIVE_POINTS = 5
# The gradient checks' relative errors (about 1e-16 and 1e-9) are also logged as their log10, which
# MLflow's charts can label (their axis reads "0 0 0 0" for the errors themselves); exact agreement
# (an error of 0) is logged at this floor rather than as -inf, which MLflow cannot store.
LOG10_FLOOR = -20.0


def objective_name(task: str, has_val: bool) -> str:
    """The metric a sweep ranks by: the validation metric, or the training one without a validation set."""
    train_name, val_name = metric_names(task)
    return val_name if has_val else train_name


def settled_name(name: str) -> str:
    """The logged statistic of metric `name` that a sweep ranks by: `val_accuracy_last5_mean`."""
    return f"{name}_last{OBJECTIVE_POINTS}_mean"


def settled_history(values: np.ndarray, earlier: np.ndarray | None = None) -> np.ndarray:
    """At each point of `values`, the mean of the last OBJECTIVE_POINTS values up to it (fewer at the
    start), `earlier` being the points logged before `values` (a live run's previous segments).

    Logged as a history, so that a chart shows the statistic settle; its last point is the value
    a sweep ranks by. Each mean is numpy's over the same slice, so a run logged live in segments
    and one logged at its end record the same bits."""
    before = np.asarray(earlier if earlier is not None else values[:0])[-(OBJECTIVE_POINTS - 1) :]
    series = np.concatenate([before, np.asarray(values)])
    first = len(before)
    return np.array(
        [np.mean(series[max(0, i - OBJECTIVE_POINTS + 1) : i + 1]) for i in range(first, len(series))],
        dtype=float,
    )


def log10_error(error: float) -> float:
    """log10 of a gradient check's relative error, floored at LOG10_FLOOR (0 is exact agreement); NaN stays NaN."""
    if math.isnan(error):
        return error
    return max(LOG10_FLOOR, math.log10(error)) if error > 0 else LOG10_FLOOR


def gradcheck_metrics(rel_error: float, fd_rel_error: float) -> dict[str, float]:
    """The gradient check's errors, as they are and as their log10 (what a chart can show)."""
    return {
        "gradcheck_rel_error": rel_error,
        "gradcheck_fd_rel_error": fd_rel_error,
        "gradcheck_log10_rel_error": log10_error(rel_error),
        "gradcheck_log10_fd_rel_error": log10_error(fd_rel_error),
    }


def history_of(result: TrainResult, ds: Dataset) -> dict[str, np.ndarray]:
    """The logged history as NumPy: loss, train/val metric, per-layer gradient norms, cut at divergence.

    Without validation examples (data.val_fraction=0) there is no validation metric."""
    h = jax.tree_util.tree_map(np.asarray, result.history)
    train_name, val_name = metric_names(ds.task)
    scale = ds.target_scale if ds.task == "regression" else 1.0  # RMSE in the target's own units
    history = {"step": h.step, "loss": h.loss, train_name: h.train_metric * scale}
    if ds.m_val:
        history[val_name] = h.val_metric * scale
    for layer in range(h.grad_norm.shape[1]):
        history[f"grad_norm_W{layer + 1}"] = h.grad_norm[:, layer]
    diverged_at = int(result.diverged_at)
    if diverged_at >= 0:
        keep = h.step < diverged_at
        history = {k: v[keep] for k, v in history.items()}
    return history


class ParamsWithFirstWrite:
    """A Tracker for one new run whose params go out with the first write to it: metrics and tags
    (a batched job's whole record), live metrics (a long run's first segment), or the failure
    reason. One transaction on the store fewer per run; a run still never ends without its
    params, whichever way it ends (`end_run` writes them if nothing else has)."""

    def __init__(self, tracker, run_id: str, params: dict[str, object]):
        self.tracker, self.run_id, self.pending = tracker, run_id, dict(params)

    def log_batch(self, run_id: str, *, metrics=(), params=None, tags=None) -> None:
        if self.pending and run_id == self.run_id:
            params, self.pending = {**self.pending, **(params or {})}, {}
        self.tracker.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    def set_tags(self, run_id: str, tags) -> None:
        self.log_batch(run_id, tags=tags)

    def end_run(self, run_id: str, status: str) -> None:
        if self.pending and run_id == self.run_id:
            self.log_batch(run_id)
        self.tracker.end_run(run_id, status)

    def __getattr__(self, name: str):  # everything else, as the tracker does it
        return getattr(self.tracker, name)


class LiveMetrics:
    """Each segment's metric points of a long run, logged to its run as they come
    (pipeline/segments.py), so the MLflow UI's charts grow while it trains."""

    def __init__(self, ds: Dataset, log_every: int, tracker, run_id: str | None, logged_through: int = -1):
        self.ds, self.log_every, self.tracker, self.run_id = ds, log_every, tracker, run_id
        self.logged_through = logged_through  # the last step already in the run
        self.objective_tail: np.ndarray | None = None  # the objective's last points so far (for its settled mean)

    def __call__(self, points: list, last_step: int) -> None:
        loss, train, val, grad_norm = (np.concatenate([np.asarray(p[i]) for p in points]) for i in range(4))
        steps = [last_step - (len(loss) - 1 - i) * self.log_every for i in range(len(loss))]
        names = metric_names(self.ds.task)
        scale = self.ds.target_scale if self.ds.task == "regression" else 1.0
        name = objective_name(self.ds.task, bool(self.ds.m_val))
        objective = (val if self.ds.m_val else train) * scale
        # The settled objective first: the first metric a run logs is the one MLflow's Compare page
        # opens its parallel-coordinates plot on (it keeps the store's order of a run's metrics).
        columns = {settled_name(name): settled_history(objective, self.objective_tail)}
        seen = objective if self.objective_tail is None else np.concatenate([self.objective_tail, objective])
        self.objective_tail = seen[-(OBJECTIVE_POINTS - 1) :]
        columns.update({"loss": loss, names[0]: train * scale})
        if self.ds.m_val:
            columns[names[1]] = val * scale
        columns.update({f"grad_norm_W{l + 1}": grad_norm[:, l] for l in range(grad_norm.shape[1])})
        metrics = [
            (name, float(values[i]), step)
            for name, values in columns.items()
            for i, step in enumerate(steps)
            if step > self.logged_through and np.isfinite(values[i])
        ]
        if self.tracker and metrics:
            self.tracker.log_batch(self.run_id, metrics=metrics)
        self.logged_through = max(self.logged_through, steps[-1])


def divergence_reason(cfg: DictConfig, result: TrainResult) -> str:
    step = int(result.diverged_at)
    if int(result.diverged_how) == GREW:
        cause = f"the training loss grew past {DIVERGENCE_GROWTH:.0e} times its start"
    else:
        cause = "the loss or an update overflowed (non-finite)"
    reason = f"diverged: {cause} at step {step} (optim.lr={cfg.optim.lr:g})"
    # Kept in the run, where there is one: with tracking.enabled=false nothing is kept.
    return f"{reason}; the metrics up to that step are kept" if cfg.tracking.enabled else reason


def record_training(
    cfg: DictConfig,
    ds: Dataset,
    spec: TrainSpec,
    trained: Trained,
    tracker,
    run_id,
    logged_through: int = -1,
    resolved: dict | None = None,
) -> dict:
    """Check and record a job's training (metrics and tags in one log_batch, then its files);
    returns the final metrics. Raises RunFailure (after recording what there is) if it diverged
    or a gradient check failed. History points up to `logged_through` were logged live already;
    `resolved` is `provenance.resolved_config(cfg)`, when the caller has it."""
    check_at_init = report_or_fail(trained.check_at_init, cfg.gradcheck)
    result, timings = trained.result, trained.timings
    history = history_of(result, ds)
    name = objective_name(ds.task, bool(ds.m_val))
    # The settled objective (a history, see settled_history) first: the first metric a run logs is
    # the one MLflow's Compare page opens its parallel-coordinates plot on.
    settled = {settled_name(name): settled_history(history[name])}
    metrics = [
        (key, value, step)
        for key, values in {**settled, **history}.items()
        if key != "step"
        for step, value in zip(history["step"].tolist(), values.tolist())
        if step > logged_through
    ]
    metrics += [
        (key, value, 0)
        for key, value in {
            **gradcheck_metrics(check_at_init.rel_error, check_at_init.fd_rel_error),
            **timings,
        }.items()
    ]
    tags = {**trained.tags, **check_at_init.tags()}
    try:
        if int(result.diverged_at) >= 0:
            raise RunFailure(divergence_reason(cfg, result), {"diverged_at_step": str(int(result.diverged_at))})
        check_at_end = report_or_fail(trained.check_at_end(), cfg.gradcheck)
    except RunFailure:
        if tracker:  # what the run computed is kept; the caller records why it failed
            tracker.log_batch(run_id, metrics=metrics, tags=tags)
        raise
    worst_fd = max(check_at_init.fd_rel_error, check_at_end.fd_rel_error)
    if not worst_fd <= cfg.gradcheck.fd_tolerance:
        # Reported, not fatal: centred differences straddle the kinks of ReLU-like units
        # whenever some Z is exactly 0 (zero biases, dead units), while jax.grad is exact.
        tags["gradcheck_fd_warning"] = (
            f"finite differences differ by {worst_fd:.1e} > gradcheck.fd_tolerance={cfg.gradcheck.fd_tolerance:g}"
        )
    means = settled[settled_name(name)]
    objective = float(means[-1]) if len(means) else math.nan  # the mean of the objective's last points
    metrics += [
        (key, value, cfg.train.steps)
        for key, value in gradcheck_metrics(check_at_end.rel_error, check_at_end.fd_rel_error).items()
    ]
    if tracker:
        tracker.log_batch(run_id, metrics=metrics, tags=tags)
        log_files(cfg, ds, spec, result, history, tracker, run_id, resolved)
    final = {key: float(values[-1]) for key, values in history.items() if key != "step"}
    return {
        **final,
        **gradcheck_metrics(check_at_end.rel_error, check_at_end.fd_rel_error),
        settled_name(name): objective,
        **timings,
    }


# resolved_config.yaml's first lines; the config follows, a primary config typed by the schema again.
RERUN_HEADER = (
    "# The resolved config of one run. To run it again, alone:\n"
    "#   python -m pipeline --config-dir DIR_OF_THIS_FILE --config-name resolved_config\n"
)


def log_files(cfg, ds, spec, result, history, tracker, run_id, resolved: dict | None = None) -> None:
    """The resolved config, the overrides, the final parameters and the plots; then the run ends.

    The files are made, the plots drawn, all uploaded in one go, and the run ended FINISHED by
    pipeline/finishing.py: the plots in a worker process during a sweep, the other files where
    they are uploaded (the writer process, when the sweep writes behind). `resolved` is
    `provenance.resolved_config(cfg)`, when the caller has it.
    """
    from hydra.core.hydra_config import HydraConfig

    resolved = provenance.resolved_config(cfg) if resolved is None else resolved
    files = tempfile.TemporaryDirectory(prefix="run-artifacts-")
    out = Path(files.name)
    made: list[FileCall] = [
        (yaml_file, ("resolved_config.yaml", {"defaults": ["schema", "_self_"], **resolved}, RERUN_HEADER)),
        (npz_file, ("params.npz", {k: np.asarray(v) for k, v in result.params.items()})),
    ]
    if HydraConfig.initialized():
        made.append((yaml_file, ("overrides.yaml", list(HydraConfig.get().overrides.task))))
    calls = []
    if cfg.tracking.plots:
        slope = float(hyper_of(cfg).slope)
        calls = plot_calls(ds, spec, slope, result, history, out, loss_curve=cfg.tracking.loss_curve)
    finish_run(tracker, run_id, files, calls, made)


def plot_calls(ds, spec, slope: float, result, history, out: Path, loss_curve: bool = False) -> list:
    """The run's plots as (pipeline.plots function's name, args, kwargs): picklable, so a worker
    process can draw them."""
    train_name, val_name = metric_names(ds.task)
    shown = val_name if val_name in history else train_name
    calls: list[tuple] = []
    if loss_curve:
        calls.append(
            (
                "plot_loss_curve",
                (history["step"], history["loss"], out / "loss_curve.png"),
                {"title": f"{spec.hidden_activation} network, loss", "val_metric": (shown, history[shown])},
            )
        )
    if ds.n_features == 2 and ds.task == "binary":
        params = {k: np.asarray(v) for k, v in result.params.items()}
        predict = NetworkPredict(params, spec.hidden_activation, spec.output_activation, slope)
        final = history[shown][-1] if len(history[shown]) else math.nan
        calls.append(
            (
                "plot_decision_boundary",
                (
                    predict,
                    np.concatenate([ds.X_train, ds.X_val], axis=1),
                    np.concatenate([ds.Y_train, ds.Y_val], axis=1),
                    out / "decision_boundary.png",
                ),
                {"title": f"decision boundary, {shown.replace('_', ' ')} {final:.3f}"},
            )
        )
    return calls
