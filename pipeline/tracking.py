"""Everything the pipeline says to MLflow; the only module that imports mlflow.

It talks through an explicit `MlflowClient` bound to one tracking URI, never through
mlflow's global active run, so several runs (a sweep's parent and its children) can be open
in one process and nothing depends on import order or environment variables.
Every write goes in batches: params, tags and whole metric histories in `log_batch` calls
of at most MLflow's per-request limits.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import logging
import math
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from functools import lru_cache
import contextlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, NamedTuple, Optional, Sequence

from pipeline import interrupts
from pipeline.data import command_path
from pipeline.write_behind import StoreWriteFailed, WriteBehind

# mlflow is imported where it is first used, not here: importing it takes about a second, and a
# command refused for bad input (pipeline/admission.py) imports this module but never needs it.
# MLflow's own tag names (mlflow.utils.mlflow_tags), spelled out for the same reason.
MLFLOW_RUN_NAME = "mlflow.runName"
MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"

# MLflow's REST limits per log_batch request (mlflow/utils/validation.py).
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000  # metrics, params and tags together
MAX_PARAM_VALUE_LENGTH = 6000

# Tag names of the store's contract (what the pipeline writes and reads back).
RESUMED_TAG_PREFIX = "resumed."  # parent tag resumed.<job> = id of an earlier run reused
# Parent tag continued.<job> = id of an earlier sweep's run that this sweep's job continued from its
# checkpoint: the run stays a child of the sweep that started it (as a resumed one does), and the
# summary counts it with the status it ends with here (pipeline/summary.py run_rows).
CONTINUED_TAG_PREFIX = "continued."
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # the MLflow UI (3.x) picks an experiment's view from it
EXPERIMENT_KIND = "custom_model_development"  # "Model training": the UI opens on the runs table
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."  # experiment tag the UI's ?viewStateShareKey= reads
NOTE_TAG = "mlflow.note.content"  # a run's or an experiment's description, shown by the UI

# A run started while writing behind is created by the writer process (pipeline/write_behind.py):
# MLflow's store picks a run's id, and the sweep does not wait for it. Until the writer has made
# the run, this process knows it by a provisional id of its own, which every call here accepts.
PROVISIONAL_PREFIX = "provisional-"


@dataclass(frozen=True)
class RunRecord:
    """One run as the pipeline reads it back: plain values, no MLflow objects."""

    run_id: str
    run_name: str
    status: str  # RUNNING | FINISHED | FAILED | KILLED | SCHEDULED
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # each metric's latest value
    tags: dict[str, str] = field(default_factory=dict)
    start_time: Optional[int] = None  # milliseconds since the epoch
    experiment_id: str = ""


class MetricPoint(NamedTuple):
    """One logged value of a metric history."""

    step: int
    value: float
    timestamp: int


SEARCH_PAGE = 1000  # runs read back per request


def _record(run) -> RunRecord:
    return RunRecord(
        run_id=run.info.run_id,
        run_name=run.info.run_name or "",
        status=run.info.status,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        start_time=run.info.start_time,
        experiment_id=run.info.experiment_id,
    )


# A progress bar per downloaded file is noise in a sweep's summary.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

# Creating the SQLite schema logs one line per Alembic migration: noise for a user.
for _noisy in ("alembic", "mlflow.store.db.utils", "mlflow.store.sqlalchemy_store"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


def _requests(entries: dict[str, list]) -> Iterable[dict[str, list]]:
    """{"metrics": [...], "params": [...], "tags": [...]} cut into log_batch requests within
    MLflow's limits, each filled as far as they allow."""
    limits = {"metrics": MAX_METRICS_PER_BATCH, "params": MAX_PARAMS_PER_BATCH, "tags": MAX_TAGS_PER_BATCH}
    queues = {kind: list(items) for kind, items in entries.items()}
    while any(queues.values()):
        request, room = {}, MAX_ENTITIES_PER_BATCH
        for kind in ("params", "tags", "metrics"):
            take = min(limits[kind], room, len(queues[kind]))
            request[kind], queues[kind] = queues[kind][:take], queues[kind][take:]
            room -= take
        yield request


def default_artifact_root(uri: str) -> str | None:
    """For a local SQLite store, `mlartifacts/` beside the database file; else the server's choice."""
    path = sqlite_path(uri)
    return (path.parent / "mlartifacts").as_uri() if path else None


def sqlite_path(uri: str) -> Path | None:
    """The database file of a SQLite URI (its query, `?timeout=5`, left out), absolute: a relative
    path is relative to the folder the command was started in (pipeline.data.command_path)."""
    match = re.match(r"sqlite:///([^?]+)", uri)
    return command_path(match.group(1)).resolve() if match else None


def store_uri(uri: str) -> str:
    """The URI MLflow is given: a SQLite store's file made absolute (its query kept), so that a job
    that Hydra moved into its own folder (hydra.job.chdir=true) writes the same store as its sweep."""
    path = sqlite_path(uri)
    if path is None:
        return uri
    query = uri.partition("?")[2]
    return f"sqlite:///{path}" + (f"?{query}" if query else "")


# The first bytes of every SQLite database file (an empty file is one too: SQLite makes it one).
SQLITE_HEADER = b"SQLite format 3\x00"


def check_store(uri: str, timeout: float = 5.0) -> None:
    """Refuse, in one line, a store that cannot be written: before any run is created.

    SQLite: its folder must exist and be writable, and the file, if there is one, must be an
    MLflow store (or empty) that can be read and written. A server (http/https): it must answer
    MLflow's /health. Raises ValueError naming the URI.
    """
    path = sqlite_path(uri)
    if path is not None:
        _check_sqlite_folder(uri, path)
        if os.path.lexists(path):
            _check_sqlite_file(uri, path, timeout)
        return
    if uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout).read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ValueError(
                f"tracking.uri={uri}: no MLflow server answers there ({reason}); "
                "start one (mlflow server) or fix the URI"
            ) from None


def _check_sqlite_folder(uri: str, path: Path) -> None:
    if path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"tracking.uri={uri}: {path.parent} is a file, not a folder; name a file in a folder")
    try:  # a real write: os.access says yes to root even on a read-only file system
        tempfile.TemporaryFile(dir=path.parent).close()
    except OSError as error:
        raise ValueError(
            f"tracking.uri={uri}: the store cannot be written in {path.parent} "
            f"({error.strerror}); choose a writable folder"
        ) from None


def _check_sqlite_file(uri: str, path: Path, timeout: float) -> None:
    """An existing file named as the store: a regular file, readable and writable, and an MLflow
    store (an empty file or database becomes one). Any other SQLite database is refused, not
    taken over: making the store would replace it (_create_sqlite_store)."""
    if path.is_dir():
        raise ValueError(
            f"tracking.uri={uri}: {path} is a folder, not a database file; name a file, "
            f"e.g. sqlite:///{path / 'mlflow.db'}"
        )
    if not path.is_file():
        raise ValueError(f"tracking.uri={uri}: {path} is not a regular file; name a database file")
    try:
        with open(path, "r+b") as handle:  # read and write, as SQLite will
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise ValueError(
            f"tracking.uri={uri}: {path} cannot be read and written ({error.strerror}); "
            "fix its permissions or choose another file"
        ) from None
    if not header:
        return
    if header != SQLITE_HEADER:
        raise ValueError(
            f"tracking.uri={uri}: {path} is not a SQLite database (an MLflow store is one); "
            "name a new file or an existing MLflow store"
        )
    tables = _sqlite_tables(uri, path, timeout)
    if tables and "experiments" not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise ValueError(
            f"tracking.uri={uri}: {path} is a SQLite database but not an MLflow store (its tables: {shown}); "
            "name a new file or an existing MLflow store"
        )


def _sqlite_tables(uri: str, path: Path, timeout: float) -> set[str]:
    try:
        # Read-write (the file was checked writable): a read-only connection to a store in WAL
        # mode leaves -wal and -shm files beside it, which a refused command must not.
        connection = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=timeout)
        try:
            return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise ValueError(
            f"tracking.uri={uri}: {path} cannot be read as a SQLite database ({error}); "
            "name a new file or an existing MLflow store"
        ) from None


def use_write_ahead_log(uri: str) -> None:
    """Put a local SQLite store in SQLite's write-ahead-log mode (the file keeps it).

    Each MLflow call is a transaction; in the default rollback-journal mode every commit
    creates, syncs and deletes a journal file, in WAL mode it appends to one log (still
    synced: as durable). A sweep's writes take about half the time, and readers (the
    MLflow UI) no longer wait for writers. SQLite's WAL needs shared memory between the
    processes that open the file, so a store on a network filesystem (NFS) is not for
    this mode, nor for SQLite at all: use a tracking server there.
    """
    path = sqlite_path(uri)
    if path is None or not path.parent.is_dir():  # no folder: MLflow's own error says so
        return
    connection = sqlite3.connect(path, timeout=20)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def checkpoint(uri: str) -> None:
    """Move what the write-ahead log holds into the SQLite file, so that the file alone is
    the whole store (SQLite does it by itself when the last connection closes)."""
    path = sqlite_path(uri)
    if path is not None and path.is_file():
        connection = sqlite3.connect(path, timeout=20)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()


def _create_sqlite_store(uri: str) -> None:
    """A new SQLite store's schema, with MLflow's own `Default` experiment (where plain runs go)
    keeping its artifacts in mlartifacts/0 beside the database, as every other experiment does
    (MlflowClient alone would put them in ./mlruns/0 of whatever folder the command ran in)."""
    path = sqlite_path(uri)
    if path is None or not path.parent.is_dir():
        return
    if path.exists():
        with sqlite3.connect(path, timeout=20) as connection:
            if connection.execute("SELECT name FROM sqlite_master WHERE name = 'experiments'").fetchone():
                return
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    # Made aside and renamed into place: a kill in the middle (SIGKILL while a sweep starts)
    # must leave no half-made store behind, only a stray temporary file.
    temporary = path.with_name(f".{path.name}.creating-{os.getpid()}")
    temporary.unlink(missing_ok=True)
    copied = _copy_schema_template(temporary)
    try:
        # On a copied template MLflow checks the schema's revision and adds the Default
        # experiment (with this store's artifact root); on an empty file it runs every migration.
        SqlAlchemyStore(f"sqlite:///{temporary}", default_artifact_root(uri)).engine.dispose()
    except MlflowException:
        if not copied:
            raise
        # A template MLflow refuses is forgotten (the next store makes it anew), and this store
        # made the long way, under another name: MLflow keeps an engine per database URI.
        temporary.unlink(missing_ok=True)
        _forget_schema_template()
        temporary = temporary.with_name(f"{temporary.name}-migrated")
        temporary.unlink(missing_ok=True)
        SqlAlchemyStore(f"sqlite:///{temporary}", default_artifact_root(uri)).engine.dispose()
    os.replace(temporary, path)


def schema_template_path() -> Path | None:
    """Where an empty store of this MLflow's schema is kept: $XDG_CACHE_HOME (or ~/.cache)/
    nn-fundamentals-pipeline/mlflow-schema/<version>-<migrations>.sqlite. The name changes with
    MLflow's version and with its list of migrations, so a template never outlives its schema."""
    import mlflow
    import mlflow.store.db_migrations as migrations

    try:
        scripts = sorted(os.listdir(Path(migrations.__file__).parent / "versions"))
    except OSError:
        return None
    digest = hashlib.sha256("\n".join(scripts).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "nn-fundamentals-pipeline" / "mlflow-schema" / f"{mlflow.__version__}-{digest}.sqlite"


def _copy_schema_template(destination: Path) -> bool:
    """Copy an empty, fully migrated store to `destination`; False if there is none to copy.

    MLflow builds a new SQLite store by running its migrations one by one: about 1.4 s of every
    command that starts a store (each test, each new project). The result is the same for every
    store of one MLflow version but for the Default experiment's artifact location, so it is made
    once, without any experiment, and copied (as MLflow's own test suite does with a cached
    database). Any failure here falls back to the migrations: the cache is a speed-up only.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    template = schema_template_path()
    if template is None:
        return False
    making = template.with_name(f".{template.name}.making-{os.getpid()}")
    try:
        if not template.is_file():
            template.parent.mkdir(parents=True, exist_ok=True)
            making.unlink(missing_ok=True)
            SqlAlchemyStore(f"sqlite:///{making}", making.parent.as_uri()).engine.dispose()
            connection = sqlite3.connect(making)
            try:
                with connection:  # MLflow adds Default, with the store's own root, to each copy
                    connection.execute("DELETE FROM experiments")
            finally:
                connection.close()
            os.replace(making, template)  # atomic: a concurrent maker's file is as good
        shutil.copyfile(template, destination)
        return True
    except (OSError, sqlite3.Error, MlflowException):
        return False
    finally:
        with contextlib.suppress(OSError):
            making.unlink(missing_ok=True)  # gone already once renamed into place


def _forget_schema_template() -> None:
    template = schema_template_path()
    if template is not None:
        template.unlink(missing_ok=True)


@contextmanager
def _store_lock(uri: str):
    """For SQLite, one process at a time creates the schema (two sweeps starting together)."""
    path = sqlite_path(uri)
    if path is None:
        yield
        return
    with open(path.with_name(path.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_sqlite_uris: set[str] = set()  # the local stores this process opened, for close_stores


def close_stores() -> None:
    """Close this process's connections to its SQLite stores: SQLite then folds the write-ahead
    log into the database file and removes the log, as it does when the last connection is
    garbage collected at exit (pipeline/memory.py: a command skips that collection)."""
    finish_writes()
    if not _sqlite_uris:
        return
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    for uri in sorted(_sqlite_uris):
        # The store's engine is MLflow's one engine for this URI (it keeps one per URI).
        SqlAlchemyStore(uri, default_artifact_root(uri)).engine.dispose()
    _sqlite_uris.clear()


_writing_behind: list["Tracker"] = []  # the Trackers that write through a writer process


def finish_writes() -> None:
    """Every write handed to a writer process made, and the writers stopped (later writes are
    made in this process); raises StoreWriteFailed if the store refused one."""
    refused: Optional[StoreWriteFailed] = None
    while _writing_behind:
        try:
            _writing_behind[-1].stop_writing_behind()
        except StoreWriteFailed as error:  # the other stores' writes are made all the same
            refused = refused or error
    if refused is not None:
        raise refused


def _count_write_seconds(seconds: float) -> None:
    """Seconds a writer process spent on this process's writes (pipeline/write_behind.py)."""
    Tracker.write_seconds += seconds


def _writes(method):
    """Count the seconds this process spends writing to the store (a sweep reports it); an
    interrupt waits for the write to end (pipeline/interrupts.py)."""

    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            with interrupts.deferred():
                return method(self, *args, **kwargs)
        finally:
            Tracker.write_seconds += time.perf_counter() - started

    return timed


def _tag_filter(tags: Mapping[str, str] | None) -> str:
    """` and tags.`k` = 'v'` for each of `tags`: MLflow's search syntax (backticks for dotted keys)."""
    return "".join(f" and tags.`{key}` = '{value}'" for key, value in (tags or {}).items())


class Tracker:
    """One tracking store (`tracking.uri`) and the calls the pipeline makes to it."""

    # Time spent in the write calls below, by every Tracker of this process, and by its writer
    # process for the writes it was handed.
    write_seconds = 0.0

    def __init__(self, uri: str):
        self.uri = uri  # as the user wrote it (what the command prints)
        self.store = store_uri(uri)  # what MLflow is given: a SQLite file's absolute path
        if sqlite_path(uri) is not None:
            _sqlite_uris.add(self.store)
        with _store_lock(uri):
            # Making the client (and its first call) creates or migrates the SQLite schema:
            # under the lock, so two processes starting together do it once.
            _create_sqlite_store(uri)
            use_write_ahead_log(uri)
            from mlflow.tracking import MlflowClient

            self.client = MlflowClient(tracking_uri=self.store)
            self.client.search_experiments(max_results=1)
            checkpoint(uri)  # the new schema into the database file itself, not only its log
        self._experiment_ids: dict[str, str] = {}
        self._artifact_uris: dict[str, str] = {}  # run id -> artifact location, of the runs started here
        self._created: dict[str, str] = {}  # provisional id -> the run's id, of the runs created behind
        self._behind: Optional[WriteBehind] = None

    # -- writing behind ----------------------------------------------------------------------

    def write_behind(self) -> None:
        """From now on, runs are created, written, given their files and ended by a second
        process while this one goes on (pipeline/write_behind.py); a run started meanwhile has a
        provisional id until then. Every read stays here, and first waits for the writes handed over."""
        if self._behind is None:
            self._behind = WriteBehind(  # the store's absolute URI: the writer needs no starting folder
                self.store, tracker_for, self._write_here, _count_write_seconds, self._created.__setitem__
            )
            _writing_behind.append(self)

    def flush(self) -> None:
        """Wait until every write handed to the writer process is made; raises StoreWriteFailed
        (pipeline/write_behind.py) if the store refused any."""
        if self._behind is not None:
            self._behind.flush()

    def stop_writing_behind(self) -> None:
        """Flush, and stop the writer process: later writes are made here."""
        behind, self._behind = self._behind, None
        if behind is not None:
            _writing_behind.remove(self)
            behind.close()

    def _write_here(self, method: str, run_id: str, kwargs: dict) -> None:
        """A write made in this process, whatever `_behind` says (the writer process is gone)."""
        behind, self._behind = self._behind, None
        try:
            getattr(self, method)(run_id, **kwargs)
        finally:
            self._behind = behind

    def real_run_id(self, run_id: str) -> str:
        """The store's id of a run this Tracker started: a provisional id (a run created behind)
        once the writer has made the run (this waits for it, and leaves a refused write for the
        next flush to report: the provisional id stays); any other id as it is."""
        if run_id.startswith(PROVISIONAL_PREFIX) and run_id not in self._created and self._behind is not None:
            self._behind.wait()
        return self._created.get(run_id, run_id)

    # -- experiments -------------------------------------------------------------------------

    def experiment_id(self, name: str) -> str:
        """The id of experiment `name`, created on first use (safe against a concurrent creator)."""
        if name not in self._experiment_ids:  # a sweep asks once per run: one lookup is enough
            self._experiment_ids[name] = self._find_or_create_experiment(name)
        return self._experiment_ids[name]

    def _find_or_create_experiment(self, name: str) -> str:
        """Its id; created if new. Either way it carries mlflow.experimentKind=custom_model_development,
        so that the MLflow UI opens it on its runs table ("Model training"), not on the GenAI view."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            experiment = self._create_experiment(name)
        if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            self.client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return experiment.experiment_id

    def _create_experiment(self, name: str):
        from mlflow.exceptions import MlflowException

        root = default_artifact_root(self.uri)
        location = f"{root}/{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}" if root else None
        try:
            with _store_lock(self.uri):
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    experiment_id = self.client.create_experiment(
                        name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
                    )
                    experiment = self.client.get_experiment(experiment_id)
                return experiment
        except MlflowException:
            # Another process created it between our lookup and our create.
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return experiment

    # -- runs --------------------------------------------------------------------------------

    @_writes
    def start_run(
        self, experiment: str, run_name: str, tags: Mapping[str, str], parent_run_id: str | None = None
    ) -> str:
        """Create a RUNNING run, started now; a child of `parent_run_id` when given. Returns its
        id: a provisional one while writing behind, for the writer process creates it."""
        start_time = int(time.time() * 1000)
        all_tags = {MLFLOW_RUN_NAME: run_name, **tags}
        if parent_run_id:
            all_tags[MLFLOW_PARENT_RUN_ID] = self.real_run_id(parent_run_id)
        experiment_id = self.experiment_id(experiment)
        if self._behind is not None:
            run_id = f"{PROVISIONAL_PREFIX}{uuid.uuid4().hex}"
            self._behind.submit(
                "create_run",
                run_id,
                experiment_id=experiment_id,
                run_name=run_name,
                tags=all_tags,
                start_time=start_time,
            )
            _provisional_ids[run_id] = self
        else:
            run_id = self._create_run(experiment_id, run_name, all_tags, start_time)
        _open_runs[run_id] = self
        return run_id

    @_writes
    def create_run(
        self,
        provisional_id: str,
        *,
        experiment_id: str,
        run_name: str,
        tags: Mapping[str, str],
        start_time: int,
        find_first: bool = False,
    ) -> str:
        """The run `start_run` handed over as `provisional_id`, created (made by the writer
        process; by this one if the writer is gone). With `find_first`, a run the writer made
        before it died unconfirmed is found, not made twice: the one of this experiment with
        this start time, name and parent."""
        found = self._find_run(experiment_id, run_name, tags, start_time) if find_first else None
        self._created[provisional_id] = found or self._create_run(experiment_id, run_name, tags, start_time)
        return self._created[provisional_id]

    def _create_run(self, experiment_id: str, run_name: str, tags: Mapping[str, str], start_time: int) -> str:
        run = self.client.create_run(experiment_id, start_time=start_time, tags=dict(tags), run_name=run_name)
        self._artifact_uris[run.info.run_id] = run.info.artifact_uri
        return run.info.run_id

    def _find_run(self, experiment_id: str, run_name: str, tags: Mapping[str, str], start_time: int) -> str | None:
        parent = tags.get(MLFLOW_PARENT_RUN_ID)
        for run in self.client.search_runs([experiment_id], f"attributes.start_time = {start_time}", max_results=100):
            if run.info.run_name == run_name and run.data.tags.get(MLFLOW_PARENT_RUN_ID) == parent:
                self._artifact_uris[run.info.run_id] = run.info.artifact_uri
                return run.info.run_id
        return None

    @_writes
    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[tuple[str, float, int]] = (),
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Metrics as (name, value, step), params and tags in as few requests as MLflow allows
        (one, for a run of this pipeline: each request costs a transaction on the store).
        The metrics' timestamp is now (milliseconds), unless given.

        Non-finite metric values are skipped, not logged: MLflow's charts cannot draw NaN.
        """
        timestamp = int(time.time() * 1000) if timestamp is None else timestamp
        points = [(name, float(value), int(step)) for name, value, step in metrics if math.isfinite(float(value))]
        texts = {k: str(v)[:MAX_PARAM_VALUE_LENGTH] for k, v in (params or {}).items()}
        labels = {k: str(v) for k, v in (tags or {}).items()}
        if self._behind is not None:  # plain values: they travel to the writer process
            self._behind.submit("log_batch", run_id, metrics=points, params=texts, tags=labels, timestamp=timestamp)
            return
        run_id = self.real_run_id(run_id)
        from mlflow.entities import Metric, Param, RunTag

        entries: dict[str, list] = {
            "metrics": [Metric(name, value, timestamp, step) for name, value, step in points],
            "params": [Param(k, v) for k, v in texts.items()],
            "tags": [RunTag(k, v) for k, v in labels.items()],
        }
        for request in _requests(entries):
            self.client.log_batch(run_id, metrics=request["metrics"], params=request["params"], tags=request["tags"])

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        self.log_batch(run_id, params=params)

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        self.log_batch(run_id, tags=tags)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        self.log_batch(run_id, metrics=[(name, value, step) for name, value in metrics.items()])

    @_writes
    def log_artifacts(
        self,
        run_id: str,
        local_dir: Path | str,
        artifact_path: str | None = None,
        *,
        remove: bool = False,
        make: Sequence[tuple[Callable[..., None], tuple]] = (),
    ) -> None:
        """Upload `local_dir`'s files, once each `make` call, `(function, args)`, has made its file
        there (`function(local_dir, *args)`); with `remove`, the folder is the Tracker's from now on,
        and removed once uploaded. A run created behind has its files made and uploaded by the
        writer process (the folder is moved aside for it): only there is its artifact location
        known, and the sweep's own process goes on meanwhile.

        A run this Tracker started goes straight to its artifact repository: MlflowClient's
        log_artifacts would first read the whole run back from the store (get_run, its params,
        tags and metrics) only to learn the artifact location that create_run already returned,
        most of an upload's time for a run's few small files."""
        if self._behind is not None and remove and str(run_id).startswith(PROVISIONAL_PREFIX):
            handed = f"{local_dir}-handed"  # the caller's own clean-up of local_dir finds nothing
            os.replace(local_dir, handed)
            self._behind.submit(
                "log_artifacts", run_id, local_dir=handed, artifact_path=artifact_path, remove=True, make=make
            )
            return
        if remove and not os.path.isdir(local_dir):
            return  # a folder handed over is gone once uploaded: the writer made this upload before it died
        try:
            for function, args in make:
                function(str(local_dir), *args)
            self._upload(self.real_run_id(run_id), str(local_dir), artifact_path)
        finally:
            if remove:  # uploaded or not (the run then ends FAILED), the folder is not needed again
                shutil.rmtree(local_dir, ignore_errors=True)

    def _upload(self, run_id: str, local_dir: str, artifact_path: str | None) -> None:
        location = self._artifact_uris.get(run_id)
        if location is None or self.uri.startswith("databricks"):  # the client adds a Databricks profile
            self.flush()  # it reads the run back
            self.client.log_artifacts(run_id, local_dir, artifact_path)
            return
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        get_artifact_repository(location, tracking_uri=self.store).log_artifacts(local_dir, artifact_path)

    @_writes
    def end_run(self, run_id: str, status: str) -> None:
        """status: FINISHED | FAILED | KILLED."""
        if self._behind is not None:
            self._behind.submit("end_run", run_id, status=status)
        else:
            self.client.set_terminated(self.real_run_id(run_id), status=status)
        _open_runs.pop(run_id, None)
        self._artifact_uris.pop(self._created.get(run_id, run_id), None)

    @_writes
    def reopen_run(self, run_id: str) -> None:
        """A run that was killed (or lost its process) RUNNING again, to continue from its checkpoint."""
        self.flush()
        self.client.update_run(self.real_run_id(run_id), status="RUNNING")
        _open_runs[run_id] = self

    # -- reading back ------------------------------------------------------------------------

    def runs(self, experiment: str, filter_string: str = "") -> list[RunRecord]:
        """All runs of `experiment` matching an MLflow filter, newest first."""
        from mlflow.entities import ViewType

        self.flush()
        experiment_obj = self.client.get_experiment_by_name(experiment)
        if experiment_obj is None:
            return []
        # Page by page, each turned into plain records before the next is read: MLflow builds
        # a page's ORM objects and entities all at once (1.2 GB for the 10,000 runs of a grid).
        records, token = [], None
        while True:
            page = self.client.search_runs(
                [experiment_obj.experiment_id],
                filter_string=filter_string,
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=SEARCH_PAGE,
                order_by=["attributes.start_time DESC"],
                page_token=token,
            )
            records += [_record(run) for run in page]
            token = page.token
            if not token:
                return records

    def get_run(self, run_id: str) -> RunRecord:
        self.flush()
        return _record(self.client.get_run(self.real_run_id(run_id)))

    def finished_run_with(
        self, experiment: str, config_hash: str, tags: Mapping[str, str] | None = None
    ) -> Optional[RunRecord]:
        """The newest FINISHED run of `experiment` whose config hash is `config_hash` (and whose
        tags have the values in `tags`), or None."""
        runs = self.runs(
            experiment, f"tags.config_hash = '{config_hash}' and attributes.status = 'FINISHED'" + _tag_filter(tags)
        )
        return runs[0] if runs else None

    def finished_config_hashes(self, experiment: str, tags: Mapping[str, str] | None = None) -> set[str]:
        """The config hashes of every FINISHED run of `experiment` (with the values in `tags`)."""
        runs = self.runs(experiment, "attributes.status = 'FINISHED'" + _tag_filter(tags))
        return {run.tags["config_hash"] for run in runs if "config_hash" in run.tags}

    def metric_history(self, run_id: str, name: str) -> list[MetricPoint]:
        """Every logged value of metric `name`, by step."""
        self.flush()
        points = self.client.get_metric_history(self.real_run_id(run_id), name)
        return sorted(
            (MetricPoint(int(m.step), float(m.value), int(m.timestamp)) for m in points),
            key=lambda p: (p.step, p.timestamp),
        )

    def experiment_url_path(self, experiment: str) -> str:
        """The UI's path of `experiment`'s runs table in the model-training view.

        MLflow 3.17.2's UI picks the view from the link's `?workflowType=` or else the browser's
        localStorage `mlflow.workflowType` (initially "genai"), never from the store: its hook for
        an experiment's kind returns the kind of that workflow type while a feature flag that is
        hard-coded on (`Z0:()=>R`, `R=()=>!0` in main.js) holds, and reads the experiment tag
        mlflow.experimentKind only when it is off; the experiments list links to the bare
        `#/experiments/<id>`. So a plain click opens GenAI until a user switches; the link says which."""
        return f"#/experiments/{self.experiment_id(experiment)}/runs?workflowType=machine_learning"

    @_writes
    def share_table_view(self, experiment: str, key: str, view: Mapping[str, object]) -> str:
        """Store a runs-table view (columns, sort) for the UI's ?viewStateShareKey=`key`; returns
        the path that opens it. The UI keeps a user's columns per browser; this link is the one
        that anyone opening the store sees the same way."""
        import json

        self.client.set_experiment_tag(
            self.experiment_id(experiment), f"{SHARED_VIEW_TAG_PREFIX}{key}", json.dumps(dict(view))
        )
        return f"{self.experiment_url_path(experiment)}&viewStateShareKey={key}"

    def download_artifacts(self, run_id: str, path: str, dst: Path) -> Path:
        self.flush()
        return Path(self.client.download_artifacts(self.real_run_id(run_id), path, str(dst)))


# Every run this process started and has not ended yet, so that an interruption at any point
# (even between creating a run and the code that would end it) leaves none RUNNING.
_open_runs: dict[str, "Tracker"] = {}
# The Tracker of each provisional id this process gave out (Tracker.start_run, writing behind).
_provisional_ids: dict[str, "Tracker"] = {}


def real_run_id(run_id: str) -> str:
    """The store's id of a run started here: waits for the writer process to have created a run
    started behind (Tracker.real_run_id); any other id as it is."""
    tracker = _provisional_ids.get(run_id)
    return tracker.real_run_id(run_id) if tracker is not None else run_id


def end_open_runs(status: str, reason: str) -> None:
    """End every run this process still has open with `status` (KILLED after Ctrl-C, SIGTERM)."""
    for run_id, tracker in list(_open_runs.items()):
        try:
            tracker.set_tags(run_id, {"failure_reason": reason})
            tracker.end_run(run_id, status)
        except Exception:  # the store itself may be what failed; the others still get ended
            _open_runs.pop(run_id, None)


def tracker_for(uri: str) -> Tracker:
    """One Tracker per store for the whole process: making an MlflowClient costs about 40 ms. A
    relative SQLite path names another store from another starting folder: the key says which."""
    return _tracker_for(uri, store_uri(uri))


@lru_cache(maxsize=8)
def _tracker_for(uri: str, store: str) -> Tracker:
    return Tracker(uri)


def ui_hint(uri: str, path: str) -> str:
    """How to open `path` (a UI route, e.g. experiment_url_path's) in the MLflow UI, runnable as
    printed from where the command ran: the venv's own `mlflow` for a local store, or this
    Python's `-m mlflow` where there is no such script (MLflow installed with `pip --target`)."""
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/{path}"
    script = Path(sys.executable).with_name("mlflow")
    mlflow_command = script if script.exists() else f"{sys.executable} -m mlflow"
    return f"{mlflow_command} ui --backend-store-uri {uri}, then open http://127.0.0.1:5000/{path}"


def mlflow_version() -> str:
    import mlflow

    return mlflow.__version__
