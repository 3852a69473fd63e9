"""Does training run on the accelerator, and how fast? A short check for a GPU (or TPU) machine.

    python benchmarks/gpu_check.py [gpu|tpu]

It asks for the device the way `device=gpu` does (pipeline/device.py: an error, never a
silent CPU run), then times, on that device and on the CPU in the same process:
  - one job of the relu sweep: 10,000 full-batch steps on `flower`, hidden 4;
  - the 48-job benchmark sweep (relu, tanh, leaky_relu × hidden 1, 2, 4, 8 × lr 0.01, 0.1,
    0.5, 1.2) as the batched launcher trains it: one jit(vmap(scan)) program, hidden sizes
    padded and masked, activation chosen by index.
It needs only JAX, Optax, NumPy and scikit-learn (no Hydra, no MLflow), so it runs on a bare
accelerator image.
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from models.activations import GRADIENT_ACTIVATIONS  # noqa: E402
from models.network import init_params  # noqa: E402
from pipeline.data import load_dataset  # noqa: E402
from pipeline.device import select_device  # noqa: E402
from pipeline.train import CHOSEN_BY_INDEX, TrainSpec, make_hyper, train  # noqa: E402

STEPS = 10_000


def timed(fn, *args):
    started = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - started
    jax.block_until_ready(compiled(*args))  # warm
    started = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return compile_s, time.perf_counter() - started, out


def one_job(device):
    ds = load_dataset("flower")
    with jax.default_device(device):
        data = tuple(jnp.asarray(a, jnp.float32) for a in (ds.X_train, ds.Y_train, ds.X_val, ds.Y_val))
        spec = TrainSpec("relu", "sigmoid", "gd", "autodiff", STEPS, 100, None)
        params = init_params(jax.random.PRNGKey(0), (2, 4, 1), "small")
        compile_s, train_s, result = timed(partial(train, spec), params, data, make_hyper(1.2), jax.random.PRNGKey(1))
    return compile_s, train_s, float(result.history.val_metric[-1])


def sweep_48(device):
    ds = load_dataset("flower")
    jobs = [(a, h, lr) for a in ("relu", "tanh", "leaky_relu") for h in (1, 2, 4, 8) for lr in (0.01, 0.1, 0.5, 1.2)]
    widest = max(h for _, h, _ in jobs)
    with jax.default_device(device):
        data = tuple(jnp.asarray(a, jnp.float32) for a in (ds.X_train, ds.Y_train, ds.X_val, ds.Y_val))
        params, hypers = [], []
        for activation, hidden, lr in jobs:
            p = init_params(jax.random.PRNGKey(0), (2, hidden, 1), "small")
            params.append({"W1": jnp.pad(p["W1"], ((0, widest - hidden), (0, 0))),
                           "b1": jnp.pad(p["b1"], ((0, widest - hidden), (0, 0))),
                           "W2": jnp.pad(p["W2"], ((0, 0), (0, widest - hidden))), "b2": p["b2"]})
            mask = (jnp.arange(widest) < hidden).astype(jnp.float32)[:, None]
            hypers.append(make_hyper(lr)._replace(
                activation_index=jnp.asarray(GRADIENT_ACTIVATIONS.index(activation), jnp.int32), unit_mask=mask))
        stack = lambda trees: jax.tree_util.tree_map(lambda *x: jnp.stack(x), *trees)
        keys = jax.random.split(jax.random.PRNGKey(1), len(jobs))
        spec = TrainSpec(CHOSEN_BY_INDEX, "sigmoid", "gd", "autodiff", STEPS, 100, None)
        batched = jax.vmap(partial(train, spec), in_axes=(0, None, 0, 0))
        compile_s, train_s, result = timed(batched, stack(params), data, stack(hypers), keys)
    return compile_s, train_s, float(jnp.max(result.history.val_metric[:, -1]))


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "gpu"
    accelerator = select_device(kind)
    cpu = jax.devices("cpu")[0]
    print(f"device={kind}: JAX backend {jax.default_backend()}, device {accelerator} "
          f"({getattr(accelerator, 'device_kind', '?')}); jax {jax.__version__}")
    print(f"\n{'workload':<34} {'device':<8} {'compile s':>10} {'train s':>9} {'steps/s':>10}  result")
    for name, fn, jobs in (("1 job, 10,000 steps", one_job, 1), ("48-job sweep, one program", sweep_48, 48)):
        for label, device in ((kind, accelerator), ("cpu", cpu)):
            compile_s, train_s, quality = fn(device)
            print(f"{name:<34} {label:<8} {compile_s:>10.2f} {train_s:>9.3f} {jobs * STEPS / train_s:>10.0f}  "
                  f"val_accuracy {quality:.4f}")


if __name__ == "__main__":
    main()
