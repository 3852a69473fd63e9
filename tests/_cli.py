"""Running the real command line in a temporary directory, and reading its MLflow store back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

PROJECT_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def run_cli(cwd: Path, *overrides: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m pipeline OVERRIDES` in `cwd`, as a user would type it; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *overrides],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def client(cwd: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{cwd}/mlflow.db")


def runs(cwd: Path, experiment: str):
    """mlflow.search_runs of the store the command wrote in `cwd` (a pandas DataFrame)."""
    mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlflow.db")
    try:
        return mlflow.search_runs(experiment_names=[experiment])
    finally:
        mlflow.set_tracking_uri(None)
