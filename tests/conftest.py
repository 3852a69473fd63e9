"""Fixtures shared by the test files.

- `float64`: JAX's 64-bit mode for one test (`pytestmark = pytest.mark.usefixtures("float64")`
  in a file whose every test computes in float64).
- `compose`: a job's config from overrides, as Hydra composes it against the real conf/ folder
  (group choices composed once each and cached; plain values set through the schema's types).
- `store`: a temporary SQLite tracking store: its URI, its folder.
- `cli`: the real command line (`python -m pipeline ...`) in a temporary folder (tests/_cli.py).
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace

import jax
import pytest

from pipeline.device import (
    DeviceError,
    enable_compilation_cache,
    float32_products_in_float32,
    take_gpu_memory_as_needed,
)

# As the pipeline does for every job (pipeline.device.select_device), so that the tests that train
# directly, in pytest-xdist's processes on a GPU machine, compute as a job does there.
take_gpu_memory_as_needed()
float32_products_in_float32()
# And JAX's persistent compilation cache, as every job has it: a run of the tests after the first
# takes the programs it compiled from the disk. Where its folder cannot be made, the tests run
# without it (the command line's own tests then fail with its one-line reason).
try:
    enable_compilation_cache()
except DeviceError:
    pass

CONF_DIR = (Path(__file__).resolve().parent.parent / "conf").resolve()
# experiment/ and lesson/ are appended (+experiment=..., +lesson=...), not chosen in the defaults list
GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name not in ("experiment", "lesson"))


@pytest.fixture
def float64():
    with jax.enable_x64(True):
        yield


def compose_config(overrides=(), hydra_config=False):
    """Hydra's compose API against conf/: the config of `overrides` (with its hydra node if asked)."""
    from hydra import compose, initialize_config_dir

    from pipeline.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=hydra_config)


@functools.lru_cache(maxsize=None)
def _composed(group_overrides: tuple, hydra_config: bool = False):
    return compose_config(group_overrides, hydra_config)


def config_of(overrides=(), hydra_config=False):
    """The config of `overrides`, for less than a full composition: group choices (and `+...`)
    are composed by Hydra once each and cached; `key=value` overrides are parsed by Hydra's
    override parser and set on a copy, through the schema's typed nodes, as Hydra would."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    groups = tuple(o for o in overrides if o.split("=")[0].lstrip("+~") in GROUPS or o.startswith("+"))
    cfg = _composed(groups, hydra_config).copy()
    values = [o for o in overrides if o not in groups]
    for override in OverridesParser.create().parse_overrides(values):
        OmegaConf.update(cfg, override.get_key_element(), override.value(), merge=False)
    return cfg


@pytest.fixture
def compose():
    return config_of


@pytest.fixture
def store(tmp_path):
    """A temporary SQLite store: .uri (sqlite:///...), .folder."""
    return SimpleNamespace(uri=f"sqlite:///{tmp_path}/mlflow.db", folder=tmp_path)


@pytest.fixture
def cli(tmp_path):
    """`cli(*overrides)`: `python -m pipeline OVERRIDES` in tmp_path, output captured."""
    from _cli import run_cli

    return functools.partial(run_cli, tmp_path)
