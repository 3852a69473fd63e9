"""How fast is a sweep, end to end: against the floor, the previous commit and other pipelines. One invocation.

    python benchmarks/sweep_benchmark.py                          # 48-job sweep (cold, warm), relu_sweep, floor, (a), (b), (c)
    python benchmarks/sweep_benchmark.py --baseline-ref HEAD      # ... and the same sweeps from commit HEAD, as ratios
    python benchmarks/sweep_benchmark.py --grid 1000 --grid 10000 # ... and large grids of short runs
    python benchmarks/sweep_benchmark.py --quick                  # a smoke test: 4 jobs, 200 steps (numbers mean nothing)

Everything runs in this invocation, on this machine, each command in a fresh temporary
folder (a fresh MLflow store), with `python -m pipeline` and the pipeline's code on PYTHONPATH
(this checkout, or a `git worktree` of --baseline-ref, whose conf/ Hydra then reads):

  48-job sweep: relu, tanh, leaky_relu × hidden 1, 2, 4, 8 × lr 0.01, 0.1, 0.5, 1.2 on `flower`,
      10,000 full-batch gradient-descent steps each, a history point every 100 steps,
      hydra/launcher=batched; from the command to the last MLflow run written.
      cold: a fresh JAX_COMPILATION_CACHE_DIR; warm: the same cache again, a fresh store.
  +experiment=relu_sweep (28 jobs), cold and warm likewise.
  compiled programs per sweep: the command runs with JAX_LOG_COMPILES=1 and every "Finished
      XLA compilation of <program>" line is counted (one per XLA executable obtained, compiled
      or loaded from the persistent cache; "Persistent compilation cache hit" lines count the
      loads). "training programs" are those whose name contains "train".
  the floor (issue 16), measured here too:
      benchmarks/floor_mlflow.py: start Python, import MLflow, a fresh SQLite store (WAL),
          a parent and as many child runs as the sweep made, of the shape read from one of
          the sweep's own runs (params, tags, every metric point, artifact sizes), each child
          one create_run + one log_batch + one log_artifacts + FINISHED; timed whole-process.
      benchmarks/floor_program.py: ONE jit program training all 48 jobs (hidden padded to 8,
          each activation a vmap), compile and train timed apart.
      floor = bare writer (whole process) + program compile + program train.
      --repeat N (default 3): the cold 48-job sweep and the floor are measured in N rounds, one
          after the other, and the ratio is the median sweep over the median floor (a busy
          machine moves one round's ratio by a tenth or more).
  where the sweep's time goes: Python start-up and imports (`python -c "import pipeline..."`,
      JAX's backend included), XLA compile time from JAX's log, the pipeline's own timers
      read back from the store (`*_seconds` metrics of the parent and the children:
      compile_seconds, train_seconds, mlflow_write_seconds, ... whatever this version records).
  (a) the 48-job sweep with hydra/launcher=basic.
  (b) benchmarks/torch_app: Hydra + eager PyTorch + MLflow's fluent API, one job per config
      (needs torch: in this Python, pip install -e '.[bench]', or in a folder of its own named by
      --torch-path; skipped without it).
  (c) one job's 10,000 steps: hand-written NumPy (the notes' equations) vs the jitted scan.
  --grid N: N jobs of short runs (lr × seed, hidden 4, --grid-steps steps, per-run plots off):
      wall, jobs per second, peak memory (GNU time's maximum resident set, and every process
      together from /proc), the CPU seconds of the sweep's process and of its workers (the
      writer: on 2 cores, whether the grid could go faster at all), time from the command to
      the first training program ready (JAX's log) and to the first child run created (the
      store), and the bound: the bare writer's per-run cost, for runs of this grid's own
      shape, times N.

It prints a Markdown report (also written to --out) with the machine named: paste its table
into the README. Nothing here asserts a time; targets are shown met or not.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"
PY = sys.executable

GRID48 = ["model.activation=relu,tanh,leaky_relu", "model.hidden=1,2,4,8", "optim.lr=0.01,0.1,0.5,1.2"]
GRID_QUICK = ["model.activation=relu,tanh", "model.hidden=1,8", "optim.lr=0.5"]
RELU = ["+experiment=relu_sweep"]
RELU_QUICK = ["+experiment=relu_sweep", "model.hidden=1,2", "optim.lr=0.1,0.5"]
GRID_LRS = "0.05,0.1,0.2,0.3,0.5,0.7,1.0,1.2,1.5,2.0"

# Targets: issue 16 (floor, PyTorch, streaming grids), issue 10 (the speed budget), README's older ones.
FLOOR_TARGET = 1.5  # the 48-job sweep within this multiple of the floor
TORCH_TARGET = 10  # times faster than (b)
BUDGET = 1.15  # at most this multiple of the baseline's wall time (cold)
NUMPY_TARGET = 4  # (c)
MLFLOW_SHARE = 1 / 3
FIRST_PROGRAM_S, MEMORY_MIB = 10.0, 4096  # streaming grids

COMPILED = re.compile(r"Finished XLA compilation of (\S+) in ([0-9.eE+-]+) sec")
CACHE_HIT = re.compile(r"Persistent compilation cache hit for '([^']+)'")
JOB_LINE = re.compile(r"^\[1/\d+\] ")

IMPORTS = """
import importlib, pkgutil, pipeline
names = ["pipeline.__main__", "hydra_plugins.batched_launcher.batched_launcher"]
names += [f"pipeline.{m.name}" for m in pkgutil.iter_modules(pipeline.__path__) if not m.name.startswith("lesson")]
for name in names:
    importlib.import_module(name)
import jax
jax.devices()
"""

# -- running commands --------------------------------------------------------------------------


@dataclass
class Code:
    """Where the pipeline's code comes from: this checkout, or a worktree of a git ref."""

    label: str
    root: Path
    commit: str

    def env(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        return {"PYTHONPATH": f"{self.root}{os.pathsep + path if path else ''}"}


@dataclass
class Ran:
    command: list[str]
    where: Path
    wall: float
    peak_mib: Optional[int]  # the largest single process (GNU time)
    returncode: int
    timed_out: bool
    started_epoch: float
    lines: list[tuple[float, str, str]] = field(default_factory=list)  # (seconds since start, stream, text)
    all_peak_mib: Optional[int] = None  # every process of the command together (a sweep's writer and drawing processes)
    # CPU seconds (user + system) of the command's processes, as last sampled: the sweep's own
    # ("sweep", `python -m pipeline`) and its worker processes' ("workers": the writer, the drawing ones).
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def tail(self, n: int = 25) -> str:
        return "\n".join(text for _, _, text in self.lines[-n:])


def run(command: list[str], where: Path, env: dict[str, str], timeout: float) -> Ran:
    """Run `command` in `where` under GNU time, every output line timestamped as it arrives.

    On timeout the command gets SIGINT (the pipeline ends its runs KILLED and exits; GNU
    time ignores SIGINT and still reports), then SIGKILL 60 s later.
    """
    where.mkdir(parents=True, exist_ok=True)
    report = where / "gnu-time.txt"
    timer = ["/usr/bin/time", "-f", "%M", "-o", str(report)] if Path("/usr/bin/time").exists() else []
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    lines: list[tuple[float, str, str]] = []
    started_epoch, started = time.time(), time.perf_counter()
    process = subprocess.Popen(
        [*timer, *command],
        cwd=where,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )

    def read(stream, name):
        for text in stream:
            lines.append((time.perf_counter() - started, name, text.rstrip("\n")))

    readers = [
        threading.Thread(target=read, args=(s, n), daemon=True)
        for s, n in ((process.stdout, "out"), (process.stderr, "err"))
    ]
    for reader in readers:
        reader.start()
    together = {"peak": 0.0}
    cpu: dict[str, tuple[str, float]] = {}  # pid -> (sweep | workers, CPU seconds so far)

    def sample() -> None:
        while process.poll() is None:
            memory, seconds = session_sample(process.pid)
            together["peak"] = max(together["peak"], memory)
            cpu.update(seconds)
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    wall = time.perf_counter() - started
    for reader in readers:
        reader.join(timeout=10)
    peak = None
    if timer and report.exists():
        numbers = [w for w in report.read_text().split() if w.isdigit()]
        peak = int(numbers[-1]) // 1024 if numbers else None
    sampler.join(timeout=5)
    (where / "output.txt").write_text("\n".join(f"{t:9.3f} {s} {x}" for t, s, x in sorted(lines)))
    all_peak = round(together["peak"]) if together["peak"] else None
    cpu_seconds: dict[str, float] = {}
    for kind, seconds in cpu.values():
        cpu_seconds[kind] = cpu_seconds.get(kind, 0.0) + seconds
    return Ran(
        command, where, wall, peak, process.returncode, timed_out, started_epoch, sorted(lines), all_peak, cpu_seconds
    )


def session_sample(session: int) -> tuple[float, dict[str, tuple[str, float]]]:
    """One look at /proc for the processes of `session` (the command started in its own session,
    and its children: a sweep's writer and drawing processes): their resident memory together
    (MiB), and pid -> ("sweep" or "workers", CPU seconds so far) of the sweep's own process
    (`-m pipeline`) and its workers (multiprocessing's spawned ones); (0, {}) elsewhere."""
    pages, cpu = 0, {}
    try:
        entries = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return 0.0, cpu
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in entries:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ... utime, stime
            if int(fields[3]) != session:
                continue
            with open(f"/proc/{pid}/statm") as statm:
                pages += int(statm.read().split()[1])  # resident
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                arguments = cmdline.read().split(b"\0")
        except (OSError, ValueError, IndexError):  # gone meanwhile
            continue
        seconds = (int(fields[11]) + int(fields[12])) / ticks
        if b"pipeline" in arguments and b"-m" in arguments:
            cpu[pid] = ("sweep", seconds)
        elif any(b"spawn_main" in argument for argument in arguments):
            cpu[pid] = ("workers", seconds)
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20, cpu


def run_json(command: list[str], where: Path, env: dict[str, str], timeout: float = 1800) -> tuple[dict, Ran]:
    ran = run(command, where, env, timeout)
    if not ran.ok:
        raise RuntimeError(f"{' '.join(command)} failed (exit {ran.returncode}):\n{ran.tail()}")
    for _, stream, text in reversed(ran.lines):
        if stream == "out" and text.startswith("{"):
            return json.loads(text), ran
    raise RuntimeError(f"{' '.join(command)} printed no JSON:\n{ran.tail()}")


# -- what a sweep did --------------------------------------------------------------------------


@dataclass
class Sweep:
    name: str
    code: Code
    ran: Ran
    compiles: dict
    store: dict

    @property
    def wall(self) -> float:
        return self.ran.wall


def compile_stats(ran: Ran) -> dict:
    """Compiled programs, from JAX's log lines (JAX_LOG_COMPILES=1).

    Lines on stdout went through Hydra's logging, so they come from the sweep's own process;
    lines on stderr from processes with no logging set up (the plot workers), or from the
    sweep's process before Hydra set up logging.
    """
    programs = [(t, s, m.group(1), float(m.group(2))) for t, s, x in ran.lines if (m := COMPILED.search(x))]
    hits = sum(1 for _, _, x in ran.lines if CACHE_HIT.search(x))
    training = [p for p in programs if "train" in p[2].lower()]
    names: dict[str, int] = {}
    for _, _, name, _ in programs:
        names[name] = names.get(name, 0) + 1
    return {
        "programs": len(programs),
        "cache_hits": hits,
        "compiled": len(programs) - hits,
        "seconds": sum(p[3] for p in programs),
        "seconds_main": sum(p[3] for p in programs if p[1] == "out"),
        "seconds_other": sum(p[3] for p in programs if p[1] != "out"),
        "training_programs": len(training),
        "training_seconds": sum(p[3] for p in training),
        "first_training_ready": training[0][0] if training else None,
        "by_name": dict(sorted(names.items(), key=lambda kv: -kv[1])),
        "first_job_line": next((t for t, s, x in ran.lines if JOB_LINE.search(x)), None),
    }


def store_stats(where: Path, started_epoch: float) -> dict:
    """The sweep's runs, read straight from its SQLite store (fast even for 10,000 runs)."""
    db = where / "mlflow.db"
    if not db.exists():
        return {}
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    try:
        runs = {
            r[0]: {"status": r[1], "start": r[2], "end": r[3]}
            for r in connection.execute("SELECT run_uuid, status, start_time, end_time FROM runs")
        }
        parent_of = dict(connection.execute("SELECT run_uuid, value FROM tags WHERE key = 'mlflow.parentRunId'"))
        metrics: dict[str, dict[str, float]] = {}
        for run_id, key, value in connection.execute(
            "SELECT run_uuid, key, value FROM latest_metrics WHERE key LIKE '%seconds%'"
        ):
            metrics.setdefault(run_id, {})[key] = value
    finally:
        connection.close()
    children = [r for r in runs if r in parent_of]
    parents = {parent_of[c] for c in children}
    statuses: dict[str, int] = {}
    for c in children:
        statuses[runs[c]["status"]] = statuses.get(runs[c]["status"], 0) + 1
    starts = [runs[c]["start"] for c in children if runs[c]["start"]]
    ends = [runs[c]["end"] for c in children if runs[c]["end"]]
    parent_metrics = {}
    for p in parents:
        parent_metrics.update(metrics.get(p, {}))
    timers: dict[str, dict] = {}
    for c in children:
        for key, value in metrics.get(c, {}).items():
            timers.setdefault(key, []).append(value)
    child_timers = {}
    for key, values in timers.items():
        distinct = sorted(set(values))
        # A batch's figure recorded on each of its jobs repeats; a job's own figure does not.
        shared = len(distinct) <= len(values) / 2
        child_timers[key] = {
            "sum": sum(values),
            "distinct_sum": sum(distinct),
            "max": max(values),
            "runs": len(values),
            "shared": shared,
            "total": sum(distinct) if shared else sum(values),
        }
    first = (min(starts) / 1000 - started_epoch) if starts else None
    span = (max(ends) - min(starts)) / 1000 if starts and ends else None
    return {
        "children": len(children),
        "statuses": statuses,
        "parent_metrics": parent_metrics,
        "child_timers": child_timers,
        "first_child_created": first,
        "children_span": span,
    }


def pipeline_sweep(name: str, code: Code, overrides: list[str], where: Path, cache: Path, timeout: float) -> Sweep:
    env = {**code.env(), "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_LOG_COMPILES": "1"}
    ran = run([PY, "-m", "pipeline", *overrides], where, env, timeout)
    sweep = Sweep(name, code, ran, compile_stats(ran), store_stats(where, ran.started_epoch))
    status = "timed out" if ran.timed_out else ("ok" if ran.ok else f"FAILED (exit {ran.returncode})")
    print(
        f"  {name} [{code.label}]: {ran.wall:.1f} s, {sweep.compiles['programs']} XLA programs "
        f"({sweep.compiles['training_programs']} training, {sweep.compiles['cache_hits']} from the cache), "
        f"{sweep.store.get('children', 0)} child runs {sweep.store.get('statuses', {})}, "
        f"peak {ran.peak_mib} MiB: {status}",
        flush=True,
    )
    if not ran.ok and not ran.timed_out:
        print("    its last lines:\n    " + ran.tail(15).replace("\n", "\n    "), flush=True)
    return sweep


# -- the pieces --------------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.scratch = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
        self.worktrees: list[Path] = []
        q = args.quick
        self.steps = 200 if q else 10_000
        self.common = [
            "-m",
            "model.init=small",
            f"train.steps={self.steps}",
            "train.log_every=100",
            "tracking.experiment=bench",
        ]
        self.made = 0
        self.grid48 = GRID_QUICK if q else GRID48
        self.relu = RELU_QUICK + ["train.steps=200"] if q else RELU

    def folder(self, name: str) -> Path:
        self.made += 1
        path = self.scratch / f"{self.made:02d}-{name}"
        path.mkdir(parents=True)
        return path

    # code locations

    def checkout(self, ref: str) -> Code:
        sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
        path = self.scratch / f"worktree-{len(self.worktrees)}-{sha[:10]}"
        git("worktree", "add", "--detach", str(path), sha)
        self.worktrees.append(path)
        return self.verified(Code(f"{ref} ({sha[:7]})", path, sha))

    def this_checkout(self) -> Code:
        sha = git("rev-parse", "HEAD")
        dirty = bool(
            git("status", "--porcelain", "--untracked-files=no", "--", "pipeline", "models", "hydra_plugins", "conf")
        )
        return self.verified(Code(f"this checkout ({sha[:7]}{' + uncommitted changes' if dirty else ''})", ROOT, sha))

    def verified(self, code: Code) -> Code:
        """Check that `python -m pipeline` with this PYTHONPATH really runs this code (not the
        editable install's), launcher included."""
        probe = "import pipeline, hydra_plugins.batched_launcher as b; print(pipeline.__file__); print(b.__file__)"
        out = subprocess.run(
            [PY, "-c", probe], cwd=self.scratch, env={**os.environ, **code.env()}, capture_output=True, text=True
        )
        files = out.stdout.split()
        if (
            out.returncode != 0
            or not files
            or not all(Path(f).resolve().is_relative_to(code.root.resolve()) for f in files)
        ):
            sys.exit(f"the pipeline's code for {code.label} is not what runs ({files or out.stderr[-2000:]})")
        # Once, untimed: Python's bytecode (a fresh worktree has none) and the OS's file cache,
        # so that neither the first sweep measured nor a baseline pays them alone.
        warm = run([PY, "-c", IMPORTS], self.folder("warm-up-imports"), code.env(), 600)
        if not warm.ok:
            sys.exit(f"importing the pipeline of {code.label} failed:\n{warm.tail()}")
        return code

    def cleanup(self) -> None:
        for path in self.worktrees:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], capture_output=True)
        if not self.args.keep:
            shutil.rmtree(self.scratch, ignore_errors=True)

    # measurements

    def sweep_pair(self, label: str, code: Code, overrides: list[str]) -> tuple[Sweep, Sweep]:
        """Cold (a fresh compile cache) then warm (the same cache, a fresh store)."""
        slug = re.sub(r"[^a-z0-9]+", "-", f"{label}-{code.commit[:7]}".lower())
        cache = self.folder(f"jax-cache-{slug}")
        cold = pipeline_sweep(f"{label}, cold", code, overrides, self.folder(f"{slug}-cold"), cache, self.args.timeout)
        warm = pipeline_sweep(f"{label}, warm", code, overrides, self.folder(f"{slug}-warm"), cache, self.args.timeout)
        return cold, warm

    def rounds(self, code: Code, overrides: list[str], first: Sweep, first_floor: float) -> list[tuple[float, float]]:
        """(sweep, floor) wall times of --repeat rounds, the first one measured already: each
        round a cold sweep (a fresh compile cache and store) then the floor, so that both sides
        of the ratio see the machine alike; the report gives their medians."""
        rounds = [(first.wall, first_floor)]
        for number in range(2, self.args.repeat + 1):
            slug = f"round-{number}"
            sweep = pipeline_sweep(
                f"{4 if self.args.quick else 48}-job, cold, round {number}",
                code,
                overrides,
                self.folder(slug),
                self.folder(f"jax-cache-{slug}"),
                self.args.timeout,
            )
            if not sweep.ran.ok:
                continue
            floor = floor_seconds(self.floor_writer(sweep, sweep.store["children"]), self.floor_program(code))
            print(
                f"    round {number}: sweep {sweep.wall:.1f} s, floor {floor:.1f} s: {sweep.wall / floor:.2f}×",
                flush=True,
            )
            rounds.append((sweep.wall, floor))
        return rounds

    def startup(self, code: Code) -> float:
        """Python start-up + the sweep's imports + JAX's backend: the median of 3 processes."""
        walls = [run([PY, "-c", IMPORTS], self.folder(f"imports-{i}"), code.env(), 600) for i in range(3)]
        bad = [w for w in walls if not w.ok]
        if bad:
            raise RuntimeError(f"importing the pipeline failed:\n{bad[0].tail()}")
        return statistics.median(w.wall for w in walls)

    def floor_writer(self, sweep: Sweep, runs: int) -> dict:
        """The bare MLflow writer for runs of `sweep`'s shape; whole-process wall time added."""
        shape, _ = run_json(
            [PY, str(HERE / "floor_mlflow.py"), "shape", "--store", f"sqlite:///{sweep.ran.where}/mlflow.db"],
            self.folder(f"shape-{sweep.ran.where.name}"),
            {},
        )
        shape_file = self.scratch / f"shape-{sweep.ran.where.name}.json"
        shape_file.write_text(json.dumps(shape))
        n = runs
        where = self.folder(f"floor-writer-{sweep.ran.where.name}")
        report, ran = run_json(
            [
                PY,
                str(HERE / "floor_mlflow.py"),
                "write",
                "--shape",
                str(shape_file),
                "--runs",
                str(n),
                "--dir",
                str(where / "store"),
            ],
            where,
            {},
        )
        report["wall"] = ran.wall
        report["start_seconds"] = ran.wall - report["inside_seconds"]  # the interpreter, before the script's first line
        return report

    def floor_program(self, code: Code) -> dict:
        """Both bare programs, each in a fresh process (the first compile of a process pays
        one-time costs); the floor is the cheaper (compile + train)."""
        env = {**code.env(), "JAX_COMPILATION_CACHE_DIR": ""}
        reports = {}
        for variant in ("switch", "vmaps"):
            command = [PY, str(HERE / "floor_program.py"), "program", "--steps", str(self.steps), "--only", variant]
            if self.args.quick:
                command.append("--quick")
            report, ran = run_json(command, self.folder(f"floor-program-{variant}"), env)
            if variant in report:
                reports[variant] = {**report, "wall": ran.wall}
            else:
                print(
                    f"  (the bare '{variant}' program cannot be built with this code: {report.get(variant + '_error')})"
                )
        if not reports:
            raise RuntimeError("no bare training program could be built with this code (see above)")
        best = min(reports.values(), key=lambda r: r["compile_seconds"] + r["train_seconds"])
        return {
            **best,
            "variants": {
                k: {"compile_seconds": r["compile_seconds"], "train_seconds": r["train_seconds"]}
                for k, r in reports.items()
            },
        }

    def one_job(self, code: Code) -> dict:
        command = [PY, str(HERE / "floor_program.py"), "one-job", "--steps", str(1000 if self.args.quick else 10_000)]
        report, _ = run_json(command, self.folder("one-job"), {**code.env(), "JAX_COMPILATION_CACHE_DIR": ""})
        return report

    def torch(self, code: Code) -> Optional[Ran]:
        env = code.env()
        if self.args.torch_path:  # torch from a folder of its own, for (b) only
            env["PYTHONPATH"] += os.pathsep + str(self.args.torch_path.resolve())
        if subprocess.run([PY, "-c", "import torch"], env={**os.environ, **env}, capture_output=True).returncode:
            return None
        grid = (
            ["activation=relu,tanh", "hidden=1,8", "lr=0.5", "steps=200"]
            if self.args.quick
            else ["activation=relu,tanh,leaky_relu", "hidden=1,2,4,8", "lr=0.01,0.1,0.5,1.2"]
        )
        ran = run([PY, str(HERE / "torch_app/app.py"), "-m", *grid], self.folder("torch"), env, self.args.timeout)
        print(f"  (b) Hydra + eager PyTorch + MLflow: {ran.wall:.1f} s{'' if ran.ok else ' FAILED'}", flush=True)
        if not ran.ok:
            print("    " + ran.tail(10).replace("\n", "\n    "))
        return ran

    def grid(self, n: int, code: Code) -> dict:
        steps = 100 if self.args.quick else self.args.grid_steps
        if (
            self.args.grid_shape == "hidden" and n % 400 == 0
        ):  # issue 16's: hidden sizes × 20 train seeds × 20 data seeds
            values = [f"model.hidden=range(1,{n // 400 + 1})", "train.seed=range(0,20)", "data.seed=range(0,20)"]
            label = f"{n // 400} hidden sizes × 20 train seeds × 20 data seeds"
        elif n % 10 == 0:
            values = ["model.hidden=4", f"optim.lr={GRID_LRS}", f"train.seed=range(0,{n // 10})"]
            label = f"10 lr × {n // 10} seeds, hidden 4"
        else:
            values = ["model.hidden=4", "optim.lr=0.5", f"train.seed=range(0,{n})"]
            label = f"{n} seeds, hidden 4"
        overrides = [
            "-m",
            "model.init=small",
            f"train.steps={steps}",
            "train.log_every=100",
            "tracking.plots=false",
            "tracking.experiment=bench",
            "hydra/launcher=batched",
            f"sweep.max_jobs={max(n, 1)}",
            *values,
        ]
        where = self.folder(f"grid-{n}")
        sweep = pipeline_sweep(f"{n:,}-job grid", code, overrides, where, where / "jax-cache", self.args.timeout)
        first = sweep.compiles["first_training_ready"]
        done = sweep.store.get("statuses", {}).get("FINISHED", 0)
        print(
            f"    {done / sweep.wall if sweep.wall else 0:.1f} jobs/s, first training program ready at {fmt(first)}, "
            f"peak {sweep.ran.peak_mib} MiB ({sweep.ran.all_peak_mib} MiB all processes together; load average {os.getloadavg()[0]:.2f})",
            flush=True,
        )
        out = {"n": n, "steps": steps, "label": label, "sweep": sweep}
        if sweep.store.get("children"):
            writer = self.floor_writer(sweep, runs=min(n, 20 if self.args.quick else 200))
            out["writer"] = writer
            out["bound"] = writer["per_run_seconds"] * n
        job_overrides = next(where.glob("multirun/*/*/0/.hydra/overrides.yaml"), None)
        if job_overrides is not None:
            out["run_job"] = self.floor_run_job(job_overrides, code, jobs=min(n, 20 if self.args.quick else 200))
        return out

    def floor_run_job(self, job_overrides: Path, code: Code, jobs: int) -> dict:
        """Hydra's run_job alone (a task that returns at once) on the config of one of a sweep's
        jobs, `jobs` times, in a fresh process: what every job costs the sweep's main thread
        before its own work (floor_run_job.py)."""
        report, _ = run_json(
            [
                PY,
                str(HERE / "floor_run_job.py"),
                "--overrides",
                str(job_overrides),
                "--jobs",
                str(jobs),
                "--conf",
                str(code.root / "conf"),
            ],
            self.folder(f"floor-run-job-{job_overrides.parents[2].name}"),
            code.env(),
        )
        return report


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


# -- the report --------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return (
        f"{cores} cores ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"JAX {version('jax')}, MLflow {version('mlflow')}, Hydra {version('hydra-core')}"
    )


def fmt(seconds: Optional[float], digits: int = 1) -> str:
    return "–" if seconds is None else f"{seconds:.{digits}f} s"


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def faster(ratio: float) -> str:
    return f"{ratio:.1f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower"


def programs(s: Sweep) -> str:
    c = s.compiles
    cached = f", {c['cache_hits']} loaded from the cache" if c["cache_hits"] else ""
    return f"{c['training_programs']} training / {c['programs']} XLA programs{cached}"


def sweep_cell(s: Optional[Sweep]) -> str:
    if s is None:
        return ""
    if s.ran.timed_out:
        return f"> {s.wall:.0f} s (stopped)"
    if not s.ran.ok:
        return f"failed after {s.wall:.1f} s"
    return f"{s.wall:.1f} s; {programs(s)}"


def timer_total(s: Sweep, *keys: str) -> Optional[float]:
    timers = s.store.get("child_timers", {})
    found = [timers[k]["total"] for k in keys if k in timers]
    return sum(found) if found else None


def cpu_split(ran: Ran, jobs: int) -> str:
    """Where a sweep's CPU went: its own process, its workers, per job (on this many cores)."""
    sweep, workers = ran.cpu_seconds.get("sweep"), ran.cpu_seconds.get("workers", 0.0)
    if not sweep or not jobs:
        return ""
    return (
        f", CPU {sweep:.1f} s in the sweep's process (XLA's threads included) and {workers:.1f} s in its "
        f"workers (the writer's): {(sweep + workers) / jobs * 1000:.0f} ms a job, start-ups included, "
        f"on {os.cpu_count()} cores"
    )


def grid_row(g: dict, extra: str = "") -> str:
    """A --grid sweep's row: wall, jobs per second, first training program, peak memory, the bound."""
    s = g["sweep"]
    first = s.compiles["first_training_ready"]
    first = first if first is not None else s.store.get("first_child_created")
    done = s.store.get("statuses", {}).get("FINISHED", 0)
    rate = done / s.wall if s.wall else 0
    span = s.store.get("children_span")
    steady = f" ({s.store['children'] / span:.1f}/s from the first run recorded to the last)" if span else ""
    bound = g.get("bound")
    memory = s.ran.all_peak_mib or s.ran.peak_mib  # every process of the sweep counts
    state = "" if s.ran.ok else (" (stopped at the time limit)" if s.ran.timed_out else " (**failed**)")
    return (
        f"| {g['n']:,} jobs ({g['label']}, {g['steps']:,} steps each, per-run plots off) | {s.wall:.1f} s{state}, "
        f"{done:,} runs finished, {rate:.1f} jobs/s{steady}, first training program ready at {fmt(first)}, first "
        f"run recorded at {fmt(s.store.get('first_child_created'))}, peak {s.ran.peak_mib} MiB "
        f"(all its processes together: {s.ran.all_peak_mib} MiB){cpu_split(s.ran, done)}; "
        f"bound {fmt(bound)} ({(g['writer']['per_run_seconds'] * 1000) if 'writer' in g else 0:.0f} ms/run × "
        f"{g['n']:,}){run_job_cell(g)} {extra}| first program ≤ {FIRST_PROGRAM_S:.0f} s "
        f"({met(first is not None and first <= FIRST_PROGRAM_S)}), < 4 GiB "
        f"({met(memory is not None and memory < MEMORY_MIB)}) |"
    )


def run_job_cell(g: dict) -> str:
    """Hydra's run_job alone, per job and for the grid's jobs; and the least time the bare writer's
    runs and Hydra's run_job of every job take together, spread perfectly over this machine's cores."""
    if "run_job" not in g:
        return ""
    per_job, cores = g["run_job"]["per_job_seconds"], os.cpu_count() or 1
    text = (
        f"; Hydra's run_job alone (a task that does nothing): {per_job * 1000:.0f} ms a job, {per_job * g['n']:.1f} s"
    )
    if "writer" in g:
        both = (per_job + g["writer"]["per_run_seconds"]) * g["n"] / cores
        text += f"; the two together on {cores} cores: {both:.1f} s at the least"
    return text


def grids_report(results: dict) -> str:
    """--grids-only: the machine, then the grids' rows."""
    load = results["load"]
    lines = [
        f"Machine: {machine()}.",
        f"Run {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; load average {load[0]:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end. Code: {results['code'].label}. Command: "
        "`python benchmarks/sweep_benchmark.py " + " ".join(sys.argv[1:]) + "`",
        "",
        "| grid | this code | target |",
        "|---|---|---|",
    ]
    lines += [grid_row(g) for g in results["grids"]]
    return "\n".join(lines)


def floor_seconds(writer: dict, program: dict) -> float:
    """The floor: the bare writer's whole process, and the bare program's compile and training."""
    return writer["wall"] + program["compile_seconds"] + program["train_seconds"]


def report(bench: Bench, results: dict) -> str:
    args, lines = bench.args, []
    add = lines.append
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load = results["load"]
    add(f"Machine: {machine()}.")
    add(
        f"Run {now}; load average {load[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
        + (" (**the machine was busy: figures are not comparable**)" if max(load[0], os.getloadavg()[0]) > 0.7 else "")
        + ("; **--quick: 4 jobs, 200 steps, a smoke test, not a measurement**" if args.quick else "")
        + "."
    )
    add(
        f"Code: {results['code'].label}"
        + (f"; baseline: {results['baseline'].label}" if results.get("baseline") else "")
        + ". Command: `python benchmarks/sweep_benchmark.py "
        + " ".join(sys.argv[1:])
        + "`"
    )
    add("")
    main48, warm48 = results["48"]
    relu, relu_warm = results["relu"]
    base = results.get("base48"), results.get("base_relu")
    has_base = results.get("baseline") is not None
    n48 = "48" if not args.quick else "4"

    add(
        "| | this code | "
        + ("before: " + results["baseline"].label + " | this ÷ before | " if has_base else "")
        + "target |"
    )
    add("|---|---|" + ("---|---|" if has_base else "") + "---|")

    def row(name, now_sweep, before_sweep, target=""):
        cells = [name, sweep_cell(now_sweep)]
        if has_base:
            ratio = (
                (now_sweep.wall / before_sweep.wall)
                if (now_sweep and before_sweep and before_sweep.ran.ok and now_sweep.ran.ok)
                else None
            )
            cells += [sweep_cell(before_sweep), "–" if ratio is None else f"{ratio:.2f}×"]
            if target == "budget":
                target = (
                    f"≤ {BUDGET:.2f}× ({met(ratio is not None and ratio <= BUDGET)})" if ratio else f"≤ {BUDGET:.2f}×"
                )
        elif target == "budget":
            target = f"≤ {BUDGET:.2f}× before (run with --baseline-ref)"
        cells.append(target)
        add("| " + " | ".join(cells) + " |")

    row(f"{n48}-job sweep, `hydra/launcher=batched`, cold caches", main48, base[0] and base[0][0], "budget")
    row(f"{n48}-job sweep, compile cache warm", warm48, base[0] and base[0][1])
    if relu is not None:
        row(
            "`+experiment=relu_sweep`" + (" (narrowed)" if args.quick else " (28 jobs)") + ", cold caches",
            relu,
            base[1] and base[1][0],
            "budget",
        )
        row("`+experiment=relu_sweep`, compile cache warm", relu_warm, base[1] and base[1][1])

    floor = results["floor"]
    extra = "| | " if has_base else ""
    writer, program = floor["writer"], floor["program"]
    floor_total = floor_seconds(writer, program)
    add(
        f"| the floor: bare MLflow writer ({writer['runs']} runs, whole process) + one program (compile + train) | "
        f"{floor_total:.1f} s = {writer['wall']:.1f} + {program['compile_seconds']:.1f} + {program['train_seconds']:.1f} "
        f"{extra}| |"
    )
    rounds = results.get("rounds") or [(main48.wall, floor_total)]
    multiple = statistics.median(s for s, _ in rounds) / statistics.median(f for _, f in rounds)
    each = ", ".join(f"{s:.1f}/{f:.1f} s" for s, f in rounds)
    how = f" (median sweep ÷ median floor of {len(rounds)} rounds, sweep/floor: {each})" if len(rounds) > 1 else ""
    add(
        f"| {n48}-job sweep ÷ the floor | {multiple:.2f}×{how} {extra}| ≤ {FLOOR_TARGET}× ({met(multiple <= FLOOR_TARGET)}) |"
    )
    if results.get("basic"):
        b = results["basic"]
        add(
            f"| (a) the {n48}-job sweep, `hydra/launcher=basic` | {sweep_cell(b)}: batched is "
            f"{faster(b.wall / main48.wall)} {extra}| |"
        )
    t = results.get("torch")
    if t is not None and not t.ok:
        add(f"| (b) Hydra + eager PyTorch + MLflow | failed after {t.wall:.1f} s {extra}| ≥ {TORCH_TARGET}× |")
    elif t is not None:
        ratio = t.wall / main48.wall
        add(
            f"| (b) Hydra + eager PyTorch + MLflow | {t.wall:.1f} s: batched is {faster(ratio)} {extra}| "
            f"≥ {TORCH_TARGET}× ({met(ratio >= TORCH_TARGET)}) |"
        )
    else:
        add(
            f"| (b) Hydra + eager PyTorch + MLflow | skipped (no torch in this Python, or --skip-torch) {extra}| "
            f"≥ {TORCH_TARGET}× |"
        )
    c = results["one_job"]
    ratio = c["numpy_seconds"] / c["jax_seconds"]
    add(
        f"| (c) one job's {c['steps']:,} steps, NumPy vs the jitted scan | {c['numpy_seconds']:.3f} s vs "
        f"{c['jax_seconds']:.3f} s: {ratio:.1f}× faster {extra}| ≥ {NUMPY_TARGET}× ({met(ratio >= NUMPY_TARGET)}) |"
    )
    mlflow_s = main48.store.get("parent_metrics", {}).get("mlflow_write_seconds")
    if mlflow_s is not None:
        share = mlflow_s / main48.wall
        add(
            f"| MLflow writes in the {n48}-job sweep (`mlflow_write_seconds`) | {mlflow_s:.1f} s, {share:.0%} of the "
            f"wall time {extra}| < 1/3 ({met(share < MLFLOW_SHARE)}) |"
        )
    for g in results.get("grids", []):
        add(grid_row(g, extra))
    add("")

    # where the time goes
    startup = results["startup"]
    comp = main48.compiles
    train_s = timer_total(main48, "train_seconds", "batch_train_seconds")
    own_compile = timer_total(main48, "compile_seconds", "batch_compile_seconds")
    writer_start = writer["start_seconds"] + writer["import_seconds"]
    writes_floor = writer["runs_seconds"] + writer["parent_seconds"]
    accounted = startup + comp["seconds_main"] + (mlflow_s or 0.0)
    add(f"Where the {n48}-job sweep's {main48.wall:.1f} s go, beside the floor's {floor_total:.1f} s:")
    add("")
    add("| part | sweep | floor | above the floor |")
    add("|---|---|---|---|")
    add(
        f"| Python start-up + imports (pipeline/ but the lessons, the launcher; JAX's backend) | {startup:.1f} s | {writer_start:.1f} s (Python + MLflow) | "
        f"{startup - writer_start:+.1f} s |"
    )
    add(
        f"| XLA compiling in the sweep's process (JAX's log; {comp['programs']} programs in all) | "
        f"{comp['seconds_main']:.1f} s (training programs {comp['training_seconds']:.1f} s) | "
        f"{program['compile_seconds']:.1f} s | {comp['seconds_main'] - program['compile_seconds']:+.1f} s |"
    )
    add(
        f"| MLflow writes (`mlflow_write_seconds`; floor: the runs) | {fmt(mlflow_s)} | {writes_floor:.1f} s | "
        + (f"{mlflow_s - writes_floor:+.1f} s |" if mlflow_s is not None else "– |")
    )
    add(f"| creating the store (schema, experiment) | in the rest | {writer['store_seconds']:.1f} s | |")
    add(
        f"| training (the pipeline's timer, overlapping the recording) | {fmt(train_s)} | "
        f"{program['train_seconds']:.1f} s | |"
    )
    add(
        f"| the rest (wall − the rows above but training) | {main48.wall - accounted:.1f} s | "
        f"{floor_total - writer_start - program['compile_seconds'] - writes_floor - program['train_seconds']:.1f} s "
        f"(store, files) | |"
    )
    add(
        f"| whole | {main48.wall:.1f} s | {floor_total:.1f} s | {main48.wall - floor_total:+.1f} s "
        f"({main48.wall / floor_total:.2f}× the floor in this round) |"
    )
    add("")
    details = [
        f"the floor's program: '{program['program']}' ("
        + ", ".join(
            f"{k}: compile {v['compile_seconds']:.1f} s + train {v['train_seconds']:.1f} s"
            for k, v in program["variants"].items()
        )
        + "; benchmarks/floor_program.py)"
    ]
    details.append(f"XLA compile time logged by other processes (plot workers): {comp['seconds_other']:.1f} s")
    if own_compile is not None:
        details.append(f"the pipeline's compile timer: {own_compile:.1f} s")
    details.append(
        f"first training program ready {fmt(comp['first_training_ready'])}, first child run created "
        f"{fmt(main48.store.get('first_child_created'))}, first job line {fmt(comp['first_job_line'])} "
        "after the command started"
    )
    details.append(
        f"the bare writer: {writer['per_run_seconds'] * 1000:.0f} ms per child run of "
        f"{writer['shape']['params']} params, {writer['shape']['tags']} tags, "
        f"{writer['shape']['metric_points']} metric points, {writer['shape']['artifacts']} files "
        f"({writer['shape']['artifact_bytes'] / 1024:.0f} KiB)"
    )
    add("Also: " + "; ".join(details) + ".")
    add("")
    add("The pipeline's own timers (`*seconds*` metrics), " + f"{n48}-job sweep, cold:")
    add("")
    for key, value in sorted(main48.store.get("parent_metrics", {}).items()):
        add(f"- parent `{key}`: {value:.2f}")
    for key, t in sorted(main48.store.get("child_timers", {}).items()):
        kind = "the same figure on several jobs (a batch's): sum of distinct values" if t["shared"] else "sum over jobs"
        add(f"- children `{key}`: {t['total']:.2f} s ({kind}; max {t['max']:.2f} over {t['runs']} runs)")
    add("")
    add("Programs by name (cold " + f"{n48}-job sweep): " + ", ".join(f"{k} ×{v}" for k, v in comp["by_name"].items()))
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: 4 jobs, 200 steps, small grids")
    parser.add_argument(
        "--baseline-ref", metavar="REF", help="also run the sweeps from git ref REF (a temporary worktree)"
    )
    parser.add_argument("--code-ref", metavar="REF", help="run 'this code' from git ref REF instead of this checkout")
    parser.add_argument(
        "--grid", type=int, action="append", default=[], metavar="N", help="a grid of N short jobs (repeatable)"
    )
    parser.add_argument(
        "--grid-steps", type=int, default=1000, help="steps per job of the --grid sweeps (default 1000)"
    )
    parser.add_argument(
        "--grid-shape",
        choices=("lr", "hidden"),
        default="lr",
        help="lr: 10 learning rates × N/10 seeds, hidden 4 (default); hidden: N/400 hidden sizes × "
        "20 train seeds × 20 data seeds (issue 16's grid; N a multiple of 400)",
    )
    parser.add_argument("--grids-only", action="store_true", help="run only the --grid sweeps (and their bound)")
    parser.add_argument("--thousand", action="store_true", help="the same as --grid 1000")
    parser.add_argument("--skip-basic", action="store_true", help="skip (a)")
    parser.add_argument("--skip-torch", action="store_true", help="skip (b), which takes minutes")
    parser.add_argument(
        "--torch-path",
        type=Path,
        metavar="DIR",
        help="a folder holding torch (pip install --target DIR torch==2.13.0), put on PYTHONPATH for (b) "
        "only; without it (b) needs torch in this Python",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="rounds of (cold 48-job sweep, floor) for the sweep ÷ floor ratio, their medians (default 3)",
    )
    parser.add_argument("--skip-relu", action="store_true", help="skip +experiment=relu_sweep")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds any one command may run (default 1800)")
    parser.add_argument(
        "--out", type=Path, help="also write the report here (default: $TMPDIR/sweep-benchmark-DATE-TIME.md)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (stores, outputs, logs)")
    args = parser.parse_args()
    if args.thousand and 1000 not in args.grid:
        args.grid.append(1000)

    bench = Bench(args)
    results: dict = {"load": os.getloadavg()}
    print(f"scratch folder: {bench.scratch}", flush=True)
    try:
        code = bench.checkout(args.code_ref) if args.code_ref else bench.this_checkout()
        baseline = bench.checkout(args.baseline_ref) if args.baseline_ref else None
        results["code"], results["baseline"] = code, baseline
        if args.grids_only:
            results["grids"] = [bench.grid(n, code) for n in args.grid]
            text = grids_report(results)
            print("\n" + text)
            if args.out:
                args.out.write_text(text + "\n")
            return
        grid48 = bench.common + bench.grid48 + ["hydra/launcher=batched"]
        label = "4-job" if args.quick else "48-job"
        print(f"{label} sweep ({code.label})", flush=True)
        results["48"] = bench.sweep_pair(label, code, grid48)
        if baseline:
            results["base48"] = bench.sweep_pair(label, baseline, grid48)
        main48 = results["48"][0]
        if not main48.ran.ok:
            sys.exit("the sweep failed; nothing to compare (see its lines above)")
        if not args.skip_relu:
            results["relu"] = bench.sweep_pair("relu_sweep", code, bench.relu)
            if baseline:
                results["base_relu"] = bench.sweep_pair("relu_sweep", baseline, bench.relu)
        else:
            results["relu"] = (None, None)
        print("the floor", flush=True)
        writer = bench.floor_writer(main48, main48.store["children"])
        program = bench.floor_program(code)
        results["floor"] = {"writer": writer, "program": program}
        results["rounds"] = bench.rounds(code, grid48, main48, floor_seconds(writer, program))
        print(
            f"  bare MLflow writer, {writer['runs']} runs: {writer['wall']:.1f} s whole process "
            f"({writer['per_run_seconds'] * 1000:.0f} ms per run); one program: "
            + "; ".join(
                f"{k}: compile {v['compile_seconds']:.1f} s, train {v['train_seconds']:.1f} s"
                for k, v in program["variants"].items()
            ),
            flush=True,
        )
        results["startup"] = bench.startup(code)
        print(f"  Python start-up + the sweep's imports: {results['startup']:.1f} s", flush=True)
        if not args.skip_basic:
            results["basic"] = pipeline_sweep(
                "(a) basic launcher, cold",
                code,
                [*bench.common, *bench.grid48, "hydra/launcher=basic"],
                bench.folder("basic"),
                bench.folder("jax-cache-basic"),
                args.timeout,
            )
        results["torch"] = None if args.skip_torch else bench.torch(code)
        results["one_job"] = bench.one_job(code)
        print(
            f"  (c) NumPy {results['one_job']['numpy_seconds']:.3f} s, jitted scan "
            f"{results['one_job']['jax_seconds']:.3f} s",
            flush=True,
        )
        results["grids"] = [bench.grid(n, code) for n in args.grid]
        text = report(bench, results)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = args.out or Path(tempfile.gettempdir()) / f"sweep-benchmark-{stamp}.md"
        out.write_text(text + "\n")
        print("\n" + text + f"\n\n(report written to {out})")
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
