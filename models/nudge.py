"""Derivatives by nudging: the notes' "slope = height / width", and the functions they nudge.

The notes define the derivative by a nudge: move a a little (a = 2 -> 2.001) and see how far
f(a) moves; height / width is the slope. That quotient is a finite difference:

    one-sided   (f(a + h) - f(a)) / h          error O(h):  f''(a)·h/2 + ...
    centred     (f(a + h) - f(a - h)) / 2h     error O(h²): f'''(a)·h²/6 + ...

Every function here takes and returns scalars (Python floats or 0-d JAX arrays), so the same
code gives the notes' printed values in float64 and can be passed to jax.grad.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp

Scalar = float  # a Python float or a 0-d jnp array
ScalarFn = Callable[[Scalar], Scalar]

NOTES_NUDGE = 0.001  # the notes nudge a by 0.001: a = 2 -> 2.001


class Nudge(NamedTuple):
    """One nudge of f at a, as the notes write it down."""

    a: float  # where f is nudged
    h: float  # the width: how far a moves
    f_a: float  # f(a)
    f_nudged: float  # f(a + h)
    height: float  # f(a + h) - f(a): how far f moves
    slope: float  # height / width, the one-sided estimate of f'(a)


def nudge(f: ScalarFn, a: float, h: float = NOTES_NUDGE) -> Nudge:
    """Nudge `a` to the right by `h` and measure how far f(a) goes up."""
    f_a, f_nudged = f(a), f(a + h)
    height = f_nudged - f_a
    return Nudge(a, h, f_a, f_nudged, height, height / h)


def one_sided_slope(f: ScalarFn, a: float, h: float = NOTES_NUDGE) -> Scalar:
    """(f(a + h) - f(a)) / h: the notes' slope; off from f'(a) by about f''(a)·h/2. A negative h
    nudges to the left, which is how a kink (ReLU at 0) shows its two different slopes."""
    return (f(a + h) - f(a)) / h


def centred_slope(f: ScalarFn, a: float, h: float = NOTES_NUDGE) -> Scalar:
    """(f(a + h) - f(a - h)) / 2h: the f''(a) terms cancel, so it is off by about f'''(a)·h²/6."""
    return (f(a + h) - f(a - h)) / (2 * h)


class NudgedFunction(NamedTuple):
    """A function of the notes' derivatives page with its derivative worked out by hand."""

    name: str  # as the notes write it
    slug: str  # the name in plain letters, for file and metric names
    f: ScalarFn
    f_prime: ScalarFn  # the exact derivative, derived by hand
    f_prime_name: str


def _three_a(a):
    return 3 * a


def _three(a):
    return 3 + 0 * a  # 0·a keeps the type (and the shape) of a


def _square(a):
    return a**2


def _two_a(a):
    return 2 * a


def _cube(a):
    return a**3


def _three_a_squared(a):
    return 3 * a**2


def _ln(a):
    return jnp.log(a)


def _one_over_a(a):
    return 1 / a


# The four functions of the notes' derivatives page, in the notes' order.
NOTES_FUNCTIONS: tuple[NudgedFunction, ...] = (
    NudgedFunction("3a", "three_a", _three_a, _three, "3"),
    NudgedFunction("a^2", "a_squared", _square, _two_a, "2a"),
    NudgedFunction("a^3", "a_cubed", _cube, _three_a_squared, "3a^2"),
    NudgedFunction("ln a", "ln_a", _ln, _one_over_a, "1/a"),
)
