"""What makes a run reproducible: its config hash, the code's git commit, the package versions."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

from omegaconf import DictConfig, OmegaConf

from pipeline.data import command_path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "jax",
    "jaxlib",
    "optax",
    "numpy",
    "hydra-core",
    "omegaconf",
    "mlflow",
    "scikit-learn",
    "matplotlib",
    "optuna",
)

# Keys that say where results go or how a sweep is run, not what a run computes: two runs
# that differ only here are the same experiment, so they share a config hash.
NOT_HASHED = ("tracking", "hydra", "resume", "sweep")


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The job's config as plain data, interpolations resolved, Hydra's own node left out
    (and not resolved: a launcher asks before Hydra has filled in the job's runtime values)."""
    # A training run has no lesson (+lesson=NAME runs pipeline/lessons.py instead): leaving the
    # empty node out keeps it out of the run's params and its config hash.
    return {
        # omegaconf types a DictConfig's keys as any DictKeyType; a composed Hydra config's are str.
        key: OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]  # type: ignore[misc]
        for key in cfg
        if key != "hydra" and not (key == "lesson" and cfg[key] is None)
    }


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"hidden": 4}} -> {"model.hidden": 4}: the params MLflow shows as columns."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def config_hash(cfg: DictConfig, resolved: Optional[Mapping[str, Any]] = None) -> str:
    """sha256 of the config's result-determining keys, in a canonical (sorted) form; `resolved`
    is `resolved_config(cfg)`, when the caller has it already."""
    resolved = resolved_config(cfg) if resolved is None else resolved
    plain = {k: v for k, v in resolved.items() if k not in NOT_HASHED}
    flat = flatten(plain)
    table = command_path(flat["data.path"]) if flat.get("data.name") == "csv" and flat.get("data.path") else None
    if table is not None and table.is_file():
        # A user's table can change under the same path: the hash covers its contents (the file
        # the job reads: relative to the folder the command started in, whatever folder it runs in).
        flat["data.file_sha256"] = hashlib.sha256(table.read_bytes()).hexdigest()
    canonical = "\n".join(f"{k}={v!r}" for k, v in sorted(flat.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()


@lru_cache(maxsize=1)
def git_state() -> dict[str, str]:
    """The project's commit and whether the working tree had changes ("unknown" outside git)."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower() if commit != "unknown" else "unknown"}


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def command_line() -> str:
    """The command as the user typed it (`python -m pipeline ...`), for re-running a run."""
    program = sys.argv[0]
    if Path(program).name == "__main__.py" and Path(program).parent.name == "pipeline":
        program = "python -m pipeline"
    return " ".join([program, *(shlex.quote(a) for a in sys.argv[1:])])
