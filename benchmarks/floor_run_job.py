"""Hydra's side of the floor: `run_job` around a task that does nothing, on the pipeline's configs.

    python benchmarks/floor_run_job.py --overrides DIR/.hydra/overrides.yaml --jobs 200 [--conf CODE/conf]

Issue 16 keeps Hydra's `run_job` for every job of a sweep, so that each job gets what Hydra
users expect: its output directory, the three `.hydra/` files, its own log file, the
callbacks and a `JobReturn`. What that costs per job is not the pipeline's to cut: it is
Hydra copying the job's config (`HydraConfig.set_config` twice, two deep copies) and writing
it out as YAML, and it grows with the config. This script measures it bare, in a process of
its own: the pipeline's config for one job of a sweep, composed by Hydra's compose API from
that job's `overrides.yaml` (so the config has the pipeline's schema and Hydra's node, as in
the sweep), then `run_job` for `--jobs` jobs, each with its own job number and output
directory, with a task function that returns at once and no callbacks called. One line of JSON:
per_job_seconds, run_job_seconds (all jobs), jobs, config_nodes (of one job's config, Hydra's
node included) and hydra_nodes.

The sweep's own main thread spends this per job besides the job's work (training, gradient
checks, the recording); the bare MLflow writer (floor_mlflow.py) spends its per-run cost in
another process. On a machine of two cores the two can overlap, so a grid of N jobs cannot
finish before N × max(the two), whatever the pipeline does.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir
from hydra._internal.callbacks import Callbacks  # Hydra's own holder of callbacks; empty here (private)
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import configure_log, run_job, setup_globals
from hydra.types import HydraContext
from omegaconf import DictConfig, ListConfig, open_dict

CONF = Path(__file__).resolve().parent.parent / "conf"


def nodes(config) -> int:
    """How many nodes a config has, containers included: what Hydra's copies walk."""
    if isinstance(config, DictConfig):
        return 1 + sum(nodes(config._get_node(key)) for key in config)
    if isinstance(config, ListConfig):
        return 1 + sum(nodes(config._get_node(index)) for index in range(len(config)))
    return 1


def job_config(overrides: list[str]) -> DictConfig:
    """One job's config as the sweep has it: the pipeline's schema, its config files, Hydra's node
    (inside `initialize_config_dir`)."""
    config = compose(config_name="config", overrides=[*overrides, "hydra.mode=MULTIRUN"], return_hydra_config=True)
    with open_dict(config):
        config.hydra.sweep.dir = str(config.hydra.sweep.dir)  # one sweep folder (its time stamp) for all jobs
    return config


def measure(config: DictConfig, jobs: int) -> float:
    """Seconds of `run_job` for `jobs` jobs of this config, each its own number and directory."""
    setup_globals()
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    # No callbacks called (the pipeline's callback is the pipeline's work), though the config names them.
    context = HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=Callbacks())
    configs = []
    for index in range(jobs):  # made before the clock starts, as the sweep composes before run_job
        job = copy.deepcopy(config)
        with open_dict(job):
            job.hydra.job.id = job.hydra.job.num = index
        configs.append(job)
    started = time.perf_counter()
    for job in configs:
        returned = run_job(
            hydra_context=context,
            task_function=lambda cfg: None,
            config=job,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        returned.return_value  # noqa: B018 (raises what the job raised: a failed floor is no floor)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--overrides", required=True, type=Path, help="a job's .hydra/overrides.yaml from a sweep")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--conf", type=Path, default=CONF, help="the pipeline's conf/ (of the code measured)")
    args = parser.parse_args()
    from pipeline.config import register_configs  # the schema, as pipeline/__main__.py registers it

    register_configs()
    with initialize_config_dir(config_dir=str(args.conf.resolve()), version_base="1.3", job_name="pipeline"):
        config = job_config(list(yaml.safe_load(args.overrides.read_text())))
        seconds = measure(config, args.jobs)
    print(
        json.dumps(
            {
                "jobs": args.jobs,
                "run_job_seconds": seconds,
                "per_job_seconds": seconds / args.jobs,
                "config_nodes": nodes(config),
                "hydra_nodes": nodes(config.hydra),
            }
        )
    )


if __name__ == "__main__":
    main()
