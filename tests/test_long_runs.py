"""Long runs through the real command line: progress while they train, metrics in MLflow as
they come, a prompt end on Ctrl-C / SIGTERM, and a SIGKILLed run continued from its checkpoint
into the same run, with the bits of a run never interrupted."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from _cli import client, runs, start_cli

pytestmark = pytest.mark.slow

LONG = ["train.steps=1000000", "train.log_every=1000", "tracking.plots=false"]


def wait_for_points(cwd: Path, at_least: int, timeout: float = 120) -> int:
    """Waits until the run has logged `at_least` loss points (live, while it trains). Read with
    sqlite3, not MLflow: an MLflow client opening a store that the command is still creating
    would try to create the schema too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{cwd / 'mlflow.db'}?mode=ro", uri=True) as db:
                points = db.execute("SELECT COUNT(*) FROM metrics WHERE key = 'loss'").fetchone()[0]
        except sqlite3.Error:  # not created yet
            points = 0
        if points >= at_least:
            return points
        time.sleep(0.5)
    raise AssertionError(f"fewer than {at_least} points logged in {timeout} s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_ends_a_long_run_within_seconds_and_keeps_its_metrics(tmp_path, sig):
    process = start_cli(tmp_path, "train.steps=100000000", "train.log_every=1000", "tracking.plots=false")
    seen = wait_for_points(tmp_path, 3)  # metrics arrive while it trains
    sent = time.monotonic()
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert time.monotonic() - sent < 5, "the run did not end promptly"
    assert process.returncode == 130, stderr[-2000:]
    table = runs(tmp_path, "Default")
    assert list(table["status"]) == ["KILLED"]
    assert len(client(tmp_path).get_metric_history(table.iloc[0]["run_id"], "loss")) >= seen
    assert "step " in stderr and "eta" in stderr  # a progress line off a terminal, after the first segment


def test_a_sigkilled_run_continues_from_its_checkpoint_with_the_bits_of_an_unbroken_run(tmp_path):
    killed, unbroken = tmp_path / "killed", tmp_path / "unbroken"
    killed.mkdir(), unbroken.mkdir()
    process = start_cli(killed, *LONG)
    wait_for_points(killed, random.randint(3, 8))
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert list(runs(killed, "Default")["status"]) == ["RUNNING"]  # what a SIGKILL leaves
    assert list((killed / ".checkpoints").glob("*.npz"))
    # The continuation and the unbroken run side by side (whatever runs beside a job changes no bit).
    again, whole = start_cli(killed, *LONG), start_cli(unbroken, *LONG)
    for process in (again, whole):
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-2000:]

    def recorded(where: Path):
        table = runs(where, "Default")
        assert list(table["status"]) == ["FINISHED"]  # continued into the same run, not a second one
        run_id = table.iloc[0]["run_id"]
        store = client(where)
        history = [(m.step, m.value) for m in store.get_metric_history(run_id, "loss")]
        params = np.load(store.download_artifacts(run_id, "params.npz", str(where)))
        config = {k: v for k, v in table.iloc[0].items() if k.startswith("params.")}  # the run's MLflow params
        return history, {k: params[k].tobytes() for k in params.files}, config

    (history, params, config), (unbroken_history, unbroken_params, unbroken_config) = (
        recorded(killed),
        recorded(unbroken),
    )
    assert sorted(history) == unbroken_history  # every step once, the same values
    assert params == unbroken_params
    assert config == unbroken_config and config["params.model.hidden"]  # its params, whenever it was killed
    assert not list((killed / ".checkpoints").glob("*.npz"))  # removed once the run finished
