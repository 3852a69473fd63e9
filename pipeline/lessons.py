"""`python -m pipeline +lesson=NAME`: a section of the notes, run, printed and recorded.

Each lesson computes the numbers a section of the notes works out by hand, prints them as a
small table a learner can lay beside the notes, and records one MLflow run: the table's
numbers as metrics, the lesson's keys as params, the table as CSV and a plot as artifacts.

    derivatives         f(a) = 3a, a², a³, ln a nudged by 0.001: slope = height / width
    computation_graph   J(a, b, c) = 3(a + bc) at (5, 3, 2): the chain rule, right to left
    vectorisation       the 2-layer network node by node (Python loops) vs Z[1] = W[1]X + b[1]
    activation_slopes   sigmoid', tanh', ReLU', leaky ReLU' at z = -10, 0, 10: hand, jax.grad, nudge
    cpu_vs_gpu          a matrix multiplication and a batched training program on each device

The math lives in `models/` (nudge.py, graph.py, node_by_node.py, activations.py, network.py);
this module only times, prints and records. The first four lessons run in float64, so the
printed digits are the notes' own.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from models import activations, graph, node_by_node
from models.backprop import loss
from models.network import forward, init_params
from models.nudge import NOTES_FUNCTIONS, centred_slope, nudge, one_sided_slope
from pipeline import interrupts, provenance
from pipeline.config import INT32_MAX, ConfigError
from pipeline.device import matmul_precision, select_device, xla_flags
from pipeline.tracking import real_run_id, tracker_for, ui_hint


@dataclass
class LessonConfig:
    """Every key a lesson reads (`lesson.KEY=...`); each conf/lesson/*.yaml sets `name` and its own."""

    name: str = "???"
    nudge: float = 0.001  # the notes' width: a = 2 -> 2.001
    # derivatives: where each f is nudged
    points: list[float] = field(default_factory=lambda: [2.0, 5.0])
    # computation_graph: (a, b, c)
    inputs: list[float] = field(default_factory=lambda: [5.0, 3.0, 2.0])
    # activation_slopes: where each slope is taken, and leaky ReLU's α (the notes: max(0.1z, z))
    z: list[float] = field(default_factory=lambda: [-10.0, 0.0, 10.0])
    leaky_slope: float = 0.1
    # vectorisation: the notes' network (3 inputs, 4 hidden units, 1 output), m examples per row
    n_x: int = 3
    hidden: int = 4
    examples: list[int] = field(default_factory=lambda: [10, 100, 1000, 10000])
    # cpu_vs_gpu: matrix sizes n (n×n @ n×n), numbers of training jobs in one vmapped program
    matmul_sizes: list[int] = field(default_factory=lambda: [128, 512, 2048, 8192])
    jobs: list[int] = field(default_factory=lambda: [1, 64, 1024, 16384])
    steps: int = 100  # gradient-descent steps of each training job
    max_seconds: float = 0.5  # a size whose one call would take longer on a device is skipped there
    repeats: int = 5  # timings are the best of this many calls (compiling is never timed)
    seed: int = 0


# -- tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str  # the CSV header and the metric name's suffix (MLflow allows [A-Za-z0-9_.-/ ])
    label: str  # the printed header
    fmt: str = "{:.6f}"


@dataclass
class Table:
    """A lesson's numbers: rows of {column name: value}, each row named by its "key"."""

    title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    name: str = ""  # its CSV is LESSON.csv, or LESSON_NAME.csv for a lesson's second table

    def text(self) -> str:
        """The table as the learner sees it: fixed-width columns, numbers right-aligned."""
        cells = [[_cell(row.get(c.name), c.fmt) for c in self.columns] for row in self.rows]
        widths = [max([len(c.label)] + [len(r[i]) for r in cells]) for i, c in enumerate(self.columns)]
        numeric = [any(isinstance(row.get(c.name), (int, float)) for row in self.rows) for c in self.columns]

        def line(values):
            return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

        return "\n".join([self.title, line([c.label for c in self.columns]), *(line(r) for r in cells)])

    def write_csv(self, path: Path) -> Path:
        """Full precision (repr), one row per table row, the row's key first."""
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["key", *(c.name for c in self.columns)])
            for row in self.rows:
                writer.writerow([row["key"], *("" if row.get(c.name) is None else row[c.name] for c in self.columns)])
        return path

    def metrics(self) -> dict[str, float]:
        """Every finite number of the table as a metric "ROW_KEY.COLUMN"."""
        return {
            f"{row['key']}.{c.name}": float(row[c.name])
            for row in self.rows
            for c in self.columns
            if isinstance(row.get(c.name), (int, float))
            and not isinstance(row.get(c.name), bool)
            and math.isfinite(row[c.name])
        }


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value == 0:
        value = 0.0  # -0.0 (a nudge to the left of a flat piece) prints as 0
    return fmt.format(value) if isinstance(value, (int, float)) else str(value)


class Lesson(NamedTuple):
    """What a lesson found: lines to say first, its tables, a plot (drawn into a folder)."""

    lines: list[str]
    tables: list[Table]
    draw: Callable[[Path], list[Path]] | None = None


# -- derivatives by nudging -----------------------------------------------------------------


def derivatives(lesson: LessonConfig) -> Lesson:
    """f(a) = 3a, a², a³, ln a nudged from a to a + h: height / width against the exact f'(a)."""
    h = lesson.nudge
    table = Table(
        f"f nudged by h = {h:g}: slope = height / width = (f(a+h) - f(a)) / h",
        (
            Column("f", "f(a)", "{}"),
            Column("a", "a", "{:g}"),
            Column("f_a", "f(a)"),
            Column("f_nudged", "f(a+h)"),
            Column("height", "height"),
            Column("slope", "slope"),
            Column("exact_formula", "f'(a)", "{}"),
            Column("exact", "exact"),
            Column("jax_grad", "jax.grad"),
            Column("centred", "centred"),
        ),
    )
    for fn in NOTES_FUNCTIONS:
        for a in lesson.points:
            step = nudge(lambda x: float(fn.f(x)), float(a), h)
            table.rows.append(
                {
                    "key": f"{fn.slug}_at_{a:g}",
                    "f": fn.name,
                    "a": a,
                    "f_a": step.f_a,
                    "f_nudged": step.f_nudged,
                    "height": step.height,
                    "slope": step.slope,
                    "exact_formula": fn.f_prime_name,
                    "exact": float(fn.f_prime(a)),
                    "jax_grad": float(jax.grad(fn.f)(jnp.float64(a))),
                    "centred": float(centred_slope(fn.f, a, h)),
                }
            )
    lines = [
        "The notes' derivatives page: nudge a to the right by a tiny h and f(a) goes up by about f'(a)·h.",
        (
            f"The one-sided slope is off by about f''(a)·h/2 (a² at 2: {4 + h:g}, not 4); "
            "the centred (f(a+h) - f(a-h)) / 2h by about f'''(a)·h²/6."
        ),
    ]
    return Lesson(lines, [table], lambda folder: [_plots().nudges_on_f(folder / "nudge_tangents.png", table.rows, h)])


# -- the computation graph ------------------------------------------------------------------


def computation_graph(lesson: LessonConfig) -> Lesson:
    """J(a, b, c) = 3(a + bc): forward left to right, then each dJ/dx by chain rule, nudge, jax.grad."""
    a, b, c = (float(x) for x in lesson.inputs)
    h = lesson.nudge
    values, hand = graph.forward(a, b, c), graph.backward(a, b, c)
    d_a, d_b, d_c = (float(g) for g in jax.grad(graph.J, argnums=(0, 1, 2))(jnp.float64(a), b, c))
    # Each row nudges one node or input and keeps the rest: J as a function of that one number.
    nudged: list[tuple[str, float, Callable[[float], float], str, float, float]] = [
        ("v", values.v, graph.J_from_v, "dJ/dv = 3", hand.d_v, float(jax.grad(graph.J_from_v)(values.v))),
        (
            "u",
            values.u,
            lambda u: graph.J_from_u(a, u),
            "dJ/dv * dv/du = 3 * 1",
            hand.d_u,
            float(jax.grad(graph.J_from_u, argnums=1)(a, values.u)),
        ),
        ("a", a, lambda x: graph.J(x, b, c), "dJ/dv * dv/da = 3 * 1", hand.d_a, d_a),
        ("b", b, lambda x: graph.J(a, x, c), f"dJ/du * du/db = 3 * c = 3 * {c:g}", hand.d_b, d_b),
        ("c", c, lambda x: graph.J(a, b, x), f"dJ/du * du/dc = 3 * b = 3 * {b:g}", hand.d_c, d_c),
    ]
    table = Table(
        f"each node nudged by h = {h:g}, right to left; chain rule and jax.grad beside the nudge",
        (
            Column("node", "node", "{}"),
            Column("value", "value", "{:g}"),
            Column("nudged_to", "nudged to", "{:g}"),
            Column("J_nudged", "J then", "{:.6f}"),
            Column("nudge_slope", "(J then - J)/h"),
            Column("chain_rule", "chain rule", "{}"),
            Column("hand", "by hand", "{:g}"),
            Column("jax_grad", "jax.grad", "{:g}"),
        ),
    )
    for node, value, J_of_node, rule, by_hand, by_grad in nudged:
        step = nudge(J_of_node, value, h)
        table.rows.append(
            {
                "key": f"d_{node}",
                "node": node,
                "value": value,
                "nudged_to": value + h,
                "J_nudged": step.f_nudged,
                "nudge_slope": step.slope,
                "chain_rule": rule,
                "hand": by_hand,
                "jax_grad": by_grad,
            }
        )
    lines = [
        f"J(a, b, c) = 3(a + bc) at a = {a:g}, b = {b:g}, c = {c:g}; forward, left to right:",
        f"  u = b*c = {values.u:g}    v = a + u = {values.v:g}    J = 3v = {values.J:g}",
    ]
    forward_row = Table(
        "forward",
        (Column("u", "u", "{:g}"), Column("v", "v", "{:g}"), Column("J", "J", "{:g}")),
        [{"key": "forward", "u": values.u, "v": values.v, "J": values.J}],
        name="forward",
    )
    return Lesson(lines, [forward_row, table])


# -- vectorisation --------------------------------------------------------------------------


def vectorisation(lesson: LessonConfig) -> Lesson:
    """ŷ of the notes' 2-layer network, node by node in Python loops vs vectorised over all m examples."""
    sizes = (lesson.n_x, lesson.hidden, 1)
    params = init_params(jax.random.key(lesson.seed), sizes, scheme="xavier", dtype=jnp.float64)
    params_as_lists = {name: value.tolist() for name, value in params.items()}
    # Both layers sigmoid, as the notes write a^[1] = σ(z^[1]) and a^[2] = σ(z^[2]).
    vectorised = jax.jit(lambda p, X: forward(p, X, "sigmoid", "sigmoid").A[-1])
    table = Table(
        f"ŷ for m examples, network {'-'.join(map(str, sizes))}, float64; best of {lesson.repeats} calls",
        (
            Column("m", "m", "{:d}"),
            Column("loop_s", "node by node (s)", "{:.6f}"),
            Column("vectorised_s", "vectorised (s)", "{:.6f}"),
            Column("speedup", "speed-up", "{:.0f}x"),
            Column("max_abs_difference", "max |difference|", "{:.1e}"),
        ),
    )
    for m in lesson.examples:
        # NumPy draws the data: a jax.random draw would compile once per m, for nothing the lesson shows.
        X = jnp.asarray(np.random.default_rng(lesson.seed).standard_normal((lesson.n_x, m)))
        X_as_lists = X.tolist()  # each way gets its data in its own form, outside the timing
        loop_s, y_loop = best_time(
            node_by_node.output_node_by_node, params_as_lists, X_as_lists, repeats=lesson.repeats
        )
        vectorised_s, y_vectorised = best_time(vectorised, params, X, repeats=lesson.repeats)
        difference = float(jnp.max(jnp.abs(jnp.asarray(y_loop) - y_vectorised[0])))
        table.rows.append(
            {
                "key": f"m_{m}",
                "m": m,
                "loop_s": loop_s,
                "vectorised_s": vectorised_s,
                "speedup": loop_s / vectorised_s,
                "max_abs_difference": difference,
            }
        )
    lines = [
        "Node by node: z_i[1] = w_i[1]^T x + b_i[1], one hidden unit and one example at a time (Python loops).",
        "Vectorised:   Z[1] = W[1] X + b[1], A[1] = σ(Z[1]), Z[2] = W[2] A[1] + b[2]: all m examples at once.",
    ]
    sizes_m = [row["m"] for row in table.rows]
    panel = (
        "the 2-layer network's output",
        "examples m",
        sizes_m,
        {
            "node by node": [row["loop_s"] for row in table.rows],
            "vectorised": [row["vectorised_s"] for row in table.rows],
        },
    )
    return Lesson(
        lines, [table], lambda folder: [_plots().times_against_sizes(folder / "vectorisation_time.png", [panel])]
    )


def best_time(fn: Callable, *args, repeats: int) -> tuple[float, Any]:
    """(the fastest of `repeats` calls in seconds, the result). A first call compiles and warms up,
    untimed; a call that takes over 0.2 s ends the repeats early: the noise is small beside it."""
    result = jax.block_until_ready(fn(*args))
    best = math.inf
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        result = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - started)
        if best > 0.2:
            break
    return best, result


# -- activation slopes ----------------------------------------------------------------------

# The activations of the notes' derivatives section, by name in models.activations.
SLOPE_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


def activation_slopes(lesson: LessonConfig) -> Lesson:
    """g'(z) three ways at each z: the hand derivative, jax.grad, and nudges to the right, left, both."""
    h = lesson.nudge
    table = Table(
        f"g'(z): by hand, by jax.grad, by nudging z by h = {h:g} (leaky ReLU's α = {lesson.leaky_slope:g})",
        (
            Column("g", "g", "{}"),
            Column("z", "z", "{:g}"),
            Column("g_z", "g(z)"),
            Column("hand", "g'(z) by hand"),
            Column("jax_grad", "jax.grad"),
            Column("nudge_right", "nudge right"),
            Column("nudge_left", "nudge left"),
            Column("centred", "centred"),
        ),
    )
    for name in SLOPE_ACTIVATIONS:
        act = activations.ACTIVATIONS[name]

        def g(z, act=act):
            return act.g(jnp.asarray(z, jnp.float64), lesson.leaky_slope)

        for z in lesson.z:
            z64 = jnp.float64(z)
            table.rows.append(
                {
                    "key": f"{name}_at_{z:g}",
                    "g": name,
                    "z": z,
                    "g_z": float(g(z64)),
                    "hand": float(act.g_prime(z64, lesson.leaky_slope)),
                    "jax_grad": float(jax.grad(g)(z64)),
                    "nudge_right": float(one_sided_slope(g, z64, h)),
                    "nudge_left": float(one_sided_slope(g, z64, -h)),
                    "centred": float(centred_slope(g, z64, h)),
                }
            )
    lines = [
        "The notes: sigmoid' = g(1 - g) is 0, 1/4, 0 at z = -10, 0, 10; tanh' = 1 - g² is 0, 1, 0.",
        "ReLU and leaky ReLU have a kink at 0: the nudge to the right sees 1, to the left 0 (or α).",
        "There the derivative does not exist; the hand derivative and jax.grad both take the left side's.",
    ]
    return Lesson(
        lines,
        [table],
        lambda folder: [
            _plots().activations_and_slopes(
                folder / "activation_slopes.png", SLOPE_ACTIVATIONS, lesson.leaky_slope, lesson.z
            )
        ],
    )


# -- CPU vs GPU -----------------------------------------------------------------------------


def devices_found() -> tuple[list[jax.Device], list[str]]:
    """The CPU and the first device of each accelerator JAX finds; lines saying what was found."""
    found = [jax.devices("cpu")[0]]
    for backend in ("gpu", "tpu"):
        try:
            found.append(jax.devices(backend)[0])
        except RuntimeError:  # JAX has no such backend here
            pass
    lines = [f'cpu: {os.cpu_count()} cores ("few complex cores")']
    lines += [f'{d.platform}: {d.device_kind} ("hundreds of simpler cores")' for d in found[1:]]
    if len(found) == 1:
        lines.append(
            "no GPU found: JAX sees only the CPU here (for a GPU: an NVIDIA driver and "
            "`pip install -e .[gpu]`), so the table has the CPU's column only"
        )
    return found, lines


def matmul_program() -> Callable:
    """(n, n) @ (n, n) in float32: 2n³ floating-point operations."""
    return jax.jit(lambda A, B: A @ B)


def batched_training_program(steps: int, lr: float = 1.2) -> Callable:
    """jobs independent trainings of the shallow network (2-4-1, tanh, sigmoid) in one program.

    The returned function takes keys (jobs,) and X (2, m), Y (1, m), and returns each job's
    final loss (jobs,): `steps` steps of plain gradient descent per job, the jobs vmapped.
    """

    def train_one(key, X, Y):
        params = init_params(key, (X.shape[0], 4, 1), scheme="xavier", dtype=X.dtype)

        def step(params, _):
            grads = jax.grad(loss)(params, X, Y, "tanh", "sigmoid")
            return jax.tree.map(lambda p, g: p - lr * g, params, grads), None

        params, _ = jax.lax.scan(step, params, None, length=steps)
        return loss(params, X, Y, "tanh", "sigmoid")

    return jax.jit(jax.vmap(train_one, in_axes=(0, None, None)))


def time_on_devices(devices, sizes, make_args, program, cost, max_seconds, repeats) -> dict[str, list[float | None]]:
    """{platform: [best seconds per size, None where skipped]}. On each device the sizes grow
    while the next one's time, predicted from the last one's by `cost`, stays under max_seconds."""
    timings: dict[str, list[float | None]] = {}
    for device in devices:
        times: list[float | None] = []
        last: tuple[int, float] | None = None
        for size in sizes:
            if last is not None and last[1] * cost(size) / cost(last[0]) > max_seconds:
                times.append(None)
                continue
            args = jax.device_put(make_args(size), device)
            seconds, _ = best_time(program, *args, repeats=repeats)
            times.append(seconds)
            last = (size, seconds)
        timings[device.platform] = times
    return timings


def cpu_vs_gpu(lesson: LessonConfig) -> Lesson:
    """One matrix multiplication and one batched training program, timed on every device found."""
    devices, lines = devices_found()
    rng = np.random.default_rng(lesson.seed)  # NumPy draws: a jax.random draw would compile per size

    def matrices(n):
        return tuple(rng.standard_normal((n, n), np.float32) for _ in range(2))

    X = jnp.asarray(rng.standard_normal((2, 400), np.float32))  # flower-sized data: 400 examples, 2 features
    Y = (X[0:1] * X[1:2] > 0).astype(jnp.float32)  # a label no line can separate: it needs the hidden layer

    def training_jobs(jobs):
        return jax.random.split(jax.random.key(lesson.seed + 1), jobs), X, Y

    matmul = time_on_devices(
        devices, lesson.matmul_sizes, matrices, matmul_program(), lambda n: n**3, lesson.max_seconds, lesson.repeats
    )
    training = time_on_devices(
        devices,
        lesson.jobs,
        training_jobs,
        batched_training_program(lesson.steps),
        lambda jobs: jobs,
        lesson.max_seconds,
        lesson.repeats,
    )
    platforms = [d.platform for d in devices]
    columns = [Column("workload", "workload", "{}"), Column("size", "size", "{}")]
    columns += [Column(f"{p}_ms", f"{p} (ms)", "{:.3f}") for p in platforms]
    columns += [Column(f"{p}_speedup", f"{p} speed-up", "{:.1f}x") for p in platforms[1:]]
    table = Table(
        f"best of {lesson.repeats} calls; '-': skipped, it would take over {lesson.max_seconds:g} s "
        "(lesson.max_seconds)",
        tuple(columns),
    )
    workloads = [
        ("matmul", "n={}: (n,n)@(n,n) float32", lesson.matmul_sizes, matmul),
        ("training", "{} jobs x " + f"{lesson.steps} steps", lesson.jobs, training),
    ]
    for workload, size_label, sizes, timings in workloads:
        for i, size in enumerate(sizes):
            row: dict[str, Any] = {"key": f"{workload}_{size}", "workload": workload, "size": size_label.format(size)}
            for p in platforms:
                seconds = timings[p][i]
                row[f"{p}_ms"] = None if seconds is None else 1000 * seconds
            for p in platforms[1:]:
                cpu_s, other_s = timings["cpu"][i], timings[p][i]
                row[f"{p}_speedup"] = cpu_s / other_s if cpu_s and other_s else None
            table.rows.append(row)
    panels = [
        ("(n, n) @ (n, n), float32", "n", lesson.matmul_sizes, matmul),
        (f"shallow network, {lesson.steps} steps per job, jobs vmapped", "jobs", lesson.jobs, training),
    ]
    return Lesson(
        lines, [table], lambda folder: [_plots().times_against_sizes(folder / "time_against_size.png", panels)]
    )


# -- running one lesson ---------------------------------------------------------------------

LESSONS: dict[str, Callable[[LessonConfig], Lesson]] = {
    "derivatives": derivatives,
    "computation_graph": computation_graph,
    "vectorisation": vectorisation,
    "activation_slopes": activation_slopes,
    "cpu_vs_gpu": cpu_vs_gpu,
}
FLOAT64_LESSONS = ("derivatives", "computation_graph", "vectorisation", "activation_slopes")
# The keys each lesson reads: its run's params (the others would only say what it ignored).
LESSON_KEYS: dict[str, tuple[str, ...]] = {
    "derivatives": ("nudge", "points"),
    "computation_graph": ("nudge", "inputs"),
    "vectorisation": ("n_x", "hidden", "examples", "repeats", "seed"),
    "activation_slopes": ("nudge", "z", "leaky_slope"),
    "cpu_vs_gpu": ("matmul_sizes", "jobs", "steps", "max_seconds", "repeats", "seed"),
}


LARGEST_INPUT = 1e6  # lesson.points, z and inputs lie within ±this


def lesson_config(node: Any) -> LessonConfig:
    """The `lesson` node checked against LessonConfig: an unknown key, a wrong type or an unknown
    lesson is refused in one line (ConfigError)."""
    if isinstance(node, (dict, DictConfig)) and node.get("name") in (None, "???"):  # +lesson.nudge=0.1 alone
        raise ConfigError(
            f"lesson keys need a lesson to read them: add +lesson=NAME, one of: {', '.join(LESSONS)} "
            "(e.g. python -m pipeline +lesson=derivatives lesson.nudge=0.1)"
        )
    try:
        merged = OmegaConf.merge(OmegaConf.structured(LessonConfig), node)
        # omegaconf's stubs return any container; a structured config's to_object is its dataclass.
        lesson: LessonConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as error:
        message = str(error).splitlines()[0]
        raise ConfigError(f"lesson: {message}; the lesson keys are: {', '.join(LessonConfig.__dataclass_fields__)}")
    if lesson.name not in LESSONS:
        raise ConfigError(f"lesson.name={lesson.name!r} is not allowed; choose one of: {', '.join(LESSONS)}")
    _check_values(lesson)
    return lesson


def _check_values(lesson: LessonConfig) -> None:
    """Every lesson key in range, whichever lesson reads it (a key set for another lesson is
    checked all the same), so that no lesson starts on a value it cannot use."""
    if not 0 < lesson.nudge <= 1:  # the notes' h is 0.001: tiny beside a
        raise ConfigError(f"lesson.nudge={lesson.nudge!r} is not allowed; it must lie in (0, 1]")
    if not (math.isfinite(lesson.max_seconds) and lesson.max_seconds > 0):
        raise ConfigError(f"lesson.max_seconds={lesson.max_seconds!r} is not allowed; it must be a finite number > 0")
    if not 0 <= lesson.leaky_slope < 1:  # as model.leaky_slope: max(αz, z) with α in [0, 1)
        raise ConfigError(f"lesson.leaky_slope={lesson.leaky_slope!r} is not allowed; it must lie in [0, 1)")
    for key in ("n_x", "hidden", "steps", "repeats"):
        if not 1 <= getattr(lesson, key) <= INT32_MAX:
            raise ConfigError(
                f"lesson.{key}={getattr(lesson, key)!r} is not allowed; it must be an integer in [1, {INT32_MAX}]"
            )
    if not 0 <= lesson.seed < 2**32:
        raise ConfigError(f"lesson.seed={lesson.seed!r} is out of range; it must lie in [0, 2**32 - 1]")
    for key in ("examples", "matmul_sizes", "jobs"):
        values = list(getattr(lesson, key))
        if not values or not all(1 <= value <= INT32_MAX for value in values):
            raise ConfigError(
                f"lesson.{key}={values!r} is not allowed; it must be a non-empty list of integers in [1, {INT32_MAX}]"
            )
    # The notes' numbers are small; up to a million, a³ and every nudge stay far inside float64.
    # derivatives: the notes' functions include ln a and 1/a, defined for a > 0 only, and the
    # centred slope takes f at a - h too.
    if not lesson.points or not all(lesson.nudge < a <= LARGEST_INPUT for a in lesson.points):
        raise ConfigError(
            f"lesson.points={list(lesson.points)!r} is not allowed; it must be a non-empty list of numbers "
            f"in (lesson.nudge, {LARGEST_INPUT:g}] = ({lesson.nudge:g}, {LARGEST_INPUT:g}] (the notes' f(a) "
            "include ln a and 1/a, and the centred slope takes f(a - h))"
        )
    if not lesson.z or not all(abs(z) <= LARGEST_INPUT for z in lesson.z):
        raise ConfigError(
            f"lesson.z={list(lesson.z)!r} is not allowed; it must be a non-empty list of numbers in "
            f"[-{LARGEST_INPUT:g}, {LARGEST_INPUT:g}]"
        )
    if len(lesson.inputs) != 3 or not all(abs(x) <= LARGEST_INPUT for x in lesson.inputs):
        raise ConfigError(
            f"lesson.inputs={list(lesson.inputs)!r} is not allowed; it must be three numbers in "
            f"[-{LARGEST_INPUT:g}, {LARGEST_INPUT:g}]: the notes' a, b, c (J = 3(a + bc))"
        )


def compute(lesson: LessonConfig) -> Lesson:
    """Run the lesson's math (float64 for all but the device timings, whose float32 is the GPU's)."""
    with jax.enable_x64(lesson.name in FLOAT64_LESSONS):
        return LESSONS[lesson.name](lesson)


def run_lesson(cfg: DictConfig, output_dir: Path | None = None) -> str | None:
    """Run `cfg.lesson`, print its tables, record one MLflow run; returns the run's id (None when
    tracking.enabled is false). The CSV and PNG files also stay in `output_dir` (Hydra's run
    folder by default)."""
    lesson = lesson_config(cfg.lesson)
    device = select_device(cfg.device)
    found = compute(lesson)
    print(f"lesson: {lesson.name}")
    for line in found.lines:
        print(line)
    for table in found.tables:
        print()
        print(table.text())
    folder = Path(output_dir or _hydra_output_dir() or tempfile.mkdtemp(prefix=f"lesson-{lesson.name}-"))
    files = write_files(found, lesson.name, folder, plots=cfg.tracking.plots)
    if not cfg.tracking.enabled:
        return None
    # The store's id: in a sweep of lessons the run may be written behind, known by a provisional id until created.
    run_id = real_run_id(record(cfg, lesson, found, files, device))
    print(f"\nrun {run_id} in MLflow experiment '{cfg.tracking.experiment}' ({folder})")
    # The same line as a training run's: a command runnable as printed, and the link to the experiment's runs.
    path = tracker_for(cfg.tracking.uri).experiment_url_path(cfg.tracking.experiment)
    print(f"see it: {ui_hint(cfg.tracking.uri, path)}")
    return run_id


def write_files(found: Lesson, name: str, folder: Path, plots: bool = True) -> list[Path]:
    """The tables as CSV (NAME.csv, and NAME_TABLE.csv for a second table), as printed (NAME.txt), the plots as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [table.write_csv(folder / f"{'_'.join(filter(None, (name, table.name)))}.csv") for table in found.tables]
    (folder / f"{name}.txt").write_text("\n\n".join([*found.lines, *(t.text() for t in found.tables)]) + "\n")
    files.append(folder / f"{name}.txt")
    if plots and found.draw is not None:
        files += found.draw(folder)
    return files


def record(cfg: DictConfig, lesson: LessonConfig, found: Lesson, files: Sequence[Path], device) -> str:
    """One FINISHED run: the lesson's keys as params, every number of its tables as metrics, files as artifacts."""
    tracker = tracker_for(cfg.tracking.uri)
    experiment = cfg.tracking.experiment
    # The tracker tags the experiment mlflow.experimentKind=custom_model_development as it creates it.
    run_id = tracker.start_run(experiment, lesson.name, lesson_tags(cfg, lesson, device))
    try:
        metrics: dict[str, float] = {}
        for table in found.tables:
            metrics.update(table.metrics())
        params = {f"lesson.{key}": getattr(lesson, key) for key in ("name", *LESSON_KEYS[lesson.name])}
        tracker.log_batch(run_id, metrics=[(k, v, 0) for k, v in metrics.items()], params=params)
        with tempfile.TemporaryDirectory() as staging:
            for path in files:  # only this lesson's files, not the rest of Hydra's folder
                (Path(staging) / path.name).write_bytes(path.read_bytes())
            tracker.log_artifacts(run_id, Path(staging))
    except BaseException as error:  # the run must not stay RUNNING
        interrupt = interrupts.behind(error)  # Ctrl-C, also where a library turned it into its own error
        reason = error if interrupt is None else interrupt
        tracker.set_tags(run_id, {"failure_reason": f"{type(reason).__name__}: {reason}"})
        tracker.end_run(run_id, "FAILED" if interrupt is None else "KILLED")
        raise
    tracker.end_run(run_id, "FINISHED")
    return run_id


def lesson_tags(cfg: DictConfig, lesson: LessonConfig, device) -> dict[str, str]:
    return {
        "lesson": lesson.name,
        **provenance.git_state(),
        **{f"version.{k}": v for k, v in provenance.package_versions().items()},
        "jax.backend": device.platform,
        "jax.device": str(device),
        "jax.matmul_precision": matmul_precision(),
        "jax.xla_flags": xla_flags(),
        "command": provenance.command_line(),
    }


def _hydra_output_dir() -> str | None:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None


def _plots():
    # Matplotlib is imported on first use: the lessons' math and tests do not need it.
    from pipeline import lesson_plots

    return lesson_plots
