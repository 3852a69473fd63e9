"""`hydra/launcher=batched`: Hydra's home for the batching launcher, a thin shim over pipeline/.

Hydra finds launchers in the `hydra_plugins` namespace package; the work is done by
`pipeline.composing` (each job's config, composed once per shape of job),
`pipeline.batching` (which jobs share a compiled program), `pipeline.handoff` (each job's
share, and whether it resumes) and Hydra's own `run_job` (everything a job
gets from Hydra: its output directory, `.hydra/` files, callbacks, return value).

A grid comes in chunks of `chunk_size` jobs (Hydra's basic sweeper calls `launch` once per
chunk: pipeline/sweep.py sets its max_batch_size), each composed, trained and recorded before
the next: a grid of 10,000 jobs starts training within seconds, and holds one chunk's configs
and trainings at a time. Its jobs were all checked up front (pipeline/admission.py); a search
sweeper's batches are checked here.

(No `from __future__ import annotations` here: Hydra's plugin scan executes this module
outside sys.modules, where dataclasses cannot resolve string annotations.)
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)


@dataclass
class BatchedLauncherConf:
    _target_: str = "hydra_plugins.batched_launcher.batched_launcher.BatchedLauncher"
    # Jobs per launch of a grid: Hydra's basic sweeper hands its jobs over in chunks of this many
    # (pipeline/sweep.py sets hydra.sweeper.max_batch_size to it, unless that is set), so a large
    # grid trains and records a chunk while the rest wait uncomposed. null: the whole grid at once.
    chunk_size: Optional[int] = 100
    # The runs created, and their metrics, params, tags, files and endings written, by a second
    # process while this one goes on with the next jobs (pipeline/write_behind.py). A grid of
    # short runs waits on this process's one Python thread (Hydra's run_job, the recording,
    # MLflow's requests) while the other core idles: writing behind, a 400-job grid took 12%
    # less time on 2 cores (before runs were created behind too). Where
    # the runs' plots are drawn, the drawing processes have that core already, and a 48-job
    # sweep took 7% more. null (auto): behind for a launch of several jobs that draw no plots
    # (tracking.plots=false); true: always; false: never. Each launch (a chunk of a grid) ends
    # with its writes made, so what a later chunk or the summary reads is there.
    background_writes: Optional[bool] = None


ConfigStore.instance().store(group="hydra/launcher", name="batched", node=BatchedLauncherConf, provider="pipeline")


class BatchedLauncher(Launcher):
    def __init__(self, chunk_size: Optional[int] = None, background_writes: Optional[bool] = None) -> None:
        self.chunk_size = chunk_size
        self.background_writes = background_writes
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None
        # Resume's FINISHED runs, per (store, experiment), read at the sweep's first launch: the
        # runs a sweep makes itself are never reused by it, whichever chunk its jobs are in.
        self._finished: dict[tuple[str, str], set[str]] = {}

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from pipeline.composing import DerivingConfigLoader

        # The sweeper checks each batch by composing every job (`validate_batch_is_legal`) with
        # this same context's loader: give it one that composes once per shape of job.
        if not isinstance(hydra_context.config_loader, DerivingConfigLoader):
            hydra_context.config_loader = DerivingConfigLoader(hydra_context.config_loader)
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from pipeline import handoff
        from pipeline.admission import admit_jobs
        from pipeline.batching import dispatch
        from pipeline.job import finished_hashes
        from pipeline.provenance import config_hash
        from pipeline.tracking import real_run_id

        # Hydra calls setup() before launch().
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        from pipeline import memory

        memory.chunk_start()  # the last chunk's garbage freed, what it left alive out of later collections
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = [self._job_config(overrides, initial_job_idx + i) for i, overrides in enumerate(job_overrides)]
        # All of them, before anything trains; the jobs of a grid were checked up front, all
        # together (pipeline/admission.py admit_sweep), a search sweeper's are checked here.
        composer = self._composer()
        unchecked = [i for i, overrides in enumerate(job_overrides) if tuple(overrides) not in composer.admitted]
        if unchecked:
            admit_jobs(
                [configs[i] for i in unchecked],
                [job_overrides[i] for i in unchecked],
                whole_command=not composer.search_checked,
            )
        # Resume is decided here for the whole sweep (one query per experiment); jobs that reuse
        # a FINISHED run of their config train nothing, the others are dispatched at once.
        finished = self._finished_hashes(configs, finished_hashes)
        hashes = {id(config): config_hash(config) for config in configs}
        to_train = []
        for config in configs:
            if config.resume and hashes[id(config)] in finished:
                handoff.hand_over(hashes[id(config)], handoff.HandedOver(resume=True))
            else:
                to_train.append(config)
        for config, trained in dispatch(to_train):
            handoff.hand_over(hashes[id(config)], handoff.HandedOver(resume=False, trained=trained))
        log.debug(f"Launching {len(configs)} jobs")
        trackers = self._trackers(configs)
        returns = []
        for config in configs:
            returns.append(
                run_job(
                    hydra_context=self.hydra_context,
                    task_function=self.task_function,
                    config=config,
                    job_dir_key="hydra.sweep.dir",
                    job_subdir_key="hydra.sweep.subdir",
                )
            )
        # Hydra's logging again, in place of the last job's (its log file): once, as nothing is
        # logged between a launch's jobs (each run_job sets up its own job's logging first).
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        for tracker in trackers:  # the chunk's runs are in the store before the next chunk (or the summary)
            tracker.flush()
        for job_return in returns:  # a run created behind: its id in the store, for sweepers and the summary
            if job_return.status == JobStatus.COMPLETED and getattr(job_return.return_value, "run_id", None):
                job_return.return_value.run_id = real_run_id(job_return.return_value.run_id)
        return returns

    def _trackers(self, configs: Sequence[DictConfig]) -> list:
        """The stores these jobs write to, writing behind from now on if background_writes says so."""
        from pipeline.tracking import tracker_for

        tracked = [config for config in configs if config.tracking.enabled]
        trackers = [tracker_for(uri) for uri in sorted({str(config.tracking.uri) for config in tracked})]
        behind = self.background_writes
        if behind is None:  # auto: when the second core is free, and there is a next job to go on with
            behind = len(tracked) > 1 and not any(config.tracking.plots for config in tracked)
        if behind:
            for tracker in trackers:
                tracker.write_behind()
        return trackers

    def _finished_hashes(self, configs: Sequence[DictConfig], query) -> set[str]:
        """`finished_hashes` for these jobs, each experiment's read once per sweep (not once per chunk)."""
        found: set[str] = set()
        for config in configs:
            if not (config.tracking.enabled and config.resume):
                continue
            where = (str(config.tracking.uri), str(config.tracking.experiment))
            if where not in self._finished:
                self._finished[where] = query([config])
            found |= self._finished[where]
        return found

    def _composer(self):
        from pipeline.composing import DerivingConfigLoader, composer_for

        assert self.config is not None and self.hydra_context is not None  # set by setup()
        loader = self.hydra_context.config_loader
        assert isinstance(loader, DerivingConfigLoader)  # setup() wrapped Hydra's loader in one
        return composer_for(loader.inner, self.config)

    def _job_config(self, overrides: Sequence[str], index: int) -> DictConfig:
        # Composed already, most likely, by the sweeper's check of the batch.
        config = self._composer().take(overrides)
        with open_dict(config):
            config.hydra.job.id = index
            config.hydra.job.num = index
        return config  # run_job makes it HydraConfig's when the job runs
