"""The summary of a finished sweep, read back from MLflow and written onto its parent run.

Read from the tracking store rather than from this process's memory, so the summary is the
same whichever launcher ran the jobs (in this process, in joblib workers, on a cluster).
"""

from __future__ import annotations

import csv
import math
import statistics
import tempfile
from pathlib import Path
from typing import Any, Optional

import jax.numpy as jnp
import numpy as np
from omegaconf import DictConfig

from pipeline import plots
from pipeline.data import load_dataset
from pipeline.tracking import Tracker
from pipeline.train import predict_jit

RESUMED_TAG_PREFIX = "resumed."  # parent tag resumed.<job> = id of an earlier run reused
METRICS = ("loss", "train_accuracy", "val_accuracy", "train_rmse", "val_rmse",
           "gradcheck_rel_error", "gradcheck_fd_rel_error")


def objective_of(rows: list[dict]) -> tuple[str, bool]:
    """(metric, higher is better): val_accuracy, or val_rmse for regression sweeps."""
    if any(row.get("val_accuracy") is not None for row in rows):
        return "val_accuracy", True
    return "val_rmse", False


def run_rows(tracker: Tracker, parent_run_id: str, experiment: str, swept: list[str]) -> list[dict]:
    """One row per job: swept values, final metrics, status, run id; resumed jobs included."""
    runs = tracker.runs(experiment, f"tags.mlflow.parentRunId = '{parent_run_id}'")
    parent = tracker.client.get_run(parent_run_id)
    resumed = [v for k, v in parent.data.tags.items() if k.startswith(RESUMED_TAG_PREFIX)]
    rows = [_row(run, swept, "FINISHED" if run.info.status == "FINISHED" else run.info.status)
            for run in runs]
    rows += [_row(tracker.client.get_run(run_id), swept, "SKIPPED") for run_id in resumed]
    return sorted(rows, key=lambda row: [_sort_key(row.get(k)) for k in swept] + [_sort_key(row.get("job"))])


def _sort_key(value: Any) -> tuple:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _row(run, swept: list[str], status: str) -> dict:
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    row: dict[str, Any] = {key: _number(params.get(key)) for key in swept}
    row.update({name: metrics.get(name) for name in METRICS if name in metrics})
    row.update(
        status=status, run_id=run.info.run_id, run_name=run.info.run_name,
        job=int(tags["hydra.job.num"]) if tags.get("hydra.job.num", "").isdigit() else None,
        failure_reason=tags.get("failure_reason", ""),
    )
    # Plots group by these even when they were not swept.
    for key in ("model.hidden", "optim.lr", "model.activation", "model.name", "model.depth", "data.name"):
        row.setdefault(key, _number(params.get(key)))
    return row


def _number(value: Optional[str]) -> Any:
    if value is None:
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def best_row(rows: list[dict]) -> Optional[dict]:
    metric, higher = objective_of(rows)
    candidates = [r for r in rows if r["status"] in ("FINISHED", "SKIPPED") and _finite(r.get(metric))]
    if not candidates:
        return None
    return (max if higher else min)(candidates, key=lambda r: r[metric])


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def seed_statistics(rows: list[dict], swept: list[str]) -> list[dict]:
    """Mean and standard deviation of each final metric over seeds, per config (if seeds were swept)."""
    if "train.seed" not in swept:
        return []
    others = [k for k in swept if k != "train.seed"]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["status"] in ("FINISHED", "SKIPPED"):
            groups.setdefault(tuple(row.get(k) for k in others), []).append(row)
    table = []
    for key, members in groups.items():
        entry: dict[str, Any] = dict(zip(others, key), n_seeds=len(members))
        for metric in METRICS:
            values = [m[metric] for m in members if _finite(m.get(metric))]
            if values:
                entry[f"{metric}_mean"] = statistics.fmean(values)
                entry[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        table.append(entry)
    return table


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A compact fixed-width table for the terminal."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"
        return "" if value is None else str(value)

    body = [[cell(row.get(c)) for c in columns] for row in rows]
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
        writer.writerows(rows)
    return path


def summarize_sweep(tracker: Tracker, parent_run_id: str, config: DictConfig) -> str:
    """Write the sweep's table, best job, statistics and plots on the parent; print the table.

    Returns the parent's final status: FINISHED when every job finished (or was resumed),
    FAILED when any job failed.
    """
    from pipeline.sweep import swept_keys

    swept = list(swept_keys(config))
    rows = run_rows(tracker, parent_run_id, config.tracking.experiment, swept)
    metric, _ = objective_of(rows)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("FINISHED", "FAILED", "KILLED", "SKIPPED")}
    best = best_row(rows)
    summary_metrics = {f"n_{s.lower()}": float(n) for s, n in counts.items()}
    # What writing to MLflow cost this process (the jobs it ran in-process, and the parent).
    summary_metrics["mlflow_write_seconds"] = Tracker.write_seconds
    summary_tags: dict[str, str] = {}
    if best:
        summary_metrics[f"best_{metric}"] = best[metric]
        summary_tags.update(best_run_id=best["run_id"], best_run_name=best["run_name"])
        summary_tags.update({f"best.{k}": str(best[k]) for k in swept})
    seeds = seed_statistics(rows, swept)
    if len(seeds) == 1:
        summary_metrics.update({k: v for k, v in seeds[0].items() if k.endswith(("_mean", "_std"))})
    tracker.log_metrics(parent_run_id, summary_metrics)
    tracker.set_tags(parent_run_id, summary_tags)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        write_csv(rows, out / "results.csv")
        if seeds:
            write_csv(seeds, out / "seed_statistics.csv")
        if config.tracking.plots and rows:
            _summary_plots(tracker, rows, swept, metric, config, out)
        tracker.log_artifacts(parent_run_id, out)

    columns = swept + ["status", f"train_{metric[4:]}", metric, "gradcheck_rel_error", "run_id"]
    print("\n" + format_table(rows, columns), flush=True)
    counted = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n)
    if best:
        print(f"best: {' '.join(f'{k}={best[k]}' for k in swept)} {metric}={best[metric]:.4f} "
              f"(run {best['run_id']}); {counted}", flush=True)
    return "FAILED" if counts["FAILED"] or counts["KILLED"] else "FINISHED"


def _summary_plots(tracker, rows, swept, metric, config, out: Path) -> None:
    x = next((k for k in ("model.hidden", "model.depth", "optim.lr", "data.name") if k in swept), "model.hidden")
    series = next((k for k in ("optim.lr", "model.name", "model.activation", "train.seed")
                   if k in swept and k != x), "optim.lr")
    panels = next((k for k in ("model.activation", "data.name", "model.name") if k in swept and k not in (x, series)),
                  "model.activation")
    plots.plot_sweep_accuracy(rows, out / "sweep_accuracy.png", x=x, series=series, panels=panels, metric=metric)
    curves = []
    for row in rows:
        history = tracker.metric_history(row["run_id"], "loss")
        if history:
            steps = np.array([m.step for m in history])
            losses = np.array([m.value for m in history])
            order = np.argsort(steps)
            label = " ".join(f"{k}={row.get(k)}" for k in swept)
            curves.append((label, steps[order], losses[order]))
    if curves:
        plots.plot_loss_curves_overlay(curves, out / "loss_curves.png", title=f"{config.tracking.experiment}: loss")
    _best_boundaries(tracker, rows, metric, out)


def _best_boundaries(tracker, rows, metric, out: Path, how_many: int = 3) -> None:
    """Decision boundaries of the best few jobs, when the data is 2-D and binary."""
    _, higher = objective_of(rows)
    ranked = sorted((r for r in rows if r["status"] in ("FINISHED", "SKIPPED") and _finite(r.get(metric))),
                    key=lambda r: r[metric], reverse=higher)[:how_many]
    panels, data = [], None
    for row in ranked:
        run = tracker.client.get_run(row["run_id"])
        p = run.data.params
        if run.data.tags.get("data.task") != "binary":
            return
        ds = load_dataset(p["data.name"], seed=int(p["data.seed"]), val_fraction=float(p["data.val_fraction"]),
                          n_samples=int(p["data.n_samples"]), noise=float(p["data.noise"]),
                          path=p.get("data.path"), target=p.get("data.target"), task=p.get("data.task", "auto"))
        if ds.n_features != 2:
            return
        data = data or ds
        with tempfile.TemporaryDirectory() as tmp:
            params_file = tracker.download_artifacts(row["run_id"], "params.npz", Path(tmp))
            params = {k: jnp.asarray(v) for k, v in np.load(params_file).items()}
        hidden, output = p["model.activation"], run.data.tags.get("model.output_activation", "sigmoid")
        slope = float(p["model.leaky_slope"])
        predict_fn = (lambda P, params=params, hidden=hidden, output=output:
                      np.asarray(predict_jit(params, jnp.asarray(P, jnp.float32), hidden, output, slope)))
        panels.append((f"{row['run_name']}\n{metric}={row[metric]:.3f}", predict_fn))
    if panels:
        X = np.concatenate([data.X_train, data.X_val], axis=1)
        Y = np.concatenate([data.Y_train, data.Y_val], axis=1)
        plots.plot_decision_boundaries_grid(panels, X, Y, out / "best_decision_boundaries.png",
                                            title=f"best {len(panels)} by {metric}")
