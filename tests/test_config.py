"""Tests for pipeline.config: every config in conf/ composes and validates; bad values are refused.

Configs are composed with Hydra's compose API against the real conf/ folder, so these tests
also cover the YAML files and the dataclass schema in the ConfigStore.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pipeline.config import (
    DEVICES,
    GRAD_MODES,
    MODELS,
    OPTIMIZERS,
    Config,
    ConfigError,
    hidden_layers,
    ignored_settings,
    validate,
)
from pipeline.data import DATASETS
from conftest import compose_config, config_of

CONF_DIR = (Path(__file__).resolve().parent.parent / "conf").resolve()
# experiment/ and lesson/ are appended (+experiment=..., +lesson=...), not chosen in the defaults list
GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name not in ("experiment", "lesson"))
GROUP_OPTIONS = [(group, p.stem) for group in GROUPS for p in sorted((CONF_DIR / group).glob("*.yaml"))]
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


_compose = compose_config  # tests/conftest.py
_config = config_of


# -- what conf/ holds -----------------------------------------------------------------------


def test_conf_folder_has_the_groups_and_an_experiment():
    assert {"data", "model", "optim", "train", "tracking"} <= set(GROUPS)
    assert EXPERIMENTS, "conf/experiment/ holds no experiment"


def test_default_config():
    cfg = _compose()
    assert cfg.model.name == "shallow"
    assert cfg.model.activation == "tanh"
    assert cfg.model.hidden == 4
    assert cfg.optim.name == "gd"
    assert cfg.data.name == "flower"
    assert cfg.device in DEVICES
    assert hidden_layers(cfg) == 1
    validate(cfg)


def test_default_config_matches_the_schema_defaults():
    """conf/ and the dataclasses agree where conf/ does not deliberately differ."""
    cfg = _compose()
    schema = OmegaConf.structured(Config)
    for key in ("data", "model", "optim", "train", "gradcheck", "tracking"):
        assert set(cfg[key].keys()) == set(schema[key].keys()), key
    validate(schema)  # the bare dataclass defaults are a valid config too


@pytest.mark.parametrize("group, option", GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_group_option_composes_and_validates(group, option):
    # data=csv is the user's own table: it needs its file and label column to be valid.
    table = ["data.path=examples/houses.csv", "data.target=price_k"] if (group, option) == ("data", "csv") else []
    cfg = _compose([f"{group}={option}", *table])
    validate(cfg)
    if "name" in cfg[group]:
        # The file's name is the value the user types; the config must say the same.
        assert cfg[group].name == option


def test_every_model_and_optimizer_and_dataset_has_a_file():
    options = {g: {o for gg, o in GROUP_OPTIONS if gg == g} for g in GROUPS}
    assert options["model"] == set(MODELS)
    assert options["optim"] == set(OPTIMIZERS)
    assert options["data"] == set(DATASETS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_validates_and_is_a_multirun(name):
    # No skip: an experiment whose sweeper or launcher plugin is missing must fail here.
    cfg = _compose([f"+experiment={name}"], hydra_config=True)
    validate(cfg)
    assert cfg.hydra.mode == RunMode.MULTIRUN
    assert cfg.tracking.experiment == name, "an experiment's runs go to the MLflow experiment of its name"
    if "BasicSweeper" in str(cfg.hydra.sweeper.get("_target_", "")):
        params = cfg.hydra.sweeper.get("params") or {}
        assert len(params) > 0, f"experiment {name} uses the basic sweeper but declares no grid"


def _basic_grid_jobs(name):
    """Every job of a basic-sweeper experiment's grid, validated: [(overrides, config)].

    Group choices (`model: logistic,shallow`) are composed by Hydra, once per combination;
    the numbers and names swept within them are set on a copy, as Hydra's override would.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = _compose([f"+experiment={name}"], hydra_config=True)
    if "BasicSweeper" not in str(cfg.hydra.sweeper.get("_target_", "")):
        return []
    params = cfg.hydra.sweeper.get("params") or {}
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    axes = {o.get_key_element(): list(o.sweep_iterator()) if o.is_sweep_override() else [o.value()] for o in parsed}
    group_keys = [k for k in axes if k in GROUPS]
    value_keys = [k for k in axes if k not in GROUPS]
    jobs = []
    for groups in itertools.product(*(axes[k] for k in group_keys)):
        group_overrides = [f"{k}={v}" for k, v in zip(group_keys, groups)]
        base = _config([f"+experiment={name}", *group_overrides])
        for values in itertools.product(*(axes[k] for k in value_keys)):
            job = base.copy()
            for key, value in zip(value_keys, values):
                OmegaConf.update(job, key, value, merge=False)
            jobs.append((group_overrides + [f"{k}={v}" for k, v in zip(value_keys, values)], job))
    return jobs


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_job_of_every_grid_validates_and_is_admitted(name):
    """Every experiment runs: each job valid, its data loaded and split, its memory affordable,
    and no value ignored by every job (logistic_vs_shallow sets model.hidden for its shallow jobs)."""
    from pipeline.admission import admit_jobs

    jobs = _basic_grid_jobs(name)
    for overrides, job in jobs:
        for override in overrides:  # the job really has the grid's values
            key, _, value = override.partition("=")
            if key not in GROUPS:
                assert str(OmegaConf.select(job, key)) == value, override
        try:
            validate(job)
        except ConfigError as error:
            pytest.fail(f"experiment {name}, job {' '.join(overrides)}: {error}")
    if jobs:
        admit_jobs([job for _, job in jobs], [overrides for overrides, _ in jobs])
    else:  # a search sweeper: its base config
        admit_jobs([_config([f"+experiment={name}"])])


# -- bad values: validate refuses them with one line ----------------------------------------


def _refused(cfg) -> str:
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    message = str(info.value)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


# (overrides, the key the message must name, the bad value, a word of what is allowed)
BAD_OVERRIDES = [
    (["model.activation=foo"], "model.activation", "foo", ["tanh", "relu", "sigmoid"]),
    (["model.name=resnet"], "model.name", "resnet", ["perceptron", "logistic", "shallow", "deep"]),
    (["data.name=iris"], "data.name", "iris", ["flower", "moons", "diabetes"]),
    (["optim.name=sgdx"], "optim.name", "sgdx", ["gd", "momentum", "adam"]),
    (["train.grad=numeric"], "train.grad", "numeric", list(GRAD_MODES)),
    (["device=fpga"], "device", "fpga", ["cpu", "gpu"]),
    (["model.hidden=0"], "model.hidden", "0", [">= 1"]),
    (["model=deep", "model.depth=0"], "model.depth", "0", [">= 1"]),
    (["model=deep", "model.hidden=0"], "model.hidden", "0", [">= 1"]),
    (["optim.lr=0"], "optim.lr", "0", ["> 0"]),
    (["optim.lr=-1"], "optim.lr", "-1", ["> 0"]),
    (["optim.lr=inf"], "optim.lr", "inf", ["finite"]),
    (["optim.lr=nan"], "optim.lr", "nan", ["finite"]),
    (["optim=adam", "optim.lr=-0.5"], "optim.lr", "-0.5", ["> 0"]),
    (["train.steps=0"], "train.steps", "0", [">= 1"]),
    (["train.steps=-5"], "train.steps", "-5", [">= 1"]),
    (["train.log_every=0"], "train.log_every", "0", [">= 1"]),
    (["train.steps=50", "train.log_every=100"], "train.log_every", "100", ["train.steps", "50"]),
    (["data.val_fraction=1"], "data.val_fraction", "1", ["[0, 1)"]),
    (["data.val_fraction=-0.1"], "data.val_fraction", "-0.1", ["[0, 1)"]),
    (["data.val_fraction=nan"], "data.val_fraction", "nan", ["[0, 1)"]),
    (["data=moons", "data.noise=-1"], "data.noise", "-1", ["[0, 10]"]),
    (["data=moons", "data.noise=nan"], "data.noise", "nan", ["finite"]),
    (["data=moons", "data.n_samples=3"], "data.n_samples", "3", [">= 4"]),
    (["data.seed=-1"], "data.seed", "-1", ["[0, 2**32 - 1]"]),
    (["optim=momentum", "optim.momentum=1"], "optim.momentum", "1", ["[0, 1)"]),
    (["optim=adam", "optim.b2=nan"], "optim.b2", "nan", ["finite"]),
    (["optim=adam", "optim.eps=0"], "optim.eps", "0", ["> 0"]),
    (["gradcheck.tolerance=nan"], "gradcheck.tolerance", "nan", ["finite"]),
    (["gradcheck.fd_tolerance=nan"], "gradcheck.fd_tolerance", "nan", ["finite"]),
    (["gradcheck.epsilon=2"], "gradcheck.epsilon", "2", ["(0, 1]"]),
    (["gradcheck.epsilon=0"], "gradcheck.epsilon", "0", ["(0, 1]"]),
    (["gradcheck.epsilon=nan"], "gradcheck.epsilon", "nan", ["(0, 1]"]),
    (["model.init_scale=inf"], "model.init_scale", "inf", ["finite"]),
    (["tracking.experiment="], "tracking.experiment", "''", ["empty"]),
    (["tracking.experiment=' '"], "tracking.experiment", "' '", ["empty"]),
    (["tracking.uri=file:./mlruns"], "tracking.uri", "file:./mlruns", ["sqlite:///", "http", "postgresql"]),
    (["tracking.uri=mlruns"], "tracking.uri", "mlruns", ["sqlite:///"]),
    (["tracking.uri=ftp://host/x"], "tracking.uri", "ftp://host/x", ["sqlite:///"]),
    (["sweep.max_jobs=0"], "sweep.max_jobs", "0", [">= 1"]),
    (["data=diabetes", "model.output=sigmoid"], "model.output", "sigmoid", ["regression", "identity"]),
    (["model.leaky_slope=1"], "model.leaky_slope", "1", ["[0, 1)"]),
    (["model.leaky_slope=-0.1"], "model.leaky_slope", "-0.1", ["[0, 1)"]),
    (["model.activation=step"], "model.activation", "step", ["perceptron", "tanh"]),
    (["model=deep", "model.activation=step"], "model.activation", "step", ["perceptron"]),
    (["model=perceptron", "optim=adam"], "optim.name", "adam", ["perceptron", "gd"]),
    (["model=perceptron", "optim=momentum"], "optim.name", "momentum", ["perceptron", "gd"]),
    (["model=perceptron", "data=diabetes"], "data.name", "diabetes", ["perceptron", "binary"]),
    (["model.output=step"], "model.output", "step", ["perceptron"]),
    (["train.batch_size=0"], "train.batch_size", "0", [">= 1"]),
    (["train.seed=-1"], "train.seed", "-1", ["[0, 2**32 - 1]"]),
    (["train.seed=4294967296"], "train.seed", "4294967296", ["[0, 2**32 - 1]"]),
    # SQLite without a file keeps the runs in memory: lost when the command ends.
    (["tracking.uri=sqlite:///"], "tracking.uri", "'sqlite:///'", ["in memory", "sqlite:///PATH"]),
    (["tracking.uri=sqlite://"], "tracking.uri", "'sqlite://'", ["in memory"]),
    (["tracking.uri='sqlite:///:memory:'"], "tracking.uri", ":memory:", ["in memory"]),
    (["tracking.uri=sqlite://host/mlflow.db"], "tracking.uri", "host", ["in memory"]),
    # SQLAlchemy knows its schemes in lower case only: SQLITE:/// passed, then failed with a traceback.
    (["tracking.uri=SQLITE:///M.db"], "tracking.uri", "SQLITE:///M.db", ["lower case", "sqlite:///M.db"]),
    (["tracking.uri=Http://host:5000"], "tracking.uri", "Http://host:5000", ["http://host:5000"]),
    # The experiment names the output folder (outputs/<experiment>/...): one folder, inside it.
    (["tracking.experiment=../../escaped"], "tracking.experiment", "'../../escaped'", ["/", ". or .."]),
    (["tracking.experiment=a/b"], "tracking.experiment", "'a/b'", ["must not contain /"]),
    (["tracking.experiment=.."], "tracking.experiment", "'..'", [". or .."]),
    (["tracking.experiment=."], "tracking.experiment", "'.'", [". or .."]),
    (["tracking.experiment=" + "x" * 300], "tracking.experiment", "too long (300 bytes)", ["at most 255 bytes"]),
]


@pytest.mark.parametrize(
    "overrides, key, value, allowed", BAD_OVERRIDES, ids=[" ".join(case[0]) for case in BAD_OVERRIDES]
)
def test_bad_value_is_refused_with_one_line_naming_it(overrides, key, value, allowed):
    cfg = _config(overrides)  # composes: the schema's types allow it; only validate knows better
    message = _refused(cfg)
    assert key in message, message
    assert value in message, message
    for word in allowed:
        assert word in message, f"{word!r} not in {message!r}"


def test_model_name_error_names_the_key_not_the_group():
    message = _refused(_compose(["model.name=resnet"]))  # through Hydra's compose itself
    assert message.startswith("model.name="), message


@pytest.mark.parametrize("field, value", [("lr", float("nan")), ("lr", float("inf")), ("lr", float("-inf"))])
def test_non_finite_learning_rate_set_on_the_composed_config_is_refused(field, value):
    cfg = _config([])
    cfg.optim[field] = value
    message = _refused(cfg)
    assert f"optim.{field}" in message and "finite" in message


def test_each_bad_value_is_reported_even_when_the_rest_is_valid():
    """A config fixed after its refusal validates: validate has no memory, no side effects."""
    cfg = _config([])
    cfg.model.hidden = 0
    _refused(cfg)
    cfg.model.hidden = 3
    validate(cfg)


def test_log_every_equal_to_steps_is_allowed():
    validate(_config(["train.steps=100", "train.log_every=100"]))


def test_logistic_and_perceptron_ignore_hidden_size():
    """No hidden layer: model.hidden=0 is what their files say, and it is valid."""
    for model in ("logistic", "perceptron"):
        cfg = _config([f"model={model}"])
        assert hidden_layers(cfg) == 0
        validate(cfg)
        assert ignored_settings(cfg) == {}


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["model.depth=3"], "model.depth"),
        (["model=logistic", "model.hidden=8"], "model.hidden"),
        (["model=perceptron", "data=blobs", "model.activation=relu"], "model.activation"),
        (["model.leaky_slope=0.2"], "model.leaky_slope"),
        (["model=deep", "model.init_scale=0.5"], "model.init_scale"),  # deep inits by he
        (["optim.momentum=0.5"], "optim.momentum"),
        (["optim.b1=0.5"], "optim.b1"),
        (["data.n_samples=100"], "data.n_samples"),  # flower is fixed at 400
        (["data=blobs", "data.noise=0.5"], "data.noise"),
    ],
)
def test_values_a_job_ignores_are_named(overrides, key):
    cfg = _config(overrides)
    validate(cfg)  # valid values: only the model ignores them
    assert list(ignored_settings(cfg)) == [key]


def test_defaults_and_model_files_say_nothing_a_job_ignores():
    for overrides in (
        [],
        ["model=logistic"],
        ["model=perceptron", "data=blobs"],
        ["model=deep"],
        ["optim=adam"],
        ["optim=momentum"],
        ["data=moons"],
        ["data=breast_cancer"],
    ):
        assert ignored_settings(_config(overrides)) == {}, overrides


# -- schema errors: Hydra refuses them while composing --------------------------------------


@pytest.mark.parametrize(
    "override, key",
    [
        ("model.hiden=4", "model.hiden"),
        ("optim.lr=fast", "optim.lr"),
        ("train.steps=many", "train.steps"),
        ("train.batch_size=half", "train.batch_size"),
    ],
)
def test_schema_refuses_unknown_key_or_wrong_type_at_compose_time(override, key):
    with pytest.raises((ConfigCompositionException, OmegaConfBaseException)) as info:
        _compose([override])
    assert key in str(info.value)


def test_unknown_group_option_is_refused_at_compose_time():
    with pytest.raises(ConfigCompositionException) as info:
        _compose(["model=resnet"])
    assert "model/resnet" in str(info.value)


@pytest.mark.parametrize("name", ["relu sweep", "lr-0.1_v2", "été", "x" * 255])
def test_an_experiment_name_that_is_one_folder_name_is_allowed(name):
    validate(_config([f"tracking.experiment='{name}'"]))
