"""The one place that refuses input: before anything trains or any MLflow run exists.

Every check of the user's input lives here, and every refusal leaves here the same way: as
`InputRefused` (pipeline/errors.py), one line naming the value and what is allowed, which
`python -m pipeline` prints as `error: ...` with exit status 2.

What is checked, for each job of a command (a run alone is a command of one job):

- its config (pipeline/config.validate: every value in range, every choice allowed; no key
  the schema lacks, as `+model.hiden=3` would add; a lesson's own keys, pipeline/lessons.py);
- the values it ignores (`model.depth=3` on the shallow model), unless another job of the
  same command reads them (a sweep over model=logistic,shallow sets model.hidden for both);
- the memory it needs, estimated from its sizes, against what the machine has available;
- its data, loaded and split (a generator's arguments, a user's table, a split that leaves
  no example, a training split of one class) and what the model makes of it (a sigmoid
  output for regression targets, the perceptron on a regression table);

and once per command: the size of a grid (before it is expanded: `sweep.max_jobs`; a swept
value that gives no job, or that a grid cannot list), the keys a command takes one value of
(tracking.uri, tracking.experiment, tracking.enabled, tracking.plots, sweep.max_jobs, device:
never swept, and every job's the sweep's own), the keys typed beside a lesson, the
launcher's settings, the tracking store (reachable within seconds, whatever its scheme), the
output folder, the caches that live under HOME, and the device.

Who calls what:

    admit_run(config)               the callback's on_run_start: a run alone
    admit_sweep(config) -> jobs     the callback's on_multirun_start: every job of a grid
    admit_jobs(configs, overrides)  a launcher, for the jobs it was handed (search sweepers
                                    such as Optuna hand them over a batch at a time)
    check_job(cfg) -> Dataset       the job itself (pipeline/job.py), unless the batched launcher
                                    handed it over (checked with its sweep): its config and data,
                                    raising ConfigError/DataError (ValueError) for callers
                                    outside the command line
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from pipeline.config import ConfigError, hidden_layers, ignored_settings, max_jobs, unknown_keys, uses, validate
from pipeline.data import Dataset, DataError, load_from_config
from pipeline.errors import InputRefused, key_suggestion, one_line

# The checks' own errors, turned into InputRefused. (A DeviceError is a RuntimeError.)
_REFUSABLE = (ValueError, RuntimeError, OSError, OmegaConfBaseException)

# How long a tracking store may take to answer the up-front check.
CONNECT_TIMEOUT_S = 3.0


# -- the public API ----------------------------------------------------------------------------


def admit_run(config: DictConfig) -> None:
    """A run alone (`python -m pipeline ...`): the job, its device, the store, its output folder."""
    _refusing(check_lesson_overrides, config)
    _refusing(_check_jobs, [config], None)
    _refusing(check_device, config.device)
    _refusing(check_places, config, config.hydra.run.dir)


def admit_sweep(config: DictConfig) -> list[list[str]]:
    """A multirun, before its parent run exists: the grid's size, then every job's config
    checked (its values; composed by Hydra once per shape), the sweep folder, the store, the
    device. Returns every job's overrides ([] for a search sweeper such as Optuna, whose jobs
    are not known yet: its base config is checked here, each batch by the launcher)."""
    from hydra.core.global_hydra import GlobalHydra

    from pipeline.composing import composer_for
    from pipeline.grid import expand_grid

    _refusing(check_not_swept, config)
    _refusing(check_grid_size, config)
    _refusing(check_lesson_overrides, config)
    _refusing(check_sweeper, config)
    _refusing(check_launcher, config)
    jobs = _refusing(expand_grid, config)
    # The sweep's own values of the keys it takes once (its parent run's store and experiment,
    # its device): each job must have the same, whatever config group or experiment set them.
    once = one_value_keys(config)
    if jobs:
        composer = composer_for(GlobalHydra.instance().config_loader(), config)
        # Every job checked, none composed: Hydra composes one job per shape (and checks the
        # derivation of a second), each other job is its shape's values with its own set
        # (pipeline/composing.py). The launcher composes each job when it launches it, a chunk
        # at a time, and does not check these again.
        _refusing(_check_jobs, (composer.to_check(overrides) for overrides in jobs), jobs, once)
        composer.admitted.update(tuple(overrides) for overrides in jobs)
    else:
        _refusing(_check_jobs, [config], None)
    _refusing(check_device, config.device)
    _refusing(check_places, config, config.hydra.sweep.dir)
    return jobs


# The keys a command takes one value of, and why. A sweep's parent run, its summary and its
# folder are made once, from the sweep's own config (pipeline/sweep.py), and JAX starts one
# backend per process: a job with another value would be recorded where the sweep does not
# look (its summary empty), or refused half-way through the sweep.
ONE_VALUE_PER_COMMAND = {
    "tracking.uri": "a sweep's parent run and its jobs' runs live in one store",
    "tracking.experiment": "a sweep's parent run and its jobs' runs live in one experiment, which names its folder",
    "tracking.enabled": "a sweep is recorded in MLflow as a whole or not at all",
    "tracking.plots": "it also decides the sweep's summary plots",
    "sweep.max_jobs": "it caps the whole grid",
    "device": "JAX starts one backend per process",
}
# Config groups that set some of those keys (conf/tracking/).
ONE_OPTION_PER_COMMAND = {"tracking": "it sets the store and experiment of the whole sweep"}


def sweep_arguments(config: DictConfig) -> list[str]:
    """What a sweep is made of, as Hydra's sweeper reads it: the experiment file's
    `hydra.sweeper.params`, then the command line's overrides (a later one replaces an earlier)."""
    params = config.hydra.sweeper.get("params") or {}
    return [f"{key}={value}" for key, value in params.items()] + list(config.hydra.overrides.task)


def check_not_swept(config: DictConfig) -> None:
    """A sweep (a grid, or a search sweeper's space) over a key that takes one value per command
    is refused, naming the key, before anything is composed or any run exists."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    arguments = sweep_arguments(config)
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    for argument in arguments:
        try:
            (override,) = parser.parse_overrides([argument])
        except HydraException:  # malformed: the sweeper's or the grid's own check names what is allowed
            continue
        key = override.get_key_element().lstrip("+~")
        why = ONE_VALUE_PER_COMMAND.get(key) or ONE_OPTION_PER_COMMAND.get(key)
        # Even `device=cpu,cpu`: Hydra sets a swept key on each job only, never on the sweep's
        # own config, from which the parent run and its folder are made.
        if why and override.is_sweep_override():
            raise ConfigError(
                f"{override.input_line or key} sweeps {key}, which takes one value per command ({why}); "
                f"run one command per value"
            )


def one_value_keys(cfg: Any) -> dict[str, Any]:
    """{key: value} of a config for each key that takes one value per command. A lesson's job
    (+lesson=NAME) is its own run in its own experiment, never under a parent: of these, only
    the device is the command's (`-m +lesson=derivatives,computation_graph`)."""
    lesson = getattr(cfg, "lesson", None) is not None
    return {key: _value(cfg, key) for key in ONE_VALUE_PER_COMMAND if not (lesson and key.startswith("tracking."))}


def check_one_value(cfg: Any, once: dict[str, Any]) -> None:
    """A job's values of the keys that take one value per command are the sweep's (`once`)."""
    for key, value in one_value_keys(cfg).items():
        if value != once[key]:
            raise ConfigError(
                f"{key}={value!r} differs from the sweep's {key}={once[key]!r}; it takes one value "
                f"per command ({ONE_VALUE_PER_COMMAND[key]}): run one command per value"
            )


# What a lesson (+lesson=NAME) reads of the config; it trains no network.
LESSON_READS = ("lesson", "tracking", "device", "sweep", "hydra", "experiment")


def check_lesson_overrides(config: DictConfig) -> None:
    """A key typed or swept beside +lesson=NAME that the lesson does not read (`train.seed=0,1`)
    is refused, as a value a model ignores is: a sweep over it would record the same lesson again
    and again. (An experiment's swept keys count as typed.)"""
    overrides = sweep_arguments(config)
    keys = [override.partition("=")[0].lstrip("+~") for override in overrides]
    if config.get("lesson") is None and "lesson" not in keys:
        return
    for override, key in zip(overrides, keys):
        if key.split(".")[0].split("/")[0] not in LESSON_READS:
            raise ConfigError(
                f"{override} would be ignored: a lesson trains no network, and reads only lesson.*, "
                "tracking.*, device and sweep.*; remove it"
            )


def check_sweeper(config: DictConfig) -> None:
    """A search sweeper's own checks (its search space, sampler, storage), before the parent run
    exists: Hydra creates the sweeper only after the callback's on_multirun_start. A sweeper class
    with a static `check(config)` raises a ValueError naming the bad value (hydra_plugins/optuna_sweeper)."""
    from hydra.utils import get_class

    target = config.hydra.sweeper.get("_target_")
    check = getattr(get_class(target), "check", None) if target else None
    if callable(check):
        check(config)


def check_launcher(config: DictConfig) -> None:
    """The launcher's settings that would fail only once the sweep had started: the batched
    launcher's hydra.launcher.chunk_size, jobs per launch of a grid (an integer >= 1, or null
    for the whole grid in one launch; pipeline/sweep.py applies it), and joblib's n_jobs
    (processes at once: >= 1, or -1 for one per core, -2 for all but one, ...; never 0)."""
    launcher = config.hydra.launcher
    target = str(launcher.get("_target_", ""))
    if "joblib" in target.lower() and launcher.get("n_jobs") == 0:
        raise ValueError(
            "hydra.launcher.n_jobs=0 is not allowed; it must be an integer >= 1 (processes at once), "
            "or -1 for one per core"
        )
    in_process = "batched_launcher" in target or "basic_launcher" in target
    if not config.tracking.enabled and not in_process:
        # Nothing recorded, and the jobs' results (a failure too) stay in the launcher's processes:
        # no table, and no exit status to say that a job failed.
        raise ValueError(
            f"tracking.enabled=false with hydra.launcher {target.rpartition('.')[2] or target} is not allowed: its jobs "
            "run in other processes, so nothing would report their results; track them, or use the batched "
            "or basic launcher"
        )
    if "batched_launcher" not in target:
        return
    chunk = launcher.get("chunk_size")
    if chunk is not None and chunk < 1:
        raise ValueError(
            f"hydra.launcher.chunk_size={chunk!r} is not allowed; it must be an integer >= 1 "
            "(or null: the whole grid in one launch)"
        )


def admit_jobs(
    configs: Iterable[Any], overrides: Optional[Sequence[Sequence[str]]] = None, *, whole_command: bool = True
) -> list[Dataset]:
    """The jobs a launcher (or a search sweeper, hydra_plugins/optuna_sweeper) was handed, all
    of them before any trains; returns their data (loaded once per distinct data config).
    `configs` are read one at a time, in order (a JobComposer's views may be); `overrides` name
    the job in a refusal. whole_command=False: these are some of the command's jobs (a search's
    round), whose keys read by no job were checked over the whole command already; each job is
    checked alone."""
    return _refusing(_check_jobs, configs, overrides, None, whole_command)


def check_job(cfg: Any) -> Dataset:
    """One job's config, memory and data; returns its data. Raises ConfigError or DataError
    (ValueErrors, one line) rather than InputRefused: for callers that are not the command line."""
    if isinstance(cfg, DictConfig):  # (a grid's later jobs are views of its checked ones: pipeline/composing.py)
        check_known_keys(cfg)
    lesson = getattr(cfg, "lesson", None)  # +lesson=NAME: its keys, before Hydra's run_job
    if lesson is not None:
        from pipeline.lessons import lesson_config

        # A composed config, or the view a sweep's later jobs are checked through (pipeline/composing.py).
        check_lesson_memory(lesson_config(lesson.as_dict() if hasattr(lesson, "as_dict") else lesson))
    validate(cfg)
    data = cfg.data
    if data.name != "csv":  # the size is known before generating anything
        n_x, m = _BUILT_IN_SHAPES.get(data.name, (2, data.n_samples))
        check_memory(cfg, n_x, m)
    ds = load_from_config(data)
    check_job_with_data(cfg, ds)
    return ds


# -- one job -----------------------------------------------------------------------------------


# (features, examples) of the shipped sets; the generated ones have 2 features and data.n_samples.
_BUILT_IN_SHAPES = {"flower": (2, 400), "breast_cancer": (30, 569), "diabetes": (10, 442)}


def check_job_with_data(cfg: Any, ds: Dataset) -> None:
    """What the model makes of the data: refused combinations, and the memory with real sizes."""
    if ds.task == "regression":
        if cfg.model.name == "perceptron":
            raise DataError(
                f"data.target={cfg.data.target!r} of {cfg.data.path} is a regression target; "
                "model=perceptron needs 0/1 labels"
            )
        if cfg.model.output == "sigmoid":
            raise ConfigError(
                f"model.output='sigmoid' is not allowed for regression targets ({_data_name(cfg)}): "
                "a sigmoid outputs (0, 1); use model.output=auto or identity"
            )
    if cfg.train.batch_size is not None and cfg.train.batch_size > ds.m_train:
        raise ConfigError(
            f"train.batch_size={cfg.train.batch_size} is larger than the training split "
            f"({ds.m_train} examples of {_data_name(cfg)}); it must lie in [1, {ds.m_train}]"
        )
    check_memory(cfg, ds.n_features, ds.m_train + ds.m_val)


def _data_name(cfg: Any) -> str:
    return f"{cfg.data.path}" if cfg.data.name == "csv" else f"data={cfg.data.name}"


def _check_jobs(
    configs,
    overrides: Optional[Sequence[Sequence[str]]],
    once: Optional[dict[str, Any]] = None,
    whole_command: bool = True,
) -> list[Dataset]:
    """check_job for each job, then (whole_command) the values no job of the command reads.
    `once`: the sweep's values of the keys that take one value per command, which every job
    must share."""
    datasets, ignored_by, used = [], [], set()
    for number, cfg in enumerate(configs):
        where = f" (in the sweep's job {' '.join(overrides[number])})" if overrides else ""
        try:
            if once is not None:
                check_one_value(cfg, once)
            datasets.append(check_job(cfg))
            ignored = ignored_settings(cfg)
        except (ValueError, OmegaConfBaseException) as error:
            if not where:
                raise
            raise ConfigError(f"{one_line(error)}{where}") from None
        used |= {key for key, reads in uses(cfg).items() if reads}
        if ignored:
            values = {key: _value(cfg, key) for key in ignored}
            ignored_by.append((ignored, values, where))
    for ignored, values, where in ignored_by if whole_command else ():
        for key, why in ignored.items():
            if key not in used:  # no job of this command reads it
                raise ConfigError(f"{key}={values[key]!r} would be ignored: {why}; remove it{where}")
    return datasets


def check_lesson_memory(lesson: Any, available: Optional[int] = None) -> None:
    """Refuse a lesson whose largest size needs more memory than the machine has available."""
    need, sizes = lesson_memory(lesson)
    available = available_memory() if available is None else available
    if need > available:
        raise ConfigError(
            f"lesson {lesson.name} needs about {_bytes(need)} of memory at {sizes}, more than the "
            f"{_bytes(available)} available on this machine; use smaller sizes"
        )


def lesson_memory(lesson: Any) -> tuple[int, str]:
    """(bytes, the sizes that need them) of a lesson at its largest size, roughly. vectorisation:
    the examples as float64 arrays and as Python lists of floats (node by node), each layer's Z
    and A; cpu_vs_gpu: the two float32 matrices drawn by NumPy, on the device and their product,
    and each vmapped job's parameters, gradients and activations on 400 examples."""
    if lesson.name == "vectorisation":
        m, n_x, hidden = max(lesson.examples), lesson.n_x, lesson.hidden
        per_example = n_x * (8 + 32) + hidden * (2 * 8 + 32) + 2 * 8
        need = m * per_example + n_x * hidden * (8 + 32)
        return need, f"lesson.examples={m}, lesson.n_x={n_x}, lesson.hidden={hidden}"
    if lesson.name == "cpu_vs_gpu":
        n, jobs = max(lesson.matmul_sizes), max(lesson.jobs)
        need = 5 * n * n * 4 + jobs * 400 * 4 * 4 * 8
        return need, f"lesson.matmul_sizes={n}, lesson.jobs={jobs}"
    return 0, ""


def check_known_keys(cfg: Any) -> None:
    """No key the schema lacks: Hydra adds `+model.hiden=3` and `+foo=1` to the structured config."""
    for key in unknown_keys(cfg):
        raise ConfigError(f"unknown key '{key}' (added with a +: nothing reads it){key_suggestion(key)}")


def _value(cfg: Any, key: str) -> Any:
    """The value of a dotted key (`model.hidden`, `device`) of a config or a ConfigView."""
    node = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


# -- memory ------------------------------------------------------------------------------------


def job_memory(cfg: Any, n_x: int, m: int) -> dict[str, int]:
    """Bytes one job needs, by part, from its sizes (a generous estimate, not a measurement).

    n_x features and m examples in all (training and validation). Parts: the parameters with
    their gradients and optimizer state; the activations of a training step (Z, A, dZ, g'(Z)
    and copies) and of scoring every example; the metric history; the data; the float64
    gradient check (jax.grad and the hand-derived pass on its examples, and the finite
    differences' perturbed copies, at most 256 at a time and at most 512 coordinates)."""
    sizes = (n_x, *[cfg.model.hidden] * hidden_layers(cfg), 1)
    return dict(
        _memory_parts(
            8 if cfg.train.dtype == "float64" else 4,
            sizes,
            m,
            float(cfg.data.val_fraction),
            cfg.train.batch_size,
            cfg.optim.name,
            cfg.gradcheck.max_examples,
            cfg.train.steps,
            cfg.train.log_every,
        )
    )


@functools.lru_cache(maxsize=4096)  # the jobs of a grid share their sizes: computed once per distinct set
def _memory_parts(
    itemsize: int,
    sizes: tuple[int, ...],
    m: int,
    val_fraction: float,
    batch_size: Optional[int],
    optim: str,
    max_examples: int,
    steps: int,
    log_every: int,
) -> dict[str, int]:
    from models.gradcheck import _FD_CHUNK_BYTES, MAX_FD_COORDINATES

    n_x = sizes[0]
    units = sum(sizes[1:])
    n_params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    m_train = m - int(round(m * val_fraction))
    batch = min(batch_size or m_train, m_train)
    optimizer_copies = {"gd": 0, "momentum": 1, "adam": 2}.get(optim, 2)
    examples = min(max_examples, m_train)
    fd_points = min(n_params, MAX_FD_COORDINATES)
    fd_chunk = max(1, min(256, fd_points, _FD_CHUNK_BYTES // max(1, 16 * n_params)))
    return {
        "parameters": n_params * itemsize * (5 + optimizer_copies),
        "activations": (batch * units * 6 + m * units * 2) * itemsize,
        "history": (steps // log_every + 2) * (3 + len(sizes)) * 4,
        "data": (n_x + 1) * m * 8 * 3,
        "gradient check": (n_params * 6 + examples * units * 6 + fd_chunk * (2 * n_params + examples * units * 2)) * 8,
    }


def available_memory() -> int:
    """Bytes this machine has available now (Linux's MemAvailable; else the physical total); read
    at most once a second (a grid's 10,000 jobs are checked in a second or two)."""
    now = time.monotonic()
    if now - _available[0] > 1.0:
        _available[:] = [now, _read_available_memory()]
    return int(_available[1])


_available = [-math.inf, 0]  # (when, bytes)


def _read_available_memory() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**63


def check_memory(cfg: Any, n_x: int, m: int, available: Optional[int] = None) -> None:
    """Refuse a job whose estimated memory exceeds what the machine has available, naming its sizes."""
    parts = job_memory(cfg, n_x, m)
    need, available = sum(parts.values()), available_memory() if available is None else available
    if need <= available:
        return
    sizes = [f"model.hidden={cfg.model.hidden}"] if hidden_layers(cfg) else []
    if cfg.model.name == "deep":
        sizes.append(f"model.depth={cfg.model.depth}")
    sizes.append(f"{m} examples of {n_x} features")
    if cfg.train.batch_size is not None:
        sizes.append(f"train.batch_size={cfg.train.batch_size}")
    largest = max(parts, key=lambda part: parts[part])
    raise ConfigError(
        f"this job needs about {_bytes(need)} of memory ({', '.join(sizes)}; mostly {largest}: "
        f"{_bytes(parts[largest])}), more than the {_bytes(available)} available on this machine; "
        "use smaller sizes (model.hidden, model.depth, data.n_samples, train.batch_size)"
    )


def _bytes(n: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.3g} {unit}" if n < 100 * size else f"{n / size:,.0f} {unit}"
    return f"{n / 2**10:.3g} KiB"


# -- once per command ------------------------------------------------------------------------


def grid_size(config: DictConfig) -> tuple[int, dict[str, int]]:
    """How many jobs Hydra's basic sweeper will make of this multirun, and how many values each
    swept key has: counted from the overrides, without expanding them. (0, {}) for other sweepers."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import IntervalSweep, RangeSweep

    if "BasicSweeper" not in str(config.hydra.sweeper.get("_target_", "")):
        return 0, {}
    arguments = sweep_arguments(config)
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    counts: dict[str, int] = {}
    for override in parser.parse_overrides(arguments):  # later ones replace earlier ones, as in Hydra
        key = override.get_key_element()
        if not override.is_sweep_override():
            counts[key] = 1
            continue
        value = override.value()
        written = f"{override.input_line or key}"
        if isinstance(value, IntervalSweep):
            raise ConfigError(
                f"{written}: an interval is a search space, which a grid cannot list; search it with "
                f"hydra/sweeper=optuna (as +experiment=lr_search does), or list the values: {key}=A,B,C"
            )
        if isinstance(value, RangeSweep):
            start, stop, step = value.start, value.stop, value.step
            assert start is not None and stop is not None  # the parser fills both in for range(...)
            if not step:
                raise ConfigError(f"{written}: a range's step must not be 0; e.g. {key}=range(1,10,2)")
            counts[key] = max(0, math.ceil((stop - start) / step))
        else:
            counts[key] = sum(1 for _ in override.sweep_string_iterator())
        if not counts[key]:  # the sweep would launch no job, and its parent run would say nothing
            raise ConfigError(
                f"{written} gives no value, so the sweep would have no jobs; a range(start, stop, step) "
                f"stops before its stop, counting by its step (1 unless given): e.g. {key}=range(1,5)"
            )
    swept = {key: n for key, n in counts.items() if n != 1}
    return math.prod(counts.values()), swept


def check_grid_size(config: DictConfig) -> None:
    """A grid larger than sweep.max_jobs is refused with its size, before it is expanded."""
    size, swept = grid_size(config)
    cap = max_jobs(config)
    if size > cap:
        factors = " × ".join(f"{n:,} {key}" for key, n in swept.items())
        raise ConfigError(
            f"the sweep has {size:,} jobs ({factors}), more than sweep.max_jobs={cap}; narrow the "
            f"grid, or raise the cap with sweep.max_jobs={size}"
        )


def check_places(config: DictConfig, output_dir: Any) -> None:
    """Where the command writes: the tracking store, Hydra's output folder, the caches under HOME."""
    if config.tracking.enabled:
        check_tracking(str(config.tracking.uri))
    check_caches()
    make_output_folder(Path(str(output_dir)))  # last: a refused command leaves no folder behind


def make_output_folder(folder: Path) -> None:
    """Create Hydra's output folder now (Hydra would a moment later): a folder that cannot be
    created is then one line, not a traceback. On failure, the folders made on the way to it
    (`outputs/` of `outputs/<name too long>/...`) are removed again: a refusal leaves nothing."""
    missing = [path for path in (folder, *folder.parents) if not os.path.exists(path)]  # (no error for a long name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        for made in missing:  # the deepest first
            with contextlib.suppress(OSError):
                made.rmdir()
        raise ValueError(
            f"the output folder {folder} cannot be created ({error.strerror}); "
            "run from a writable folder or set hydra.run.dir / hydra.sweep.dir"
        ) from None


def check_caches() -> None:
    """JAX's persistent compilation cache lives under HOME (~/.cache) unless told otherwise:
    an unwritable HOME is refused here, naming the folder and how to move it."""
    from pipeline.device import compilation_cache_folder

    folder = compilation_cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()  # a real write: os.access says yes to root on a read-only disk
    except OSError as error:
        raise ValueError(
            f"JAX's compilation cache folder {folder} cannot be written ({error.strerror}; "
            f"HOME={os.environ.get('HOME', '')}); make HOME writable, or set JAX_COMPILATION_CACHE_DIR "
            "or XDG_CACHE_HOME to a writable folder"
        ) from None


_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
# A database driver's module, as the ImportError names it, and the package that installs it.
_PIP_NAMES = {"MySQLdb": "mysqlclient", "pymysql": "PyMySQL", "psycopg2": "psycopg2-binary", "psycopg": "psycopg"}


def check_tracking(uri: str) -> None:
    """The tracking store answers, within seconds, whatever its scheme (validate allowed the scheme).

    SQLite: its folder can be written. A server (http/https): it answers MLflow's /health. A
    database (postgresql, mysql): its driver is installed, its host accepts a connection, and
    the database lets us in, each within CONNECT_TIMEOUT_S, before MLflow would retry for minutes."""
    base = uri.partition(":")[0].lower().split("+")[0]
    if base in _DEFAULT_PORTS:
        _check_database(uri, base)
        return
    from pipeline.tracking import check_store

    check_store(uri, timeout=CONNECT_TIMEOUT_S)


def _check_database(uri: str, base: str) -> None:
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        url = make_url(uri)
        uri = url.render_as_string(hide_password=True)  # what the messages show
        url.get_dialect().import_dbapi()  # the driver SQLAlchemy (so MLflow) will use for this URI
    except ImportError as error:
        raise ValueError(
            f"tracking.uri={uri}: its database driver ({error.name or error}) is not installed; "
            f"install it (pip install {_PIP_NAMES.get(error.name or '', error.name or 'the driver')}) "
            "or name another in the URI"
        ) from None
    except sqlalchemy.exc.ArgumentError as error:  # an unknown driver name
        raise ValueError(f"tracking.uri={uri}: {one_line(error)}") from None
    host, port = url.host, url.port or _DEFAULT_PORTS[base]
    if host:  # no host: a local socket, left to the driver below
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
            raise ValueError(
                f"tracking.uri={uri}: no database answers at {host}:{port} ({reason}); start it or fix the URI"
            ) from None
    engine = sqlalchemy.create_engine(
        url, poolclass=sqlalchemy.pool.NullPool, connect_args={"connect_timeout": int(CONNECT_TIMEOUT_S)}
    )
    try:
        engine.connect().close()
    except Exception as error:  # the driver's own errors: authentication, no such database, timeout
        cause = getattr(error, "orig", None) or error
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise ValueError(
            f"tracking.uri={uri}: the database does not let us in ({reason}); fix the URI or the server"
        ) from None
    finally:
        engine.dispose()


def check_device(name: str) -> None:
    """The asked-for device is there (pipeline/device.py: never a silent CPU run)."""
    from pipeline.device import select_device

    select_device(name)


# -- turning a check's error into the command's refusal ----------------------------------------


def _refusing(check: Callable, *args: Any) -> Any:
    try:
        return check(*args)
    except _REFUSABLE as error:
        raise InputRefused(one_line(error)) from None
