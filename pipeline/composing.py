"""Each job's config of a sweep, composed by Hydra once per shape instead of once per job.

Hydra composes every job of a sweep from scratch: the defaults list, every config file, the
schema, the merge. That costs about 0.1 s a job on this machine, and a sweep pays it
several times over (the up-front check in pipeline/sweep.py, the sweeper's
`validate_batch_is_legal`, the launcher), more than a small network takes to train.

Most jobs of a sweep differ from each other only in plain values (`optim.lr=0.5`,
`train.seed=3`), which Hydra applies after composing, with
`ConfigLoaderImpl._apply_overrides_to_config`. So `JobComposer` composes one job per *shape*
(the same config-group choices, the same plain keys) with Hydra's own loader, and derives
its siblings from it by applying their plain values with that same function, as Hydra
would. Anything else (a config group, `+key`, `~key`, a `hydra.*` override) gives a shape
of its own, composed by Hydra. The derivation is checked, not assumed: the second job of
each shape is also composed by Hydra and must come out equal, or the shape falls back to
Hydra's composition for every job. Hydra's private functions are reached through
pipeline/hydra_internals.py; if one is missing, every job is composed by Hydra.

The check before a sweep starts (pipeline/admission.py) composes nothing more: `to_check`
gives each job's values as plain Python (`ConfigView`), its shape's with its own set, each
distinct value converted once by Hydra's own step. A grid of 10,000 jobs is checked in
seconds; each job is composed when the launcher gets its chunk of the grid (a copy of its
shape's template, unpickled, with its values applied).
"""

from __future__ import annotations

import copy
import logging
import pickle
from typing import Any, Optional, Sequence

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import Container, DictConfig, OmegaConf, open_dict

from pipeline import hydra_internals

log = logging.getLogger(__name__)


class JobComposer:
    """The configs of one sweep's jobs; `master` is the sweep's own config (`hydra -m ...`)."""

    def __init__(self, loader: ConfigLoader, master: DictConfig):
        self.loader, self.master = loader, master
        self.parser = OverridesParser.create()
        self.shapes: dict[tuple, _Shape] = {}
        self._checked: dict[tuple[str, ...], DictConfig] = {}
        self._repository = None
        self._parsed: dict[str, Override] = {}
        self._plain: dict[str, bool] = {}
        # The jobs the up-front check admitted (pipeline/admission.py: admit_sweep); the launcher
        # does not check them again, chunk by chunk.
        self.admitted: set[tuple[str, ...]] = set()
        # A search sweeper checked the ends of its space together (hydra_plugins/optuna_sweeper:
        # probe): a value no job reads was looked for over the whole search, so a round's trials
        # are checked each alone; two logistic trials of model=choice(logistic, shallow) are not
        # refused for the model.activation the search's shallow trials read.
        self.search_checked = False

    def compose(self, overrides: Sequence[str], *, to_read: bool = False) -> DictConfig:
        """The job's config, equal to `loader.load_sweep_config(master, overrides)`.

        to_read: the config is only read, to validate it, before the next call: then the
        values are applied to a scratch copy of the shape's template, sparing a deep copy.
        """
        parsed = self._parse(overrides)
        if any(o.is_hydra_override() for o in parsed):
            return self._by_hydra(overrides)
        shape_key, plain = self._shape_of(parsed)
        shape = self.shapes.get(shape_key)
        if shape is None:  # the first job of its shape: Hydra composes it, and it is the template
            shape = self.shapes[shape_key] = _Shape(self._by_hydra(overrides))
            return copy.deepcopy(shape.template)
        if shape.derivable is None:  # the second: derived, and checked against Hydra's own
            composed = self._by_hydra(overrides)
            try:
                shape.derivable = _same(self._derive(copy.deepcopy(shape.template), parsed, plain), composed)
            except hydra_internals.Unavailable:
                shape.derivable = False
                return composed
            if not shape.derivable:
                log.warning(
                    "deriving the config of job '%s' did not give Hydra's: this sweep's jobs "
                    "of its shape are composed one by one",
                    " ".join(overrides),
                )
            return composed
        if not shape.derivable:
            return self._by_hydra(overrides)
        if to_read:
            if shape.scratch is None:
                shape.scratch = copy.deepcopy(shape.template)
            return self._derive(shape.scratch, parsed, plain)  # every plain key of the shape is set anew
        return self._derive(shape.copy(), parsed, plain)

    def to_check(self, overrides: Sequence[str]) -> Any:
        """The job's values, only to check them (pipeline/admission.py), without composing the job.

        A job of a shape Hydra has composed, and whose derivation was checked (its first two
        jobs, composed here through `compose`), differs from the shape's template only in its
        plain values. Each distinct value is applied once, by Hydra's own function (a value of
        the wrong type is refused as Hydra refuses it), and the job is the template's values,
        as plain Python, with its own values set: a `ConfigView`, read like the DictConfig. A
        grid of 10,000 jobs is checked in about a second, not composed for minutes. Anything
        else (a dict or list value, an interpolation, a template with interpolations or
        missing values) is composed to read, as `compose(overrides, to_read=True)`."""
        parsed = self._parse(overrides)
        if any(o.is_hydra_override() for o in parsed):
            return self.compose(overrides, to_read=True)
        shape_key, plain = self._shape_of(parsed)
        shape = self.shapes.get(shape_key)
        if shape is None or not shape.derivable or shape.view() is None:
            return self.compose(overrides, to_read=True)
        values = {}
        for override in plain:
            value = shape.value_of(override)
            if value is _COMPOSE:
                return self.compose(overrides, to_read=True)
            values[override.key_or_group] = value
        base = shape.view()
        assert base is not None  # checked above
        return base.with_values(values)

    def take(self, overrides: Sequence[str]) -> DictConfig:
        """`compose`, or the config composed for the sweeper's check of this batch (it keeps none)."""
        checked = self._checked.pop(tuple(overrides), None)
        return checked if checked is not None else self.compose(overrides)

    def compose_for_check(self, overrides: Sequence[str]) -> DictConfig:
        """`compose`, kept for the launcher to `take`: a sweeper composes every job of a batch
        to check it (`Sweeper.validate_batch_is_legal`), then launches the batch."""
        config = self._checked[tuple(overrides)] = self.compose(overrides)
        return config

    def _by_hydra(self, overrides: Sequence[str]) -> DictConfig:
        return self.loader.load_sweep_config(self.master, list(overrides))

    def _derive(self, config: DictConfig, parsed: list[Override], plain: list[Override]) -> DictConfig:
        """What Hydra's composition gives for this job, from a copy of its shape's template."""
        hydra_internals.apply_overrides(plain, config)  # as Hydra applies them
        dirname = config.hydra.job.config.override_dirname
        with open_dict(config.hydra):
            config.hydra.overrides.task = [o.input_line for o in parsed]
            config.hydra.job.override_dirname = hydra_internals.overrides_dirname(
                parsed, dirname.kv_sep, dirname.item_sep, list(dirname.exclude_keys)
            )
        OmegaConf.copy_cache(from_config=self.master, to_config=config)
        return config

    def _parse(self, overrides: Sequence[str]) -> list[Override]:
        """Hydra's parse of each override, once per distinct override of the sweep (parsing is
        the slow part of a job's overrides: a grid of 10,000 jobs has a few dozen distinct ones)."""
        parsed = []
        for line in overrides:
            override = self._parsed.get(line)
            if override is None:
                (override,) = self.parser.parse_overrides([line])
                self._parsed[line] = override
            parsed.append(override)
        return parsed

    def _shape_of(self, parsed: list[Override]) -> tuple[tuple, list[Override]]:
        """(the job's shape: its other overrides and its plain keys, its plain overrides)."""
        is_plain = [self._is_plain(o) for o in parsed]
        plain = [o for o, p in zip(parsed, is_plain) if p]
        others = [o.input_line for o, p in zip(parsed, is_plain) if not p]
        return (tuple(others), tuple(o.key_or_group for o in plain)), plain

    def _is_plain(self, override: Override) -> bool:
        line = _line(override)
        plain = self._plain.get(line)
        if plain is None:
            plain = self._plain[line] = self._is_plain_value(override)
        return plain

    def _is_plain_value(self, override: Override) -> bool:
        """A value Hydra applies after composing (not a config group, not added or deleted)."""
        if override.is_hydra_override() or override.is_add() or override.is_delete() or override.package:
            return False
        if isinstance(override.value(), dict):
            return True  # Hydra merges a dict value as a config value, even at a group's key
        repository = self._groups()
        if repository is None:  # without Hydra's repository, no value is known to be plain
            return False
        return not repository.group_exists(override.key_or_group)

    def _groups(self):
        """The config repository as Hydra sees it for this sweep (its search path included), or
        None if Hydra's internals to build it are missing (then every job is composed by Hydra)."""
        if self._repository is None:
            try:
                self._repository = hydra_internals.config_repository(
                    self.loader, self.master.hydra.job.config_name, list(self.master.hydra.overrides.hydra)
                )
            except hydra_internals.Unavailable:
                self._repository = False
        return self._repository or None


class _Shape:
    def __init__(self, template: DictConfig):
        self.template = template
        self.derivable: Optional[bool] = None  # unknown until the second job is checked
        self.scratch: Optional[DictConfig] = None  # for configs that are only read
        self._values: Any = _UNSET  # the template's values as plain Python (not `hydra`), for checks
        self._converted: dict[str, Any] = {}  # each plain override's value, as Hydra applies it
        self._pickled: Optional[bytes] = None

    def copy(self) -> DictConfig:
        """A copy of the template, from its pickled bytes: half the time of a deep copy (each job
        of a sweep is one). `_derive` copies the sweep's resolver cache into it, as into any copy."""
        if self._pickled is None:
            self._pickled = pickle.dumps(self.template, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(self._pickled)

    def view(self) -> Optional[ConfigView]:
        """The template's values but `hydra`, as plain Python; None if reading them so would not
        be what the DictConfig reads (an interpolation, a missing value)."""
        if self._values is _UNSET:
            data = OmegaConf.to_container(self.template, resolve=False)
            assert isinstance(data, dict)
            data.pop("hydra", None)
            self._values = None if _has_references(data) else ConfigView(data)
        return self._values

    def value_of(self, override: Override) -> Any:
        """The value Hydra's step sets for this plain override (type-converted by the schema, or
        refused), applied once to the shape's scratch copy; _COMPOSE if it is not a plain scalar."""
        line = _line(override)
        if line not in self._converted:
            value: Any = _COMPOSE
            if "${" not in line and not isinstance(override.value(), (dict, list)):
                if self.scratch is None:
                    self.scratch = copy.deepcopy(self.template)
                hydra_internals.apply_overrides([override], self.scratch)  # as Hydra applies it
                value = OmegaConf.select(self.scratch, override.key_or_group)
                if isinstance(value, Container):
                    value = _COMPOSE
            self._converted[line] = value
        return self._converted[line]


def _line(override: Override) -> str:
    """The override as typed (every override here comes from Hydra's parser, which keeps it)."""
    assert override.input_line is not None
    return override.input_line


_UNSET = object()
_COMPOSE = object()  # a value the cheap check does not read: the job is composed to read


def _has_references(data: Any) -> bool:
    """Any interpolation or missing value (OmegaConf's "???") in a plain container."""
    if isinstance(data, dict):
        return any(_has_references(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_references(v) for v in data)
    return isinstance(data, str) and ("${" in data or data == "???")


class ConfigView:
    """A job's values as plain Python, read as its DictConfig is read (`cfg.model.hidden`):
    what the checks of pipeline/admission.py read, at a fraction of a composed config's cost.
    Plain attributes (no lookup hook); a job's view shares its shape's sub-views but those on
    the paths of its own values."""

    def __init__(self, data: dict):
        for key, value in data.items():
            object.__setattr__(self, key, ConfigView(value) if isinstance(value, dict) else value)

    def with_values(self, values: dict[str, Any]) -> ConfigView:
        """This view with each dotted key set to its value; only the views on those keys' paths are copied."""
        root = self._copy()
        copied: dict[tuple[str, ...], ConfigView] = {(): root}
        for key, value in values.items():
            *path, last = key.split(".")
            node = root
            at: tuple[str, ...] = ()
            for part in path:
                at += (part,)
                if at not in copied:
                    copied[at] = getattr(node, part)._copy()
                    object.__setattr__(node, part, copied[at])
                node = copied[at]
            object.__setattr__(node, last, value)
        return root

    def _copy(self) -> ConfigView:
        copy_ = object.__new__(ConfigView)
        copy_.__dict__.update(self.__dict__)
        return copy_

    def as_dict(self) -> dict:
        return {k: v.as_dict() if isinstance(v, ConfigView) else v for k, v in self.__dict__.items()}

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def __contains__(self, name: object) -> bool:
        return name in self.__dict__

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a ConfigView is read-only")

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__.get(name, default)

    def __repr__(self) -> str:
        return f"ConfigView({self.as_dict()!r})"


def _same(a: DictConfig, b: DictConfig) -> bool:
    return _equal(OmegaConf.to_container(a, resolve=False), OmegaConf.to_container(b, resolve=False))


def _equal(a: Any, b: Any) -> bool:
    """Plain containers equal, NaN equal to NaN: a job with optim.lr=nan is derived as Hydra composes
    it (then refused by the checks, as a NaN rate must be), not reported as a failed derivation."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return bool(a == b)


# One composer for the sweep running now: the up-front check (pipeline/sweep.py), the sweeper
# and the batched launcher all receive the same master config object from Hydra.
_current: Optional[JobComposer] = None


def composer_for(loader: ConfigLoader, master: DictConfig) -> JobComposer:
    global _current
    if _current is None or _current.master is not master:
        _current = JobComposer(loader, master)
    return _current


class DerivingConfigLoader(ConfigLoader):
    """Hydra's config loader, with `load_sweep_config` going through the sweep's JobComposer."""

    def __init__(self, inner: ConfigLoader):
        self.inner = inner

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        return composer_for(self.inner, master_config).compose_for_check(sweep_overrides)

    def load_configuration(self, *args, **kwargs):
        return self.inner.load_configuration(*args, **kwargs)

    def get_search_path(self):
        return self.inner.get_search_path()

    def get_sources(self):
        return self.inner.get_sources()

    def list_groups(self, parent_name):
        return self.inner.list_groups(parent_name)

    def get_group_options(self, *args, **kwargs):
        return self.inner.get_group_options(*args, **kwargs)

    def compute_defaults_list(self, *args, **kwargs):
        return self.inner.compute_defaults_list(*args, **kwargs)

    def __getattr__(self, name):  # anything else Hydra's implementation offers
        return getattr(self.inner, name)
