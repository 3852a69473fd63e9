"""Ctrl-C and SIGTERM: one path (KeyboardInterrupt), never in the middle of a write to the store.

An interrupt that lands inside a write to the tracking store (an SQLAlchemy commit, a file
upload) could leave a connection or the SQLite file locked, and then the run could not be
ended KILLED. So the command's handler raises KeyboardInterrupt at once, except inside
`deferred()`, where it is held until the write is done and raised right after.

An interrupt raised inside a library can come out as another error: OmegaConf's cleanup, run
while a KeyboardInterrupt unwinds a half-made assignment, raises an AttributeError of its own.
That error still means the command was interrupted (`behind`), and every handler that would
report or go past an error first raises the interrupt behind it (`raise_if_behind`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
from typing import Iterator, Optional

_depth = 0
_pending: Optional[str] = None


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _handler(signum, frame) -> None:  # Python runs signal handlers in the main thread
    global _pending
    name = signal.Signals(signum).name
    if _depth:
        _pending = name  # raised when the main thread's write ends
        return
    if _swallowed_at(frame):
        # Raised here, it would be printed and dropped ("Exception ignored in ..."), and the
        # command would go on: the signal is sent again, to land once this callback returns.
        threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()
        return
    raise KeyboardInterrupt(f"signal {name}")


def _swallowed_at(frame) -> bool:
    """Inside a garbage-collector callback (JAX registers one) or a `__del__`, where Python
    reports an exception and drops it."""
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def install() -> None:
    """SIGINT and SIGTERM (a scheduler, `kill`) both interrupt, both through `_handler`."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # a background job of a shell ignores SIGINT
            signal.signal(sig, _handler)


def hold() -> None:
    """Hold interrupts from now until `release` (the command's imports). Only the main thread's
    holds count: an interrupt held for another thread's write would be raised in that thread,
    where it would end nothing."""
    global _depth
    if _in_main_thread():
        _depth += 1


def release() -> None:
    """Stop holding; an interrupt held meanwhile is raised now."""
    global _depth, _pending
    if not _in_main_thread():
        return
    _depth -= 1
    if not _depth and _pending is not None:
        name, _pending = _pending, None
        raise KeyboardInterrupt(f"signal {name}")


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold an interrupt that arrives inside this block until its end."""
    hold()
    try:
        yield
    finally:
        release()


def behind(error: Optional[BaseException]) -> Optional[KeyboardInterrupt]:
    """The KeyboardInterrupt `error` is, or was raised while handling (its __cause__ or
    __context__, however far back, also where `raise ... from None` hid it); None if none."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def raise_if_behind(error: Optional[BaseException]) -> None:
    """Raise the interrupt behind `error`, if there is one: an interrupted command must end as
    interrupted (exit status 130, its runs KILLED), not as a failed job or a refusal."""
    interrupt = behind(error)
    if interrupt is None:
        return
    if interrupt is error:
        raise interrupt
    raise KeyboardInterrupt(*interrupt.args) from error  # what it came out as, kept as its cause


@contextlib.contextmanager
def as_interrupts() -> Iterator[None]:
    """An error raised out of this block with an interrupt behind it is raised as that interrupt."""
    try:
        yield
    except BaseException as error:
        raise_if_behind(error)
        raise
