"""Tests for pipeline.train: the jit-compiled training scan, its history, divergence, batching.

Every distinct TrainSpec costs an XLA compile (about a second here), so the tests share a few
specs and memoise their runs (`_run`); the results are immutable arrays.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.backprop import loss
from models.network import init_params
from pipeline.data import load_dataset
from pipeline.train import (
    TrainSpec,
    compiled_train,
    history_steps,
    make_hyper,
    train,
    train_jit,
)


@lru_cache(maxsize=None)
def _flower():
    return load_dataset("flower")


def _setup(hidden=4, dtype=jnp.float32, seed=0, scale=0.01):
    """Initial params (the notes' small init), device data and a mini-batch key for the flower."""
    ds = _flower()
    sizes = (ds.n_features, hidden, 1) if hidden else (ds.n_features, 1)
    init_key, batch_key = jax.random.split(jax.random.PRNGKey(seed))
    params = init_params(init_key, sizes, "small", scale, dtype=dtype)
    data = tuple(jnp.asarray(a, dtype) for a in (ds.X_train, ds.Y_train, ds.X_val, ds.Y_val))
    return params, data, batch_key


def _spec(
    hidden="tanh",
    output="sigmoid",
    optimizer="gd",
    grad="autodiff",
    steps=500,
    log_every=100,
    batch_size=None,
    task="binary",
):
    return TrainSpec(hidden, output, task, optimizer, grad, steps, log_every, batch_size)


@lru_cache(maxsize=None)
def _run(spec, lr=1.2, hidden=4, seed=0, key_seed=None):
    """train_jit on the flower (float32), memoised: tests that need the same run share it."""
    params, data, key = _setup(hidden, seed=seed)
    if key_seed is not None:
        key = jax.random.PRNGKey(key_seed)
    return train_jit(spec, params, data, make_hyper(lr), key)


SANE = _spec()  # tanh, gd, full batch, 500 steps logged every 100: the notes' setting


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def _assert_trees_equal(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(_leaves(a), _leaves(b)):
        assert x.dtype == y.dtype and np.array_equal(x, y)


# -- hand-derived backward pass vs jax.grad, through the whole training run -----------------

# (hidden activation, output activation, hidden units, lr): shallow nets, logistic, perceptron.
GRAD_CASES = [
    ("tanh", "sigmoid", 4, 1.2),
    ("relu", "sigmoid", 4, 1.2),
    ("leaky_relu", "sigmoid", 4, 1.2),
    ("sigmoid", "sigmoid", 4, 1.2),
    ("tanh", "sigmoid", 0, 1.2),  # logistic regression: no hidden layer
    ("step", "step", 0, 0.1),  # the perceptron: step output, perceptron rule
]
GRAD_IDS = [f"{h}-{o}-h{n}" for h, o, n, _ in GRAD_CASES]


@pytest.mark.parametrize("hidden_activation, output, hidden, lr", GRAD_CASES, ids=GRAD_IDS)
def test_hand_and_autodiff_training_agree_in_float64(hidden_activation, output, hidden, lr):
    with jax.enable_x64(True):
        params, data, key = _setup(hidden, dtype=jnp.float64)
        hyper = make_hyper(lr, slope=0.05, dtype=jnp.float64)
        hand, auto = (
            train_jit(_spec(hidden_activation, output, "gd", grad, steps=300, log_every=100), params, data, hyper, key)
            for grad in ("hand", "autodiff")
        )
        for name in params:
            assert hand.params[name].dtype == jnp.float64
            np.testing.assert_allclose(hand.params[name], auto.params[name], rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(hand.history.loss, auto.history.loss, rtol=1e-9, atol=1e-12)
        assert int(hand.diverged_at) == int(auto.diverged_at) == -1
        # Training moved the parameters (the comparison is not between two untouched inits).
        assert not np.allclose(np.asarray(hand.params["W1"]), np.asarray(params["W1"]))


# -- the history ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "steps, log_every, expected",
    [
        (250, 100, [0, 100, 200, 250]),
        (300, 100, [0, 100, 200, 300]),
        (100, 100, [0, 100]),
        (7, 3, [0, 3, 6, 7]),
        (5, 1, [0, 1, 2, 3, 4, 5]),
    ],
)
def test_history_steps(steps, log_every, expected):
    assert history_steps(steps, log_every) == expected


@pytest.mark.parametrize("steps, log_every", [(500, 100), (250, 100), (30, 7)])
def test_history_holds_a_point_at_each_logged_step(steps, log_every):
    result = _run(_spec(steps=steps, log_every=log_every))
    expected = history_steps(steps, log_every)
    assert np.asarray(result.history.step).tolist() == expected
    k = len(expected)
    h = result.history
    assert h.loss.shape == h.train_metric.shape == h.val_metric.shape == (k,)
    assert h.grad_norm.shape == (k, 2)  # one ‖dW[l]‖ per layer
    for values in (h.loss, h.train_metric, h.val_metric, h.grad_norm):
        assert np.all(np.isfinite(np.asarray(values)))
    for accuracy in (h.train_metric, h.val_metric):
        assert np.all((np.asarray(accuracy) >= 0) & (np.asarray(accuracy) <= 1))


def test_history_points_are_measured_at_their_steps():
    """Point 0 is the loss at the initial params, the last the loss at the returned params,
    and the point at step 100 the loss after exactly 100 steps (a run of 100 steps)."""
    params, data, _ = _setup()
    X, Y = data[0], data[1]
    long = _run(SANE)
    short = _run(_spec(steps=100, log_every=100))
    at = lambda p: float(loss(p, X, Y, "tanh", "sigmoid"))
    np.testing.assert_allclose(float(long.history.loss[0]), at(params), rtol=1e-6)
    np.testing.assert_allclose(float(long.history.loss[-1]), at(long.params), rtol=1e-5)
    np.testing.assert_allclose(float(long.history.loss[1]), at(short.params), rtol=1e-5)
    np.testing.assert_allclose(float(long.history.loss[1]), float(short.history.loss[-1]), rtol=1e-5)


def test_the_remainder_steps_are_trained():
    """steps=250 with log_every=100 trains 250 steps, as log_every=50 does (no chunk left out)."""
    params, _, _ = _setup()
    with_remainder = _run(_spec(steps=250, log_every=100))
    exact = _run(_spec(steps=250, log_every=50))
    # ... and not 200 steps: the point at 200 is not where it ended.
    assert float(with_remainder.history.loss[-1]) != float(with_remainder.history.loss[-2])
    for name in params:
        np.testing.assert_allclose(with_remainder.params[name], exact.params[name], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(with_remainder.history.loss[-1], exact.history.loss[-1], rtol=1e-5)


# -- training does what it should -----------------------------------------------------------


def test_loss_decreases_for_a_sane_config():
    result = _run(SANE)
    h = np.asarray(result.history.loss)
    assert h[-1] < 0.9 * h[0]
    assert np.all(np.diff(h) < 0), f"full-batch gd with a sane lr should lower the loss at every point: {h}"
    assert float(result.history.train_metric[-1]) > float(result.history.train_metric[0])
    assert int(result.diverged_at) == -1


def test_huge_learning_rate_diverges_and_keeps_the_last_finite_params():
    steps = 200
    result = _run(_spec("relu", steps=steps, log_every=50), lr=1e6)
    diverged_at = int(result.diverged_at)
    assert 1 <= diverged_at <= steps
    for name, value in result.params.items():
        assert np.all(np.isfinite(np.asarray(value))), name
    # The history is meaningful up to the divergence (the caller keeps that part).
    before = np.asarray(result.history.step) < diverged_at
    assert before[0]
    assert np.all(np.isfinite(np.asarray(result.history.loss)[before]))


def test_no_divergence_is_minus_one():
    assert int(_run(_spec(steps=100, log_every=100), lr=0.1).diverged_at) == -1


def test_mini_batch_trains_and_differs_from_full_batch():
    full = _run(SANE)
    mini_spec = SANE._replace(batch_size=32)
    mini = _run(mini_spec)
    other_key = _run(mini_spec, key_seed=123)
    assert int(mini.diverged_at) == -1
    assert all(np.all(np.isfinite(x)) for x in _leaves(mini.params))
    assert float(mini.history.loss[-1]) < float(mini.history.loss[0])
    assert not np.allclose(np.asarray(mini.params["W1"]), np.asarray(full.params["W1"]))
    # The key decides the batches.
    assert not np.allclose(np.asarray(mini.params["W1"]), np.asarray(other_key.params["W1"]))


def test_batch_size_of_the_whole_set_is_full_batch():
    params, data, _ = _setup()
    m = data[0].shape[1]
    full = _run(_spec(steps=100, log_every=100))
    whole = _run(_spec(steps=100, log_every=100, batch_size=m))
    for name in params:
        np.testing.assert_allclose(whole.params[name], full.params[name], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("optimizer, lr", [("momentum", 0.1), ("adam", 0.01)])
def test_momentum_and_adam_lower_the_loss(optimizer, lr):
    result = _run(SANE._replace(optimizer=optimizer), lr=lr)
    h = np.asarray(result.history.loss)
    assert int(result.diverged_at) == -1
    assert h[-1] < 0.95 * h[0]
    # ... and they are not plain gd under another name.
    gd = _run(SANE, lr=lr)
    assert not np.allclose(np.asarray(result.params["W1"]), np.asarray(gd.params["W1"]))


def test_unknown_optimizer_is_an_error():
    params, data, key = _setup()
    with pytest.raises(ValueError, match="sgdx"):
        train(_spec(optimizer="sgdx", steps=10, log_every=10), params, data, make_hyper(0.1), key)


# -- reproducibility and compilation --------------------------------------------------------


def test_same_inputs_give_bitwise_identical_outputs():
    params, data, key = _setup()
    hyper = make_hyper(1.2)
    spec = SANE._replace(batch_size=32)
    first = train_jit(spec, params, data, hyper, key)
    second = train_jit(spec, params, data, hyper, key)
    recompiled = jax.jit(train, static_argnums=0)(spec, params, data, hyper, key)
    _assert_trees_equal(first, second)
    _assert_trees_equal(first, recompiled)


def test_compiled_train_is_cached_per_spec_and_shapes_and_equals_train_jit():
    params, data, key = _setup()
    hyper = make_hyper(1.2)
    program = compiled_train(SANE, params, data, hyper, key)
    assert compiled_train(SANE, params, data, hyper, key) is program
    # Other numbers, same shapes: the same program.
    other_params, _, other_key = _setup(seed=1)
    assert compiled_train(SANE, other_params, data, make_hyper(0.1), other_key) is program
    # Another shape or another spec: another program.
    bigger, _, _ = _setup(hidden=5)
    assert compiled_train(SANE, bigger, data, hyper, key) is not program
    assert compiled_train(SANE._replace(steps=400), params, data, hyper, key) is not program
    _assert_trees_equal(program(params, data, hyper, key), _run(SANE))


def test_a_loss_grown_past_its_limit_is_divergence_even_while_finite():
    # lr 30 with tanh units: the loss climbs by orders of magnitude without overflowing.
    result = _run(_spec("relu", steps=300, log_every=50, output="identity"), lr=40.0)
    from pipeline.train import GREW, NON_FINITE

    assert int(result.diverged_at) >= 1
    assert int(result.diverged_how) in (GREW, NON_FINITE)
    before = np.asarray(result.history.step) < int(result.diverged_at)
    assert np.all(np.asarray(result.history.loss)[before] <= 1e6 * max(float(result.history.loss[0]), 1.0))


def test_an_identity_output_on_binary_labels_is_scored_by_thresholding():
    params, data, key = _setup()
    spec = _spec(output="identity", steps=300, log_every=100)
    result = train_jit(spec, params, data, make_hyper(0.1), key)
    X, Y = data[0], data[1]
    from models.network import predict

    y_hat = predict(result.params, X, "tanh", "identity")
    accuracy = float(np.mean((np.asarray(y_hat) > 0.5) == np.asarray(Y)))
    assert float(result.history.train_metric[-1]) == pytest.approx(accuracy, abs=1e-6)
    assert 0.0 <= accuracy <= 1.0


def test_the_validation_metric_of_an_empty_set_is_nan():
    params, data, key = _setup()
    empty = (data[0], data[1], data[2][:, :0], data[3][:, :0])
    result = train_jit(_spec(steps=100, log_every=100), params, empty, make_hyper(0.5), key)
    assert np.all(np.isnan(np.asarray(result.history.val_metric)))
    assert np.all(np.isfinite(np.asarray(result.history.train_metric)))
