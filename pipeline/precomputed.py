"""Where a batching launcher leaves each job's training for the job itself to record.

The batched launcher (pipeline/batching.py) trains a whole group of jobs as one program,
then runs every job through Hydra's own job machinery; the job (`pipeline.run.train`) takes
its already-computed training from here, by config hash, instead of training again, and
records it exactly as a job trained alone would be recorded.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

_waiting: dict[str, Callable[[], Any]] = {}


def offer(config_hash: str, make: Callable[[], Any]) -> None:
    """Leave the training of the job with `config_hash`; `make()` gives it (blocking until ready)."""
    _waiting[config_hash] = make


def is_offered(config_hash: str) -> bool:
    """Whether a launcher left this job's training (it has checked already that it must train)."""
    return config_hash in _waiting


def take(config_hash: str) -> Optional[Any]:
    """The training left for this job (a pipeline.run.Trained), or None: then the job trains alone."""
    make = _waiting.pop(config_hash, None)
    return make() if make is not None else None
