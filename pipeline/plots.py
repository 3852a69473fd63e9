"""PNG plots for runs and sweeps: loss curves, decision boundaries, sweep comparisons.

Every figure is a bare `matplotlib.figure.Figure` (never pyplot), so no global figure
registry fills up across the hundreds of jobs of a sweep and nothing needs a display.
Each public function writes one PNG and returns its path. Arrays follow the notes'
convention: examples are columns, so a data set is X (n_x, m) and labels Y (1, m).
"""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogFormatter

from pipeline.predict import NetworkPredict, Predict  # noqa: F401 (drawn from; NetworkPredict re-exported)

_MAX_LEGEND = 12  # more entries than this hide the plot instead of explaining it


def _save(fig: Figure, path) -> Path:
    """Write `fig` as PNG; dropping the "Software" tag keeps the bytes reproducible."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # compress_level 1: a third of the encoding time of the default 6, for files a little larger.
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None}, pil_kwargs={"compress_level": 1})
    return path


def _set_log_y_if_positive(ax: Axes, *arrays: np.ndarray) -> None:
    """Log-y when every finite value is > 0: losses span decades. NaN/inf (a diverged run) are ignored."""
    finite = np.concatenate([np.asarray(a, float).ravel() for a in arrays])
    finite = finite[np.isfinite(finite)]
    if finite.size and np.all(finite > 0):
        _log_y(ax)


def _log_y(ax: Axes, **kwargs) -> None:
    """A log y axis labelled in plain numbers (0.1, 0.01): the default 10^k labels go through
    mathtext, which costs more than drawing the rest of a run's plot."""
    ax.set_yscale("log", **kwargs)
    ax.yaxis.set_major_formatter(_PlainLogFormatter())
    # Within a decade or two, some minor ticks are labelled too (as matplotlib's default does).
    ax.yaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False))


class _PlainLogFormatter(LogFormatter):
    """matplotlib's choice of which log ticks to label, written plainly: 0.3, 1, 20, 1e-05."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:.3g}"


def plot_loss_curve(steps, loss, path, *, title: str, val_metric: tuple[str, np.ndarray] | None = None) -> Path:
    """Training loss vs step. steps, loss: (k,). val_metric: (name, values (k,)) on a right-hand axis."""
    steps, loss = np.asarray(steps).ravel(), np.asarray(loss, float).ravel()
    if steps.shape != loss.shape:
        raise ValueError(f"steps {steps.shape} and loss {loss.shape} differ in length")
    fig = Figure(figsize=(6, 4.4))
    # Fixed margins: constrained layout costs more than the whole rest of this plot. The room
    # at the bottom holds the legend, off the curves.
    fig.subplots_adjust(left=0.14, right=0.86, bottom=0.24, top=0.91)
    ax = fig.add_subplot()
    ax.plot(steps, loss, color="C0", label="train loss")
    _set_log_y_if_positive(ax, loss)
    ax.set(xlabel="step", ylabel="loss")
    _fixed_positions(ax, title, xlabel=(0.5, -0.1), ylabel=(-0.12, 0.5))
    if val_metric is not None:
        name, values = val_metric
        values = np.asarray(values, float).ravel()
        if values.shape != steps.shape:
            raise ValueError(f"{name} has {values.size} values for {steps.size} steps")
        ax2 = ax.twinx()  # a metric in [0, 1] next to a loss on a log scale needs its own axis
        ax2.plot(steps, values, color="C1", label=name)
        ax2.set_ylabel(name)
        ax2.yaxis.set_label_coords(1.12, 0.5)
    handles = ax.get_lines() + (ax2.get_lines() if val_metric is not None else [])
    ax.legend(
        handles,
        [str(h.get_label()) for h in handles],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.15),
        ncols=len(handles),
        frameon=False,
    )
    return _save(fig, path)


def _draw_boundary(ax: Axes, predict: Predict, X, Y, resolution: int, legend: bool = True) -> None:
    """predict's probability over a padded grid as a shaded image, its 0.5 line, the points by label,
    and (legend) a legend saying what the colours mean.

    X: (2, m), Y: (1, m) or (m,). predict gets (2, resolution**2) grid points as columns.
    An image, not filled contours, and each class's points as one line of markers, not a
    scatter: the same picture for a third of the drawing time (a sweep draws one per run).
    """
    X = np.asarray(X, float)
    if X.ndim != 2 or X.shape[0] != 2:
        raise ValueError(f"decision boundary needs X of shape (2, m), got {X.shape}")
    y = np.asarray(Y).ravel()
    if y.size != X.shape[1]:
        raise ValueError(f"Y has {y.size} labels for {X.shape[1]} examples")
    lo, hi = X.min(axis=1), X.max(axis=1)
    pad = np.maximum(0.1 * (hi - lo), 0.5)  # room around the data; 0.5 if it is all on a line
    x0 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    x1 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    g0, g1 = np.meshgrid(x0, x1)
    grid = np.stack([g0.ravel(), g1.ravel()])  # (2, r*r): columns are examples
    prob = np.asarray(predict(grid), float).reshape(g0.shape)
    ax.imshow(
        prob,
        extent=(x0[0], x0[-1], x1[0], x1[-1]),
        origin="lower",
        cmap="RdBu",
        vmin=0,
        vmax=1,
        alpha=0.45,
        interpolation="nearest",
        aspect="auto",
    )
    if np.nanmin(prob) < 0.5 < np.nanmax(prob):  # else contour() warns that there is no line
        ax.contour(g0, g1, prob, levels=[0.5], colors="k", linewidths=1)
    colours = matplotlib.colormaps["RdBu"]
    for label in np.unique(y):
        at = y == label
        ax.plot(
            X[0, at],
            X[1, at],
            label=f"y = {label:g}",
            linestyle="none",
            marker="o",
            markersize=math.sqrt(14),  # the area of the scatter markers it replaces
            markerfacecolor=colours(float(np.clip(label, 0, 1))),
            markeredgecolor="white",
            markeredgewidth=0.5,
        )
    ax.set_xlim(x0[0], x0[-1])
    ax.set_ylim(x1[0], x1[-1])
    ax.set(xlabel="x₁", ylabel="x₂")  # not "$x_1$": mathtext costs more than the rest of the text
    if legend:  # what the colours mean; at a fixed corner ("best" would measure every point)
        ax.plot([], [], color="k", linewidth=1, label="ŷ = 0.5 (shade: ŷ, red 0 to blue 1)")
        ax.legend(loc="upper right", fontsize="x-small", framealpha=0.85)


def _fixed_positions(ax: Axes, title: str, xlabel: tuple[float, float], ylabel: tuple[float, float]) -> None:
    """The title and axis labels at fixed places: placed automatically, matplotlib measures
    every tick label of the axes to find their room, a third of the time a run's plot takes."""
    ax.set_title(title, y=1.0, pad=6)
    ax.xaxis.set_label_coords(*xlabel)
    ax.yaxis.set_label_coords(*ylabel)


def plot_decision_boundary(predict: Predict, X, Y, path, *, title: str, resolution: int = 200) -> Path:
    """Decision regions of a binary classifier. predict: (2, k) -> (1, k) in [0, 1]; X (2, m); Y (1, m)."""
    fig = Figure(figsize=(5, 5))
    fig.subplots_adjust(left=0.13, right=0.96, bottom=0.11, top=0.93)  # fixed: see plot_loss_curve
    ax = fig.add_subplot()
    _draw_boundary(ax, predict, X, Y, resolution)
    _fixed_positions(ax, title, xlabel=(0.5, -0.07), ylabel=(-0.1, 0.5))
    return _save(fig, path)


def plot_decision_boundaries_grid(
    panels: list[tuple[str, Predict]], X, Y, path, *, title: str, resolution: int = 120
) -> Path:
    """Several decision boundaries (label, predict) on the same data X (2, m), Y (1, m); 4 per row."""
    if not panels:
        raise ValueError("plot_decision_boundaries_grid needs at least one panel")
    ncols = min(len(panels), 4)
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(3.5 * ncols, 3.5 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel()
    for number, (ax, (label, predict)) in enumerate(zip(axes, panels)):
        _draw_boundary(ax, predict, X, Y, resolution, legend=number == 0)  # the same colours in every panel
        ax.set_title(label, fontsize="small")
    for ax in axes[len(panels) :]:
        fig.delaxes(ax)  # the unused cells of the last row
    _suptitle(fig, title)
    return _save(fig, path)


def _key(value):
    """Group/sort key for a config value: lists (e.g. layer widths) become hashable tuples."""
    return tuple(value) if isinstance(value, list) else value


def _sorted(values) -> list:
    """Distinct values sorted naturally, falling back to their text when types mix."""
    distinct = set(values)
    try:
        return sorted(distinct)
    except TypeError:
        return sorted(distinct, key=str)


def _has_metric(row: dict, metric: str) -> bool:
    value = row.get(metric)  # failed jobs lack it; diverged ones may report NaN
    return value is not None and np.isfinite(float(value))


def _sweep_accuracy_figure(
    rows: list[dict],
    *,
    x: str = "model.hidden",
    series: str | None = "optim.lr",
    panels: str | None = "model.activation",
    metric: str = "val_accuracy",
    title: str | None = None,
    averaged_over: Sequence[str] = (),
) -> Figure:
    """The figure behind plot_sweep_accuracy: one Axes per panel value, one line per series value.

    Several rows at the same (panel, series, x) (e.g. seeds) are averaged into one point, and the
    y label says so (`averaged_over`: the keys they differ in). `panels=None`: one panel, titled
    by nothing but the metric. `series=None`: one line per panel, no legend.
    """
    rows = [r for r in rows if _has_metric(r, metric)]
    panel_values = (_sorted(_key(r.get(panels)) for r in rows) if panels else []) or [None]
    x_values = _sorted(_key(r.get(x)) for r in rows)
    x_pos = {v: i for i, v in enumerate(x_values)}  # evenly spaced: sizes like 1, 4, 64 stay readable
    # One style per series value across every panel, so that one legend speaks for all of them.
    styles = _distinct_styles(_sorted(_key(r.get(series)) for r in rows) if series else [None])
    fig = Figure(figsize=(max(4.5 * len(panel_values), 6.5), 4), layout="constrained")
    axes = fig.subplots(1, len(panel_values), squeeze=False, sharey=True)[0]
    averaged = 1
    for ax, pv in zip(axes, panel_values):
        points: defaultdict[Any, defaultdict[Any, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )  # series value -> x value -> metrics
        for r in rows:
            if panels is None or _key(r.get(panels)) == pv:
                points[_key(r.get(series)) if series else None][_key(r.get(x))].append(float(r[metric]))
        for sv in _sorted(points):
            xs = sorted(points[sv], key=x_pos.__getitem__)
            averaged = max([averaged] + [len(points[sv][v]) for v in xs])
            colour, linestyle = styles[sv]
            ax.plot(
                [x_pos[v] for v in xs],
                [np.mean(points[sv][v]) for v in xs],
                marker="o",
                color=colour,
                linestyle=linestyle,
                label=_short(sv) if series else None,
            )
        ax.set_xticks(range(len(x_values)), [str(v) for v in x_values])
        ax.set(xlabel=x, title=f"{panels}={pv}" if pv is not None else metric)
        if not rows:
            ax.text(0.5, 0.5, f"no run reported {metric}", ha="center", transform=ax.transAxes)
    axes[0].set_ylabel(metric if averaged == 1 else f"{metric}\n(each point: {_mean_of(averaged, averaged_over)})")
    if series and 0 < len(styles) <= _MAX_LEGEND and rows:
        # Beside the panels, never over a point of them.
        handles = [Line2D([], [], color=c, linestyle=ls, marker="o", label=_short(v)) for v, (c, ls) in styles.items()]
        axes[-1].legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),  # right of the last panel, below the figure's title
            fontsize="small",
            title=series,
            title_fontsize="small",
        )
    _suptitle(fig, title or (f"{metric} by {x}, one line per {series}" if series else f"{metric} by {x}"))
    return fig


def _mean_of(count: int, keys: Sequence[str]) -> str:
    """What a point averages: "mean of 3 seeds", "mean of 2 data.noise values", "mean of 4 runs"."""
    if list(keys) == ["train.seed"]:
        return f"mean of {count} seeds"
    if len(keys) == 1:
        return f"mean of {count} {keys[0]} values"
    return f"mean of {count} runs"


def _distinct_styles(values: list) -> dict[Any, tuple[str, Any]]:
    """(colour, line style) for each of `values`, all different: the ten default colours, then
    again dashed, dotted, dash-dotted."""
    return {v: (f"C{i % 10}", _LINESTYLES[(i // 10) % len(_LINESTYLES)]) for i, v in enumerate(values)}


_LINESTYLES: tuple[Any, ...] = ("-", "--", ":", "-.")  # Any: matplotlib types them as Literals


def _suptitle(fig: Figure, title: str) -> None:
    """The figure's title, wrapped to the figure's width: a long one would be cut at both edges."""
    # About 9.5 characters of the title's 12-point font per inch (DejaVu Sans averages 7.5 points).
    width = max(20, int(fig.get_figwidth() * 9.5))
    fig.suptitle("\n".join(textwrap.wrap(title, width, break_on_hyphens=False)))


def _short(value) -> str:
    """A legend's or a label's value: 3 significant digits for a float (0.0809638 -> 0.081)."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def plot_sweep_accuracy(
    rows: list[dict],
    path,
    *,
    x: str = "model.hidden",
    series: str | None = "optim.lr",
    panels: str | None = "model.activation",
    metric: str = "val_accuracy",
    title: str | None = None,
    averaged_over: Sequence[str] = (),
) -> Path:
    """Sweep comparison from flat result rows ({"model.hidden": 8, ..., "val_accuracy": 0.9}).

    One panel per value of `panels` (one panel if it is None or no row has that key), `metric` vs `x` on a
    categorical axis, one line per value of `series` (one line if it is None). Rows without a finite
    metric are skipped; rows that differ only in `averaged_over` are averaged into one point.
    """
    figure = _sweep_accuracy_figure(
        rows, x=x, series=series, panels=panels, metric=metric, title=title, averaged_over=averaged_over
    )
    return _save(figure, path)


def _colour_scale(values: list, label: str | None):
    """(colour of each value, ScalarMappable for a colour bar): numbers on a continuous scale
    (logarithmic when they are positive and span more than a decade, as learning rates do)."""
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.cm import ScalarMappable

    numbers = np.asarray(values, float)
    lo, hi = float(np.nanmin(numbers)), float(np.nanmax(numbers))
    norm: Normalize
    if lo > 0 and hi / lo > 10:
        norm = LogNorm(lo, hi)
    else:
        norm = Normalize(lo, hi if hi > lo else lo + 1)
    mappable = ScalarMappable(norm=norm, cmap="viridis")
    return [mappable.to_rgba(v) for v in numbers], mappable


def _numeric(values: list) -> bool:
    return bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values
    )


def plot_loss_curves_overlay(
    curves: list[tuple], path, *, title: str, colour_by: str | None = None, style_by: str | None = None
) -> Path:
    """Several loss curves, each (label, steps (k,), loss (k,)), optionally followed by the
    curve's value of `colour_by` and of `style_by` (two keys the sweep varies).

    Up to 12 curves: each its own look, one legend entry each, beside the plot (colour by
    `colour_by`'s value and line style by `style_by`'s when that tells every curve apart).
    More: coloured by `colour_by`'s value (on a colour bar when it is a number, so 28 lines read
    as one trend) and styled by `style_by`'s, with a legend of those values only.
    """
    fig = Figure(figsize=(8, 4.4), layout="constrained")
    ax = fig.add_subplot()
    colour_values = [c[3] if len(c) > 3 else None for c in curves]
    style_values = [c[4] if len(c) > 4 else None for c in curves]
    few = len(curves) <= _MAX_LEGEND
    if few:
        looks, handles, mappable = _each_curve_apart(colour_values, style_values), [], None
    else:
        looks, handles, mappable = _curves_by_value(colour_values, style_values, colour_by, style_by)
    for (label, steps, loss, *_), (colour, linestyle) in zip(curves, looks):
        ax.plot(
            np.asarray(steps).ravel(),
            np.asarray(loss, float).ravel(),
            label=label,
            alpha=1.0 if few else 0.6,  # many overlapping lines: let density show
            color=colour,
            linestyle=linestyle,
            linewidth=1.2,
        )
    if curves:
        _set_log_y_if_positive(ax, *(c[2] for c in curves))
    ax.set(xlabel="step", ylabel="training loss", title=title)
    if mappable is not None:
        fig.colorbar(mappable, ax=ax, label=colour_by)
    if few and curves:
        handles = ax.get_lines()
    if handles:  # beside the plot, never over a curve
        fig.legend(handles=handles, loc="outside right upper", fontsize="x-small" if few else "small")
    return _save(fig, path)


def _each_curve_apart(colour_values: list, style_values: list) -> list[tuple[str, Any]]:
    """(colour, line style) of each of a few curves, no two alike: a colour per value of the
    first key and a line style per value of the second when their pairs tell the curves apart,
    else a look per curve."""
    pairs = list(zip(colour_values, style_values))
    colours, styles = _sorted(_key(v) for v in colour_values), _sorted(_key(v) for v in style_values)
    if len(set(pairs)) == len(pairs) and len(colours) <= 10 and len(styles) <= len(_LINESTYLES):
        return [(f"C{colours.index(_key(c))}", _LINESTYLES[styles.index(_key(s))]) for c, s in pairs]
    return list(_distinct_styles(list(range(len(pairs)))).values())


def _curves_by_value(colour_values: list, style_values: list, colour_by: str | None, style_by: str | None):
    """(colour, line style) of each of many curves, by their values of `colour_by` and `style_by`;
    the legend handles naming those values; the colour bar's mappable for a numeric `colour_by`."""
    colours: list[Any] = [None] * len(colour_values)
    handles: list[Line2D] = []
    mappable = None
    distinct = _sorted(_key(v) for v in colour_values)
    if colour_by is not None and _numeric(colour_values) and len(distinct) > 1:
        colours, mappable = _colour_scale(colour_values, colour_by)
    elif colour_by is not None and 1 < len(distinct) <= 10:
        colours = [f"C{distinct.index(_key(v))}" for v in colour_values]
        handles += [Line2D([], [], color=f"C{i}", label=f"{colour_by}={_short(v)}") for i, v in enumerate(distinct)]
    styles = _sorted(_key(v) for v in style_values)
    linestyles = ["-"] * len(style_values)
    if style_by is not None and 1 < len(styles) <= len(_LINESTYLES):
        linestyles = [_LINESTYLES[styles.index(_key(v))] for v in style_values]
        handles += [
            Line2D([], [], color="k", linestyle=_LINESTYLES[i], label=f"{style_by}={_short(v)}")
            for i, v in enumerate(styles)
        ]
    return list(zip(colours, linestyles)), handles, mappable


def plot_search(rows: list[dict], path, *, keys: list[str], metric: str, title: str) -> Path:
    """A search's trials (Optuna): `metric` against each searched key, one panel per key,
    points coloured by trial order (colour bar), the best ringed. Rows lacking it are skipped."""
    rows = [r for r in rows if _has_metric(r, metric)]
    keys = keys or ["job"]
    fig = Figure(figsize=(4.5 * len(keys) + 1, 4), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False, sharey=True)[0]
    order = [r.get("job") if isinstance(r.get("job"), int) else i for i, r in enumerate(rows)]
    colours, mappable = _colour_scale(order, "trial") if len(set(order)) > 1 else (["C0"] * len(rows), None)
    for ax, key in zip(axes, keys):
        xs: list[Any] = [r.get(key) for r in rows]
        numeric = _numeric(xs)
        if numeric:
            ax.scatter(xs, [r[metric] for r in rows], c=colours, s=30, edgecolors="k", linewidths=0.3)
            if all(v > 0 for v in xs) and max(xs) / min(xs) > 10:
                ax.set_xscale("log")
        else:
            labels = _sorted(str(v) for v in xs)
            ax.scatter([labels.index(str(v)) for v in xs], [r[metric] for r in rows], c=colours, s=30)
            ax.set_xticks(range(len(labels)), labels)
        ax.set(xlabel=key)
    if rows:
        best = max(rows, key=lambda r: r[metric]) if "accuracy" in metric else min(rows, key=lambda r: r[metric])
        ring = dict(s=160, facecolors="none", edgecolors="red", linewidths=1.5, label="best")
        ringed = [
            ax.scatter([best[key]], [best[metric]], **ring) for ax, key in zip(axes, keys) if _numeric([best.get(key)])
        ]
        if ringed:  # one legend, below the panels: inside one it can hide a trial
            fig.legend(handles=ringed[:1], loc="outside lower center", fontsize="small", frameon=False)
    else:
        axes[0].text(0.5, 0.5, f"no trial reported {metric}", ha="center", transform=axes[0].transAxes)
    axes[0].set_ylabel(metric)
    if mappable is not None:
        fig.colorbar(mappable, ax=list(axes), label="trial (order sampled)")
    _suptitle(fig, title)
    return _save(fig, path)


def _draw_layer_norms(ax: Axes, steps, norms, labels: list[str]) -> None:
    for l in range(norms.shape[1]):
        # colour runs with depth, so a vanishing gradient reads as a gradient of colour
        color = matplotlib.colormaps["viridis"](l / max(norms.shape[1] - 1, 1))
        ax.plot(steps, norms[:, l], label=labels[l], color=color)
    _log_y(ax, nonpositive="mask")  # an exactly-zero gradient is a gap, not an error
    ax.set(xlabel="step")


def plot_layer_grad_norms_panels(panels: list[tuple[str, np.ndarray, np.ndarray]], path, *, title: str) -> Path:
    """Each layer's gradient norm over training, one panel per (label, steps (k,), norms (k, L)),
    layers coloured from the first (dark) to the output layer (light), log-y on a shared axis."""
    if not panels:
        raise ValueError("plot_layer_grad_norms_panels needs at least one panel")
    fig = Figure(figsize=(4.2 * len(panels) + 1, 4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    n_layers = max(np.asarray(n).shape[1] for _, _, n in panels)
    for ax, (label, steps, norms) in zip(axes, panels):
        steps, norms = np.asarray(steps).ravel(), np.asarray(norms, float)
        if norms.ndim != 2 or norms.shape[0] != steps.size:
            raise ValueError(f"{label}: norms must be (k, L) with k={steps.size}, got {norms.shape}")
        _draw_layer_norms(
            ax,
            steps,
            norms,
            [f"W{l + 1}" + (" (output)" if l == norms.shape[1] - 1 else "") for l in range(norms.shape[1])],
        )
        ax.set_title(label, fontsize="medium")
    axes[0].set_ylabel("gradient norm ‖dW[l]‖")
    if n_layers <= _MAX_LEGEND:
        axes[-1].legend(fontsize="small", title="layer", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(title)
    return _save(fig, path)
