"""The launcher's hand-off: each job's share left once, taken once, by its config hash.

How a job uses what it takes (resume, a batch's training) is in tests/test_job.py.
"""

from __future__ import annotations

import pytest

from pipeline import handoff


@pytest.fixture(autouse=True)
def empty():
    handoff._handed.clear()
    yield
    handoff._handed.clear()


def test_a_share_is_taken_once_and_only_by_its_own_hash():
    assert not handoff.expecting() and handoff.take("a") is None  # a job alone finds nothing
    left = handoff.HandedOver(resume=True)
    handoff.hand_over("a", left)
    handoff.hand_over("b", handoff.HandedOver(resume=False))
    assert handoff.expecting()
    assert handoff.take("c") is None  # another config's job takes nothing of theirs
    assert handoff.take("a") is left
    assert handoff.take("a") is None  # taken once: the job that runs again decides for itself
    assert handoff.expecting()  # b's share still waits
    assert handoff.take("b").resume is False
    assert not handoff.expecting()


def test_a_later_launch_replaces_a_share_left_untaken():
    handoff.hand_over("a", handoff.HandedOver(resume=True))
    again = handoff.HandedOver(resume=False)
    handoff.hand_over("a", again)  # the same config in a later chunk: its newest decision stands
    assert handoff.take("a") is again and not handoff.expecting()


def test_a_share_is_read_only():
    share = handoff.HandedOver(resume=False)
    with pytest.raises(AttributeError):
        share.resume = True  # type: ignore[misc]
