"""The notes' computation-graph example, J(a, b, c) = 3(a + b·c), forward and backward by hand.

    u = b·c        v = a + u        J = 3v

Backward, one chain-rule step per edge, right to left:

    dJ/dv = 3
    dJ/du = dJ/dv · dv/du = 3 · 1 = 3
    dJ/da = dJ/dv · dv/da = 3 · 1 = 3
    dJ/db = dJ/du · du/db = 3 · c
    dJ/dc = dJ/du · du/dc = 3 · b

At a = 5, b = 3, c = 2: u = 6, v = 11, J = 33, and dJ/da = 3, dJ/db = 6, dJ/dc = 9.
"""

from __future__ import annotations

from typing import NamedTuple


class GraphValues(NamedTuple):
    u: float
    v: float
    J: float


class GraphGrads(NamedTuple):
    d_v: float
    d_u: float
    d_a: float
    d_b: float
    d_c: float


def forward(a, b, c) -> GraphValues:
    """The three nodes of the graph, left to right."""
    u = b * c
    v = a + u
    J = 3 * v
    return GraphValues(u, v, J)


def backward(a, b, c) -> GraphGrads:
    """dJ/d(each node and input), propagated backward through the graph."""
    d_v = 3.0
    d_u = d_v * 1.0
    d_a = d_v * 1.0
    d_b = d_u * c
    d_c = d_u * b
    return GraphGrads(d_v, d_u, d_a, d_b, d_c)


def J(a, b, c):
    """J(a, b, c) = 3(a + b·c) as one expression, for jax.grad to check `backward` against."""
    return forward(a, b, c).J


def J_from_v(v):
    """J as a function of the node v alone (J = 3v): what nudging v moves."""
    return 3 * v


def J_from_u(a, u):
    """J as a function of the node u, a held fixed (v = a + u, J = 3v): what nudging u moves."""
    return J_from_v(a + u)
