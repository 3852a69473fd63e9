"""A trained network's ŷ in NumPy, for drawing its decision boundary.

A drawing process (pipeline/finishing.py) gets a run's parameters and this, not a JAX
program: importing JAX and compiling a prediction program for each network shape cost more
than drawing. Nor does it import matplotlib, so the process that runs a sweep can build it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]  # (2, k) points -> (1, k) probabilities


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))  # two branches, as models/activations.py: exp never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# models/activations.py's g(z, slope), in NumPy. tests/test_predict.py checks them against
# models.network.predict.
_NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "step": lambda z, slope: np.where(z > 0, 1.0, 0.0).astype(z.dtype),
    "sigmoid": lambda z, slope: _sigmoid(z),
    "tanh": lambda z, slope: np.tanh(z),
    "relu": lambda z, slope: np.where(z > 0, z, 0.0).astype(z.dtype),
    "leaky_relu": lambda z, slope: np.where(z > 0, z, np.asarray(slope, z.dtype) * z),
    "identity": lambda z, slope: z,
}


class NetworkPredict:
    """A trained network's ŷ in NumPy, for a decision boundary: (2, k) points -> (1, k).

    params: {"W1", "b1", ..., "WL", "bL"} as host arrays. Computed in the params' own dtype, so
    it agrees with models.network.predict to that dtype's rounding: a picture, not a metric.
    Picklable, so a drawing process can be handed it."""

    def __init__(self, params: dict, hidden_activation: str, output_activation: str, slope: float = 0.01):
        for name in (hidden_activation, output_activation):
            if name not in _NUMPY_ACTIVATIONS:
                raise ValueError(f"no NumPy activation {name!r}; known: {sorted(_NUMPY_ACTIVATIONS)}")
        self.params = {k: np.asarray(v) for k, v in params.items()}
        self.hidden, self.output, self.slope = hidden_activation, output_activation, float(slope)

    def __call__(self, points) -> np.ndarray:
        L = len(self.params) // 2
        dtype = self.params["W1"].dtype
        A = np.asarray(points, dtype)
        for l in range(1, L + 1):
            Z = self.params[f"W{l}"] @ A + self.params[f"b{l}"]
            A = _NUMPY_ACTIVATIONS[self.output if l == L else self.hidden](Z, self.slope)
        return A
