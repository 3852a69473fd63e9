"""`python -m pipeline [overrides]`: the command line; a thin wrapper around `pipeline.job.run`.

Exit status:
  0    every run finished (or was skipped: a sweep resumed it);
  1    a run, or any job of a sweep, ended FAILED (diverged, a failed gradient check, a write
       the tracking store refused): said
       once everything is recorded and the sweep's summary written;
  2    bad input (an unknown option, a value out of range, data that cannot be trained on, a
       store that does not answer, a missing device): one line `error: ...` on stderr, before
       anything trains or any MLflow run is created (pipeline/admission.py decides);
  130  interrupted (Ctrl-C, SIGTERM): the runs so far are kept, ended KILLED.
"""

from __future__ import annotations

import os
import sys

# Let Hydra's errors reach `main` as exceptions, so they are reported in one line below
# instead of Hydra's multi-line report.
os.environ.setdefault("HYDRA_FULL_ERROR", "1")

from pipeline import interrupts, memory  # noqa: E402  (the standard library only)

# Ctrl-C or SIGTERM during the imports below (seconds) is held, and taken in `main`: an interrupt
# at any moment ends the command the same way, with exit status 130.
interrupts.install()
interrupts.hold()
memory.pause()  # no garbage collection while the command starts (pipeline/memory.py)

import hydra  # noqa: E402
import yaml  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from hydra.errors import HydraException  # noqa: E402
from omegaconf import DictConfig  # noqa: E402
from omegaconf.errors import OmegaConfBaseException  # noqa: E402

from pipeline.config import ConfigError, register_configs  # noqa: E402
from pipeline.data import COMMAND_DIR_VARIABLE, DataError  # noqa: E402
from pipeline.device import DeviceError  # noqa: E402
from pipeline.errors import InputRefused, failed_jobs, one_line, record_failed_job  # noqa: E402
from pipeline.write_behind import StoreWriteFailed  # noqa: E402

# A config file that does not parse reaches us as yaml's own error, naming file and line.
USER_ERRORS = (ConfigError, DataError, DeviceError, HydraException, OmegaConfBaseException, yaml.YAMLError)

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def hydra_main(cfg: DictConfig):
    # Hydra's run_job keeps a job's Exception and goes on to the next job: an interrupt that came
    # out of a library as another error (pipeline/interrupts.py) leaves the job as itself.
    with interrupts.as_interrupts():
        return run_task(cfg)


def run_task(cfg: DictConfig):
    memory.resume()
    if cfg.get("lesson") is not None:  # +lesson=NAME: a section of the notes, run instead of training
        from pipeline.lessons import run_lesson

        return run_lesson(cfg)
    from pipeline.job import run
    from pipeline.sweep import parent_run_id_for_job
    from pipeline.tracking import real_run_id

    result = run(cfg, parent_run_id=parent_run_id_for_job())
    alone = HydraConfig.get().mode != RunMode.MULTIRUN  # a sweep prints a line per job itself
    if result.run_id and (alone or result.status == "FAILED"):
        result.run_id = real_run_id(result.run_id)  # a run created behind: its id in the store, to report
    run_label = f"run {result.run_id}" if result.run_id else "run"  # no id: tracking.enabled=false
    if result.status == "FAILED":
        record_failed_job(f"{run_label}: {result.reason}")  # the command exits 1 (see main)
        print(f"{run_label} FAILED: {result.reason}", file=sys.stderr)
    elif alone:
        print(f"{run_label} {result}")
        if cfg.tracking.enabled:
            print(f"see it: {ui_hint(cfg)}")
        else:  # the line above is the only place its metrics are
            print("not recorded in MLflow (tracking.enabled=false)")
    return result  # float(result) is the objective Hydra's Optuna sweeper optimises


def ui_hint(cfg: DictConfig) -> str:
    """How to open the run in the MLflow UI, runnable as printed from where the command ran."""
    from pipeline.tracking import tracker_for
    from pipeline.tracking import ui_hint as hint

    return hint(cfg.tracking.uri, tracker_for(cfg.tracking.uri).experiment_url_path(cfg.tracking.experiment))


def main() -> None:
    from pipeline.sweep import close_open_sweeps

    # SIGTERM (a scheduler, `kill`) takes the same path as Ctrl-C: the job's run and the
    # sweep's parent end KILLED, and everything logged so far stays.
    # Relative paths (a SQLite store, data.path) mean the folder the command was started in, also
    # for a job Hydra runs in its own folder (hydra.job.chdir=true) and in the processes it starts.
    started_in = os.environ.get(COMMAND_DIR_VARIABLE)
    os.environ[COMMAND_DIR_VARIABLE] = os.getcwd()
    try:
        interrupts.release()  # an interrupt held during the imports is raised here
        with interrupts.as_interrupts():
            hydra_main()
            finish_writes()
    except InputRefused as refused:
        # Refused before any run, as a rule; a search sweeper's later batch may be refused
        # after its parent run exists, which then ends FAILED with the reason.
        close_open_sweeps("FAILED", refused.message)
        print(f"error: {refused.message}", file=sys.stderr)
        sys.exit(2)
    except USER_ERRORS as error:
        close_open_sweeps("FAILED", one_line(error))
        print(f"error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
    except StoreWriteFailed as refused:  # its runs are ended FAILED, with the reason
        close_open_sweeps("FAILED", str(refused))
        print(f"error: {refused}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as interrupt:
        close_open_sweeps("KILLED", f"interrupted ({interrupt or 'SIGINT'})")
        print("interrupted: runs so far are kept in MLflow", file=sys.stderr)
        sys.exit(130)
    except BaseException as error:
        close_open_sweeps("FAILED", f"{type(error).__name__}: {error}")
        raise
    finally:
        batching = sys.modules.get("pipeline.batching")  # not imported by a refused command
        if batching is not None:
            batching.stop_compiling()  # no further program compiled in the background
        _restore(COMMAND_DIR_VARIABLE, started_in)  # main() run again in-process (tests) finds its own
    failed = failed_jobs()
    if failed:  # everything is recorded and the summary written: say it in the exit status
        print("exit status 1: a run ended FAILED (its reason is in MLflow, tag failure_reason)", file=sys.stderr)
        sys.exit(1)


def _restore(variable: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(variable, None)
    else:
        os.environ[variable] = value


def finish_writes() -> None:
    """Every write handed to a writer process made (pipeline/write_behind.py), before the exit
    status is decided: a write the store refused makes it non-zero."""
    tracking = sys.modules.get("pipeline.tracking")
    if tracking is not None:
        tracking.finish_writes()


def leave() -> None:
    """What a command does last, however it ends: its stores closed, its output flushed, and
    the interpreter's final garbage collection skipped (pipeline/memory.py)."""
    tracking = sys.modules.get("pipeline.tracking")  # not imported by a refused command
    if tracking is not None:
        try:
            tracking.close_stores()
        except Exception:  # noqa: BLE001 (what was written stays in the store's log; the exit status stands)
            pass
        except KeyboardInterrupt:  # Ctrl-C as the command ends: said in one line, not a traceback
            print("interrupted while closing the tracking store: what was written stays in it", file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            memory.before_exit()
            raise SystemExit(130) from None
    sys.stdout.flush()
    sys.stderr.flush()
    memory.before_exit()


if __name__ == "__main__":
    try:
        main()
    finally:
        leave()
