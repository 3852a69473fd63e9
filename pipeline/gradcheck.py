"""The gradient check of every run: hand-derived vs jax.grad vs finite differences, in float64."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import numpy as np

from models.backprop import loss, loss_and_hand_grads
from models.gradcheck import MAX_FD_COORDINATES, GradCheck, check_gradients
from pipeline.data import Dataset
from pipeline.errors import RunFailure
from pipeline.train import Hyper, TrainSpec, hidden_of


class GradcheckFailure(RunFailure):
    """The hand-derived gradient disagrees with jax.grad beyond gradcheck.tolerance."""


class GradcheckOverflow(RunFailure):
    """The loss or jax.grad's own gradient is not a finite number: an overflow, not a wrong derivative."""


class GradcheckReport(NamedTuple):
    rel_error: float  # hand vs jax.grad
    fd_rel_error: float  # hand vs centred finite differences
    per_parameter: dict[str, float]
    fd_coordinates: int = 0  # the parameter elements the finite differences covered (a sample on large networks)
    n_params: int = 0  # of how many

    def tags(self) -> dict[str, str]:
        """What a run records about the check's coverage: `gradcheck.fd_coordinates` is all of them,
        or the size of the sample (the comparison with jax.grad always covers every element)."""
        return {
            "gradcheck.fd_coordinates": str(self.fd_coordinates),
            "gradcheck.n_params": str(self.n_params),
            "gradcheck.fd_sampled": str(self.fd_coordinates < self.n_params).lower(),
        }


def gradient_errors(
    spec: TrainSpec,
    params,
    X,
    Y,
    hyper: Hyper,
    epsilon: float,
    fd_chunk: int = 256,
    max_fd_coordinates: int = MAX_FD_COORDINATES,
) -> GradCheck:
    """The three-way comparison at `params` on (X, Y); pure, so it can be jitted and vmapped.

    Finite differences cover every parameter element up to `max_fd_coordinates`, a sample of
    that many beyond (models/gradcheck.py: fd_sample); the result says how many."""
    hidden = hidden_of(spec, hyper)
    loss_fn = lambda p: loss(p, X, Y, hidden, spec.output_activation, hyper.slope)
    hand_fn = lambda p: loss_and_hand_grads(p, X, Y, hidden, spec.output_activation, hyper.slope)[1]
    return check_gradients(loss_fn, hand_fn, params, epsilon, fd_chunk, max_fd_coordinates)


# Compiled with XLA's backend optimisations off: the check runs once at the start and once at the
# end of a run, on at most gradcheck.max_examples examples, so its run time is a few milliseconds
# either way, while optimising it is a third of its compile time (0.6 s -> 0.4 s a program on a
# 2-core CPU; a sweep compiles one per activation and shape). Its float64 results differ from an
# optimised program's in the last bits only, and every run, alone or in a sweep, uses this one.
CHECK_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}
_check = jax.jit(
    gradient_errors,
    static_argnames=("spec", "epsilon", "fd_chunk", "max_fd_coordinates"),
    compiler_options=CHECK_COMPILER_OPTIONS,
)


def as_float64(tree):
    """Floating leaves to float64 host arrays; integer leaves (an activation index) stay as they are.

    In NumPy, not as JAX operations: widening float32 to float64 is exact either way, and a
    JAX conversion is a dispatched operation per leaf, a few milliseconds of the sweep's main
    thread per run for a handful of small arrays."""

    def widen(leaf):
        host = np.asarray(leaf)
        return host.astype(np.float64, copy=False) if np.issubdtype(host.dtype, np.floating) else leaf

    return jax.tree_util.tree_map(widen, tree)


def check_examples(ds: Dataset, settings) -> tuple[np.ndarray, np.ndarray]:
    """The first `settings.max_examples` training examples, float64: what the check runs on.

    A subset is enough, since the equations act on each example alike, and it keeps the
    2·P loss evaluations of the finite differences cheap for the larger MLPs.
    """
    n = settings.max_examples
    return as_float64(ds.X_train[:, :n]), as_float64(ds.Y_train[:, :n])


def report_or_fail(result: GradCheck, settings) -> GradcheckReport:
    """The check as Python floats; GradcheckFailure naming the layer and parameter if it failed.

    A loss or a jax.grad gradient that is not a finite number is an overflow (too large an
    init scale, inputs or weights), reported as GradcheckOverflow: there is no derivative to
    compare, and the hand-derived one is not to blame."""
    report = GradcheckReport(
        float(result.rel_error),
        float(result.fd_rel_error),
        {name: float(value) for name, value in result.per_parameter.items()},
        int(result.fd_coordinates),
        int(result.n_params),
    )
    if not bool(result.finite):
        raise GradcheckOverflow(
            f"overflow: the loss ({float(result.loss):.3g}) or its gradient by jax.grad is not a finite number "
            "in float64 at these parameters, so no derivative can be checked; the weights or the data are too "
            "large (model.init_scale, optim.lr), not the hand-derived math",
            {"gradcheck_overflow": "true", **report.tags()},
        )
    if not report.rel_error <= settings.tolerance:  # NaN fails too
        errors = report.per_parameter
        # A NaN gradient is the worst disagreement of all (and max() cannot rank NaN).
        worst = next((n for n, e in errors.items() if not math.isfinite(e)), None) or max(
            errors, key=lambda n: errors[n]
        )
        raise GradcheckFailure(
            f"hand-derived gradient of {worst} (layer {worst[1:]}) disagrees with jax.grad: "
            f"relative error {errors[worst]:.2e} > gradcheck.tolerance={settings.tolerance:g}",
            {"gradcheck_failed_parameter": worst},
        )
    return report


def gradient_check(spec: TrainSpec, params, ds: Dataset, hyper: Hyper, settings, block: bool = True) -> GradCheck:
    """The three-way check of one run at `params`, in float64 whatever the run trains in.

    block=False returns device arrays at once (JAX dispatches asynchronously); jax.device_get
    them when needed."""
    with jax.enable_x64(True):
        X, Y = check_examples(ds, settings)
        result = _check(spec, as_float64(params), X, Y, as_float64(hyper), settings.epsilon)
        return jax.device_get(result) if block else result
