"""Tests for pipeline.errors: one-line messages for the user, and RunFailure's tags."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from pipeline.config import register_configs
from pipeline.errors import RunFailure, one_line

HYDRA_STYLE = "Could not find 'model/resnet'\n\nAvailable options in 'model':\n\tdeep\n\tlogistic\n"
CONF_DIR = (Path(__file__).resolve().parent.parent / "conf").resolve()


def test_one_line_joins_a_hydra_style_message():
    line = one_line(Exception(HYDRA_STYLE))
    assert "\n" not in line and "\t" not in line
    assert "Could not find 'model/resnet'" in line
    assert "Available options in 'model':" in line
    assert "deep" in line and "logistic" in line
    # The options read as a list after the heading, in their order.
    assert line.index("Available options") < line.index("deep") < line.index("logistic")
    assert line == "Could not find 'model/resnet'; Available options in 'model': deep, logistic"
    # A message joined once (then wrapped in another error, as the Optuna sweeper's) stays as it is.
    assert one_line(Exception(f"{line} (a trial)")) == f"{line} (a trial)"


def test_one_line_keeps_a_one_line_message():
    for message in (
        "model.activation='foo' is not allowed; choose one of: step, sigmoid, tanh",
        "diverged: the loss became non-finite at step 5",
        "train.log_every=100 is larger than train.steps=50; it must lie in [1, train.steps]",
    ):
        assert one_line(ValueError(message)) == message


# Only Hydra's option listing becomes "a, b"; a "; word" elsewhere is left alone.
def test_one_line_keeps_a_semicolon_before_a_last_word():
    message = "the store at sqlite:///mlflow.db is locked; retrying"
    assert one_line(RuntimeError(message)) == message


def test_one_line_strips_and_drops_blank_lines():
    assert one_line(RuntimeError("\n\n  first  \n\n   \nsecond line here\n")) == "first; second line here"


def test_one_line_of_an_empty_message_is_the_type_name():
    assert one_line(KeyError()) == "KeyError"
    assert one_line(RuntimeError("   \n ")) == "RuntimeError"


def test_one_line_of_hydras_own_missing_option_error():
    """The real thing: Hydra's error for model=resnet lists every model on one line."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        with pytest.raises(Exception) as info:
            compose(config_name="config", overrides=["model=resnet"])
    line = one_line(info.value)
    assert "\n" not in line
    assert "model/resnet" in line
    options = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
    assert options
    listed = line.split("Available options in 'model':", 1)[1]
    for option in options:
        assert option in listed


def test_run_failure_carries_reason_and_tags():
    failure = RunFailure("diverged at step 3", {"diverged_at_step": "3"})
    assert str(failure) == "diverged at step 3"
    assert failure.tags == {"diverged_at_step": "3"}
    assert isinstance(failure, Exception)
    with pytest.raises(RunFailure) as info:
        raise failure
    assert info.value.tags["diverged_at_step"] == "3"


def test_run_failure_tags_default_to_empty_and_are_not_shared():
    a, b = RunFailure("a"), RunFailure("b")
    assert a.tags == {} and b.tags == {}
    a.tags["x"] = "1"
    assert b.tags == {}
    assert RunFailure("c").tags == {}


def test_failed_jobs_are_recorded_for_the_exit_status():
    from pipeline.errors import failed_jobs, forget_failed_jobs, record_failed_job

    forget_failed_jobs()
    assert failed_jobs() == []
    record_failed_job("run 1: diverged")
    record_failed_job("run 2: overflow")
    assert failed_jobs() == ["run 1: diverged", "run 2: overflow"]
    forget_failed_jobs()
    assert failed_jobs() == []


def test_input_refused_is_exit_status_2_with_its_line():
    from pipeline.errors import InputRefused

    refusal = InputRefused("optim.lr=-1.0 is not allowed")
    assert isinstance(refusal, SystemExit) and refusal.code == 2
    assert refusal.message == str(refusal) == "optim.lr=-1.0 is not allowed"


def test_an_experiment_without_its_plus_gets_the_command_to_type():
    from hydra.errors import ConfigCompositionException

    error = ConfigCompositionException(
        "Could not override 'experiment'.\nTo append to your config use "
        "+experiment=relu_sweep\nKey 'experiment' is not in struct"
    )
    assert one_line(error) == (
        "experiment=relu_sweep selects a file of conf/experiment/ that the defaults do not "
        "name; add it with a +: python -m pipeline +experiment=relu_sweep"
    )
