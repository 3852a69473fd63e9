"""One job, start to end: validate, load data, check gradients, train, record.

`train(cfg)` is what `@hydra.main` calls for each job (pipeline/__main__.py). It is a plain
function of the composed config, so tests and other launchers can call it directly.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from omegaconf import DictConfig, OmegaConf

from models.gradcheck import GradCheck
from models.network import init_params
from pipeline import plots, precomputed, provenance
from pipeline.config import hidden_layers, validate
from pipeline.data import Dataset, load_from_config
from pipeline.device import select_device
from pipeline.errors import RunFailure
from pipeline.finishing import finish_run
from pipeline.gradcheck import gradient_check, report_or_fail
from pipeline.summary import RESUMED_TAG_PREFIX
from pipeline.tracking import tracker_for
from pipeline.train import Hyper, TrainResult, TrainSpec, compiled_train, make_hyper, predict_numpy


@dataclass
class JobResult:
    """What a job returns to Hydra (and so to sweepers and the sweep summary)."""

    status: str  # FINISHED | FAILED | SKIPPED (an earlier FINISHED run of the same config reused)
    run_id: Optional[str]
    objective_name: str  # val_accuracy (binary) or val_rmse (regression)
    objective: float  # its final value; nan if failed
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    def __float__(self) -> float:  # what Hydra's Optuna sweeper optimises
        return self.objective

    def __str__(self) -> str:
        if self.status == "FAILED":
            return f"FAILED: {self.reason}"
        return f"{self.status} {self.objective_name}={self.objective:.4f}"


# -- building blocks ------------------------------------------------------------------------


def output_activation(cfg: DictConfig, ds: Dataset) -> str:
    """The output unit follows the data: sigmoid for binary labels, identity for regression."""
    if cfg.model.name == "perceptron":
        return "step"
    if cfg.model.output != "auto":
        return cfg.model.output
    return "identity" if ds.task == "regression" else "sigmoid"


def layer_sizes(cfg: DictConfig, ds: Dataset) -> tuple[int, ...]:
    """(n_x, n_1, ..., 1) for the configured model."""
    return (ds.n_features, *[cfg.model.hidden] * hidden_layers(cfg), 1)


def train_spec(cfg: DictConfig, ds: Dataset) -> TrainSpec:
    return TrainSpec(
        hidden_activation=cfg.model.activation,
        output_activation=output_activation(cfg, ds),
        optimizer=cfg.optim.name,
        grad=cfg.train.grad,
        steps=cfg.train.steps,
        log_every=cfg.train.log_every,
        batch_size=cfg.train.batch_size,
    )


def hyper_of(cfg: DictConfig, xp=jnp) -> Hyper:
    o = cfg.optim
    return make_hyper(o.lr, cfg.model.leaky_slope, o.momentum, o.b1, o.b2, o.eps, dtype=cfg.train.dtype, xp=xp)


def device_arrays(ds: Dataset, dtype: str) -> tuple[jnp.ndarray, ...]:
    return tuple(jnp.asarray(a, dtype) for a in (ds.X_train, ds.Y_train, ds.X_val, ds.Y_val))


def metric_names(task: str) -> tuple[str, str]:
    return ("train_rmse", "val_rmse") if task == "regression" else ("train_accuracy", "val_accuracy")


def run_name(cfg: DictConfig) -> str:
    """A readable name for the MLflow table: model, activation, sizes, lr."""
    parts = [cfg.model.name]
    if hidden_layers(cfg):
        parts += [cfg.model.activation, f"h{cfg.model.hidden}" + (f"x{cfg.model.depth}" if cfg.model.name == "deep" else "")]
    parts += [cfg.optim.name, f"lr{cfg.optim.lr:g}", f"seed{cfg.train.seed}"]
    return "-".join(parts)


def finished_earlier(cfg: DictConfig, config_hash: Optional[str] = None):
    """The newest FINISHED run of this exact config in its experiment, or None (resume's test)."""
    if not cfg.tracking.enabled:
        return None
    config_hash = config_hash or provenance.config_hash(cfg)
    return tracker_for(cfg.tracking.uri).finished_run_with(cfg.tracking.experiment, config_hash)


def finished_hashes(configs: list[DictConfig]) -> set[str]:
    """The config hashes among `configs` that have a FINISHED run already (resume skips them):
    one query per experiment, not one per job."""
    experiments = {(c.tracking.uri, c.tracking.experiment) for c in configs if c.tracking.enabled and c.resume}
    return set().union(*(tracker_for(uri).finished_config_hashes(name) for uri, name in experiments))


def initial_state(cfg: DictConfig, sizes: tuple[int, ...]):
    """(params0, batch_key): the initial parameters and the mini-batch key, both from train.seed."""
    init_key, batch_key = seed_keys(cfg.train.seed)
    params0 = init_params(init_key, sizes, cfg.model.init, cfg.model.init_scale, dtype=cfg.train.dtype)
    return params0, batch_key


def seed_keys(seed) -> jax.Array:
    """(init_key, batch_key) from train.seed (an int, or a traced uint32 under vmap)."""
    return jax.random.split(jax.random.PRNGKey(seed))


def hydra_job_info() -> dict[str, str]:
    """The Hydra job's output dir and overrides, when running under Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    hc = HydraConfig.get()
    return {
        "hydra.output_dir": hc.runtime.output_dir,
        "hydra.overrides": " ".join(hc.overrides.task),
        "hydra.job.num": str(hc.job.get("num", "")),
    }


# -- the job --------------------------------------------------------------------------------


def train(cfg: DictConfig, parent_run_id: Optional[str] = None) -> JobResult:
    """Validate `cfg`, train it, record it as one MLflow run; returns the job's result.

    Bad input raises ConfigError (or DataError, DeviceError) before any run is created.
    A run that cannot finish is recorded FAILED with its reason and returned, not raised,
    so a sweep goes on.
    """
    validate(cfg)
    # float64 training needs JAX's 64-bit mode, scoped to this job (float32 is JAX's default).
    with jax.enable_x64(cfg.train.dtype == "float64"):
        return _train(cfg, parent_run_id)


def _train(cfg: DictConfig, parent_run_id: Optional[str]) -> JobResult:
    device = select_device(cfg.device)
    ds = load_from_config(cfg.data)
    spec, sizes = train_spec(cfg, ds), layer_sizes(cfg, ds)

    tracker = tracker_for(cfg.tracking.uri) if cfg.tracking.enabled else None
    tags = run_tags(cfg, ds, device, sizes, spec)
    objective_name = metric_names(ds.task)[1]
    if parent_run_id and cfg.resume and not precomputed.is_offered(tags["config_hash"]):
        earlier = finished_earlier(cfg, tags["config_hash"])
        if earlier is not None:
            tracker.set_tags(parent_run_id, {f"{RESUMED_TAG_PREFIX}{tags.get('hydra.job.num', earlier.info.run_id)}":
                                             earlier.info.run_id})
            objective = earlier.data.metrics.get(objective_name, math.nan)
            return JobResult("SKIPPED", earlier.info.run_id, objective_name, objective, dict(earlier.data.metrics))
    run_id = None
    if tracker:
        run_id = tracker.start_run(cfg.tracking.experiment, run_name(cfg), tags, parent_run_id)
        tracker.log_params(run_id, provenance.flatten(provenance.resolved_config(cfg)))
    try:
        trained = precomputed.take(tags["config_hash"]) or train_alone(cfg, ds, spec, *initial_state(cfg, sizes))
        metrics = _train_and_record(cfg, ds, spec, trained, tracker, run_id)
    except RunFailure as failure:
        if tracker:
            tracker.set_tags(run_id, {"failure_reason": str(failure), **failure.tags})
            tracker.end_run(run_id, "FAILED")
        return JobResult("FAILED", run_id, objective_name, math.nan, reason=str(failure))
    except BaseException as error:  # Ctrl-C, a bug: the run must not stay RUNNING
        if tracker:
            killed = isinstance(error, KeyboardInterrupt)
            tracker.set_tags(run_id, {"failure_reason": f"{type(error).__name__}: {error}"})
            tracker.end_run(run_id, "KILLED" if killed else "FAILED")
        raise
    # The run itself was ended FINISHED by finish_run, once its artifacts were uploaded.
    return JobResult("FINISHED", run_id, objective_name, metrics[objective_name], metrics)


def run_tags(cfg, ds: Dataset, device, sizes, spec: TrainSpec) -> dict[str, str]:
    return {
        "config_hash": provenance.config_hash(cfg),
        **provenance.git_state(),
        **{f"version.{k}": v for k, v in provenance.package_versions().items()},
        "jax.backend": device.platform,
        "jax.device": str(device),
        "data.sha256": ds.sha256,
        "data.task": ds.task,
        "model.layer_sizes": "-".join(map(str, sizes)),
        "model.output_activation": spec.output_activation,
        "command": provenance.command_line(),
        **hydra_job_info(),
    }


@dataclass
class Trained:
    """A job's training, however it was done: alone (below) or in a batch (pipeline/batching.py)."""

    check_at_init: GradCheck  # the three-way gradient check before training
    result: TrainResult
    timings: dict[str, float]
    check_at_end: Callable[[], GradCheck]  # computed on demand: not needed if the run diverged
    tags: dict[str, str] = field(default_factory=dict)


def train_alone(cfg: DictConfig, ds: Dataset, spec: TrainSpec, params0, batch_key) -> Trained:
    """Check the gradients, then train this one job as its own compiled program."""
    data, hyper = device_arrays(ds, cfg.train.dtype), hyper_of(cfg)
    check_at_init = gradient_check(spec, params0, ds, hyper, cfg.gradcheck)
    report_or_fail(check_at_init, cfg.gradcheck)  # a wrong backward pass is not worth training

    started = time.perf_counter()
    program = compiled_train(spec, params0, data, hyper, batch_key)
    compiled_at = time.perf_counter()
    result: TrainResult = jax.block_until_ready(program(params0, data, hyper, batch_key))
    trained_at = time.perf_counter()
    timings = {"compile_seconds": compiled_at - started, "train_seconds": trained_at - compiled_at}
    return Trained(check_at_init, result, timings,
                   lambda: gradient_check(spec, result.params, ds, hyper, cfg.gradcheck))


def _train_and_record(cfg, ds, spec, trained: Trained, tracker, run_id) -> dict[str, float]:
    """Check and record a job's training: its metrics and tags go to MLflow in one log_batch."""
    check_at_init = report_or_fail(trained.check_at_init, cfg.gradcheck)
    result, timings = trained.result, trained.timings
    history = history_of(result, ds, spec)
    metrics = [(name, value, step) for name, values in history.items() if name != "step"
               for step, value in zip(history["step"].tolist(), values.tolist())]
    metrics += [(name, value, 0) for name, value in {"gradcheck_rel_error": check_at_init.rel_error,
                                                       "gradcheck_fd_rel_error": check_at_init.fd_rel_error,
                                                       **timings}.items()]
    tags = dict(trained.tags)
    diverged_at = int(result.diverged_at)
    try:
        if diverged_at >= 0:
            raise RunFailure(
                f"diverged: the loss or an update became non-finite at step {diverged_at} "
                f"(optim.lr={cfg.optim.lr:g}); the metrics up to that step are kept",
                {"diverged_at_step": str(diverged_at)},
            )
        check_at_end = report_or_fail(trained.check_at_end(), cfg.gradcheck)
    except RunFailure:
        if tracker:  # what the run computed is kept; the caller records why it failed
            tracker.log_batch(run_id, metrics=metrics, tags=tags)
        raise
    worst_fd = max(check_at_init.fd_rel_error, check_at_end.fd_rel_error)
    if not worst_fd <= cfg.gradcheck.fd_tolerance:
        # Reported, not fatal: centred differences straddle the kinks of ReLU-like units
        # whenever some Z is exactly 0 (zero biases, dead units), while jax.grad is exact.
        tags["gradcheck_fd_warning"] = (f"finite differences differ by {worst_fd:.1e} "
                                        f"> gradcheck.fd_tolerance={cfg.gradcheck.fd_tolerance:g}")
    metrics += [("gradcheck_rel_error", check_at_end.rel_error, cfg.train.steps),
                ("gradcheck_fd_rel_error", check_at_end.fd_rel_error, cfg.train.steps)]
    if tracker:
        tracker.log_batch(run_id, metrics=metrics, tags=tags)
        _log_artifacts(cfg, ds, spec, hyper_of(cfg), result, history, tracker, run_id)
    final = {name: float(values[-1]) for name, values in history.items() if name != "step"}
    return {**final, "gradcheck_rel_error": check_at_end.rel_error,
            "gradcheck_fd_rel_error": check_at_end.fd_rel_error, **timings}


def history_of(result: TrainResult, ds: Dataset, spec: TrainSpec) -> dict[str, np.ndarray]:
    """The logged history as numpy: loss, train/val metric, per-layer gradient norms, cut at divergence."""
    h = jax.tree_util.tree_map(np.asarray, result.history)
    train_name, val_name = metric_names(ds.task)
    scale = ds.target_scale if ds.task == "regression" else 1.0  # RMSE in the target's own units
    history = {"step": h.step, "loss": h.loss, train_name: h.train_metric * scale, val_name: h.val_metric * scale}
    for layer in range(h.grad_norm.shape[1]):
        history[f"grad_norm_W{layer + 1}"] = h.grad_norm[:, layer]
    diverged_at = int(result.diverged_at)
    if diverged_at >= 0:
        keep = h.step < diverged_at
        history = {k: v[keep] for k, v in history.items()}
    return history


def rerunnable_config(cfg: DictConfig) -> str:
    """The resolved config as a primary config file: this job alone, typed by the schema again."""
    return (
        "# The resolved config of one run. To run it again, alone:\n"
        "#   python -m pipeline --config-dir DIR_OF_THIS_FILE --config-name resolved_config\n"
        + OmegaConf.to_yaml({"defaults": ["schema", "_self_"], **provenance.resolved_config(cfg)})
    )


def _log_artifacts(cfg, ds, spec, hyper, result, history, tracker, run_id) -> None:
    """The resolved config, the overrides, the final parameters and the plots; then the run ends.

    The files are written here; the plots are drawn, all uploaded in one go, and the run
    ended FINISHED by pipeline/finishing.py (in a worker process during a sweep).
    """
    from hydra.core.hydra_config import HydraConfig

    files = tempfile.TemporaryDirectory(prefix="run-artifacts-")
    out = Path(files.name)
    (out / "resolved_config.yaml").write_text(rerunnable_config(cfg))
    if HydraConfig.initialized():
        (out / "overrides.yaml").write_text(OmegaConf.to_yaml(list(HydraConfig.get().overrides.task)))
    np.savez(out / "params.npz", **{k: np.asarray(v) for k, v in result.params.items()})
    calls = plot_calls(ds, spec, hyper, result, history, out) if cfg.tracking.plots else []
    finish_run(tracker, run_id, files, calls)


def plot_calls(ds, spec, hyper, result, history, out: Path) -> list:
    """The run's plots as (function, args, kwargs): picklable, so a worker process can draw them."""
    train_name, val_name = metric_names(ds.task)
    calls = [(plots.plot_loss_curve, (history["step"], history["loss"], out / "loss_curve.png"),
              {"title": f"{spec.hidden_activation} network, loss", "val_metric": (val_name, history[val_name])})]
    if ds.n_features == 2 and ds.task == "binary":
        params = {k: np.asarray(v) for k, v in result.params.items()}
        predict = partial(predict_numpy, params, spec.hidden_activation, spec.output_activation, float(hyper.slope))
        calls.append((plots.plot_decision_boundary,
                      (predict, np.concatenate([ds.X_train, ds.X_val], axis=1),
                       np.concatenate([ds.Y_train, ds.Y_val], axis=1), out / "decision_boundary.png"),
                      {"title": f"decision boundary, val acc {history[val_name][-1]:.3f}"}))
    return calls
