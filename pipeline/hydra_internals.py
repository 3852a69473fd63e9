"""Every use of Hydra's (and OmegaConf's) private API, behind one door, each with why and with
a public fallback.

Hydra 1.3's public API composes one config at a time; a sweep of many jobs is faster when
most jobs are derived from a composed sibling (pipeline/composing.py) and when the grid is
expanded as Hydra's own sweeper expands it. Those need functions Hydra does not export. If a
Hydra release renames or drops one of them, the function here says so once (a warning) and
the caller takes the public path: every job composed by Hydra itself, slower but the same.
tests/test_hydra_internals.py removes each one and checks that sweeps still compose right.
"""

from __future__ import annotations

import importlib
import itertools
import logging
from typing import Any, Optional, Sequence

import yaml
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobStatus
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
_warned: set[str] = set()

# The private names used, as `module:attribute.path`. A Hydra release that renames one makes
# its lookup fail; tests rename them here to check each fallback.
PRIVATE = {
    "apply_overrides": "hydra._internal.config_loader_impl:ConfigLoaderImpl._apply_overrides_to_config",
    "overrides_dirname": "hydra._internal.config_loader_impl:get_overrides_dirname",
    "split_arguments": "hydra._internal.core_plugins.basic_sweeper:BasicSweeper.split_arguments",
    "yaml_dumper": "omegaconf._utils:get_omega_conf_dumper",  # OmegaConf's, which Hydra's own files use
}
CONFIG_REPOSITORY = "_parse_overrides_and_create_caching_repo"  # a method of Hydra's config loader


def _private(use: str) -> Any:
    """The private function for `use`; Unavailable (with one warning) if it is not there."""
    module_name, _, path = PRIVATE[use].partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in path.split("."):
            target = getattr(target, part)
        return target
    except (ImportError, AttributeError) as error:
        raise _missing(PRIVATE[use], error) from None


class Unavailable(Exception):
    """A private Hydra function is missing or behaves differently: take the public path."""


def _missing(
    name: str, error: BaseException, instead: str = "composing with Hydra's public API instead (slower, same configs)"
) -> Unavailable:
    if name not in _warned:
        _warned.add(name)
        log.warning("Hydra's internal %s is not available (%s: %s); %s", name, type(error).__name__, error, instead)
    return Unavailable(name)


def apply_overrides(overrides: list[Override], config: DictConfig) -> None:
    """Apply plain `key=value` overrides to a composed config exactly as Hydra applies them after
    composing (`ConfigLoaderImpl._apply_overrides_to_config`): the derivation of a job's
    config from its sibling's is only right if it is Hydra's own step."""
    apply = _private("apply_overrides")
    try:
        apply(overrides, config)
    except TypeError as error:  # its signature changed
        raise _missing(PRIVATE["apply_overrides"], error) from None


def overrides_dirname(overrides: list[Override], kv_sep: str, item_sep: str, exclude_keys: list[str]) -> str:
    """`hydra.job.override_dirname` as Hydra computes it (`get_overrides_dirname`), for a derived config."""
    dirname = _private("overrides_dirname")
    try:
        return dirname(overrides=overrides, kv_sep=kv_sep, item_sep=item_sep, exclude_keys=exclude_keys)
    except TypeError as error:
        raise _missing(PRIVATE["overrides_dirname"], error) from None


def config_repository(loader: Any, config_name: Optional[str], hydra_overrides: list[str]) -> Any:
    """The config repository as Hydra sees it for a sweep (search path included), to tell a
    config group (`data=moons`) from a plain key (`optim.lr=0.5`):
    `ConfigLoaderImpl._parse_overrides_and_create_caching_repo`."""
    try:
        _, repository = getattr(loader, CONFIG_REPOSITORY)(config_name, hydra_overrides)
        repository.group_exists  # noqa: B018 (the one method used; checked here, not mid-sweep)
        return repository
    except (AttributeError, TypeError, ValueError) as error:
        raise _missing(f"ConfigLoaderImpl.{CONFIG_REPOSITORY}", error) from None


def split_sweep_arguments(overrides: list[Override]) -> list[list[str]]:
    """Every job's overrides, in the order Hydra's basic sweeper launches them
    (`BasicSweeper.split_arguments`); the public fallback expands the same product itself."""
    try:
        (jobs,) = _private("split_arguments")(overrides, None)
        return [list(job) for job in jobs]
    except Unavailable:
        return _product(overrides)
    except (TypeError, ValueError) as error:
        _missing(PRIVATE["split_arguments"], error)
        return _product(overrides)


def _product(overrides: Sequence[Override]) -> list[list[str]]:
    """The cartesian product of the swept values, the last key varying fastest (as Hydra does)."""
    axes = []
    for override in overrides:
        key = override.get_key_element()
        values = (
            list(override.sweep_string_iterator())
            if override.is_sweep_override()
            else [override.get_value_element_as_str()]
        )
        axes.append([f"{key}={value}" for value in values])
    return [list(job) for job in itertools.product(*axes)]


def plain_yaml(data: Any) -> str:
    """The YAML that `OmegaConf.to_yaml` writes for plain data (dicts, lists, scalars), written
    with OmegaConf's own dumper (`get_omega_conf_dumper`) without first building a config from
    the data: that round trip was three quarters of the cost, 3 ms of every job of a sweep.
    The public fallback is OmegaConf.to_yaml itself; tests/test_hydra_internals.py checks the bytes."""
    try:
        dumper = _private("yaml_dumper")()
    except Unavailable:
        return OmegaConf.to_yaml(data)
    return yaml.dump(data, Dumper=dumper, default_flow_style=False, allow_unicode=True, sort_keys=False)


def job_error(job_return: Any) -> Optional[BaseException]:
    """The exception a failed Hydra job raised; None for a job that completed.

    Hydra's public `return_value` re-raises it, but first writes "Error executing job with
    overrides: [...]" to stderr: a sweep that goes on past a failed job (the pipeline's line
    per job, an Optuna trial that failed) would print that beside its own line for the same
    job. So the private field `_return_value` is read; the public property is the fallback."""
    if job_return.status == JobStatus.COMPLETED:
        return None
    try:
        value = job_return._return_value
    except AttributeError as error:
        _missing(
            "hydra.core.utils:JobReturn._return_value", error, "reading failed jobs' errors through the public API"
        )
        try:
            job_return.return_value
        except Exception as raised:  # noqa: BLE001 (whatever the job raised is what we report)
            return raised
        return None
    return value if isinstance(value, BaseException) else RuntimeError(f"the job failed, returning {value!r}")
