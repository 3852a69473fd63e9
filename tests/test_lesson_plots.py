"""The lessons' PNGs: written where asked, sized by their panels, the same bytes every time.

What each lesson puts in them is checked through the lessons in tests/test_lessons.py.
"""

from __future__ import annotations

import struct

from pipeline import lesson_plots
from models.nudge import NOTES_FUNCTIONS, nudge


def png_size(path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's header."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def nudge_rows(points=(1.0, 2.0), h=0.001) -> list[dict]:
    rows = []
    for fn in NOTES_FUNCTIONS:
        for a in points:
            step = nudge(lambda x: float(fn.f(x)), a, h)
            rows.append({"f": fn.name, "a": a, "f_a": step.f_a, "slope": step.slope, "exact": float(fn.f_prime(a))})
    return rows


def test_each_plot_is_a_png_in_a_folder_it_makes(tmp_path):
    made = [
        lesson_plots.nudges_on_f(tmp_path / "a" / "nudge.png", nudge_rows(), 0.001),
        lesson_plots.activations_and_slopes(
            tmp_path / "b" / "g.png", ["sigmoid", "tanh", "relu", "leaky_relu"], 0.1, [-1, 0, 1]
        ),
        lesson_plots.times_against_sizes(tmp_path / "c" / "t.png", [("matmul", "n", [10, 100], {"cpu": [1e-4, 1e-2]})]),
    ]
    assert made == [tmp_path / "a" / "nudge.png", tmp_path / "b" / "g.png", tmp_path / "c" / "t.png"]
    assert all(png_size(path) > (0, 0) for path in made)


def test_a_plot_is_the_same_bytes_every_time(tmp_path):
    """No time stamp or version in the file: a rerun's artifact is byte-for-byte the last one."""
    first = lesson_plots.nudges_on_f(tmp_path / "1.png", nudge_rows(), 0.001).read_bytes()
    assert lesson_plots.nudges_on_f(tmp_path / "2.png", nudge_rows(), 0.001).read_bytes() == first
    assert b"Software" not in first and b"matplotlib" not in first.lower()


def test_time_panels_are_side_by_side_and_skip_what_did_not_run(tmp_path):
    panels = [
        ("matmul", "n", [10, 100, 1000], {"cpu": [1e-4, 1e-3, 1e-2], "gpu": [None, None, None]}),
        ("training", "examples", [100, 1000], {"cpu": [0.1, None], "gpu": [None, 0.2]}),
    ]
    one = png_size(lesson_plots.times_against_sizes(tmp_path / "one.png", panels[:1]))
    two = png_size(lesson_plots.times_against_sizes(tmp_path / "two.png", panels))
    assert one == (550, 450) and two == (1100, 450)  # 5.5 × 4.5 inches a panel, at 100 dpi
