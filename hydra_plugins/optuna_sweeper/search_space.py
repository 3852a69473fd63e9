"""The experiment file's search space, as Optuna distributions.

`hydra.sweeper.params` (and any sweep on the command line) is written in Hydra's own override
syntax and parsed by Hydra's public parser; each sweep becomes one Optuna distribution:

  choice(1, 2, 50) or 1,2,50       CategoricalDistribution (the values as written)
  range(1, 10) / range(1, 10, 2)   IntDistribution over the values the range holds (stop excluded);
                                   a float range a FloatDistribution with that step
  interval(0.001, 3.0)             FloatDistribution(low, high)
  tag(log, interval(...))          the same on a log scale
  tag(int, interval(1, 50))        IntDistribution(1, 50) (may be combined with log)
  anything else (lr=0.5)           a fixed override, passed to every trial as written

Anything else (an empty range, interval(3, 1), a log scale that reaches 0, an unknown tag,
`choice()`) is refused with a `SearchSpaceError` naming the key, what was written and what is
allowed. Optuna is imported only when distributions are built (Hydra imports this module
while it scans for plugins, on every command).
"""

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from pipeline.config import ConfigError

ALLOWED = (
    "choice(a, b, ...), a,b,..., range(start, stop[, step]), interval(low, high), "
    "tag(log, interval(low, high)), tag(int, interval(low, high)) or one value"
)
TAGS = ("log", "int")


class SearchSpaceError(ConfigError):
    """A malformed search space: one line naming the key, the value and what is allowed."""


@dataclass
class SearchSpace:
    distributions: Dict[str, Any] = field(default_factory=dict)  # key -> optuna distribution
    fixed: List[str] = field(default_factory=list)  # overrides every trial gets as they are

    def overrides(self, params: Mapping[str, Any]) -> List[str]:
        """One trial's overrides: the fixed ones, then each sampled value in Hydra's syntax."""
        return [*self.fixed, *(f"{key}={format_value(params[key])}" for key in self.distributions)]


def format_value(value: Any) -> str:
    """A sampled value written back as a Hydra override value (floats in full: the job trains
    with exactly the value Optuna is told about)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)  # ints, and strings as written in the experiment file (already quoted)


def short(value: Any) -> str:
    """A value as printed in progress lines: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else format_value(value)


def parse_search_space(params: Optional[Mapping[str, Any]], arguments: Sequence[str] = ()) -> SearchSpace:
    """`hydra.sweeper.params` plus the command line's overrides -> a SearchSpace.

    A key swept on the command line replaces the same key of `params`; the command line's plain
    overrides (not sweeps) are passed to every trial, as Hydra's own sweepers do.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    lines = [f"{key}={value}" for key, value in (params or {}).items()]
    parsed = []
    for line in [*lines, *arguments]:
        try:
            (override,) = parser.parse_overrides([line])
        except HydraException as error:
            reason = " ".join(str(error).split("\n")[1:2]).strip() or str(error).splitlines()[0]
            raise SearchSpaceError(f"search space {line!r} does not parse ({reason}); allowed: {ALLOWED}") from None
        parsed.append((line, override))

    space = SearchSpace()
    by_key: Dict[str, Any] = {}
    for line, override in parsed:
        key = override.get_key_element()
        if override.is_sweep_override():
            by_key[key] = distribution_of(line, override)
        elif line in lines:  # a fixed value in `params`, overridden by the same key on the command line
            by_key[key] = line
        else:
            by_key.pop(key, None)
            space.fixed.append(line)
    for key, value in by_key.items():
        if isinstance(value, str):
            space.fixed.insert(0, value)
        else:
            space.distributions[key] = value
    if not space.distributions:
        raise SearchSpaceError(f"hydra.sweeper.params declares nothing to search; give at least one key as {ALLOWED}")
    return space


def distribution_of(line: str, override: Any) -> Any:
    """One sweep override -> one Optuna distribution (or SearchSpaceError)."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep, Transformer
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    unknown = sorted(set(getattr(value, "tags", ()) or ()) - set(TAGS))
    if unknown:
        raise SearchSpaceError(f"search space {line!r}: unknown tag {unknown[0]!r}; allowed tags: {', '.join(TAGS)}")

    if isinstance(value, IntervalSweep):
        low, high, log = value.start, value.end, "log" in value.tags
        if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise SearchSpaceError(f"search space {line!r}: interval(low, high) needs finite low < high")
        if log and low <= 0:
            raise SearchSpaceError(f"search space {line!r}: a log scale needs low > 0")
        if "int" in value.tags:
            ilow, ihigh = math.ceil(low), math.floor(high)
            if ilow > ihigh:
                raise SearchSpaceError(f"search space {line!r}: no integer lies between low and high")
            return IntDistribution(ilow, ihigh, log=log)
        return FloatDistribution(float(low), float(high), log=log)

    if isinstance(value, RangeSweep):
        values = list(override.sweep_iterator(transformer=Transformer.identity))
        if not values:
            raise SearchSpaceError(
                f"search space {line!r}: the range holds no value; "
                "range(start, stop, step) needs start < stop for step > 0"
            )
        if "log" in value.tags:
            raise SearchSpaceError(f"search space {line!r}: tag(log, ...) applies to interval(...) only")
        if value.shuffle or value.step < 0 or len(values) == 1:
            return CategoricalDistribution(sorted(values))
        if all(isinstance(v, int) for v in values):
            return IntDistribution(values[0], values[-1], step=int(value.step))
        return FloatDistribution(float(values[0]), float(values[-1]), step=float(value.step))

    if isinstance(value, ChoiceSweep):
        if "log" in value.tags:
            raise SearchSpaceError(f"search space {line!r}: tag(log, ...) applies to interval(...) only")
        encoded = list(override.sweep_iterator(transformer=Transformer.encode))
        plain = list(override.sweep_iterator(transformer=Transformer.identity))
        choices = [p if p is None or isinstance(p, (bool, int, float)) else e for p, e in zip(plain, encoded)]
        if not choices:
            raise SearchSpaceError(f"search space {line!r}: choice() needs at least one value; allowed: {ALLOWED}")
        if len(set(map(repr, choices))) != len(choices):
            raise SearchSpaceError(f"search space {line!r}: a value is listed twice")
        return CategoricalDistribution(choices)

    raise SearchSpaceError(
        f"search space {line!r}: {type(value).__name__} sweeps are not supported; allowed: {ALLOWED}"
    )
