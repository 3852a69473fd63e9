"""One job, start to end: its run created, its training taken or done, recorded, ended.

`run(cfg)` is what `@hydra.main` calls for each job (pipeline/__main__.py). It is a plain
function of the composed config, so tests and other launchers can call it directly.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import jax
from omegaconf import DictConfig, ListConfig, OmegaConf

from pipeline import handoff, interrupts, provenance, segments
from pipeline.admission import check_job
from pipeline.batching import Live, train_alone
from pipeline.config import hidden_layers, schema_keys
from pipeline.data import Dataset, load_from_config
from pipeline.device import matmul_precision, select_device, xla_flags
from pipeline.errors import RunFailure
from pipeline.grid import remember_swept, remembered_swept, short_name, short_value
from pipeline.inputs import layer_sizes, train_spec
from pipeline.recording import OBJECTIVE_POINTS, LiveMetrics, ParamsWithFirstWrite, objective_name, record_training
from pipeline.tracking import CONTINUED_TAG_PREFIX, RESUMED_TAG_PREFIX, Tracker, tracker_for

# The keys the short run name always shows (model, activation, hidden size, depth, optimizer,
# learning rate, seed); any other key a sweep varies is added to it.
NAMED_KEYS = ("model.name", "model.activation", "model.hidden", "model.depth", "optim.name", "optim.lr", "train.seed")


@dataclass
class JobResult:
    """What a job returns to Hydra (and so to sweepers and the sweep summary)."""

    status: str  # FINISHED | FAILED | SKIPPED (an earlier FINISHED run of the same config reused)
    run_id: Optional[str]
    objective_name: str  # val_accuracy (binary), val_rmse (regression); train_* without validation examples
    objective: float  # its mean over the last OBJECTIVE_POINTS logged points; nan if failed
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    # For a sweep's table where nothing is recorded (tracking.enabled=false: pipeline/summary.py
    # summarize_results): the run's name, and the examples each accuracy counts.
    run_name: str = ""
    n_train: int = 0
    n_val: int = 0

    def __float__(self) -> float:  # what a search sweeper (Optuna) optimises
        return self.objective

    def __str__(self) -> str:
        if self.status == "FAILED":
            return f"FAILED: {self.reason}"
        final = self.metrics.get(self.objective_name, self.objective)
        return f"{self.status} {self.objective_name}={final:.4f} (last {OBJECTIVE_POINTS} mean {self.objective:.4f})"


def run_name(cfg: DictConfig, swept: Sequence[str] = ()) -> str:
    """A name that tells a sweep's jobs apart at a glance, shortest first: `relu-h50-lr1.2-s0`;
    the model kind when it is not the shallow network, the optimizer when it is not plain gd,
    and whatever else the sweep varies (`swept`, its keys): the chosen option of a config group
    (`moons-logistic-lr1.2-s0` for a sweep over data= and model=), any other value short
    (`tanh-h4-lr1.2-s0-steps200` for one over train.steps)."""
    choices, varied = group_choices(), set(swept)

    def option(group: str) -> str:
        # A swept group by the option chosen (data=moons); else, or swept by value, its name key.
        return str(choices.get(group) or cfg[group].name) if group in varied else str(cfg[group].name)

    parts = [option("data")] if varied & {"data", "data.name"} else []
    if cfg.model.name not in ("shallow", "deep") or varied & {"model", "model.name"}:
        parts.append(option("model"))
    if hidden_layers(cfg):
        depth = f"x{cfg.model.depth}" if cfg.model.name == "deep" else ""
        parts += [cfg.model.activation, f"h{cfg.model.hidden}{depth}"]
    if cfg.optim.name != "gd" or varied & {"optim", "optim.name"}:
        parts.append(option("optim"))
    parts += [f"lr{cfg.optim.lr:.3g}", f"s{cfg.train.seed}"]
    shown = {*NAMED_KEYS, "data", "data.name", "model", "optim"}
    parts += [part for key in sorted(varied - shown) if (part := _name_part(cfg, key, choices))]
    return "-".join(parts)


def _name_part(cfg: DictConfig, key: str, choices: dict[str, str]) -> str:
    """A swept key's part of a run name: a group's option (`adam`), a number after its key's last
    part (`steps200`), any other value, or a number after a key ending in a digit, as `key=value`
    (`dtype=float64`, `b1=0.9`); a key whose last part another key shares by its whole name
    (`data.seed=3`: the name's `s0` is train.seed); "" for a key the config lacks."""
    if key in choices:
        return choices[key]
    value = OmegaConf.select(cfg, key, default=None)
    if value is None or isinstance(value, (DictConfig, ListConfig)):
        return ""
    if short_name(key) in _SHARED_LAST_PARTS:
        return f"{key}={short_value(value)}"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f"{short_name(key)}{'' if number and not key[-1].isdigit() else '='}{short_value(value)}"


def _last_parts_shared() -> frozenset[str]:
    """The last parts of the schema's keys that two or more keys share (seed: data.seed, train.seed)."""
    counts = collections.Counter(short_name(key) for key in schema_keys())
    return frozenset(name for name, n in counts.items() if n > 1)


_SHARED_LAST_PARTS = _last_parts_shared()


def group_choices() -> dict[str, str]:
    """{group: option} of the job's config groups as Hydra chose them (hydra.runtime.choices:
    data=moons, model=logistic, +experiment=...), Hydra's own groups left out; {} outside Hydra.
    Logged as the run's params `data`, `model`, ..., so a sweep over a group has a value per run."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {str(group): str(option) for group, option in choices.items() if "/" not in str(group) and option}


def swept_by(tracker, parent_run_id: Optional[str]) -> tuple[str, ...]:
    """The keys the sweep of `parent_run_id` varies: as the sweep noted them in its own process
    (pipeline/sweep.py), else as its parent run records them (params `sweep.<key>`), read once in
    a worker process (joblib's, submitit's). The sweep's own process reads nothing from the store
    here: while it writes behind, a read would first wait for the writer."""
    if tracker is None or not parent_run_id:
        return ()
    keys = remembered_swept(parent_run_id)
    if keys is None:
        try:
            params = tracker.get_run(parent_run_id).params
        except Exception as error:  # noqa: BLE001 (a parent in another store, or a store that failed: names without them)
            interrupts.raise_if_behind(error)
            params = {}
        keys = tuple(key.removeprefix("sweep.") for key in params if key.startswith("sweep."))
        remember_swept(parent_run_id, keys)
    return keys


def same_build() -> dict[str, str]:
    """The tags a reused run must share with this process: the same config trained by another
    JAX or jaxlib, on another kind of device (`device=auto` on a GPU machine and on a laptop) or
    with another precision of matrix products need not give the same bits, so resume does not
    reuse it. Called once the device is chosen (pipeline/device.py)."""
    versions = provenance.package_versions()
    return {
        **{f"version.{name}": versions[name] for name in ("jax", "jaxlib")},
        "jax.backend": jax.default_backend(),
        "jax.matmul_precision": matmul_precision(),
    }


def finished_hashes(configs: list[DictConfig]) -> set[str]:
    """The config hashes among `configs` that have a FINISHED run already, made with this JAX and
    jaxlib on this kind of device (`same_build`), which resume reuses: one query per experiment,
    not one per job. The one place resume is decided."""
    experiments = {(c.tracking.uri, c.tracking.experiment) for c in configs if c.tracking.enabled and c.resume}
    return set().union(*(tracker_for(uri).finished_config_hashes(name, same_build()) for uri, name in experiments))


def hydra_job_info() -> dict[str, str]:
    """The Hydra job's output dir and overrides, when running under Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    hc = HydraConfig.get()
    return {
        "hydra.output_dir": hc.runtime.output_dir,
        "hydra.overrides": " ".join(hc.overrides.task),
        # hydra types HydraConfig.get() as its HydraConf dataclass; it is a DictConfig, with .get.
        "hydra.job.num": str(hc.job.get("num", "")),  # type: ignore[attr-defined]
    }


def run_tags(
    cfg: DictConfig, ds: Dataset, device, resolved: Optional[dict] = None, config_hash: Optional[str] = None
) -> dict[str, str]:
    """The run's tags; `resolved` is `provenance.resolved_config(cfg)` and `config_hash` its hash,
    when the caller has them."""
    spec, sizes = train_spec(cfg, ds), layer_sizes(cfg, ds)
    return {
        "config_hash": config_hash or provenance.config_hash(cfg, resolved),
        **provenance.git_state(),
        **{f"version.{k}": v for k, v in provenance.package_versions().items()},
        "jax.backend": device.platform,
        "jax.device": str(device),
        "jax.matmul_precision": matmul_precision(),
        "jax.xla_flags": xla_flags(),
        "data.sha256": ds.sha256,
        "data.task": ds.task,
        "data.n_train": str(ds.m_train),
        "data.n_val": str(ds.m_val),
        "model.layer_sizes": "-".join(map(str, sizes)),
        "model.output_activation": spec.output_activation,
        "objective": objective_name(ds.task, bool(ds.m_val)),
        "command": provenance.command_line(),
        **hydra_job_info(),
    }


def continued_run(tracker, checkpoint, experiment: str) -> tuple[Optional[str], int]:
    """(run id, last logged step) of an unfinished run of `experiment` that left this checkpoint
    (killed, or its process lost), reopened to continue into; (None, -1) if there is none. The
    checkpoint is the config's (its hash leaves tracking.* out): a run of the same config in
    another experiment is not continued, and this job starts afresh."""
    if tracker is None or not checkpoint.exists():
        return None, -1
    run_id = segments.checkpoint_run_id(checkpoint)
    try:
        earlier = tracker.get_run(run_id)
    except Exception as error:  # noqa: BLE001 (a run of another store, or deleted: start afresh)
        interrupts.raise_if_behind(error)
        earlier = None
    if earlier is not None and earlier.experiment_id != tracker.experiment_id(experiment):
        return None, -1  # that run keeps its checkpoint until this job's first segment replaces it
    if earlier is None or earlier.status == "FINISHED":
        checkpoint.unlink(missing_ok=True)
        return None, -1
    tracker.reopen_run(run_id)
    steps = [point.step for point in tracker.metric_history(run_id, "loss")]
    return run_id, max(steps, default=-1)


def run(cfg: DictConfig, parent_run_id: Optional[str] = None) -> JobResult:
    """Train `cfg` and record it as one MLflow run; returns the job's result.

    Bad input raises ConfigError (or DataError, DeviceError) before any run is created.
    A run that cannot finish is recorded FAILED with its reason and returned, not raised,
    so a sweep goes on.
    """
    # Resolved once: the hash, the params and resolved_config.yaml. A job the batched launcher
    # handed over was checked with its whole sweep before anything trained (pipeline/admission.py);
    # a job called any other way is checked here, first.
    resolved = provenance.resolved_config(cfg) if handoff.expecting() else None
    config_hash = provenance.config_hash(cfg, resolved) if resolved is not None else None
    handed = handoff.take(config_hash) if config_hash is not None else None
    ds = load_from_config(cfg.data) if handed is not None else check_job(cfg)
    resolved = resolved if resolved is not None else provenance.resolved_config(cfg)
    # float64 training needs JAX's 64-bit mode, scoped to this job (float32 is JAX's default).
    with jax.enable_x64(cfg.train.dtype == "float64"):
        return _run(cfg, ds, parent_run_id, resolved, config_hash or provenance.config_hash(cfg, resolved), handed)


def _run(
    cfg: DictConfig,
    ds: Dataset,
    parent_run_id: Optional[str],
    resolved: dict,
    config_hash: str,
    handed: Optional[handoff.HandedOver],
) -> JobResult:
    device = select_device(cfg.device)
    spec = train_spec(cfg, ds)
    tracker: Optional[Tracker | ParamsWithFirstWrite] = tracker_for(cfg.tracking.uri) if cfg.tracking.enabled else None
    tags = run_tags(cfg, ds, device, resolved, config_hash)
    name, label = tags["objective"], run_name(cfg, swept_by(tracker, parent_run_id))
    named: dict[str, Any] = dict(run_name=label, n_train=ds.m_train, n_val=ds.m_val)  # every JobResult's
    if handed is not None:
        resume = handed.resume
    else:  # run alone or by another launcher: decide here, as the batched launcher does
        resume = bool(parent_run_id) and tags["config_hash"] in finished_hashes([cfg])
    if resume and tracker is not None:
        earlier = tracker.finished_run_with(cfg.tracking.experiment, tags["config_hash"], same_build())
        if earlier is not None:
            if parent_run_id:
                tracker.set_tags(
                    parent_run_id, {f"{RESUMED_TAG_PREFIX}{tags.get('hydra.job.num', earlier.run_id)}": earlier.run_id}
                )
            objective = earlier.metrics.get(f"{name}_last{OBJECTIVE_POINTS}_mean", earlier.metrics.get(name, math.nan))
            return JobResult("SKIPPED", earlier.run_id, name, objective, dict(earlier.metrics), **named)
    checkpoint = segments.checkpoint_path(tags["config_hash"])
    run_id, logged_through = continued_run(tracker, checkpoint, cfg.tracking.experiment)
    if tracker and run_id is not None and parent_run_id:
        # The run keeps the parent that started it; this sweep's parent links to it.
        job_key = f"{CONTINUED_TAG_PREFIX}{tags.get('hydra.job.num') or run_id}"
        tracker.set_tags(parent_run_id, {job_key: run_id})
    if tracker:
        # The config, and the option of each config group (what a sweep over data= varies).
        params = {**group_choices(), **provenance.flatten(resolved)}
        if run_id is None:
            run_id = tracker.start_run(cfg.tracking.experiment, label, tags, parent_run_id)
        elif tracker.get_run(run_id).params:
            params = {}  # a continued run keeps the params it has (keys outside the config hash may differ now)
        # Its params go with its first write (a continued run's only if it was killed before any).
        tracker = ParamsWithFirstWrite(tracker, run_id, params)
    live_metrics = LiveMetrics(ds, cfg.train.log_every, tracker, run_id, logged_through)
    live = Live(
        label=label,
        checkpoint=checkpoint if tracker else None,
        run_id=run_id or "",
        on_segment=live_metrics,
        store_run_id=tracker.real_run_id if tracker else None,
    )
    try:
        trained = handed.trained(live) if handed is not None and handed.trained else train_alone(cfg, live)
        metrics = record_training(cfg, ds, spec, trained, tracker, run_id, live_metrics.logged_through, resolved)
        checkpoint.unlink(missing_ok=True)
    except RunFailure as failure:
        checkpoint.unlink(missing_ok=True)
        if tracker:
            assert run_id is not None  # with a tracker, the job always has a run (continued or started)
            tracker.set_tags(run_id, {"failure_reason": str(failure), **failure.tags})
            tracker.end_run(run_id, "FAILED")
        return JobResult("FAILED", run_id, name, math.nan, reason=str(failure), **named)
    except BaseException as error:  # Ctrl-C, a bug: the run must not stay RUNNING
        if tracker:
            assert run_id is not None  # with a tracker, the job always has a run (continued or started)
            interrupt = interrupts.behind(error)  # Ctrl-C, also where a library turned it into its own error
            reason = error if interrupt is None else interrupt
            tracker.set_tags(run_id, {"failure_reason": f"{type(reason).__name__}: {reason}"})
            tracker.end_run(run_id, "FAILED" if interrupt is None else "KILLED")
        raise
    # The run itself was ended FINISHED by finish_run, once its artifacts were uploaded.
    return JobResult("FINISHED", run_id, name, metrics[f"{name}_last{OBJECTIVE_POINTS}_mean"], metrics, **named)
