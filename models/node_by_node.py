"""The 2-layer network's output computed node by node, as the notes first write it.

Before vectorising, the notes compute each hidden unit on its own, for one example x:

    z_1^[1] = w_1^[1]ᵀ x + b_1^[1],    a_1^[1] = σ(z_1^[1])
    z_2^[1] = w_2^[1]ᵀ x + b_2^[1],    a_2^[1] = σ(z_2^[1])
    ...                                (one line per hidden unit)
    z^[2]   = w^[2]ᵀ a^[1] + b^[2],    ŷ = a^[2] = σ(z^[2])

and then one example after another. This module does exactly that with Python loops over
Python floats, one multiply-add at a time: the baseline that the vectorised
`models.network.forward` (Z[1] = W[1] X + b[1] over all m examples in one call) replaces.
It is written for the comparison, not for use: same numbers, far slower.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Row = Sequence[float]


def sigmoid_scalar(z: float) -> float:
    """σ(z) = 1 / (1 + e^{-z}) for one number, without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def unit(w_i: Row, x: Row, b_i: float) -> float:
    """z_i = w_iᵀ x + b_i: one node, its weights w_i (n_in,) against its inputs x (n_in,)."""
    z_i = b_i
    for w_ik, x_k in zip(w_i, x):
        z_i += w_ik * x_k
    return z_i


def layer(W: Sequence[Row], b: Sequence[Row], x: Row) -> list[float]:
    """a = σ(z), one node after another: W (n_out, n_in) and b (n_out, 1) as nested lists, x (n_in,)."""
    return [sigmoid_scalar(unit(w_i, x, b_i[0])) for w_i, b_i in zip(W, b)]


def output_one_example(params: dict, x: Row) -> float:
    """ŷ for one example x (n_x,): hidden layer node by node, then the output node."""
    a1 = layer(params["W1"], params["b1"], x)
    (y_hat,) = layer(params["W2"], params["b2"], a1)
    return y_hat


def output_node_by_node(params: dict, X: Sequence[Row]) -> list[float]:
    """ŷ for every example, one example at a time.

    Args:
      params: {"W1": (n_1, n_x), "b1": (n_1, 1), "W2": (1, n_1), "b2": (1, 1)} as nested lists
        (`{k: v.tolist() for k, v in params.items()}` of models.network's params).
      X: (n_x, m) as nested lists, examples as columns (the notes' layout).

    Returns:
      [ŷ^(1), ..., ŷ^(m)], the m outputs: row 0 of the vectorised A[2] (1, m).
    """
    examples = zip(*X)  # the columns of X: one example x^(i) (n_x,) at a time
    return [output_one_example(params, x) for x in examples]
