"""Sweeps in MLflow: one parent run per Hydra multirun, every job a child run of it.

`PipelineCallback` is a Hydra callback (conf/config.yaml lists it under hydra.callbacks):

  on_run_start       validates the config of a single run before it starts;
  on_multirun_start  validates every job's config up front (a sweep with a bad member is
                     refused whole), creates the parent run and writes its id into the sweep
                     directory, where every job finds it, whichever process or host runs it;
  on_job_start/end   print progress;
  on_multirun_end    writes the summary on the parent and ends it FINISHED or FAILED.

Hydra skips on_multirun_end when a job raises, so `close_open_sweeps` ends the parent from
the command's own exit path (pipeline/__main__.py) and, last of all, from atexit.
"""

from __future__ import annotations

import atexit
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from pipeline import finishing, provenance
from pipeline.composing import composer_for
from pipeline.config import validate
from pipeline.data import DataError, load_dataset
from pipeline.device import select_device
from pipeline.errors import InputRefused, one_line
from pipeline.tracking import Tracker, check_store, end_open_runs, tracker_for

PARENT_ID_FILE = ".mlflow_parent_run_id"


def parent_run_id_for_job() -> Optional[str]:
    """The sweep's parent run id for the job running now; None outside a multirun."""
    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    path = Path(hc.sweep.dir) / PARENT_ID_FILE
    return path.read_text().strip() if path.exists() else None


def expand_grid(config: DictConfig) -> list[list[str]]:
    """Every job's overrides, as Hydra's basic sweeper will launch them (its own expansion).

    Returns [] for other sweepers (Optuna's search spaces are not a grid).
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if "BasicSweeper" not in str(config.hydra.sweeper.get("_target_", "")):
        return []
    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += list(config.hydra.overrides.task)
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    (jobs,) = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)
    return jobs


def validate_sweep(config: DictConfig, jobs: list[list[str]]) -> None:
    """Compose and validate every job's config; the first bad one refuses the whole sweep."""
    from hydra.core.global_hydra import GlobalHydra

    composer = composer_for(GlobalHydra.instance().config_loader(), config)
    for overrides in jobs:
        job_config = composer.compose(overrides, to_read=True)
        try:
            validate(job_config)
            check_data(job_config)
        except ValueError as error:
            raise type(error)(f"{error} (in the sweep's job {' '.join(overrides)})") from None


def swept_keys(config: DictConfig) -> dict[str, str]:
    """{key: "v1,v2,..."} for every key the sweep varies (its grid, as declared)."""
    params = dict(config.hydra.sweeper.get("params") or {})
    for override in config.hydra.overrides.task:
        key, _, value = override.partition("=")
        if "," in value or value.startswith(("range(", "choice(", "interval(", "tag(")):
            params[key.lstrip("+~")] = value
    return {str(k): str(v) for k, v in params.items()}


def check_data(config: DictConfig) -> None:
    """A user's table is read and split before anything runs: a missing file, a bad cell,
    too few rows or a task the model cannot learn is bad input, not a failed run.

    (The built-in sets are generated or shipped; they cannot fail this way.)
    """
    if config.data.name != "csv":
        return
    d = config.data
    ds = _load_table(d.path, d.target, d.task, d.seed, d.val_fraction)
    if config.model.name == "perceptron" and ds.task == "regression":
        raise DataError(f"data.target={d.target!r} of {d.path} is a regression target; "
                        "model=perceptron needs 0/1 labels")


@lru_cache(maxsize=16)
def _load_table(path, target, task, seed, val_fraction):
    return load_dataset("csv", path=path, target=target, task=task, seed=seed, val_fraction=val_fraction)


def check_writable_places(config: DictConfig, output_dir) -> None:
    """The tracking store answers and can be written; Hydra's output folder can be created."""
    if config.tracking.enabled:
        check_store(config.tracking.uri)
    try:  # Hydra would create it a moment later; creating it now turns a traceback into a line
        Path(str(output_dir)).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"the output folder {output_dir} cannot be created ({error.strerror}); "
                         "run from a writable folder or set hydra.run.dir / hydra.sweep.dir") from None


def refuse_bad_input(check, *args) -> Any:
    """Run a check; a ValueError/RuntimeError it raises becomes InputRefused (stops the command)."""
    try:
        return check(*args)
    except (ValueError, RuntimeError, OmegaConfBaseException) as error:
        raise InputRefused(one_line(error)) from None


class PipelineCallback(Callback):
    """Validation before anything runs; for a multirun, the MLflow parent run, progress and summary."""

    def __init__(self) -> None:
        self.tracker: Optional[Tracker] = None
        self.parent_run_id: Optional[str] = None
        self.config: Optional[DictConfig] = None
        self.total_jobs = 0
        self.done_jobs = 0
        self.started = 0.0

    # -- Hydra's hooks -----------------------------------------------------------------------

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        refuse_bad_input(validate, config)
        refuse_bad_input(check_data, config)
        refuse_bad_input(check_writable_places, config, config.hydra.run.dir)
        refuse_bad_input(select_device, config.device)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns a callback's exception into a warning and goes on; a sweep that could
        # not open its parent run must stop instead of writing orphan runs.
        try:
            self._start_sweep(config)
        except InputRefused:
            raise
        except Exception as error:
            raise InputRefused(f"the sweep could not start: {one_line(error)}") from None

    def _start_sweep(self, config: DictConfig) -> None:
        # Resolve ${now:...} in the sweep dir before composing the jobs: each composed job
        # copies the resolver cache of this config, so all of them share this one directory.
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = refuse_bad_input(expand_grid, config)
        refuse_bad_input(validate_sweep, config, jobs)
        refuse_bad_input(check_writable_places, config, sweep_dir)
        refuse_bad_input(select_device, config.device)
        # A grid's size is known; a search sweeper (Optuna) says how many trials it will run.
        total = len(jobs) or int(config.hydra.sweeper.get("n_trials") or 0)
        self.config, self.total_jobs, self.started = config, total, time.perf_counter()
        if not config.tracking.enabled:
            return
        self.tracker = tracker_for(config.tracking.uri)
        grid = swept_keys(config)
        self.parent_run_id = self.tracker.start_run(
            config.tracking.experiment,
            run_name=f"{config.tracking.experiment}-sweep-{sweep_dir.name}",
            tags={
                "sweep": "parent",
                "sweep.dir": str(sweep_dir.resolve()),
                "sweep.n_jobs": str(total or "unknown"),
                "command": provenance.command_line(),
                **provenance.git_state(),
            },
        )
        self.tracker.log_params(self.parent_run_id, {f"sweep.{k}": v for k, v in grid.items()})
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_ID_FILE).write_text(self.parent_run_id)
        _open_sweeps.append(self)
        if config.tracking.plots:
            finishing.draw_in_background()  # this process runs the sweep, and will wait for the plots
        print(f"sweep: {total or '?'} jobs -> MLflow experiment '{config.tracking.experiment}', "
              f"parent run {self.parent_run_id}", flush=True)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._job_started = time.perf_counter()
        if HydraConfig.get().mode == RunMode.MULTIRUN and sys.stdout.isatty():
            # A live status line on a terminal, overwritten by the job's result line.
            overrides = self._swept_values(list(HydraConfig.get().overrides.task))
            print(f"\r\033[K[{self.done_jobs + 1}/{self.total_jobs or '?'}] running {overrides} "
                  f"({self._clock()})", end="", flush=True)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """One line per job: which values, the outcome, time so far and to go."""
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            return
        self.done_jobs += 1
        if job_return.status == JobStatus.COMPLETED:
            outcome = str(job_return.return_value)
        else:
            outcome = f"error: {job_return._return_value}"
        line = (f"[{self.done_jobs}/{self.total_jobs or '?'}] {self._swept_values(job_return.overrides)} -> "
                f"{outcome} ({time.perf_counter() - self._job_started:.1f}s; {self._clock()})")
        print(("\r\033[K" if sys.stdout.isatty() else "") + line, flush=True)

    def _swept_values(self, overrides: list[str]) -> str:
        swept = set(swept_keys(self.config)) if self.config is not None else set()
        return " ".join(o for o in overrides if o.split("=")[0].lstrip("+~") in swept) or "job"

    def _clock(self) -> str:
        elapsed = time.perf_counter() - self.started
        if not self.total_jobs or not self.done_jobs:
            return f"elapsed {elapsed:.0f}s"
        eta = elapsed / self.done_jobs * (self.total_jobs - self.done_jobs)
        return f"elapsed {elapsed:.0f}s, eta {eta:.0f}s"

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        finishing.drain()  # every job's run ended, with all its files, before the summary reads them
        if self.parent_run_id is None:
            return
        from pipeline.summary import summarize_sweep

        status = summarize_sweep(self.tracker, self.parent_run_id, config)
        self._close(status)

    # -- ending the parent -------------------------------------------------------------------

    def _close(self, status: str) -> None:
        if self in _open_sweeps:
            _open_sweeps.remove(self)
            self.tracker.end_run(self.parent_run_id, status)


_open_sweeps: list[PipelineCallback] = []


def close_open_sweeps(status: str, reason: str = "") -> None:
    """End every run still open (a job raised, Ctrl-C, SIGTERM): never leave one RUNNING.

    Runs whose plots are being drawn get a moment to finish; then the parents end with
    `status`, and any other run of this process that is still open ends with it too.
    """
    finishing.drain(status_if_late=status, timeout=30)
    for sweep in list(_open_sweeps):
        if reason:
            sweep.tracker.set_tags(sweep.parent_run_id, {"failure_reason": reason})
        sweep._close(status)
    end_open_runs(status, reason or "the command ended before this run did")


atexit.register(close_open_sweeps, "FAILED", "the command exited before the sweep ended")
