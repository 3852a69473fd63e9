"""One job's life: its run, resume decided in one place, the launcher's hand-off taken."""

from __future__ import annotations


import pytest

from pipeline import handoff, job, provenance
from pipeline.batching import dispatch
from pipeline.tracking import RESUMED_TAG_PREFIX, tracker_for

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
