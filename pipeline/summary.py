"""The summary of a finished sweep, read back from MLflow and written onto its parent run.

Read from the tracking store rather than from this process's memory, so the summary is the
same whichever launcher ran the jobs (in this process, in joblib workers, on a cluster).

Jobs are ranked by their objective *settled*: the mean of its last `OBJECTIVE_WINDOW` logged
values, which one step's wobble cannot flip (plain gradient descent at a large learning rate
swings by several points between logged steps). The final value is reported beside it.
"""

from __future__ import annotations

import csv
import math
import statistics
import tempfile
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from omegaconf import DictConfig

from pipeline import finishing
from pipeline.config import DataConfig
from pipeline.data import Dataset, load_from_config
from pipeline.finishing import PlotCall
from pipeline.grid import counted, short_name, short_value, swept_keys
from pipeline.predict import NetworkPredict, Predict
from pipeline.recording import OBJECTIVE_POINTS
from pipeline.tracking import CONTINUED_TAG_PREFIX, NOTE_TAG, RESUMED_TAG_PREFIX, RunRecord, Tracker, ui_hint  # noqa: F401 (re-export)

OBJECTIVE_WINDOW = OBJECTIVE_POINTS  # logged points the settled objective averages (what every job returns)
SEPARABLE_EXAMPLES = 2  # the best must beat the runner-up by this many validation examples
# Accuracies are logged as float32 (a count over m examples, rounded to 24 bits): a gap of exactly
# 2 of 80 examples (70/80 - 68/80) reads 1.9999981. A gap short of SEPARABLE_EXAMPLES by no more
# than this many float32 ulps of the accuracies, in examples, has reached it; the settled means
# (of 5 counts) are a fifth of an example apart at least, far more than this up to m ~ 800,000.
FLOAT32_ROUNDINGS = 4
METRICS = (
    "loss",
    "train_accuracy",
    "val_accuracy",
    "train_rmse",
    "val_rmse",
    "gradcheck_rel_error",
    "gradcheck_fd_rel_error",
)
DONE = ("FINISHED", "SKIPPED")
# loss_curves.png draws at most this many jobs' curves: more read as one blot, and each is a
# history read back from the store (a query per run: minutes for a 10,000-job grid).
MAX_LOSS_CURVES = 300


# -- the statistic ---------------------------------------------------------------------------


def settled_name(metric: str) -> str:
    """The metric each job logs (pipeline/recording.py) and the summary ranks by."""
    return f"{metric}_last{OBJECTIVE_WINDOW}_mean"


def settled(values: typing.Sequence[float], window: int = OBJECTIVE_WINDOW) -> float:
    """The mean of the last `window` values (all of them if fewer); nan if none."""
    tail = [float(v) for v in list(values)[-window:]]
    return statistics.fmean(tail) if tail else math.nan


def objective_of(rows: list[dict]) -> tuple[str, bool]:
    """(metric, higher is better): val_accuracy, or val_rmse for regression sweeps (the training
    metric where the jobs had no validation set)."""
    for metric in ("val_accuracy", "val_rmse", "train_accuracy", "train_rmse"):
        if any(row.get(metric) is not None for row in rows):
            return metric, "accuracy" in metric
    return "val_accuracy", True


# -- the rows --------------------------------------------------------------------------------


def run_rows(tracker: Tracker, parent_run_id: str, experiment: str, swept: list[str]) -> list[dict]:
    """One row per job of the sweep, each run once: its child runs, and the earlier runs its parent
    links to, a resumed one (`resumed.<job>`: reused, SKIPPED) and one continued from its
    checkpoint (`continued.<job>`, pipeline/job.py: a child of the sweep that started it, with the
    status it ended with in this one)."""
    runs = tracker.runs(experiment, f"tags.mlflow.parentRunId = '{parent_run_id}'")
    rows = {run.run_id: _row(tracker, run, swept, run.status) for run in runs}
    for tag, run_id in tracker.get_run(parent_run_id).tags.items():
        if run_id not in rows and tag.startswith((RESUMED_TAG_PREFIX, CONTINUED_TAG_PREFIX)):
            run = tracker.get_run(run_id)
            rows[run_id] = _row(tracker, run, swept, "SKIPPED" if tag.startswith(RESUMED_TAG_PREFIX) else run.status)
    return sorted(rows.values(), key=lambda row: [_sort_key(row.get(k)) for k in swept] + [_sort_key(row.get("job"))])


def _sort_key(value: Any) -> tuple:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _row(tracker: Tracker, run: RunRecord, swept: list[str], status: str) -> dict:
    params, metrics, tags = run.params, run.metrics, run.tags
    row: dict[str, Any] = {key: swept_value(params, key) for key in swept}
    row.update({name: metrics.get(name) for name in METRICS if name in metrics})
    scores = [metric for metric in ("val_accuracy", "val_rmse", "train_accuracy", "train_rmse") if metric in metrics]
    row.update({settled_name(m): metrics[settled_name(m)] for m in scores if settled_name(m) in metrics})
    # The run's objective (the first of those it has) settled, as its job logged it; from its
    # history for a run recorded before jobs logged it. Only the objective: reading a history is
    # a query per run, two minutes for the 10,000 runs of a grid.
    if scores and settled_name(scores[0]) not in row:
        row[settled_name(scores[0])] = settled([p.value for p in tracker.metric_history(run.run_id, scores[0])])
    row.update(
        status=status,
        run_id=run.run_id,
        run_name=run.run_name,
        job=int(tags["hydra.job.num"]) if tags.get("hydra.job.num", "").isdigit() else None,
        failure_reason=tags.get("failure_reason", ""),
        data_sha256=tags.get("data.sha256"),  # which data exactly: the best's boundaries share one set's points
    )
    for split in ("n_train", "n_val"):  # the examples each accuracy counts (separation_note)
        if tags.get(f"data.{split}", "").isdigit():
            row[split] = int(tags[f"data.{split}"])
    # Plots group by these even when they were not swept.
    for key in ("model.hidden", "optim.lr", "model.activation", "model.name", "model.depth", "data.name"):
        row.setdefault(key, _number(params.get(key)))
    return row


def swept_value(params: dict[str, str], key: str) -> Any:
    """A run's value of a swept key: its param; for a config group (`data`, swept as data=moons),
    the option the job logged (pipeline/job.py group_choices), or the group's `name` key in a run
    recorded before jobs logged it."""
    return _number(params.get(key, params.get(f"{key}.name")))


def _number(value: Optional[str]) -> Any:
    if value is None:
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _finite(value: Any) -> typing.TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def ranked(rows: list[dict]) -> list[dict]:
    """Finished (or resumed) jobs, best first by the settled objective (the final value where
    a run has no history)."""
    metric, higher = objective_of(rows)

    def score(row: dict) -> float:
        value = row.get(settled_name(metric))
        return value if _finite(value) else row[metric]

    candidates = [r for r in rows if r["status"] in DONE and _finite(r.get(metric))]
    return sorted(candidates, key=score, reverse=higher)


def best_row(rows: list[dict]) -> Optional[dict]:
    order = ranked(rows)
    return order[0] if order else None


def separation_note(rows: list[dict], m: Optional[int], swept: typing.Sequence[str] = ()) -> str:
    """ "" when the best is clearly ahead; else a sentence saying it cannot be told from the
    runner-up: for an accuracy (validation, or training where the jobs had no validation split),
    fewer than SEPARABLE_EXAMPLES of the `m` examples it counts apart. The runner-up is the best
    of another config: a search may train one config again (Optuna repeats a categorical
    choice), and a config cannot be told from itself."""
    metric, _ = objective_of(rows)
    order = ranked(rows)
    if not order or "accuracy" not in metric or not m:
        return ""
    best = order[0]
    second = next((row for row in order[1:] if not _same_config(row, best, swept)), None)
    if second is None:
        return ""
    key = settled_name(metric)
    gap = abs(best.get(key, best[metric]) - second.get(key, second[metric]))
    examples = gap * m
    if examples >= SEPARABLE_EXAMPLES - FLOAT32_ROUNDINGS * m * 2.0**-24:
        return ""
    split = "validation" if metric.startswith("val_") else "training"
    return (
        f"not separable: the best ({best['run_name']}) and the runner-up ({second['run_name']}) differ by "
        f"{gap:.4f} in {key}, {_examples(examples)} of {m} {split} examples "
        f"(fewer than {SEPARABLE_EXAMPLES}); treat them as tied"
    )


def _same_config(row: dict, other: dict, swept: typing.Sequence[str]) -> bool:
    """Whether two jobs trained one config: the same value of every key the sweep varies (the
    rest of a sweep's config is the same for all its jobs)."""
    return bool(swept) and all(row.get(key) == other.get(key) for key in swept)


def _examples(count: float) -> str:
    """A count of examples as read: 1, 1.8, 1.96 (a settled mean averages counts)."""
    return f"{count:.2f}".rstrip("0").rstrip(".")


def seed_statistics(rows: list[dict], swept: list[str]) -> list[dict]:
    """Mean and standard deviation of each final metric over seeds, per config (if seeds were swept)."""
    if "train.seed" not in swept:
        return []
    others = [k for k in swept if k != "train.seed"]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["status"] in DONE:
            groups.setdefault(tuple(row.get(k) for k in others), []).append(row)
    table = []
    for key, members in groups.items():
        entry: dict[str, Any] = dict(zip(others, key), n_seeds=len(members))
        for metric in METRICS + tuple(settled_name(m) for m in METRICS if "_" in m and m[:3] in ("val", "tra")):
            values = [m[metric] for m in members if _finite(m.get(metric))]
            if values:
                entry[f"{metric}_mean"] = statistics.fmean(values)
                entry[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        table.append(entry)
    return table


# -- the digits the data supports ------------------------------------------------------------


def rounded(name: str, value: Any) -> Any:
    """`value` of column `name` with the digits it carries: accuracies (a count over tens or
    hundreds of examples) to 4 decimals, losses and RMSEs to 4 significant digits, gradient-check
    errors to 2, seconds to 0.01. Float32 noise (0.78750002) is not a digit. MLflow keeps the rest."""
    if not isinstance(value, float) or not math.isfinite(value):
        return value
    if "accuracy" in name:
        return round(value, 4)
    if name.startswith("gradcheck"):
        return float(f"{value:.2g}")
    if "seconds" in name:
        return round(value, 2)
    if name in ("n_val", "n_seeds", "job"):
        return value
    if any(part in name for part in ("loss", "rmse")):
        return float(f"{value:.4g}")
    return float(f"{value:.6g}")  # a swept value: as it was typed


def rounded_rows(rows: list[dict]) -> list[dict]:
    return [{k: rounded(k, v) for k, v in row.items()} for row in rows]


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A compact fixed-width table for the terminal."""

    def cell(name: str, value: Any) -> str:
        value = rounded(name, value)
        if isinstance(value, float):
            if name.startswith("gradcheck"):
                return f"{value:.1e}"
            return f"{value:.4f}" if "accuracy" in name else f"{value:.4g}"
        return "" if value is None else str(value)

    body = [[cell(c, row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths)) for line in body]
    return "\n".join(lines)


def write_csv(rows: list[dict], path: Path) -> Path:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rounded_rows(rows))
    return path


# -- the data a run was trained on -----------------------------------------------------------


def data_config_of(params: dict[str, str]) -> DataConfig:
    """The run's data config, rebuilt from its `data.*` params and typed by the schema's
    DataConfig: a field added there is carried here without a change."""
    hints = typing.get_type_hints(DataConfig)
    values = {}
    for f in fields(DataConfig):
        text = params.get(f"data.{f.name}")
        if text is not None:
            values[f.name] = _typed(text, hints[f.name])
    return DataConfig(**values)


def _typed(text: str, kind: Any) -> Any:
    if typing.get_origin(kind) is Union:  # Optional[X]
        if text in ("None", "null", ""):
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if kind is bool:
        return text.lower() in ("true", "1", "yes")
    if kind in (int, float):
        return kind(float(text)) if kind is int and "." in text else kind(text)
    return text


def dataset_of(run: RunRecord) -> Dataset:
    return load_from_config(data_config_of(run.params))


def split_size(tracker: Optional[Tracker], rows: list[dict], metric: str) -> Optional[int]:
    """How many examples `metric` counts over: the validation set's for a val_* metric, the
    training set's for a train_* one. The runs' data.n_val / data.n_train tags, else the best
    run's data, loaded again."""
    column = "n_val" if metric.startswith("val_") else "n_train"
    for row in rows:
        if row.get(column):
            return int(row[column])
    best = best_row(rows)
    if best is None or tracker is None or not best.get("run_id"):
        return None
    try:
        data = dataset_of(tracker.get_run(best["run_id"]))
    except (ValueError, OSError, TypeError):  # a table moved since: no note rather than no summary
        return None
    return data.m_val if column == "n_val" else data.m_train


# -- the summary -----------------------------------------------------------------------------


def summarize_sweep(tracker: Tracker, parent_run_id: str, config: DictConfig) -> str:
    """Write the sweep's table, best job, statistics and plots on the parent; print the table.

    Returns the parent's final status: FINISHED when every job finished (or was resumed),
    FAILED when any job failed.
    """
    swept = list(swept_keys(config))
    experiment = config.tracking.experiment
    rows = run_rows(tracker, parent_run_id, experiment, swept)
    metric, higher = objective_of(rows)
    key = settled_name(metric)
    counts = status_counts(rows)
    best = best_row(rows)
    note = separation_note(rows, split_size(tracker, rows, metric), swept) if best else ""
    summary_metrics = {f"n_{s.lower()}": float(n) for s, n in counts.items()}
    # What writing to MLflow cost this process (the jobs it ran in-process, and the parent).
    summary_metrics["mlflow_write_seconds"] = Tracker.write_seconds
    summary_tags: dict[str, str] = {}
    if best:
        summary_metrics[f"best_{metric}"] = best[metric]
        if _finite(best.get(key)):
            summary_metrics[f"best_{key}"] = best[key]
        summary_tags.update(
            best_run_id=best["run_id"], best_run_name=best["run_name"], best_separable="false" if note else "true"
        )
        summary_tags.update({f"best.{k}": str(best[k]) for k in swept})
        if note:
            summary_tags["best_note"] = note
    seeds = seed_statistics(rows, swept)
    if len(seeds) == 1:
        summary_metrics.update({k: v for k, v in seeds[0].items() if k.endswith(("_mean", "_std"))})
    view = table_view(tracker, experiment, parent_run_id, swept, metric, higher)
    summary_tags[NOTE_TAG] = parent_note(best, swept, metric, note, counts, view)
    tracker.log_metrics(parent_run_id, summary_metrics)
    tracker.set_tags(parent_run_id, summary_tags)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        write_csv(rows, out / "results.csv")
        if seeds:
            write_csv(seeds, out / "seed_statistics.csv")
        if config.tracking.plots and rows:
            # Drawn side by side by the sweep's drawing processes (pipeline/finishing.py).
            finishing.draw(_summary_plots(tracker, rows, swept, metric, config, out))
        tracker.log_artifacts(parent_run_id, out)

    print_summary(rows, swept, metric, best, note, counts)
    print(f"see it: {ui_hint(tracker.uri, view)}", flush=True)  # the sweep's table, best first
    return "FAILED" if counts["FAILED"] or counts["KILLED"] else "FINISHED"


def summarize_results(results: typing.Sequence[tuple[typing.Sequence[str], Any]], config: DictConfig) -> str:
    """The sweep's table and best job, printed from what its jobs returned, where nothing was
    recorded (tracking.enabled=false: no MLflow runs to read back, no plots). `results`: each
    job's overrides, and its JobResult (pipeline/job.py) or the error it raised. Returns
    FINISHED or FAILED, as summarize_sweep does."""
    swept = list(swept_keys(config))
    rows = result_rows(results, swept)
    metric, _ = objective_of(rows)
    counts = status_counts(rows)
    best = best_row(rows)
    note = separation_note(rows, split_size(None, rows, metric), swept) if best else ""
    print_summary(rows, swept, metric, best, note, counts)
    print("not recorded: tracking.enabled=false (no MLflow runs, no plots)", flush=True)
    return "FAILED" if counts["FAILED"] or counts["KILLED"] else "FINISHED"


def result_rows(results: typing.Sequence[tuple[typing.Sequence[str], Any]], swept: list[str]) -> list[dict]:
    """One row per job, as run_rows makes from a run, from the job's overrides and its JobResult
    (or the error it raised); in the grid's order."""
    rows = []
    for number, (overrides, result) in enumerate(results):
        given = dict(override.lstrip("+~").partition("=")[::2] for override in overrides)
        row: dict[str, Any] = {key: _number(given.get(key)) for key in swept}
        if isinstance(result, BaseException):
            row.update(status="FAILED", failure_reason=f"{type(result).__name__}: {result}")
        else:
            row.update(result.metrics, status=result.status, run_name=result.run_name, failure_reason=result.reason)
            row.update(n_train=result.n_train, n_val=result.n_val)
        row.update(run_id=None, job=number)
        row.setdefault("run_name", " ".join(f"{k}={short_value(row[k])}" for k in swept) or f"job {number}")
        rows.append(row)
    return sorted(rows, key=lambda row: [_sort_key(row.get(k)) for k in swept] + [_sort_key(row.get("job"))])


def status_counts(rows: list[dict]) -> dict[str, int]:
    return {s: sum(r["status"] == s for r in rows) for s in ("FINISHED", "FAILED", "KILLED", "SKIPPED")}


def print_summary(
    rows: list[dict], swept: list[str], metric: str, best: Optional[dict], note: str, counts: dict[str, int]
) -> None:
    """The sweep's table, its best job (by its swept values, or its run's name where the sweep
    varies nothing) and the notes under it. Run ids only where the jobs were recorded."""
    key = settled_name(metric)
    recorded = any(row.get("run_id") for row in rows)
    columns = swept + [
        "status",
        *dict.fromkeys([training_metric(metric), metric]),
        key,
        "gradcheck_rel_error",
        *(["run_id"] if recorded else []),
    ]
    print("\n" + format_table(rows, columns), flush=True)
    counted = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n)
    if best:
        named = " ".join(f"{k}={short_value(best[k])}" for k in swept) or best["run_name"]
        run = f"; run {best['run_id']}" if best.get("run_id") else ""
        print(
            f"best: {named} {key}={rounded(key, best.get(key, math.nan))} "
            f"(final {metric}={rounded(metric, best[metric])}{run}); {counted}",
            flush=True,
        )
        if note:
            print(f"note: {note}", flush=True)
        if metric.startswith("train_"):
            print(f"note: no validation split (data.val_fraction=0): jobs are ranked by {key}", flush=True)
    else:
        print(counted, flush=True)
    if not recorded:  # nothing in MLflow holds the reasons: say them here
        for row in rows:
            if row["status"] == "FAILED" and row.get("failure_reason"):
                print(f"failed: {row['run_name']}: {row['failure_reason']}", flush=True)


def training_metric(metric: str) -> str:
    """The training counterpart of a sweep's metric: val_accuracy -> train_accuracy (a train_*
    metric, the objective without a validation split, is its own)."""
    return metric if metric.startswith("train_") else "train_" + metric.split("_", 1)[1]


def table_view(
    tracker: Tracker, experiment: str, parent_run_id: str, swept: list[str], metric: str, higher: bool
) -> str:
    """A runs-table view in the MLflow UI with the sweep's swept params and the statistic the
    summary ranks by (`settled_name(metric)`) as columns, sorted best first by it; returns its
    link (relative to the UI's address).

    MLflow 3.17's UI reads a shared view's search facets (orderByKey, orderByAsc) and its UI state
    (selectedColumns, ...), less runsExpanded and runsPinned. A chart config stored in it
    (compareRunCharts with a parallel-coordinates card) did not show in its chart view; Compare's
    parallel-coordinates plot opens on each run's first logged metric (pipeline/recording.py)."""
    key = settled_name(metric)
    # Few columns, so that the swept params (shown after the metrics) fit beside the UI's
    # assistant panel: the statistic, the final value and the training metric's.
    columns = [f"params.`{k}`" for k in swept] + [
        f"metrics.`{m}`" for m in dict.fromkeys((key, metric, training_metric(metric)))
    ]
    view = {"selectedColumns": columns, "orderByKey": f"metrics.`{key}`", "orderByAsc": not higher}
    return tracker.share_table_view(experiment, f"sweep-{parent_run_id}", view)


def parent_note(
    best: Optional[dict], swept: list[str], metric: str, note: str, counts: dict[str, int], view: str
) -> str:
    """The parent run's description (markdown, shown on its page in the MLflow UI)."""
    key = settled_name(metric)
    lines = [
        f"Sweep over {', '.join(swept) or 'one config'}: "
        + ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n)
        + "."
    ]
    if best:
        values = ", ".join(f"{k}={short_value(best[k])}" for k in swept)
        lines.append(
            f"Best by {key} (the mean of {metric} over its last {OBJECTIVE_WINDOW} logged points): "
            f"**{best['run_name']}**{f' ({values})' if values else ''}, {key}={rounded(key, best.get(key, math.nan))}, "
            f"final {metric}={rounded(metric, best[metric])}."
        )
    if note:
        lines.append(f"Note: {note}.")
    lines.append(
        f"Compare the jobs, with their swept params and {metric} as columns: "
        f"[the sweep's table]({view}) (the UI's address, then `{view}`)."
    )
    return "\n\n".join(lines)


# -- plots -----------------------------------------------------------------------------------


def _first_swept(candidates: tuple[str, ...], swept: list[str], taken: tuple[str, ...] = ()) -> Optional[str]:
    """The first of `candidates` the sweep varies, named as the sweep names it: `data.name` is
    swept as the config group `data` (data=flower,moons), whose rows hold the option chosen."""
    for key in candidates:
        for name in dict.fromkeys((key, key.removesuffix(".name"))):
            if name in swept and name not in taken:
                return name
    return None


def _summary_plots(tracker, rows, swept, metric, config, out: Path) -> list[PlotCall]:
    """The sweep's plots, as calls of pipeline.plots functions to draw into `out`."""
    # Axes, lines and panels are for what the sweep varies: a key it does not vary would title a
    # panel with a value some of its models ignore (model.activation=tanh over a logistic run),
    # or name lines that are one line. No key twice: x, series and panels are each another key.
    x = _first_swept(("model.hidden", "model.depth", "optim.lr", "data.name"), swept) or next(
        iter(swept), "model.hidden"
    )
    series = _first_swept(
        ("optim.lr", "model.name", "optim.name", "model.activation", "train.seed"), swept, (x,)
    ) or next((k for k in swept if k != x), None)
    panels = _first_swept(("model.activation", "data.name", "model.name"), swept, (x, series or x))
    # What is left of the grid is averaged into each point (seeds, in a hidden x lr x seed grid).
    averaged_over = [k for k in swept if k not in (x, series, panels)]
    experiment = config.tracking.experiment
    if "optuna" in str(config.hydra.sweeper.get("_target_", "")).lower():
        # A search samples the space: a scatter of the objective against each searched key.
        calls: list[PlotCall] = [
            (
                "plot_search",
                (rows, out / "sweep_accuracy.png"),
                dict(
                    keys=swept, metric=settled_name(metric), title=f"{experiment}: {settled_name(metric)} of each trial"
                ),
            )
        ]
    else:
        shown = settled_name(metric) if any(_finite(r.get(settled_name(metric))) for r in rows) else metric
        by = f"{x} and {series}" if series else x
        plotted = dict(x=x, series=series, panels=panels, metric=shown, averaged_over=averaged_over)
        calls = [
            (
                "plot_sweep_accuracy",
                (rows, out / "sweep_accuracy.png"),
                dict(**plotted, title=f"{experiment}: {shown} by {by}"),
            )
        ]
    calls += _loss_overlay(tracker, rows, swept, experiment, out)
    if "model.depth" in swept:  # the vanishing-gradients study: every job logged grad_norm_W1, W2, ...
        calls += _grad_norms(tracker, rows, swept, out)
    return calls + _best_boundaries(tracker, rows, metric, out)


def _loss_overlay(tracker, rows, swept, experiment: str, out: Path) -> list[PlotCall]:
    """loss_curves.png: the jobs' training losses on one plot (at most MAX_LOSS_CURVES of them),
    told apart by what the sweep varies: colour by one swept key, line style by another."""
    colour_by = next(
        (k for k in ("optim.lr", "model.hidden", "model.depth", "train.seed") if k in swept),
        swept[0] if swept else None,
    )
    style_by = next((k for k in swept if k != colour_by), None)
    curves = []
    for row in spread(rows, MAX_LOSS_CURVES):
        history = tracker.metric_history(row["run_id"], "loss")
        if history:
            # A sweep that varies nothing (-m train.seed=0) has one curve: named by its run.
            label = " ".join(f"{short_name(k)}={short_value(row.get(k))}" for k in swept) or row["run_name"]
            curves.append(
                (
                    label,
                    np.array([p.step for p in history]),
                    np.array([p.value for p in history]),
                    row.get(colour_by) if colour_by else None,
                    row.get(style_by) if style_by else None,
                )
            )
    if not curves:
        return []
    of_all = f" (of {len(rows):,}, spread over the grid)" if len(rows) > MAX_LOSS_CURVES else ""
    title = f"{experiment}: training loss of {counted(len(curves), 'job')}{of_all}"
    kwargs = dict(colour_by=colour_by, style_by=style_by, title=title)
    return [("plot_loss_curves_overlay", (curves, out / "loss_curves.png"), kwargs)]


def spread(rows: list[dict], at_most: int) -> list[dict]:
    """`rows` if there are at most `at_most`, else that many, evenly spaced through them (the
    rows are in the grid's order, so every region of the grid keeps its share of lines)."""
    if len(rows) <= at_most:
        return rows
    if at_most < 2:
        return rows[: max(at_most, 0)]
    return [rows[round(i * (len(rows) - 1) / (at_most - 1))] for i in range(at_most)]


def _grad_norms(tracker, rows, swept, out: Path) -> list[PlotCall]:
    """Each layer's gradient norm over training, one panel per activation, at the greatest depth."""
    done = [r for r in rows if r["status"] in DONE and r.get("model.depth") is not None]
    if not done:
        return []
    deepest = max(r["model.depth"] for r in done)
    panels = []
    for row in sorted((r for r in done if r["model.depth"] == deepest), key=lambda r: str(r.get("model.activation"))):
        layers = []
        for layer in range(1, deepest + 2):  # depth hidden layers + the output layer
            history = tracker.metric_history(row["run_id"], f"grad_norm_W{layer}")
            if not history:
                break
            layers.append(history)
        if not layers:
            continue
        steps = np.array([p.step for p in layers[0]])
        length = min(len(h) for h in layers)
        norms = np.array([[p.value for p in h[:length]] for h in layers]).T
        panels.append((f"model.activation={row.get('model.activation')}", steps[:length], norms))
    if not panels:
        return []
    title = f"gradient norm of each layer over training, model.depth={deepest}"
    return [("plot_layer_grad_norms_panels", (panels, out / "layer_grad_norms.png"), dict(title=title))]


def _best_boundaries(tracker, rows, metric, out: Path, how_many: int = 3) -> list[PlotCall]:
    """Decision boundaries of the best few jobs on the best's data, when it is 2-D and binary
    (predicted in NumPy from each run's params.npz, as each run's own boundary is: no program to
    compile). The panels share one set's points: in a sweep over data=, jobs on other sets are left out."""
    key = settled_name(metric)
    order = ranked(rows)
    if not order:
        return []
    # The best's data exactly (its hash: data.noise or n_samples may differ between jobs too),
    # picked from the rows: only the runs drawn are read.
    same_data = [row for row in order if row.get("data_sha256") == order[0].get("data_sha256")]
    panels: list[tuple[str, Predict]] = []
    data: Optional[Dataset] = None
    for row in same_data[:how_many]:
        run = tracker.get_run(row["run_id"])
        p = run.params
        if run.tags.get("data.task") != "binary":
            return []
        ds = dataset_of(run)
        if ds.n_features != 2:
            return []
        data = data or ds
        with tempfile.TemporaryDirectory() as tmp:
            params_file = tracker.download_artifacts(row["run_id"], "params.npz", Path(tmp))
            params = dict(np.load(params_file).items())
        hidden, output = p["model.activation"], run.tags.get("model.output_activation", "sigmoid")
        predict_fn = NetworkPredict(params, hidden, output, float(p["model.leaky_slope"]))
        panels.append((f"{row['run_name']}\n{key}={rounded(key, row.get(key, row[metric]))}", predict_fn))
    if not panels:
        return []
    assert data is not None  # set with the first panel
    X = np.concatenate([data.X_train, data.X_val], axis=1)
    Y = np.concatenate([data.Y_train, data.Y_val], axis=1)
    on = f" on data={order[0].get('data.name')}" if len(same_data) < len(order) else ""
    title = f"the best {len(panels)}{on} by {key}"
    return [("plot_decision_boundaries_grid", (panels, X, Y, out / "best_decision_boundaries.png"), dict(title=title))]
