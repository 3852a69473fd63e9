"""A sweep's writes to the tracking store, made by a second process while this one goes on.

In a grid of short runs the sweep's main thread is the bottleneck: per job, Hydra's `run_job`,
the recording, and MLflow's requests, one after another in one Python thread, while the
machine's other core waits (a 400-job grid used 1.07 cores of 2). MLflow's requests are
Python too (SQLAlchemy's ORM), so a thread would not overlap them; a process does.

A `Tracker` that writes behind (`Tracker.write_behind`) hands each run's creation, metrics,
params, tags, files and ending to `WriteBehind`, which passes them, in order, to one writer
process. That process makes the very same calls on its own Tracker for the same store. A run
is known here by a provisional id until the writer has created it (MLflow's store picks run
ids): the writer's Tracker and this one turn it into the store's id wherever it is used.
Every read stays in this process, and first waits until every write handed over has been
made (`flush`), so what this process reads back is what it wrote, as if it had written it itself.

Nothing handed over is lost:
- the launcher flushes at the end of each launch (a chunk of a grid), and a command flushes
  before it ends, so a chunk's runs are in the store when the next chunk starts;
- a write the store refuses ends its run FAILED with the reason (later writes to that run are
  dropped, so its ending cannot turn FINISHED) and makes the next flush raise StoreWriteFailed:
  the sweep stops there and the command exits non-zero, as when a job's own write fails;
- if the writer process dies (killed, out of memory), the writes it had not confirmed are
  made again here, in order, and from then on every write is made here (a run it had created
  unconfirmed is found in the store, not created twice).
Ctrl-C reaches the writer too (the terminal signals the whole process group): it ignores it,
and finishes what it was given; this process ends its runs KILLED through it, and waits.
A SIGKILL of this process runs none of that: the writes not made yet are lost with it, as the
job in progress is, and those runs stay RUNNING (the writer leaves within half a second).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)


class StoreWriteFailed(RuntimeError):
    """The store refused writes made behind: their runs were ended FAILED."""


class WriteBehind:
    """Writes to one store (`uri`), in order, by one writer process.

    `open_store(uri)` gives, in the writer process, the object whose methods make the writes
    (`pipeline.tracking.tracker_for`, pickled by name: this module does not import the tracking
    module, which imports it). `apply(method, run_id, kwargs)` makes a write in this process (the Tracker's
    own, synchronous call): it is used when the writer process is gone. `count(seconds)` is
    told the writer's time in the store for each write it made, and `created(provisional_id,
    run_id)` the id of each run the writer created (a `create_run` write)."""

    def __init__(
        self,
        uri: str,
        open_store: Callable[[str], Any],
        apply: Callable[[str, str, dict], None],
        count: Callable[[float], None],
        created: Callable[[str, str], None],
    ):
        self.uri = uri
        self._open_store, self._apply, self._count, self._created = open_store, apply, count, created
        self._in_flight: deque[tuple[Future, str, str, dict]] = deque()
        self._errors: list[str] = []
        self._refused: set[str] = set()  # runs ended FAILED for a refused write: nothing more is written to them
        self.written = 0  # writes the writer process confirmed
        self._pool: Optional[ProcessPoolExecutor] = _writer_pool(uri)
        self._warm = self._pool.submit(_open, open_store, uri)  # imports MLflow and opens the store meanwhile

    def submit(self, method: str, run_id: str, **kwargs: Any) -> None:
        """Hand `Tracker.method(run_id, **kwargs)` to the writer (made here if the writer is gone)."""
        self._collect(wait=False)
        if self._pool is not None:
            try:
                future = self._pool.submit(_write, self._open_store, self.uri, method, run_id, kwargs)
            except RuntimeError:  # BrokenProcessPool: the writer is gone; what it was given is made here first
                self._collect(wait=True)
            else:
                self._in_flight.append((future, method, run_id, kwargs))
                return
        self._take_over(method, run_id, kwargs)

    def wait(self) -> None:
        """Wait until every write handed over is made; a refusal is kept for the next flush."""
        self._collect(wait=True)

    def flush(self) -> None:
        """Wait until every write handed over is made; StoreWriteFailed if the store refused any."""
        self.wait()
        if self._errors:
            errors, self._errors = self._errors, []
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise StoreWriteFailed(f"the tracking store refused a write: {errors[0]}{more}; the run is ended FAILED")

    def close(self) -> None:
        """Flush, then stop the writer process."""
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def _collect(self, wait: bool) -> None:
        """Take the results of the writes done (all of them, waiting, if `wait`), in order."""
        while self._in_flight and (wait or self._in_flight[0][0].done()):
            future, method, run_id, kwargs = self._in_flight[0]  # taken off once its result is in (not on Ctrl-C)
            try:
                seconds, error, made = future.result()
            except Exception:  # noqa: BLE001 (the writer is gone, or could not open the store: not a refusal)
                self._in_flight.popleft()
                self._take_over(method, run_id, kwargs)
                continue
            self._in_flight.popleft()
            self._count(seconds)
            self.written += 1
            if error:
                self._errors.append(error)
                self._refused.add(run_id)
            elif method == "create_run":
                self._created(run_id, made)

    def _take_over(self, method: str, run_id: str, kwargs: dict) -> None:
        """The writer process is gone (or cannot open the store): this write and every one after
        it are made here. MLflow accepts a write made twice (the same params, tags, metric points),
        so a write the writer made before it died, unconfirmed, does no harm made again."""
        if self._pool is not None:
            log.warning("the tracking store's writer process ended; its writes are made by this process from now on")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if run_id in self._refused:
            _drop(method, kwargs)
            return
        if method == "create_run":  # the writer may have created it before it died, unconfirmed
            kwargs = {**kwargs, "find_first": True}
        self._apply(method, run_id, kwargs)


def _drop(method: str, kwargs: dict) -> None:
    """A write to a run ended FAILED for a refused write is dropped; a folder of files handed over
    with it (`log_artifacts(remove=True)`) is removed all the same, as an upload would have."""
    if method == "log_artifacts" and kwargs.get("remove"):
        shutil.rmtree(kwargs["local_dir"], ignore_errors=True)


def _writer_pool(uri: str) -> ProcessPoolExecutor:
    # spawn, not fork: this process runs JAX's threads, which a fork would copy mid-flight.
    return ProcessPoolExecutor(
        max_workers=1,  # one writer: the writes of a run stay in order
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_writer,
        initargs=(os.getpid(),),
    )


# -- in the writer process ------------------------------------------------------------------

_refused: set[str] = set()  # runs whose write the store refused: ended FAILED, later writes dropped


def _start_writer(parent_pid: int) -> None:
    from pipeline.finishing import exit_with_parent

    # Ctrl-C signals the whole process group: the command ends its runs through this process,
    # which must live to make those writes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent(parent_pid)


def _open(open_store: Callable[[str], Any], uri: str) -> int:
    open_store(uri)
    return os.getpid()


def _write(
    open_store: Callable[[str], Any], uri: str, method: str, run_id: str, kwargs: dict
) -> tuple[float, str, Any]:
    """Make one write (a Tracker method) on the store; (seconds, the error or "", what the
    method returned: a created run's id)."""
    tracker = open_store(uri)
    given = run_id
    if method != "create_run":
        run_id = tracker.real_run_id(given)  # a run this process created: known by a provisional id until then
    if given in _refused or run_id in _refused:
        _drop(method, kwargs)
        return 0.0, "", None
    started = time.perf_counter()
    try:
        made = getattr(tracker, method)(run_id, **kwargs)
    except Exception as error:  # noqa: BLE001 (reported to the sweep's process; the run ends FAILED)
        _refused.update((given, run_id))
        who = f"{kwargs.get('run_name')!r}" if method == "create_run" else run_id
        reason = f"run {who}: {method}: {type(error).__name__}: {error}"
        try:
            tracker.set_tags(run_id, {"failure_reason": f"the tracking store refused a write: {reason}"})
            tracker.end_run(run_id, "FAILED")
        except Exception:  # noqa: BLE001 (the store may be what failed; the error is reported either way)
            pass
        return time.perf_counter() - started, reason, None
    return time.perf_counter() - started, "", made
