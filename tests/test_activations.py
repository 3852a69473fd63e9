"""models/activations.py: every hand-derived g'(z) against jax.grad, the documented values at
z = 0, the closed forms of the notes, numerical stability and dtype behaviour."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import activations as act
from models.activations import ACTIVATIONS, GRADIENT_ACTIVATIONS

LEAKY_SLOPES = (0.0, 0.01, 0.3)


pytestmark = pytest.mark.usefixtures("float64")  # tests/conftest.py


def grid_without_zero():
    """1001 points in [-6, 6] with the kink point z = 0 itself removed."""
    k = jnp.concatenate([jnp.arange(-500, 0), jnp.arange(1, 501)])
    z = k * 0.012  # spacing of linspace(-6, 6, 1001), the exact 0 left out
    assert z.dtype == jnp.float64 and z.size == 1000 and not jnp.any(z == 0.0)
    return z


def autodiff_derivative(g):
    """g'(z) elementwise by jax.grad of the scalar function, mapped over the points."""
    return jax.vmap(jax.grad(g))


# (name, g, g_prime) over every differentiable activation; leaky ReLU once per slope.
SMOOTH_CASES = [
    ("sigmoid", act.sigmoid, act.sigmoid_prime),
    ("tanh", act.tanh, act.tanh_prime),
    ("relu", act.relu, act.relu_prime),
    ("identity", act.identity, act.identity_prime),
] + [
    (
        f"leaky_relu[{s}]",
        (lambda z, s=s: act.leaky_relu(z, s)),
        (lambda z, s=s: act.leaky_relu_prime(z, s)),
    )
    for s in LEAKY_SLOPES
]


@pytest.mark.parametrize("name, g, g_prime", SMOOTH_CASES, ids=[c[0] for c in SMOOTH_CASES])
def test_hand_derivative_matches_jax_grad(name, g, g_prime):
    z = grid_without_zero()
    np.testing.assert_allclose(g_prime(z), autodiff_derivative(g)(z), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("slope", LEAKY_SLOPES)
def test_registry_derivative_matches_jax_grad(name, slope):
    """The (g, g_prime) pairs the network actually uses, through the ACTIVATIONS table."""
    g, g_prime = ACTIVATIONS[name]
    z = grid_without_zero()
    expected = autodiff_derivative(lambda x: g(x, slope))(z)
    np.testing.assert_allclose(g_prime(z, slope), expected, rtol=1e-12, atol=1e-14)


def test_documented_values_at_zero():
    zero = jnp.asarray(0.0)
    assert act.relu_prime(zero) == 0.0
    assert act.sigmoid_prime(zero) == 0.25
    assert act.tanh_prime(zero) == 1.0
    assert act.identity_prime(zero) == 1.0
    for slope in LEAKY_SLOPES:
        assert act.leaky_relu_prime(zero, slope) == slope


def test_autodiff_agrees_with_hand_convention_at_zero():
    """relu and leaky ReLU are written so jax.grad takes the same one-sided value at the kink."""
    zero = jnp.asarray(0.0)
    assert jax.grad(act.relu)(zero) == act.relu_prime(zero) == 0.0
    for slope in LEAKY_SLOPES:
        assert jax.grad(lambda z: act.leaky_relu(z, slope))(zero) == slope


def test_step_derivative_is_zero_everywhere():
    z = jnp.concatenate([jnp.linspace(-6.0, 6.0, 1001), jnp.asarray([0.0, -1e-300, 1e-300, 1e6])])
    assert jnp.all(act.step_prime(z) == 0.0)
    assert act.step_prime(z).shape == z.shape
    # autodiff sees the same flat function
    assert jnp.all(autodiff_derivative(act.step)(z) == 0.0)


def test_step_is_zero_one_with_step_of_zero_zero():
    z = jnp.linspace(-3.0, 3.0, 61)
    out = act.step(z)
    assert set(np.unique(np.asarray(out)).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(out, (z > 0).astype(z.dtype))
    assert act.step(jnp.asarray(0.0)) == 0.0
    assert act.step(jnp.asarray(1e-12)) == 1.0
    assert act.step(jnp.asarray(-1e-12)) == 0.0


def test_closed_forms_at_random_points():
    z = jax.random.normal(jax.random.key(0), (500,)) * 4.0
    g = 1.0 / (1.0 + np.exp(-np.asarray(z)))
    np.testing.assert_allclose(act.sigmoid(z), g, rtol=1e-13)
    np.testing.assert_allclose(act.sigmoid_prime(z), g * (1.0 - g), rtol=1e-12)
    t = np.tanh(np.asarray(z))
    np.testing.assert_allclose(act.tanh(z), t, rtol=1e-13)
    np.testing.assert_allclose(act.tanh_prime(z), 1.0 - t**2, rtol=1e-12, atol=1e-15)


def test_relu_and_leaky_relu_values():
    z = jnp.asarray([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(act.relu(z), [0.0, 0.0, 0.0, 0.5, 2.0])
    for slope in LEAKY_SLOPES:
        np.testing.assert_allclose(act.leaky_relu(z, slope), np.maximum(slope * np.asarray(z), z))
    # default slope is the documented 0.01
    np.testing.assert_allclose(act.leaky_relu(z), np.maximum(0.01 * np.asarray(z), z))
    np.testing.assert_allclose(act.leaky_relu_prime(z), np.where(np.asarray(z) > 0, 1.0, 0.01))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_sigmoid_is_stable_at_extremes(dtype):
    z = jnp.asarray([-1000.0, 1000.0], dtype)
    g = act.sigmoid(z)
    assert jnp.all(jnp.isfinite(g))
    assert g[0] == 0.0 and g[1] == 1.0
    assert jnp.all(jnp.isfinite(act.sigmoid_prime(z)))
    grads = autodiff_derivative(act.sigmoid)(z)
    assert jnp.all(jnp.isfinite(grads))
    np.testing.assert_array_equal(grads, [0.0, 0.0])


def test_leaky_relu_keeps_float32_with_float64_slope():
    z = jnp.linspace(-2.0, 2.0, 11, dtype=jnp.float32)
    slope = jnp.asarray(0.3, jnp.float64)
    assert slope.dtype == jnp.float64  # x64 really is on, so promotion could happen
    assert act.leaky_relu(z, slope).dtype == jnp.float32
    assert act.leaky_relu_prime(z, slope).dtype == jnp.float32
    # also when the slope is a traced argument (as in a vmapped sweep over slopes)
    jitted = jax.jit(lambda z, s: (act.leaky_relu(z, s), act.leaky_relu_prime(z, s)))
    out, out_prime = jitted(z, slope)
    assert out.dtype == jnp.float32 and out_prime.dtype == jnp.float32
    np.testing.assert_allclose(out, np.where(np.asarray(z) > 0, z, 0.3 * np.asarray(z)), rtol=1e-6)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_keeps_dtype_and_shape(name):
    g, g_prime = ACTIVATIONS[name]
    z = jax.random.normal(jax.random.key(1), (3, 7), jnp.float32)
    slope = jnp.asarray(0.01, jnp.float64)
    for fn in (g, g_prime):
        out = fn(z, slope)
        assert out.shape == z.shape
        assert out.dtype == jnp.float32


def test_gradient_activations_exclude_step():
    assert "step" not in GRADIENT_ACTIVATIONS
    assert set(GRADIENT_ACTIVATIONS) == set(ACTIVATIONS) - {"step"}
    assert {"sigmoid", "tanh", "relu", "leaky_relu", "identity"} <= set(GRADIENT_ACTIVATIONS)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
def test_masked_units_output_zero_and_pass_back_no_gradient(name):
    from models.activations import masked

    z = jnp.linspace(-2.0, 2.0, 12).reshape(4, 3)
    mask = jnp.asarray([[1.0], [1.0], [0.0], [0.0]])
    both = masked(name, mask)
    plain = ACTIVATIONS[name]
    np.testing.assert_array_equal(both.g(z, 0.1)[:2], plain.g(z, 0.1)[:2])
    np.testing.assert_array_equal(both.g_prime(z, 0.1)[:2], plain.g_prime(z, 0.1)[:2])
    assert not np.asarray(both.g(z, 0.1)[2:]).any() and not np.asarray(both.g_prime(z, 0.1)[2:]).any()
