"""Tests for pipeline.tracking: the Tracker against a real (temporary) SQLite MLflow store."""

from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from pipeline import tracking
from pipeline.tracking import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    MetricPoint,
    RunRecord,
    Tracker,
    default_artifact_root,
)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """A new SQLite store, created once through Tracker: creating MLflow's schema takes
    seconds, copying the fresh file takes milliseconds."""
    folder = tmp_path_factory.mktemp("empty_store")
    Tracker(f"sqlite:///{folder}/mlflow.db").client.search_experiments()
    return folder / "mlflow.db"


@pytest.fixture
def tracker(tmp_path, empty_store):
    """A Tracker on its own store, sqlite:///{tmp_path}/mlflow.db (a copy of the empty one)."""
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    return Tracker(f"sqlite:///{tmp_path}/mlflow.db")


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    assert parsed.scheme in ("file", ""), uri
    return Path(unquote(parsed.path)).resolve()


def test_default_artifact_root_is_beside_the_database(tmp_path):
    root = default_artifact_root(f"sqlite:///{tmp_path}/sub/mlflow.db")
    assert _local_path(root) == (tmp_path / "sub" / "mlartifacts").resolve()
    assert default_artifact_root("http://localhost:5000") is None
    assert default_artifact_root("postgresql://u@h/db") is None


def test_experiment_is_created_once_and_found_again(tracker, tmp_path):
    first = tracker.experiment_id("exp one")
    assert first == tracker.experiment_id("exp one")
    assert tracker.experiment_id("another") != first
    assert Tracker(tracker.uri).experiment_id("exp one") == first  # a second client, same store
    experiment = tracker.client.get_experiment(first)
    assert experiment.name == "exp one"
    location = _local_path(experiment.artifact_location)
    assert location.is_relative_to((tmp_path / "mlartifacts").resolve())
    assert " " not in location.name  # the experiment's name made safe for a folder


def test_run_artifacts_lie_under_mlartifacts(tracker, tmp_path):
    run_id = tracker.start_run("exp", "a-run", {})
    artifact_uri = tracker.client.get_run(run_id).info.artifact_uri
    assert _local_path(artifact_uri).is_relative_to((tmp_path / "mlartifacts").resolve())


def test_start_run_is_running_with_name_tags_and_parent(tracker):
    parent = tracker.start_run("sweep", "parent", {"kind": "sweep"})
    child = tracker.start_run("sweep", "child-1", {"config_hash": "abc"}, parent_run_id=parent)
    parent_run, child_run = tracker.client.get_run(parent), tracker.client.get_run(child)
    assert child_run.info.status == "RUNNING"
    assert child_run.data.tags[MLFLOW_PARENT_RUN_ID] == parent
    assert child_run.data.tags[MLFLOW_RUN_NAME] == "child-1"
    assert child_run.info.run_name == "child-1"
    assert child_run.data.tags["config_hash"] == "abc"
    assert MLFLOW_PARENT_RUN_ID not in parent_run.data.tags
    assert parent_run.data.tags["kind"] == "sweep"
    assert child_run.info.experiment_id == parent_run.info.experiment_id == tracker.experiment_id("sweep")


def test_log_params_stores_more_than_one_batch(tracker):
    run_id = tracker.start_run("exp", "params", {})
    n = 2 * MAX_PARAMS_PER_BATCH + 50
    params = {f"group{i % 7}.key_{i}": i * 1.5 for i in range(n)}
    params["long.value"] = "x" * (MAX_PARAM_VALUE_LENGTH + 500)
    tracker.log_params(run_id, params)
    stored = tracker.client.get_run(run_id).data.params
    assert len(stored) == n + 1
    for key, value in params.items():
        if key != "long.value":
            assert stored[key] == str(value)
    assert stored["long.value"] == "x" * MAX_PARAM_VALUE_LENGTH  # cut to MLflow's limit, not refused


def test_set_tags_stores_more_than_one_batch(tracker):
    run_id = tracker.start_run("exp", "tags", {})
    tags = {f"tag_{i}": i for i in range(MAX_TAGS_PER_BATCH + 20)}
    tracker.set_tags(run_id, tags)
    stored = tracker.client.get_run(run_id).data.tags
    assert all(stored[k] == str(v) for k, v in tags.items())


def test_whole_histories_store_every_point_and_skip_non_finite(tracker):
    run_id = tracker.start_run("exp", "histories", {})
    steps = list(range(0, 5000, 10))  # 500 points per metric, 1500 in all: more than one batch
    assert 3 * len(steps) > MAX_METRICS_PER_BATCH
    loss = [1.0 / (1 + i) for i in range(len(steps))]
    train_accuracy = [i / len(steps) for i in range(len(steps))]
    val_accuracy = [0.5 + i / (4 * len(steps)) for i in range(len(steps))]
    bad_steps = {steps[7]: math.nan, steps[100]: math.inf, steps[499]: -math.inf}
    val_accuracy = [bad_steps.get(s, v) for s, v in zip(steps, val_accuracy)]
    histories = {"loss": loss, "train_accuracy": train_accuracy, "val_accuracy": val_accuracy}
    tracker.log_batch(
        run_id,
        metrics=[(name, value, step) for name, values in histories.items() for step, value in zip(steps, values)],
    )
    for name, values in (("loss", loss), ("train_accuracy", train_accuracy)):
        history = sorted(tracker.metric_history(run_id, name), key=lambda m: m.step)
        assert [m.step for m in history] == steps
        assert [m.value for m in history] == pytest.approx(values, rel=1e-12)
    val = sorted(tracker.metric_history(run_id, "val_accuracy"), key=lambda m: m.step)
    assert [m.step for m in val] == [s for s in steps if s not in bad_steps]
    assert all(math.isfinite(m.value) for m in val)
    # The run's latest value of a metric is its last point.
    assert tracker.client.get_run(run_id).data.metrics["loss"] == pytest.approx(loss[-1])


@pytest.mark.parametrize(
    "n_metrics, n_params, n_tags", [(0, 0, 0), (505, 60, 30), (1000, 0, 0), (950, 99, 99), (2500, 250, 130)]
)
def test_requests_respect_mlflow_limits_and_keep_everything(n_metrics, n_params, n_tags):
    entries = {"metrics": list(range(n_metrics)), "params": list(range(n_params)), "tags": list(range(n_tags))}
    requests = list(tracking._requests(entries))
    for request in requests:
        assert len(request["metrics"]) <= MAX_METRICS_PER_BATCH
        assert len(request["params"]) <= MAX_PARAMS_PER_BATCH and len(request["tags"]) <= MAX_TAGS_PER_BATCH
        assert sum(map(len, request.values())) <= tracking.MAX_ENTITIES_PER_BATCH
    for kind, items in entries.items():
        assert [x for r in requests for x in r[kind]] == items  # all of them, in order
    total = n_metrics + n_params + n_tags
    # As few requests as the limits allow: a run of this pipeline (505 + 60 + 30) is one.
    least = max(
        -(-total // tracking.MAX_ENTITIES_PER_BATCH),
        -(-n_params // MAX_PARAMS_PER_BATCH),
        -(-n_tags // MAX_TAGS_PER_BATCH),
    )
    assert len(requests) == least


def test_log_batch_sends_metrics_params_and_tags_in_one_request(tracker, monkeypatch):
    run_id = tracker.start_run("exp", "one request", {})
    sent = []
    real = tracker.client.log_batch
    monkeypatch.setattr(tracker.client, "log_batch", lambda *a, **k: (sent.append(k), real(*a, **k)))
    tracker.log_batch(
        run_id,
        metrics=[("loss", 0.5, 0), ("loss", 0.25, 10), ("acc", math.nan, 0)],
        params={"model.hidden": 4},
        tags={"batch.size": 48},
    )
    assert len(sent) == 1
    run = tracker.client.get_run(run_id)
    assert run.data.params["model.hidden"] == "4" and run.data.tags["batch.size"] == "48"
    assert [(m.step, m.value) for m in sorted(tracker.metric_history(run_id, "loss"), key=lambda m: m.step)] == [
        (0, 0.5),
        (10, 0.25),
    ]
    assert "acc" not in run.data.metrics  # non-finite: skipped


def test_a_local_store_uses_sqlites_write_ahead_log(tracker):
    import sqlite3

    run_id = tracker.start_run("exp", "wal", {})
    tracker.log_metrics(run_id, {"loss": 0.5})
    with sqlite3.connect(tracking.sqlite_path(tracker.uri)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # ...and a second client of the same file (the MLflow UI, another sweep) reads what was written.
    assert Tracker(tracker.uri).client.get_run(run_id).data.metrics["loss"] == 0.5


def test_log_metrics_logs_one_point_at_a_step(tracker):
    run_id = tracker.start_run("exp", "metrics", {})
    tracker.log_metrics(run_id, {"gradcheck_rel_error": 1e-12, "nan_metric": math.nan}, step=3)
    history = tracker.metric_history(run_id, "gradcheck_rel_error")
    assert [(m.step, m.value) for m in history] == [(3, 1e-12)]
    assert tracker.metric_history(run_id, "nan_metric") == []


@pytest.mark.parametrize("status", ["FINISHED", "FAILED", "KILLED"])
def test_end_run_status_reads_back(tracker, status):
    run_id = tracker.start_run("exp", f"ends-{status}", {})
    tracker.end_run(run_id, status)
    info = tracker.client.get_run(run_id).info
    assert info.status == status
    assert info.end_time is not None and info.end_time >= info.start_time


def test_log_artifacts_round_trips_bytes(tracker, tmp_path):
    run_id = tracker.start_run("exp", "artifacts", {})
    source = tmp_path / "to_upload"
    (source / "nested").mkdir(parents=True)
    payload = os.urandom(4096)
    (source / "params.bin").write_bytes(payload)
    (source / "nested" / "config.yaml").write_text("model:\n  hidden: 4\n")
    tracker.log_artifacts(run_id, source, "final")
    listed = {a.path for a in tracker.client.list_artifacts(run_id, "final")}
    assert {"final/params.bin", "final/nested"} <= listed
    (tmp_path / "download").mkdir()
    got = tracker.download_artifacts(run_id, "final/params.bin", tmp_path / "download")
    assert got.read_bytes() == payload
    got_yaml = tracker.download_artifacts(run_id, "final/nested/config.yaml", tmp_path / "download")
    assert got_yaml.read_text() == "model:\n  hidden: 4\n"


def test_a_run_started_here_uploads_without_reading_the_run_back(tracker, tmp_path, monkeypatch):
    started_here = tracker.start_run("exp", "mine", {})
    elsewhere = Tracker(tracker.uri)  # another process's Tracker, or a run continued after a kill
    source = tmp_path / "files"
    source.mkdir()
    (source / "a.txt").write_text("a")
    read_back = []
    original = tracker.client.get_run
    monkeypatch.setattr(tracker.client, "get_run", lambda run_id: read_back.append(run_id) or original(run_id))
    tracker.log_artifacts(started_here, source)
    assert read_back == []  # straight to the location create_run returned
    elsewhere.log_artifacts(started_here, source, "again")  # not started by it: MlflowClient finds the location
    assert {a.path for a in tracker.client.list_artifacts(started_here)} == {"a.txt", "again"}
    run = tracker.client.get_run(started_here)
    assert (_local_path(run.info.artifact_uri) / "a.txt").read_text() == "a"
    tracker.end_run(started_here, "FINISHED")
    assert started_here not in tracker._artifact_uris  # nothing kept per run once it has ended


def test_runs_filters_by_tag_newest_first(tracker):
    a1 = tracker.start_run("exp", "a1", {"kind": "a"})
    b = tracker.start_run("exp", "b", {"kind": "b"})
    a2 = tracker.start_run("exp", "a2", {"kind": "a"})
    tracker.start_run("other", "a-elsewhere", {"kind": "a"})
    found = tracker.runs("exp", "tags.kind = 'a'")
    assert {r.run_id for r in found} == {a1, a2}
    assert found[0].start_time >= found[1].start_time  # newest first
    assert {r.run_id for r in tracker.runs("exp")} == {a1, b, a2}
    assert tracker.runs("exp", "tags.kind = 'c'") == []


def test_runs_are_read_page_by_page_and_all_come_back(tracker, monkeypatch):
    made = [tracker.start_run("exp", f"r{i}", {"kind": "a"}) for i in range(5)]
    monkeypatch.setattr(tracking, "SEARCH_PAGE", 2)
    pages = []
    search = tracker.client.search_runs
    monkeypatch.setattr(
        tracker.client, "search_runs", lambda *a, **k: pages.append(k["max_results"]) or search(*a, **k)
    )
    found = tracker.runs("exp", "tags.kind = 'a'")
    assert sorted(r.run_id for r in found) == sorted(made) and len(found) == 5  # each once
    assert pages == [2, 2, 2]
    assert [r.start_time for r in found] == sorted((r.start_time for r in found), reverse=True)


def test_runs_of_an_unknown_experiment_is_empty(tracker):
    assert tracker.runs("never-created") == []


def test_runs_come_back_as_plain_records(tracker):
    parent = tracker.start_run("exp", "parent", {})
    run_id = tracker.start_run("exp", "relu-h50-lr1.2-s0", {"config_hash": "abc"}, parent_run_id=parent)
    tracker.log_batch(
        run_id, metrics=[("val_accuracy", 0.5, 0), ("val_accuracy", 0.75, 100)], params={"model.hidden": 50}
    )
    tracker.end_run(run_id, "FINISHED")
    record = tracker.get_run(run_id)
    assert isinstance(record, RunRecord)
    assert (record.run_id, record.run_name, record.status) == (run_id, "relu-h50-lr1.2-s0", "FINISHED")
    assert record.params == {"model.hidden": "50"} and record.metrics == {"val_accuracy": 0.75}
    assert record.tags["config_hash"] == "abc" and record.tags[MLFLOW_PARENT_RUN_ID] == parent
    assert isinstance(record.start_time, int)
    with pytest.raises(AttributeError):
        record.status = "FAILED"  # frozen
    assert tracker.runs("exp", "tags.config_hash = 'abc'") == [record]
    earlier = tracker.finished_run_with("exp", "abc")
    assert earlier.run_id == run_id and earlier.metrics == {"val_accuracy": 0.75}
    assert tracker.finished_run_with("exp", "other") is None
    assert tracker.finished_config_hashes("exp") == {"abc"}
    assert tracker.metric_history(run_id, "val_accuracy") == [
        MetricPoint(0, 0.5, tracker.metric_history(run_id, "val_accuracy")[0].timestamp),
        MetricPoint(100, 0.75, tracker.metric_history(run_id, "val_accuracy")[1].timestamp),
    ]


def test_experiments_open_on_the_runs_table(tracker):
    # MLflow 3's UI picks an experiment's view from this tag; without it, the GenAI overview.
    experiment_id = tracker.experiment_id("sweep")
    assert tracker.client.get_experiment(experiment_id).tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    # An experiment made before (by an older version, or by hand) gets the tag when next used.
    older = tracker.client.create_experiment("older")
    assert EXPERIMENT_KIND_TAG not in tracker.client.get_experiment(older).tags
    assert Tracker(tracker.uri).experiment_id("older") == older
    assert tracker.client.get_experiment(older).tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND


def test_plain_runs_go_to_mlflows_default_experiment_with_artifacts_beside_the_store(tmp_path):
    (tmp_path / "store").mkdir()
    tracker = Tracker(f"sqlite:///{tmp_path}/store/mlflow.db")
    assert tracker.experiment_id("Default") == "0"
    assert [e.name for e in tracker.client.search_experiments()] == ["Default"]  # one, not two
    run_id = tracker.start_run("Default", "a-run", {})
    artifact_uri = tracker.client.get_run(run_id).info.artifact_uri
    assert _local_path(artifact_uri).is_relative_to((tmp_path / "store" / "mlartifacts").resolve())


def test_a_shared_table_view_is_stored_for_the_ui(tracker):
    import json

    path = tracker.share_table_view("sweep", "key1", {"selectedColumns": ["metrics.`val_accuracy`"]})
    experiment_id = tracker.experiment_id("sweep")
    assert path == f"#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey=key1"
    stored = tracker.client.get_experiment(experiment_id).tags["mlflow.sharedViewState.key1"]
    assert json.loads(stored) == {"selectedColumns": ["metrics.`val_accuracy`"]}


def test_a_store_is_made_aside_so_a_kill_mid_creation_leaves_none(tmp_path, monkeypatch):
    from mlflow.store.tracking import sqlalchemy_store

    from pipeline.tracking import _create_sqlite_store

    uri = f"sqlite:///{tmp_path}/mlflow.db"

    class Killed(BaseException):
        pass

    def killed(*args, **kwargs):  # as if the process died in the middle of MLflow's migrations
        raise Killed

    monkeypatch.setattr(sqlalchemy_store, "SqlAlchemyStore", killed)
    with pytest.raises(Killed):
        _create_sqlite_store(uri)
    assert not (tmp_path / "mlflow.db").exists()  # nothing half-made where the store belongs
    monkeypatch.undo()
    _create_sqlite_store(uri)
    assert (tmp_path / "mlflow.db").exists() and not list(tmp_path.glob(".mlflow.db.creating-*"))


def _schema(path: Path) -> tuple[list, list]:
    """A store's tables, indexes and columns, and its schema revision. Each statement's lines are
    sorted: MLflow's migrations write a table's constraints in an order that varies by process."""
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        revision = connection.execute("SELECT * FROM alembic_version").fetchall()
    finally:
        connection.close()
    lines = lambda sql: sorted(line.strip().rstrip(",") for line in (sql or "").splitlines())
    return sorted((kind, name, lines(sql)) for kind, name, sql in rows), revision


def test_a_new_store_copies_the_cached_schema_and_gets_its_own_default_experiment(tmp_path, monkeypatch):
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    template = tracking.schema_template_path()
    assert template is not None and template.is_relative_to(tmp_path / "cache") and not template.exists()
    stores = []
    for name in ("first", "second"):  # the first makes the template, the second copies it
        (tmp_path / name).mkdir()
        tracker = Tracker(f"sqlite:///{tmp_path}/{name}/mlflow.db")
        assert template.is_file()
        default = tracker.client.get_experiment("0")
        assert default.name == "Default"
        assert _local_path(default.artifact_location) == (tmp_path / name / "mlartifacts" / "0").resolve()
        assert [e.name for e in tracker.client.search_experiments()] == ["Default"]
        assert tracker.experiment_id("sweep") == "1"  # ids go on as in a store made the long way
        stores.append(tmp_path / name / "mlflow.db")
    SqlAlchemyStore(f"sqlite:///{tmp_path}/long.db", (tmp_path / "art").as_uri()).engine.dispose()
    assert _schema(stores[1]) == _schema(tmp_path / "long.db") == _schema(stores[0])


def test_a_template_mlflow_refuses_is_dropped_and_the_store_made_the_long_way(tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "a").mkdir()
    Tracker(f"sqlite:///{tmp_path}/a/mlflow.db")
    template = tracking.schema_template_path()
    with sqlite3.connect(template) as connection:  # as if made by another MLflow's migrations
        connection.execute("UPDATE alembic_version SET version_num = 'not-a-revision'")
    connection.close()
    (tmp_path / "b").mkdir()
    tracker = Tracker(f"sqlite:///{tmp_path}/b/mlflow.db")
    assert tracker.client.get_experiment("0").name == "Default"
    assert _schema(tmp_path / "b" / "mlflow.db") == _schema(tmp_path / "a" / "mlflow.db")
    assert not template.exists()  # forgotten: the next store makes it anew


def test_without_a_writable_cache_a_store_is_made_the_long_way(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db")
    assert [e.name for e in tracker.client.search_experiments()] == ["Default"]
    assert not list(tmp_path.glob(".mlflow.db.creating-*"))


def test_closing_the_stores_folds_the_write_ahead_log_into_the_database_file(tracker, tmp_path):
    run_id = tracker.start_run("exp", "r", {})
    tracker.log_metrics(run_id, {"loss": 0.5})
    assert (tmp_path / "mlflow.db-wal").exists()  # open: the log holds the latest writes
    tracking.close_stores()
    assert not (tmp_path / "mlflow.db-wal").exists() and not (tmp_path / "mlflow.db-shm").exists()
    assert Tracker(tracker.uri).runs("exp")[0].metrics == {"loss": 0.5}  # the file alone is the store


# -- what a SQLite store's path may name ------------------------------------------------------


def _store_refused(uri: str, *named: str) -> str:
    with pytest.raises(ValueError) as info:
        tracking.check_store(uri)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"tracking.uri={uri}: "), message
    for fragment in named:
        assert fragment in message, (fragment, message)
    return message


def test_a_file_that_is_not_a_sqlite_database_is_refused_as_a_store(tmp_path):
    """It passed the check, then MLflow failed with sqlite3.DatabaseError: file is not a database."""
    table = tmp_path / "existing.csv"
    table.write_text("a,b\n1,2\n")
    _store_refused(f"sqlite:///{table}", str(table), "is not a SQLite database")
    assert table.read_text() == "a,b\n1,2\n" and sorted(p.name for p in tmp_path.iterdir()) == ["existing.csv"]


def test_a_folder_is_refused_as_a_store_and_a_file_as_its_folder(tmp_path):
    _store_refused(f"sqlite:///{tmp_path}", str(tmp_path), "is a folder", f"sqlite:///{tmp_path}/mlflow.db")
    (tmp_path / "file").write_text("")
    _store_refused(f"sqlite:///{tmp_path}/file/mlflow.db", f"{tmp_path}/file is a file, not a folder")


def test_another_sqlite_database_is_refused_not_replaced_by_a_store(tmp_path):
    """Making the store renames a fresh one into place: the user's tables would be gone."""
    import sqlite3

    path = tmp_path / "mine.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE houses (price REAL)")
    _store_refused(f"sqlite:///{path}", "not an MLflow store", "houses")
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [("houses",)]


def test_checking_a_store_in_wal_mode_leaves_no_file_beside_it(tmp_path):
    """A read-only connection to a WAL database cannot remove the -wal and -shm files it makes."""
    import sqlite3

    path = tmp_path / "mine.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE houses (price REAL)")
    connection.close()
    _store_refused(f"sqlite:///{path}", "not an MLflow store")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.db"]


def test_a_store_file_that_cannot_be_read_and_written_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "mlflow.db"
    path.write_bytes(tracking.SQLITE_HEADER)

    def denied(file, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(tracking, "open", denied, raising=False)  # (root reads any file: chmod would not do)
    _store_refused(f"sqlite:///{path}", "cannot be read and written (Permission denied)")


def test_an_empty_file_a_new_name_and_an_mlflow_store_are_accepted(tracker, tmp_path):
    (tmp_path / "empty.db").write_bytes(b"")
    for name in ("empty.db", "new.db", "mlflow.db"):  # mlflow.db: the tracker's store
        tracking.check_store(f"sqlite:///{tmp_path}/{name}")


def test_a_relative_store_is_in_the_folder_the_command_started_in(tmp_path, monkeypatch):
    """hydra.job.chdir=true runs a job in its own folder: sqlite:///mlflow.db still names the
    store where the command was started (as the sweep's parent run and the printed hint say)."""
    from pipeline.data import COMMAND_DIR_VARIABLE

    started, job_folder = tmp_path / "started", tmp_path / "outputs" / "job"
    job_folder.mkdir(parents=True)
    started.mkdir()
    monkeypatch.setenv(COMMAND_DIR_VARIABLE, str(started))
    monkeypatch.chdir(job_folder)
    assert tracking.sqlite_path("sqlite:///mlflow.db?timeout=20") == started / "mlflow.db"
    assert tracking.store_uri("sqlite:///mlflow.db?timeout=20") == f"sqlite:///{started}/mlflow.db?timeout=20"
    tracker = tracking.tracker_for("sqlite:///mlflow.db")
    assert tracker.uri == "sqlite:///mlflow.db"  # as the user wrote it, for the printed hint
    tracker.experiment_id("made here")
    assert (started / "mlflow.db").is_file() and list(job_folder.iterdir()) == []


def test_the_ui_hint_names_a_command_that_exists(tmp_path, monkeypatch):
    from pipeline.tracking import ui_hint

    path = "#/experiments/1/runs"
    python = tmp_path / "bin" / "python"  # an interpreter with no `mlflow` script beside it
    python.parent.mkdir()
    monkeypatch.setattr(sys, "executable", str(python))
    hint = ui_hint("sqlite:///mlflow.db", path)
    assert hint.startswith(f"{python} -m mlflow ui --backend-store-uri sqlite:///mlflow.db,"), hint
    (python.parent / "mlflow").write_text("#!/bin/sh\n")  # a venv's script
    assert ui_hint("sqlite:///mlflow.db", path).startswith(f"{python.parent / 'mlflow'} ui "), hint
    assert ui_hint("http://host:5000/", path) == f"http://host:5000/{path}"
