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


class InputRefused(SystemExit):
    """Bad input, refused by pipeline/admission.py before anything trains or any run exists.

    A SystemExit, because Hydra's callback runner turns every Exception into a mere warning
    and goes on, and Hydra's `run_job` records an Exception as a failed job; this one must
    stop the command. `main` prints `error: <message>` and exits 2.
    """

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


# -- the command's exit status -------------------------------------------------------------
#
# A job that ends FAILED (diverged, a failed gradient check) is recorded and the sweep goes
# on; the command still has to say so in its exit status (1) once everything is recorded.
# Whoever sees a job end FAILED in this process calls `record_failed_job`; `__main__` reads
# `failed_jobs()` after Hydra returns. (The job's own process: pipeline/__main__.hydra_main
# for a run or an in-process launcher; the sweep's callback for a parent run that ended FAILED.)

_failed: list[str] = []


def record_failed_job(description: str) -> None:
    """Note that a job (or a sweep's parent run) of this command ended FAILED."""
    _failed.append(description)


def failed_jobs() -> list[str]:
    """What `record_failed_job` noted in this process, in order."""
    return list(_failed)


def forget_failed_jobs() -> None:
    """Start counting again (tests that run several commands in one process)."""
    _failed.clear()


def one_line(error: BaseException) -> str:
    """The error's message on one line, with its cause when that says more (Hydra's type errors).

    Hydra's multi-line messages are joined, its config-search-path listing is dropped, and
    an unknown key gets the closest known key suggested.
    """
    text = str(error).split("Config search path:")[0]
    cause = error.__cause__
    if cause is not None and str(cause).strip():
        text += "\n" + str(cause).splitlines()[0]
    lines = [line.strip().rstrip(".") for line in text.splitlines() if line.strip()]
    message = "; ".join(dict.fromkeys(lines)) or type(error).__name__
    # "Available options in 'model':; deep; logistic" -> "...: deep, logistic"
    if "Available options in" in message and ":; " in message:  # (not again: one_line of one_line is itself)
        head, options = message.split("Available options in", 1)
        label, _, names = options.partition(":; ")
        message = f"{head}Available options in{label}: {', '.join(names.split('; '))}"
    unknown = re.search(r"Could not override '([\w.]+)'", message)
    if unknown and unknown.group(1) in ("experiment", "lesson"):
        group = unknown.group(1)
        typed = re.search(rf"\+{group}=([^\s;]+)", message)
        name = typed.group(1) if typed else "NAME"
        return (
            f"{group}={name} selects a file of conf/{group}/ that the defaults do not name; add it with a +: "
            f"python -m pipeline +{group}={name}"
        )
    if unknown and unknown.group(1).startswith("lesson."):
        return (
            f"{unknown.group(1)} is a lesson's key, and no lesson was given; add one with a +: "
            f"python -m pipeline +lesson=NAME {unknown.group(1)}=..."
        )
    if unknown:
        rest = [part for part in message.split("; ")[1:] if not part.startswith("To append")]
        message = "; ".join([f"unknown key '{unknown.group(1)}'{key_suggestion(unknown.group(1))}", *rest])
    return message


def key_suggestion(key: str) -> str:
    """ "; did you mean 'model.hidden'?" for a near miss of a key of the schema, else ""."""
    import difflib

    from pipeline.config import schema_keys

    close = difflib.get_close_matches(key, schema_keys(), n=1, cutoff=0.75)
    return f"; did you mean '{close[0]}'?" if close else ""
