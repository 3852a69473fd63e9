"""Errors the user reads, and how they are turned into one line."""

from __future__ import annotations

import re
from typing import Optional


class RunFailure(Exception):
    """A run that cannot finish (diverged, gradient check failed).

    Recorded as FAILED with the reason and `tags`; a sweep goes on with its other jobs.
    """

    def __init__(self, reason: str, tags: Optional[dict[str, str]] = None):
        super().__init__(reason)
        self.tags = tags or {}


def one_line(error: BaseException) -> str:
    """The error's message on one line: Hydra's multi-line messages joined, blank lines dropped."""
    text = str(error).strip() or type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = "; ".join(lines)
    # Hydra lists options as "Available options in 'model':; deep; logistic": make that a list.
    joined = re.sub(r"(Available options in '[^']+':); ", r"\1 ", joined)
    return re.sub(r"(?<=[A-Za-z0-9_]); (?=[a-z0-9_]+(;|$))", ", ", joined)
