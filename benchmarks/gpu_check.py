"""On an accelerator: how fast is a sweep's training, and is each job's result the same bits as the job alone?

    python benchmarks/gpu_check.py gpu [--steps 10000]   # on a GPU machine (also tpu)
    python benchmarks/gpu_check.py cpu [--quick]          # the same checks on the CPU (says whether a GPU is here)

The workload is the 48-job benchmark sweep (relu, tanh, leaky_relu × hidden 1, 2, 4, 8 ×
lr 0.01, 0.1, 0.5, 1.2 on `flower`, 10,000 full-batch steps, a history point every 100), its
hidden layers padded to a multiple of 8 masked units as the pipeline pads every run, trained
by the pipeline's pure `pipeline.train.train` three ways, on the asked-for device (and, for an
accelerator, on the CPU too, in the same process):

  alone      every job on its own: one program per shape (activation × padded width), each job
             dispatched and waited for by itself. This is the reference for the bits.
  per-job    the batch as the pipeline's batched launcher runs it: one compiled program per shape,
             dispatched once per job, all dispatches queued before waiting.
  vmapped    one program: `jax.vmap(train)` over each shape's jobs, all inside one `jax.jit`.

For each of per-job and vmapped it reports how many jobs have every recorded number (final
parameters, each history point, the divergence step) bit for bit equal to the job alone;
for the others, each job's largest relative difference of any recorded array (|a - b| over
the array's largest magnitude), their median and the worst job. It needs only JAX, Optax, NumPy and the
repository's pipeline/ and models/ (benchmarks/floor_program.py builds the inputs): no
Hydra, no MLflow.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from floor_program import (  # noqa: E402
    LOG_EVERY,
    STEPS,
    flower,
    grid48,
    grid_quick,
    groups_of,
    job_inputs,
    padded,
    spec_for,
    train,
    unstack,
    vmapped_program,
)

# after floor_program, which puts the repository on sys.path
from pipeline.device import float32_products_in_float32, take_gpu_memory_as_needed  # noqa: E402

PLATFORM = {"gpu": "gpu", "tpu": "tpu", "cpu": "cpu"}


def find(kind: str):
    """The first device of `kind`, or None."""
    try:
        return jax.devices(PLATFORM[kind])[0]
    except RuntimeError:
        return None


def put(tree, device):
    return jax.device_put(tree, device)


def run_alone(jobs, steps, log_every, device):
    """Each job by itself, waited for. Returns (the first job's compile seconds, its train seconds, all results)."""
    data = put(flower(), device)
    programs, compile_s, results, first_s = {}, None, [], None
    for job in jobs:
        key = (job.activation, padded(job.hidden))
        args = put(job_inputs(job), device)
        if key not in programs:
            t0 = time.perf_counter()
            programs[key] = (
                jax.jit(lambda p, d, h, k, s=spec_for(job.activation, steps, log_every): train(s, p, d, h, k))
                .lower(args[0], data, args[1], args[2])
                .compile()
            )
            compile_s = compile_s if compile_s is not None else time.perf_counter() - t0
        t0 = time.perf_counter()
        results.append(jax.device_get(jax.block_until_ready(programs[key](args[0], data, args[1], args[2]))))
        first_s = first_s if first_s is not None else time.perf_counter() - t0
    return compile_s, first_s, results


def run_per_job(jobs, steps, log_every, device):
    """One program per shape, compiled ahead, dispatched once per job; waited for at the end."""
    data = put(flower(), device)
    inputs = [put(job_inputs(job), device) for job in jobs]
    programs, compile_s = {}, 0.0
    for (activation, width), members in groups_of(jobs).items():
        params, hyper, key = inputs[members[0]]
        t0 = time.perf_counter()
        programs[(activation, width)] = (
            jax.jit(lambda p, d, h, k, s=spec_for(activation, steps, log_every): train(s, p, d, h, k))
            .lower(params, data, hyper, key)
            .compile()
        )
        compile_s += time.perf_counter() - t0
    t0 = time.perf_counter()
    pending = [programs[(job.activation, padded(job.hidden))](p, data, h, k) for job, (p, h, k) in zip(jobs, inputs)]
    results = jax.device_get(jax.block_until_ready(pending))
    return compile_s, time.perf_counter() - t0, results


def run_vmapped(jobs, steps, log_every, device):
    program, args, groups = vmapped_program(jobs, steps, log_every)
    args = put(args, device)
    t0 = time.perf_counter()
    compiled = program.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = jax.device_get(jax.block_until_ready(compiled(*args)))
    return compile_s, time.perf_counter() - t0, unstack(results, groups, len(jobs))


def compare(results, reference, jobs) -> dict:
    """How many jobs have every leaf with the reference's bits; for the others, each job's
    largest relative difference of any leaf (|a - b| / max |b| over the leaf), median and worst."""
    same, diffs = 0, []
    for job, got, want in zip(jobs, results, reference):
        pairs = list(zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)))
        if all(
            np.asarray(a).shape == np.asarray(b).shape and np.asarray(a).tobytes() == np.asarray(b).tobytes()
            for a, b in pairs
        ):
            same += 1
            continue
        worst = 0.0
        for a, b in pairs:
            a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
            finite = np.isfinite(a) & np.isfinite(b)
            if finite.any():
                scale = max(float(np.max(np.abs(b[finite]))), 1e-30)
                worst = max(worst, float(np.max(np.abs(a[finite] - b[finite]))) / scale)
        diffs.append((worst, job))
    out = {"same": same}
    if diffs:
        diffs.sort(key=lambda d: d[0])
        out.update(median=diffs[len(diffs) // 2][0], worst=diffs[-1][0], worst_job=diffs[-1][1])
    return out


def check(label: str, device, jobs, steps: int, log_every: int) -> None:
    compile_alone, one_s, alone = run_alone(jobs, steps, log_every, device)
    first = jobs[0]
    rows = [
        (
            f"1 job alone ({first.activation}, hidden {first.hidden} -> {padded(first.hidden)})",
            compile_alone,
            one_s,
            1,
            None,
        )
    ]
    for name, fn in (
        (f"{len(jobs)} jobs, a program per shape, per job", run_per_job),
        (f"{len(jobs)} jobs, vmapped in one program", run_vmapped),
    ):
        compile_s, train_s, results = fn(jobs, steps, log_every, device)
        rows.append((name, compile_s, train_s, len(jobs), compare(results, alone, jobs)))
    for name, compile_s, train_s, n, bits in rows:
        verdict = "(the reference)" if bits is None else f"{bits['same']}/{len(jobs)} bitwise equal"
        if bits and "worst" in bits:
            w = bits["worst_job"]
            verdict += (
                f"; the others differ by {bits['median']:.0e} (median), {bits['worst']:.0e} at worst "
                f"({w.activation}, hidden {w.hidden}, lr {w.lr:g})"
            )
        print(
            f"{name:<44} {label:<5} {compile_s:>10.2f} {train_s:>9.3f} {n * steps / train_s:>12,.0f}  {verdict}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", nargs="?", default="gpu", choices=sorted(PLATFORM))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--quick", action="store_true", help="4 jobs, 1,000 steps: a smoke test")
    args = parser.parse_args()
    steps = min(args.steps, 1000) if args.quick else args.steps
    jobs = grid_quick() if args.quick else grid48()
    take_gpu_memory_as_needed()  # as every job of the pipeline does (pipeline.device.select_device)
    float32_products_in_float32()

    gpu = find("gpu")
    print(f"JAX {jax.__version__}; backends' devices: {', '.join(str(d) for d in jax.devices())}")
    if gpu is None:
        print(
            "no GPU found: JAX sees no CUDA device here"
            + (
                ""
                if args.kind == "cpu"
                else f"; asked for {args.kind}: nothing to check (run `python benchmarks/gpu_check.py cpu` for the CPU)"
            )
        )
    else:
        print(f"GPU found: {gpu} ({getattr(gpu, 'device_kind', '?')})")
    device = find(args.kind)
    if device is None:
        sys.exit(1)
    devices = [(args.kind, device)] + ([("cpu", find("cpu"))] if args.kind != "cpu" else [])
    print(
        f"\n{len(jobs)} jobs, {steps:,} steps each, a history point every {LOG_EVERY}; hidden layers padded to "
        f"a multiple of 8 masked units\n"
    )
    print(f"{'workload':<44} {'on':<5} {'compile s':>10} {'train s':>9} {'steps/s':>12}  same bits as alone?")
    for label, dev in devices:
        check(label, dev, jobs, steps, LOG_EVERY)


if __name__ == "__main__":
    main()
