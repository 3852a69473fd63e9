"""Ctrl-C and SIGTERM: raised at once, held through the main thread's writes, never swallowed.

The handler is called directly (as Python calls it, in the main thread); the command line's
own interrupts, mid-run and mid-sweep, are in tests/test_long_runs.py and test_robustness.py.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
import time

import pytest

from pipeline import interrupts


@pytest.fixture(autouse=True)
def nothing_held():
    yield
    assert interrupts._depth == 0 and interrupts._pending is None  # every test leaves the module as it found it


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_an_interrupt_outside_a_write_is_raised_at_once_naming_the_signal(sig):
    with pytest.raises(KeyboardInterrupt, match=f"signal {sig.name}"):
        interrupts._handler(sig, None)


def test_an_interrupt_inside_a_write_is_raised_when_the_write_ends_not_before():
    written = []
    with pytest.raises(KeyboardInterrupt, match="signal SIGTERM"):
        with interrupts.deferred():
            interrupts._handler(signal.SIGTERM, None)  # held
            written.append("the rest of the write")  # still runs
    assert written == ["the rest of the write"]


def test_nested_writes_hold_the_interrupt_until_the_outermost_ends():
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            with interrupts.deferred():
                interrupts._handler(signal.SIGINT, None)
            assert interrupts._pending == "SIGINT"  # the inner write's end does not raise it
    assert interrupts._pending is None


def test_an_interrupt_is_held_only_for_the_main_threads_writes():
    inside, done = threading.Event(), threading.Event()

    def writer():  # another thread's write (a run's files uploaded in the background)
        with interrupts.deferred():
            inside.set()
            done.wait(5)

    thread = threading.Thread(target=writer)
    thread.start()
    inside.wait(5)
    with pytest.raises(KeyboardInterrupt):
        interrupts._handler(signal.SIGTERM, None)  # not held: the main thread is not writing
    done.set()
    thread.join()
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            interrupts._handler(signal.SIGTERM, None)  # held until the main thread's write ends


def test_an_interrupt_inside_a_finaliser_is_sent_again_not_dropped(monkeypatch):
    """Raised inside a `__del__` or a garbage-collector callback, Python would print it and go on."""
    sent = []
    monkeypatch.setattr(interrupts.os, "kill", lambda pid, signum: sent.append(signum))

    class Finalised:
        def __del__(self):
            interrupts._handler(signal.SIGINT, sys._getframe())

    Finalised()  # dropped at once: its __del__ calls the handler, which must not raise there
    gc.collect()
    for _ in range(100):  # the signal is sent again from a timer thread, 10 ms later
        if sent:
            break
        time.sleep(0.01)
    assert sent == [signal.SIGINT]
    with pytest.raises(KeyboardInterrupt):  # outside a finaliser the same call raises
        interrupts._handler(signal.SIGINT, sys._getframe())


def test_install_leaves_a_signal_the_shell_ignores_ignored(monkeypatch):
    installed = {}
    monkeypatch.setattr(
        interrupts.signal, "getsignal", lambda sig: signal.SIG_IGN if sig == signal.SIGINT else signal.SIG_DFL
    )
    monkeypatch.setattr(interrupts.signal, "signal", lambda sig, handler: installed.setdefault(sig, handler))
    interrupts.install()
    assert installed == {signal.SIGTERM: interrupts._handler}  # a background job of a shell ignores SIGINT
