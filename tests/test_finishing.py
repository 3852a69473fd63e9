"""A run ends FINISHED only once all its files are drawn and uploaded; else FAILED, never half."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from pipeline import finishing, plots


class FakeTracker:
    """Records what finishing does to a run; optionally fails the upload."""

    def __init__(self, upload_fails: bool = False):
        self.upload_fails = upload_fails
        self.uploaded: list[str] = []
        self.statuses: list[str] = []
        self.tags: dict = {}

    def log_artifacts(self, run_id, folder, artifact_path=None, *, remove=False, make=()):
        if self.upload_fails:
            raise OSError("disk full")
        for function, args in make:  # as pipeline/tracking.py's: the files made, then uploaded
            function(folder, *args)
        self.uploaded = sorted(p.name for p in Path(folder).iterdir())
        self.removes = remove  # the folder is the tracker's to remove (pipeline/tracking.py)

    def end_run(self, run_id, status):
        self.statuses.append(status)

    def set_tags(self, run_id, tags):
        self.tags.update(tags)


def _loss_plot(folder: Path):
    steps = np.arange(5)
    return (plots.plot_loss_curve, (steps, np.exp(-steps), folder / "loss_curve.png"), {"title": "t"})


def _broken_plot(folder: Path):
    # A plot that cannot be drawn: steps and loss of different lengths.
    return (plots.plot_loss_curve, (np.arange(3), np.ones(4), folder / "loss_curve.png"), {"title": "t"})


@pytest.fixture(params=["inline", "worker"])
def mode(request, monkeypatch):
    monkeypatch.setattr(finishing, "_in_background", request.param == "worker")
    yield request.param
    finishing.drain()


def test_files_are_uploaded_before_the_run_ends_finished(mode):
    tracker, files = FakeTracker(), tempfile.TemporaryDirectory()
    (Path(files.name) / "params.npz").write_bytes(b"x")
    finishing.finish_run(tracker, "run", files, [_loss_plot(Path(files.name))])
    finishing.drain()
    assert tracker.uploaded == ["loss_curve.png", "params.npz"]
    assert tracker.statuses == ["FINISHED"] and tracker.removes
    assert not Path(files.name).exists()  # the staging folder is gone


def test_a_plot_that_cannot_be_drawn_fails_the_run_and_uploads_nothing(mode):
    tracker, files = FakeTracker(), tempfile.TemporaryDirectory()
    finishing.finish_run(tracker, "run", files, [_broken_plot(Path(files.name))])
    finishing.drain()
    assert tracker.statuses == ["FAILED"] and tracker.uploaded == []
    assert "artifacts could not be written" in tracker.tags["failure_reason"]


def test_a_failed_upload_is_not_reported_finished(mode):
    tracker, files = FakeTracker(upload_fails=True), tempfile.TemporaryDirectory()
    finishing.finish_run(tracker, "run", files, [_loss_plot(Path(files.name))])
    finishing.drain()
    assert tracker.statuses == ["FAILED"]
    assert "disk full" in tracker.tags["failure_reason"]


def test_calls_name_their_plot_function(mode, tmp_path):
    # What the pipeline itself hands over: a pipeline.plots function by name, so the process
    # that runs a sweep need not import matplotlib to build the call.
    tracker, files = FakeTracker(), tempfile.TemporaryDirectory()
    _, args, kwargs = _loss_plot(Path(files.name))
    finishing.finish_run(tracker, "run", files, [("plot_loss_curve", args, kwargs)])
    finishing.drain()
    assert tracker.uploaded == ["loss_curve.png"] and tracker.statuses == ["FINISHED"]


def test_draw_draws_every_call_and_raises_the_first_error(mode, tmp_path):
    _, args, kwargs = _loss_plot(tmp_path)
    calls = [("plot_loss_curve", (*args[:2], tmp_path / f"{i}.png"), kwargs) for i in range(3)]
    finishing.draw(calls)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "1.png", "2.png"]
    _, broken, _ = _broken_plot(tmp_path)
    with pytest.raises(ValueError, match="differ in length"):
        finishing.draw([*calls, ("plot_loss_curve", broken, kwargs)])


def test_the_process_that_runs_a_sweep_does_not_import_matplotlib():
    # It records runs and writes the summary; drawing is the drawing processes' work, and
    # importing matplotlib would cost the sweep's critical path about half a second.
    import subprocess
    import sys

    probe = "import sys, pipeline.sweep, pipeline.recording, pipeline.summary; print('matplotlib' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def test_the_runs_own_files_are_made_where_they_are_uploaded(tmp_path, mode):
    tracker = FakeTracker()
    files = tempfile.TemporaryDirectory(dir=tmp_path)
    made = [
        (finishing.yaml_file, ("resolved_config.yaml", {"defaults": ["schema"], "lr": 0.5}, "# header\n")),
        (finishing.npz_file, ("params.npz", {"W1": np.eye(2)})),
    ]
    finishing.finish_run(tracker, "run", files, [_loss_plot(Path(files.name))], made)
    finishing.drain()
    assert tracker.uploaded == ["loss_curve.png", "params.npz", "resolved_config.yaml"]
    assert tracker.statuses == ["FINISHED"]


def test_a_file_that_cannot_be_made_fails_the_run(tmp_path, mode):
    tracker = FakeTracker()
    files = tempfile.TemporaryDirectory(dir=tmp_path)
    finishing.finish_run(tracker, "run", files, [], [(finishing.yaml_file, ("no/such/folder/x.yaml", {"a": 1}))])
    finishing.drain()
    assert tracker.statuses == ["FAILED"] and "FileNotFoundError" in tracker.tags["failure_reason"]
