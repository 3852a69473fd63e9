"""The hand-off from a launcher to the jobs it launches through Hydra's `run_job`.

Hydra calls a job's task function with its config alone. The batched launcher
(hydra_plugins/batched_launcher) has already decided, for the whole sweep at once, which
jobs resume an earlier run and has dispatched the training of the others; it leaves each
job's share here, keyed by the job's config hash, and the job (pipeline/job.py) takes it.
A job that finds nothing here (a run alone, the basic, joblib or submitit launchers)
decides and trains for itself, through the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pipeline.batching import TakeTrained


@dataclass(frozen=True)
class HandedOver:
    """What a launcher decided and computed for one job."""

    resume: bool  # a FINISHED run of this config exists: the job reuses it and trains nothing
    trained: Optional[TakeTrained] = None  # the job's training (blocks until it is done)


_handed: dict[str, HandedOver] = {}


def hand_over(config_hash: str, handed: HandedOver) -> None:
    _handed[config_hash] = handed


def expecting() -> bool:
    """Whether anything is waiting here: a job looks itself up only then (by its config hash)."""
    return bool(_handed)


def take(config_hash: str) -> Optional[HandedOver]:
    """What the launcher left for this job, or None: then the job decides and trains itself."""
    return _handed.pop(config_hash, None)
