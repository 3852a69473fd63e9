"""Sweeps end to end: parent and child runs, the summary, failures, bitwise reruns, resume."""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

import pytest

from _cli import assert_refused, client, run_cli, runs

from pipeline.sweep import clock

pytestmark = pytest.mark.slow

SMALL = ("+experiment=relu_sweep", "train.steps=200", "train.log_every=50")


def children_and_parents(cwd: Path, experiment: str):
    table = runs(cwd, experiment)
    is_child = table["tags.mlflow.parentRunId"].notna()
    return table[is_child], table[~is_child]


def parent_artifacts(cwd: Path, parent_id: str, dst: Path) -> Path:
    return Path(client(cwd).download_artifacts(parent_id, "", str(dst)))


def test_sweep_has_a_parent_with_children_and_a_summary(tmp_path):
    result = run_cli(tmp_path, *SMALL, "model.hidden=1,3", "optim.lr=0.1,1.2")
    assert result.returncode == 0, result.stderr
    assert not list(tmp_path.glob("mlflow.db-*"))  # the store closed: the file alone holds it
    children, parents = children_and_parents(tmp_path, "relu_sweep")
    assert len(parents) == 1 and len(children) == 4
    parent = parents.iloc[0]
    assert parent["status"] == "FINISHED"
    assert set(children["tags.mlflow.parentRunId"]) == {parent["run_id"]}
    assert set(children["status"]) == {"FINISHED"}
    assert sorted(zip(children["params.model.hidden"], children["params.optim.lr"])) == [
        ("1", "0.1"),
        ("1", "1.2"),
        ("3", "0.1"),
        ("3", "1.2"),
    ]
    assert parent["params.sweep.model.hidden"] == "1,3"
    assert parent["metrics.n_finished"] == 4 and parent["metrics.n_failed"] == 0
    # The last line says how to open the sweep's table in the UI, runnable as printed.
    hint = result.stdout.strip().splitlines()[-1]
    assert hint.startswith(
        f"see it: {Path(sys.executable).with_name('mlflow')} ui --backend-store-uri sqlite:///mlflow.db"
    )
    assert f"/#/experiments/{parent['experiment_id']}/runs?workflowType=machine_learning" in hint
    assert f"viewStateShareKey=sweep-{parent['run_id']}" in hint
    # The best by the settled objective (the mean of val_accuracy's last 5 logged points).
    best = children.loc[children["metrics.val_accuracy_last5_mean"].idxmax()]
    assert parent["tags.best_run_id"] == best["run_id"]
    assert parent["metrics.best_val_accuracy_last5_mean"] == best["metrics.val_accuracy_last5_mean"]
    assert parent["metrics.best_val_accuracy"] == best["metrics.val_accuracy"]
    assert parent["tags.best_separable"] in ("true", "false")

    artifacts = parent_artifacts(tmp_path, parent["run_id"], tmp_path / "parent")
    for name in ("results.csv", "sweep_accuracy.png", "loss_curves.png", "best_decision_boundaries.png"):
        assert (artifacts / name).stat().st_size > 0, name
    with (artifacts / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {row["run_id"] for row in rows} == set(children["run_id"])
    assert {row["status"] for row in rows} == {"FINISHED"}

    # The compact table at the end of the command names every job's run.
    assert "model.hidden" in result.stdout and "val_accuracy" in result.stdout
    for run_id in children["run_id"]:
        assert run_id in result.stdout
    assert "[4/4]" in result.stdout
    assert "\033[" not in result.stdout + result.stderr  # no terminal codes off a terminal
    assert " : model.hidden=" not in result.stdout + result.stderr  # Hydra's "#N : overrides" lines are off
    assert len([line for line in result.stdout.splitlines() if line.startswith("[")]) == 4  # one line per job
    for name in ("val_accuracy", "val_accuracy_last5_mean"):  # the digits the data supports
        assert all(len(row[name].partition(".")[2]) <= 4 for row in rows), [row[name] for row in rows]


def test_a_diverging_job_fails_alone_and_fails_the_parent(tmp_path):
    result = run_cli(tmp_path, *SMALL, "model.hidden=3", "optim.lr=0.5,1e9", "model.init=he")
    assert result.returncode == 1, result.stderr  # a job failed: said in the exit status, after the summary
    assert "best:" in result.stdout
    children, parents = children_and_parents(tmp_path, "relu_sweep")
    by_lr = {row["params.optim.lr"]: row for _, row in children.iterrows()}
    assert by_lr["0.5"]["status"] == "FINISHED"
    failed = by_lr["1000000000.0"]
    assert failed["status"] == "FAILED"
    assert "diverged" in failed["tags.failure_reason"]
    diverged_at = int(failed["tags.diverged_at_step"])
    history = client(tmp_path).get_metric_history(failed["run_id"], "loss")
    assert all(m.step < diverged_at for m in history)  # kept up to the divergence, not past it
    parent = parents.iloc[0]
    assert parent["status"] == "FAILED"
    assert parent["metrics.n_failed"] == 1 and parent["metrics.n_finished"] == 1


def _final_state(cwd: Path, experiment: str) -> dict[str, tuple]:
    """{config_hash: (final metrics, sha256 of params.npz)} of the sweep's child runs."""
    children, _ = children_and_parents(cwd, experiment)
    state = {}
    for _, row in children.iterrows():
        params_file = client(cwd).download_artifacts(row["run_id"], "params.npz", str(cwd / row["run_id"]))
        metrics = tuple(
            sorted((k, v) for k, v in row.items() if k.startswith("metrics.") and "seconds" not in k and v == v)
        )  # v == v: not NaN (a parent's column)
        state[row["tags.config_hash"]] = (metrics, hashlib.sha256(Path(params_file).read_bytes()).hexdigest())
    return state


def test_the_same_sweep_twice_is_bitwise_identical(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for where in (first, second):
        where.mkdir()
        result = run_cli(where, *SMALL, "model.hidden=2,4", "optim.lr=1.2")
        assert result.returncode == 0, result.stderr
    assert _final_state(first, "relu_sweep") == _final_state(second, "relu_sweep")


def test_resume_skips_finished_jobs_and_trains_the_rest(tmp_path):
    assert run_cli(tmp_path, *SMALL, "model.hidden=1,2", "optim.lr=1.2").returncode == 0
    result = run_cli(tmp_path, *SMALL, "model.hidden=1,2,3", "optim.lr=1.2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("SKIPPED") >= 2
    children, parents = children_and_parents(tmp_path, "relu_sweep")
    assert len(children) == 3  # 2 from the first sweep, 1 new: nothing trained twice
    assert children["tags.config_hash"].nunique() == 3
    newest = parents.sort_values("start_time").iloc[-1]
    resumed = {v for k, v in newest.items() if k.startswith("tags.resumed.") and isinstance(v, str)}
    first_sweep = set(children[children["tags.mlflow.parentRunId"] != newest["run_id"]]["run_id"])
    assert resumed == first_sweep
    assert newest["metrics.n_skipped"] == 2 and newest["metrics.n_finished"] == 1

    forced = run_cli(tmp_path, *SMALL, "model.hidden=1", "optim.lr=1.2", "resume=false")
    assert forced.returncode == 0, forced.stderr
    children, _ = children_and_parents(tmp_path, "relu_sweep")
    assert len(children) == 4


def test_seeds_parent_reports_mean_and_std(tmp_path):
    result = run_cli(tmp_path, "+experiment=seeds", "train.steps=200", "train.log_every=50", "train.seed=0,1,2")
    assert result.returncode == 0, result.stderr
    children, parents = children_and_parents(tmp_path, "seeds")
    parent = parents.iloc[0]
    values = children["metrics.val_accuracy"]
    assert parent["metrics.val_accuracy_mean"] == pytest.approx(values.mean())
    assert parent["metrics.val_accuracy_std"] == pytest.approx(values.std(ddof=1))
    settled = children["metrics.val_accuracy_last5_mean"]
    assert parent["metrics.val_accuracy_last5_mean_mean"] == pytest.approx(settled.mean())


def test_optuna_search_is_a_tracked_sweep(tmp_path):
    result = run_cli(
        tmp_path, "+experiment=lr_search", "hydra.sweeper.n_trials=2", "train.steps=100", "train.log_every=50"
    )
    assert result.returncode == 0, result.stderr
    children, parents = children_and_parents(tmp_path, "lr_search")
    assert len(parents) == 1 and len(children) == 2
    assert parents.iloc[0]["status"] == "FINISHED"
    assert "\033[" not in result.stdout + result.stderr  # Optuna's colours stay off a file
    assert "0.08096384026619578" not in result.stdout


def test_submitit_local_jobs_attach_to_the_parent(tmp_path):
    # Hydra's submitit launcher (the SLURM path, here with its local executor): each job runs
    # in its own process and finds the parent run in the shared sweep directory.
    result = run_cli(tmp_path, *SMALL, "hydra/launcher=submitit_local", "model.hidden=2,4", "optim.lr=1.2")
    assert result.returncode == 0, result.stderr
    children, parents = children_and_parents(tmp_path, "relu_sweep")
    assert len(parents) == 1 and len(children) == 2
    assert set(children["tags.mlflow.parentRunId"]) == {parents.iloc[0]["run_id"]}
    assert set(children["status"]) == {"FINISHED"} and parents.iloc[0]["status"] == "FINISHED"


def _children_described(cwd: Path, experiment: str) -> dict[str, dict]:
    """{config_hash: the child's params and tags} but what names its sweep, its time or its batch."""
    children, _ = children_and_parents(cwd, experiment)
    per_sweep = ("tags.command", "tags.hydra.output_dir", "tags.mlflow.parentRunId", "tags.batch.")
    return {
        row["tags.config_hash"]: {
            k: v
            for k, v in row.items()
            if k.startswith(("params.", "tags.")) and not k.startswith(per_sweep) and v == v
        }
        for _, row in children.iterrows()
    }


def test_a_grid_launched_in_chunks_gives_the_children_of_one_launch(tmp_path):
    grid = (*SMALL, "model.hidden=1,3", "optim.lr=0.1,1.2", "train.seed=0,1")
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    for where, chunk in ((whole, "null"), (chunked, "3")):
        where.mkdir()
        result = run_cli(where, *grid, f"hydra.launcher.chunk_size={chunk}")
        assert result.returncode == 0, result.stderr
        # One progress line per job, counted across the chunks, and one parent for the sweep.
        assert [line.split("]")[0] for line in result.stdout.splitlines() if line.startswith("[")] == [
            f"[{n}/8" for n in range(1, 9)
        ]
        _, parents = children_and_parents(where, "relu_sweep")
        assert len(parents) == 1 and parents.iloc[0]["metrics.n_finished"] == 8
    (multirun,) = chunked.glob("multirun/*/*/multirun.yaml")
    assert "max_batch_size: 3" in multirun.read_text()  # Hydra's sweeper handed the jobs over 3 at a time
    described = _children_described(whole, "relu_sweep")
    assert len(described) == 8 and _children_described(chunked, "relu_sweep") == described
    assert _final_state(chunked, "relu_sweep") == _final_state(whole, "relu_sweep")  # the same bits


def test_an_ad_hoc_sweep_is_batched_and_basic_gives_the_same_bits(tmp_path):
    # No experiment and no launcher named: jobs of one shape share one compiled program.
    grid = ("-m", "data=moons", "optim.lr=0.1,0.5", "train.steps=200", "train.log_every=50")
    batched, basic = tmp_path / "batched", tmp_path / "basic"
    for where, extra in ((batched, ()), (basic, ("hydra/launcher=basic",))):
        where.mkdir()
        result = run_cli(where, *grid, *extra)
        assert result.returncode == 0, result.stderr
    children, _ = children_and_parents(batched, "Default")
    assert len(children) == 2 and set(children["tags.batch.size"]) == {"2"}
    assert children["tags.batch.program"].nunique() == 1
    alone, _ = children_and_parents(basic, "Default")
    assert set(alone["tags.batch.size"]) == {"1"}  # each job its own program
    assert _final_state(batched, "Default") == _final_state(basic, "Default")


def test_a_value_only_some_jobs_read_is_allowed_when_they_train_in_another_chunk(tmp_path):
    # model.hidden=8 is read by the shallow job only; the logistic job's chunk (of one) has no shallow job.
    result = run_cli(
        tmp_path,
        "-m",
        "model=logistic,shallow",
        "model.hidden=8",
        "train.steps=200",
        "train.log_every=50",
        "hydra.launcher.chunk_size=1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("FINISHED") >= 2
    elsewhere = tmp_path / "refused"
    elsewhere.mkdir()
    refused = run_cli(elsewhere, "-m", "optim.lr=0.1,0.2", "hydra.launcher.chunk_size=0")
    assert_refused(refused, elsewhere, "hydra.launcher.chunk_size=0")


def test_the_batched_launchers_chunk_becomes_the_basic_sweepers_batch_size_unless_set():
    from omegaconf import OmegaConf

    from pipeline.sweep import chunk_the_grid

    def config(launcher: str, max_batch_size=None, chunk_size=100, sweeper="BasicSweeper"):
        return OmegaConf.create(
            {
                "hydra": {
                    "launcher": {"_target_": f"hydra_plugins.{launcher}", "chunk_size": chunk_size},
                    "sweeper": {
                        "_target_": f"hydra._internal.core_plugins.basic_sweeper.{sweeper}",
                        "max_batch_size": max_batch_size,
                    },
                }
            }
        )

    chunked = config("batched_launcher.batched_launcher.BatchedLauncher")
    chunk_the_grid(chunked)
    assert chunked.hydra.sweeper.max_batch_size == 100
    for untouched, expected in (
        (config("batched_launcher.batched_launcher.BatchedLauncher", 7), 7),
        (config("batched_launcher.batched_launcher.BatchedLauncher", chunk_size=None), None),
        (config("other.Launcher"), None),
    ):
        chunk_the_grid(untouched)
        assert untouched.hydra.sweeper.max_batch_size == expected


def test_the_eta_counts_from_the_second_job():
    # The first job waits for its batch's compile and training: no ETA from it (it said 498 s
    # for a 120-job sweep that took 18 s). From the second job on, the time since the first ended.
    assert clock(4.2, 1, 120, since_first=0.0) == "elapsed 4s"
    assert clock(4.4, 2, 120, since_first=0.1) == "elapsed 4s, eta 12s"  # 0.1 s a job, 118 to go
    assert clock(18.0, 120, 120, since_first=13.8) == "elapsed 18s"


def test_a_job_finds_its_parent_run_in_its_sweeps_process_and_from_the_folder_elsewhere(tmp_path, compose):
    from types import SimpleNamespace

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from pipeline import sweep

    config = compose(["tracking.experiment=parents"], hydra_config=True)
    with open_dict(config):
        config.hydra.mode = RunMode.MULTIRUN
        config.hydra.sweep.dir = str(tmp_path)
    (tmp_path / sweep.PARENT_ID_FILE).write_text("written-for-workers")
    before, open_sweep = HydraConfig.instance().cfg, None
    HydraConfig.instance().set_config(config)
    try:
        # A worker process (joblib's, submitit's) has no open sweep: it reads the sweep's folder.
        assert sweep.parent_run_id_for_job() == "written-for-workers"
        # The sweep's own process: the open sweep's parent, without resolving the folder per job.
        open_sweep = SimpleNamespace(parent_run_id="the-open-sweeps")
        sweep._open_sweeps.append(open_sweep)
        assert sweep.parent_run_id_for_job() == "the-open-sweeps"
    finally:
        if open_sweep in sweep._open_sweeps:
            sweep._open_sweeps.remove(open_sweep)
        HydraConfig.instance().cfg = before


def test_a_sweep_over_config_groups_names_tables_and_ranks_the_options_chosen(tmp_path):
    grid = ("-m", "data=flower,moons", "model=logistic,shallow", "train.steps=200", "train.log_every=50")
    result = run_cli(tmp_path, *grid, "tracking.plots=false")
    assert result.returncode == 0, result.stderr
    children, parents = children_and_parents(tmp_path, "Default")
    assert sorted(zip(children["params.data"], children["params.model"], children["tags.mlflow.runName"])) == [
        ("flower", "logistic", "flower-logistic-lr1.2-s0"),
        ("flower", "shallow", "flower-shallow-tanh-h4-lr1.2-s0"),
        ("moons", "logistic", "moons-logistic-lr1.2-s0"),
        ("moons", "shallow", "moons-shallow-tanh-h4-lr1.2-s0"),
    ]
    parent = parents.iloc[0]
    best = children.set_index("run_id").loc[parent["tags.best_run_id"]]
    assert (parent["tags.best.data"], parent["tags.best.model"]) == (best["params.data"], best["params.model"])
    assert f"best: data={best['params.data']} model={best['params.model']} " in result.stdout
    assert "None" not in result.stdout
    artifacts = parent_artifacts(tmp_path, parent["run_id"], tmp_path / "parent")
    with (artifacts / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((row["data"], row["model"]) for row in rows) == sorted(
        zip(children["params.data"], children["params.model"])
    )


def _loss_points(cwd: Path) -> int:
    """The loss points in the store so far, read with sqlite3 while the command writes it."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{cwd / 'mlflow.db'}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM metrics WHERE key = 'loss'").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def test_a_sweep_interrupted_in_its_last_job_and_run_again_sums_up_every_job(tmp_path):
    import signal
    import time

    from _cli import start_cli

    # A short job, then a long one (trained in segments, checkpointed): Ctrl-C while the long one trains.
    grid = ("-m", "train.steps=300,1000000", "train.log_every=100", "tracking.plots=false")
    process = start_cli(tmp_path, *grid)
    deadline = time.monotonic() + 120
    while _loss_points(tmp_path) < 30 and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    children, _ = children_and_parents(tmp_path, "Default")
    assert sorted(children["status"]) == ["FINISHED", "KILLED"]

    result = run_cli(tmp_path, *grid)
    assert result.returncode == 0, result.stderr
    children, parents = children_and_parents(tmp_path, "Default")
    assert len(children) == 2 and set(children["status"]) == {"FINISHED"}  # the killed run continued, not a new one
    again = parents.sort_values("start_time").iloc[-1]
    assert again["tags.sweep.n_jobs"] == "2"
    assert (again["metrics.n_skipped"], again["metrics.n_finished"]) == (1, 1)  # every job, counted once
    assert "1 finished, 1 skipped" in result.stdout
    artifacts = parent_artifacts(tmp_path, again["run_id"], tmp_path / "parent")
    with (artifacts / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {(row["train.steps"], row["status"]) for row in rows} == {("300", "SKIPPED"), ("1000000", "FINISHED")}


def test_a_jobs_line_names_its_run_by_the_stores_id_never_a_provisional_one(tmp_path, compose, capsys):
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import JobReturn, JobStatus
    from hydra.types import RunMode
    from omegaconf import open_dict

    from pipeline import sweep, tracking

    tracker = tracking.Tracker(f"sqlite:///{tmp_path}/mlflow.db")
    tracker.write_behind()  # as the batched launcher does for a grid without plots
    config = compose(["+lesson=derivatives"], hydra_config=True)
    with open_dict(config):
        config.hydra.mode = RunMode.MULTIRUN
    before = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(config)
    try:
        run_id = tracker.start_run("lessons", "derivatives", {})  # what a lesson's job returns: its run's id
        assert run_id.startswith(tracking.PROVISIONAL_PREFIX)
        callback = sweep.PipelineCallback()
        callback.config, callback.total_jobs = config, 2
        done = JobReturn(overrides=["+lesson=derivatives"], status=JobStatus.COMPLETED, _return_value=run_id)
        callback.on_job_end(config, done)
        line = capsys.readouterr().out
        assert tracker.real_run_id(run_id) in line and tracking.PROVISIONAL_PREFIX not in line, line
    finally:
        HydraConfig.instance().cfg = before
        tracker.end_run(run_id, "FINISHED")
        tracking.finish_writes()


def test_a_count_of_jobs_is_singular_for_one():
    from pipeline.sweep import counted

    assert [counted(n, "job") for n in (1, 8, 0)] == ["1 job", "8 jobs", "? jobs"]


def test_a_sweep_of_one_value_names_its_best_by_its_run_and_leaks_no_warning(tmp_path):
    result = run_cli(tmp_path, "-m", "train.seed=0", "train.steps=100", "train.log_every=50")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr + result.stdout, result.stderr  # matplotlib's empty legend, in a drawer
    assert "sweep: 1 job ->" in result.stdout
    best = next(line for line in result.stdout.splitlines() if line.startswith("best:"))
    assert best.startswith("best: tanh-h4-lr1.2-s0 val_accuracy_last5_mean="), best


def test_a_sweep_with_tracking_off_prints_its_table_from_the_jobs_results(tmp_path):
    result = run_cli(
        tmp_path, "-m", "train.steps=100", "train.log_every=50", "optim.lr=0.1,1e8", "tracking.enabled=false"
    )
    assert result.returncode == 1, result.stderr  # a job diverged
    assert not (tmp_path / "mlflow.db").exists()
    out = result.stdout
    assert "sweep: 2 jobs (tracking.enabled=false: nothing is recorded in MLflow)" in out
    table = out[out.index("optim.lr  status") :].splitlines()
    assert table[2].split()[:2] == ["0.1", "FINISHED"] and table[3].split() == ["1e+08", "FAILED"]
    assert "run_id" not in table[0]
    assert any(line.startswith("best: optim.lr=0.1 val_accuracy_last5_mean=") for line in table)
    assert "failed: tanh-h4-lr1e+08-s0: diverged: " in out
    assert "metrics up to that step are kept" not in out + result.stderr  # nothing is kept
