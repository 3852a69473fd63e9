"""pipeline/lessons.py: each lesson's numbers are the notes' numbers; each command records one run.

The unit tests call the lessons in process; the `slow` ones run `python -m pipeline +lesson=...`
end to end and read the MLflow store back.
"""

from __future__ import annotations

import csv
import io
import math
import re
import sys
from pathlib import Path

import jax
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from _cli import assert_refused, client, run_cli, runs
from hydra import compose, initialize_config_dir
from hydra.types import RunMode
from omegaconf import OmegaConf

from pipeline import lessons
from pipeline.config import Config, ConfigError, register_configs
from pipeline.lessons import (
    LESSON_KEYS,
    LESSONS,
    Column,
    LessonConfig,
    Table,
    compute,
    lesson_config,
    run_lesson,
    time_on_devices,
    write_files,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
H = 0.001
# Fast settings for the timed lessons: the numbers under test do not depend on the sizes.
QUICK = {
    "vectorisation": {"examples": [3, 40], "repeats": 1},
    "cpu_vs_gpu": {"matmul_sizes": [8, 16], "jobs": [1, 4], "steps": 3, "repeats": 1},
}
QUICK_OVERRIDES = {
    "vectorisation": ("lesson.examples=[3,40]", "lesson.repeats=1"),
    "cpu_vs_gpu": ("lesson.matmul_sizes=[8,16]", "lesson.jobs=[1,4]", "lesson.steps=3", "lesson.repeats=1"),
}


def rows_of(name: str, **keys) -> dict[str, dict]:
    """The lesson's main table (its last) as {row key: row}."""
    found = compute(LessonConfig(name=name, **{**QUICK.get(name, {}), **keys}))
    return {row["key"]: row for row in found.tables[-1].rows}


# -- derivatives by nudging -----------------------------------------------------------------


@pytest.fixture(scope="module")
def derivatives():
    return rows_of("derivatives")


@pytest.mark.parametrize(
    "key, f_a, f_nudged",
    [
        ("three_a_at_2", 6.0, 6.003),
        ("three_a_at_5", 15.0, 15.003),
        ("a_squared_at_2", 4.0, 4.004001),
        ("a_cubed_at_2", 8.0, 8.012006001),
        ("ln_a_at_2", 0.6931471805599453, 0.6936470556015591),
    ],
)
def test_derivatives_nudged_values_are_the_notes(derivatives, key, f_a, f_nudged):
    row = derivatives[key]
    assert row["f_a"] == pytest.approx(f_a, abs=1e-12)
    assert row["f_nudged"] == pytest.approx(f_nudged, abs=1e-12)


def test_derivatives_printed_as_the_notes_write_them():
    text = compute(LessonConfig(name="derivatives")).tables[0].text()
    for printed in ("6.003000", "15.003000", "4.004001", "8.012006", "0.693647", "0.693147"):
        assert printed in text, printed
    assert round(0.6936470556015591, 5) == 0.69365  # the notes' 0.69365 is ln 2.001 to 5 places


@pytest.mark.parametrize(
    "key, exact",
    [
        ("three_a_at_2", 3.0),
        ("three_a_at_5", 3.0),
        ("a_squared_at_2", 4.0),
        ("a_squared_at_5", 10.0),
        ("a_cubed_at_2", 12.0),
        ("a_cubed_at_5", 75.0),
        ("ln_a_at_2", 0.5),
        ("ln_a_at_5", 0.2),
    ],
)
def test_derivatives_hand_equals_jax_grad_equals_nudge_within_its_error(derivatives, key, exact):
    row = derivatives[key]
    a = row["a"]
    assert row["exact"] == pytest.approx(exact, rel=1e-15)
    assert row["jax_grad"] == pytest.approx(exact, rel=1e-14)
    assert row["slope"] == pytest.approx(row["height"] / H, rel=1e-12)
    # one-sided: off by f''·h/2, centred by f'''·h²/6; |f''| and |f'''| at their largest on [a - h, a + h]
    f2 = {"3a": 0.0, "a^2": 2.0, "a^3": 6 * (a + H), "ln a": 1 / (a - H) ** 2}[row["f"]]
    f3 = {"3a": 0.0, "a^2": 0.0, "a^3": 6.0, "ln a": 2 / (a - H) ** 3}[row["f"]]
    assert abs(row["slope"] - exact) <= f2 * H / 2 + 1e-9
    assert abs(row["centred"] - exact) <= f3 * H**2 / 6 + 1e-9


def test_derivatives_one_sided_errors_are_the_notes_first_order_ones(derivatives):
    # a² at 2: slope 4.001 = 4 + h exactly as Taylor says; a³ at 2: 12.006001 = 12 + 6h + h².
    assert derivatives["a_squared_at_2"]["slope"] == pytest.approx(4.001, abs=1e-9)
    assert derivatives["a_cubed_at_2"]["slope"] == pytest.approx(12.006001, abs=1e-9)
    assert derivatives["ln_a_at_2"]["height"] == pytest.approx(0.0005, abs=1e-6)  # the notes: "0.0005"


# -- the computation graph ------------------------------------------------------------------


def test_computation_graph_forward_is_u_6_v_11_J_33():
    found = compute(LessonConfig(name="computation_graph"))
    forward_row = found.tables[0].rows[0]
    assert (forward_row["u"], forward_row["v"], forward_row["J"]) == (6.0, 11.0, 33.0)


@pytest.mark.parametrize(
    "node, value, J_nudged, derivative",
    [
        ("v", 11.0, 33.003, 3.0),
        ("u", 6.0, 33.003, 3.0),
        ("a", 5.0, 33.003, 3.0),
        ("b", 3.0, 33.006, 6.0),
        ("c", 2.0, 33.009, 9.0),
    ],
)
def test_computation_graph_each_nudge_and_derivative_is_the_notes(node, value, J_nudged, derivative):
    row = rows_of("computation_graph")[f"d_{node}"]
    assert row["value"] == value
    assert row["J_nudged"] == pytest.approx(J_nudged, abs=1e-12)
    assert row["hand"] == row["jax_grad"] == derivative
    # J is linear in each node, so the nudge is exact up to round-off
    assert row["nudge_slope"] == pytest.approx(derivative, abs=1e-9)


def test_computation_graph_is_listed_right_to_left():
    found = compute(LessonConfig(name="computation_graph"))
    assert [row["node"] for row in found.tables[-1].rows] == ["v", "u", "a", "b", "c"]


# -- vectorisation --------------------------------------------------------------------------


def test_vectorisation_gives_the_same_output_both_ways():
    table = rows_of("vectorisation")
    assert set(table) == {"m_3", "m_40"}
    for row in table.values():
        assert row["max_abs_difference"] < 1e-14
        assert row["loop_s"] > 0 and row["vectorised_s"] > 0
        assert row["speedup"] == pytest.approx(row["loop_s"] / row["vectorised_s"])  # reported, never asserted


# -- activation slopes ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def slopes():
    return rows_of("activation_slopes")


@pytest.mark.parametrize(
    "key, expected, tolerance",
    [
        ("sigmoid_at_-10", 0.0, 1e-4),
        ("sigmoid_at_0", 0.25, 0.0),
        ("sigmoid_at_10", 0.0, 1e-4),
        ("tanh_at_-10", 0.0, 1e-8),
        ("tanh_at_0", 1.0, 0.0),
        ("tanh_at_10", 0.0, 1e-8),
        ("relu_at_-10", 0.0, 0.0),
        ("relu_at_10", 1.0, 0.0),
        ("leaky_relu_at_-10", 0.1, 0.0),
        ("leaky_relu_at_10", 1.0, 0.0),
    ],
)
def test_activation_slopes_are_the_notes(slopes, key, expected, tolerance):
    assert abs(slopes[key]["hand"] - expected) <= tolerance


def test_activation_slopes_hand_equals_jax_grad_everywhere(slopes):
    for key, row in slopes.items():
        assert row["hand"] == pytest.approx(row["jax_grad"], abs=1e-15), key


def test_activation_slopes_nudges_agree_within_their_error_where_g_is_smooth(slopes):
    # |g''| <= 1 and |g'''| <= 2 for sigmoid and tanh: one-sided off by <= h/2, centred by <= h²/3.
    for key, row in slopes.items():
        if row["g"] in ("relu", "leaky_relu") and row["z"] == 0:
            continue  # the kink: below
        assert abs(row["nudge_right"] - row["hand"]) <= H / 2 + 1e-12, key
        assert abs(row["nudge_left"] - row["hand"]) <= H / 2 + 1e-12, key
        assert abs(row["centred"] - row["hand"]) <= H**2 / 3 + 1e-12, key


def test_activation_slopes_at_the_kink_each_side_and_the_convention(slopes):
    relu, leaky = slopes["relu_at_0"], slopes["leaky_relu_at_0"]
    assert (relu["nudge_right"], relu["nudge_left"], relu["centred"]) == (1.0, 0.0, 0.5)
    assert relu["hand"] == relu["jax_grad"] == 0.0  # the left side's, as models/activations.py says
    assert leaky["nudge_right"] == 1.0
    assert leaky["nudge_left"] == pytest.approx(0.1, abs=1e-12)
    assert leaky["hand"] == leaky["jax_grad"] == pytest.approx(0.1, abs=1e-15)


# -- CPU vs GPU -----------------------------------------------------------------------------


def test_cpu_vs_gpu_times_each_size_on_the_cpu_and_says_what_it_found():
    found = compute(LessonConfig(name="cpu_vs_gpu", **QUICK["cpu_vs_gpu"]))
    rows = {row["key"]: row for row in found.tables[0].rows}
    assert set(rows) == {"matmul_8", "matmul_16", "training_1", "training_4"}
    assert all(row["cpu_ms"] > 0 for row in rows.values())
    if not any(d.platform != "cpu" for d in jax.devices()):
        assert any(line.startswith("no GPU found") for line in found.lines)
        assert [c.name for c in found.tables[0].columns] == ["workload", "size", "cpu_ms"]


def test_cpu_vs_gpu_skips_a_size_predicted_to_take_too_long():
    calls = []

    def program(x):
        calls.append(x)
        return x

    timings = time_on_devices(
        jax.devices("cpu")[:1],
        [1, 2, 1000],
        lambda n: (jax.numpy.ones(n),),
        program,
        cost=lambda n: n**3,
        max_seconds=1e-3,
        repeats=1,
    )
    assert timings["cpu"][2] is None and timings["cpu"][0] is not None
    assert all(c.shape[0] != 1000 for c in calls)


def test_batched_training_program_lowers_each_jobs_loss():
    X = jax.random.normal(jax.random.key(0), (2, 40))
    Y = (X[0:1] > 0).astype(X.dtype)
    keys = jax.random.split(jax.random.key(1), 3)
    before = lessons.batched_training_program(0)(keys, X, Y)
    after = lessons.batched_training_program(50)(keys, X, Y)
    assert before.shape == after.shape == (3,)
    assert bool((after < before).all())


# -- the table, the config, the files and the run -------------------------------------------


def test_table_prints_csv_and_metrics():
    table = Table(
        "t",
        (Column("g", "g", "{}"), Column("x", "x value", "{:.2f}")),
        [{"key": "one", "g": "relu", "x": -0.0}, {"key": "two", "g": "tanh", "x": None}],
    )
    assert table.text().splitlines() == ["t", "g     x value", "relu     0.00", "tanh        -"]
    assert table.metrics() == {"one.x": -0.0}
    path = table.write_csv(Path(__import__("tempfile").mkdtemp()) / "t.csv")
    assert list(csv.reader(io.StringIO(path.read_text()))) == [
        ["key", "g", "x"],
        ["one", "relu", "-0.0"],
        ["two", "tanh", ""],
    ]


@pytest.mark.parametrize(
    "node, named",
    [
        ({"name": "derivatives", "nudg": 0.1}, "nudg"),
        ({"name": "derivative"}, "lesson.name='derivative'"),
        ({"name": "derivatives", "nudge": 0.0}, "lesson.nudge=0.0"),
        ({"name": "derivatives", "nudge": "tiny"}, "nudge"),
        ({"name": "cpu_vs_gpu", "jobs": []}, "lesson.jobs"),
        ({"name": "derivatives", "points": []}, "lesson.points=[]"),
        ({"name": "derivatives", "points": [-1.0, 2.0]}, "lesson.points=[-1.0, 2.0]"),  # ln a at -1
        ({"name": "derivatives", "points": [0.0]}, "lesson.points=[0.0]"),  # 1/a at 0
        ({"name": "derivatives", "points": [0.001]}, "lesson.points=[0.001]"),  # the centred slope: ln(a - h) = ln 0
        ({"name": "derivatives", "points": [0.5], "nudge": 1.0}, "lesson.points=[0.5]"),
        ({"name": "derivatives", "points": [float("inf")]}, "lesson.points=[inf]"),
        ({"name": "computation_graph", "inputs": [1.0, 2.0]}, "lesson.inputs=[1.0, 2.0]"),
        ({"name": "computation_graph", "inputs": [1.0, 2.0, 3.0, 4.0]}, "lesson.inputs"),
        ({"name": "computation_graph", "inputs": [1.0, float("nan"), 3.0]}, "lesson.inputs"),
        ({"name": "activation_slopes", "z": []}, "lesson.z=[]"),
        ({"name": "activation_slopes", "leaky_slope": float("inf")}, "lesson.leaky_slope=inf"),
        ({"name": "vectorisation", "seed": -1}, "lesson.seed=-1"),
        ({"name": "vectorisation", "examples": [2**31]}, "lesson.examples"),
        ({"name": "vectorisation", "hidden": 0}, "lesson.hidden=0"),
        ({"nudge": 0.1}, "+lesson=NAME"),  # keys without a lesson
    ],
)
def test_lesson_config_refuses_bad_input_in_one_line(node, named):
    with pytest.raises(ConfigError) as refused:
        lesson_config(OmegaConf.create(node))
    assert named in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("name", LESSONS)
def test_every_lesson_config_composes_without_multirun(name):
    register_configs()
    with initialize_config_dir(str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"+lesson={name}"], return_hydra_config=True)
    assert cfg.hydra.mode in (None, RunMode.RUN)  # a lesson is one run: it must not switch MULTIRUN on
    assert lesson_config(cfg.lesson).name == name
    assert cfg.tracking.experiment == "lessons"


@pytest.mark.parametrize("name", LESSONS)
def test_every_key_a_lesson_reads_is_set_without_a_plus(name):
    """Hydra refuses `lesson.seed=3` for a key the lesson's file does not list: it must list all it reads."""
    defaults = LessonConfig()
    overrides = [f"lesson.{key}={getattr(defaults, key)}".replace(" ", "") for key in LESSON_KEYS[name]]
    register_configs()
    with initialize_config_dir(str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"+lesson={name}", *overrides])
    assert lesson_config(cfg.lesson).name == name


@pytest.mark.parametrize("name", ["derivatives", "activation_slopes", "vectorisation", "cpu_vs_gpu"])
def test_write_files_gives_the_csv_the_text_and_the_plot(tmp_path, name):
    found = compute(LessonConfig(name=name, **QUICK.get(name, {})))
    files = write_files(found, name, tmp_path)
    assert (tmp_path / f"{name}.csv").is_file() and (tmp_path / f"{name}.txt").is_file()
    pngs = [f for f in files if f.suffix == ".png"]
    assert len(pngs) == 1 and pngs[0].read_bytes()[:4] == b"\x89PNG"


def test_run_lesson_records_one_finished_run(tmp_path, capsys):
    cfg = OmegaConf.merge(
        OmegaConf.structured(Config),
        {
            "lesson": {"name": "computation_graph"},
            "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "lessons"},
        },
    )
    run_id = run_lesson(cfg, output_dir=tmp_path / "out")
    printed = capsys.readouterr().out
    assert "33.009000" in printed and run_id in printed
    mlflow_command = Path(sys.executable).with_name("mlflow")  # runnable as printed, without the venv on PATH
    assert f"see it: {mlflow_command} ui --backend-store-uri sqlite:///{tmp_path}/mlflow.db, then open" in printed
    assert "workflowType=machine_learning" in printed.splitlines()[-1]  # opens the runs table, not GenAI's
    store = client(tmp_path)
    experiment = store.get_experiment_by_name("lessons")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    run = store.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {
        "lesson.name": "computation_graph",
        "lesson.nudge": "0.001",
        "lesson.inputs": "[5.0, 3.0, 2.0]",
    }
    assert run.data.metrics["d_c.hand"] == 9.0 and run.data.metrics["forward.J"] == 33.0
    for tag in ("git_commit", "version.jax", "jax.backend", "command"):
        assert run.data.tags[tag], tag
    assert {a.path for a in store.list_artifacts(run_id)} == {
        "computation_graph.csv",
        "computation_graph_forward.csv",
        "computation_graph.txt",
    }


def test_run_lesson_without_tracking_records_nothing(tmp_path):
    cfg = OmegaConf.merge(
        OmegaConf.structured(Config),
        {
            "lesson": {"name": "derivatives"},
            "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "enabled": False, "plots": False},
        },
    )
    assert run_lesson(cfg, output_dir=tmp_path) is None
    assert not (tmp_path / "mlflow.db").exists()
    assert (tmp_path / "derivatives.csv").is_file() and not list(tmp_path.glob("*.png"))


# -- the command line, end to end -----------------------------------------------------------


def _artifact_rows(cwd: Path, run_id: str, name: str) -> list[dict]:
    folder = client(cwd).download_artifacts(run_id, f"{name}.csv", str(cwd / "downloaded"))
    with open(folder) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, key, column, value",
    [
        ("derivatives", "a_squared_at_2", "f_nudged", 4.004001),
        ("computation_graph", "d_b", "J_nudged", 33.006),
        ("vectorisation", "m_40", "max_abs_difference", 0.0),
        ("activation_slopes", "sigmoid_at_0", "hand", 0.25),
        ("cpu_vs_gpu", "matmul_16", None, None),
    ],
)
def test_lesson_command_records_one_run_with_its_table(tmp_path, name, key, column, value):
    result = run_cli(tmp_path, f"+lesson={name}", *QUICK_OVERRIDES.get(name, ()))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"lesson: {name}" in result.stdout
    table = runs(tmp_path, "lessons")
    assert len(table) == 1
    run = table.iloc[0]
    assert run["status"] == "FINISHED" and run["tags.mlflow.runName"] == name
    assert run["params.lesson.name"] == name
    assert (
        client(tmp_path).get_experiment_by_name("lessons").tags["mlflow.experimentKind"] == "custom_model_development"
    )
    rows = {row["key"]: row for row in _artifact_rows(tmp_path, run["run_id"], name)}
    assert key in rows
    if column is not None:
        assert math.isclose(float(rows[key][column]), value, abs_tol=1e-12)
        assert math.isclose(run[f"metrics.{key}.{column}"], value, abs_tol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("plots", ["true", "false"])  # without plots the runs are written behind
def test_a_sweep_of_lessons_trains_no_network(tmp_path, monkeypatch, plots):
    monkeypatch.setenv("JAX_LOG_COMPILES", "1")  # JAX names each program it compiles
    result = run_cli(tmp_path, "-m", "+lesson=derivatives,computation_graph", f"tracking.plots={plots}")
    assert result.returncode == 0, result.stderr[-3000:]
    table = runs(tmp_path, "lessons")
    assert sorted(table["tags.mlflow.runName"]) == ["computation_graph", "derivatives"]
    printed = re.findall(r"^run (\S+) in MLflow experiment", result.stdout, flags=re.MULTILINE)
    assert sorted(printed) == sorted(table["run_id"])  # the store's ids, never a provisional one
    assert "jit(train)" not in result.stdout + result.stderr  # the batched launcher dispatched no training
    # no parent run, and no empty table of training results: each lesson is its own run
    assert all(runs(tmp_path, e.name).get("tags.sweep") is None for e in client(tmp_path).search_experiments())
    assert "sweep: 2 lessons" in result.stdout and "train_accuracy" not in result.stdout


@pytest.mark.slow
def test_lesson_command_refuses_an_unknown_lesson_key(tmp_path):
    result = run_cli(tmp_path, "+lesson=derivatives", "lesson.nudg=0.1")
    assert_refused(result, tmp_path, "nudg")


# -- any value, valid or not: refused in one line, or a lesson whose numbers are numbers ---------

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -1.0, 1e-12, 0.001, 0.5, 1.0, 2.0, 1e6, 1e7, 1e300, math.nan, math.inf]),
)
DRAWN_KEYS = {
    "nudge": NUMBERS,
    "leaky_slope": NUMBERS,
    "points": st.lists(NUMBERS, max_size=4),
    "inputs": st.lists(NUMBERS, max_size=5),
    "z": st.lists(NUMBERS, max_size=4),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example("derivatives", {"points": [0.5], "nudge": 1.0})  # found by a reviewer: ln(a - h) of a negative
@example("derivatives", {"points": [0.001]})
@given(
    st.sampled_from(["derivatives", "computation_graph", "activation_slopes"]),
    st.dictionaries(st.sampled_from(sorted(DRAWN_KEYS)), st.none(), max_size=5).flatmap(
        lambda keys: st.fixed_dictionaries({key: DRAWN_KEYS[key] for key in keys})
    ),
)
def test_every_drawn_lesson_is_refused_in_one_line_or_gives_finite_numbers(name, values):
    try:
        lesson = lesson_config(OmegaConf.create({"name": name, **values}))
    except ConfigError as refusal:
        assert str(refusal) and "\n" not in str(refusal)
        return
    found = compute(lesson)
    for table in found.tables:
        numbers = [v for row in table.rows for v in row.values() if isinstance(v, float)]
        assert numbers and all(math.isfinite(v) for v in numbers), (values, table.text())


@pytest.mark.parametrize(
    "name, values",
    [
        ("vectorisation", {"examples": [2_000_000_000]}),  # the examples as Python lists, node by node
        ("vectorisation", {"hidden": 2_000_000_000, "examples": [10]}),
        ("cpu_vs_gpu", {"matmul_sizes": [1_000_000]}),  # two n×n float32 matrices: the first size is not gated
        ("cpu_vs_gpu", {"jobs": [2_000_000_000]}),
    ],
)
def test_a_lesson_larger_than_the_machines_memory_is_refused_in_one_line(name, values):
    from pipeline.admission import check_lesson_memory

    lesson = lesson_config(OmegaConf.create({"name": name, **values}))
    with pytest.raises(ConfigError) as refused:
        check_lesson_memory(lesson, available=64 * 2**30)
    message = str(refused.value)
    assert message.startswith(f"lesson {name} needs about") and "64 GiB available" in message and "\n" not in message


@pytest.mark.parametrize("name", LESSONS)
def test_every_lessons_defaults_fit_in_a_machine_of_4_gib(name):
    from pipeline.admission import check_lesson_memory

    check_lesson_memory(lesson_config(OmegaConf.create({"name": name})), available=4 * 2**30)


@pytest.mark.slow
def test_a_sweep_of_lessons_is_checked_whole_before_any_runs(tmp_path):
    """Past a shape's second job a grid's jobs are checked as views of it (pipeline/composing.py): the
    third value is still checked before the first lesson runs."""
    result = run_cli(tmp_path, "-m", "+lesson=derivatives", "lesson.nudge=0.001,0.01,5")
    assert_refused(result, tmp_path, "lesson.nudge=5.0")
