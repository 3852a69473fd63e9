"""Nothing lost, nothing confusing: interruption, concurrent writers, a soak test with bad input.

(Each kind of bad input is run once through the command line in tests/test_cli.py.)

All through the real command line in temporary directories, read back from MLflow.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _cli import assert_refused, client, run_cli, runs, start_cli

pytestmark = pytest.mark.slow

TINY = ("train.steps=200", "train.log_every=50", "tracking.plots=false")


# -- interruption ------------------------------------------------------------------------------

# Long enough (about 20 s) that a signal 3-14 s in always lands mid-sweep; its jobs train in
# segments, so a SIGKILLed job continues from its checkpoint on the rerun.
SWEEP = (
    "+experiment=relu_sweep",
    "hydra/launcher=basic",
    "train.steps=300000",
    "train.log_every=1000",
    "model.hidden=1,2,3",
    "optim.lr=0.1,1.2",
)
N_CONFIGS = 6


def start_sweep(cwd: Path) -> subprocess.Popen:
    return start_cli(cwd, *SWEEP)


def finished_configs(cwd: Path) -> list[str]:
    table = runs(cwd, "relu_sweep")
    if "tags.mlflow.parentRunId" not in table.columns:  # interrupted before its first child run
        return []
    children = table[table["tags.mlflow.parentRunId"].notna() & (table["status"] == "FINISHED")]
    return list(children["tags.config_hash"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_interrupted_sweep_keeps_its_runs_and_one_rerun_completes_it(tmp_path, sig):
    # A random point: from before the first job (parent only) to the middle of the sweep.
    delay = random.Random(f"{sig.name}-{os.getpid()}").uniform(3.0, 14.0)
    process = start_sweep(tmp_path)
    time.sleep(delay)
    sent = time.monotonic()
    process.send_signal(sig)
    process.communicate(timeout=60)
    assert time.monotonic() - sent < 30, "the command did not exit promptly"
    if sig != signal.SIGKILL:
        assert process.returncode == 130, process.returncode  # an interrupt, not a success or a failure
    if sig != signal.SIGKILL and (tmp_path / "mlflow.db").exists():
        statuses = set(runs(tmp_path, "relu_sweep")["status"])
        assert "RUNNING" not in statuses  # the job's run and the parent were ended KILLED
    before = finished_configs(tmp_path) if (tmp_path / "mlflow.db").exists() else []

    rerun = run_cli(tmp_path, *SWEEP)
    assert rerun.returncode == 0, rerun.stderr
    after = finished_configs(tmp_path)
    assert len(after) == N_CONFIGS and len(set(after)) == N_CONFIGS  # exactly one FINISHED run per config
    assert set(before) <= set(after)  # nothing that had finished was lost or retrained
    parents = runs(tmp_path, "relu_sweep")
    newest = parents[parents["tags.mlflow.parentRunId"].isna()].sort_values("start_time").iloc[-1]
    assert newest["status"] == "FINISHED"


# -- concurrent writers ------------------------------------------------------------------------


def test_joblib_workers_write_into_one_sqlite_store(tmp_path):
    result = run_cli(
        tmp_path,
        "+experiment=relu_sweep",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *TINY,
        "model.hidden=1,2",
        "optim.lr=0.1,0.5,1.2",
        "hydra.sweep.dir=one_folder",
    )
    assert result.returncode == 0, result.stderr
    assert "database is locked" not in result.stderr
    # each worker's progress line counts the sweep's jobs, not its own: [1/6] ... [6/6], once each
    places = sorted(int(m[1]) for m in re.finditer(r"^\[(\d+)/6\] ", result.stdout, re.MULTILINE))
    assert places == [1, 2, 3, 4, 5, 6], result.stdout
    again = run_cli(
        tmp_path,
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *TINY,
        "model.hidden=1,2",
        "hydra.sweep.dir=one_folder",
        "tracking.experiment=again",
    )
    assert again.returncode == 0, again.stderr
    assert sorted(re.findall(r"^\[(\d+)/2\] ", again.stdout, re.MULTILINE)) == ["1", "2"], again.stdout  # afresh
    table = runs(tmp_path, "relu_sweep")
    children = table[table["tags.mlflow.parentRunId"].notna()]
    assert len(children) == 6 and set(children["status"]) == {"FINISHED"}
    assert set(children["tags.mlflow.parentRunId"]) == set(table[table["tags.mlflow.parentRunId"].isna()]["run_id"])


def test_two_sweeps_at_once_into_one_new_store(tmp_path):
    commands = [
        [sys.executable, "-m", "pipeline", "+experiment=relu_sweep", *TINY, f"model.hidden={h}", "optim.lr=0.1,0.5,1.2"]
        for h in ("1,2", "3,4")
    ]
    processes = [
        subprocess.Popen(c, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
        assert "database is locked" not in stderr
    experiments = [e.name for e in client(tmp_path).search_experiments()]
    assert experiments.count("relu_sweep") == 1  # created once
    table = runs(tmp_path, "relu_sweep")
    children = table[table["tags.mlflow.parentRunId"].notna()]
    assert len(children) == 12 and set(children["status"]) == {"FINISHED"}
    assert (table["tags.mlflow.parentRunId"].isna()).sum() == 2


# -- soak --------------------------------------------------------------------------------------


def test_soak_200_jobs_with_failures_injected_at_random(tmp_path):
    rng = random.Random(2026)
    rates = [round(0.05 * i, 2) for i in range(1, 21)]
    doomed = set(rng.sample(range(len(rates)), 5))  # these learning rates are made to diverge
    rates = [1e9 if i in doomed else lr for i, lr in enumerate(rates)]
    soak = (
        "+experiment=relu_sweep",
        "model.init=he",
        "model.hidden=4",
        "train.steps=50",
        "train.log_every=25",
        "tracking.plots=false",
    )
    # First the same grid with 50 more jobs of mixed bad values (5 learning rates × 10 seeds),
    # at random places in it: refused whole, up front, and the store holds no run.
    bad = ["-1", "0", "nan", "inf", "-0.5"]
    mixed = list(map(str, rates))
    for value in bad:
        mixed.insert(rng.randrange(len(mixed) + 1), value)
    refused = run_cli(tmp_path, *soak, "optim.lr=" + ",".join(mixed), "train.seed=range(0,10)", timeout=1200)
    assert_refused(refused, tmp_path, "optim.lr=", "in the sweep's job")
    # Then the 200 jobs: 50 diverge and end FAILED, the sweep goes on; the command exits 1.
    result = run_cli(tmp_path, *soak, "optim.lr=" + ",".join(map(str, rates)), "train.seed=range(0,10)", timeout=1200)
    assert result.returncode == 1, result.stderr[-3000:]
    table = runs(tmp_path, "relu_sweep")
    assert len(table) == 201  # exactly: 200 children and their parent, nothing from the refused command
    children = table[table["tags.mlflow.parentRunId"].notna()]
    assert len(children) == 200
    failed = children[children["status"] == "FAILED"]
    assert len(failed) == 5 * 10
    assert set(failed["params.optim.lr"]) == {"1000000000.0"}
    assert (children["status"] == "FINISHED").sum() == 150
    parent = table[table["tags.mlflow.parentRunId"].isna()].iloc[0]
    assert parent["metrics.n_failed"] == 50 and parent["metrics.n_finished"] == 150
    assert parent["status"] == "FAILED"
