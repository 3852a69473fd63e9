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
is freed by the ordinary collections, which walk at most one chunk's objects. What was alive at
a freeze and died later is freed by a whole collection (everything given back), after 10
chunks, then 20, 40, ...: rarely enough that walking the heap costs little, often enough that a
10,000-job grid does not carry all of it. At exit everything is frozen: the process is ending,
and the operating system takes its memory back.

Nothing here changes what a job computes.
"""

from __future__ import annotations

import gc

CHUNK_JOBS = 100  # jobs between two freezes under a launcher without chunks (the batched launcher's chunk)
# Garbage that was alive at a freeze and died later is out of reach until everything is given
# back and collected once: after this many chunks, then twice as many (a 10,000-job grid of
# chunks of 100: after 1,000, 2,000, 4,000 and 8,000 jobs), each walking the whole heap once.
FIRST_WHOLE_COLLECTION_AFTER = 10

_started = False
_chunks = 0
_next_whole_collection = FIRST_WHOLE_COLLECTION_AFTER
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
    global _jobs_in_chunk, _chunks, _next_whole_collection
    _jobs_in_chunk = 0
    if not _started:
        resume()
        return
    _chunks += 1
    if _chunks >= _next_whole_collection:
        _next_whole_collection *= 2
        gc.unfreeze()
    gc.collect()  # walks only what was made since the last freeze, unless given back just now
    gc.freeze()


def before_exit() -> None:
    """The interpreter's last collection would walk every object only to free memory that the
    end of the process frees anyway. Call once everything is written and closed."""
    gc.freeze()
