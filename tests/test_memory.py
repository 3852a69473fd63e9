"""Tests for pipeline/memory.py: what a job leaves alive is frozen, and given back to be collected."""

from __future__ import annotations

import gc
import weakref

import pytest

from pipeline import memory


@pytest.fixture(autouse=True)
def unfrozen(monkeypatch):
    monkeypatch.setattr(memory, "_jobs_done", 0)
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
