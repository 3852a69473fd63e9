"""Tests for pipeline.write_behind: a Tracker's writes made by a writer process, against a real
SQLite store; the batched launcher's choice of when to write behind; a grid written behind
through the real command line, whole and interrupted."""

from __future__ import annotations

import os
import signal
import sqlite3
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from _cli import client, run_cli, run_cli_patched, start_cli
from hydra_plugins.batched_launcher.batched_launcher import BatchedLauncher
from pipeline import tracking
from pipeline.tracking import Tracker
from pipeline.write_behind import StoreWriteFailed


@pytest.fixture
def tracker(store):
    """A Tracker on a new store, writing behind; its writer stopped after the test."""
    tracker = Tracker(store.uri)
    tracker.write_behind()
    yield tracker
    tracking.finish_writes()


def writer_pid(tracker: Tracker) -> int:
    assert tracker._behind is not None
    return tracker._behind._warm.result(timeout=60)  # the writer has opened the store


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_writes_are_made_by_another_process_and_read_back_in_order(tracker):
    parent = tracker.start_run("behind", "parent", {})
    started = time.time() * 1000
    run_id = tracker.start_run("behind", "r", {"kind": "test"}, parent_run_id=parent)
    points = [("loss", 1.0 / (step + 1), step) for step in range(50)]
    tracker.log_batch(run_id, metrics=points, params={"lr": 0.5}, tags={"note": "first"})
    tracker.set_tags(run_id, {"note": "second"})  # a later write to the same run wins, as in line
    tracker.end_run(run_id, "FINISHED")

    record = tracker.get_run(run_id)  # a read waits for the writes handed over
    assert record.status == "FINISHED" and record.run_name == "r"
    assert record.params["lr"] == "0.5" and record.tags["note"] == "second"
    assert record.tags["mlflow.parentRunId"] == tracker.real_run_id(parent)
    assert started - 1 <= record.start_time <= started + 1000  # when it was started here, not when written
    assert [p.step for p in tracker.metric_history(run_id, "loss")] == list(range(50))
    assert writer_pid(tracker) != os.getpid()
    assert tracker._behind is not None and tracker._behind.written == 5  # two runs created, three writes


def test_a_run_created_behind_has_a_provisional_id_until_the_writer_made_it(tracker):
    run_id = tracker.start_run("behind", "r", {})
    assert run_id.startswith(tracking.PROVISIONAL_PREFIX)
    real = tracker.real_run_id(run_id)  # waits for the writer
    assert real != run_id and len(real) == 32 and tracking.real_run_id(run_id) == real
    with sqlite3.connect(tracking.sqlite_path(tracker.uri)) as db:
        assert db.execute("SELECT name, status FROM runs WHERE run_uuid = ?", (real,)).fetchone() == ("r", "RUNNING")
    assert tracking.real_run_id("0123abcd") == "0123abcd"  # a store's own id, as it is
    tracker.end_run(run_id, "FINISHED")
    assert tracker.get_run(real).status == "FINISHED"


def test_a_runs_files_are_handed_to_the_writer_and_removed_once_uploaded(tracker, tmp_path):
    run_id = tracker.start_run("behind", "r", {})
    (tmp_path / "files").mkdir()
    files = tempfile.TemporaryDirectory(dir=tmp_path / "files")
    (Path(files.name) / "params.npz").write_bytes(b"x" * 100)
    (Path(files.name) / "resolved_config.yaml").write_text("a: 1\n")
    tracker.log_artifacts(run_id, files.name, remove=True)
    files.cleanup()  # the caller's own clean-up, at once: the folder is the writer's now
    tracker.end_run(run_id, "FINISHED")

    with tempfile.TemporaryDirectory() as back:
        assert tracker.download_artifacts(run_id, "params.npz", Path(back)).read_bytes() == b"x" * 100
    assert list((tmp_path / "files").iterdir()) == []  # the folder handed over was removed once uploaded


def pid_file(folder: str, name: str) -> None:
    """A file that says which process made it."""
    (Path(folder) / name).write_text(str(os.getpid()))


def test_a_runs_files_are_made_by_the_writer_then_uploaded(tracker, tmp_path):
    run_id = tracker.start_run("behind", "r", {})
    files = tempfile.TemporaryDirectory(dir=tmp_path)
    tracker.log_artifacts(run_id, files.name, remove=True, make=[(pid_file, ("made_by.txt",))])
    files.cleanup()
    tracker.end_run(run_id, "FINISHED")
    with tempfile.TemporaryDirectory() as back:
        made_by = tracker.download_artifacts(run_id, "made_by.txt", Path(back)).read_text()
    assert int(made_by) == writer_pid(tracker) != os.getpid()  # the sweep's process went on meanwhile


def test_a_run_the_writer_created_unconfirmed_is_found_not_created_twice(store):
    tracker = Tracker(store.uri)
    experiment_id = tracker.experiment_id("behind")
    made = {"experiment_id": experiment_id, "run_name": "r", "tags": {"mlflow.parentRunId": "p"}, "start_time": 1234}
    first = tracker.create_run("provisional-a", **made)  # as the writer made it before it died
    tracker.create_run("provisional-b", **{**made, "run_name": "other"})  # same start time, another run
    assert tracker.create_run("provisional-a", **made, find_first=True) == first
    assert tracker.create_run("provisional-c", **{**made, "tags": {}}, find_first=True) != first  # another parent
    with sqlite3.connect(tracking.sqlite_path(tracker.uri)) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (3,)


def test_a_run_the_store_refuses_to_create_is_reported_and_written_no_further(tracker, tmp_path):
    tracker._experiment_ids["gone"] = "987654"  # an experiment deleted under the sweep
    run_id = tracker.start_run("gone", "doomed", {})
    tracker.log_batch(run_id, metrics=[("loss", 0.5, 0)])
    (tmp_path / "files").mkdir()
    files = tempfile.TemporaryDirectory(dir=tmp_path / "files")
    tracker.log_artifacts(run_id, files.name, remove=True, make=[(pid_file, ("made_by.txt",))])
    tracker.end_run(run_id, "FINISHED")
    assert tracker.real_run_id(run_id) == run_id  # no run: the id stays, and the refusal waits for a flush
    with pytest.raises(StoreWriteFailed, match="run 'doomed': create_run"):
        tracker.flush()
    tracker.flush()  # reported once; the run's later writes were dropped, not refused again
    with sqlite3.connect(tracking.sqlite_path(tracker.uri)) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)
    assert list((tmp_path / "files").iterdir()) == []  # its files, handed over, were removed all the same


def test_the_writers_seconds_count_as_mlflow_write_seconds(tracker):
    run_id = tracker.start_run("behind", "r", {})
    before = Tracker.write_seconds
    tracker.log_batch(run_id, metrics=[("loss", 0.5, step) for step in range(500)])
    submitted = Tracker.write_seconds - before  # this process's share: handing the write over
    tracker.flush()
    assert Tracker.write_seconds - before > submitted


def test_a_refused_write_fails_its_run_and_the_next_flush(tracker):
    run_id = tracker.start_run("behind", "r", {})
    tracker.log_batch(run_id, params={"lr": 0.5})
    tracker.log_batch(run_id, params={"lr": 0.7})  # MLflow refuses to change a logged param
    tracker.end_run(run_id, "FINISHED")  # dropped: the run ended FAILED already

    with pytest.raises(StoreWriteFailed) as refused:
        tracker.flush()
    # The store's id of the run, not its provisional one:
    assert f"run {tracker.real_run_id(run_id)}: log_batch" in str(refused.value)
    record = tracker.get_run(run_id)  # the error was reported once
    assert record.status == "FAILED"
    assert "refused" in record.tags["failure_reason"] and record.params["lr"] == "0.5"


def test_a_killed_writer_loses_no_write(tracker):
    run_ids = [tracker.start_run("behind", f"r{i}", {}) for i in range(20)]
    os.kill(writer_pid(tracker), signal.SIGKILL)
    for run_id in run_ids:  # handed over while the writer dies, or after
        tracker.log_batch(run_id, metrics=[("loss", 0.1 * step, step) for step in range(10)], params={"a": 1})
        tracker.end_run(run_id, "FINISHED")
    tracker.flush()

    for run_id in run_ids:
        record = tracker.get_run(run_id)
        assert record.status == "FINISHED" and record.params == {"a": "1"}
        assert [p.step for p in tracker.metric_history(run_id, "loss")] == list(range(10))  # each point once
    assert tracker._behind is not None and tracker._behind._pool is None  # written here from then on


def test_finishing_writes_stops_the_writer_and_later_writes_are_made_in_line(tracker):
    pid = writer_pid(tracker)
    tracking.finish_writes()
    assert tracker._behind is None
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
    run_id = tracker.start_run("behind", "r", {})
    tracker.end_run(run_id, "FINISHED")
    with sqlite3.connect(tracking.sqlite_path(tracker.uri)) as db:
        assert db.execute("SELECT status FROM runs WHERE run_uuid = ?", (run_id,)).fetchone() == ("FINISHED",)


# -- when the batched launcher writes behind ----------------------------------------------


@pytest.mark.parametrize(
    "setting, plots, jobs, behind",
    [
        (None, False, 5, True),  # auto: a chunk of runs that draw nothing
        (None, True, 5, False),  # auto: the drawing processes have the second core
        (None, False, 1, False),  # auto: no next job to go on with
        (True, True, 5, True),
        (False, False, 5, False),
    ],
)
def test_the_launcher_writes_behind_when_asked_or_when_a_core_is_free(monkeypatch, setting, plots, jobs, behind):
    asked = []
    stores = {"sqlite:///a.db": SimpleNamespace(write_behind=lambda: asked.append(True))}
    monkeypatch.setattr(tracking, "tracker_for", stores.__getitem__)
    configs = [
        OmegaConf.create({"tracking": {"enabled": True, "uri": "sqlite:///a.db", "plots": plots}}) for _ in range(jobs)
    ]
    launcher = BatchedLauncher(background_writes=setting)
    assert launcher._trackers(configs) == [stores["sqlite:///a.db"]]
    assert bool(asked) == behind


# -- through the command line -------------------------------------------------------------

GRID = [
    "-m",
    "model.hidden=2",
    "optim.lr=0.1,0.5",
    "train.seed=range(0,6)",
    "train.steps=200",
    "train.log_every=50",
    "tracking.plots=false",
    "hydra/launcher=batched",
    "hydra.launcher.chunk_size=5",
]


def store_contents(folder):
    """Each run's status, params and metric histories, by run name (what a user reads back)."""
    mlflow = client(folder)
    experiment = mlflow.get_experiment_by_name("Default")
    contents = {}
    for run in mlflow.search_runs([experiment.experiment_id]):
        histories = {
            key: [(m.step, m.value) for m in mlflow.get_metric_history(run.info.run_id, key)]
            for key in run.data.metrics
            if not key.endswith("_seconds")
        }
        contents[run.info.run_name] = (run.info.status, dict(run.data.params), histories)
    return contents


@pytest.mark.slow
def test_a_grid_written_behind_holds_what_a_grid_written_in_line_holds(tmp_path):
    (tmp_path / "behind").mkdir()
    (tmp_path / "in_line").mkdir()
    behind = run_cli(tmp_path / "behind", *GRID)
    in_line = run_cli(tmp_path / "in_line", *GRID, "hydra.launcher.background_writes=false")
    assert behind.returncode == 0 and in_line.returncode == 0, (behind.stderr[-2000:], in_line.stderr[-2000:])
    assert not list((tmp_path / "behind").glob("mlflow.db-*"))  # the write-ahead log folded in
    written_behind, written_in_line = store_contents(tmp_path / "behind"), store_contents(tmp_path / "in_line")
    assert len(written_behind) == 13  # 12 jobs and the sweep's parent
    parents = [name for name in written_behind if "-sweep-" in name]
    for contents in (written_behind, written_in_line):  # the parent's name has the sweep's time in it
        for name in [name for name in contents if "-sweep-" in name]:
            contents["parent"] = contents.pop(name)
    assert len(parents) == 1 and written_behind == written_in_line


@pytest.mark.slow
def test_an_interrupted_grid_written_behind_keeps_every_finished_run_whole(tmp_path):
    grid = [*GRID[:3], "train.seed=range(0,400)", *GRID[4:]]
    process = start_cli(tmp_path, *grid)
    deadline = time.monotonic() + 180
    finished = 0
    while finished < 30 and time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            with sqlite3.connect(f"file:{tmp_path / 'mlflow.db'}?mode=ro", uri=True) as db:
                finished = db.execute("SELECT COUNT(*) FROM runs WHERE status = 'FINISHED'").fetchone()[0]
        except sqlite3.Error:  # not created yet
            pass
    assert finished >= 30, "the grid did not get going"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]

    mlflow = client(tmp_path)
    runs = mlflow.search_runs([mlflow.get_experiment_by_name("Default").experiment_id], max_results=1000)
    statuses = {run.info.status for run in runs}
    assert "RUNNING" not in statuses and "KILLED" in statuses, statuses
    for run in runs:
        if run.info.status == "FINISHED" and "sweep" not in run.data.tags:  # a job's run, whole
            assert len(run.data.params) > 20 and run.data.metrics["val_accuracy_last5_mean"] >= 0
            assert len(mlflow.get_metric_history(run.info.run_id, "loss")) == 5  # steps 0, 50, ..., 200
        elif run.info.status == "KILLED":  # the job in progress, or the parent: with the reason
            assert "SIGINT" in run.data.tags["failure_reason"], run.data.tags["failure_reason"]


REFUSING = """
from pipeline import write_behind

def refuse(self):
    write_behind.WriteBehind.flush = flush  # once
    flush(self)
    raise write_behind.StoreWriteFailed("the tracking store refused a write: run r1: log_batch: disk I/O error")

flush, write_behind.WriteBehind.flush = write_behind.WriteBehind.flush, refuse
"""


@pytest.mark.slow
def test_a_refused_write_stops_the_sweep_with_one_line_and_exit_1(tmp_path):
    result = run_cli_patched(tmp_path, REFUSING, *GRID)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: the tracking store refused a write: run r1: log_batch: disk I/O error"], result.stderr
    assert "Traceback" not in result.stderr
    mlflow = client(tmp_path)
    runs = mlflow.search_runs([mlflow.get_experiment_by_name("Default").experiment_id])
    parent = next(run for run in runs if run.data.tags.get("sweep") == "parent")
    assert parent.info.status == "FAILED" and "disk I/O error" in parent.data.tags["failure_reason"]
    assert "RUNNING" not in {run.info.status for run in runs}
    assert len(runs) == 6  # the first chunk's 5 runs, whole, and the parent: the sweep stopped there
