"""Tests for pipeline/memory.py: what a job leaves alive is frozen, and given back to be collected."""

from __future__ import annotations

import gc
import weakref

import pytest

from pipeline import memory


@pytest.fixture(autouse=True)
def unfrozen(monkeypatch):
    monkeypatch.setattr(memory, "_jobs_done", 0)
    monkeypatch.setattr(memory, "_next_full_collection", memory.FULL_COLLECTION_EVERY)
    gc.unfreeze()
    yield
    gc.unfreeze()


class Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_a_job_end_freezes_what_is_alive():
    gc.collect()
    assert gc.get_freeze_count() == 0
    alive = Node()
    memory.job_done()
    assert gc.get_freeze_count() > 0
    assert not gc.is_finalized(alive) and alive.me is alive


def test_garbage_frozen_at_a_job_end_is_freed_by_the_periodic_full_collection():
    garbage = Node()
    dead = weakref.ref(garbage)
    memory.job_done()  # frozen while alive
    del garbage
    gc.collect()
    assert dead() is not None  # frozen: the collector does not see it
    for _ in range(memory.FULL_COLLECTION_EVERY - 1):
        memory.job_done()
    assert dead() is None  # given back and collected
    assert gc.get_freeze_count() > 0  # and what is alive frozen again


def test_before_exit_freezes_everything():
    Node()
    memory.before_exit()
    assert gc.get_count()[0] == 0 and gc.get_freeze_count() > 0


def test_full_collections_grow_apart_with_the_jobs_done(monkeypatch):
    collected_at = []
    monkeypatch.setattr(memory.gc, "collect", lambda: collected_at.append(memory._jobs_done))
    for _ in range(2_000):
        memory.job_done()
    gc.unfreeze()
    gaps = [b - a for a, b in zip(collected_at, collected_at[1:])]
    assert collected_at[:3] == [100, 200, 300]  # every 100 jobs at first
    assert gaps == sorted(gaps) and gaps[-1] >= collected_at[-2] // 4  # then a quarter of the jobs done apart
    assert len(collected_at) < 20  # not 2,000 / 100
