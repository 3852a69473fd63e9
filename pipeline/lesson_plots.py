"""PNG plots for the lessons: the nudge as a tangent on f, each activation with its slope, time against size.

As in pipeline/plots.py, every figure is a bare `matplotlib.figure.Figure` (never pyplot):
nothing needs a display and no global figure registry fills up. Each function writes one
PNG and returns its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from models import activations
from models.nudge import NOTES_FUNCTIONS

Panel = tuple[str, str, Sequence[int], dict[str, Sequence[float | None]]]  # title, x label, sizes, {line: s}


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})  # no Software tag: same bytes each run
    return path


def nudges_on_f(path: Path, rows: Sequence[dict], h: float) -> Path:
    """One panel per function of the notes: f, and at each nudged a the line through (a, f(a))
    with the nudge's slope, which is the tangent to the eye (rows: the derivatives table's)."""
    fig = Figure(figsize=(11, 8), layout="constrained")
    for ax, fn in zip(fig.subplots(2, 2).ravel(), NOTES_FUNCTIONS):
        mine = [row for row in rows if row["f"] == fn.name]
        points = [row["a"] for row in mine]
        a = np.linspace(0.25, max(points) + 1.5, 200)
        ax.plot(a, [float(fn.f(x)) for x in a], color="black", label=f"f(a) = {fn.name}")
        for row in mine:
            span = np.linspace(row["a"] - 1.0, row["a"] + 1.0, 2)
            ax.plot(
                span,
                row["f_a"] + row["slope"] * (span - row["a"]),
                linestyle="--",
                label=f"a = {row['a']:g}: slope {row['slope']:.6g} (exact {row['exact']:g})",
            )
            ax.plot([row["a"]], [row["f_a"]], "o", color="tab:red")
        ax.set(title=f"f(a) = {fn.name}, nudged by {h:g}", xlabel="a", ylabel="f(a)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _save(fig, path)


def activations_and_slopes(path: Path, names: Sequence[str], leaky_slope: float, z_points: Sequence[float]) -> Path:
    """One panel per activation: g(z) and g'(z) (the hand derivative), the lesson's z marked on g'."""
    fig = Figure(figsize=(11, 8), layout="constrained")
    span = max(abs(z) for z in z_points) * 1.05 or 1.0
    z = np.linspace(-span, span, 801, dtype=np.float32)  # JAX's default precision, x64 or not
    for ax, name in zip(fig.subplots(2, 2).ravel(), names):
        act = activations.ACTIVATIONS[name]
        ax.plot(z, np.asarray(act.g(jnp.asarray(z), leaky_slope)), color="black", label="g(z)")
        ax.plot(z, np.asarray(act.g_prime(jnp.asarray(z), leaky_slope)), color="tab:blue", label="g'(z)")
        marks = np.asarray(z_points, np.float32)
        ax.plot(
            marks, np.asarray(act.g_prime(jnp.asarray(marks), leaky_slope)), "o", color="tab:red", label="the notes' z"
        )
        ax.set(title=name if name != "leaky_relu" else f"leaky_relu (α = {leaky_slope:g})", xlabel="z")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _save(fig, path)


def times_against_sizes(path: Path, panels: Sequence[Panel]) -> Path:
    """One log-log panel per workload: seconds against size, one line per way or device (None: not run)."""
    fig = Figure(figsize=(5.5 * len(panels), 4.5), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, x_label, sizes, lines) in zip(axes, panels):
        for label, seconds in lines.items():
            ran = [(s, t) for s, t in zip(sizes, seconds) if t is not None]
            if ran:
                ax.plot(*zip(*ran), "o-", label=label)
        ax.set(title=title, xlabel=x_label, ylabel="seconds (best call)", xscale="log", yscale="log")
        # The sizes themselves, in plain numbers, as the x ticks: log-scale minor labels would overlap.
        ax.set_xticks(list(sizes), [str(s) for s in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    return _save(fig, path)
