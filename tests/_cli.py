"""Running the real command line in a temporary directory, and reading its MLflow store back."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

PROJECT_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def run_cli(
    cwd: Path, *overrides: str, timeout: int = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m pipeline OVERRIDES` in `cwd`, as a user would type it; output captured. `env`:
    variables to set for it, beside this process's."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )


def run_cli_patched(cwd: Path, patch: str, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`run_cli`, with `patch` (Python: imports of pipeline modules and the attributes it
    replaces) run first in the command's own process, to make a fault happen where it could."""
    script = cwd / "patched_pipeline.py"
    script.write_text(
        f"{patch}\n"
        "import runpy, sys\n"
        'sys.argv = ["pipeline", *sys.argv[1:]]\n'
        'runpy.run_module("pipeline", run_name="__main__", alter_sys=True)\n'
    )
    return subprocess.run(
        [sys.executable, str(script), *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


@functools.lru_cache(maxsize=1)
def _default_sigint() -> list[str]:
    """GNU env's `--default-signal=INT` where there is one (coreutils 8.31+): it resets SIGINT to
    its default, then runs the command. Not a preexec_fn: that would fork this multithreaded
    process (JAX's threads) and run Python in the child before exec."""
    try:
        ok = subprocess.run(["env", "--default-signal=INT", "true"], capture_output=True).returncode == 0
    except OSError:
        ok = False
    return ["env", "--default-signal=INT"] if ok else []


def start_cli(cwd: Path, *overrides: str) -> subprocess.Popen:
    """`python -m pipeline OVERRIDES` started in `cwd`, output piped, as from a terminal's
    foreground: SIGINT at its default even when the tests run as a background job (which
    inherits it ignored, and the command rightly keeps it ignored then), so that the tests'
    Ctrl-C reaches it as a user's would."""
    return subprocess.Popen(
        [*_default_sigint(), sys.executable, "-m", "pipeline", *overrides],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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


def assert_refused(result: subprocess.CompletedProcess, cwd: Path, *named: str) -> str:
    """Bad input: exit 2, one line on stderr, "error: ..." naming each of `named`, no traceback,
    and no MLflow run created (the store may not even exist). Returns the line."""
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in named:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in result.stderr
    if (cwd / "mlflow.db").exists():
        assert all(len(runs(cwd, e.name)) == 0 for e in client(cwd).search_experiments())
    return lines[0]
