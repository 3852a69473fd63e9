"""What a sweep varies: its grid as declared, every job's overrides, and short labels for them.

Shared by the sweep's callback (pipeline/sweep.py: progress lines) and its summary
(pipeline/summary.py: the table, the plots), so neither imports the other.
"""

from __future__ import annotations

from typing import Iterable, Optional

from omegaconf import DictConfig

from pipeline import hydra_internals

SEARCH_FUNCTIONS = ("range(", "choice(", "interval(", "tag(", "glob(")


def swept_keys(config: DictConfig) -> dict[str, str]:
    """{key: "v1,v2,..."} for every key the sweep varies (its grid or search space, as declared)."""
    params = dict(config.hydra.sweeper.get("params") or {})
    for override in config.hydra.overrides.task:
        key, _, value = override.partition("=")
        if "," in value or value.startswith(SEARCH_FUNCTIONS):
            params[key.lstrip("+~")] = value
    return {str(k): str(v) for k, v in params.items()}


def remember_swept(parent_run_id: str, keys: Iterable[str]) -> None:
    """Note the keys the sweep of `parent_run_id` varies, for its jobs in this process to name
    their runs by (pipeline/job.py); a worker process reads them from the parent run instead."""
    _swept_by_parent[parent_run_id] = tuple(keys)


def remembered_swept(parent_run_id: str) -> Optional[tuple[str, ...]]:
    """The keys noted for the sweep of `parent_run_id` in this process; None if none were."""
    return _swept_by_parent.get(parent_run_id)


_swept_by_parent: dict[str, tuple[str, ...]] = {}


def expand_grid(config: DictConfig) -> list[list[str]]:
    """Every job's overrides, as Hydra's basic sweeper will launch them (its own expansion).

    Returns [] for other sweepers (Optuna's search spaces are not a grid).
    """
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if "BasicSweeper" not in str(config.hydra.sweeper.get("_target_", "")):
        return []
    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += list(config.hydra.overrides.task)
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    return hydra_internals.split_sweep_arguments(parser.parse_overrides(arguments))


def counted(total: int, noun: str) -> str:
    """ "1 job", "8 jobs", "? jobs" (a search sweeper that does not say how many trials)."""
    return f"{total} {noun}" if total == 1 else f"{total or '?'} {noun}s"


def short_value(value: object, digits: int = 3) -> str:
    """A value as a person reads it: numbers to `digits` significant digits (0.08096384 -> 0.081,
    1e-05 stays 1e-05), integers and text unchanged."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    if text.lstrip("+-").isdigit():
        return text
    return f"{number:.{digits}g}" if number == number else text


def short_name(key: str) -> str:
    """The last part of a dotted key: optim.lr -> lr, model.hidden -> hidden."""
    return key.rsplit(".", 1)[-1]


def job_label(overrides: list[str], swept: set[str] | dict, *, short_keys: bool = False) -> str:
    """The swept values of a job's overrides, short: "model.hidden=50 optim.lr=0.081"."""
    parts = []
    for override in overrides:
        key, _, value = override.partition("=")
        key = key.lstrip("+~")
        if key in swept:
            parts.append(f"{short_name(key) if short_keys else key}={short_value(value)}")
    return " ".join(parts) or "job"
