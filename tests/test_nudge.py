"""models/nudge.py: the notes' derivatives by nudging, and the error of each kind of nudge."""

import jax
import jax.numpy as jnp
import pytest

from models.nudge import NOTES_FUNCTIONS, NOTES_NUDGE, Nudge, centred_slope, nudge, one_sided_slope

H = NOTES_NUDGE
ROUNDOFF = 1e-9  # float64 round-off of f(a + h) - f(a) over h = 0.001, for |f| up to ~125
BY_NAME = {fn.name: fn for fn in NOTES_FUNCTIONS}


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def derivative(f, order):
    for _ in range(order):
        f = jax.grad(f)
    return lambda a: float(f(jnp.float64(a)))


def test_the_notes_functions_in_the_notes_order():
    assert [fn.name for fn in NOTES_FUNCTIONS] == ["3a", "a^2", "a^3", "ln a"]
    assert [fn.f_prime_name for fn in NOTES_FUNCTIONS] == ["3", "2a", "3a^2", "1/a"]


@pytest.mark.parametrize(
    "name, f_2, f_nudged",
    [
        ("3a", 6.0, 6.003),
        ("a^2", 4.0, 4.004001),
        ("a^3", 8.0, 8.012006001),  # the notes: ≈ 8.012
        ("ln a", 0.6931471805599453, 0.6936470556015591),  # the notes: 0.6931 -> 0.69365
    ],
)
def test_nudging_a_from_2_to_2_001_gives_the_notes_values(name, f_2, f_nudged):
    step = nudge(lambda a: float(BY_NAME[name].f(a)), 2.0)
    assert isinstance(step, Nudge)
    assert (step.a, step.h) == (2.0, 0.001)
    assert step.f_a == pytest.approx(f_2, abs=1e-12)
    assert step.f_nudged == pytest.approx(f_nudged, abs=1e-12)
    assert step.height == pytest.approx(f_nudged - f_2, abs=1e-12)
    assert step.slope == pytest.approx(step.height / 0.001, rel=1e-15)


def test_the_notes_rounded_values():
    assert round(float(BY_NAME["a^2"].f(2.001)), 6) == 4.004001
    assert round(float(BY_NAME["a^3"].f(2.001)), 6) == 8.012006
    assert round(float(BY_NAME["ln a"].f(2.001)), 5) == 0.69365


@pytest.mark.parametrize("a, f_nudged", [(5.0, 15.003)])
def test_3a_has_slope_3_everywhere(a, f_nudged):
    step = nudge(lambda x: float(BY_NAME["3a"].f(x)), a)
    assert step.f_nudged == pytest.approx(f_nudged, abs=1e-12)
    assert step.slope == pytest.approx(3.0, abs=ROUNDOFF)


@pytest.mark.parametrize("fn", NOTES_FUNCTIONS, ids=lambda fn: fn.name)
@pytest.mark.parametrize("a", [2.0, 5.0, 0.5])
def test_hand_derivative_equals_jax_grad(fn, a):
    assert float(fn.f_prime(a)) == pytest.approx(derivative(fn.f, 1)(a), rel=1e-14)


@pytest.mark.parametrize("fn", NOTES_FUNCTIONS, ids=lambda fn: fn.name)
@pytest.mark.parametrize("a", [2.0, 5.0, 0.5])
def test_one_sided_nudge_is_off_by_its_own_error_f2_h_over_2(fn, a):
    # Taylor: (f(a+h) - f(a))/h - f'(a) = f''(ξ) h/2 for some ξ in [a, a+h]; |f''| is monotone
    # on [a, a+h] for these four, so its larger end bounds it.
    f2 = derivative(fn.f, 2)
    bound = max(abs(f2(a)), abs(f2(a + H))) * H / 2 + ROUNDOFF
    assert abs(float(one_sided_slope(fn.f, a)) - float(fn.f_prime(a))) <= bound


@pytest.mark.parametrize("fn", NOTES_FUNCTIONS, ids=lambda fn: fn.name)
@pytest.mark.parametrize("a", [2.0, 5.0, 0.5])
def test_centred_nudge_is_off_by_its_own_error_f3_h2_over_6(fn, a):
    f3 = derivative(fn.f, 3)
    bound = max(abs(f3(a - H)), abs(f3(a + H))) * H**2 / 6 + ROUNDOFF
    assert abs(float(centred_slope(fn.f, a)) - float(fn.f_prime(a))) <= bound


def test_the_one_sided_error_is_first_order_and_the_centred_second():
    # a² at 2: one-sided gives exactly 4 + h, the centred nudge exactly 4 (f''' = 0).
    square = BY_NAME["a^2"].f
    for h in (1e-1, 1e-2, 1e-3):
        assert one_sided_slope(square, 2.0, h) - 4.0 == pytest.approx(h, rel=1e-6)
        assert centred_slope(square, 2.0, h) == pytest.approx(4.0, abs=1e-9)


def test_a_negative_width_nudges_to_the_left():
    kink = abs  # slope -1 left of 0, +1 right of it
    assert one_sided_slope(kink, 0.0, 0.001) == 1.0
    assert one_sided_slope(kink, 0.0, -0.001) == -1.0
    assert centred_slope(kink, 0.0, 0.001) == 0.0
