"""Tests for pipeline/predict.py: the NumPy forward pass that decision boundaries are drawn from."""

import numpy as np
import pytest

from pipeline.predict import NetworkPredict


@pytest.mark.parametrize("hidden", ["relu", "tanh", "leaky_relu", "sigmoid", "identity", "step"])
@pytest.mark.parametrize("output", ["sigmoid", "identity", "step"])
def test_numpy_predict_agrees_with_the_models_forward_pass(hidden, output):
    """The decision boundary a run draws comes from NumPy (no JAX in a drawing process): it is
    the network's own ŷ, to float32's rounding."""
    import jax
    import jax.numpy as jnp

    from models.network import init_params, predict

    params = init_params(jax.random.PRNGKey(3), (2, 5, 3, 1), "xavier")
    points = np.random.default_rng(0).normal(size=(2, 300)).astype(np.float32) * 3
    expected = np.asarray(predict(params, jnp.asarray(points), hidden, output, 0.05))
    got = NetworkPredict({k: np.asarray(v) for k, v in params.items()}, hidden, output, 0.05)(points)
    assert got.shape == expected.shape == (1, 300)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_numpy_predict_is_picklable_and_refuses_an_unknown_activation():
    import pickle

    params = {"W1": np.ones((1, 2), np.float32), "b1": np.zeros((1, 1), np.float32)}
    predict = pickle.loads(pickle.dumps(NetworkPredict(params, "relu", "sigmoid")))
    np.testing.assert_allclose(predict(np.array([[0.0], [0.0]])), [[0.5]])
    with pytest.raises(ValueError, match="swish"):
        NetworkPredict(params, "swish", "sigmoid")
