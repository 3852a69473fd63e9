"""Tests for pipeline/plots.py: valid PNGs, plots that reflect their inputs, sweep panel layout."""

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from pipeline import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path) -> np.ndarray:
    """The file is a non-trivial PNG; returns its pixels (H, W, 3 or 4)."""
    path = Path(path)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5_000, "a real plot, not an empty canvas"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4) and min(img.shape[:2]) > 100
    return img[..., :3]


@pytest.fixture
def blobs():
    """Symmetric 2-D data, X (2, 40), Y (1, 40): the label depends on x2 only, so the
    points look the same in the left and right halves of a plot."""
    rng = np.random.default_rng(0)
    half = rng.normal(size=(2, 20)) + np.array([[1.5], [0.0]])
    X = np.concatenate([half, half * np.array([[-1.0], [1.0]])], axis=1)
    Y = (X[1:2] > 0).astype(float)
    return X, Y


def step_right(points):
    return (points[0:1] > 0).astype(float)  # (1, k): class 1 on the right half-plane


def constant(points):
    return np.full((1, points.shape[1]), 0.3)


def left_right_colour_gap(img: np.ndarray) -> float:
    """Mean-colour distance between an interior strip left of x1=0 and one right of it."""
    h, w, _ = img.shape
    rows = slice(int(0.2 * h), int(0.8 * h))
    left = img[rows, int(0.2 * w) : int(0.35 * w)].reshape(-1, 3).mean(axis=0)
    right = img[rows, int(0.7 * w) : int(0.85 * w)].reshape(-1, 3).mean(axis=0)
    return float(np.abs(left - right).sum())


def test_loss_curve_png_with_val_metric(tmp_path):
    steps = np.arange(100)
    out = plots.plot_loss_curve(
        steps,
        np.exp(-steps / 30) + 0.01,
        tmp_path / "loss.png",
        title="loss",
        val_metric=("val_accuracy", np.linspace(0.5, 1, 100)),
    )
    assert isinstance(out, Path) and out == tmp_path / "loss.png"
    assert_png(out)


def test_loss_curve_tolerates_nan_and_rejects_mismatched_metric(tmp_path):
    loss = np.array([1.0, 0.5, np.nan, np.nan])  # a run that diverged
    assert_png(plots.plot_loss_curve(np.arange(4), loss, tmp_path / "nan.png", title="diverged"))
    with pytest.raises(ValueError):
        plots.plot_loss_curve(
            np.arange(4), np.ones(4), tmp_path / "x.png", title="t", val_metric=("val_accuracy", np.ones(3))
        )


def test_loss_curve_is_deterministic(tmp_path):
    args = (np.arange(50), np.linspace(1, 0.1, 50))
    a = plots.plot_loss_curve(*args, tmp_path / "a.png", title="t").read_bytes()
    b = plots.plot_loss_curve(*args, tmp_path / "b.png", title="t").read_bytes()
    assert a == b


def test_decision_boundary_reflects_predict(tmp_path, blobs):
    X, Y = blobs
    seen = []

    def spy(points):
        seen.append(points.shape)
        return step_right(points)

    split = assert_png(plots.plot_decision_boundary(spy, X, Y, tmp_path / "split.png", title="x1 > 0", resolution=50))
    flat = assert_png(
        plots.plot_decision_boundary(constant, X, Y, tmp_path / "flat.png", title="constant", resolution=50)
    )
    assert seen == [(2, 50 * 50)], "predict gets grid points as columns"
    assert left_right_colour_gap(split) > 0.3
    assert left_right_colour_gap(flat) < 0.05


def test_decision_boundary_says_what_its_colours_mean(tmp_path, blobs, saved_figures):
    X, Y = blobs
    plots.plot_decision_boundary(step_right, X, Y, tmp_path / "b.png", title="t", resolution=20)
    panels = [("a", step_right), ("b", constant)]
    plots.plot_decision_boundaries_grid(panels, X, Y, tmp_path / "g.png", title="t", resolution=20)
    alone, grid = saved_figures
    texts = [t.get_text() for t in alone.axes[0].get_legend().get_texts()]
    assert texts[:2] == ["y = 0", "y = 1"] and "ŷ = 0.5" in texts[2]
    assert grid.axes[0].get_legend() is not None and grid.axes[1].get_legend() is None  # once per figure


@pytest.mark.parametrize("shape", [(3, 10), (10, 2), (10,)])
def test_decision_boundary_rejects_non_2d_features(tmp_path, shape):
    with pytest.raises(ValueError, match="shape"):
        plots.plot_decision_boundary(constant, np.zeros(shape), np.zeros((1, 10)), tmp_path / "bad.png", title="bad")


def test_decision_boundaries_grid(tmp_path, blobs):
    X, Y = blobs
    panels = [("right", step_right), ("left", lambda p: 1 - step_right(p)), ("flat", constant)]
    img = assert_png(
        plots.plot_decision_boundaries_grid(panels, X, Y, tmp_path / "grid.png", title="best 3", resolution=40)
    )
    assert img.shape[1] > 2 * img.shape[0], "panels side by side"
    with pytest.raises(ValueError):
        plots.plot_decision_boundaries_grid(panels, np.zeros((3, 40)), Y, tmp_path / "b.png", title="t")


def sweep_rows():
    rows = [
        {"model.hidden": h, "optim.lr": lr, "model.activation": act, "seed": 0, "val_accuracy": 0.5 + 0.01 * h + lr}
        for act in ("tanh", "relu", "sigmoid")
        for lr in (0.01, 0.1)
        for h in (1, 4, 16)
    ]
    rows.append({"model.hidden": 64, "optim.lr": 0.01, "model.activation": "elu"})  # failed
    rows.append(
        {"model.hidden": 4, "optim.lr": 0.5, "model.activation": "tanh", "val_accuracy": float("nan")}
    )  # diverged
    return rows


def test_sweep_one_panel_per_activation_one_line_per_lr(tmp_path):
    fig = plots._sweep_accuracy_figure(sweep_rows())
    assert len(fig.axes) == 3, "elu only failed, so it gets no panel"
    assert sorted(ax.get_title() for ax in fig.axes) == [
        "model.activation=relu",
        "model.activation=sigmoid",
        "model.activation=tanh",
    ]
    for ax in fig.axes:
        assert len(ax.get_lines()) == 2, "lr=0.5 only diverged, so it gets no line"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4", "16"]
        for line in ax.get_lines():
            assert list(line.get_xdata()) == [0, 1, 2], "evenly spaced categorical x"
    assert_png(plots.plot_sweep_accuracy(sweep_rows(), tmp_path / "sweep.png"))


def test_sweep_single_panel_without_panel_key_and_averages_seeds():
    rows = [
        {"model.hidden": h, "optim.lr": 0.1, "seed": s, "val_accuracy": 0.6 + 0.1 * s} for h in (8, 2) for s in (0, 1)
    ]
    fig = plots._sweep_accuracy_figure(rows)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    assert np.allclose(line.get_ydata(), [0.65, 0.65])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "8"]


def test_sweep_without_a_panel_key_titles_its_one_panel_by_the_metric_not_a_value_it_holds():
    rows = [
        {"model.name": m, "data.name": d, "model.activation": "tanh", "val_accuracy": 0.8}
        for m in ("logistic", "shallow")
        for d in ("moons", "flower")
    ]
    fig = plots._sweep_accuracy_figure(rows, x="data.name", series="model.name", panels=None)
    (ax,) = fig.axes
    assert ax.get_title() == "val_accuracy"
    assert len(ax.get_lines()) == 2, "one line per model, over both data sets"


def test_sweep_with_no_successful_rows_still_plots(tmp_path):
    rows = [{"model.hidden": 4, "optim.lr": 0.1, "model.activation": "relu"}]
    assert len(plots._sweep_accuracy_figure(rows).axes) == 1
    assert_png(plots.plot_sweep_accuracy(rows, tmp_path / "empty.png"))


@pytest.fixture
def saved_figures(monkeypatch):
    """Records every Figure a public function saves, to inspect what it drew."""
    figures = []
    real_save = plots._save

    def recording_save(fig, path):
        figures.append(fig)
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", recording_save)
    return figures


def test_loss_curves_overlay_legend_only_when_few(tmp_path, saved_figures):
    steps = np.arange(20)
    curves = [(f"run {i}", steps, np.exp(-steps / (i + 5))) for i in range(13)]
    assert_png(plots.plot_loss_curves_overlay(curves[:3], tmp_path / "few.png", title="few"))
    assert_png(plots.plot_loss_curves_overlay(curves, tmp_path / "many.png", title="many"))
    few, many = (fig.axes[0] for fig in saved_figures)
    assert len(few.get_lines()) == 3 and len(many.get_lines()) == 13
    (legend,) = saved_figures[0].legends
    assert [t.get_text() for t in legend.get_texts()] == ["run 0", "run 1", "run 2"]
    assert not saved_figures[1].legends and many.get_legend() is None
    assert few.get_yscale() == "log"


def test_layer_grad_norms_one_panel_per_activation(tmp_path, saved_figures):
    steps = np.arange(30)
    norms = np.exp(-np.outer(steps, [0.01, 0.1, 0.3]))  # (30, 3): deeper layers vanish faster
    norms[-1, 2] = 0.0  # an exact zero must not break the log axis
    panels = [("model.activation=sigmoid", steps, norms), ("model.activation=relu", steps, norms[:, ::-1])]
    assert_png(plots.plot_layer_grad_norms_panels(panels, tmp_path / "g.png", title="grads"))
    axes = saved_figures[0].axes
    assert [ax.get_title() for ax in axes] == ["model.activation=sigmoid", "model.activation=relu"]
    assert all(len(ax.get_lines()) == 3 and ax.get_yscale() == "log" for ax in axes)
    assert [t.get_text() for t in axes[-1].get_legend().get_texts()] == ["W1", "W2", "W3 (output)"]
    assert axes[0].get_ylabel() and axes[0].get_xlabel() == "step"
    with pytest.raises(ValueError):
        plots.plot_layer_grad_norms_panels([("a", steps, norms[:10])], tmp_path / "x.png", title="t")
    with pytest.raises(ValueError):
        plots.plot_layer_grad_norms_panels([], tmp_path / "x.png", title="t")


def test_many_loss_curves_are_coloured_by_the_swept_value_on_a_colour_bar(tmp_path, saved_figures):
    steps = np.arange(20)
    lrs = [0.01, 0.03, 0.1, 0.3, 1.2] * 6
    curves = [(f"lr={lr}", steps, np.exp(-steps * lr) + 0.01, lr) for lr in lrs]
    assert_png(plots.plot_loss_curves_overlay(curves, tmp_path / "many.png", title="t", colour_by="optim.lr"))
    ax, bar = saved_figures[0].axes
    assert bar.get_ylabel() == "optim.lr" and ax.get_legend() is None
    colours = {tuple(line.get_color()) for line in ax.get_lines()}
    assert len(colours) == 5, "one colour per learning rate"
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "training loss"


def test_a_runs_loss_curve_keeps_its_legend_off_the_curves(tmp_path, saved_figures):
    steps = np.arange(100)
    plots.plot_loss_curve(
        steps,
        np.exp(-steps / 30) + 0.01,
        tmp_path / "loss.png",
        title="t",
        val_metric=("val_accuracy", np.linspace(0.5, 1, 100)),
    )
    fig = saved_figures[0]
    ax = fig.axes[0]
    fig.canvas.draw()
    legend, plot_area = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.y1 <= plot_area.y0, "the legend sits below the axes"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train loss", "val_accuracy"]


def test_sweep_figure_says_what_was_swept():
    fig = plots._sweep_accuracy_figure(sweep_rows(), title="relu_sweep: final val_accuracy")
    assert fig.get_suptitle() == "relu_sweep: final val_accuracy"
    legend = fig.axes[-1].get_legend()  # one for the three panels: each lr has one colour in all of them
    assert fig.axes[0].get_legend() is None
    assert legend.get_title().get_text() == "optim.lr"
    assert [t.get_text() for t in legend.get_texts()] == ["0.01", "0.1"]
    assert (
        plots._sweep_accuracy_figure(sweep_rows()).get_suptitle()
        == "val_accuracy by model.hidden, one line per optim.lr"
    )


def test_search_plot_has_a_colour_bar_for_trial_order(tmp_path, saved_figures):
    rows = [
        {"optim.lr": lr, "model.hidden": h, "job": i, "val_accuracy_last5": acc}
        for i, (lr, h, acc) in enumerate([(0.001, 4, 0.5), (0.08096384, 20, 0.85), (2.5, 5, 0.6), (0.3, 50, 0.9)])
    ]
    assert_png(
        plots.plot_search(
            rows, tmp_path / "s.png", keys=["optim.lr", "model.hidden"], metric="val_accuracy_last5", title="lr_search"
        )
    )
    fig = saved_figures[0]
    lr_ax, hidden_ax, bar = fig.axes
    assert lr_ax.get_xscale() == "log" and lr_ax.get_xlabel() == "optim.lr"
    assert lr_ax.get_ylabel() == "val_accuracy_last5" and "trial" in bar.get_ylabel()
    assert fig.get_suptitle() == "lr_search"


@pytest.mark.parametrize("low, expected", [(1e-4, {"1", "0.1", "0.01", "0.001", "0.0001"}), (0.3, {"1", "0.6", "0.4"})])
def test_log_axes_are_labelled_in_plain_numbers(tmp_path, saved_figures, low, expected):
    # Plain text, not mathtext's 10^k: labels a reader can read at a glance, and several
    # times cheaper to draw. Within a decade, some minor ticks get labels too.
    steps = np.arange(0, 1001, 10)
    loss = np.geomspace(1.0, low, steps.size)
    assert_png(plots.plot_loss_curve(steps, loss, tmp_path / "l.png", title="t"))
    ax = saved_figures[0].axes[0]
    labels = {t.get_text() for t in ax.yaxis.get_majorticklabels() + ax.yaxis.get_minorticklabels()} - {""}
    assert expected <= labels, labels
    assert not any("$" in label or "e-0" in label for label in labels), labels


def overlaps(box, other) -> bool:
    return box.x0 < other.x1 and other.x0 < box.x1 and box.y0 < other.y1 and other.y0 < box.y1


def test_a_sweep_over_one_key_draws_one_line_without_a_legend_and_names_no_other_key(tmp_path, saved_figures):
    rows = [{"optim.lr": lr, "val_accuracy": 0.5 + lr / 10} for lr in (0.01, 0.1, 1.0)]
    plots.plot_sweep_accuracy(rows, tmp_path / "s.png", x="optim.lr", series=None, panels=None)
    fig = saved_figures[0]
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 1 and not fig.legends and ax.get_legend() is None
    assert fig.get_suptitle() == "val_accuracy by optim.lr"


def test_points_that_average_several_runs_say_so():
    rows = [
        {"model.hidden": h, "optim.lr": lr, "train.seed": s, "val_accuracy": 0.6 + 0.1 * s}
        for h in (2, 8)
        for lr in (0.1, 1.2)
        for s in (0, 1, 2)
    ]
    fig = plots._sweep_accuracy_figure(rows, panels=None, averaged_over=["train.seed"])
    assert "mean of 3 seeds" in fig.axes[0].get_ylabel()
    assert np.allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.7, 0.7])
    one_each = plots._sweep_accuracy_figure([r for r in rows if r["train.seed"] == 0], panels=None)
    assert one_each.axes[0].get_ylabel() == "val_accuracy"  # a point per run: nothing averaged to say


def test_a_long_title_is_wrapped_inside_the_figure_not_cut_at_its_edges():
    rows = [
        {"optim.lr": lr, "model.activation": a, "val_accuracy": 0.5} for lr in (0.01, 1.2) for a in ("relu", "tanh")
    ]
    title = "activation_sweep: val_accuracy_last5_mean by optim.lr and model.activation"
    fig = plots._sweep_accuracy_figure(rows, x="optim.lr", series="model.activation", panels=None, title=title)
    fig.canvas.draw()
    box, page = fig._suptitle.get_window_extent(), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, (box, page)
    legend = fig.axes[0].get_legend().get_window_extent()
    assert not overlaps(legend, box) and not overlaps(legend, fig.axes[0].get_window_extent())
    assert fig.get_suptitle().replace("\n", " ") == title


def test_a_few_loss_curves_are_told_apart_by_two_swept_keys_with_the_legend_beside_them(tmp_path, saved_figures):
    steps = np.arange(20)
    curves = [
        (f"activation={a} lr={lr}", steps, np.exp(-steps * lr) + 0.3, lr, a)
        for a in ("leaky_relu", "relu", "sigmoid", "tanh")
        for lr in (0.01, 0.1, 1.2)
    ]
    plots.plot_loss_curves_overlay(
        curves, tmp_path / "l.png", title="t", colour_by="optim.lr", style_by="model.activation"
    )
    fig = saved_figures[0]
    (ax,) = fig.axes  # no colour bar: the legend names each curve
    looks = {(str(line.get_color()), line.get_linestyle()) for line in ax.get_lines()}
    assert len(looks) == 12, "every curve its own look"
    assert {line.get_color() for line in ax.get_lines()} == {"C0", "C1", "C2"}  # one colour per lr
    fig.canvas.draw()
    (legend,) = fig.legends
    assert len(legend.get_texts()) == 12
    assert not overlaps(legend.get_window_extent(), ax.get_window_extent()), "the legend is beside the curves"


def test_many_loss_curves_take_line_styles_from_a_second_key(tmp_path, saved_figures):
    steps = np.arange(20)
    curves = [(f"{a} {lr}", steps, np.exp(-steps * lr) + 0.01, lr, a) for a in ("relu", "tanh") for lr in range(1, 9)]
    plots.plot_loss_curves_overlay(
        curves, tmp_path / "l.png", title="t", colour_by="optim.lr", style_by="model.activation"
    )
    ax = saved_figures[0].axes[0]
    assert {line.get_linestyle() for line in ax.get_lines()} == {"-", "--"}
    (legend,) = saved_figures[0].legends
    assert [t.get_text() for t in legend.get_texts()] == ["model.activation=relu", "model.activation=tanh"]


def test_the_searchs_legend_covers_no_trial(tmp_path, saved_figures):
    # The best at the lower right corner, where the legend used to sit over it.
    rows = [
        {"optim.lr": lr, "job": i, "val_rmse": rmse}
        for i, (lr, rmse) in enumerate([(0.001, 0.9), (0.01, 0.6), (0.1, 0.4), (1.0, 0.2)])
    ]
    plots.plot_search(rows, tmp_path / "s.png", keys=["optim.lr"], metric="val_rmse", title="search")
    fig = saved_figures[0]
    fig.canvas.draw()
    (legend,) = fig.legends
    assert all(ax.get_legend() is None for ax in fig.axes)
    assert not overlaps(legend.get_window_extent(), fig.axes[0].get_window_extent())
