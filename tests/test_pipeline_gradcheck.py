"""Tests for pipeline.gradcheck: the per-run check of the hand-derived gradients.

`pipeline.gradcheck._check` is jitted and looks `loss_and_hand_grads` up as a module global
when it is traced, so a test that breaks the backward pass clears its compile cache before
(so the broken function is traced) and after (so no later test runs the broken program).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import pipeline.gradcheck as gradcheck
from models.activations import GRADIENT_ACTIVATIONS
from models.network import init_params
from pipeline.config import GradcheckConfig
from pipeline.data import load_dataset
from pipeline.errors import RunFailure
from pipeline.gradcheck import GradcheckFailure, GradcheckOverflow, GradcheckReport, gradient_check, report_or_fail
from pipeline.train import TrainSpec, make_hyper


def check_run_gradients(spec, params, ds, hyper, settings) -> GradcheckReport:
    """What a run does with its check: compute it, then report it or fail."""
    return report_or_fail(gradient_check(spec, params, ds, hyper, settings), settings)


@pytest.fixture(scope="module")
def flower():
    return load_dataset("flower")


def _case(ds, hidden_activation="tanh", output="sigmoid", sizes=None, scheme="small", seed=0):
    sizes = sizes or (ds.n_features, 4, 1)
    params = init_params(jax.random.PRNGKey(seed), sizes, scheme, 0.01)
    task = "regression" if output == "identity" else "binary"
    spec = TrainSpec(hidden_activation, output, task, "gd", "autodiff", 10, 10, None)
    return spec, params, make_hyper(0.1, slope=0.05)


@pytest.mark.parametrize("activation", GRADIENT_ACTIVATIONS)
def test_hand_gradients_pass_for_each_hidden_activation(flower, activation):
    # Xavier init: units spread over their range, not all near 0 where the activations are linear.
    spec, params, hyper = _case(flower, activation, scheme="xavier")
    report = check_run_gradients(spec, params, flower, hyper, GradcheckConfig())
    assert isinstance(report, GradcheckReport)
    assert report.rel_error < 1e-10
    assert report.fd_rel_error < 1e-5
    assert set(report.per_parameter) == set(params)
    assert all(0 <= v < 1e-10 for v in report.per_parameter.values())


@pytest.mark.parametrize(
    "name, hidden_activation, output, sizes",
    [
        ("logistic", "tanh", "sigmoid", (2, 1)),
        ("perceptron", "step", "step", (2, 1)),
    ],
)
def test_hand_gradients_pass_for_other_models(flower, name, hidden_activation, output, sizes):
    spec, params, hyper = _case(flower, hidden_activation, output, sizes, "xavier")
    report = check_run_gradients(spec, params, flower, hyper, GradcheckConfig())
    assert report.rel_error < 1e-10
    assert report.fd_rel_error < 1e-5
    assert set(report.per_parameter) == set(params)


def test_regression_output_passes():
    ds = load_dataset("diabetes")
    spec, params, hyper = _case(ds, "tanh", "identity", (ds.n_features, 3, 1), "xavier")
    report = check_run_gradients(spec, params, ds, hyper, GradcheckConfig(max_examples=64))
    assert report.rel_error < 1e-10
    assert report.fd_rel_error < 1e-5


def test_float32_params_are_checked_in_float64(flower):
    """The check's precision does not depend on the training dtype (float32 here)."""
    spec, params, hyper = _case(flower, "tanh", scheme="xavier")
    assert params["W1"].dtype == jax.numpy.float32
    report = check_run_gradients(spec, params, flower, hyper, GradcheckConfig())
    assert report.rel_error < 1e-10  # float32 arithmetic would leave ~1e-7


def test_widening_to_float64_is_exact_on_the_host_and_leaves_integers_alone():
    """The check's inputs are widened in NumPy (no JAX operation per leaf), to the same values."""
    rng = np.random.default_rng(0)
    tree = {"W1": jax.numpy.asarray(rng.normal(size=(3, 2)), jax.numpy.float32), "index": np.int32(2)}
    widened = gradcheck.as_float64(tree)
    assert isinstance(widened["W1"], np.ndarray) and widened["W1"].dtype == np.float64
    assert np.array_equal(widened["W1"], np.asarray(tree["W1"]).astype(np.float64))  # every float32 is a float64
    assert widened["index"] is tree["index"]


@pytest.fixture
def fresh_check():
    gradcheck._check.clear_cache()
    yield
    gradcheck._check.clear_cache()


def _broken(monkeypatch, parameter, factor=1.1):
    real = gradcheck.loss_and_hand_grads

    def broken(*args, **kwargs):
        value, grads = real(*args, **kwargs)
        return value, {**grads, parameter: grads[parameter] * factor}

    monkeypatch.setattr(gradcheck, "loss_and_hand_grads", broken)


@pytest.mark.parametrize("parameter, layer", [("W1", "1"), ("b2", "2")])
def test_broken_backward_fails_naming_the_parameter_and_layer(flower, monkeypatch, fresh_check, parameter, layer):
    spec, params, hyper = _case(flower, "tanh", scheme="xavier")
    _broken(monkeypatch, parameter)
    with pytest.raises(GradcheckFailure) as info:
        check_run_gradients(spec, params, flower, hyper, GradcheckConfig())
    failure = info.value
    message = str(failure)
    assert isinstance(failure, RunFailure)
    assert parameter in message
    assert f"layer {layer}" in message
    assert "\n" not in message
    assert failure.tags == {"gradcheck_failed_parameter": parameter}
    # gradcheck.tolerance decides: the same error passes a tolerance above it.
    report = check_run_gradients(spec, params, flower, hyper, GradcheckConfig(tolerance=1.0))
    assert 1e-3 < report.rel_error < 1.0
    assert max(report.per_parameter, key=report.per_parameter.get) == parameter


# A NaN anywhere makes ‖a‖ + ‖b‖ NaN; it must fail the check, not pass as "both zero".
def test_nan_gradient_fails(flower, monkeypatch, fresh_check):
    spec, params, hyper = _case(flower, "tanh", scheme="xavier")
    _broken(monkeypatch, "b1", factor=float("nan"))
    with pytest.raises(GradcheckFailure) as info:
        check_run_gradients(spec, params, flower, hyper, GradcheckConfig())
    assert info.value.tags["gradcheck_failed_parameter"] == "b1"


def test_an_overflow_is_named_an_overflow_not_a_wrong_derivative(flower):
    # An init scale of 1e300: the loss overflows; the hand-derived math is not to blame.
    spec, _, hyper = _case(flower, "tanh")
    params = init_params(jax.random.PRNGKey(0), (2, 4, 1), "small", 1e300)
    with pytest.raises(GradcheckOverflow) as info:
        check_run_gradients(spec, params, flower, hyper, GradcheckConfig())
    message = str(info.value)
    assert message.startswith("overflow:") and "model.init_scale" in message
    assert "disagrees" not in message and "\n" not in message
    assert info.value.tags["gradcheck_overflow"] == "true"


def test_large_networks_check_a_bounded_sample_of_coordinates(flower):
    from models.gradcheck import MAX_FD_COORDINATES

    spec, _, hyper = _case(flower, "tanh")
    params = init_params(jax.random.PRNGKey(0), (2, 3000, 1), "xavier", 0.01)  # 12,001 parameters
    report = check_run_gradients(spec, params, flower, hyper, GradcheckConfig())
    assert report.n_params == 12001
    assert 0 < report.fd_coordinates <= MAX_FD_COORDINATES
    assert report.rel_error < 1e-10 and report.fd_rel_error < 1e-5
    assert report.tags() == {
        "gradcheck.fd_coordinates": str(report.fd_coordinates),
        "gradcheck.n_params": "12001",
        "gradcheck.fd_sampled": "true",
    }
    small = check_run_gradients(*_case(flower, "tanh")[:2], flower, hyper, GradcheckConfig())
    assert small.fd_coordinates == small.n_params == 17
