"""Sweeps: the parent MLflow run and how each job finds it."""

from __future__ import annotations

from typing import Optional


def parent_run_id_for_job() -> Optional[str]:
    return None
