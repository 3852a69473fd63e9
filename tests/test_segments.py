"""Long runs in segments: the same bits as one unbroken program, however they are cut, and
continued from a checkpoint as if never stopped."""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.network import init_params
from pipeline import segments
from pipeline.data import load_dataset
from pipeline.train import TrainSpec, make_hyper, train_jit

SPEC = TrainSpec("tanh", "sigmoid", "binary", "gd", "autodiff", 1050, 50, None)


def setup(spec=SPEC):
    ds = load_dataset("flower")
    data = tuple(jnp.asarray(a, jnp.float32) for a in (ds.X_train, ds.Y_train, ds.X_val, ds.Y_val))
    init_key, key = jax.random.split(jax.random.PRNGKey(3))
    return init_params(init_key, (2, 8, 1), "small", 0.01), data, make_hyper(1.2), key


def assert_same_bits(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("chunks_per", [1, 3, 8, 64])
@pytest.mark.parametrize("spec", [SPEC, SPEC._replace(batch_size=64, optimizer="adam")], ids=["gd", "adam-minibatch"])
def test_segmented_runs_have_the_bits_of_one_unbroken_program(chunks_per, spec):
    params, data, hyper, key = setup()
    whole = train_jit(spec, params, data, hyper, key)
    seen = []
    cut = segments.train_in_segments(
        spec, params, data, hyper, key, chunks_per, label="test", on_segment=lambda points, step: seen.append(step)
    )
    assert_same_bits(cut, whole)
    assert seen[0] == 0 and seen[-1] == spec.steps and seen == sorted(seen)
    # chunks_per=1 too: no segment of one chunk (a loop XLA would remove; see segment_lengths)
    assert min(np.diff(seen)) >= segments.MIN_SEGMENT_CHUNKS * spec.log_every


def test_a_run_is_cut_into_segments_of_at_least_two_chunks_the_same_way_when_continued():
    least = segments.MIN_SEGMENT_CHUNKS
    for chunks_per in (1, 2, 3, 4, 8, 64):
        for full_chunks in range(40):
            lengths = segments.segment_lengths(full_chunks, 0, chunks_per)
            assert sum(lengths) == full_chunks, (chunks_per, full_chunks)
            assert full_chunks < least or min(lengths) >= least, (chunks_per, full_chunks, lengths)
            assert all(n <= max(chunks_per, least) + least - 1 for n in lengths), (chunks_per, full_chunks, lengths)
            cuts = set(np.cumsum(lengths).tolist())
            # Continued from its own checkpoint (a segment's end): the same segments as never stopped.
            for i, end in enumerate(np.cumsum(lengths)):
                assert segments.segment_lengths(full_chunks, int(end), chunks_per) == lengths[i + 1 :]
            for next_chunk in range(full_chunks):
                continued = segments.segment_lengths(full_chunks, next_chunk, chunks_per)
                ends = np.cumsum(continued) + next_chunk
                # Continued from any chunk (a checkpoint saved under another rule): cut where the run
                # from its start is cut, and no segment of one chunk unless one chunk is left.
                assert ends[-1] == full_chunks and set(ends.tolist()) <= cuts, (chunks_per, full_chunks, next_chunk)
                assert continued == [1] or min(continued) >= least, (chunks_per, full_chunks, next_chunk, continued)


def test_a_run_continued_from_its_checkpoint_has_the_bits_of_one_never_stopped(tmp_path):
    params, data, hyper, key = setup()
    whole = train_jit(SPEC, params, data, hyper, key)
    path = tmp_path / "run.npz"

    def killed_after_two_segments(points, step):
        if step >= 2 * 4 * SPEC.log_every:
            raise KeyboardInterrupt("kill")

    with pytest.raises(KeyboardInterrupt):
        segments.train_in_segments(
            SPEC,
            params,
            data,
            hyper,
            key,
            4,
            label="test",
            checkpoint=path,
            run_id="r1",
            on_segment=killed_after_two_segments,
        )
    saved = segments.load_checkpoint(path, segments._start(SPEC, params, data, hyper)[0])
    assert saved.next_chunk == 8 and saved.run_id == "r1"
    resumed_steps = []
    again = segments.train_in_segments(
        SPEC,
        params,
        data,
        hyper,
        key,
        4,
        label="test",
        checkpoint=path,
        run_id="r1",
        on_segment=lambda points, step: resumed_steps.append(step),
    )
    assert_same_bits(again, whole)
    # The checkpoint's points first (the receiver skips those it logged before the kill), then the rest.
    assert resumed_steps[0] == 8 * SPEC.log_every and resumed_steps[1] > 8 * SPEC.log_every


def test_short_runs_are_one_program_and_long_ones_are_cut():
    assert segments.chunks_per_segment(SPEC, (2, 8, 1), 320) is None
    long_run = SPEC._replace(steps=10**8, log_every=100)
    chunks = segments.chunks_per_segment(long_run, (2, 8, 1), 320)
    assert chunks is not None and chunks & (chunks - 1) == 0  # a power of two


def test_progress_off_a_terminal_is_a_line_every_ten_percent():
    out = io.StringIO()
    progress = segments.Progress("run", 1000, stream=out)
    for done in range(50, 1001, 50):
        progress.update(done, 0.5)
    lines = out.getvalue().splitlines()
    # the first segment's line (an ETA early), then one at each tenth
    assert len(lines) == 11 and lines[-1].startswith("run: step 1000/1000 (100%)") and "eta" in lines[0]
    assert lines[0].startswith("run: step 50/1000 (5%)")


def test_a_checkpoint_lives_in_the_folder_the_command_started_in_not_the_jobs(tmp_path, monkeypatch):
    from pipeline.data import COMMAND_DIR_VARIABLE

    started, job_folder = tmp_path / "started", tmp_path / "outputs" / "job"
    job_folder.mkdir(parents=True)
    monkeypatch.chdir(job_folder)  # hydra.job.chdir=true: the job runs in its own folder
    monkeypatch.setenv(COMMAND_DIR_VARIABLE, str(started))
    assert segments.checkpoint_path("abc") == started / ".checkpoints" / "abc.npz"
    monkeypatch.delenv(COMMAND_DIR_VARIABLE)  # a job called outside the command: the current folder
    assert segments.checkpoint_path("abc") == job_folder / ".checkpoints" / "abc.npz"
