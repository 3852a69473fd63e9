"""The gradient check of every run: hand-derived vs jax.grad vs finite differences, in float64."""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from models.backprop import loss, loss_and_hand_grads
from models.gradcheck import check_gradients
from pipeline.data import Dataset
from pipeline.errors import RunFailure
from pipeline.train import Hyper, TrainSpec


class GradcheckFailure(RunFailure):
    """The hand-derived gradient disagrees with jax.grad beyond gradcheck.tolerance."""


class GradcheckReport(NamedTuple):
    rel_error: float  # hand vs jax.grad
    fd_rel_error: float  # hand vs centred finite differences
    per_parameter: dict[str, float]


@partial(jax.jit, static_argnames=("hidden_activation", "output_activation"))
def _check(params, X, Y, slope, epsilon, hidden_activation, output_activation):
    loss_fn = lambda p: loss(p, X, Y, hidden_activation, output_activation, slope)
    hand_fn = lambda p: loss_and_hand_grads(p, X, Y, hidden_activation, output_activation, slope)[1]
    return check_gradients(loss_fn, hand_fn, params, epsilon)


def check_run_gradients(spec: TrainSpec, params, ds: Dataset, hyper: Hyper, settings) -> GradcheckReport:
    """Check the hand-derived gradients at `params` on the first `settings.max_examples` examples.

    Runs in float64 whatever the training dtype: the finite differences need it. A subset of
    the examples is enough, since the equations act on each example alike, and it keeps the
    2·P loss evaluations of the finite differences cheap for the larger MLPs.

    Raises GradcheckFailure naming the layer and parameter whose gradient is wrong.
    """
    with jax.enable_x64(True):
        as64 = lambda a: jnp.asarray(a, jnp.float64)
        X = as64(ds.X_train[:, : settings.max_examples])
        Y = as64(ds.Y_train[:, : settings.max_examples])
        result = _check(
            jax.tree_util.tree_map(as64, params), X, Y, as64(hyper.slope), settings.epsilon,
            spec.hidden_activation, spec.output_activation,
        )
        report = GradcheckReport(
            float(result.rel_error), float(result.fd_rel_error),
            {name: float(value) for name, value in result.per_parameter.items()},
        )
    if not report.rel_error <= settings.tolerance:  # also catches NaN
        errors = report.per_parameter
        # A NaN gradient is the worst disagreement of all (and max() cannot rank NaN).
        worst = next((n for n, e in errors.items() if not math.isfinite(e)), None) or max(errors, key=errors.get)
        raise GradcheckFailure(
            f"hand-derived gradient of {worst} (layer {worst[1:]}) disagrees with jax.grad: "
            f"relative error {report.per_parameter[worst]:.2e} > gradcheck.tolerance={settings.tolerance:g}",
            {"gradcheck_failed_parameter": worst},
        )
    return report
