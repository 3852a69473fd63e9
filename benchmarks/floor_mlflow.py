"""The MLflow side of the floor: a bare script that writes a sweep's runs and nothing else.

    python benchmarks/floor_mlflow.py shape --store sqlite:///DIR/mlflow.db > shape.json
    python benchmarks/floor_mlflow.py write --shape shape.json --runs 48 --dir EMPTY_DIR

`shape` reads, from a store a sweep has just written, what one of its child runs and its
parent hold: the params, tags and metric histories (every point, values and steps) and
the artifact files (names and sizes), and the experiment's tags. It is run outside the
measurement, so the floor follows the pipeline whenever the pipeline's runs change shape.

`write` is the measurement, timed whole-process by the caller: start Python, import
MLflow, create a fresh SQLite store in write-ahead-log mode (as pipeline/tracking.py does)
and an experiment, then a parent run and `--runs` child runs of that shape. Each child is
one `create_run` (with its tags), one `log_batch` (params and every metric point; cut only
where MLflow's per-request limits force it), one `log_artifacts` (files of the same names
and sizes) and `set_terminated(FINISHED)`; the parent gets its params at the start and its
metrics, tags and files at the end. It prints one line of JSON with its own timers:
import_seconds (from the script's first line to MLflow imported), store_seconds (schema
and experiment), files_seconds (writing the artifact files once), runs_seconds and
per_run_seconds (the children only), parent_seconds, inside_seconds (all of it).
"""

from __future__ import annotations

import time

started = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

# MLflow's REST limits per log_batch request (mlflow/utils/validation.py), as the pipeline keeps them.
LIMITS = {"params": 100, "tags": 100, "metrics": 1000}
MAX_ENTITIES = 1000
PARENT_TAG = "mlflow.parentRunId"
SET_BY_CREATE = {"mlflow.runName", PARENT_TAG}


# -- reading a shape ---------------------------------------------------------------------------


def read_run(client, run, files_root: Path | None = None) -> dict:
    """Params, tags, metric histories and artifact sizes of one run."""
    metrics = {
        key: [(m.value, m.step) for m in client.get_metric_history(run.info.run_id, key)] for key in run.data.metrics
    }
    return {
        "run_name": run.info.run_name,
        "params": dict(run.data.params),
        "tags": {k: v for k, v in run.data.tags.items() if k not in SET_BY_CREATE},
        "metrics": metrics,
        "artifacts": artifact_sizes(client, run.info.run_id),
    }


def artifact_sizes(client, run_id: str, path: str | None = None) -> list[tuple[str, int]]:
    out = []
    for entry in client.list_artifacts(run_id, path):
        if entry.is_dir:
            out += artifact_sizes(client, run_id, entry.path)
        else:
            out.append((entry.path, int(entry.file_size or 0)))
    return out


def read_shape(store: str, experiment: str | None = None) -> dict:
    """The shape of a sweep in `store`: its newest parent run (one with children), one FINISHED child."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    experiments = [client.get_experiment_by_name(experiment)] if experiment else client.search_experiments()
    for exp in experiments:
        # The newest runs only (a 10,000-run store would take minutes to read whole).
        runs = client.search_runs([exp.experiment_id], max_results=200, order_by=["attributes.start_time DESC"])
        children = [r for r in runs if PARENT_TAG in r.data.tags]
        if not children:
            continue
        parent = client.get_run(children[0].data.tags[PARENT_TAG])
        mine = [r for r in children if r.data.tags[PARENT_TAG] == parent.info.run_id]
        finished = [r for r in mine if r.info.status == "FINISHED"] or mine
        # The median child by metric points (a diverged job's cut history is not the typical shape).
        points = lambda r: sum(len(client.get_metric_history(r.info.run_id, k)) for k in r.data.metrics)
        sample = finished[:: max(1, len(finished) // 16)]
        child = sorted(sample, key=lambda r: (points(r), r.info.start_time))[len(sample) // 2]
        child_shape = read_run(client, child)
        return {
            "experiment": exp.name,
            "experiment_tags": {k: v for k, v in exp.tags.items() if not k.startswith("mlflow.note")},
            "n_children_seen": len(mine),
            "child": child_shape,
            "parent": read_run(client, parent),
            "summary": summarize(child_shape),
        }
    sys.exit(f"no sweep (a parent run with children) in {store}")


def summarize(run: dict) -> dict:
    return {
        "params": len(run["params"]),
        "tags": len(run["tags"]),
        "metric_keys": len(run["metrics"]),
        "metric_points": sum(len(v) for v in run["metrics"].values()),
        "artifacts": len(run["artifacts"]),
        "artifact_bytes": sum(size for _, size in run["artifacts"]),
    }


# -- writing -----------------------------------------------------------------------------------


def write_files(shape: dict, where: Path) -> None:
    """The run's artifact files, same names and sizes (random bytes: incompressible, like PNGs)."""
    rng = __import__("random").Random(0)
    for name, size in shape["artifacts"]:
        path = where / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))


def requests(metrics: list, params: list, tags: list):
    """Entities cut into log_batch requests within MLflow's limits (one request for our runs)."""
    queues = {"params": list(params), "tags": list(tags), "metrics": list(metrics)}
    while any(queues.values()):
        request, room = {}, MAX_ENTITIES
        for kind in ("params", "tags", "metrics"):
            take = min(LIMITS[kind], room, len(queues[kind]))
            request[kind], queues[kind] = queues[kind][:take], queues[kind][take:]
            room -= take
        yield request


def write(shape: dict, runs: int, where: Path) -> dict:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    for noisy in ("alembic", "mlflow.store.db.utils", "mlflow.store.sqlalchemy_store"):  # as the pipeline does
        __import__("logging").getLogger(noisy).setLevel("WARNING")
    t_import = time.perf_counter()
    where.mkdir(parents=True, exist_ok=True)
    db = where / "mlflow.db"
    connection = sqlite3.connect(db)  # write-ahead log, as pipeline/tracking.py:use_write_ahead_log
    connection.execute("PRAGMA journal_mode=WAL")
    connection.close()
    client = MlflowClient(f"sqlite:///{db}")
    client.search_experiments(max_results=1)  # creates the schema
    experiment_id = client.create_experiment("floor", artifact_location=(where / "mlartifacts" / "floor").as_uri())
    for key, value in shape.get("experiment_tags", {}).items():
        client.set_experiment_tag(experiment_id, key, value)
    t_store = time.perf_counter()

    files = {}
    for role in ("child", "parent"):
        files[role] = where / f"files-{role}"
        files[role].mkdir()
        write_files(shape[role], files[role])
    t_files = time.perf_counter()

    def entities(run: dict):
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, points in run["metrics"].items() for value, step in points]
        return metrics, [Param(k, v) for k, v in run["params"].items()], [RunTag(k, v) for k, v in run["tags"].items()]

    parent_shape, child_shape = shape["parent"], shape["child"]
    parent = client.create_run(experiment_id, run_name=parent_shape["run_name"]).info.run_id
    client.log_batch(parent, params=[Param(k, v) for k, v in parent_shape["params"].items()])
    t_parent_started = time.perf_counter()

    for _ in range(runs):
        run_id = client.create_run(
            experiment_id, run_name=child_shape["run_name"], tags={**child_shape["tags"], PARENT_TAG: parent}
        ).info.run_id
        metrics, params, _ = entities(child_shape)
        for request in requests(metrics, params, []):
            client.log_batch(run_id, **request)
        if child_shape["artifacts"]:
            client.log_artifacts(run_id, str(files["child"]))
        client.set_terminated(run_id, "FINISHED")
    t_runs = time.perf_counter()

    metrics, _, tags = entities(parent_shape)
    for request in requests(metrics, [], tags):
        client.log_batch(parent, **request)
    if parent_shape["artifacts"]:
        client.log_artifacts(parent, str(files["parent"]))
    client.set_terminated(parent, "FINISHED")
    done = time.perf_counter()
    return {
        "runs": runs,
        "import_seconds": t_import - started,
        "store_seconds": t_store - t_import,
        "files_seconds": t_files - t_store,
        "runs_seconds": t_runs - t_parent_started,
        "per_run_seconds": (t_runs - t_parent_started) / max(runs, 1),
        "parent_seconds": (t_parent_started - t_files) + (done - t_runs),
        "inside_seconds": done - started,
        "shape": shape.get("summary", summarize(child_shape)),
        "mlflow": __import__("mlflow").__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("shape", help="read a sweep's run shape from a store (prints JSON)")
    s.add_argument("--store", required=True, help="tracking URI, e.g. sqlite:///DIR/mlflow.db")
    s.add_argument("--experiment", default=None)
    w = sub.add_parser("write", help="write a parent and N child runs of that shape into a fresh store")
    w.add_argument("--shape", required=True, type=Path)
    w.add_argument(
        "--runs",
        type=int,
        default=None,
        help="children to write (default: as many as the shape's sweep had, up to 200 read)",
    )
    w.add_argument("--dir", required=True, type=Path, help="an empty or new folder for the store")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if args.what == "shape":
        print(json.dumps(read_shape(args.store, args.experiment)))
    else:
        shape = json.loads(args.shape.read_text())
        print(json.dumps(write(shape, args.runs if args.runs is not None else shape["n_children_seen"], args.dir)))


if __name__ == "__main__":
    main()
