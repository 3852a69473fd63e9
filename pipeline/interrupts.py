"""Ctrl-C and SIGTERM: one path (KeyboardInterrupt), never in the middle of a write to the store.

An interrupt that lands inside a write to the tracking store (an SQLAlchemy commit, a file
upload) could leave a connection or the SQLite file locked, and then the run could not be
ended KILLED. So the command's handler raises KeyboardInterrupt at once, except inside
`deferred()`, where it is held until the write is done and raised right after.
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
