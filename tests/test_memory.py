"""Tests for pipeline/memory.py: the collector off while a command starts, then a freeze per chunk of jobs."""

from __future__ import annotations

import gc
import weakref

import pytest

from pipeline import memory


@pytest.fixture(autouse=True)
def fresh_collector(monkeypatch):
    monkeypatch.setattr(memory, "_started", False)
    monkeypatch.setattr(memory, "_launcher_chunks", False)
    monkeypatch.setattr(memory, "_jobs_in_chunk", 0)
    monkeypatch.setattr(memory, "_chunks", 0)
    monkeypatch.setattr(memory, "_next_whole_collection", memory.FIRST_WHOLE_COLLECTION_AFTER)
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.enable()


class Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_the_collector_is_off_while_starting_and_on_again_once_started():
    memory.pause()
    assert not gc.isenabled()
    alive = Node()
    memory.resume()
    assert gc.isenabled() and gc.get_freeze_count() > 0  # what starting made is out of later collections
    frozen = gc.get_freeze_count()
    memory.resume()  # a second job of the command: nothing more
    assert gc.get_freeze_count() == frozen and alive.me is alive


def test_a_chunk_frees_the_garbage_made_since_the_last_freeze_and_freezes_the_rest():
    memory.resume()
    gc.disable()  # no collection but the chunk's own
    garbage, kept = Node(), Node()
    dead = weakref.ref(garbage)
    del garbage
    assert dead() is not None
    frozen = gc.get_freeze_count()
    memory.chunk_start()
    assert dead() is None  # freed
    assert gc.get_freeze_count() > frozen and kept.me is kept  # the living frozen, untouched


def test_garbage_frozen_while_alive_is_freed_by_whole_collections_that_grow_apart(monkeypatch):
    memory.resume()
    gc.disable()
    garbage = Node()
    dead = weakref.ref(garbage)
    memory.chunk_start()  # chunk 1: frozen while alive
    del garbage
    given_back = []
    unfreeze = gc.unfreeze
    monkeypatch.setattr(memory.gc, "unfreeze", lambda: given_back.append(memory._chunks) or unfreeze())
    for _ in range(8 * memory.FIRST_WHOLE_COLLECTION_AFTER):
        memory.chunk_start()
    assert dead() is None  # freed, although it was frozen when it died
    first = memory.FIRST_WHOLE_COLLECTION_AFTER
    assert given_back == [first, 2 * first, 4 * first, 8 * first]


def test_the_first_chunk_starts_the_command():
    memory.pause()
    memory.chunk_start()
    assert memory._started and gc.isenabled()


def test_without_chunks_from_the_launcher_a_chunk_ends_every_chunk_jobs(monkeypatch):
    chunks = []
    monkeypatch.setattr(memory, "_new_chunk", lambda: chunks.append(memory._jobs_in_chunk) or _reset())
    for _ in range(memory.CHUNK_JOBS * 3 - 1):
        memory.job_done()
    assert chunks == [memory.CHUNK_JOBS, memory.CHUNK_JOBS]


def test_a_launcher_that_starts_its_chunks_decides_alone(monkeypatch):
    memory.chunk_start()
    chunks = []
    monkeypatch.setattr(memory, "_new_chunk", lambda: chunks.append(True))
    for _ in range(memory.CHUNK_JOBS * 2):
        memory.job_done()
    assert chunks == []  # job ends do not add chunks of their own


def _reset():
    memory._jobs_in_chunk = 0


def test_before_exit_freezes_everything():
    Node()
    memory.before_exit()
    assert gc.get_count()[0] == 0 and gc.get_freeze_count() > 0
