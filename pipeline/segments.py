"""Long runs in segments: progress while they train, live metrics, checkpoints, prompt interrupts.

A short run is one compiled program (pipeline/train.py `train`). A run whose estimated
training time exceeds `SEGMENT_ABOVE_SECONDS` is trained as the same pieces (`start`,
`run_chunks`, `finish`) cut into segments of about `SEGMENT_SECONDS` each. Between two
segments the host:

- shows progress (a tqdm bar on a terminal, a plain line every 10% elsewhere),
- saves a checkpoint atomically (`.checkpoints/<config hash>.npz` in the folder the command was
  started in, also under hydra.job.chdir: the Carry, the metric points so far, the next chunk,
  the run's id),
- hands the segment's metric points to the caller, which logs them to the MLflow run,
- and lets Ctrl-C / SIGTERM through: an interrupt ends the run within a segment's time.

On the CPU the bits do not depend on where the run is cut: every segment runs the same step
function on the carried state, and tests/test_segments.py checks segmented against unbroken
runs, and a run continued from a checkpoint against one never interrupted. On a GPU a loop of
one chunk was not (README, "On a GPU"), so no segment has one (`segment_lengths`), except in a
run with a single chunk left, where the unbroken program's loop has one too.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from pipeline.data import command_path
from pipeline.train import Carry, TrainResult, TrainSpec, assemble, finish, run_chunks, start

SEGMENT_ABOVE_SECONDS = 3.0  # runs estimated to train longer than this are segmented
SEGMENT_SECONDS = 1.0  # the aim for one segment's training time
CHECKPOINT_DIR = Path(".checkpoints")
LINE_EVERY_SECONDS = 60.0  # off a terminal, a progress line at least this often
# No segment of a single chunk is cut out of a run of several: XLA removes a loop that runs once
# and fuses its body with what surrounds it. The CPU's roundings do not change with that, a GPU's
# can (README, "On a GPU": one-chunk segments were 5e-7 apart there, longer ones bitwise equal).
MIN_SEGMENT_CHUNKS = 2

_start = jax.jit(start, static_argnums=0)
_chunks = jax.jit(run_chunks, static_argnums=(0, 6))
_finish = jax.jit(finish, static_argnums=0)


def estimated_step_seconds(spec: TrainSpec, sizes: tuple[int, ...], m: int) -> float:
    """A rough cost of one optimizer step on a CPU: a fixed overhead, plus the multiply-adds of
    the forward and backward passes (about 3 × 2 flops per weight and example) at ~2 GFLOP/s."""
    batch = min(spec.batch_size or m, m)
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    return 5e-6 + 6 * weights * batch / 2e9


def chunks_per_segment(spec: TrainSpec, sizes: tuple[int, ...], m: int) -> Optional[int]:
    """None for a run short enough to be one program; else the logged chunks per segment (a power
    of two, so that few segment lengths, and so few programs, are ever compiled)."""
    step = estimated_step_seconds(spec, sizes, m)
    if spec.steps * step <= SEGMENT_ABOVE_SECONDS:
        return None
    chunks = max(1, int(SEGMENT_SECONDS / (step * spec.log_every)))
    return 2 ** int(math.log2(chunks))


def segment_lengths(full_chunks: int, next_chunk: int, chunks_per: int) -> list[int]:
    """The chunks in each segment from chunk `next_chunk` on.

    A run trained from its start is cut every `chunks_per` chunks (at least MIN_SEGMENT_CHUNKS)
    while at least MIN_SEGMENT_CHUNKS remain, so its last segment takes the tail. A run continued
    from its checkpoint is cut at the same places; one continued from elsewhere (a checkpoint
    saved under another rule) goes to the next of those places, or the one after if the next is
    nearer than MIN_SEGMENT_CHUNKS. Only a run with a single chunk left has a one-chunk segment."""
    per = max(chunks_per, MIN_SEGMENT_CHUNKS)
    if next_chunk >= full_chunks:
        return []
    # k * per for every k with next_chunk < k * per <= full_chunks - MIN_SEGMENT_CHUNKS, then the end.
    cuts = [*range((next_chunk // per + 1) * per, full_chunks - MIN_SEGMENT_CHUNKS + 1, per), full_chunks]
    if len(cuts) > 1 and cuts[0] - next_chunk < MIN_SEGMENT_CHUNKS:
        del cuts[0]
    return [end - begin for begin, end in zip([next_chunk, *cuts], cuts)]


@dataclass
class Checkpoint:
    """What a segmented run needs to continue: saved after each segment."""

    carry: Carry
    points: list  # metric points so far, each (loss, train, val, grad_norm) with a leading axis
    next_chunk: int
    run_id: str


def checkpoint_path(config_hash: str) -> Path:
    """Where a run's checkpoint lives: under the folder the command was started in, also for a
    job Hydra runs in its own folder (hydra.job.chdir=true), so running the command again finds it."""
    return command_path(CHECKPOINT_DIR) / f"{config_hash}.npz"


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Written to a temporary file, then renamed: a kill mid-write leaves the previous checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    leaves, _ = jax.tree_util.tree_flatten(checkpoint.carry)
    points = [np.concatenate([np.asarray(p[i]) for p in checkpoint.points]) for i in range(4)]
    arrays = {f"carry_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays.update({f"points_{i}": p for i, p in enumerate(points)})
    temporary = path.with_suffix(".tmp.npz")
    # numpy's stubs take any **kwargs of savez for its allow_pickle: bool; these are arrays.
    np.savez(temporary, next_chunk=checkpoint.next_chunk, run_id=checkpoint.run_id, **arrays)  # type: ignore[arg-type]
    os.replace(temporary, path)


def checkpoint_run_id(path: Path) -> str:
    """The id of the MLflow run a checkpoint belongs to."""
    with np.load(path) as saved:
        return str(saved["run_id"])


def load_checkpoint(path: Path, like: Carry) -> Optional[Checkpoint]:
    """The checkpoint at `path` for a run whose Carry looks like `like`, or None."""
    if not path.exists():
        return None
    with np.load(path) as saved:
        treedef = jax.tree_util.tree_structure(like)
        leaves = [jnp.asarray(saved[f"carry_{i}"]) for i in range(treedef.num_leaves)]  # type: ignore[attr-defined]  # jaxlib extension type, attributes untyped
        points = [tuple(jnp.asarray(saved[f"points_{i}"]) for i in range(4))]
        return Checkpoint(
            jax.tree_util.tree_unflatten(treedef, leaves), points, int(saved["next_chunk"]), str(saved["run_id"])
        )


class Progress:
    """step / total, the loss, steps per second and an ETA: a live bar on a terminal; elsewhere a
    line after the first segment (the ETA early), then every 10% or every LINE_EVERY_SECONDS."""

    def __init__(self, label: str, total: int, done: int = 0, stream=None):
        self.stream = stream or sys.stderr
        self.total, self.done, self.label = total, done, label
        self.started, self.first_done = time.perf_counter(), done
        self.live = self.stream.isatty()
        self.next_line = (done * 10 // max(total, 1) + 1) * total / 10
        self.bar, self.lines, self.last_line = None, 0, time.perf_counter()
        if self.live:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,
                desc=label,
                unit="step",
                unit_scale=True,
                file=self.stream,
                dynamic_ncols=True,
            )

    def update(self, done: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(done - self.done)
            self.bar.set_postfix(loss=f"{loss:.4g}", refresh=True)
        elif (
            done >= self.next_line
            or done == self.total
            or self.lines == 0
            or time.perf_counter() - self.last_line > LINE_EVERY_SECONDS
        ):
            rate = (done - self.first_done) / max(time.perf_counter() - self.started, 1e-9)
            eta = (self.total - done) / rate if rate > 0 else math.inf
            print(
                f"{self.label}: step {done}/{self.total} ({100 * done / self.total:.0f}%), loss {loss:.4g}, "
                f"{rate:.0f} steps/s, eta {eta:.0f}s",
                file=self.stream,
                flush=True,
            )
            while self.next_line <= done:
                self.next_line += self.total / 10
            self.lines, self.last_line = self.lines + 1, time.perf_counter()
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


OnSegment = Callable[[list, int], None]  # (the segment's metric points, the last step it trained)


def train_in_segments(
    spec: TrainSpec,
    params,
    data,
    hyper,
    key,
    chunks_per: int,
    *,
    label: str,
    checkpoint: Optional[Path] = None,
    run_id: str = "",
    on_segment: Optional[OnSegment] = None,
) -> TrainResult:
    """`train(spec, params, data, hyper, key)`, the same bits, in segments of about `chunks_per`
    logged chunks (`segment_lengths`).

    With `checkpoint`, continues from it if it exists and saves it after every segment. The
    checkpoint is saved before a segment's points are handed to `on_segment`, so a kill between
    the two leaves points that only the checkpoint holds: a continued run hands all of its
    checkpoint's points over first, and `on_segment` skips those it has (recording.LiveMetrics)."""
    full_chunks, remainder = divmod(spec.steps, spec.log_every)
    carry, first = _start(spec, params, data, hyper)
    points = [jax.tree_util.tree_map(lambda x: x[None], first)]
    next_chunk = 0
    saved = load_checkpoint(checkpoint, carry) if checkpoint else None
    if saved is not None:
        carry, points, next_chunk = saved.carry, saved.points, saved.next_chunk
    if on_segment:  # a continued run: the checkpoint's points, some of which the kill kept from the store
        on_segment(points, next_chunk * spec.log_every)
    progress = Progress(label, spec.steps, done=next_chunk * spec.log_every)
    try:
        for count in segment_lengths(full_chunks, next_chunk, chunks_per):
            carry, chunk_points = _chunks(spec, carry, data, hyper, key, jnp.asarray(next_chunk, jnp.int32), count)
            chunk_points = jax.device_get(chunk_points)  # waits for the segment: an interrupt lands here
            points.append(chunk_points)
            next_chunk += count
            if checkpoint:
                save_checkpoint(checkpoint, Checkpoint(carry, points, next_chunk, run_id))
            if on_segment:
                on_segment([chunk_points], next_chunk * spec.log_every)
            progress.update(next_chunk * spec.log_every, float(chunk_points[0][-1]))
        if remainder:
            carry, last = _finish(spec, carry, data, hyper, key)
            last = jax.tree_util.tree_map(lambda x: np.asarray(x)[None], jax.device_get(last))
            points.append(last)
            if on_segment:
                on_segment([last], spec.steps)
            progress.update(spec.steps, float(last[0][-1]))
    finally:
        progress.close()
    return assemble(spec, carry, points)


def segmented(spec: TrainSpec, sizes: tuple[int, ...], m: int):
    """`partial(train_in_segments, chunks_per=...)` for a long run, None for a short one."""
    chunks_per = chunks_per_segment(spec, sizes, m)
    return None if chunks_per is None else partial(train_in_segments, chunks_per=chunks_per)
