"""Tests for pipeline/summary.py against a real (temporary) SQLite MLflow store: the rows, the
ranking by the settled objective, the best and when it is not separable, the digits written,
the seed statistics."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipeline import summary
from pipeline.config import DataConfig
from pipeline.tracking import CONTINUED_TAG_PREFIX, NOTE_TAG, RESUMED_TAG_PREFIX, Tracker


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("empty_store")
    Tracker(f"sqlite:///{folder}/mlflow.db")
    return folder / "mlflow.db"


@pytest.fixture
def tracker(tmp_path, empty_store):
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    return Tracker(f"sqlite:///{tmp_path}/mlflow.db")


def child(
    tracker, parent, *, hidden, lr, val, seed=0, status="FINISHED", job=0, n_val=80, log_mean=True, params=None, name=""
):
    """A child run with a val_accuracy history `val` (one value per logged step) and its params
    (`params`: more of them, or others)."""
    name = name or f"relu-h{hidden}-lr{lr:g}-s{seed}"
    run_id = tracker.start_run(
        "sweep",
        name,
        {"hydra.job.num": str(job), "data.task": "binary", "data.n_val": str(n_val)},
        parent_run_id=parent,
    )
    metrics = [("val_accuracy", v, 100 * i) for i, v in enumerate(val)]
    metrics += [
        ("train_accuracy", val[-1] + 0.01, 100 * (len(val) - 1)),
        ("loss", 0.3, 0),
        ("gradcheck_rel_error", 1.234567e-16, 0),
    ]
    if log_mean:  # what pipeline/recording.py logs on every job
        metrics.append(("val_accuracy_last5_mean", sum(val[-5:]) / len(val[-5:]), 100 * (len(val) - 1)))
    tracker.log_batch(
        run_id,
        metrics=metrics,
        params={
            "model.hidden": hidden,
            "optim.lr": lr,
            "train.seed": seed,
            "model.activation": "relu",
            "data.name": "flower",
            "data.seed": 0,
            "data.val_fraction": 0.2,
            "data.path": None,
            "data.n_samples": 400,
            **(params or {}),
        },
    )
    tracker.end_run(run_id, status)
    return run_id


def sweep_config(params, plots=False):
    return OmegaConf.create(
        {
            "tracking": {"experiment": "sweep", "plots": plots},
            "hydra": {
                "sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper", "params": params},
                "overrides": {"task": []},
            },
        }
    )


def test_rows_rank_by_the_settled_objective_not_the_last_wobble(tracker):
    parent = tracker.start_run("sweep", "parent", {})
    # h20 ends on a lucky step (0.7875) but sits at ~0.73; h5 is steady at 0.77.
    wobbly = child(tracker, parent, hidden=20, lr=1.2, val=[0.70, 0.725, 0.7375, 0.725, 0.7250, 0.7875], job=0)
    steady = child(tracker, parent, hidden=5, lr=1.2, val=[0.70, 0.77, 0.77, 0.775, 0.7625, 0.775], job=1)
    failed = child(tracker, parent, hidden=50, lr=1.2, val=[0.5, 0.9], status="FAILED", job=2)
    rows = summary.run_rows(tracker, parent, "sweep", ["model.hidden"])
    assert [r["model.hidden"] for r in rows] == [5, 20, 50]
    assert {r["run_id"]: r["status"] for r in rows} == {wobbly: "FINISHED", steady: "FINISHED", failed: "FAILED"}
    by_id = {r["run_id"]: r for r in rows}
    assert by_id[wobbly]["val_accuracy"] == pytest.approx(0.7875)
    assert by_id[wobbly]["val_accuracy_last5_mean"] == pytest.approx(0.74)
    assert summary.objective_of(rows) == ("val_accuracy", True)
    assert [r["run_id"] for r in summary.ranked(rows)] == [steady, wobbly]  # never the failed one
    assert summary.best_row(rows)["run_id"] == steady


def test_the_settled_value_is_computed_from_the_history_when_a_run_did_not_log_it(tracker):
    parent = tracker.start_run("sweep", "parent", {})
    run_id = child(tracker, parent, hidden=4, lr=0.1, val=[0.1, 0.5, 0.6, 0.7, 0.8, 0.9], log_mean=False)
    (row,) = summary.run_rows(tracker, parent, "sweep", ["model.hidden"])
    assert row["run_id"] == run_id and row["val_accuracy_last5_mean"] == pytest.approx(0.7)
    assert summary.settled([1, 2, 3]) == 2 and summary.settled([]) != summary.settled([])  # nan


def test_rows_read_no_history_of_runs_that_logged_their_settled_objective(tracker, monkeypatch):
    """A grid's summary reads its runs in one search: a history read per run would be a query
    per run (minutes for 10,000), for a train metric the ranking does not use."""
    parent = tracker.start_run("sweep", "parent", {})
    logged = child(tracker, parent, hidden=4, lr=0.1, val=[0.5, 0.6, 0.7], job=0)
    old = child(tracker, parent, hidden=8, lr=0.1, val=[0.5, 0.6, 0.8], job=1, log_mean=False)
    read = []
    history = tracker.metric_history
    monkeypatch.setattr(
        tracker, "metric_history", lambda run_id, name: read.append((run_id, name)) or history(run_id, name)
    )
    rows = {row["run_id"]: row for row in summary.run_rows(tracker, parent, "sweep", ["model.hidden"])}
    assert read == [(old, "val_accuracy")]  # only the objective of the run that did not log it
    assert rows[logged]["val_accuracy_last5_mean"] == pytest.approx(0.6)
    assert rows[old]["val_accuracy_last5_mean"] == pytest.approx(0.6333333)
    assert rows[logged]["train_accuracy"] == pytest.approx(0.71)  # the final value is still there


def test_resumed_jobs_are_rows_too(tracker):
    first = tracker.start_run("sweep", "first", {})
    earlier = child(tracker, first, hidden=4, lr=0.1, val=[0.8] * 5)
    parent = tracker.start_run("sweep", "second", {})
    tracker.set_tags(parent, {f"{RESUMED_TAG_PREFIX}0": earlier})
    (row,) = summary.run_rows(tracker, parent, "sweep", ["model.hidden"])
    assert row["run_id"] == earlier and row["status"] == "SKIPPED"


def test_best_not_separable_from_the_runner_up_by_fewer_than_two_examples(tracker):
    parent = tracker.start_run("sweep", "parent", {})
    child(tracker, parent, hidden=20, lr=1.2, val=[0.80] * 5, job=0)
    child(tracker, parent, hidden=5, lr=1.2, val=[0.7875] * 5, job=1)  # 1 of 80 examples behind
    child(tracker, parent, hidden=1, lr=1.2, val=[0.60] * 5, job=2)
    rows = summary.run_rows(tracker, parent, "sweep", ["model.hidden"])
    note = summary.separation_note(rows, 80)
    assert "not separable" in note and "relu-h20-lr1.2-s0" in note and "relu-h5-lr1.2-s0" in note
    assert "1 of 80" in note
    assert summary.separation_note(rows, None) == ""  # no validation size known: no claim
    assert summary.separation_note(rows, 400) == ""  # 5 examples apart at 400


def test_summary_writes_the_best_the_note_and_a_csv_with_the_digits_the_data_supports(tracker, tmp_path, capsys):
    parent = tracker.start_run("sweep", "parent", {})
    best = child(tracker, parent, hidden=20, lr=0.08096384026619578, val=[0.78750002] * 5, job=0)
    child(tracker, parent, hidden=5, lr=1.2, val=[0.77500004] * 5, job=1)
    status = summary.summarize_sweep(tracker, parent, sweep_config({"model.hidden": "5,20", "optim.lr": "0.081,1.2"}))
    assert status == "FINISHED"
    record = tracker.get_run(parent)
    assert record.tags["best_run_id"] == best and record.tags["best_separable"] == "false"
    assert "not separable" in record.tags["best_note"]
    assert record.metrics["best_val_accuracy_last5_mean"] == pytest.approx(0.7875)
    assert record.metrics["n_finished"] == 2
    assert "viewStateShareKey=sweep-" in record.tags[NOTE_TAG]
    view = tracker.client.get_experiment(tracker.experiment_id("sweep")).tags[f"mlflow.sharedViewState.sweep-{parent}"]
    assert "params.`model.hidden`" in view and "metrics.`val_accuracy`" in view

    out = capsys.readouterr().out
    assert "0.78750002" not in out and "0.7875" in out
    assert "best: model.hidden=20 optim.lr=0.081 val_accuracy_last5_mean=0.7875" in out
    assert "note: not separable" in out

    csv_path = tracker.download_artifacts(parent, "results.csv", tmp_path / "dl")
    rows = list(csv.DictReader(csv_path.open()))
    assert {r["val_accuracy"] for r in rows} == {"0.7875", "0.775"}
    assert {r["gradcheck_rel_error"] for r in rows} == {"1.2e-16"}
    assert all(len(r["val_accuracy_last5_mean"].split(".")[1]) <= 4 for r in rows)
    # MLflow keeps the full precision.
    assert tracker.get_run(best).metrics["val_accuracy"] == pytest.approx(0.78750002, abs=1e-9)


def test_summary_counts_a_failed_job_and_fails_the_parent(tracker):
    parent = tracker.start_run("sweep", "parent", {})
    child(tracker, parent, hidden=2, lr=0.1, val=[0.9] * 5, job=0)
    child(tracker, parent, hidden=4, lr=0.1, val=[0.5], status="FAILED", job=1)
    assert summary.summarize_sweep(tracker, parent, sweep_config({"model.hidden": "2,4"})) == "FAILED"
    assert tracker.get_run(parent).metrics["n_failed"] == 1


def test_seed_statistics(tracker):
    parent = tracker.start_run("sweep", "parent", {})
    for seed, acc in enumerate([0.8, 0.9, 0.85]):
        child(tracker, parent, hidden=4, lr=1.2, seed=seed, val=[acc] * 5, job=seed)
    rows = summary.run_rows(tracker, parent, "sweep", ["train.seed"])
    (stats,) = summary.seed_statistics(rows, ["train.seed"])
    assert stats["n_seeds"] == 3
    assert stats["val_accuracy_mean"] == pytest.approx(0.85)
    assert stats["val_accuracy_std"] == pytest.approx(0.05)
    assert stats["val_accuracy_last5_mean_mean"] == pytest.approx(0.85)
    assert summary.seed_statistics(rows, ["model.hidden"]) == []


def test_spread_keeps_all_rows_up_to_the_cap_then_an_even_sample_with_both_ends():
    rows = [{"job": i} for i in range(1000)]
    assert summary.spread(rows[:7], 10) == rows[:7]
    picked = [r["job"] for r in summary.spread(rows, 10)]
    assert len(picked) == len(set(picked)) == 10 and picked[0] == 0 and picked[-1] == 999
    gaps = {b - a for a, b in zip(picked, picked[1:])}
    assert max(gaps) - min(gaps) <= 1  # evenly spaced
    assert summary.spread(rows, 1) == rows[:1] and summary.spread(rows, 0) == []


def test_the_loss_overlay_reads_and_draws_at_most_its_cap_of_curves(tracker, monkeypatch, tmp_path):
    parent = tracker.start_run("sweep", "parent", {})
    for job in range(5):
        child(tracker, parent, hidden=job + 1, lr=0.1, val=[0.5, 0.6], job=job)
    monkeypatch.setattr(summary, "MAX_LOSS_CURVES", 3)
    read = []
    history = tracker.metric_history
    monkeypatch.setattr(tracker, "metric_history", lambda run_id, name: read.append(name) or history(run_id, name))
    rows = summary.run_rows(tracker, parent, "sweep", ["model.hidden"])
    (overlay,) = summary._loss_overlay(tracker, rows, ["model.hidden"], "sweep", tmp_path)
    assert len(overlay[1][0]) == 3 and read.count("loss") == 3
    assert "3 jobs (of 5, spread over the grid)" in overlay[2]["title"]


def test_rounding():
    assert summary.rounded("val_accuracy", 0.78750002) == 0.7875
    assert summary.rounded("val_rmse", 53.123456) == 53.12
    assert summary.rounded("gradcheck_fd_rel_error", 3.14159e-9) == 3.1e-9
    assert summary.rounded("compile_seconds", 1.23456) == 1.23
    assert summary.rounded("run_id", "abc") == "abc"
    table = summary.format_table(
        [{"val_accuracy": 0.78750002, "gradcheck_rel_error": 2.3e-16}], ["val_accuracy", "gradcheck_rel_error"]
    )
    assert "0.7875 " in table + " " and "2.3e-16" in table


def test_the_data_config_is_rebuilt_from_the_runs_params_by_the_schema():
    params = {
        "data.name": "csv",
        "data.seed": "3",
        "data.val_fraction": "0.25",
        "data.n_samples": "400",
        "data.noise": "0.2",
        "data.path": "examples/houses.csv",
        "data.target": "price_k",
        "data.task": "auto",
        "model.hidden": "4",
    }
    assert summary.data_config_of(params) == DataConfig(
        name="csv", seed=3, val_fraction=0.25, path="examples/houses.csv", target="price_k"
    )
    assert summary.data_config_of({"data.name": "moons", "data.path": "None"}) == DataConfig(name="moons")


def test_the_training_counterpart_of_the_objective():
    from pipeline.summary import training_metric

    assert training_metric("val_accuracy") == "train_accuracy" and training_metric("val_rmse") == "train_rmse"
    assert training_metric("train_accuracy") == "train_accuracy"  # without a validation split


def test_a_job_continued_from_its_checkpoint_is_a_row_with_the_status_it_ended_with(tracker):
    first = tracker.start_run("sweep", "first", {})
    done = child(tracker, first, hidden=1, lr=0.1, val=[0.7] * 5, job=0)
    continued = child(tracker, first, hidden=50, lr=0.1, val=[0.9] * 5, job=1)  # killed, then finished by the second
    second = tracker.start_run("sweep", "second", {})
    tracker.set_tags(second, {f"{RESUMED_TAG_PREFIX}0": done, f"{CONTINUED_TAG_PREFIX}1": continued})
    rows = summary.run_rows(tracker, second, "sweep", ["model.hidden"])
    assert [(r["run_id"], r["status"]) for r in rows] == [(done, "SKIPPED"), (continued, "FINISHED")]
    assert summary.summarize_sweep(tracker, second, sweep_config({"model.hidden": "1,50"})) == "FINISHED"
    record = tracker.get_run(second)
    assert record.metrics["n_finished"] == 1 and record.metrics["n_skipped"] == 1  # every job, once
    assert record.tags["best_run_id"] == continued


def test_a_swept_config_group_has_its_option_in_the_rows_the_best_and_the_csv(tracker, tmp_path, capsys):
    parent = tracker.start_run("sweep", "parent", {})
    best = child(tracker, parent, hidden=4, lr=1.2, val=[0.9] * 5, params={"data": "moons", "data.name": "moons"})
    child(tracker, parent, hidden=4, lr=1.2, val=[0.6] * 5, params={"data": "flower"})
    # A run recorded before jobs logged their groups' options: the group's name key.
    child(tracker, parent, hidden=4, lr=1.2, val=[0.5] * 5, params={"data.name": "circles"})
    config = sweep_config({"data": "flower,moons,circles"})
    summary.summarize_sweep(tracker, parent, config)
    record = tracker.get_run(parent)
    assert record.tags["best.data"] == "moons" and "(data=moons)" in record.tags[NOTE_TAG]
    out = capsys.readouterr().out
    assert "best: data=moons " in out
    header, _, *table = out.strip().splitlines()  # the table, then its best line
    assert header.split()[0] == "data"
    assert [line.split()[0] for line in table[:3]] == ["circles", "flower", "moons"]
    rows = list(csv.DictReader(tracker.download_artifacts(parent, "results.csv", tmp_path).open()))
    assert {row["run_id"]: row["data"] for row in rows}[best] == "moons"
    assert sorted(row["data"] for row in rows) == ["circles", "flower", "moons"]


def test_the_plots_take_a_swept_group_for_its_name_key_and_draw_boundaries_on_one_set(tracker, tmp_path, monkeypatch):
    parent = tracker.start_run("sweep", "parent", {})
    for data, model, val in [("moons", "logistic", 0.8), ("flower", "shallow", 0.85), ("moons", "shallow", 0.9)]:
        params = {"data": data, "data.name": data, "model": model, "model.leaky_slope": 0.01}
        run_id = child(tracker, parent, hidden=4, lr=1.2, val=[val] * 5, name=f"{data}-{model}", params=params)
        tracker.set_tags(run_id, {"data.sha256": data})

    def params_npz(run_id, path, dst):  # a 2-4-1 network's parameters, as each job uploads them
        dst.mkdir(parents=True, exist_ok=True)
        weights = {"W1": np.ones((4, 2)), "b1": np.zeros((4, 1)), "W2": np.ones((1, 4)), "b2": np.zeros((1, 1))}
        np.savez(dst / path, **weights)
        return dst / path

    monkeypatch.setattr(tracker, "download_artifacts", params_npz)
    rows = summary.run_rows(tracker, parent, "sweep", ["data", "model"])
    calls = summary._summary_plots(tracker, rows, ["data", "model"], "val_accuracy", sweep_config({}), tmp_path)
    plots = {name: (args, kwargs) for name, args, kwargs in calls}
    assert (plots["plot_sweep_accuracy"][1]["x"], plots["plot_sweep_accuracy"][1]["series"]) == ("data", "model")
    # No panel per model.activation: the sweep does not vary it, and the logistic runs ignore it.
    assert plots["plot_sweep_accuracy"][1]["panels"] is None
    curves = plots["plot_loss_curves_overlay"][0][0]
    assert sorted(label for label, *_ in curves) == [
        "data=flower model=shallow",
        "data=moons model=logistic",
        "data=moons model=shallow",
    ]
    # The best's boundaries beside the next best on its data, over that data's points: not flower's.
    panels, X, *_ = plots["plot_decision_boundaries_grid"][0]
    assert [name.split("\n")[0] for name, _ in panels] == ["moons-shallow", "moons-logistic"]
    assert plots["plot_decision_boundaries_grid"][1]["title"].startswith("the best 2 on data=moons")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_gap_of_exactly_two_examples_is_separable_whatever_the_accuracies_rounding(tracker, dtype):
    parent = tracker.start_run("sweep", "parent", {})
    child(tracker, parent, hidden=20, lr=1.2, val=[float(dtype(70 / 80))] * 5, job=0)
    child(tracker, parent, hidden=5, lr=1.2, val=[float(dtype(68 / 80))] * 5, job=1)  # 2 of 80 behind
    rows = summary.run_rows(tracker, parent, "sweep", ["model.hidden"])
    assert summary.separation_note(rows, 80) == ""
    # A settled mean a fifth of an example short of 2 (1.8) is not separable, and says so.
    child(tracker, parent, hidden=8, lr=1.2, val=[float(dtype(v / 80)) for v in (68, 68, 68, 68, 69)], job=2)
    rows = summary.run_rows(tracker, parent, "sweep", ["model.hidden"])
    assert "1.8 of 80 validation examples (fewer than 2)" in summary.separation_note(rows, 80)


def plot_kwargs(tracker, parent, swept, monkeypatch, tmp_path) -> dict:
    """The keyword arguments the summary draws sweep_accuracy.png with."""
    monkeypatch.setattr(summary, "_best_boundaries", lambda *args, **kwargs: [])
    rows = summary.run_rows(tracker, parent, "sweep", swept)
    calls = summary._summary_plots(tracker, rows, swept, "val_accuracy", sweep_config({}), tmp_path)
    return {name: kwargs for name, _, kwargs in calls}["plot_sweep_accuracy"]


@pytest.mark.parametrize("swept", [["optim.lr"], ["train.seed"]])
def test_a_sweep_over_one_key_plots_one_line_titled_by_that_key_alone(tracker, swept, monkeypatch, tmp_path):
    parent = tracker.start_run("sweep", "parent", {})
    for job, (lr, seed) in enumerate([(0.1, 0), (1.2, 1)]):
        child(tracker, parent, hidden=4, lr=lr, seed=seed, val=[0.7 + job / 10] * 5, job=job)
    kwargs = plot_kwargs(tracker, parent, swept, monkeypatch, tmp_path)
    assert (kwargs["x"], kwargs["series"], kwargs["panels"]) == (swept[0], None, None)
    assert kwargs["title"] == f"sweep: val_accuracy_last5_mean by {swept[0]}"


def test_a_three_key_grid_says_its_points_average_the_key_it_does_not_draw(tracker, monkeypatch, tmp_path):
    parent = tracker.start_run("sweep", "parent", {})
    for job, (hidden, lr, seed) in enumerate([(h, lr, s) for h in (2, 8) for lr in (0.1, 1.2) for s in (0, 1)]):
        child(tracker, parent, hidden=hidden, lr=lr, seed=seed, val=[0.8] * 5, job=job)
    kwargs = plot_kwargs(tracker, parent, ["model.hidden", "optim.lr", "train.seed"], monkeypatch, tmp_path)
    assert (kwargs["x"], kwargs["series"], kwargs["averaged_over"]) == ("model.hidden", "optim.lr", ["train.seed"])


def test_the_loss_curves_are_styled_by_a_second_swept_key_and_named_by_the_run_when_nothing_is_swept(tracker, tmp_path):
    parent = tracker.start_run("sweep", "parent", {})
    for job, (act, lr) in enumerate([("relu", 0.1), ("relu", 1.2), ("tanh", 0.1), ("tanh", 1.2)]):
        child(tracker, parent, hidden=4, lr=lr, val=[0.8] * 5, job=job, params={"model.activation": act})
    swept = ["model.activation", "optim.lr"]
    rows = summary.run_rows(tracker, parent, "sweep", swept)
    ((_, (curves, _), kwargs),) = summary._loss_overlay(tracker, rows, swept, "sweep", tmp_path)
    assert (kwargs["colour_by"], kwargs["style_by"]) == ("optim.lr", "model.activation")
    assert sorted((c[3], c[4]) for c in curves) == [(0.1, "relu"), (0.1, "tanh"), (1.2, "relu"), (1.2, "tanh")]
    ((_, (curves, _), kwargs),) = summary._loss_overlay(tracker, rows[:1], [], "sweep", tmp_path)
    assert curves[0][0] == "relu-h4-lr0.1-s0" and kwargs["title"] == "sweep: training loss of 1 job"


def test_a_sweep_that_varies_nothing_names_its_best_by_its_run(tracker, capsys):
    parent = tracker.start_run("sweep", "parent", {})
    run_id = child(tracker, parent, hidden=4, lr=1.2, val=[0.8] * 5)
    summary.summarize_sweep(tracker, parent, sweep_config({}))
    assert f"best: relu-h4-lr1.2-s0 val_accuracy_last5_mean=0.8 (final val_accuracy=0.8; run {run_id})" in (
        capsys.readouterr().out
    )
    assert "**relu-h4-lr1.2-s0**, val_accuracy" in tracker.get_run(parent).tags[NOTE_TAG]


def test_without_a_validation_split_the_note_counts_training_examples(tracker, capsys):
    """data.val_fraction=0: the jobs are ranked by train_accuracy, over the training examples."""
    parent = tracker.start_run("sweep", "parent", {})
    for job, (hidden, counts) in enumerate([(20, [300] * 5), (5, [298, 298, 298, 298, 299]), (1, [200] * 5)]):
        run_id = tracker.start_run(
            "sweep", f"tanh-h{hidden}", {"hydra.job.num": str(job), "data.n_train": "400", "data.n_val": "0"}, parent
        )
        accuracies = [c / 400 for c in counts]
        metrics = [("train_accuracy", a, 100 * i) for i, a in enumerate(accuracies)]
        metrics.append(("train_accuracy_last5_mean", sum(accuracies) / 5, 400))
        tracker.log_batch(run_id, metrics=metrics, params={"model.hidden": hidden})
        tracker.end_run(run_id, "FINISHED")
    summary.summarize_sweep(tracker, parent, sweep_config({"model.hidden": "1,5,20"}))
    assert (
        "note: not separable: the best (tanh-h20) and the runner-up (tanh-h5) differ by 0.0045 in "
        "train_accuracy_last5_mean, 1.8 of 400 training examples (fewer than 2); treat them as tied"
    ) in capsys.readouterr().out


def test_the_runner_up_is_another_config_not_a_repeat_of_the_best(tracker, capsys):
    """A search repeats a categorical choice: the same config trained twice is no runner-up."""
    parent = tracker.start_run("sweep", "parent", {})
    child(tracker, parent, hidden=1, lr=1.2, val=[0.80] * 5, job=0, name="tanh-h1-a")
    child(tracker, parent, hidden=1, lr=1.2, val=[0.80] * 5, job=1, name="tanh-h1-b")  # the same config again
    child(tracker, parent, hidden=4, lr=1.2, val=[0.7875] * 5, job=2)  # 1 of 80 behind
    summary.summarize_sweep(tracker, parent, sweep_config({"model.hidden": "1,4", "optim.lr": "1.2"}))
    note = tracker.get_run(parent).tags["best_note"]
    assert "the best (tanh-h1-a) and the runner-up (relu-h4-lr1.2-s0)" in note and "1 of 80" in note
    rows = summary.run_rows(tracker, parent, "sweep", ["model.hidden", "optim.lr"])
    only_repeats = [row for row in rows if row["model.hidden"] == 1]
    assert summary.separation_note(only_repeats, 80, ["model.hidden", "optim.lr"]) == ""


def test_with_tracking_off_the_table_comes_from_the_jobs_results(capsys):
    from pipeline.job import JobResult

    def result(lr, accuracy=None, reason=""):
        """What job.run returns: FINISHED with its metrics, or FAILED with its reason."""
        named = dict(run_name=f"tanh-h4-lr{lr}-s0", n_train=320, n_val=80)
        if reason:
            return JobResult("FAILED", None, "val_accuracy", float("nan"), reason=reason, **named)
        metrics = {"val_accuracy": accuracy, "train_accuracy": 0.9, "val_accuracy_last5_mean": accuracy}
        return JobResult("FINISHED", None, "val_accuracy", accuracy, metrics, **named)

    results = [
        (["optim.lr=0.1"], result(0.1, 0.8)),
        (["optim.lr=1.2"], result(1.2, 0.7875)),
        (["optim.lr=1000"], result(1000, reason="diverged: the loss overflowed at step 3")),
    ]
    config = sweep_config({"optim.lr": "0.1,1.2,1000"})
    assert summary.summarize_results(results, config) == "FAILED"
    out = capsys.readouterr().out
    header = out.strip().splitlines()[0]
    assert header.split() == [
        "optim.lr",
        "status",
        "train_accuracy",
        "val_accuracy",
        "val_accuracy_last5_mean",
        "gradcheck_rel_error",
    ]
    assert "best: optim.lr=0.1 val_accuracy_last5_mean=0.8 (final val_accuracy=0.8); 2 finished, 1 failed" in out
    assert "1 of 80 validation examples" in out
    assert "failed: tanh-h4-lr1000-s0: diverged: the loss overflowed at step 3" in out
    assert "None" not in out and "MLflow runs" in out
