"""models/graph.py: the notes' computation-graph example J(a, b, c) = 3(a + b·c)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.graph import GraphGrads, GraphValues, J, J_from_u, J_from_v, backward, forward


pytestmark = pytest.mark.usefixtures("float64")  # tests/conftest.py


def test_forward_at_the_notes_point():
    values = forward(5.0, 3.0, 2.0)
    assert isinstance(values, GraphValues)
    assert (values.u, values.v, values.J) == (6.0, 11.0, 33.0)
    assert J(5.0, 3.0, 2.0) == 33.0


def test_backward_at_the_notes_point():
    grads = backward(5.0, 3.0, 2.0)
    assert isinstance(grads, GraphGrads)
    assert grads.d_a == 3.0
    assert grads.d_b == 6.0
    assert grads.d_c == 9.0
    assert grads.d_v == 3.0
    assert grads.d_u == 3.0


def test_jax_grad_agrees_at_the_notes_point():
    d_a, d_b, d_c = jax.grad(J, argnums=(0, 1, 2))(5.0, 3.0, 2.0)
    assert (float(d_a), float(d_b), float(d_c)) == (3.0, 6.0, 9.0)


@pytest.mark.parametrize("seed", range(5))
def test_jax_grad_agrees_at_random_points(seed):
    a, b, c = (float(x) for x in jax.random.normal(jax.random.key(seed), (3,)) * 10)
    hand = backward(a, b, c)
    auto = jax.grad(J, argnums=(0, 1, 2))(a, b, c)
    np.testing.assert_allclose(auto, (hand.d_a, hand.d_b, hand.d_c), rtol=1e-14)
    # the intermediate nodes: dJ/dv = 3 and dJ/du = 3 at every point, as jax.grad of J in v, u sees
    d_v = jax.grad(lambda v: 3 * v)(forward(a, b, c).v)
    d_u = jax.grad(lambda u: 3 * (a + u))(forward(a, b, c).u)
    assert (hand.d_v, hand.d_u) == (float(d_v), float(d_u))
    np.testing.assert_allclose(forward(a, b, c).J, 3 * (a + b * c), rtol=1e-14)


def test_nudging_a_moves_J_three_times_as_much():
    """The notes' intuition: a nudge of 0.001 in a moves J by about 0.003."""
    nudge = 0.001
    slope = (J(5.0 + nudge, 3.0, 2.0) - J(5.0, 3.0, 2.0)) / nudge
    assert slope == pytest.approx(3.0, rel=1e-6)
    slope_b = (J(5.0, 3.0 + nudge, 2.0) - J(5.0, 3.0, 2.0)) / nudge
    assert slope_b == pytest.approx(6.0, rel=1e-6)
    slope_c = (J(5.0, 3.0, 2.0 + nudge) - J(5.0, 3.0, 2.0)) / nudge
    assert slope_c == pytest.approx(9.0, rel=1e-6)


def test_graph_works_on_arrays():
    a, b, c = jnp.asarray([5.0, 1.0]), jnp.asarray([3.0, -2.0]), jnp.asarray([2.0, 4.0])
    np.testing.assert_array_equal(forward(a, b, c).J, [33.0, -21.0])


def test_J_from_each_node_is_J():
    values = forward(5.0, 3.0, 2.0)
    assert J_from_v(values.v) == J_from_u(5.0, values.u) == values.J == 33.0
    # the notes: v 11 -> 11.001 and u 6 -> 6.001 each bump J to 33.003
    assert J_from_v(11.001) == pytest.approx(33.003, abs=1e-12)
    assert J_from_u(5.0, 6.001) == pytest.approx(33.003, abs=1e-12)
    assert float(jax.grad(J_from_v)(11.0)) == 3.0
    assert float(jax.grad(J_from_u, argnums=1)(5.0, 6.0)) == 3.0
