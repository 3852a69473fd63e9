"""`python -m pipeline [overrides]`: the command line; a thin wrapper around `pipeline.run.train`.

Bad input (an unknown option, a value out of range, a missing device) ends the command with
one line on stderr and exit status 2, before anything trains or any MLflow run is created.
"""

from __future__ import annotations

import os
import signal
import sys

# Let Hydra's errors reach `main` as exceptions, so they are reported in one line below
# instead of Hydra's multi-line report.
os.environ.setdefault("HYDRA_FULL_ERROR", "1")

import hydra  # noqa: E402
import yaml  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from hydra.errors import HydraException  # noqa: E402
from omegaconf import DictConfig  # noqa: E402
from omegaconf.errors import OmegaConfBaseException  # noqa: E402

from pipeline.config import ConfigError, register_configs  # noqa: E402
from pipeline.device import DeviceError  # noqa: E402
from pipeline.errors import InputRefused, one_line  # noqa: E402

# A config file that does not parse reaches us as yaml's own error, naming file and line.
USER_ERRORS = (ConfigError, DeviceError, HydraException, OmegaConfBaseException, yaml.YAMLError)

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def hydra_main(cfg: DictConfig):
    from pipeline.run import train
    from pipeline.sweep import parent_run_id_for_job

    result = train(cfg, parent_run_id=parent_run_id_for_job())
    if result.status == "FAILED":
        print(f"run {result.run_id} FAILED: {result.reason}", file=sys.stderr)
    elif result.run_id and not HydraConfig.get().mode == RunMode.MULTIRUN:
        print(f"run {result.run_id} {result}; see it with: mlflow ui --backend-store-uri {cfg.tracking.uri}")
    return result  # float(result) is the objective Hydra's Optuna sweeper optimises


def _terminate_as_interrupt(signum, frame) -> None:
    # SIGTERM (a scheduler, `kill`) takes the same path as Ctrl-C: the job's run and the
    # sweep's parent end KILLED, and everything logged so far stays.
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def main() -> None:
    from pipeline.sweep import close_open_sweeps

    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        hydra_main()
    except InputRefused as refused:
        print(f"error: {refused.message}", file=sys.stderr)
        sys.exit(2)
    except USER_ERRORS as error:
        close_open_sweeps("FAILED", one_line(error))
        print(f"error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as interrupt:
        close_open_sweeps("KILLED", f"interrupted ({interrupt or 'SIGINT'})")
        print("interrupted: runs so far are kept in MLflow", file=sys.stderr)
        sys.exit(130)
    except BaseException as error:
        close_open_sweeps("FAILED", f"{type(error).__name__}: {error}")
        raise


if __name__ == "__main__":
    main()
