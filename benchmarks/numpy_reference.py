"""Baseline (c): one job's training steps in hand-written NumPy, the notes' equations as they stand."""

import numpy as np


def train_numpy(X, Y, hidden: int, lr: float, steps: int, seed: int = 0):
    """The 2-layer network with ReLU hidden units, sigmoid output, full-batch gradient descent.

    X (n_x, m), Y (1, m). Returns the final parameters.
    """
    rng = np.random.default_rng(seed)
    n_x, m = X.shape
    W1, b1 = rng.standard_normal((hidden, n_x)).astype(X.dtype) * 0.01, np.zeros((hidden, 1), X.dtype)
    W2, b2 = rng.standard_normal((1, hidden)).astype(X.dtype) * 0.01, np.zeros((1, 1), X.dtype)
    for _ in range(steps):
        Z1 = W1 @ X + b1
        A1 = np.maximum(Z1, 0)
        Z2 = W2 @ A1 + b2
        A2 = 1 / (1 + np.exp(-Z2))
        dZ2 = A2 - Y
        dW2 = dZ2 @ A1.T / m
        db2 = dZ2.sum(axis=1, keepdims=True) / m
        dZ1 = (W2.T @ dZ2) * (Z1 > 0)
        dW1 = dZ1 @ X.T / m
        db1 = dZ1.sum(axis=1, keepdims=True) / m
        W1, b1, W2, b2 = W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2
    return W1, b1, W2, b2
