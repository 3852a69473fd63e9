"""`hydra/sweeper=optuna`: a Hydra sweeper on Optuna's ask-and-tell API.

Each round asks the study for `n_jobs` trials, hands them to the launcher in ONE `launch` call
(so `hydra/launcher=batched` trains the round as one compiled program), and tells each trial
its job's objective (`float(JobResult)`). TPE samples a round with the constant liar (the
trials still running count as bad ones), so the trials of one round spread out.

- `direction: auto` (the default) is the objective's own: maximize an accuracy, minimize an
  RMSE; a direction against it is refused.
- `storage` (an RDB URL, `sqlite:///optuna.db`) with `study_name`: the study is loaded if it
  exists, and continued only as the same search (direction, search space, and the config its
  trials share); its told trials count toward `n_trials` and are never trained again; trials
  a stopped search had asked but not told are told FAIL and their values asked again first.
- A job that failed (JobResult FAILED, a non-finite objective, or a job that raised) is told
  FAIL, never a number.
- At the end the study's best trial is tagged on the sweep's MLflow parent run
  (`optuna.best.*`), and Optuna's own plots (optimisation history, parameter importances,
  slice) are saved on it as PNG artifacts under `optuna/`.
- Bad input is refused in one line by `OptunaSweeper.check`, which pipeline.sweep runs before
  any run exists: the settings, the search space, and the trials at its ends, composed and
  checked as a grid's jobs are (pipeline/admission.py).

(No `from __future__ import annotations` here: Hydra's plugin scan executes this module
outside sys.modules, where dataclasses cannot resolve string annotations. Optuna is imported
only when a sweep starts: this module is imported by every command.)
"""

import logging
import math
import re
import tempfile
import warnings
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, cast

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from pipeline import interrupts
from pipeline.config import max_jobs

from hydra_plugins.optuna_sweeper.search_space import SearchSpace, SearchSpaceError, parse_search_space, short

log = logging.getLogger(__name__)


class Direction(Enum):
    auto = "auto"  # the objective's own sense: maximize an accuracy, minimize an RMSE
    minimize = "minimize"
    maximize = "maximize"


class SamplerName(Enum):
    tpe = "tpe"  # Tree-structured Parzen Estimator; a round of n_jobs uses the constant liar
    random = "random"
    cmaes = "cmaes"  # CMA-ES (continuous parameters; the others are sampled at random)
    gp = "gp"  # Gaussian process (needs PyTorch, which is not a dependency)


@dataclass
class SamplerConf:
    name: SamplerName = SamplerName.tpe
    seed: Optional[int] = None
    # Trials sampled at random before TPE, CMA-ES or GP models the results.
    n_startup_trials: int = 10


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.optuna_sweeper.optuna_sweeper.OptunaSweeper"
    direction: Direction = Direction.auto
    n_trials: int = 20  # trials in the study, those told by earlier runs of it included
    n_jobs: int = 1  # trials asked at once and launched together (one batched program)
    study_name: Optional[str] = None
    storage: Optional[str] = None  # an RDB URL (sqlite:///optuna.db); None: in memory, no resume
    sampler: SamplerConf = field(default_factory=SamplerConf)
    params: Optional[Dict[str, str]] = None  # key: search space, in Hydra's override syntax


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="pipeline")


SEEDS = 2**32  # the samplers' seeds lie in [0, SEEDS)


def say(line: str) -> None:
    """A progress line, printed as the sweep's own lines are (pipeline/sweep.py)."""
    print(line, flush=True)


def _name(value: Any) -> str:
    return str(getattr(value, "name", value))


def _redacted(url: str) -> str:
    """A storage URL without its password, for messages and tags."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def check_settings(n_trials: int, n_jobs: int, sampler: Dict[str, Any]) -> None:
    names = [s.name for s in SamplerName]
    if _name(sampler.get("name")) not in names:
        raise SearchSpaceError(
            f"hydra.sweeper.sampler.name={_name(sampler.get('name'))!r} is not allowed; choose one of: {', '.join(names)}"
        )
    if n_trials < 1:
        raise SearchSpaceError(f"hydra.sweeper.n_trials={n_trials} is not allowed; it must be >= 1")
    if n_jobs < 1:
        raise SearchSpaceError(f"hydra.sweeper.n_jobs={n_jobs} is not allowed; it must be >= 1")
    seed, startup = sampler.get("seed"), sampler.get("n_startup_trials", 10)
    if seed is not None and not (isinstance(seed, int) and 0 <= seed < SEEDS):
        # NumPy's RandomState, behind every Optuna sampler, takes seeds in [0, 2**32).
        raise SearchSpaceError(
            f"hydra.sweeper.sampler.seed={seed!r} is not allowed; it must be null or an integer in [0, 2**32 - 1]"
        )
    if not (isinstance(startup, int) and startup >= 0):
        raise SearchSpaceError(
            f"hydra.sweeper.sampler.n_startup_trials={startup!r} is not allowed; it must be an integer >= 0 "
            "(trials sampled at random before the sampler models the results)"
        )
    if sampler["name"] == "gp":
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            raise SearchSpaceError(
                "hydra.sweeper.sampler.name=gp needs PyTorch, which is not installed "
                "(pip install torch); or choose one of: tpe, random, cmaes"
            )


def check_setting_names(settings: Any) -> None:
    """A setting the sweeper does not have (`+hydra.sweeper.pruner=median`) is refused, naming
    the ones it has, rather than failing as an unexpected argument once the sweep starts."""
    for path, given, schema in (
        ("hydra.sweeper", settings, OptunaSweeperConf),
        ("hydra.sweeper.sampler", settings.get("sampler") or {}, SamplerConf),
    ):
        known = [f.name for f in fields(schema) if not f.name.startswith("_")]
        unknown = [str(key) for key in given if key not in known and key != "_target_"]
        if unknown:
            raise SearchSpaceError(
                f"{path}.{unknown[0]} is not a setting of the Optuna sweeper; its settings under {path}: "
                + ", ".join(known)
            )


def check_storage(url: Optional[str], study_name: Optional[str], tracking_uri: Optional[str]) -> None:
    """A storage is for continuing a named study, in a database of its own."""
    if url is None:
        return
    if study_name is None:
        raise SearchSpaceError(
            f"hydra.sweeper.storage={_redacted(url)} without a study_name would start a new, unnamed study each "
            "time and continue none; give hydra.sweeper.study_name=NAME (or storage=null for an in-memory study)"
        )
    if tracking_uri is not None and _same_database(url, tracking_uri):
        raise SearchSpaceError(
            f"hydra.sweeper.storage={_redacted(url)} is the MLflow store (tracking.uri); Optuna's tables would "
            "share its database and its schema checks: give the study a database of its own, e.g. sqlite:///optuna.db"
        )


def _same_database(a: str, b: str) -> bool:
    """Two store URLs that name the same database: SQLite's by the file they open."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        first, second = make_url(a), make_url(b)
    except ArgumentError:  # not a database URL (an MLflow server's http://): open_storage says what is wrong
        return False
    if first.get_backend_name() == second.get_backend_name() == "sqlite":
        return bool(first.database) and Path(str(first.database)).resolve() == Path(str(second.database)).resolve()
    return first.set(password=None) == second.set(password=None)


def open_storage(url: Optional[str]) -> Any:
    """The study's storage, checked: None (in memory) or an RDB storage that answers."""
    if url is None:
        return None
    import optuna

    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
    except Exception as error:  # sqlalchemy's errors: a bad URL, no server, a folder that is missing
        reason = " ".join(str(error).split("\n")[0].split())[:200]
        raise SearchSpaceError(
            f"hydra.sweeper.storage={_redacted(url)} cannot be opened ({reason}); "
            "give an RDB URL that answers, e.g. sqlite:///optuna.db, or null for "
            "an in-memory study"
        ) from None


def _engine_kwargs(url: str) -> Dict[str, Any]:
    # A server that does not answer should be refused in seconds, not after TCP's minutes.
    if url.startswith(("postgresql", "mysql")):
        return {"connect_args": {"connect_timeout": 5}}
    return {}


# -- the trials' own configs, checked before the first is asked ---------------------------------

# The study's user attribute holding the config every trial of it shares (flat, the searched
# keys left out): a study continues only with the same.
SHARED_CONFIG_ATTR = "pipeline.shared_config"
# An objective's sense, by the task its data sets: an accuracy is better higher, an RMSE lower.
DIRECTION_OF_TASK = {"binary": "maximize", "regression": "minimize"}


@dataclass
class Probes:
    """What the configs of a search's trials say before any is asked: the tasks of their data
    (so the direction of their objective) and the config they all share, flat."""

    tasks: List[str]
    shared_config: Dict[str, Any]


class Checked(NamedTuple):
    space: SearchSpace
    storage: Any  # an Optuna RDBStorage, or None: in memory
    direction: str  # minimize | maximize, `auto` resolved
    probes: Optional[Probes]


def probe_trials(space: SearchSpace) -> List[List[str]]:
    """Trials at the ends of the search space, as overrides: every key at its first value, then
    each key in turn at each of its other ends (a float or integer range's high end, each of a
    choice's values), the others at their first. Every value a trial can take lies between ends
    that are checked, so a bad one is refused before the search starts."""

    def ends(distribution: Any) -> List[Any]:
        if hasattr(distribution, "choices"):
            return list(distribution.choices)
        return [distribution.low, distribution.high]

    firsts = {key: ends(d)[0] for key, d in space.distributions.items()}
    trials = [space.overrides(firsts)]
    for key, distribution in space.distributions.items():
        trials += [space.overrides({**firsts, key: end}) for end in ends(distribution)[1:]]
    return trials


def describe(distribution: Any) -> str:
    """An Optuna distribution in the search space's own syntax (messages)."""
    if hasattr(distribution, "choices"):
        return f"choice({', '.join(short(c) for c in distribution.choices)})"
    integer = type(distribution).__name__ == "IntDistribution"
    low, high, step = distribution.low, distribution.high, distribution.step
    if step is not None and not (integer and step == 1):
        return f"range({short(low)}, {short(high + step)}, {short(step)})"
    tags = [tag for tag, on in (("log", distribution.log), ("int", integer)) if on]
    inner = f"interval({short(low)}, {short(high)})"
    return f"tag({', '.join(tags)}, {inner})" if tags else inner


def check_value_types(space: SearchSpace, config: DictConfig) -> None:
    """A float interval over an integer key would give 36.04 hidden units: refused, with the
    integer interval to write instead."""
    from optuna.distributions import FloatDistribution

    for key, distribution in space.distributions.items():
        current = OmegaConf.select(config, key, default=None)
        if isinstance(distribution, FloatDistribution) and isinstance(current, int) and not isinstance(current, bool):
            log = "log, " if distribution.log else ""
            raise SearchSpaceError(
                f"search space '{key}={describe(distribution)}': {key} is an integer and an interval gives "
                f"floats; write {key}=tag({log}int, interval({short(distribution.low)}, {short(distribution.high)}))"
            )


def probe(space: SearchSpace, config: Optional[DictConfig]) -> Optional[Probes]:
    """Compose and check the trials at the search space's ends (pipeline/admission.py, as a
    grid's jobs are checked); None where there is no pipeline config to compose them from."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if config is None or "train" not in config or not GlobalHydra.instance().is_initialized():
        return None
    from pipeline.admission import admit_jobs
    from pipeline.composing import composer_for
    from pipeline.errors import one_line
    from pipeline.provenance import NOT_HASHED, flatten, resolved_config

    check_value_types(space, config)
    composer = composer_for(GlobalHydra.instance().config_loader(), config)
    searched = tuple(space.distributions)
    trials = probe_trials(space)
    shown = [trial[len(space.fixed) :] for trial in trials]  # a trial named by its searched values

    def refused(values: List[str], error: BaseException) -> SearchSpaceError:
        where = f"a trial at the ends of the search space: {' '.join(values)}"
        return SearchSpaceError(f"{one_line(error)} ({where})")

    def configs() -> Iterator[Any]:
        # One at a time, as a grid's jobs are checked (a view is read before the next is made).
        for trial, values in zip(trials, shown):
            try:
                yield composer.to_check(trial)
            except (ValueError, HydraException, OmegaConfBaseException) as error:
                raise refused(values, error) from None

    try:
        first = flatten(resolved_config(composer.compose(trials[0], to_read=True)))
    except (ValueError, HydraException, OmegaConfBaseException) as error:
        raise refused(shown[0], error) from None
    # All of them in one check, as a grid's: a value one trial ignores is allowed when another
    # reads it (model.activation over model=choice(logistic, shallow)).
    tasks = [dataset.task for dataset in admit_jobs(configs(), shown)]
    composer.search_checked = True  # the launcher checks a round's trials each alone
    shared = {
        key: value
        for key, value in first.items()
        if key.split(".")[0] not in NOT_HASHED and not any(key == s or key.startswith(f"{s}.") for s in searched)
    }
    return Probes(tasks=tasks, shared_config=shared)


def resolve_direction(direction: str, probes: Optional[Probes]) -> str:
    """minimize or maximize: `auto` as the trials' objective wants it; a direction that goes
    against the objective (minimizing an accuracy) is refused."""
    wanted = sorted({DIRECTION_OF_TASK.get(task, "maximize") for task in probes.tasks}) if probes else []
    if len(wanted) > 1:
        raise SearchSpaceError(
            "the search's trials mix classification and regression data, whose objectives (accuracy, RMSE) go "
            "opposite ways; search one kind of data at a time"
        )
    if direction == "auto":
        if not wanted:
            raise SearchSpaceError(
                "hydra.sweeper.direction=auto needs the pipeline's config to know the trials' objective; "
                "give minimize or maximize"
            )
        return wanted[0]
    if wanted and wanted[0] != direction:
        sense = "higher" if wanted[0] == "maximize" else "lower"
        raise SearchSpaceError(
            f"hydra.sweeper.direction={direction}, but the trials' objective (an {'accuracy' if sense == 'higher' else 'RMSE'}) "
            f"is better {sense}; use direction={wanted[0]}, or auto"
        )
    return direction


def _check_existing_study(
    storage: Any, study_name: Optional[str], direction: str, space: SearchSpace, probes: Optional[Probes]
) -> None:
    """A stored study continues only as the same search: its direction, its search space and
    the config its trials share (else its trials, trained otherwise, would mix with these)."""
    if storage is None or study_name is None:
        return
    import optuna

    try:
        existing = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return  # a new study
    where = f"the study '{study_name}' in {_redacted(str(storage.url))}"
    instead = "; use the same, or another hydra.sweeper.study_name"
    if existing.direction.name.lower() != direction:
        raise SearchSpaceError(
            f"hydra.sweeper.direction={direction}, but {where} was made to {existing.direction.name.lower()}{instead}"
        )
    searched = _searched_before(existing)
    if searched and searched != space.distributions:
        key = next(k for k in [*searched, *space.distributions] if searched.get(k) != space.distributions.get(k))
        before = f"{key}={describe(searched[key])}" if key in searched else f"not {key}"
        now = f"{key}={describe(space.distributions[key])}" if key in space.distributions else f"not {key}"
        raise SearchSpaceError(f"this search asks {now}, but {where} searched {before}{instead}")
    shared = existing.user_attrs.get(SHARED_CONFIG_ATTR)
    if shared is not None and probes is not None and shared != probes.shared_config:
        key = next(k for k in sorted({*shared, *probes.shared_config}) if shared.get(k) != probes.shared_config.get(k))
        raise SearchSpaceError(
            f"this search's trials have {key}={_shown(probes.shared_config, key)}, but {where} was trained with "
            f"{key}={_shown(shared, key)}{instead}"
        )


def _shown(flat: Dict[str, Any], key: str) -> str:
    return short(flat[key]) if key in flat else "(unset)"


def _searched_before(study: Any) -> Dict[str, Any]:
    """The search space a study's trials were asked from: each key's distribution, as last asked."""
    searched: Dict[str, Any] = {}
    for trial in study.get_trials(deepcopy=False):
        searched.update(trial.distributions)
    return searched


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        direction: Any = "auto",
        n_trials: int = 20,
        n_jobs: int = 1,
        study_name: Optional[str] = None,
        storage: Optional[str] = None,
        sampler: Any = None,
        params: Optional[Dict[str, str]] = None,
    ) -> None:
        self.direction = _name(direction)
        self.n_trials, self.n_jobs = int(n_trials), int(n_jobs)
        self.study_name, self.storage_url = study_name, storage
        given = OmegaConf.to_container(OmegaConf.create(sampler or {}), enum_to_str=True) if sampler else {}
        self.sampler_conf: Dict[str, Any] = {"name": "tpe", "seed": None, "n_startup_trials": 10, **cast(dict, given)}
        self.params = dict(params) if params else {}
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None
        self.hydra_context: Optional[HydraContext] = None
        self.job_idx = 0
        self.study: Any = None  # the optuna.Study of the last sweep

    # -- checks, before anything runs ------------------------------------------------------------

    @staticmethod
    def check(config: DictConfig) -> None:
        """Refuse bad input (search space, settings, storage) with a SearchSpaceError (one line).

        `config` is the sweep's whole config: `hydra.sweeper` and the command line's overrides
        (`hydra.overrides.task`, where a search space may be given too). pipeline.sweep calls
        this before the sweep's parent run is created; `sweep` checks again, for a config
        without the pipeline's callback.
        """
        settings = config.hydra.sweeper
        check_setting_names(settings)
        sweeper = OptunaSweeper(**{str(k): v for k, v in settings.items() if k != "_target_"})
        sweeper._checked_parts(list(config.hydra.overrides.get("task") or []), config)
        cap = max_jobs(config) if "sweep" in config else None
        if cap is not None and sweeper.n_jobs > cap:
            # A round's trials are one launch, composed and held together as a grid's jobs are.
            raise SearchSpaceError(
                f"hydra.sweeper.n_jobs={sweeper.n_jobs} is more than sweep.max_jobs={cap}, the jobs one launch "
                f"may hold; lower it, or raise the cap with sweep.max_jobs={sweeper.n_jobs}"
            )

    def _checked_parts(self, arguments: Sequence[str] = (), config: Optional[DictConfig] = None) -> Checked:
        """Every check, in the order a user would fix them: the settings, the search space, the
        trials it can ask (composed at its ends), the direction, the storage and its study."""
        check_settings(self.n_trials, self.n_jobs, self.sampler_conf)
        space = parse_search_space(self.params, arguments)
        probes = probe(space, config)
        direction = resolve_direction(self.direction, probes)
        tracking_uri = OmegaConf.select(config, "tracking.uri", default=None) if config is not None else None
        check_storage(self.storage_url, self.study_name, tracking_uri)
        storage = open_storage(self.storage_url)
        _check_existing_study(storage, self.study_name, direction, space, probes)
        return Checked(space, storage, direction, probes)

    # -- Hydra's Sweeper API ------------------------------------------------------------------

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: List[str]) -> Any:
        import optuna

        assert self.config is not None and self.launcher is not None
        space, storage, direction, probes = self._checked_parts(arguments, self.config)
        self.direction = direction
        _quiet_optuna()
        study = optuna.create_study(
            study_name=self.study_name,
            storage=storage,
            sampler=self._sampler(),
            direction=optuna.study.StudyDirection[direction.upper()],
            load_if_exists=True,
        )
        if probes is not None and SHARED_CONFIG_ATTR not in study.user_attrs:
            study.set_user_attr(SHARED_CONFIG_ATTR, probes.shared_config)
        self.study = study
        told = _retire_stale_trials(study)
        if study.trials:
            # A fixed seed would replay the trials the study asked first: seed the continuation
            # by how far the study has got, so it is reproducible and new.
            study.sampler = self._sampler(seed_offset=len(study.trials))
        if told:
            say(
                f"optuna: study '{study.study_name}' has {told} told trials; "
                f"{max(self.n_trials - told, 0)} more to reach n_trials={self.n_trials}"
            )
        rounds = 0
        while told < self.n_trials:
            size = min(self.n_jobs, self.n_trials - told)
            trials = [study.ask(space.distributions) for _ in range(size)]
            batch = [space.overrides(trial.params) for trial in trials]
            self.validate_batch_is_legal(batch)
            returns = self.launcher.launch(batch, initial_job_idx=self.job_idx)
            self.job_idx += len(returns)
            for trial, job in zip(trials, returns):
                _tell(study, trial, job)
            told += size
            rounds += 1
            say(f"optuna: round {rounds} ({size} trials, one launch) told, {told}/{self.n_trials}; {_best_line(study)}")
        self._report(study)
        return _best_summary(study)

    # -- pieces ----------------------------------------------------------------------------------

    def _sampler(self, seed_offset: int = 0) -> Any:
        import optuna

        conf, name = self.sampler_conf, str(self.sampler_conf["name"])
        seed, startup = conf.get("seed"), int(conf.get("n_startup_trials", 10))
        seed = None if seed is None else (int(seed) + seed_offset) % SEEDS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if name == "tpe":
                # Trials asked but not told yet (the rest of the round) are taken as bad ones,
                # so a round's trials spread out instead of piling onto one point.
                return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)
            if name == "random":
                return optuna.samplers.RandomSampler(seed=seed)
            if name == "cmaes":
                return optuna.samplers.CmaEsSampler(
                    seed=seed, n_startup_trials=startup, warn_independent_sampling=False
                )
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)

    def _report(self, study: Any) -> None:
        """The best trial as tags on the sweep's parent run, and Optuna's plots as its artifacts."""
        from optuna.trial import TrialState

        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        failed = [  # a stale trial's values were asked again: it is no failure of the search's
            trial
            for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if not trial.user_attrs.get("stale")
        ]
        tags: Dict[str, Any] = {
            "optuna.study_name": study.study_name,
            "optuna.storage": _redacted(self.storage_url) if self.storage_url else "in memory",
            "optuna.sampler": self.sampler_conf["name"],
            "optuna.direction": self.direction,
            "optuna.n_jobs": self.n_jobs,
            "optuna.trials_complete": len(complete),
            "optuna.trials_failed": len(failed),
        }
        if complete:
            best = study.best_trial
            say(
                f"optuna: best trial {best.number}: value {best.value:.4g} with "
                + " ".join(f"{k}={short(v)}" for k, v in best.params.items())
            )
            tags.update({"optuna.best_trial": best.number, "optuna.best_value": repr(best.value)})
            tags.update({f"optuna.best.{k}": repr(v) if isinstance(v, float) else v for k, v in best.params.items()})
            if best.user_attrs.get("run_id"):
                tags["optuna.best_run_id"] = best.user_attrs["run_id"]
        else:
            say("optuna: no trial completed; the study has no best trial")
        parent = self._parent_run()
        if parent is None:
            return
        tracker, run_id = parent
        tracker.set_tags(run_id, {k: str(v) for k, v in tags.items()})
        with tempfile.TemporaryDirectory() as folder:
            if save_plots(study, Path(folder)):
                tracker.log_artifacts(run_id, Path(folder), "optuna")

    def _parent_run(self) -> Optional[Tuple[Any, str]]:
        from pipeline.sweep import PARENT_ID_FILE
        from pipeline.tracking import tracker_for

        config = self.config
        if config is None or not config.get("tracking") or not config.tracking.get("enabled", True):
            return None
        path = Path(str(config.hydra.sweep.dir)) / PARENT_ID_FILE
        if not path.exists():
            return None
        return tracker_for(config.tracking.uri), path.read_text().strip()


# -- telling, plotting ------------------------------------------------------------------------------


def job_outcome(job: JobReturn) -> Tuple[Optional[float], str, Optional[str]]:
    """(objective or None if the trial failed, why it failed, the job's MLflow run id)."""
    if job.status != JobStatus.COMPLETED:
        from pipeline.hydra_internals import job_error

        error = job_error(job)
        return None, f"the job raised {type(error).__name__}: {error}", None
    result = job.return_value
    run_id = getattr(result, "run_id", None)
    if getattr(result, "status", None) == "FAILED":
        return None, str(getattr(result, "reason", "") or "the run FAILED"), run_id
    try:
        value = float(result)
    except (TypeError, ValueError):
        return None, f"the job returned {result!r}, not a number", run_id
    if not math.isfinite(value):
        return None, f"the objective is {value}", run_id
    return value, "", run_id


def _tell(study: Any, trial: Any, job: JobReturn) -> None:
    from optuna.trial import TrialState

    value, reason, run_id = job_outcome(job)
    objective = str(getattr(job.return_value, "objective_name", "")) if job.status == JobStatus.COMPLETED else ""
    sense = "minimize" if "rmse" in objective else "maximize" if "accuracy" in objective else None
    if value is not None and sense is not None and sense != study.direction.name.lower():
        # Never a number the study would optimise the wrong way (the checks refuse such a search
        # up front; this holds for a config they could not compose).
        value, reason = None, f"its objective {objective} is to {sense}, the study is to {study.direction.name.lower()}"
    if run_id:
        trial.set_user_attr("run_id", run_id)
    if value is None:
        trial.set_user_attr("failure", reason[:500])
        study.tell(trial, state=TrialState.FAIL)
        say(f"optuna: trial {trial.number} told FAIL ({reason[:200]})")
    else:
        study.tell(trial, value)


def _retire_stale_trials(study: Any) -> int:
    """Tell FAIL the trials a stopped search asked but never told, and ask their values again
    first; return how many trials are told.

    Told trials (COMPLETE, or FAIL from their job) count toward n_trials; the stale ones do not.
    Their values are enqueued, so the same configs run again: a job whose run had finished is
    taken from the store (SKIPPED, its value told), one that was stopped continues from its
    checkpoint (pipeline/job.py), and none is trained from scratch under new values.
    """
    from optuna.trial import Trial, TrialState

    told = 0
    for frozen in study.get_trials(deepcopy=False):
        if frozen.state == TrialState.RUNNING:
            Trial(study, frozen._trial_id).set_user_attr("failure", "the search stopped before this trial was told")
            Trial(study, frozen._trial_id).set_user_attr("stale", True)
            study.tell(frozen.number, state=TrialState.FAIL)
            study.enqueue_trial(frozen.params, user_attrs={"asked_again_for": frozen.number})
        elif frozen.state in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED) and not frozen.user_attrs.get(
            "stale"
        ):
            told += 1
    return told


def _best_line(study: Any) -> str:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return "no trial completed yet"
    best = study.best_trial
    return (
        f"best {best.value:.4g} (trial {best.number}: "
        + " ".join(f"{k}={short(v)}" for k, v in best.params.items())
        + ")"
    )


def _best_summary(study: Any) -> Dict[str, Any]:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return {"name": "optuna", "best_params": {}, "best_value": None}
    return {"name": "optuna", "best_params": study.best_params, "best_value": study.best_value}


PLOTS = (
    ("optimization_history.png", "plot_optimization_history"),
    ("param_importances.png", "plot_param_importances"),
    ("slice.png", "plot_slice"),
)


def save_plots(study: Any, folder: Path) -> List[str]:
    """Optuna's own matplotlib plots of the study as PNG files in `folder`; the names written.

    A plot Optuna cannot draw (parameter importances need two completed trials and a
    parameter that varies) is left out with one log line; it never fails the sweep.
    """
    import matplotlib

    matplotlib.use("Agg")  # pipeline/plots.py draws on bare Figures, so switching pyplot's backend is safe
    logging.getLogger("matplotlib.category").setLevel(logging.WARNING)  # "categorical units" for choice()
    import matplotlib.pyplot as plt
    import optuna
    import optuna.visualization.matplotlib as ovm

    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    written = []
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # "too few trials" is said by leaving a plot out
    for filename, function in PLOTS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if function == "plot_param_importances":
                    # fANOVA with 16 trees (not 64): a tenth of the time, the same ranking at this
                    # size of study, and seeded so that the picture is the same every time.
                    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=16, seed=0)
                    axes = ovm.plot_param_importances(study, evaluator=evaluator)
                else:
                    axes = getattr(ovm, function)(study)
            figure = _figure_of(axes)
            figure.set_size_inches(max(figure.get_size_inches()[0], 6.4), 4.8)
            figure.savefig(folder / filename, dpi=100, bbox_inches="tight")
            written.append(filename)
        except Exception as error:  # noqa: BLE001 - a plot is a nicety; the sweep's results stand
            interrupts.raise_if_behind(error)
            log.info(f"optuna: {filename} not drawn ({type(error).__name__}: {str(error)[:200]})")
        finally:
            plt.close("all")
    optuna.logging.set_verbosity(verbosity)
    return written


def _figure_of(axes: Any) -> Any:
    import numpy as np

    first = np.ravel(np.asarray(axes, dtype=object))[0] if not hasattr(axes, "figure") else axes
    return first.figure


def _quiet_optuna() -> None:
    """Optuna's own log: warnings and up only (progress is ours: one short line per round).

    Optuna's handler colours its lines only on a terminal (colorlog's TTYColoredFormatter).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
