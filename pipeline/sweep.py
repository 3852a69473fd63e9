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
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict, read_write

from pipeline import finishing, interrupts, memory, provenance
from pipeline.admission import admit_run, admit_sweep
from pipeline.errors import InputRefused, one_line, record_failed_job
from pipeline.grid import counted, job_label, remember_swept, swept_keys
from pipeline.hydra_internals import job_error
from pipeline.tracking import PROVISIONAL_PREFIX, Tracker, end_open_runs, real_run_id, tracker_for

PARENT_ID_FILE = ".mlflow_parent_run_id"
# A run id this process made up while its writer process creates the run (pipeline/tracking.py).
PROVISIONAL_ID = re.compile(re.escape(PROVISIONAL_PREFIX) + r"[0-9a-f]+")
JOBS_DONE_FILE = ".jobs_done"  # one byte per ended job, appended by launchers' worker processes


def parent_run_id_for_job() -> Optional[str]:
    """The sweep's parent run id for the job running now; None outside a multirun."""
    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    if _open_sweeps:  # the sweep runs in this process: its parent, without resolving the sweep's folder per job
        return _open_sweeps[-1].parent_run_id
    path = Path(hc.sweep.dir) / PARENT_ID_FILE  # a worker's job (joblib, submitit)
    return path.read_text().strip() if path.exists() else None


class PipelineCallback(Callback):
    """Validation before anything runs; for a multirun, the MLflow parent run, progress and summary."""

    def __init__(self) -> None:
        self.tracker: Optional[Tracker] = None
        self.parent_run_id: Optional[str] = None
        self.config: Optional[DictConfig] = None
        self.total_jobs = 0
        self.done_jobs = 0
        self.started = 0.0
        self.started_wall = 0.0  # time.time(): a worker process's clock (perf_counter's is its own)
        self.sweep_pid = 0  # the process that started the sweep: it counts its own jobs
        self.jobs_done_path: Optional[Path] = None  # where worker processes count the jobs ended
        self._first_done_at: Optional[float] = None  # the ETA's clock starts when the first job ends
        # With tracking.enabled=false, no store holds the jobs' results: each job's overrides and
        # JobResult (or error), kept as they end in this process, for the table at the end.
        self.unrecorded: Optional[list[tuple[list[str], Any]]] = None

    # -- Hydra's hooks -----------------------------------------------------------------------

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        admit_run(config)  # pipeline/admission.py: bad input ends the command here (InputRefused)

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
        jobs = admit_sweep(config)  # pipeline/admission.py: every job checked, or InputRefused
        chunk_the_grid(config)
        compile_first_job_ahead(config, jobs)
        # A grid's size is known; a search sweeper (Optuna) says how many trials it will run.
        total = len(jobs) or int(config.hydra.sweeper.get("n_trials") or 0)
        self.config, self.total_jobs, self.started = config, total, time.perf_counter()
        self.started_wall, self.sweep_pid = time.time(), os.getpid()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        # Absolute, and the sweep's own folder: a worker's job may run in its own folder
        # (hydra.job.chdir) or under another experiment's; a sweep run again into it counts afresh.
        self.jobs_done_path = (sweep_dir / JOBS_DONE_FILE).resolve()
        self.jobs_done_path.unlink(missing_ok=True)
        if lessons_only(config, jobs):
            print(
                f"sweep: {counted(total, 'lesson')}, each recorded as its own run (no parent run: nothing trains)",
                flush=True,
            )
            return
        if not config.tracking.enabled:
            self.unrecorded = []
            print(f"sweep: {counted(total, 'job')} (tracking.enabled=false: nothing is recorded in MLflow)", flush=True)
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
        remember_swept(self.parent_run_id, grid)  # for the jobs' run names (pipeline/job.py)
        (sweep_dir / PARENT_ID_FILE).write_text(self.parent_run_id)
        _open_sweeps.append(self)
        _quiet_search_logs()
        if config.tracking.plots:
            finishing.draw_in_background()  # this process runs the sweep, and will wait for the plots
        print(
            f"sweep: {counted(total, 'job')} -> MLflow experiment '{config.tracking.experiment}', "
            f"parent run {self.parent_run_id}",
            flush=True,
        )

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._job_started = time.perf_counter()
        if HydraConfig.get().mode == RunMode.MULTIRUN and sys.stdout.isatty():
            # A live status line on a terminal, overwritten by the job's result line.
            overrides = self._swept_values(list(HydraConfig.get().overrides.task))
            print(
                f"\r\033[K[{self.done_jobs + 1}/{self.total_jobs or '?'}] running {overrides} ({self._clock()})",
                end="",
                flush=True,
            )

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """One line per job: which values, the outcome, time so far and to go."""
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            return
        memory.job_done()
        self.done_jobs = self._jobs_done_so_far()
        seconds = time.perf_counter() - getattr(self, "_job_started", self.started)
        if job_return.status == JobStatus.COMPLETED:
            outcome = store_ids(str(job_return.return_value))
        else:
            error = job_error(job_return)
            outcome = store_ids(f"error: {one_line(error) if error is not None else 'the job failed'}")
        if self.unrecorded is not None and not self._in_a_worker():
            self._keep_unrecorded(job_return)
        if self.done_jobs == 1:
            self._first_done_at = time.perf_counter()
        assert job_return.overrides is not None  # Hydra's run_job gives every job's return its overrides
        line = (
            f"[{self.done_jobs}/{self.total_jobs or '?'}] {self._swept_values(job_return.overrides)} -> "
            f"{outcome} ({seconds:.1f}s; {self._clock()})"
        )
        print(("\r\033[K" if sys.stdout.isatty() else "") + line, flush=True)

    def _in_a_worker(self) -> bool:
        """Whether this job runs in another process than the sweep's (joblib's, submitit's): there
        this callback is a copy of the sweep's, made when the jobs were sent out."""
        return bool(self.sweep_pid) and os.getpid() != self.sweep_pid

    def _jobs_done_so_far(self) -> int:
        """The jobs of the whole sweep ended so far, this one included. In a worker, a byte is
        appended to a file in the sweep directory: the file's end after an O_APPEND write is
        this job's place, whichever worker wrote before it."""
        if not self._in_a_worker() or self.jobs_done_path is None:
            return self.done_jobs + 1
        fd = os.open(self.jobs_done_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, b".")
            return os.lseek(fd, 0, os.SEEK_CUR)
        finally:
            os.close(fd)

    def _swept_values(self, overrides: Sequence[str]) -> str:
        swept = set(swept_keys(self.config)) if self.config is not None else set()
        return job_label(list(overrides), swept)

    def _clock(self) -> str:
        if self._in_a_worker():  # no ETA: this process has seen only its own jobs end
            return clock(time.time() - self.started_wall, self.done_jobs, 0, 0.0)
        now = time.perf_counter()
        return clock(
            now - self.started,
            self.done_jobs,
            self.total_jobs,
            now - self._first_done_at if self._first_done_at is not None else 0.0,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        # Every job's run ended, with all its files, before the summary reads them; the drawing
        # processes stay for the summary's plots.
        finishing.drain(keep_workers=True)
        if self.parent_run_id is None:
            finishing.stop_workers()
            self._print_unrecorded(config)
            return
        from pipeline.summary import summarize_sweep  # here: it imports JAX, which device= must precede

        assert self.tracker is not None  # a parent run is opened only through the tracker
        try:
            status = summarize_sweep(self.tracker, self.parent_run_id, config)
        finally:
            finishing.stop_workers()
        if status == "FAILED":  # the command says so in its exit status, whichever launcher ran the jobs
            record_failed_job(f"sweep parent {self.parent_run_id}")
        self._close(status)

    def _keep_unrecorded(self, job_return: JobReturn) -> None:
        """Keep a training job's JobResult (pipeline/job.py), or the error it raised, for the table."""
        if job_return.status != JobStatus.COMPLETED:
            result: Any = job_error(job_return) or RuntimeError("the job failed")
        else:
            result = job_return.return_value
            if not hasattr(result, "objective_name"):  # a lesson's run id: nothing to tabulate
                return
        assert self.unrecorded is not None  # kept only with tracking.enabled=false
        self.unrecorded.append((list(job_return.overrides or []), result))

    def _print_unrecorded(self, config: DictConfig) -> None:
        """The table of a sweep with tracking.enabled=false, from what its jobs returned here; a
        job run in a launcher's worker process (joblib, submitit) returned it there."""
        if self.unrecorded is None:  # tracking on (a parent run sums up) or a sweep of lessons
            return
        if not self.unrecorded:
            print("no table: tracking.enabled=false, and the jobs' results stayed in the launcher's processes")
            return
        from pipeline.summary import summarize_results  # here: it imports JAX, which device= must precede

        summarize_results(self.unrecorded, config)  # a failed job made the exit status 1 already

    # -- ending the parent -------------------------------------------------------------------

    def _close(self, status: str) -> None:
        if self in _open_sweeps:
            _open_sweeps.remove(self)
            # A sweep is in _open_sweeps only once its tracker has opened its parent run.
            assert self.tracker is not None and self.parent_run_id is not None
            self.tracker.end_run(self.parent_run_id, status)


def store_ids(text: str) -> str:
    """`text` with every provisional run id in it replaced by the store's id of that run: a job
    written behind (a lesson returns its run's id) is reported by the id the MLflow UI shows.
    Waits for the writer process to have created those runs; other text is left as it is."""
    return PROVISIONAL_ID.sub(lambda found: real_run_id(found.group()), text)


def lessons_only(config: DictConfig, jobs: list[list[str]]) -> bool:
    """Whether every job of the sweep runs a section of the notes (+lesson=NAME) instead of
    training. Each lesson is its own run in its lesson's experiment, so such a sweep has no parent
    run and no table of training results to sum up (pipeline/lessons.py)."""
    if config.get("lesson") is not None:  # +lesson=NAME given once, for every job
        return True
    # A plain look first, so that a grid of training jobs stops at its first job, unparsed.
    if not jobs or not all(any("lesson" in override for override in job) for job in jobs):
        return False
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    return all(
        any(o.key_or_group == "lesson" and not o.is_delete() for o in parser.parse_overrides(job)) for job in jobs
    )


def compile_first_job_ahead(config: DictConfig, jobs: list[list[str]]) -> None:
    """The batched launcher's first program, compiled from now on in the background: XLA works
    while this process imports MLflow and creates the parent run (pipeline/batching.py)."""
    if not jobs or "batched_launcher" not in str(config.hydra.launcher.get("_target_", "")):
        return
    from hydra.core.global_hydra import GlobalHydra

    from pipeline import batching  # JAX: admission has applied device= already
    from pipeline.composing import composer_for

    try:
        first = composer_for(GlobalHydra.instance().config_loader(), config).compose(jobs[0])
    except Exception as error:  # noqa: BLE001 (a speed-up only: the launcher composes and reports this job itself)
        interrupts.raise_if_behind(error)
        return
    batching.compile_ahead(first)


def chunk_the_grid(config: DictConfig) -> None:
    """A grid launched by the batched launcher is handed over in chunks of hydra.launcher.chunk_size
    jobs: Hydra's basic sweeper calls the launcher once per chunk of hydra.sweeper.max_batch_size,
    which is set here (Hydra creates the sweeper after this callback's on_multirun_start) unless
    the command set it. Each chunk is composed, trained and recorded before the next is composed:
    a grid of 10,000 jobs starts training within seconds and holds one chunk's configs at a time.
    The progress lines, resume and the summary span the chunks (one parent run for the sweep)."""
    launcher, sweeper = config.hydra.launcher, config.hydra.sweeper
    if "BasicSweeper" not in str(sweeper.get("_target_", "")) or sweeper.get("max_batch_size") is not None:
        return
    if "batched_launcher" not in str(launcher.get("_target_", "")):
        return
    chunk = launcher.get("chunk_size")  # checked by pipeline/admission.py check_launcher
    if chunk is None:
        return
    with read_write(config.hydra), open_dict(config.hydra.sweeper):
        config.hydra.sweeper.max_batch_size = int(chunk)


def clock(elapsed: float, done: int, total: int, since_first: float) -> str:
    """ "elapsed 12s, eta 40s". The ETA counts the jobs after the first, from the second on: the
    first waits for what is done once (JAX's start, compiling its batch's program, training the
    batch's first jobs), which says nothing about the jobs after it. In a batched sweep of 120 short
    jobs the first took 4 s, and an ETA from it said 498 s for a sweep that took 18 s."""
    text = f"elapsed {elapsed:.0f}s"
    if not total or done < 2 or done >= total:
        return text
    return f"{text}, eta {since_first / (done - 1) * (total - done):.0f}s"


def _quiet_search_logs() -> None:
    """Optuna logs every trial (raw floats, ANSI colours even into a file); the sweep's own
    line per job says the same, so only its warnings are kept."""
    optuna = sys.modules.get("optuna")
    if optuna is not None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


_open_sweeps: list[PipelineCallback] = []


def close_open_sweeps(status: str, reason: str = "") -> None:
    """End every run still open (a job raised, Ctrl-C, SIGTERM): never leave one RUNNING.

    Runs whose plots are being drawn get a moment to finish; then the parents end with
    `status`, and any other run of this process that is still open ends with it too.
    """
    finishing.drain(status_if_late=status, timeout=30)
    for sweep in list(_open_sweeps):
        if reason:
            assert sweep.tracker is not None and sweep.parent_run_id is not None  # as in _close
            sweep.tracker.set_tags(sweep.parent_run_id, {"failure_reason": reason})
        sweep._close(status)
    end_open_runs(status, reason or "the command ended before this run did")


atexit.register(close_open_sweeps, "FAILED", "the command exited before the sweep ended")
