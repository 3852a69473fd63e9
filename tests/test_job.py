"""One job's life: its run, resume decided in one place, the launcher's hand-off taken."""

from __future__ import annotations


import pytest

from pipeline import handoff, job, provenance
from pipeline.batching import dispatch
from pipeline.tracking import CONTINUED_TAG_PREFIX, RESUMED_TAG_PREFIX, tracker_for

QUICK = ["train.steps=100", "train.log_every=50", "tracking.plots=false"]


@pytest.fixture
def make_config(compose, store):
    """A job's config, tracked in a temporary SQLite store (tests/conftest.py)."""
    return lambda *overrides: compose([*QUICK, f"tracking.uri={store.uri}", *overrides])


def parent_run(cfg) -> str:
    return tracker_for(cfg.tracking.uri).start_run(cfg.tracking.experiment, "sweep", {"sweep": "parent"})


def test_a_sweeps_job_with_a_finished_run_of_its_config_is_skipped(make_config):
    cfg = make_config("optim.lr=0.5")
    first = job.run(cfg, parent_run_id=parent_run(cfg))
    assert first.status == "FINISHED"
    assert job.finished_hashes([cfg]) == {provenance.config_hash(cfg)}
    parent = parent_run(cfg)
    again = job.run(cfg, parent_run_id=parent)
    assert again.status == "SKIPPED" and again.run_id == first.run_id and again.objective == first.objective
    tags = tracker_for(cfg.tracking.uri).get_run(parent).tags
    assert [v for k, v in tags.items() if k.startswith(RESUMED_TAG_PREFIX)] == [first.run_id]


def test_resume_false_and_runs_alone_train_again(make_config):
    cfg = make_config("optim.lr=0.5")
    first = job.run(cfg, parent_run_id=parent_run(cfg))
    assert job.run(cfg).run_id != first.run_id  # alone: no sweep, no resume
    no_resume = make_config("optim.lr=0.5", "resume=false")
    assert job.finished_hashes([no_resume]) == set()
    assert job.run(no_resume, parent_run_id=parent_run(cfg)).status == "FINISHED"


def test_the_launchers_hand_off_decides_and_trains(make_config):
    a, b = make_config("optim.lr=0.5"), make_config("optim.lr=1.2")
    for cfg, trained in dispatch([a, b]):
        handoff.hand_over(provenance.config_hash(cfg), handoff.HandedOver(resume=False, trained=trained))
    result = job.run(b)
    run = tracker_for(b.tracking.uri).get_run(result.run_id)
    assert run.tags["batch.size"] == "2"  # trained in the launcher's batch, not again alone
    assert handoff.take(provenance.config_hash(b)) is None  # taken once
    handoff.take(provenance.config_hash(a))
    # A hand-off that says "resume" with nothing finished to resume from trains after all.
    handoff.hand_over(provenance.config_hash(a), handoff.HandedOver(resume=True))
    assert job.run(a, parent_run_id=parent_run(a)).status == "FINISHED"


@pytest.mark.parametrize(
    "made_elsewhere",
    [
        {"version.jax": "0.0.1"},  # by another JAX
        {"jax.backend": "elsewhere"},  # on another kind of device (device=auto on a GPU machine and a laptop)
        {"jax.matmul_precision": "default"},  # with TF32 products on a GPU, before float32 meant float32
    ],
)
def test_resume_reuses_only_runs_of_the_same_jax_build(make_config, made_elsewhere):
    cfg = make_config("optim.lr=0.5")
    first = job.run(cfg, parent_run_id=parent_run(cfg))
    assert job.finished_hashes([cfg]) == {provenance.config_hash(cfg)}
    tracker_for(cfg.tracking.uri).set_tags(first.run_id, made_elsewhere)
    assert job.finished_hashes([cfg]) == set()
    again = job.run(cfg, parent_run_id=parent_run(cfg))
    assert again.status == "FINISHED" and again.run_id != first.run_id


@pytest.fixture
def hydra_job(compose, tmp_path):
    """`hydra_job(*overrides)`: the job's config, with Hydra's own config of it (its
    hydra.runtime.choices) set as a running job's until the test ends."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    before = HydraConfig.instance().cfg

    def as_job(*overrides):
        whole = compose(list(overrides), hydra_config=True)
        with open_dict(whole):
            whole.hydra.runtime.output_dir = str(tmp_path)
            whole.hydra.job.num = 0
        HydraConfig.instance().set_config(whole)
        return compose(list(overrides))

    yield as_job
    HydraConfig.instance().cfg = before


def test_a_run_name_shows_what_its_sweep_varies_a_config_groups_option_too(hydra_job):
    cfg = hydra_job("data=moons", "model=logistic", "optim.lr=0.5")
    assert job.group_choices()["data"] == "moons" and "hydra/launcher" not in job.group_choices()
    assert job.run_name(cfg) == "logistic-lr0.5-s0"  # alone: the model and what trains it
    assert job.run_name(cfg, ("data", "model")) == "moons-logistic-lr0.5-s0"
    shallow = hydra_job("data=flower", "model=shallow", "optim=adam")
    assert job.run_name(shallow, ("data", "model", "optim")) == "flower-shallow-tanh-h4-adam-lr0.01-s0"
    assert job.run_name(shallow, ("model.hidden", "train.steps")) == "tanh-h4-adam-lr0.01-s0-steps10000"
    assert job.run_name(shallow, ("train.dtype", "optim.b1")) == "tanh-h4-adam-lr0.01-s0-b1=0.9-dtype=float32"
    # data.seed and train.seed share "seed" (the name's s0): the key in full
    assert job.run_name(shallow, ("train.seed", "data.seed")) == "tanh-h4-adam-lr0.01-s0-data.seed=0"


def test_a_sweeps_job_records_its_groups_options_and_is_named_by_what_the_sweep_varies(make_config, hydra_job):
    hydra_job("data=moons", "model=logistic")
    cfg = make_config("data=moons", "model=logistic")
    tracker = tracker_for(cfg.tracking.uri)
    parent = parent_run(cfg)
    tracker.log_params(parent, {"sweep.data": "flower,moons", "sweep.model": "logistic,shallow"})  # as sweep.py does
    result = job.run(cfg, parent_run_id=parent)
    run = tracker.get_run(result.run_id)
    assert run.run_name == "moons-logistic-lr1.2-s0"  # not the flower run's name
    assert run.params["data"] == "moons" and run.params["model"] == "logistic" and run.params["optim"] == "gd"


def test_a_run_continued_from_its_checkpoint_is_linked_from_the_sweep_that_continued_it(
    make_config, monkeypatch, tmp_path
):
    from pipeline import recording, segments

    monkeypatch.chdir(tmp_path)  # the checkpoints' folder
    monkeypatch.setattr(segments, "SEGMENT_ABOVE_SECONDS", 0.0)  # a long run: in segments, checkpointed
    monkeypatch.setattr(segments, "SEGMENT_SECONDS", 0.0)

    class Interrupted(recording.LiveMetrics):
        """Ctrl-C after the first segment (its second call: the first hands over the start's point)."""

        calls = 0

        def __call__(self, points, last_step):
            super().__call__(points, last_step)
            Interrupted.calls += 1
            if Interrupted.calls == 2:
                raise KeyboardInterrupt

    cfg = make_config("train.steps=400")
    tracker = tracker_for(cfg.tracking.uri)
    first = parent_run(cfg)
    monkeypatch.setattr(job, "LiveMetrics", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        job.run(cfg, parent_run_id=first)
    (killed,) = tracker.runs(cfg.tracking.experiment, "attributes.status = 'KILLED'")
    monkeypatch.setattr(job, "LiveMetrics", recording.LiveMetrics)
    second = parent_run(cfg)
    result = job.run(cfg, parent_run_id=second)
    assert result.status == "FINISHED" and result.run_id == killed.run_id  # continued into the same run
    run = tracker.get_run(killed.run_id)
    assert run.status == "FINISHED" and run.tags["mlflow.parentRunId"] == first  # still the child of its first sweep
    links = {k: v for k, v in tracker.get_run(second).tags.items() if k.startswith(CONTINUED_TAG_PREFIX)}
    assert list(links.values()) == [killed.run_id]


def test_a_checkpoint_of_the_same_config_in_another_experiment_is_not_continued(make_config, monkeypatch, tmp_path):
    """The checkpoint is the config's (its hash leaves tracking.* out); the run it belongs to is not this job's."""
    from pipeline import segments

    monkeypatch.chdir(tmp_path)
    cfg = make_config("train.steps=400")
    tracker = tracker_for(cfg.tracking.uri)
    elsewhere = tracker.start_run("another experiment", "killed there", {})
    tracker.end_run(elsewhere, "KILLED")
    checkpoint = segments.checkpoint_path(provenance.config_hash(cfg))
    monkeypatch.setattr(segments, "checkpoint_run_id", lambda path: elsewhere)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_bytes(b"")
    assert job.continued_run(tracker, checkpoint, cfg.tracking.experiment) == (None, -1)
    assert tracker.get_run(elsewhere).status == "KILLED"  # not reopened into this experiment


def test_a_job_in_its_sweeps_process_takes_what_the_sweep_varies_without_reading_the_store(make_config, monkeypatch):
    from pipeline import grid

    cfg = make_config("optim.lr=0.5")
    tracker = tracker_for(cfg.tracking.uri)
    parent = parent_run(cfg)
    grid.remember_swept(parent, ["train.steps"])  # as pipeline/sweep.py does when it opens the parent
    read, get_run = [], tracker.get_run
    monkeypatch.setattr(tracker, "get_run", lambda run_id: read.append(run_id) or get_run(run_id))
    result = job.run(cfg, parent_run_id=parent)
    assert parent not in read  # a read would wait for a writer process writing behind
    assert get_run(result.run_id).run_name == "tanh-h4-lr0.5-s0-steps100"


def test_a_jobs_result_names_its_run_and_the_examples_each_accuracy_counts(make_config):
    """What a sweep's table needs where nothing is recorded (tracking.enabled=false)."""
    result = job.run(make_config("optim.lr=0.5", "tracking.enabled=false"))
    assert result.status == "FINISHED" and result.run_id is None
    assert (result.run_name, result.n_train, result.n_val) == ("tanh-h4-lr0.5-s0", 320, 80)
    failed = job.run(make_config("model.activation=relu", "optim.lr=1e6", "tracking.enabled=false"))
    assert failed.status == "FAILED" and failed.run_name == "relu-h4-lr1e+06-s0"
