"""Python's cyclic garbage collector, kept off a command's critical path.

A sweep's process holds millions of long-lived objects: JAX, MLflow and SQLAlchemy themselves,
and Hydra's configs of every job it ran. CPython's collector walks all of them in each full
(generation-2) collection: in the 48-job benchmark sweep (benchmarks/sweep_benchmark.py) the
collector took 2.4 s of the main thread, most of it in full collections, and the one at
interpreter exit another 1.2 s, for a few thousand objects freed. Objects alive at the end of a job are moved to the permanent
generation (`gc.freeze`), which collections skip. Now and then they are given back and collected
once, so that what died since is freed rather than held to the end: after FULL_COLLECTION_EVERY
jobs, then each time the jobs done have grown by a quarter (as CPython spaces its own full
collections), so that a 10,000-job grid, whose heap grows with Hydra's return value of every job,
does not walk that heap a hundred times. At exit everything is frozen: the process is ending,
and the operating system takes its memory back.
Nothing here changes what a job computes.
"""

from __future__ import annotations

import gc

FULL_COLLECTION_EVERY = 100  # jobs, at least: a full collection costs 0.2 s and more in a sweep's process

_jobs_done = 0
_next_full_collection = FULL_COLLECTION_EVERY


def job_done() -> None:
    """After a job: what is alive now is not walked again by the collections of the next jobs."""
    global _jobs_done, _next_full_collection
    _jobs_done += 1
    if _jobs_done >= _next_full_collection:
        gc.unfreeze()
        gc.collect()
        _next_full_collection = _jobs_done + max(FULL_COLLECTION_EVERY, _jobs_done // 4)
    gc.freeze()


def before_exit() -> None:
    """The interpreter's last collection would walk every object only to free memory that the
    end of the process frees anyway. Call once everything is written and closed."""
    gc.freeze()
