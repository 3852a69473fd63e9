"""Ctrl-C and SIGTERM: raised at once, held through the main thread's writes, never swallowed.

The handler is called directly (as Python calls it, in the main thread); the command line's
own interrupts, mid-run and mid-sweep, are in tests/test_long_runs.py and test_robustness.py.
Here too, through the command line: an interrupt that a library's cleanup turned into its own
error, injected where CI met it (a job, the launcher's composing).
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
import time

import pytest

from _cli import client, run_cli_patched
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


# -- an interrupt that a library turned into another error -----------------------------------


def _interrupted_in_a_library() -> None:
    """What OmegaConf did in CI: a KeyboardInterrupt landed in a half-made assignment, and the
    cleanup run as it unwound raised an AttributeError of its own."""
    try:
        raise KeyboardInterrupt("signal SIGINT")
    finally:
        None.cleanup()  # type: ignore[attr-defined]


def _error_behind_interrupt() -> BaseException:
    try:
        _interrupted_in_a_library()
    except AttributeError as error:
        return error
    raise AssertionError("no AttributeError")


def test_an_error_raised_as_an_interrupt_unwound_has_that_interrupt_behind_it():
    error = _error_behind_interrupt()
    assert str(interrupts.behind(error)) == "signal SIGINT"
    try:  # hidden by `raise ... from None`, as a refusal made of it would be
        try:
            raise error
        except AttributeError:
            raise ValueError("the sweep could not start") from None
    except ValueError as refusal:
        assert str(interrupts.behind(refusal)) == "signal SIGINT"
    assert interrupts.behind(ValueError("plain")) is None and interrupts.behind(None) is None


def test_an_error_with_an_interrupt_behind_it_is_raised_as_the_interrupt():
    error = _error_behind_interrupt()
    with pytest.raises(KeyboardInterrupt, match="signal SIGINT") as raised:
        interrupts.raise_if_behind(error)
    assert raised.value.__cause__ is error  # what it came out as stays readable
    interrupts.raise_if_behind(ValueError("plain"))  # nothing behind: nothing raised
    interrupts.raise_if_behind(None)
    itself = KeyboardInterrupt("signal SIGTERM")
    with pytest.raises(KeyboardInterrupt) as raised:
        interrupts.raise_if_behind(itself)
    assert raised.value is itself
    with pytest.raises(KeyboardInterrupt), interrupts.as_interrupts():
        _interrupted_in_a_library()
    with pytest.raises(ValueError), interrupts.as_interrupts():
        raise ValueError("a plain error stays itself")


def test_a_cycle_of_contexts_ends_the_search():
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert interrupts.behind(first) is None


INTERRUPTED_IN_A_LIBRARY = """
from pipeline import composing, job

module, name = {"job": (job, "record_training"), "launcher": (composing.JobComposer, "take")}[WHERE]
calls = []

def interrupted_the_second_time(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # the first job finished whole
        try:
            raise KeyboardInterrupt("signal SIGINT")
        finally:
            None.cleanup()  # a library's cleanup fails as the interrupt unwinds it (OmegaConf)
    return original(*args, **kwargs)

original = getattr(module, name)
setattr(module, name, interrupted_the_second_time)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "where, launcher, children",
    [
        ("job", "batched", ["FINISHED", "KILLED"]),  # the second job's run was open: KILLED
        ("job", "basic", ["FINISHED", "KILLED"]),
        ("launcher", "batched", ["FINISHED"]),  # composing the second chunk's job (CI, Python 3.13)
    ],
)
def test_an_interrupt_a_library_turned_into_another_error_ends_the_sweep_as_interrupted(
    tmp_path, where, launcher, children
):
    """Before, Hydra's run_job kept the error as the job's failure and ran the rest of the grid,
    or the command ended with a traceback and exit status 1."""
    sweep = ["-m", "optim.lr=0.1,0.2,0.3", "train.steps=50", "train.log_every=25", "tracking.plots=false"]
    sweep += [f"hydra/launcher={launcher}", *(["hydra.launcher.chunk_size=1"] if launcher == "batched" else [])]
    result = run_cli_patched(tmp_path, INTERRUPTED_IN_A_LIBRARY.replace("WHERE", repr(where)), *sweep)
    assert result.returncode == 130, result.stderr[-2000:]
    assert "interrupted: runs so far are kept in MLflow" in result.stderr and "Traceback" not in result.stderr
    mlflow = client(tmp_path)
    runs = mlflow.search_runs([mlflow.get_experiment_by_name("Default").experiment_id])
    parent = [run.info.status for run in runs if run.data.tags.get("sweep") == "parent"]
    assert parent == ["KILLED"]  # and the third job never started
    children_runs = [run for run in runs if run.data.tags.get("sweep") != "parent"]
    assert sorted(run.info.status for run in children_runs) == children
    for run in children_runs:  # the interrupt is the reason, not the error it came out as
        if run.info.status == "KILLED":
            assert run.data.tags["failure_reason"] == "KeyboardInterrupt: signal SIGINT", run.data.tags
