"""How fast is a sweep, end to end, against the ways people run one today? Ratios, one invocation.

    python benchmarks/sweep_benchmark.py            # the 48-job comparison (a, b, c below)
    python benchmarks/sweep_benchmark.py --thousand # also a 1,000-job sweep: wall time, peak memory

The workload: 48 jobs = activations relu, tanh, leaky_relu × hidden 1, 2, 4, 8 × lr 0.01,
0.1, 0.5, 1.2 on `flower`, 10,000 full-batch gradient-descent steps each, loss logged every
100 steps, from the command line to the last MLflow run written. Every pipeline starts cold
(a fresh JAX compilation cache, a fresh store) in its own temporary directory, all in this
invocation on this machine:

  this project, hydra/launcher=batched (the default of conf/experiment/)
  (a) this project, hydra/launcher=basic: one compiled program per job
  (b) benchmarks/torch_app: a Hydra app, one job per config, eager PyTorch, MLflow fluent
      logging (needs `pip install torch==2.13.0`; skipped without it)
  (c) one job's 10,000 training steps: the notes' equations in NumPy against the jitted scan
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = ["model.activation=relu,tanh,leaky_relu", "model.hidden=1,2,4,8", "optim.lr=0.01,0.1,0.5,1.2"]
TARGETS = {"(a)": 5, "(b)": 25}  # times faster the batched sweep should be
COMMON = ["-m", "model.init=small", "train.steps=10000", "train.log_every=100", "tracking.experiment=bench"]


def timed(command: list[str], cwd: Path, env: dict | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS in MiB) of one command, measured by GNU time; fails loudly if it fails."""
    report = cwd / "time.txt"
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(report), *command], cwd=cwd,
                            env={**os.environ, **(env or {})}, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    return wall, int(report.read_text().split()[-1]) // 1024


def pipeline_sweep(launcher: str, extra: list[str] | None = None) -> tuple[float, int, Path]:
    where = Path(tempfile.mkdtemp(prefix=f"bench-{launcher}-"))
    env = {"JAX_COMPILATION_CACHE_DIR": str(where / "jax-cache")}  # cold: no compiled program reused
    command = [sys.executable, "-m", "pipeline", *COMMON, *(extra or GRID), f"hydra/launcher={launcher}"]
    wall, peak = timed(command, where, env)
    return wall, peak, where


def torch_sweep() -> float | None:
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    where = Path(tempfile.mkdtemp(prefix="bench-torch-"))
    grid = ["activation=relu,tanh,leaky_relu", "hidden=1,2,4,8", "lr=0.01,0.1,0.5,1.2"]
    wall, _ = timed([sys.executable, str(ROOT / "benchmarks/torch_app/app.py"), "-m", *grid], where)
    return wall


def steps_numpy_vs_jax() -> tuple[float, float]:
    """Seconds for one job's 10,000 steps: NumPy (the notes' equations) and the jitted scan."""
    import jax
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from numpy_reference import train_numpy

    from models.network import init_params
    from pipeline.data import load_dataset
    from pipeline.train import TrainSpec, compiled_train, make_hyper

    ds = load_dataset("flower")
    X, Y = ds.X_train.astype(np.float32), ds.Y_train.astype(np.float32)
    numpy_seconds = best_of(3, lambda: train_numpy(X, Y, hidden=4, lr=1.2, steps=10000))

    spec = TrainSpec("relu", "sigmoid", "gd", "hand", 10000, 10000, None)  # log once: steps only
    params = init_params(jax.random.PRNGKey(0), (2, 4, 1), "small")
    data = tuple(jax.numpy.asarray(a, "float32") for a in (ds.X_train, ds.Y_train, ds.X_val, ds.Y_val))
    hyper, key = make_hyper(1.2), jax.random.PRNGKey(1)
    program = compiled_train(spec, params, data, hyper, key)
    jax.block_until_ready(program(params, data, hyper, key))  # warm
    return numpy_seconds, best_of(3, lambda: jax.block_until_ready(program(params, data, hyper, key)))


def best_of(n: int, work) -> float:
    """The fastest of n timings: the steady-state speed, with less of the machine's noise."""
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def breakdown(store: Path) -> dict[str, float]:
    """Where the batched sweep's time went, from what its runs recorded."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("bench").experiment_id], max_results=5000)
    batches, mlflow_seconds = {}, 0.0
    for run in runs:
        mlflow_seconds = max(mlflow_seconds, run.data.metrics.get("mlflow_write_seconds", 0.0))
        if "batch.group" in run.data.tags:
            batches[run.data.tags["batch.group"]] = (run.data.metrics["compile_seconds"], run.data.metrics["train_seconds"])
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import pipeline.run, pipeline.sweep, pipeline.batching, hydra"], check=True)
    return {
        "import": time.perf_counter() - started,
        "compile": sum(c for c, _ in batches.values()),
        "train": sum(t for _, t in batches.values()),
        "programs": len(batches),
        "mlflow": mlflow_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thousand", action="store_true", help="also time a 1,000-job sweep")
    parser.add_argument("--skip-basic", action="store_true", help="skip (a)")
    parser.add_argument("--skip-torch", action="store_true", help="skip (b), which takes about 10 minutes")
    args = parser.parse_args()

    batched, batched_peak, store = pipeline_sweep("batched")
    print(f"batched launcher, 48 jobs: {batched:.1f} s (peak {batched_peak} MiB)", flush=True)
    parts = breakdown(store)
    rows = [("48-job sweep, this project (batched)", batched, 1.0)]
    if not args.skip_basic:
        basic, _, _ = pipeline_sweep("basic")
        rows.append(("(a) same sweep, hydra/launcher=basic", basic, basic / batched))
    torch_wall = None if args.skip_torch else torch_sweep()
    if torch_wall is not None:
        rows.append(("(b) Hydra + eager PyTorch + MLflow", torch_wall, torch_wall / batched))
    numpy_seconds, jax_seconds = steps_numpy_vs_jax()

    print(f"\n{'pipeline':<42} {'wall s':>8} {'× batched':>10} {'target':>8}")
    for name, wall, ratio in rows:
        target = TARGETS.get(name[:3])
        mark = f"{'>=' + str(target) + 'x':>8} {'met' if ratio >= target else 'NOT met'}" if target else ""
        print(f"{name:<42} {wall:>8.1f} {ratio:>10.1f} {mark}")
    if torch_wall is None:
        print("(b) skipped (--skip-torch, or torch not installed: pip install -e '.[bench]')")
    ratio = numpy_seconds / jax_seconds
    print(f"\n(c) one job, 10,000 steps: NumPy {numpy_seconds:.3f} s, jitted scan {jax_seconds:.3f} s: "
          f"{ratio:.1f}× faster (target >= 4x: {'met' if ratio >= 4 else 'NOT met'})")
    other = batched - parts["import"] - parts["compile"] - parts["train"] - parts["mlflow"]
    print(f"\nwhere the batched sweep's {batched:.1f} s went: import {parts['import']:.1f} s, "
          f"compile {parts['compile']:.1f} s ({parts['programs']} program(s)), train {parts['train']:.1f} s "
          f"(overlapping the recording), MLflow writes {parts['mlflow']:.1f} s "
          f"({parts['mlflow'] / batched:.0%} of the wall time; target < 33%), the rest {other:.1f} s (starting "
          f"Python, composing and checking the jobs, the gradient checks' program, Hydra's run_job for each job, "
          f"the plots not hidden behind the jobs, the summary)")

    if args.thousand:
        grid = ["optim.lr=0.05,0.1,0.2,0.3,0.5,0.7,1.0,1.2,1.5,2.0", "train.seed=range(0,100)",
                "model.hidden=4", "train.steps=1000", "tracking.plots=false"]
        wall, peak, _ = pipeline_sweep("batched", grid)
        print(f"\n1,000-job sweep (1,000 steps each, per-run plots off): {wall:.1f} s, peak memory {peak} MiB "
              f"(targets 180 s, 4096 MiB: {'met' if wall <= 180 and peak <= 4096 else 'NOT met'})")


if __name__ == "__main__":
    main()
