"""Python's cyclic garbage collector, kept off a command's critical path.

A sweep's process holds hundreds of thousands of long-lived objects: JAX, MLflow and
SQLAlchemy themselves, and Hydra's configs of every job it ran (each job's return value keeps
two). CPython's collector walks all of them in each full (generation-2) collection, and it
runs one every few tens of thousands of allocations: during the imports of a sweep's process
alone, eight of them took a second on a 2-core machine, and in a 400-job grid the collector
took 5.7 s of 44 (measured with `gc.callbacks`).

So the collector is off while the command starts (`pause`: imports, composing, opening the
store make long-lived objects, not garbage), and what is alive is then moved to the permanent
generation (`gc.freeze`), which collections skip. From then on it is done again at each chunk
of jobs (`chunk_start`: the batched launcher's chunks, or every CHUNK_JOBS jobs under other
launchers): a collection that walks only what was made since the last freeze (the previous
chunk's objects), frees its garbage, and freezes the rest. Cyclic garbage made within a chunk
is freed by the ordinary collections, which walk at most one chunk's objects. At exit everything
is frozen: the process is ending, and the operating system takes its memory back.

Nothing here changes what a job computes.
"""

from __future__ import annotations

import gc

CHUNK_JOBS = 100  # jobs between two freezes under a launcher without chunks (the batched launcher's chunk)
# Generation-1 collections per full one (CPython's default: 10). Between two freezes a full
# collection walks only what was made since the last one, and the next freeze frees it all
# anyway: ten times rarer, they cost a chunk of 100 jobs 0.25 s instead of 0.45 s.
FULL_COLLECTION_EVERY = 100

_started = False
_launcher_chunks = False  # the launcher calls chunk_start itself
_jobs_in_chunk = 0


def pause() -> None:
    """The command is starting: no collection until `resume`."""
    gc.disable()


def resume() -> None:
    """The command has started (its first job, or its first chunk of jobs): what is alive now is
    frozen, and the collector is on again. Only the first call does anything."""
    global _started
    if _started:
        return
    _started = True
    # Frozen without a collection: the garbage of starting is small (37,000 objects in a
    # 400-job grid) and finding it would walk all 500,000 objects (0.4 s).
    gc.freeze()
    threshold0, threshold1, _ = gc.get_threshold()
    gc.set_threshold(threshold0, threshold1, FULL_COLLECTION_EVERY)
    gc.enable()


def chunk_start() -> None:
    """A launcher is about to start a chunk of its jobs (it then decides where chunks begin)."""
    global _launcher_chunks
    _launcher_chunks = True
    _new_chunk()


def job_done() -> None:
    """A job has ended: under a launcher that does not call chunk_start, a chunk ends every CHUNK_JOBS jobs."""
    global _jobs_in_chunk
    if _launcher_chunks:
        return
    _jobs_in_chunk += 1
    if _jobs_in_chunk >= CHUNK_JOBS:
        _new_chunk()


def _new_chunk() -> None:
    """The last chunk's garbage freed, and what it left alive frozen."""
    global _jobs_in_chunk
    _jobs_in_chunk = 0
    if not _started:
        resume()
        return
    gc.collect()  # walks only what was made since the last freeze
    gc.freeze()


def before_exit() -> None:
    """The interpreter's last collection would walk every object only to free memory that the
    end of the process frees anyway. Call once everything is written and closed."""
    gc.freeze()
