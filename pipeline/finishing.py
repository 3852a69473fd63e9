"""Finishing a run: its files uploaded, then the run ended FINISHED, never the other way round.

Drawing a run's plots costs more than training it on these small networks (matplotlib,
about 70 ms for a decision boundary, as much again for a loss curve when asked for). In a
sweep, that work goes to worker processes, so it overlaps with the next jobs; the run is
ended FINISHED only once its plots are drawn and every artifact is uploaded, and a run whose
files could not be made or uploaded ends FAILED. Outside a sweep (and in launcher worker
processes, which have no sweep end to wait for) everything happens in line.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, TimeoutError
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from pipeline import interrupts

# A pipeline.plots function (by name: the process that runs a sweep never imports matplotlib),
# its args and kwargs; picklable.
PlotCall = tuple[Union[str, Callable], tuple, dict]
# A file of the run made where its files are uploaded (by the writer process, when a sweep
# writes behind: pipeline/write_behind.py): a function of this module, called with the run's
# folder and these args; picklable, and needing neither JAX nor matplotlib.
FileCall = tuple[Callable[..., None], tuple]

# Two drawing processes: on a 2-core machine, one alone fell about 4 s behind the 48 jobs of
# the benchmark sweep (benchmarks/sweep_benchmark.py); two kept up. More would only compete.
WORKERS = min(2, os.cpu_count() or 1)

_in_background = False
_pool: Optional[ProcessPoolExecutor] = None
_pending: list[tuple[Any, str, tempfile.TemporaryDirectory, Future, Sequence[FileCall]]] = []


def draw_in_background() -> None:
    """From now on (this process runs a sweep), plots are drawn by worker processes.

    The workers start now and import what drawing needs (a few seconds), while this process
    composes and compiles: by the first job's plots they are ready.
    """
    global _in_background
    _in_background = True
    for _ in range(WORKERS):  # one task each: the pool starts a process per task it cannot give an idle one
        _worker().submit(_import_for_drawing)


def _import_for_drawing() -> None:
    # matplotlib only: the decision boundaries' predictions are NumPy's (predict.NetworkPredict),
    # so a drawing process neither imports JAX nor compiles a program per network shape.
    import pipeline.plots  # noqa: F401


def finish_run(
    tracker, run_id: str, files: tempfile.TemporaryDirectory, plot_calls: list[PlotCall], made: Sequence[FileCall] = ()
) -> None:
    """Draw `plot_calls` into `files`, make the `made` files there as it is uploaded to the run,
    end the run FINISHED (or FAILED)."""
    if not _in_background:
        future: Future = Future()
        try:
            _draw(plot_calls)
            future.set_result(None)
        except Exception as error:  # recorded on the run by _finish
            interrupts.raise_if_behind(error)
            future.set_exception(error)
        _finish(tracker, run_id, files, future, made)
        return
    _pending.append((tracker, run_id, files, _worker().submit(_draw, plot_calls), made))
    finish_ready()


def yaml_file(folder: str, name: str, data: Any, header: str = "") -> None:
    """`data` (plain: dicts, lists, scalars) as the YAML OmegaConf writes, after `header`."""
    from pipeline.hydra_internals import plain_yaml

    Path(folder, name).write_text(header + plain_yaml(data))


def npz_file(folder: str, name: str, arrays: dict) -> None:
    """NumPy arrays by name, as one .npz file."""
    import numpy as np

    np.savez(Path(folder, name), **arrays)


def finish_ready(wait: Optional[float] = 0.0) -> None:
    """Finish the pending runs whose plots are drawn; `wait=None` waits for all of them."""
    while _pending and (wait is None or _pending[0][3].done()):
        _finish(*_pending.pop(0))


def drain(status_if_late: str = "KILLED", timeout: Optional[float] = None, keep_workers: bool = False) -> None:
    """Finish every pending run; with `timeout`, runs still drawing after it end `status_if_late`.
    The drawing processes then stop, unless `keep_workers` (the sweep's summary draws next)."""
    while _pending:
        tracker, run_id, files, future, made = _pending.pop(0)
        try:
            future.result(timeout=timeout)
        except TimeoutError:
            tracker.set_tags(run_id, {"failure_reason": "ended before its plots were drawn"})
            tracker.end_run(run_id, status_if_late)
            files.cleanup()
            continue
        except Exception:
            pass  # recorded by _finish
        _finish(tracker, run_id, files, future, made)
    if not keep_workers:
        stop_workers()


def stop_workers() -> None:
    """The drawing processes end (what they were given but had not started is dropped)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def _finish(
    tracker, run_id: str, files: tempfile.TemporaryDirectory, future: Future, made: Sequence[FileCall] = ()
) -> None:
    try:
        future.result()
        # The folder is the tracker's to remove (or hand over) once uploaded; it makes `made` there first.
        tracker.log_artifacts(run_id, files.name, remove=True, make=made)
    except Exception as error:
        interrupts.raise_if_behind(error)
        tracker.set_tags(run_id, {"failure_reason": f"artifacts could not be written: {type(error).__name__}: {error}"})
        tracker.end_run(run_id, "FAILED")
    else:
        tracker.end_run(run_id, "FINISHED")
    finally:
        files.cleanup()


def _worker() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn, not fork: this process runs JAX's threads, which a fork would copy mid-flight.
        _pool = ProcessPoolExecutor(
            max_workers=WORKERS,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )
    return _pool


def exit_with_parent(parent_pid: int) -> None:
    """In a worker process (drawing here, writing in pipeline/write_behind.py): leave when the
    sweep's process is gone (a SIGKILL runs none of its cleanup), rather than live on holding
    its terminal or pipes open."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def draw(plot_calls: list[PlotCall]) -> None:
    """Draw `plot_calls` now: side by side in the drawing processes during a sweep (a sweep's
    summary), else in line. Raises the first error a call raised, once all have ended."""
    if not _in_background:
        _draw(plot_calls)
        return
    futures = [_worker().submit(_draw, [call]) for call in plot_calls]
    errors = [future.exception() for future in futures]
    first = next((error for error in errors if error is not None), None)
    if first is not None:
        raise first


def _draw(plot_calls: list[PlotCall]) -> None:
    if not plot_calls:
        return
    import pipeline.plots as plots

    for function, args, kwargs in plot_calls:
        (getattr(plots, function) if isinstance(function, str) else function)(*args, **kwargs)
