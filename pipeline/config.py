"""The config schema: typed dataclasses in Hydra's ConfigStore, plus the checks types can't express.

The dataclasses make Hydra refuse an unknown key (`model.hiden=4`) or a wrong type
(`optim.lr=fast`) while it composes; `validate` then refuses values out of range or not in
the allowed set, with one line naming the value and what is allowed, before any data is
loaded or any MLflow run is created.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from models.activations import ACTIVATIONS, GRADIENT_ACTIVATIONS
from models.network import INIT_SCHEMES
from pipeline.data import DATASETS

MODELS = ("perceptron", "logistic", "shallow", "deep")
OPTIMIZERS = ("gd", "momentum", "adam")
GRAD_MODES = ("autodiff", "hand")
OUTPUTS = ("auto", "sigmoid", "identity", "step")
DEVICES = ("auto", "cpu", "gpu", "tpu")
DTYPES = ("float32", "float64")


@dataclass
class DataConfig:
    name: str = "flower"
    seed: int = 0  # the generator's draw and the validation split
    val_fraction: float = 0.2  # 0: train on every example, no validation split (the notes' setting)
    n_samples: int = 400  # generated sets only (flower is fixed at 400)
    noise: float = 0.2  # generated sets that take noise
    path: Optional[str] = None  # data=csv: the table's file
    target: Optional[str] = None  # data=csv: the label column
    task: str = "auto"  # data=csv: auto (0/1 labels -> binary, else regression), binary, regression


@dataclass
class ModelConfig:
    name: str = "shallow"
    activation: str = "tanh"  # g of the hidden layers (perceptron/logistic have none)
    hidden: int = 4  # units per hidden layer
    depth: int = 1  # hidden layers (deep only; shallow is 1, perceptron/logistic 0)
    output: str = "auto"  # auto: sigmoid for binary data, identity for regression
    init: str = "small"  # small (× init_scale, the notes'), xavier, he
    init_scale: float = 0.01
    leaky_slope: float = 0.01  # α of leaky ReLU


@dataclass
class OptimConfig:
    name: str = "gd"
    lr: float = 1.2
    momentum: float = 0.9  # momentum only
    b1: float = 0.9  # adam only
    b2: float = 0.999
    eps: float = 1e-8


@dataclass
class TrainConfig:
    steps: int = 10000
    seed: int = 0  # parameter init and mini-batch order
    log_every: int = 100
    grad: str = "autodiff"  # autodiff: jax.grad; hand: the hand-derived backward pass
    batch_size: Optional[int] = None  # None: full batch, as in the notes
    dtype: str = "float32"


@dataclass
class GradcheckConfig:
    tolerance: float = 1e-8  # hand vs jax.grad, float64; beyond it the run fails
    fd_tolerance: float = 1e-5  # hand vs finite differences: reported, tagged if exceeded
    epsilon: float = 1e-6  # finite-difference step
    max_examples: int = 128  # the check uses the first examples only: the math is per example


@dataclass
class SweepConfig:
    # A grid with more jobs than this is refused before it is expanded (its size is the product
    # of the swept values' counts); raise it with sweep.max_jobs=N.
    max_jobs: int = 50_000


@dataclass
class TrackingConfig:
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "Default"
    enabled: bool = True
    plots: bool = True  # false: no PNGs at all (per run and the sweep's summary plots)
    # true: each run also gets loss_curve.png (its loss, log-y, with the validation metric on a
    # second axis). Off by default: the run's Model metrics tab in MLflow's UI charts the same
    # histories, and drawing it costs about 70 ms of CPU per run, half of a 48-job sweep's
    # drawing on a 2-core machine (issue "Sweeps near the floor").
    loss_curve: bool = False


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    gradcheck: GradcheckConfig = field(default_factory=GradcheckConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    device: str = "auto"
    # In a sweep, reuse a FINISHED run of the same config hash instead of training it again.
    resume: bool = True
    # +lesson=NAME (conf/lesson/): run that section of the notes instead of training (pipeline/lessons.py)
    lesson: Optional[Any] = None


@functools.cache
def schema_keys() -> tuple[str, ...]:
    """Every dotted key of the schema (`model.hidden`, `device`, ...), groups' keys included."""

    def keys(schema: Any, prefix: str) -> Iterator[str]:
        for f in dataclasses.fields(schema):
            if dataclasses.is_dataclass(f.default_factory):
                yield from keys(f.default_factory, f"{prefix}{f.name}.")
            else:
                yield f"{prefix}{f.name}"

    return tuple(keys(Config, ""))


def unknown_keys(cfg: Any) -> list[str]:
    """The dotted keys of a composed config that the schema does not have. Hydra refuses
    `model.hiden=3` (not in the structured config) but adds `+model.hiden=3` and `+foo=1`, and
    the job would train as if they had not been typed. `lesson` is free-form here (its keys are
    checked by pipeline/lessons.py), `hydra` is Hydra's."""
    if not isinstance(cfg, DictConfig):
        return []
    found: list[str] = []

    def walk(node: DictConfig, schema: Any, prefix: str) -> None:
        fields = {f.name: f for f in dataclasses.fields(schema)}
        for key in map(str, node):
            if not prefix and key == "hydra":
                continue
            known = fields.get(key)
            if known is None:
                found.append(f"{prefix}{key}")
            elif dataclasses.is_dataclass(known.default_factory) and isinstance(node.get(key), DictConfig):
                walk(node[key], known.default_factory, f"{prefix}{key}.")

    walk(cfg, Config, "")
    return found


def max_jobs(config: DictConfig) -> int:
    """sweep.max_jobs, also when set on the command line of a multirun (not applied to its base config)."""
    for override in config.hydra.overrides.task:
        key, _, value = override.partition("=")
        if key.lstrip("+") == "sweep.max_jobs":
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"sweep.max_jobs={value!r} is not allowed; it must be an integer >= 1") from None
    return int(config.sweep.max_jobs)


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore; conf/config.yaml lists it first in its defaults."""
    ConfigStore.instance().store(name="schema", node=Config)


class ConfigError(ValueError):
    """A config value out of range or not allowed; its message is one line for the user."""


def _one_of(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of: {', '.join(allowed)}")


INT32_MAX = 2**31 - 1  # JAX counts steps, sizes and indices in int32


def _at_least(key: str, value: Any, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"{key}={value!r} is too small; it must be an integer >= {minimum}")
    if value > INT32_MAX:
        raise ConfigError(f"{key}={value!r} is too large; it must be an integer in [{minimum}, 2**31 - 1]")


def _positive_finite(key: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{key}={value!r} is not allowed; it must be a finite number > 0")


def _in_range(
    key: str, value: float, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> None:
    """low <= value <= high (< where open), and finite: NaN is refused, not compared."""
    above = low < value if low_open else low <= value
    inside = math.isfinite(value) and above and (value < high if high_open else value <= high)
    if not inside:
        raise ConfigError(
            f"{key}={value!r} is out of range; it must be a finite number in "
            f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        )


# The tracking stores MLflow can be pointed at and this pipeline checks before any run:
# an embedded SQLite file, a tracking server, or a database server MLflow speaks to directly.
TRACKING_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql")


def hidden_layers(cfg: Any) -> int:
    """How many hidden layers model.name implies: 0, 0, 1, or model.depth."""
    return {"perceptron": 0, "logistic": 0, "shallow": 1}.get(cfg.model.name, cfg.model.depth)


def validate(cfg: Any) -> None:
    """Refuse a config that cannot train, with one line naming the value and what is allowed.

    `cfg` is the composed config (DictConfig or the dataclass). Raises ConfigError.
    """
    _one_of("data.name", cfg.data.name, tuple(sorted(DATASETS)))
    if cfg.data.name != "csv" and (cfg.data.path or cfg.data.target):
        raise ConfigError(
            f"data.path and data.target are for data=csv (your own table), not data.name="
            f"{cfg.data.name!r}; add data=csv to train on the table"
        )
    if cfg.data.name == "csv" and not (cfg.data.path and cfg.data.target):
        raise ConfigError(
            "data=csv needs data.path (the table's file) and data.target (its label column), "
            "e.g. data=csv data.path=houses.csv data.target=price"
        )
    _one_of("model.name", cfg.model.name, MODELS)
    _one_of("model.activation", cfg.model.activation, tuple(ACTIVATIONS))
    _one_of("model.output", cfg.model.output, OUTPUTS)
    _one_of("model.init", cfg.model.init, INIT_SCHEMES)
    _one_of("optim.name", cfg.optim.name, OPTIMIZERS)
    _one_of("train.grad", cfg.train.grad, GRAD_MODES)
    _one_of("train.dtype", cfg.train.dtype, DTYPES)
    _one_of("device", cfg.device, DEVICES)
    _validate_model(cfg)
    _validate_numbers(cfg)
    _validate_tracking(cfg)


def _validate_tracking(cfg: Any) -> None:
    uri = str(cfg.tracking.uri or "")
    scheme = uri.partition(":")[0].split("+")[0].lower() if ":" in uri else ""
    if scheme not in TRACKING_SCHEMES:
        raise ConfigError(
            f"tracking.uri={uri!r} is not allowed; use sqlite:///PATH (a local file), http(s)://HOST:PORT "
            "(an MLflow server) or postgresql://USER@HOST/DB, mysql://USER@HOST/DB (a database server)"
            + ("; MLflow's file: store is not supported (use sqlite:///mlflow.db)" if scheme in ("file", "") else "")
        )
    written = uri.partition(":")[0]
    if written != written.lower():  # SQLAlchemy and MLflow know their schemes in lower case only
        raise ConfigError(
            f"tracking.uri={uri!r} is not allowed; write its scheme in lower case: {written.lower()}{uri[len(written) :]}"
        )
    if scheme == "sqlite" and not _sqlite_file(uri):
        raise ConfigError(
            f"tracking.uri={uri!r} names no database file (SQLite in memory keeps nothing once the command "
            "ends); use sqlite:///PATH, e.g. sqlite:///mlflow.db"
        )
    if not str(cfg.tracking.experiment or "").strip():
        raise ConfigError(
            f"tracking.experiment={cfg.tracking.experiment!r} is empty; name the MLflow experiment "
            "(e.g. tracking.experiment=Default)"
        )
    _validate_experiment_name(str(cfg.tracking.experiment))
    _at_least("sweep.max_jobs", cfg.sweep.max_jobs, 1)


# The longest file name most file systems take (NAME_MAX), in bytes.
MAX_FOLDER_NAME_BYTES = 255


def _validate_experiment_name(name: str) -> None:
    """The experiment's name is a folder of Hydra's output (conf/config.yaml: outputs/<experiment>/...):
    one folder, inside outputs/ or multirun/. A `/` would nest it, `..` would leave the working folder."""
    if name in (".", "..") or "/" in name or "\\" in name:
        raise ConfigError(
            f"tracking.experiment={name!r} is not allowed; it names the output folder "
            "(outputs/<experiment>/...), so it must not contain / or \\ nor be . or ..; e.g. tracking.experiment=relu-lr"
        )
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_FOLDER_NAME_BYTES:
        raise ConfigError(
            f"tracking.experiment={name[:40]!r}... is too long ({size} bytes); it names the output folder "
            f"(outputs/<experiment>/...), so it must be at most {MAX_FOLDER_NAME_BYTES} bytes"
        )


def _sqlite_file(uri: str) -> str:
    """The database file of an SQLite URI, "" for an in-memory database: `sqlite://`, `sqlite:///`,
    `sqlite:///:memory:`, `file::memory:`, `mode=memory`; and `sqlite://HOST/...`, no file
    either (SQLite has no host: SQLAlchemy refuses it)."""
    rest = uri.partition("://")[2]
    if not rest.startswith("/") or "mode=memory" in rest:
        return ""
    path = rest[1:].partition("?")[0]
    return "" if path in ("", ":memory:") or path.startswith("file::memory:") else path


# Keys each kind of job reads; a job ignores a key outside these (see `ignored_settings`).
_GENERATED_WITH_NOISE = ("moons", "circles")
_GENERATED = ("moons", "circles", "blobs", "gaussian_quantiles")
# Values that say nothing when a job ignores the key: the schema's default, or what a model's
# own file sets for it (conf/model/logistic.yaml: hidden 0, depth 0; perceptron: step).
_SAYS_NOTHING = {
    "model.hidden": (4, 0),
    "model.depth": (1, 0),
    "model.activation": ("tanh", "step"),
    "model.leaky_slope": (0.01,),
    "model.init_scale": (0.01,),
    "optim.momentum": (0.9,),
    "optim.b1": (0.9,),
    "optim.b2": (0.999,),
    "optim.eps": (1e-8,),
    "data.n_samples": (400,),
    "data.noise": (0.2,),
}


def uses(cfg: Any) -> dict[str, bool]:
    """For each key that only some jobs read: does this job read it?"""
    m, layers = cfg.model, hidden_layers(cfg)
    return {
        "model.hidden": layers > 0,
        "model.depth": m.name == "deep",
        "model.activation": layers > 0,
        "model.leaky_slope": layers > 0 and m.activation == "leaky_relu",
        "model.init_scale": m.init == "small",
        "optim.momentum": cfg.optim.name == "momentum",
        "optim.b1": cfg.optim.name == "adam",
        "optim.b2": cfg.optim.name == "adam",
        "optim.eps": cfg.optim.name == "adam",
        "data.n_samples": cfg.data.name in _GENERATED,
        "data.noise": cfg.data.name in _GENERATED_WITH_NOISE,
    }


def ignored_settings(cfg: Any) -> dict[str, str]:
    """{key: why} for each key this job ignores although it is set to a value that says something.

    `model.depth=3` on the shallow model is "model=shallow has 1 hidden layer; model.depth is
    for model=deep". A sweep decides with all its jobs at once (pipeline/admission.py): a value
    that some job of the sweep reads is not refused for the others.
    """
    why = {
        "model.hidden": f"model={cfg.model.name} has no hidden layer",
        "model.depth": f"model={cfg.model.name} has {hidden_layers(cfg)} hidden layer(s); model.depth is for model=deep",
        "model.activation": f"model={cfg.model.name} has no hidden layer",
        "model.leaky_slope": f"model.activation={cfg.model.activation} is not leaky_relu",
        "model.init_scale": f"model.init={cfg.model.init} does not scale (init_scale is for model.init=small)",
        "optim.momentum": f"optim={cfg.optim.name} has no momentum (optim=momentum has)",
        "optim.b1": f"optim.b1 is for optim=adam, not optim={cfg.optim.name}",
        "optim.b2": f"optim.b2 is for optim=adam, not optim={cfg.optim.name}",
        "optim.eps": f"optim.eps is for optim=adam, not optim={cfg.optim.name}",
        "data.n_samples": f"data={cfg.data.name} is not generated (its size is fixed)",
        "data.noise": f"data={cfg.data.name} takes no noise (moons and circles do)",
    }
    ignored = {}
    for key, used in uses(cfg).items():
        group, name = key.split(".")
        if not used and getattr(getattr(cfg, group), name) not in _SAYS_NOTHING[key]:
            ignored[key] = why[key]
    return ignored


def _validate_model(cfg: Any) -> None:
    model = cfg.model
    if model.name in ("shallow", "deep"):
        _at_least("model.hidden", model.hidden, 1)
        if model.activation == "step":
            raise ConfigError(
                "model.activation='step' cannot be trained by gradient descent (its derivative is 0 "
                "almost everywhere); use model=perceptron for the step unit, or one of: "
                + ", ".join(GRADIENT_ACTIVATIONS)
            )
    if model.name == "deep":
        _at_least("model.depth", model.depth, 1)
    if model.name == "perceptron":
        if model.output not in ("auto", "step"):
            raise ConfigError(f"model.output={model.output!r} is not allowed for model=perceptron; its unit is step")
        if cfg.optim.name != "gd":
            raise ConfigError(
                f"optim.name={cfg.optim.name!r} is not allowed for model=perceptron; "
                "it learns by the perceptron rule, which is optim=gd"
            )
        if DATASETS.get(cfg.data.name) == "regression":
            raise ConfigError(f"data.name={cfg.data.name!r} is a regression set; model=perceptron needs binary labels")
    elif model.output == "step":
        raise ConfigError(f"model.output='step' is allowed for model=perceptron only, not model={model.name}")
    if not 0 <= model.leaky_slope < 1:
        raise ConfigError(f"model.leaky_slope={model.leaky_slope!r} is out of range; it must lie in [0, 1)")
    _positive_finite("model.init_scale", model.init_scale)
    if model.output == "sigmoid" and DATASETS.get(cfg.data.name) == "regression":
        raise ConfigError(
            f"model.output='sigmoid' is not allowed for data.name={cfg.data.name!r}, a regression "
            "set: a sigmoid outputs (0, 1); use model.output=auto or identity"
        )


def _validate_numbers(cfg: Any) -> None:
    _positive_finite("optim.lr", cfg.optim.lr)
    _at_least("train.steps", cfg.train.steps, 1)
    _at_least("train.log_every", cfg.train.log_every, 1)
    if cfg.train.log_every > cfg.train.steps:
        raise ConfigError(
            f"train.log_every={cfg.train.log_every} is larger than train.steps={cfg.train.steps}; "
            "it must lie in [1, train.steps]"
        )
    if cfg.train.batch_size is not None:
        _at_least("train.batch_size", cfg.train.batch_size, 1)
    if not 0 <= cfg.train.seed < 2**32:  # jax.random.PRNGKey's seeds, the same under vmap
        raise ConfigError(f"train.seed={cfg.train.seed!r} is out of range; it must lie in [0, 2**32 - 1]")
    if not 0 <= cfg.data.val_fraction < 1:
        raise ConfigError(
            f"data.val_fraction={cfg.data.val_fraction!r} is out of range; it must lie in [0, 1) "
            "(0: train on every example, no validation split)"
        )
    if not 0 <= cfg.data.seed < 2**32:  # numpy's and scikit-learn's seeds
        raise ConfigError(f"data.seed={cfg.data.seed!r} is out of range; it must lie in [0, 2**32 - 1]")
    _at_least("data.n_samples", cfg.data.n_samples, 4)
    _in_range("data.noise", cfg.data.noise, 0, 10)  # the generated sets span about 1: beyond 10 is all noise
    _in_range("optim.momentum", cfg.optim.momentum, 0, 1, high_open=True)
    _in_range("optim.b1", cfg.optim.b1, 0, 1, high_open=True)
    _in_range("optim.b2", cfg.optim.b2, 0, 1, high_open=True)
    _positive_finite("optim.eps", cfg.optim.eps)
    _positive_finite("gradcheck.tolerance", cfg.gradcheck.tolerance)
    _positive_finite("gradcheck.fd_tolerance", cfg.gradcheck.fd_tolerance)
    _in_range("gradcheck.epsilon", cfg.gradcheck.epsilon, 0, 1, low_open=True)
    _at_least("gradcheck.max_examples", cfg.gradcheck.max_examples, 1)
