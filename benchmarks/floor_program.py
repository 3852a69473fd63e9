"""The training side of the floor: the jobs of a sweep trained by bare JAX programs, no pipeline around them.

    python benchmarks/floor_program.py program [--steps 10000] [--quick]   # the floor: one program, all jobs
    python benchmarks/floor_program.py one-job [--steps 10000]             # (c): NumPy against the jitted scan

Each prints one line of JSON. `program` trains every job of the 48-job benchmark grid (relu,
tanh, leaky_relu × hidden 1, 2, 4, 8 × lr 0.01, 0.1, 0.5, 1.2 on `flower`, 10,000 full-batch
steps, a history point every 100) as ONE compiled program, hidden layers padded to a multiple
of 8 units (masked where the pipeline's `Hyper` has a unit mask), built two ways:

  vmaps   each activation's jobs on a `jax.vmap` axis, the three vmaps inside one `jax.jit`
          (three loop bodies to compile);
  switch  one vmap over all 48 jobs, each job's activation picked by `lax.switch` on its
          index (one loop body; every activation computed, one selected).

Each is compiled, then run once; compile and train times are reported apart, and the floor
is the cheaper program (compile + train). That is the least a JAX pipeline spends training
this sweep here; the MLflow side of the floor is benchmarks/floor_mlflow.py.

Only the pipeline's pure training function is used, through names that stay:
`from pipeline.train import train, TrainSpec, make_hyper`. The inputs (data, initial
parameters, padding) are built here, so the pipeline's own batching code can change freely.
benchmarks/gpu_check.py builds on the same helpers.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

started = time.perf_counter()

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the pipeline this file belongs to, unless PYTHONPATH names another
    sys.path.append(str(ROOT))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.train import TrainSpec, make_hyper, train  # noqa: E402

imported = time.perf_counter()

ACTIVATIONS = ("relu", "tanh", "leaky_relu")
HIDDEN = (1, 2, 4, 8)
LRS = (0.01, 0.1, 0.5, 1.2)
STEPS, LOG_EVERY = 10_000, 100
PAD_MULTIPLE = 8  # hidden layers padded to a multiple of this many units, as the pipeline pads them


@dataclass(frozen=True)
class Job:
    activation: str
    hidden: int
    lr: float
    seed: int = 0


def grid48() -> list[Job]:
    return [Job(a, h, lr) for a in ACTIVATIONS for h in HIDDEN for lr in LRS]


def grid_quick() -> list[Job]:
    """4 jobs, two activations (two programs' worth of structure): for smoke tests."""
    return [Job(a, h, 0.5) for a in ("relu", "tanh") for h in (1, 8)]


def padded(hidden: int, multiple: int = PAD_MULTIPLE) -> int:
    return max(multiple, math.ceil(hidden / multiple) * multiple)


def flower() -> tuple[np.ndarray, ...]:
    """(X_train, Y_train, X_val, Y_val) as float32, examples as columns: the pipeline's split of
    `flower` when pipeline.data offers it, else the same 400 points split here (same sizes)."""
    try:
        from pipeline.data import load_dataset

        ds = load_dataset("flower")
        arrays = (ds.X_train, ds.Y_train, ds.X_val, ds.Y_val)
    except (ImportError, AttributeError, TypeError):
        rng = np.random.RandomState(1)
        X, Y = np.zeros((400, 2)), np.zeros((400, 1))
        for j in range(2):
            t = np.linspace(j * 3.12, (j + 1) * 3.12, 200) + rng.randn(200) * 0.2
            r = 4 * np.sin(4 * t) + rng.randn(200) * 0.2
            X[200 * j : 200 * (j + 1)], Y[200 * j : 200 * (j + 1)] = np.c_[r * np.sin(t), r * np.cos(t)], j
        order = np.random.default_rng(0).permutation(400)
        train_, val = order[:320], order[320:]
        arrays = (X[train_].T, Y[train_].T, X[val].T, Y[val].T)
    return tuple(np.ascontiguousarray(a, np.float32) for a in arrays)


def spec_for(activation: str, steps: int, log_every: int) -> TrainSpec:
    """The pipeline's TrainSpec for a shallow sigmoid-output binary classifier trained by plain
    gradient descent with jax.grad, whatever fields this version of TrainSpec has."""
    known = dict(
        hidden_activation=activation,
        output_activation="sigmoid",
        task="binary",
        optimizer="gd",
        grad="autodiff",
        steps=steps,
        log_every=log_every,
        batch_size=None,
    )
    unknown = [f for f in TrainSpec._fields if f not in known and f not in TrainSpec._field_defaults]
    if unknown:
        sys.exit(
            f"pipeline.train.TrainSpec has fields this benchmark does not know: {unknown}; "
            "give them values in benchmarks/floor_program.py:spec_for"
        )
    return TrainSpec(**{k: v for k, v in known.items() if k in TrainSpec._fields})


def job_inputs(job: Job, n_x: int = 2) -> tuple[dict, object, np.ndarray]:
    """(params0, hyper, key) of one job as host arrays, its hidden layer padded to a multiple of 8.

    Initial weights: N(0, 1)·0.01 ("small"), drawn by NumPy from the job's seed (the floor's
    work does not depend on which draw); padding units start at 0, and are masked when the
    pipeline's Hyper has a unit mask (a zero unit of relu/tanh/leaky_relu stays zero anyway).
    """
    width = padded(job.hidden)
    rng = np.random.default_rng(job.seed)
    W1 = np.zeros((width, n_x), np.float32)
    W2 = np.zeros((1, width), np.float32)
    W1[: job.hidden] = rng.standard_normal((job.hidden, n_x)) * 0.01
    W2[:, : job.hidden] = rng.standard_normal((1, job.hidden)) * 0.01
    params = {"W1": W1, "b1": np.zeros((width, 1), np.float32), "W2": W2, "b2": np.zeros((1, 1), np.float32)}
    try:
        hyper = make_hyper(job.lr, xp=np)
    except TypeError:  # a make_hyper without xp: device arrays, to the host
        hyper = jax.device_get(make_hyper(job.lr))
    if "unit_mask" in hyper._fields:
        hyper = hyper._replace(unit_mask=(np.arange(width) < job.hidden).astype(np.float32)[:, None])
    return params, hyper, np.array([0, job.seed], np.uint32)  # a raw PRNG key (unused at full batch)


def stack(trees: list):
    return jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *trees)


def groups_of(jobs: list[Job]) -> dict[tuple[str, int], list[int]]:
    """Job indices by (activation, padded width): the jobs that can share one program's shapes."""
    groups: dict[tuple[str, int], list[int]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault((job.activation, padded(job.hidden)), []).append(index)
    return groups


def vmapped_program(jobs: list[Job], steps: int, log_every: int):
    """(program, args): ONE jit whose body vmaps `train` over each group's jobs."""
    groups = groups_of(jobs)
    specs = [spec_for(activation, steps, log_every) for activation, _ in groups]
    inputs = [job_inputs(job) for job in jobs]
    stacked = [stack([inputs[i] for i in members]) for members in groups.values()]

    def all_jobs(stacked_inputs, data):
        return [
            jax.vmap(partial(train, spec), in_axes=(0, None, 0, 0))(params, data, hyper, keys)
            for spec, (params, hyper, keys) in zip(specs, stacked_inputs)
        ]

    return jax.jit(all_jobs), (stacked, flower()), groups


def unstack(results: list, groups: dict, n_jobs: int) -> list:
    """The vmapped programs' results as one tree per job, in the jobs' order."""
    out = [None] * n_jobs
    for result, members in zip(results, groups.values()):
        for row, index in enumerate(members):
            out[index] = jax.tree_util.tree_map(lambda x: x[row], result)
    return out


def switched_program(jobs: list[Job], steps: int, log_every: int):
    """(program, args, None): ONE jit, ONE vmap over every job, each job's activation picked by
    `lax.switch` on its index (so one loop body is compiled, not one per activation; under vmap
    every activation is computed and one selected). All jobs padded to the widest multiple of 8.
    Needs models.activations' Activation and ACTIVATIONS (the hidden activation may be an
    Activation object); returns None where this version of the code lacks them."""
    try:
        from models.activations import ACTIVATIONS, Activation
    except ImportError:
        return None
    names = sorted({job.activation for job in jobs})
    width = max(padded(job.hidden) for job in jobs)
    inputs = []
    for job in jobs:
        params, hyper, key = job_inputs(job)
        grow = width - params["W1"].shape[0]
        params = {
            "W1": np.pad(params["W1"], ((0, grow), (0, 0))),
            "b1": np.pad(params["b1"], ((0, grow), (0, 0))),
            "W2": np.pad(params["W2"], ((0, 0), (0, grow))),
            "b2": params["b2"],
        }
        if "unit_mask" in hyper._fields:
            hyper = hyper._replace(unit_mask=(np.arange(width) < job.hidden).astype(np.float32)[:, None])
        inputs.append((params, hyper, key, np.int32(names.index(job.activation))))
    gs = [ACTIVATIONS[n].g for n in names]
    primes = [ACTIVATIONS[n].g_prime for n in names]

    def one_job(params, data, hyper, key, index):
        chosen = Activation(
            lambda z, slope: jax.lax.switch(index, gs, z, slope),
            lambda z, slope: jax.lax.switch(index, primes, z, slope),
        )
        return train(spec_for(chosen, steps, log_every), params, data, hyper, key)

    def all_jobs(stacked, data):
        params, hyper, key, index = stacked
        return jax.vmap(one_job, in_axes=(0, None, 0, 0, 0))(params, data, hyper, key, index)

    return jax.jit(all_jobs), (stack(inputs), flower()), None


def time_program(jobs: list[Job], steps: int, log_every: int, variants=("switch", "vmaps")) -> dict:
    """The bare programs (`variants`), each compiled and run once; the floor is the cheaper.
    benchmarks/sweep_benchmark.py times each in its own process (`--only`): the first
    compile of a process also pays JAX's one-time costs."""
    out = {"jobs": len(jobs), "steps": steps, "shapes": len(groups_of(jobs))}
    builders = {"vmaps": vmapped_program, "switch": switched_program}
    for name in variants:
        built = builders[name](jobs, steps, log_every)
        if built is None:
            out[f"{name}_error"] = "models.activations has no Activation/ACTIVATIONS to choose from"
            continue
        program, args, groups = built
        try:
            t0 = time.perf_counter()
            compiled = program.lower(*args).compile()
            t1 = time.perf_counter()
            result = jax.device_get(jax.block_until_ready(compiled(*args)))
            t2 = time.perf_counter()
        except Exception as error:  # this version's train cannot take the chosen activation: skip it
            out[f"{name}_error"] = f"{type(error).__name__}: {str(error)[:300]}"
            continue
        per_job = (
            unstack(result, groups, len(jobs))
            if groups
            else [jax.tree_util.tree_map(lambda x: x[i], result) for i in range(len(jobs))]
        )
        out[name] = {
            "compile_seconds": t1 - t0,
            "train_seconds": t2 - t1,
            "best_val_accuracy": max(float(r.history.val_metric[-1]) for r in per_job),
        }
    built = [k for k in variants if k in out]
    if not built:
        return out  # only the errors: the caller reports them
    best = min(built, key=lambda k: out[k]["compile_seconds"] + out[k]["train_seconds"])
    out.update(program=best, compile_seconds=out[best]["compile_seconds"], train_seconds=out[best]["train_seconds"])
    return out


def time_one_job(steps: int, repeats: int = 3) -> dict:
    """(c): one job (relu, 4 units, lr 1.2), `steps` full-batch steps: hand-written NumPy (the
    notes' equations) against the jitted scan, each the fastest of `repeats` (compiled first)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from numpy_reference import train_numpy

    X, Y, _, _ = flower()
    numpy_seconds = best_of(repeats, lambda: train_numpy(X, Y, hidden=4, lr=1.2, steps=steps))
    job = Job("relu", 4, 1.2)
    spec = spec_for("relu", steps, steps)  # one history point at the end: the steps alone
    params, hyper, key = job_inputs(job)
    params = {k: v[:4] if k in ("W1", "b1") else (v[:, :4] if k == "W2" else v) for k, v in params.items()}
    if "unit_mask" in hyper._fields:
        hyper = hyper._replace(unit_mask=None)
    data = flower()
    compiled = jax.jit(partial(train, spec)).lower(params, data, hyper, key).compile()
    jax.block_until_ready(compiled(params, data, hyper, key))
    jax_seconds = best_of(repeats, lambda: jax.block_until_ready(compiled(params, data, hyper, key)))
    return {"steps": steps, "numpy_seconds": numpy_seconds, "jax_seconds": jax_seconds}


def best_of(n: int, work) -> float:
    timings = []
    for _ in range(n):
        t0 = time.perf_counter()
        work()
        timings.append(time.perf_counter() - t0)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("program", "one-job"))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--log-every", type=int, default=LOG_EVERY)
    parser.add_argument("--quick", action="store_true", help="4 jobs instead of 48 (smoke test)")
    parser.add_argument("--only", choices=("vmaps", "switch"), help="build and time this program only")
    args = parser.parse_args()
    if args.what == "program":
        report = time_program(
            grid_quick() if args.quick else grid48(),
            args.steps,
            args.log_every,
            [args.only] if args.only else ("switch", "vmaps"),
        )
    else:
        report = time_one_job(args.steps)
    report.update(import_seconds=imported - started, jax=jax.__version__, backend=jax.default_backend())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
