"""Training jobs: every job of the same shapes shares one compiled program, dispatched once per job.

A job run alone is a batch of one, so a job's numbers do not depend on how it was launched
or on what trained beside it.

On networks this small a sweep's time goes to overhead, not arithmetic: compiling a
training program costs about 0.7 s on a 2-core CPU, training one job 10,000 steps about
0.05 s. So the jobs of a sweep are grouped by the program they need (the same dataset,
structure and padded sizes; pipeline/inputs.py pads hidden layers to a multiple of 8
units), each program is compiled once, and each job is dispatched to it asynchronously:
while the first jobs are recorded in MLflow, the later ones are still training.

Why not one vmapped program for the whole group? XLA's batched kernels order their sums
differently from the unbatched ones: a vmap over 8 jobs gives another float32 result than
each job alone (3e-5 apart after 10,000 steps, and chaotic settings diverge further), and a
job's result would depend on its batch-mates. Dispatching each job to the very program a
job alone runs costs nothing in bits, and on the CPU little in time (a vmap over 8 small
jobs is no faster than 8 dispatches here). The gradient checks are per job too.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Optional, Sequence

import jax
from omegaconf import DictConfig, OmegaConf

from models.gradcheck import GradCheck
from pipeline.data import Dataset, load_from_config
from pipeline.gradcheck import gradient_check
from pipeline.inputs import ProgramInputs, device_arrays, program_inputs, unpad_params
from pipeline.segments import OnSegment, segmented
from pipeline.train import TrainResult, compiled_train


@dataclass
class Trained:
    """A job's training, as its run records it."""

    check_at_init: GradCheck  # the three-way gradient check before training
    result: TrainResult  # params unpadded
    timings: dict[str, float]  # the job's own share of compiling and training
    check_at_end: Callable[[], GradCheck]  # the check at the trained params (not needed if it diverged)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Live:
    """How a long run reports while it trains (pipeline/segments.py): its progress label, the
    checkpoint to continue from and save, its run id, and where each segment's metrics go."""

    label: str
    checkpoint: Optional[Path] = None
    run_id: str = ""
    on_segment: Optional[OnSegment] = None
    # The store's id of `run_id`, for the checkpoint (a run created behind has a provisional id:
    # pipeline/tracking.py); asked only by a long run, which saves checkpoints.
    store_run_id: Optional[Callable[[str], str]] = None


TakeTrained = Callable[[Optional[Live]], Trained]  # a job's training, given how it may report live


def dataset_of(cfg: DictConfig) -> Dataset:
    """The job's dataset (loaded once per distinct data config in this process: pipeline/data.py)."""
    return load_from_config(cfg.data)


def program_key(cfg: DictConfig, inputs: ProgramInputs) -> tuple:
    """Jobs with equal keys run the same compiled program (the same code on the same shapes)."""
    return (OmegaConf.to_yaml(cfg.data), cfg.train.dtype, inputs.spec, inputs.program_sizes)


@dataclass
class Batch:
    """Jobs that share one compiled training program."""

    configs: list[DictConfig]
    inputs: list[ProgramInputs]
    ds: Dataset


def plan(configs: Sequence[DictConfig]) -> list[Batch]:
    """The jobs grouped by the program they train with, in the order they were given. A lesson's
    job (+lesson=NAME runs a section of the notes, pipeline/lessons.py) trains nothing: it is left out."""
    by_data: dict[tuple, list[DictConfig]] = {}
    for cfg in configs:  # one draw of initial states per dataset and dtype
        if cfg.get("lesson") is not None:
            continue
        by_data.setdefault((OmegaConf.to_yaml(cfg.data), cfg.train.dtype), []).append(cfg)
    batches: dict[tuple, Batch] = {}
    for members in by_data.values():
        ds = dataset_of(members[0])
        with jax.enable_x64(members[0].train.dtype == "float64"):
            inputs = program_inputs(members, ds)
        for cfg, job_inputs in zip(members, inputs):
            batch = batches.setdefault(program_key(cfg, job_inputs), Batch([], [], ds))
            batch.configs.append(cfg)
            batch.inputs.append(job_inputs)
    return list(batches.values())


class BatchRun:
    """One batch: its program compiled once, every job dispatched to it, each job's share
    handed out when the job is recorded."""

    def __init__(self, batch: Batch, label: str):
        self.batch, self.label = batch, label
        first = batch.configs[0]
        with jax.enable_x64(first.train.dtype == "float64"):
            self._dispatch(first)

    def _dispatch(self, first: DictConfig) -> None:
        spec, ds = self.batch.inputs[0].spec, self.batch.ds
        started = time.perf_counter()
        self.data, self.segmented, program = _program(self.batch)
        data = self.data
        self.compile_seconds = time.perf_counter() - started
        self.results, self.checks_at_init = [], []
        self.dispatched = time.perf_counter()
        for inputs, cfg in zip(self.batch.inputs, self.batch.configs):
            # Asynchronous: each call returns at once; XLA trains the jobs one after another.
            # A long run is trained when its job takes it, in segments that report as they go.
            if self.segmented is None:
                assert program is not None  # compiled above, for a batch that is not segmented
                self.results.append(program(inputs.params0, data, inputs.hyper, inputs.batch_key))
            self.checks_at_init.append(
                gradient_check(spec, inputs.params0, ds, inputs.hyper, cfg.gradcheck, block=False)
            )
        # When each job's result is ready, seen by a thread that waits on them in order: a job's
        # training time is then its own (from the previous job's end), not the batch's.
        self.ready_at: list[float] = []
        if self.results:
            threading.Thread(target=self._wait_in_order, daemon=True).start()

    def _wait_in_order(self) -> None:
        for result in self.results:
            jax.block_until_ready(result)
            self.ready_at.append(time.perf_counter())

    def trained(self, index: int, live: Optional[Live] = None) -> Trained:
        """Job `index`'s share, unpadded (blocks until the job is trained; a long run trains now,
        in segments that report through `live`)."""
        if self.segmented is not None:
            inputs, cfg = self.batch.inputs[index], self.batch.configs[index]
            live = live or Live(label="training")
            started = time.perf_counter()
            with jax.enable_x64(cfg.train.dtype == "float64"):
                result = self.segmented(
                    inputs.spec,
                    inputs.params0,
                    self.data,
                    inputs.hyper,
                    inputs.batch_key,
                    label=live.label,
                    checkpoint=live.checkpoint,
                    run_id=live.store_run_id(live.run_id) if live.store_run_id else live.run_id,
                    on_segment=live.on_segment,
                )
            return self._share(index, jax.device_get(result), time.perf_counter() - started)
        result = jax.device_get(self.results[index])
        while len(self.ready_at) <= index:  # the waiter sees it a moment after us
            time.sleep(0.001)
        started = self.ready_at[index - 1] if index else self.dispatched
        return self._share(index, result, self.ready_at[index] - started)

    def _share(self, index: int, result: TrainResult, train_seconds: float) -> Trained:
        inputs, cfg, n = self.batch.inputs[index], self.batch.configs[index], len(self.batch.configs)
        ds = self.batch.ds
        padded_params = result.params
        result = result._replace(params=unpad_params(padded_params, inputs.sizes))

        def check_at_end() -> GradCheck:
            return gradient_check(inputs.spec, padded_params, ds, inputs.hyper, cfg.gradcheck)

        return Trained(
            check_at_init=jax.device_get(self.checks_at_init[index]),
            result=result,
            # The job's own: its share of the shared compile, and its own training time.
            timings={"compile_seconds": self.compile_seconds / n, "train_seconds": train_seconds},
            check_at_end=check_at_end,
            tags={
                "batch.program": self.label,
                "batch.size": str(n),
                "batch.compile_seconds": f"{self.compile_seconds:.3f}",
                "model.padded_sizes": "-".join(map(str, inputs.program_sizes)),
            },
        )


# Set when the command ends early (an interrupt, an error): the compiling threads stop after the
# batch in hand. They are not daemons: a daemon thread still inside XLA when the interpreter
# exits can crash it, turning an interrupt's exit status 130 into a signal.
_stop_compiling = threading.Event()


def stop_compiling() -> None:
    """The command is ending: compile no further batch (the one in hand is finished and waited for)."""
    _stop_compiling.set()


_ahead: list[threading.Thread] = []


def compile_ahead(cfg: DictConfig) -> None:
    """Start compiling `cfg`'s programs (its initial draw, training and gradient check) now, in
    the background: a sweep's first job, while the sweep's process imports MLflow and opens its
    store (Python, over a second of the main thread, while XLA compiles in C++ without the GIL).
    The launcher's compiling thread waits for it, then finds these programs compiled: the same
    programs, so the same bits."""

    def compile_first() -> None:
        try:
            batches = [] if _stop_compiling.is_set() else plan([cfg])
            if batches:  # none for a lesson's job
                _compile(batches[0])
        except Exception:  # the launcher compiles it again, in its job, and reports what fails there
            pass

    thread = threading.Thread(target=compile_first, name="compiling ahead")
    thread.start()
    _ahead.append(thread)


def _program(batch: Batch) -> tuple[tuple, Optional[Callable], Optional[Callable]]:
    """`batch`'s data on the device, its segmented trainer (a long run) or None, and its
    compiled training program (None for a long run, which trains in segments)."""
    one, ds = batch.inputs[0], batch.ds
    data = device_arrays(ds, batch.configs[0].train.dtype)
    long_run = segmented(one.spec, one.program_sizes, ds.m_train)
    program = None if long_run else compiled_train(one.spec, one.params0, data, one.hyper, one.batch_key)
    return data, long_run, program


def _compile(batch: Batch) -> None:
    """What BatchRun compiles for `batch` (its program, its gradient check), dispatching no job."""
    first, one = batch.configs[0], batch.inputs[0]
    with jax.enable_x64(first.train.dtype == "float64"):
        _program(batch)
        gradient_check(one.spec, one.params0, batch.ds, one.hyper, first.gradcheck)


class Compiling:
    """The batches' programs compiled, and their jobs dispatched, one batch after another in a
    background thread, so that the jobs of the first batch are recorded (MLflow, Hydra's run_job:
    Python in the main thread) while the later batches compile (XLA: C++, without the GIL).
    A job's program and inputs are the same whichever thread compiles them: so are its bits."""

    def __init__(self, batches: Sequence[Batch]):
        self.batches = list(batches)
        self.runs: list[Optional[BatchRun]] = [None] * len(self.batches)
        self.errors: list[Optional[BaseException]] = [None] * len(self.batches)
        self.ready = [threading.Event() for _ in self.batches]
        threading.Thread(target=self._compile_all, name="compiling").start()

    def _compile_all(self) -> None:
        for thread in _ahead:  # its programs are these batches' first (compiled_train's cache is not shared safely)
            thread.join()
        for number, batch in enumerate(self.batches):
            try:
                if _stop_compiling.is_set():
                    raise RuntimeError("not compiled: the command was ending")
                self.runs[number] = BatchRun(batch, f"{number + 1}/{len(self.batches)}")
            except BaseException as error:  # raised in each job of this batch, when it takes its share
                self.errors[number] = error
            finally:
                self.ready[number].set()

    def trained(self, number: int, index: int, live: Optional[Live] = None) -> Trained:
        """Job `index` of batch `number`: waits for its batch to be dispatched, then for the job."""
        self.ready[number].wait()
        run, error = self.runs[number], self.errors[number]
        if run is None:
            assert error is not None  # a batch is missing only when compiling it failed
            raise error
        return run.trained(index, live)


def dispatch(configs: Sequence[DictConfig]) -> list[tuple[DictConfig, TakeTrained]]:
    """Compile each batch's program and dispatch every job, in the background, batch after
    batch; returns (config, its training) pairs at once. Taking a job's training blocks until
    that job has trained."""
    batches = plan(configs)
    compiling = Compiling(batches)
    return [
        (cfg, partial(compiling.trained, number, index))
        for number, batch in enumerate(batches)
        for index, cfg in enumerate(batch.configs)
    ]


def train_alone(cfg: DictConfig, live: Optional[Live] = None) -> Trained:
    """One job: a batch of one, through the same code as any batch."""
    ((_, trained),) = dispatch([cfg])
    return trained(live)
