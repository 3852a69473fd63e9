"""A job's numbers depend on its config alone, through the real command line: the same bits
alone (`python -m pipeline <its overrides>`) as in a sweep under the batched, basic and joblib
launchers, in float32 and in float64. Each invocation is its own process with its own empty JAX
compilation cache, so nothing is shared but the config: every program is compiled anew.

On an accelerator machine, `PIPELINE_TEST_DEVICE=gpu pytest tests/test_invariance.py` checks the
same there (`benchmarks/gpu_session.sh` does); every run must have run on that device.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from _cli import client, run_cli, runs

pytestmark = pytest.mark.slow

DEVICE = os.environ.get("PIPELINE_TEST_DEVICE", "cpu")
QUICK = ["train.steps=300", "train.log_every=50", "tracking.plots=false", f"device={DEVICE}"]
GRID = ["model.activation=relu", "model.hidden=3,20", "optim.lr=0.5,1.2", "train.dtype=float32,float64"]
ALONE = [
    ("model.hidden=3", "optim.lr=1.2", "train.dtype=float32"),
    ("model.hidden=20", "optim.lr=0.5", "train.dtype=float64"),
]
RECORDED = (
    "loss",
    "train_accuracy",
    "val_accuracy",
    "grad_norm_W1",
    "grad_norm_W2",
    "gradcheck_rel_error",
    "gradcheck_fd_rel_error",
)


def recorded(where: Path, experiment: str) -> dict[str, dict]:
    """Every FINISHED child or single run, by config hash: its metric histories and params.npz bytes."""
    table = runs(where, experiment)
    store = client(where)
    out = {}
    for _, row in table[table["status"] == "FINISHED"].iterrows():
        if row.get("tags.sweep") == "parent":
            continue
        run_id = row["run_id"]
        assert row["tags.jax.backend"] == DEVICE, (row["tags.jax.backend"], row["tags.jax.device"])
        histories = {name: [(m.step, m.value) for m in store.get_metric_history(run_id, name)] for name in RECORDED}
        params = np.load(store.download_artifacts(run_id, "params.npz", str(where)))
        out[row["tags.config_hash"]] = {"histories": histories, "params": {k: params[k] for k in params.files}}
    return out


def assert_same_bits(a: dict, b: dict) -> None:
    for name, history in a["histories"].items():
        assert history and history == b["histories"][name], name  # Python floats compare exactly
    assert a["params"].keys() == b["params"].keys()
    for name, value in a["params"].items():
        assert value.dtype == b["params"][name].dtype and value.tobytes() == b["params"][name].tobytes(), name


def own_compilation_cache(where: Path) -> dict[str, str]:
    """An empty JAX compilation cache for one invocation: no program comes from another's."""
    return {"JAX_COMPILATION_CACHE_DIR": str(where / "jax-cache")}


def build_sweeps(tmp_path_factory) -> dict[str, dict]:
    """The same 8-job grid under each launcher, and two of its jobs run alone."""
    results = {}
    for launcher in ("batched", "basic", "joblib"):
        where = tmp_path_factory.mktemp(launcher)
        extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
        done = run_cli(
            where,
            "-m",
            *QUICK,
            *GRID,
            f"hydra/launcher={launcher}",
            *extra,
            "tracking.experiment=invariance",
            env=own_compilation_cache(where),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results[launcher] = recorded(where, "invariance")
        assert len(results[launcher]) == 8
    alone = {}
    for overrides in ALONE:
        where = tmp_path_factory.mktemp("alone")
        done = run_cli(
            where,
            *QUICK,
            "model.activation=relu",
            *overrides,
            "tracking.experiment=invariance",
            env=own_compilation_cache(where),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        alone.update(recorded(where, "invariance"))
    results["alone"] = alone
    return results


def test_every_launcher_and_a_job_alone_record_the_same_bits(tmp_path_factory):
    # One test, not two sharing a module fixture: with pytest 9.2, pytest-xdist 3.8's
    # `--dist loadgroup` no longer keeps an xdist_group on one worker (pytest-dev/pytest-xdist#1386),
    # and two workers each built the sweeps.
    sweeps = build_sweeps(tmp_path_factory)
    reference = sweeps["batched"]
    for launcher in ("basic", "joblib"):
        assert sweeps[launcher].keys() == reference.keys(), launcher
        for config_hash, recorded_run in reference.items():
            assert_same_bits(recorded_run, sweeps[launcher][config_hash])
    # A job alone: the same config, so the same hash, and the same bits.
    assert len(sweeps["alone"]) == len(ALONE)
    for config_hash, recorded_run in sweeps["alone"].items():
        assert config_hash in reference
        assert_same_bits(recorded_run, reference[config_hash])
